"""events.sinks: reading events out of asset events, appending them to a SQL table idempotently, and adding
suppressing events to the suppression file the imports read.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset

from airflow_provider_emailbr.events.model import DeliveryEvent
from airflow_provider_emailbr.events.sinks import (
    TABLE_COLUMNS,
    SuppressionUpdate,
    append_events_to_table,
    append_to_suppression_file,
    check_table_name,
    events_from_asset_events,
    events_from_extra,
)
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.suppression import load_suppression

URI = "emailbr://events/envie_default"
WHEN = datetime(2026, 12, 5, 12, 30, tzinfo=timezone.utc)


def event(event_id: str, event_type: str = "bounced", recipient: str | None = "ana@exemplo.com.br", **more):
    return DeliveryEvent(
        event_type=event_type,
        event_id=event_id,
        vendor="envie",
        timestamp=WHEN,
        recipient=recipient,
        message_id="77",
        description="550 5.1.1 mailbox unavailable",
        raw={"event": "MessageDeliveryFailed"},
        **more,
    )


# ------------------------------------------------------------------------------------------ reading


def test_extra_shapes_of_the_receiver_and_of_a_trigger_are_read():
    one, two = event("e1"), event("e2", "opened")
    assert events_from_extra({"event": one.to_dict()}) == [one]
    assert events_from_extra({"events": [one.to_dict(), two.to_dict()]}) == [one, two]
    assert events_from_extra({"from_trigger": True, "payload": {"event": two.to_dict()}}) == [two]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, r"carries no delivery event \(expected 'event' or 'events', found \[\]\)"),
        ({"from_trigger": True, "payload": {"status": "success"}}, r"found \['status'\]"),
        ({"events": ["x"]}, "event 0 is a str"),
        ({"event": {"event_type": "bounced"}}, "event 0: delivery event lacks event_id, vendor, timestamp"),
        ({"event": {**event("e1").to_dict(), "event_type": "exploded"}}, "event_type 'exploded' is unknown"),
    ],
)
def test_an_extra_without_valid_events_is_an_error_naming_it(extra, message):
    with pytest.raises(EmailBRInputError, match=message):
        events_from_extra(extra, where="asset event 3")


def test_triggering_asset_events_are_read_in_order_each_event_id_once():
    one, two, three = event("e1"), event("e2"), event("e3")
    triggering = {
        Asset(URI): [
            SimpleNamespace(extra={"events": [one.to_dict(), two.to_dict()]}),
            SimpleNamespace(extra={"event": two.to_dict()}),  # a vendor's repeated post
        ],
        Asset("emailbr://events/other"): [SimpleNamespace(extra={"event": three.to_dict()})],
    }
    assert events_from_asset_events(triggering) == [one, two, three]
    assert events_from_asset_events(triggering, uri=URI) == [one, two]


def test_events_come_oldest_first_whichever_asset_airflow_lists_first():
    later = event("e-later")._replace(timestamp=WHEN + timedelta(minutes=5))
    earlier = event("e-earlier")
    same_time = event("e-0-same-time")
    newest_asset_first = {
        Asset("emailbr://events/mailgrid_default"): [SimpleNamespace(extra={"event": later.to_dict()})],
        Asset(URI): [SimpleNamespace(extra={"events": [earlier.to_dict(), same_time.to_dict()]})],
    }
    assert events_from_asset_events(newest_asset_first) == [same_time, earlier, later]


# ------------------------------------------------------------------------------------------ table


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def rows(path, table="email_events"):
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT {', '.join(TABLE_COLUMNS)} FROM {table} ORDER BY event_id").fetchall()


def test_events_are_appended_once_by_event_id(warehouse):
    first = [event("e1"), event("e2", "clicked", url="https://loja.example/oferta"), event("e1")]
    assert append_events_to_table(first, conn_id="warehouse", table="email_events") == 2
    assert (
        append_events_to_table(
            [event("e2", "clicked"), event("e3")], conn_id="warehouse", table="email_events"
        )
        == 1
    )
    stored = rows(warehouse)
    assert [r[0] for r in stored] == ["e1", "e2", "e3"]
    assert stored[0] == (
        "e1",
        "bounced",
        "envie",
        "2026-12-05T12:30:00+00:00",
        "ana@exemplo.com.br",
        "77",
        None,
        None,
        "550 5.1.1 mailbox unavailable",
        '{"event": "MessageDeliveryFailed"}',
    )
    assert stored[1][7] == "https://loja.example/oferta"


def test_nothing_to_append_still_creates_the_table(warehouse):
    assert append_events_to_table([], conn_id="warehouse", table="email_events") == 0
    assert rows(warehouse) == []


@pytest.mark.parametrize("name", ["events; DROP TABLE x", "1events", "a.b.c", "", "events-2026"])
def test_a_table_name_that_is_not_an_identifier_is_refused(name):
    with pytest.raises(EmailBRInputError, match="is not a plain table name"):
        check_table_name(name)


def test_a_connection_without_a_database_hook_is_refused(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NOT_SQL", json.dumps({"conn_type": "mailgrid", "host": "https://x/"}))
    with pytest.raises(EmailBRInputError, match="not a database hook"):
        append_events_to_table([event("e1")], conn_id="not_sql", table="email_events")


# ------------------------------------------------------------------------------------------ suppression


def test_suppressing_events_are_added_once_in_the_format_the_import_reads(tmp_path):
    path = tmp_path / "suppress.csv"
    update = append_to_suppression_file(
        path,
        [
            event("e1", "bounced", "Ana@Exemplo.com.br"),
            event("e2", "opened", "bia@exemplo.com.br"),
            event("e3", "complained", "caio@exemplo.com.br"),
            event("e4", "unsubscribed", "ana@exemplo.com.br"),
            event("e5", "deferred", "dani@exemplo.com.br"),
        ],
    )
    assert update == SuppressionUpdate(added=2, already=1, invalid=0)
    lines = path.read_text().splitlines()
    assert lines[0] == "email,event_type,vendor,event_id,occurred_at,reason"
    assert (
        lines[1]
        == "ana@exemplo.com.br,bounced,envie,e1,2026-12-05T12:30:00+00:00,550 5.1.1 mailbox unavailable"
    )
    assert len(lines) == 3
    again = append_to_suppression_file(path, [event("e6", "bounced", "CAIO@exemplo.com.br"), event("e7")])
    assert again == SuppressionUpdate(added=0, already=2, invalid=0)
    with load_suppression(str(path), conn_id=None) as suppression:
        assert len(suppression) == 2
        assert "ana@exemplo.com.br" in suppression and "caio@exemplo.com.br" in suppression


def test_a_json_lines_file_given_by_the_user_is_appended_to(tmp_path):
    path = tmp_path / "suppress.jsonl"
    path.write_text('{"email": "old@exemplo.com.br"}\n')
    update = append_to_suppression_file(
        str(path), [event("e1"), event("e2", "bounced", "old@exemplo.com.br")]
    )
    assert update == SuppressionUpdate(added=1, already=1, invalid=0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["email"] for r in records] == ["old@exemplo.com.br", "ana@exemplo.com.br"]
    assert records[1]["event_id"] == "e1"


def test_a_recipient_that_is_not_an_address_is_counted_and_logged_masked(tmp_path, caplog):
    path = tmp_path / "suppress.csv"
    caplog.set_level("WARNING", logger="airflow_provider_emailbr.events.sinks")
    events = [event("e1", recipient=None), event("e2", recipient="ana.silva@exemplo")]
    update = append_to_suppression_file(path, events)
    assert update == SuppressionUpdate(added=0, already=0, invalid=2)
    assert not path.exists()
    assert "Event e2 (bounced): recipient 'a***@exemplo' is not an address" in caplog.text
    assert "ana.silva" not in caplog.text


def test_a_suppression_file_the_import_could_not_read_stops_before_writing(tmp_path):
    path = tmp_path / "suppress.csv"
    path.write_text("address\nana@exemplo.com.br\n")
    with pytest.raises(EmailBRInputError, match="has no 'email' column"):
        append_to_suppression_file(path, [event("e1", recipient="bia@exemplo.com.br")])
    assert path.read_text() == "address\nana@exemplo.com.br\n"
