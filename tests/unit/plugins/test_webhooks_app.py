"""The webhook receiver as served: every answer of ``POST /emailbr/webhooks/{conn_id}`` through the ASGI app."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_emailbr.events import receiver as receiver_module
from airflow_provider_emailbr.events.assets import delivery_events_from
from airflow_provider_emailbr.plugins.webhooks import ReceiverRuntime, create_app
from tests.unit.events.receiver_doubles import ENVIE_TOKEN, MAILGRID_TOKEN, RecordingAirflow, make_parts

ENVIE_FAILED = {
    "event": "MessageDeliveryFailed",
    "timestamp": 1767265200,
    "payload": {
        "details": "User unknown",
        "output": "550 5.1.1",
        "message": {"id": 4711, "to": "maria@exemplo.com.br", "timestamp": 1767261600, "tag": "boas-vindas"},
    },
}
ENVIE_OPENED = {
    "event": "MessageLoaded",
    "timestamp": 1767265300,
    "payload": {
        "ip_address": "200.1.2.3",
        "user_agent": "Mozilla/5.0",
        "message": {
            "id": 4712,
            "to": "joao@exemplo.com.br",
            "from": "loja@exemplo.com.br",
            "timestamp": 1767261600,
            "tag": "x",
        },
    },
}
MAILGRID_FAILED = {
    "msgid": "a1b2c3",
    "email_de": "loja@exemplo.com.br",
    "email_para": "ana@exemplo.com.br",
    "data": "01/01/2026",
    "hora": "07:00:00",
    "status": "Caixa postal inexistente",
}


@pytest.fixture
def airflow() -> RecordingAirflow:
    return RecordingAirflow()


@pytest.fixture
def parts(tmp_path, airflow):
    receiver, publisher = make_parts(tmp_path, airflow)
    yield receiver, publisher
    receiver.store.close()


@pytest.fixture
def client(parts):
    receiver, _ = parts
    runtime = ReceiverRuntime(make=lambda: (receiver, None))  # publishing is driven by the tests
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def post(
    client: TestClient,
    conn_id: str,
    body: Any,
    *,
    token: str | None = None,
    header: str | None = None,
    **kwargs: Any,
):
    content = json.dumps(body) if isinstance(body, (dict, list)) else body
    params = {"token": token} if token is not None else {}
    headers = {"X-Webhook-Token": header} if header is not None else {}
    return client.post(f"/webhooks/{conn_id}", content=content, params=params, headers=headers, **kwargs)


def test_envie_event_with_the_query_token_is_stored_then_published(client, parts, airflow):
    receiver, publisher = parts
    answer = post(client, "envie_hooks", ENVIE_FAILED, token=ENVIE_TOKEN)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 1, "duplicates": 0, "filtered": 0}
    # on disk before the answer: a fresh connection to the file sees it
    assert receiver.store.counts("envie_hooks") == {"stored": 1, "pending": 1, "published": 0}
    assert publisher.publish_once() == 1
    [(uri, extra)] = airflow.asset_events
    assert uri == "emailbr://events/envie_hooks"
    [event] = delivery_events_from([extra])
    assert (event.event_type, event.recipient, event.message_id) == (
        "bounced",
        "maria@exemplo.com.br",
        "4711",
    )
    assert event.raw == ENVIE_FAILED
    assert receiver.store.counts("envie_hooks")["pending"] == 0


def test_mailgrid_event_with_the_header_token(client, parts):
    answer = post(client, "mailgrid_hooks", [MAILGRID_FAILED], header=MAILGRID_TOKEN)
    assert answer.status_code == 200 and answer.json()["stored"] == 1
    receiver, _ = parts
    assert len(receiver.store.event_ids("mailgrid_hooks")) == 1


@pytest.mark.parametrize(
    ("token", "header"),
    [
        (None, None),
        ("Wr0ng-t0ken-q", None),
        (None, "Wr0ng-t0ken-h"),
        (ENVIE_TOKEN + "x", None),
        (ENVIE_TOKEN[:-1], None),
        ("", None),
    ],
    ids=["missing", "wrong-query", "wrong-header", "longer", "shorter", "empty"],
)
def test_missing_or_wrong_token_is_401_and_nothing_is_stored(client, parts, caplog, token, header):
    receiver, _ = parts
    with caplog.at_level(logging.WARNING, logger=receiver_module.__name__):
        answer = post(client, "envie_hooks", ENVIE_FAILED, token=token, header=header)
        again = post(client, "envie_hooks", ENVIE_FAILED, token=token, header=header)
    assert (answer.status_code, again.status_code) == (401, 401)
    assert answer.json() == {"detail": "missing or wrong webhook token"}
    assert receiver.store.counts() == {"stored": 0, "pending": 0, "published": 0}
    assert receiver.refused_count("envie_hooks") == 2
    assert "(2 refused so far in this process)" in caplog.text
    assert ENVIE_TOKEN not in caplog.text
    for given in (token, header):
        if given:
            assert given not in caplog.text and given not in answer.text


def test_the_token_is_checked_before_the_body_is_read(client, parts):
    # a wrong token with a body that is no JSON, and over the cap: still 401
    answer = post(client, "envie_hooks", b"{" * 300_000, token="wrong")
    assert answer.status_code == 401


def test_tokens_are_compared_in_constant_time(monkeypatch, client):
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(left: bytes, right: bytes) -> bool:
        compared.append((left, right))
        return real_compare(left, right)

    monkeypatch.setattr(receiver_module.hmac, "compare_digest", spy)
    assert post(client, "envie_hooks", ENVIE_FAILED, token="nope").status_code == 401
    assert post(client, "envie_hooks", ENVIE_FAILED, token=ENVIE_TOKEN).status_code == 200
    assert compared == [(ENVIE_TOKEN.encode(), b"nope"), (ENVIE_TOKEN.encode(), ENVIE_TOKEN.encode())]


@pytest.mark.parametrize("conn_id", ["unknown", "no_token", "not_a_webhook_vendor"])
def test_unknown_connection_or_one_without_token_is_404(client, parts, conn_id):
    answer = post(client, conn_id, ENVIE_FAILED, token=ENVIE_TOKEN)
    assert answer.status_code == 404
    assert answer.json() == {"detail": f"no connection {conn_id!r} receives webhooks"}
    assert parts[0].store.counts()["stored"] == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "webhook body is not JSON"),
        (b'{"event": "MessageOpened", "payload": {}}', "webhook event 'MessageOpened' is unknown"),
        (b"[" * 50 + b"]" * 50, "webhook body nests deeper than 16 levels"),
        (json.dumps({"event": "MessageLoaded", "timestamp": "ontem"}), "webhook timestamp 'ontem'"),
    ],
    ids=["malformed", "unknown-event", "too-deep", "bad-time"],
)
def test_bad_body_is_400_and_nothing_is_stored(client, parts, body, detail):
    answer = post(client, "envie_hooks", body, token=ENVIE_TOKEN)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(detail)
    assert parts[0].store.counts()["stored"] == 0


def test_bad_mailgrid_body_is_400(client):
    answer = post(client, "mailgrid_hooks", {"status": "x"}, header=MAILGRID_TOKEN)
    assert answer.status_code == 400
    assert "neither msgid nor email_para" in answer.json()["detail"]


def test_body_over_the_cap_is_413(client, parts):
    receiver, _ = parts
    big = json.dumps({**ENVIE_FAILED, "padding": "x" * receiver.max_body_bytes})
    assert post(client, "envie_hooks", big, token=ENVIE_TOKEN).status_code == 413

    def chunks():  # no Content-Length: the cap holds while streaming
        for _ in range(5):
            yield b" " * (receiver.max_body_bytes // 4)

    answer = post(client, "envie_hooks", chunks(), token=ENVIE_TOKEN)
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"body over {receiver.max_body_bytes} bytes"}
    assert receiver.store.counts()["stored"] == 0


def test_a_vendor_retry_is_stored_and_published_once(client, parts, airflow):
    _, publisher = parts
    first = post(client, "envie_hooks", ENVIE_FAILED, token=ENVIE_TOKEN)
    retry = post(client, "envie_hooks", json.dumps(ENVIE_FAILED, indent=1), token=ENVIE_TOKEN)
    assert first.json() == {"stored": 1, "duplicates": 0, "filtered": 0}
    assert retry.json() == {"stored": 0, "duplicates": 1, "filtered": 0}
    publisher.publish_once()
    late_retry = post(client, "envie_hooks", ENVIE_FAILED, token=ENVIE_TOKEN)
    assert late_retry.json()["duplicates"] == 1
    publisher.publish_once()
    assert len(airflow.events()) == 1


def test_webhook_events_filter_keeps_only_the_listed_types(client, parts, airflow):
    _, publisher = parts
    opened = post(client, "bounces_only", ENVIE_OPENED, token=ENVIE_TOKEN)
    failed = post(client, "bounces_only", ENVIE_FAILED, token=ENVIE_TOKEN)
    assert opened.json() == {"stored": 0, "duplicates": 0, "filtered": 1}
    assert failed.json() == {"stored": 1, "duplicates": 0, "filtered": 0}
    publisher.publish_once()
    assert [event["event_type"] for event in airflow.events()] == ["bounced"]


def test_invalid_filter_is_a_500_naming_the_fault_without_the_token(client, caplog):
    with caplog.at_level(logging.ERROR, logger=receiver_module.__name__):
        answer = post(client, "bad_filter", ENVIE_FAILED, token=ENVIE_TOKEN)
    assert answer.status_code == 500
    assert "webhook_events holds 'bounce'; allowed: sent, delivered" in caplog.text
    assert ENVIE_TOKEN not in caplog.text and ENVIE_TOKEN not in answer.text


def test_no_token_in_asset_events_and_addresses_masked_in_logs(client, parts, airflow, caplog):
    receiver, publisher = parts
    with caplog.at_level(logging.DEBUG, logger=receiver_module.__name__):
        post(client, "envie_hooks", ENVIE_FAILED, token=ENVIE_TOKEN)
        post(client, "mailgrid_hooks", MAILGRID_FAILED, header=MAILGRID_TOKEN)
    publisher.publish_once()
    published = json.dumps(airflow.asset_events)
    assert ENVIE_TOKEN not in published and MAILGRID_TOKEN not in published
    assert "m***@exemplo.com.br" in caplog.text and "a***@exemplo.com.br" in caplog.text
    assert "maria@" not in caplog.text and "ana@" not in caplog.text
    settings = receiver.settings("envie_hooks")
    assert ENVIE_TOKEN not in repr(settings) and "token='***'" in repr(settings)


def test_only_post_is_served(client):
    assert client.get("/webhooks/envie_hooks", params={"token": ENVIE_TOKEN}).status_code == 405
