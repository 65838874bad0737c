"""Alerts by e-mail through envie.email (``EnvieEmailNotifier``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.notifications.base import EmailBRNotifier

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_emailbr.notifications.base import NotifierOptions


class EnvieEmailNotifier(EmailBRNotifier):
    """Send an alert e-mail through envie.email, with subject and body rendered from the callback's context.

    envie.email sends one message per recipient (``singlesending/create``) and has no copies: ``cc`` and
    ``bcc`` recipients each get their own message. Attachments must be of its MIME whitelist (names lose
    their extension). Usable as ``on_failure_callback``/``on_success_callback``/``on_retry_callback`` and
    in deadline alerts (``AsyncCallback(EnvieEmailNotifier, kwargs={...})``).

    See :class:`~airflow_provider_emailbr.notifications.base.EmailBRNotifier` for the other parameters.

    :param envie_conn_id: the envie.email connection (sender defaults from its ``from_email``/``from_name``).
    """

    conn_type = "envie_email"
    conn_id_attr = "envie_conn_id"
    template_fields = (*EmailBRNotifier.template_fields, "envie_conn_id")

    def __init__(
        self,
        *,
        envie_conn_id: str = EnvieEmailHook.default_conn_name,
        **kwargs: Unpack[NotifierOptions],
    ) -> None:
        super().__init__(conn_id=envie_conn_id, **kwargs)


send_envie_email_notification = EnvieEmailNotifier
