"""The notifiers' shared base: it plans with the sending layer's adapters, as the send operators do."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_emailbr.notifications.base import PLATFORMS
from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier
from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier
from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter
from airflow_provider_emailbr.sending.envie import EnvieAdapter
from airflow_provider_emailbr.sending.mailgrid import MailGridAdapter
from tests.conftest import Reply
from tests.unit.sending.connections import SENDER, connection_definer


@pytest.fixture
def vendor_connection(server, set_connection):
    """Define a vendor's default connection against ``server``: ``vendor_connection("envie")`` -> its id."""
    return connection_definer(server, set_connection)


def test_each_connection_type_has_its_adapter():
    assert {k: type(v) for k, v in PLATFORMS.items()} == {
        "mailgrid": MailGridAdapter,
        "emailmanager": EmailManagerAdapter,
        "envie_email": EnvieAdapter,
    }


def test_a_plain_text_alert_reaches_envie_as_a_trackable_html_document(server, vendor_connection):
    vendor_connection("envie")
    server.reply(Reply(body={"status": "success", "message_id": "1"}))
    EnvieEmailNotifier(to="oncall@exemplo.com.br", subject="Falhou", html_content="", text_content="a < b")(
        {}
    )
    body = server.last.json
    assert (body["body"], body["plain_text"]) == ("<html><body><pre>a &lt; b</pre></body></html>", "a < b")


def test_an_async_alert_keeps_display_names_with_commas_for_emailmanager(server, vendor_connection):
    vendor_connection("emailmanager")
    server.reply(Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "m1"}))
    notifier = EmailManagerNotifier(
        to='"Plantão, Dados" <oncall@exemplo.com.br>', subject="Falhou", html_content="<p>x</p>"
    )
    asyncio.run(notifier.async_notify({}))
    body = server.last.json
    assert (server.last.path, body["To"], body["From"]) == (
        "/emailmanager/email",
        '"Plantão, Dados" <oncall@exemplo.com.br>',
        f'"Loja" <{SENDER}>',
    )
