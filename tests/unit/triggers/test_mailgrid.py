"""MailGridDeliveryTrigger: serialisation and class paths, and which failures end the wait (a real loopback
server). Polling the sandbox is in ``tests/sandbox_backed/triggers/test_mailgrid.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger
from tests.conftest import Reply
from tests.unit.mailgrid_delivery_doubles import UTC, first_event


def test_trigger_round_trips_through_serialize():
    trigger = MailGridDeliveryTrigger(
        message_ids=["a", "b"], sent_after="2026-05-01T12:00:00+00:00", found={"a": {"status": "x"}}
    )
    classpath, kwargs = trigger.serialize()
    clone = MailGridDeliveryTrigger(**kwargs)
    assert clone.serialize() == (classpath, kwargs)


def _trigger(conn_id: str) -> MailGridDeliveryTrigger:
    now = datetime.now(UTC)
    return MailGridDeliveryTrigger(
        message_ids=["AAAAAA-BBBBBB-CC"],
        sent_after=(now - timedelta(minutes=5)).isoformat(),
        deadline=(now + timedelta(hours=1)).isoformat(),
        poll_interval=0.05,
        mailgrid_conn_id=conn_id,
    )


def test_a_failed_tls_handshake_ends_the_wait_at_once_instead_of_polling_until_the_deadline(
    server, set_connection
):
    """HTTPS to a plain-HTTP server: the handshake fails, a permanent transport error. 0.1.0 kept polling."""
    set_connection(
        "mailgrid_tls",
        conn_type="mailgrid",
        host=server.url.replace("http://", "https://") + "/api/",
        login="smtp-user",
        password="smtp-secret-123",
        extra={"max_retries": 0},
    )
    event = first_event(_trigger("mailgrid_tls"), within=10)
    assert event.payload["status"] == "error"
    assert "TLS handshake failed" in event.payload["message"]
    assert event.payload["pending"] == ["AAAAAA-BBBBBB-CC"] and event.payload["results"] == {}
    assert "smtp-secret-123" not in repr(event.payload)


def test_a_server_error_is_transient_and_the_next_poll_finds_the_message(server, set_connection):
    set_connection(
        "mailgrid_flaky",
        conn_type="mailgrid",
        host=server.url + "/api/",
        login="smtp-user",
        password="smtp-secret-123",
        extra={"max_retries": 0},
    )
    sent = datetime.now(UTC).astimezone(timezone(timedelta(hours=-3)))
    row = {
        "msgid": "AAAAAA-BBBBBB-CC",
        "email_de": "loja@exemplo.com.br",
        "email_para": "ana@exemplo.com.br",
        "data": f"{sent:%d/%m/%Y}",
        "hora": f"{sent:%H:%M:%S}",
        "status": "Entregue com sucesso",
    }
    server.reply(Reply(status=500, body={"erro": "interno"}), Reply(body={"0": row}))
    event = first_event(_trigger("mailgrid_flaky"), within=10)
    assert event.payload["status"] == "success"
    assert event.payload["results"]["AAAAAA-BBBBBB-CC"]["delivered"] is True
    assert [r.path for r in server.requests] == ["/api/report/", "/api/report/"]
    assert server.requests[1].json["idMensagem"] == "AAAAAA-BBBBBB-CC"


@pytest.mark.parametrize("old_path", ["airflow_provider_emailbr.triggers.reports.MailGridDeliveryTrigger"])
def test_a_trigger_serialised_by_the_previous_release_still_deserialises(old_path):
    """A running deployment may hold triggers stored under the 0.1.0 class path."""
    from airflow._shared.module_loading import import_string  # what the triggerer resolves class paths with

    cls = import_string(old_path)
    clone = cls(**_trigger("mailgrid_default").serialize()[1])
    assert clone.serialize()[0] == "airflow_provider_emailbr.triggers.mailgrid.MailGridDeliveryTrigger"
