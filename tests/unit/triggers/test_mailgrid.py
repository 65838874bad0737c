"""MailGridDeliveryTrigger: serialisation and class paths, polling the sandbox until found or timed out, and
which failures end the wait (a real loopback server).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger
from tests.conftest import Reply
from tests.unit.mailgrid_delivery_doubles import MISSING, UTC, first_event, recent, send_two

# ---------------------------------------------------------------------------------------------- trigger


def test_trigger_round_trips_through_serialize():
    trigger = MailGridDeliveryTrigger(
        message_ids=["a", "b"], sent_after="2026-05-01T12:00:00+00:00", found={"a": {"status": "x"}}
    )
    classpath, kwargs = trigger.serialize()
    clone = MailGridDeliveryTrigger(**kwargs)
    assert clone.serialize() == (classpath, kwargs)


def test_trigger_polls_until_every_id_is_in_the_report(sandbox):
    sandbox.config(report_lag_seconds=2)
    ids = send_two()
    trigger = MailGridDeliveryTrigger(message_ids=ids, sent_after=recent(), poll_interval=0.5)
    event = first_event(trigger)
    assert event.payload["status"] == "success" and event.payload["pending"] == []
    assert [v["delivered"] for v in event.payload["results"].values()] == [True, False]
    assert len(sandbox.requests("mailgrid", path="report")) > len(ids)  # polled more than once


def test_trigger_times_out_with_what_it_found(sandbox):
    ids = send_two()
    deadline = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    trigger = MailGridDeliveryTrigger(
        message_ids=[ids[0], MISSING], sent_after=recent(), deadline=deadline, poll_interval=0.3
    )
    event = first_event(trigger)
    assert event.payload["status"] == "timeout"
    assert event.payload["pending"] == [MISSING] and list(event.payload["results"]) == [ids[0]]


def test_trigger_reports_a_permanent_error(sandbox, set_connection):
    set_connection(
        "mailgrid_wrong",
        conn_type="mailgrid",
        host=sandbox.mailgrid_url,
        login="sandbox@mailgrid.example",
        password="wrong-password-123",
    )
    trigger = MailGridDeliveryTrigger(
        message_ids=[MISSING], sent_after=recent(), mailgrid_conn_id="mailgrid_wrong"
    )
    event = first_event(trigger)
    assert event.payload["status"] == "error" and "207" in event.payload["message"]
    assert "wrong-password-123" not in repr(event.payload)


def test_trigger_keeps_polling_through_transient_errors(sandbox, set_connection):
    ids = send_two()
    definition = sandbox.connections["mailgrid"]
    set_connection("mailgrid_no_retry", **{**definition, "extra": {**definition["extra"], "max_retries": 0}})
    sandbox.set_fault("drop", vendor="mailgrid", count=3)  # answers lost: transient
    trigger = MailGridDeliveryTrigger(
        message_ids=ids[:1], sent_after=recent(), poll_interval=0.2, mailgrid_conn_id="mailgrid_no_retry"
    )
    event = first_event(trigger)
    assert event.payload["status"] == "success"
    statuses = [r["status"] for r in sandbox.requests("mailgrid", path="report")]
    assert statuses == [None, None, None, 200]


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
