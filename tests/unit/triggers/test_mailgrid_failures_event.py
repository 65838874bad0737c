"""MailGridFailuresEventTrigger against the recording server: exact serialisation, each new failure fired once,
the lag window re-read, nothing fired twice across restarts, transient and permanent errors.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from airflow.triggers.base import BaseEventTrigger

from airflow_provider_emailbr.events.mailgrid import event_from_report_row
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import parse_report_row
from airflow_provider_emailbr.triggers.mailgrid import (
    FAILURES_CURSOR,
    FailuresCursor,
    MailGridFailuresEventTrigger,
)
from tests.conftest import Reply
from tests.unit.triggers.event_doubles import FakeAssetStateStore, collect_events

CLASSPATH = "airflow_provider_emailbr.triggers.mailgrid.MailGridFailuresEventTrigger"
CURSOR_KEY = "emailbr.mailgrid.failures.mailgrid_default"
SECRET = "smtp-secret-123"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
UTC = timezone.utc


@pytest.fixture
def mailgrid(server, set_connection):
    set_connection(
        "mailgrid_default",
        conn_type="mailgrid",
        host=server.url + "/api/",
        login="smtp-user",
        password=SECRET,
        extra={"max_retries": 0},
    )


def row(msgid: str, minutes_ago: float, status: str = "Caixa postal inexistente") -> dict:
    """A report row of a message sent ``minutes_ago`` (local São Paulo time, as MailGrid writes it)."""
    sent = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(SAO_PAULO)
    return {
        "msgid": msgid,
        "email_de": "loja@exemplo.com.br",
        "email_para": f"{msgid.lower()}@exemplo.com.br",
        "data": f"{sent:%d/%m/%Y}",
        "hora": f"{sent:%H:%M:%S}",
        "status": status,
    }


def rows(*items: dict) -> Reply:
    return Reply(body={str(i): item for i, item in enumerate(items)})


def watcher(store: FakeAssetStateStore | None, **kwargs) -> MailGridFailuresEventTrigger:
    options = {"poll_interval": 0.05, "since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    trigger = MailGridFailuresEventTrigger(**{**options, **kwargs})
    trigger.asset_state_store = store
    return trigger


def test_serialize_round_trip_is_exact_primitive_and_secret_free(mailgrid):
    trigger = MailGridFailuresEventTrigger(
        poll_interval=120,
        lag_seconds=600,
        since="2026-12-01T09:00:00-03:00",
        cursor_path="s3://bucket/cursors/mailgrid.json",
        cursor_conn_id="aws_default",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "mailgrid_conn_id": "mailgrid_default",
        "poll_interval": 120.0,
        "lag_seconds": 600.0,
        "since": "2026-12-01T12:00:00+00:00",
        "max_window_seconds": 86400.0,
        "max_backoff": 900.0,
        "cursor_path": "s3://bucket/cursors/mailgrid.json",
        "cursor_conn_id": "aws_default",
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert all(v is None or isinstance(v, (str, float)) for v in kwargs.values())
    assert MailGridFailuresEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert SECRET not in json.dumps(kwargs)
    assert isinstance(trigger, BaseEventTrigger)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("since", "2026-12-01T09:00:00", "must be aware"),
        ("poll_interval", 0, "poll_interval"),
        ("lag_seconds", -1, "lag_seconds"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(field, value, message):
    with pytest.raises(EmailBRInputError, match=message):
        MailGridFailuresEventTrigger(**{field: value})


def test_each_new_failure_fires_once_though_the_lag_window_is_read_again(server, mailgrid):
    server.reply(
        rows(row("AAA", 30), row("OK1", 29, status="Entregue com sucesso")),
        rows(row("AAA", 30), row("BBB", 5)),
    )
    server.default = rows(row("AAA", 30), row("BBB", 5))
    store = FakeAssetStateStore()
    events = collect_events(watcher(store), count=2)
    assert [e.payload["event"]["message_id"] for e in events] == ["AAA", "BBB"]
    first = events[0].payload["event"]
    assert first["event_type"] == "bounced" and first["vendor"] == "mailgrid"
    assert first["recipient"] == "aaa@exemplo.com.br" and first["description"] == "Caixa postal inexistente"
    assert set(first) == {
        "event_type",
        "event_id",
        "vendor",
        "timestamp",
        "recipient",
        "message_id",
        "tag",
        "url",
        "description",
        "raw",
    }
    json.dumps([e.payload for e in events])
    bodies = [r.json for r in server.requests]
    assert all(b["status"] == "erro" and b["senha_smtp"] == SECRET for b in bodies)
    stored = json.loads(store.values[CURSOR_KEY])
    assert stored["emailbr"] == FAILURES_CURSOR
    # AAA (30 minutes ago) has left the 15-minute overlap: only BBB's id is still kept
    assert list(stored["data"]["fired"]) == [events[1].payload["event"]["event_id"]]
    assert SECRET not in json.dumps(stored) and SECRET not in json.dumps([e.payload for e in events])


def test_each_read_goes_back_the_lag_before_the_previous_end(server, mailgrid):
    server.default = rows()
    trigger = watcher(FakeAssetStateStore(), lag_seconds=600)
    collect_events(trigger, within=0.6)
    first, second = server.requests[0].json, server.requests[1].json
    start = datetime.strptime(f"{second['dataini']} {second['horaini']}", "%Y-%m-%d %H:%M")
    end = datetime.strptime(f"{first['datafim']} {first['horafim']}", "%Y-%m-%d %H:%M")
    assert timedelta(minutes=9) <= end - start <= timedelta(minutes=11)


def test_a_restarted_trigger_never_fires_a_failure_again(server, mailgrid):
    server.default = rows(row("AAA", 30), row("BBB", 5))
    store = FakeAssetStateStore()
    assert len(collect_events(watcher(store), count=2)) == 2
    reads = len(server.requests)
    server.default = rows(row("AAA", 30), row("BBB", 5), row("CCC", 1))
    [again] = collect_events(watcher(store), count=1)
    assert again.payload["event"]["message_id"] == "CCC"
    assert collect_events(watcher(store), within=0.4) == []
    assert len(server.requests) > reads


def test_failures_sent_before_the_first_run_do_not_count(server, mailgrid):
    server.default = rows(row("OLD", 90), row("NEW", 10))
    [event] = collect_events(watcher(FakeAssetStateStore()), count=1)
    assert event.payload["event"]["message_id"] == "NEW"


def test_the_event_id_is_the_one_a_webhook_post_of_the_same_failure_gets(server, mailgrid):
    failure = row("AAA", 5)
    server.default = rows(failure)
    [event] = collect_events(watcher(FakeAssetStateStore()), count=1)
    expected = event_from_report_row(parse_report_row(failure, SAO_PAULO), received_at=datetime.now(UTC))
    assert event.payload["event"]["event_id"] == expected.event_id


def test_a_transient_error_is_read_again_and_a_permanent_one_after_max_backoff(server, mailgrid):
    server.reply(
        Reply(status=500, body={"erro": "interno"}),
        Reply(body={"status": "ERRO: FALHA DE AUTENTICACAO", "codigo": "207"}),
    )
    server.default = rows(row("AAA", 5))
    [event] = collect_events(watcher(FakeAssetStateStore(), max_backoff=0.1), count=1)
    assert event.payload["event"]["message_id"] == "AAA"
    assert len(server.requests) == 3


def test_the_cursor_forgets_ids_once_they_leave_the_overlap():
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    cursor = FailuresCursor.start(now - timedelta(hours=1))
    old = event_at("old", now - timedelta(minutes=40))
    recent = event_at("recent", now - timedelta(minutes=5))
    assert cursor.advance([old, recent], now, 900) == [old, recent]
    assert cursor.fired == {"recent": recent.timestamp.isoformat()}
    assert cursor.read_from(900) == now - timedelta(minutes=15)
    assert cursor.advance([recent], now + timedelta(minutes=1), 900) == []
    assert FailuresCursor.from_data(json.loads(json.dumps(cursor.to_data()))).to_data() == cursor.to_data()


def event_at(event_id: str, moment: datetime):
    from airflow_provider_emailbr.events.model import DeliveryEvent

    return DeliveryEvent(event_type="bounced", event_id=event_id, vendor="mailgrid", timestamp=moment)
