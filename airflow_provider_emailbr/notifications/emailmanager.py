"""Alerts by e-mail through emailManager (``EmailManagerNotifier``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.notifications.base import EmailBRNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


class EmailManagerNotifier(EmailBRNotifier):
    """Send an alert e-mail through emailManager, with subject and body rendered from the callback's context.

    One message carries To + Cc + Bcc ≤ 20 recipients; more To recipients go in further messages (the copies
    ride with the first). Usable as ``on_failure_callback``/``on_success_callback``/``on_retry_callback``
    and in deadline alerts (``AsyncCallback(EmailManagerNotifier, kwargs={...})``).

    See :class:`~airflow_provider_emailbr.notifications.base.EmailBRNotifier` for the other parameters.

    :param tag: the message's ``Tag`` (templated), to find alerts in emailManager's statistics.
    :param headers: extra message headers ``{name: value}`` (templated).
    :param emailmanager_conn_id: the emailManager connection (default sender from its ``from_email``).
    """

    conn_type = "emailmanager"
    conn_id_attr = "emailmanager_conn_id"
    template_fields = (*EmailBRNotifier.template_fields, "tag", "headers", "emailmanager_conn_id")

    def __init__(
        self,
        *,
        to: str | Iterable[str],
        subject: str | None = None,
        html_content: str | None = None,
        text_content: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        reply_to: str | None = None,
        files: Iterable[str | Path | ObjectStoragePath] | None = None,
        tag: str | None = None,
        headers: Mapping[str, str] | None = None,
        emailmanager_conn_id: str = EmailManagerHook.default_conn_name,
        context: Context | None = None,
    ) -> None:
        super().__init__(
            to=to,
            subject=subject,
            html_content=html_content,
            text_content=text_content,
            from_email=from_email,
            from_name=from_name,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            files=files,
            conn_id=emailmanager_conn_id,
            context=context,
        )
        self.tag = tag
        self.headers = dict(headers or {})

    def message_options(self) -> dict[str, Any]:
        """The rendered ``tag`` and ``headers``."""
        return {"tag": self.tag or None, "headers": {str(k): str(v) for k, v in self.headers.items()}}


send_emailmanager_notification = EmailManagerNotifier
