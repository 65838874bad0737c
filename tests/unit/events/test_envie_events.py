"""envie.email's six webhook bodies, exactly as its docs show them, read into the normalised event."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_emailbr.events.envie import (
    EVENT_TYPE_OF,
    EnvieEventType,
    delivery_event,
    parse_timestamp,
    parse_webhook_event,
)
from airflow_provider_emailbr.events.model import EVENT_TYPES, DeliveryEvent
from airflow_provider_emailbr.events.payloads import BodyTooLargeError, load_json_body
from airflow_provider_emailbr.exceptions import EmailBRInputError

MESSAGE = {
    "id": 4711,
    "to": "maria@exemplo.com.br",
    "from": "loja@exemplo.com.br",
    "timestamp": 1767261600,
    "tag": "boas-vindas",
}
MESSAGE_NO_FROM = {"id": 4711, "to": "maria@exemplo.com.br", "timestamp": 1767261600, "tag": "boas-vindas"}
EVENT_TIME = 1767265200  # 2026-01-01 11:00 UTC
#: The documented bodies ("Estrutura JSON que será enviada"), with the docs' placeholders given values.
DOCUMENTED = {
    "MessageLoaded": {
        "event": "MessageLoaded",
        "timestamp": EVENT_TIME,
        "payload": {"ip_address": "200.1.2.3", "user_agent": "Mozilla/5.0", "message": MESSAGE},
    },
    "MessageLinkClicked": {
        "event": "MessageLinkClicked",
        "timestamp": EVENT_TIME,
        "payload": {
            "user_agent": "Mozilla/5.0",
            "url": "https://loja.exemplo.com.br/oferta",
            "token": "lnk-9f2",
            "ip_address": "200.1.2.3",
            "message": MESSAGE,
        },
    },
    "MessageSent": {
        "event": "MessageSent",
        "payload": {"output": "250 2.0.0 OK", "details": "Message accepted", "message": MESSAGE},
    },
    "MessageDelayed": {
        "event": "MessageDelayed",
        "timestamp": EVENT_TIME,
        "payload": {"details": "Mailbox busy", "output": "451 4.2.0", "message": MESSAGE_NO_FROM},
    },
    "MessageDeliveryFailed": {
        "event": "MessageDeliveryFailed",
        "timestamp": EVENT_TIME,
        "payload": {"details": "User unknown", "output": "550 5.1.1", "message": MESSAGE_NO_FROM},
    },
    "MessageHeld": {
        "event": "MessageHeld",
        "timestamp": EVENT_TIME,
        "payload": {"details": "Listed on a blocklist", "output": "421", "message": MESSAGE_NO_FROM},
    },
}
EXPECTED_TYPE = {
    "MessageLoaded": "opened",
    "MessageLinkClicked": "clicked",
    "MessageSent": "delivered",
    "MessageDelayed": "deferred",
    "MessageDeliveryFailed": "bounced",
    "MessageHeld": "deferred",
}


def test_every_documented_event_has_a_normalised_type():
    assert {e.value for e in EnvieEventType} == set(DOCUMENTED)
    assert {k.value: v for k, v in EVENT_TYPE_OF.items()} == EXPECTED_TYPE
    assert set(EVENT_TYPE_OF.values()) <= set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_body_reads_into_the_model(name):
    body = json.dumps(DOCUMENTED[name]).encode()
    event = delivery_event(body)
    assert isinstance(event, DeliveryEvent)
    assert event.event_type == EXPECTED_TYPE[name]
    assert event.vendor == "envie"
    assert event.recipient == "maria@exemplo.com.br"
    assert event.message_id == "4711"
    assert event.tag == "boas-vindas"
    assert event.raw == DOCUMENTED[name]
    # the top-level timestamp is the event's time; MessageSent has none, so the send time stands in
    expected = 1767261600 if name == "MessageSent" else EVENT_TIME
    assert event.timestamp == datetime.fromtimestamp(expected, tz=timezone.utc)
    assert event.timestamp.tzinfo is timezone.utc
    assert event.url == ("https://loja.exemplo.com.br/oferta" if name == "MessageLinkClicked" else None)
    payload = DOCUMENTED[name]["payload"]
    assert event.description == payload.get("details")
    assert DeliveryEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_the_full_webhook_record_keeps_every_documented_field():
    event = parse_webhook_event(DOCUMENTED["MessageLinkClicked"])
    assert (event.ip_address, event.user_agent, event.sender) == (
        "200.1.2.3",
        "Mozilla/5.0",
        "loja@exemplo.com.br",
    )
    assert event.sent_at == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert "maria@" not in repr(event) and "m***@exemplo.com.br" in repr(event)


def test_a_retried_post_keeps_its_event_id_and_another_attempt_does_not():
    first = delivery_event(json.dumps(DOCUMENTED["MessageDelayed"]))
    retry = delivery_event(json.dumps(DOCUMENTED["MessageDelayed"], indent=2, sort_keys=True))
    next_attempt = delivery_event({**DOCUMENTED["MessageDelayed"], "timestamp": EVENT_TIME + 600})
    assert first.event_id == retry.event_id
    assert first.event_id.startswith("envie:")
    assert next_attempt.event_id != first.event_id
    other_type = delivery_event({**DOCUMENTED["MessageDelayed"], "event": "MessageHeld"})
    assert other_type.event_id != first.event_id


@pytest.mark.parametrize(
    "value",
    [
        1767261600,
        1767261600000,
        "1767261600",
        "1767261600000",
        "2026-01-01T10:00:00Z",
        "2026-01-01T07:00:00-03:00",
        "2026-01-01 10:00:00",
    ],
)
def test_timestamps_in_seconds_milliseconds_or_iso(value):
    assert parse_timestamp(value) == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)


def test_event_without_any_time_takes_the_receipt_time():
    received = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    body = {"event": "MessageSent", "payload": {"message": {"id": 1, "to": "a@b.com.br", "timestamp": 0}}}
    assert delivery_event(body, received_at=received).timestamp == received


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "webhook body is not JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (
            b'{"event": "MessageOpened"}',
            "webhook event 'MessageOpened' is unknown; envie.email sends MessageLoaded",
        ),
        (
            b'{"event": "MessageSent", "payload": {"message": {"timestamp": "ontem"}}}',
            "webhook timestamp 'ontem'",
        ),
        (("[" * 40 + "]" * 40).encode(), "nests deeper than 16 levels"),
    ],
)
def test_bad_bodies_are_clear_errors(body, message):
    with pytest.raises(EmailBRInputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        delivery_event(body)


def test_body_over_the_cap_is_its_own_error():
    with pytest.raises(BodyTooLargeError, match="webhook body is 101 bytes; at most 100"):
        load_json_body(b" " * 101, max_bytes=100)


def test_old_hook_names_are_the_events_module():
    from airflow_provider_emailbr.hooks import envie as hook_module

    assert hook_module.parse_webhook_event is parse_webhook_event
    assert hook_module.EnvieEventType is EnvieEventType
