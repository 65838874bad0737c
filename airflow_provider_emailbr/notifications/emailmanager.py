"""Alerts by e-mail through emailManager (``EmailManagerNotifier``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.notifications.base import EmailBRNotifier

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_emailbr.notifications.base import NotifierOptions


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
        tag: str | None = None,
        headers: Mapping[str, str] | None = None,
        emailmanager_conn_id: str = EmailManagerHook.default_conn_name,
        **kwargs: Unpack[NotifierOptions],
    ) -> None:
        super().__init__(conn_id=emailmanager_conn_id, **kwargs)
        self.tag = tag
        self.headers = dict(headers or {})

    def message_options(self) -> dict[str, Any]:
        """The rendered ``tag`` and ``headers``."""
        return {"tag": self.tag or None, "headers": {str(k): str(v) for k, v in self.headers.items()}}


send_emailmanager_notification = EmailManagerNotifier
