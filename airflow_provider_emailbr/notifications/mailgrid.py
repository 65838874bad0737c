"""Alerts by e-mail through MailGrid (``MailGridNotifier``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.notifications.base import EmailBRNotifier

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_emailbr.notifications.base import NotifierOptions


class MailGridNotifier(EmailBRNotifier):
    """Send an alert e-mail through MailGrid, with subject and body rendered from the callback's context.

    ``to`` is sent in calls of at most 100 recipients; ``cc``/``bcc`` (≤ 100 each) ride with the first call.
    Usable as ``on_failure_callback``/``on_success_callback``/``on_retry_callback`` and in deadline alerts
    (``AsyncCallback(MailGridNotifier, kwargs={...})``)::

        on_failure_callback=MailGridNotifier(to="oncall@exemplo.com.br", subject="{{ ti.task_id }} failed")

    See :class:`~airflow_provider_emailbr.notifications.base.EmailBRNotifier` for the other parameters.

    :param mailgrid_conn_id: the MailGrid connection (sender defaults from its ``from_email``/``from_name``).
    """

    conn_type = "mailgrid"
    conn_id_attr = "mailgrid_conn_id"
    template_fields = (*EmailBRNotifier.template_fields, "mailgrid_conn_id")

    def __init__(
        self,
        *,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
        **kwargs: Unpack[NotifierOptions],
    ) -> None:
        super().__init__(conn_id=mailgrid_conn_id, **kwargs)


send_mailgrid_notification = MailGridNotifier
