"""MailGridDeliveryTrigger against the sandbox: polling until found or timed out, permanent and transient errors."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger
from tests.sandbox_backed.support import MISSING, recent, send_two
from tests.unit.mailgrid_delivery_doubles import UTC, first_event


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
