"""The three notifiers without a server: construction and templated fields. Delivery against the sandbox is
in ``tests/sandbox_backed/notifications/test_notifiers.py``."""

from __future__ import annotations

from airflow_provider_emailbr.notifications.emailmanager import (
    EmailManagerNotifier,
    send_emailmanager_notification,
)
from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier, send_envie_email_notification
from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier, send_mailgrid_notification


def test_construction_touches_nothing_and_fields_are_templated():
    notifier = MailGridNotifier(to="a@x.com", mailgrid_conn_id="does_not_exist")
    assert "hook" not in notifier.__dict__
    assert {"to", "subject", "html_content", "cc", "bcc", "files", "mailgrid_conn_id"} <= set(
        notifier.template_fields
    )
    assert "emailmanager_conn_id" in EmailManagerNotifier.template_fields
    assert "envie_conn_id" in EnvieEmailNotifier.template_fields
    assert send_mailgrid_notification is MailGridNotifier
    assert send_emailmanager_notification is EmailManagerNotifier
    assert send_envie_email_notification is EnvieEmailNotifier
