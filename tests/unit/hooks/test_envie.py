"""envie.email hook: every documented endpoint's method, path, query, headers and body encoding.

Each case calls one hook method against the recording server on loopback and compares what crossed the
wire with the vendor's page (``shared/api-docs``).
"""

from __future__ import annotations

import base64

import pytest

from tests.conftest import Reply


def test_envie_list_endpoints(envie, server):
    server.reply(
        Reply(body={"status": "success", "list_uid": "ab12"}),
        Reply(body={"status": "success", "data": {"record": {}}}),
        Reply(body={"status": "success", "data": {"records": [], "total_pages": 0}}),
        Reply(body={"status": "success", "data": {"records": []}}),
    )
    envie.create_list(name="Clientes", description="Clientes ativos")
    envie.get_list("ab12")
    envie.show_lists(page=2, per_page=50)
    envie.list_subscribers("ab12", page=3)
    create, get, show, subs = server.requests
    assert (create.method, create.path, create.json) == (
        "POST",
        "/envie/lists/create",
        {"general": {"name": "Clientes", "description": "Clientes ativos"}},
    )
    assert (get.method, get.path, get.json) == ("POST", "/envie/lists/get", {"list": "ab12"})
    assert (show.method, show.path, show.query, show.body) == (
        "GET",
        "/envie/lists/show",
        [("page", "2"), ("per_page", "50")],
        b"",
    )
    assert (subs.method, subs.path, subs.query, subs.json) == (
        "POST",
        "/envie/lists/show",
        [("page", "3")],
        {"UID": "ab12"},
    )
    for req in server.requests:
        assert req.headers["public-key"] == "pub"
        assert req.headers["private-key"] == "priv"


def test_envie_send_body_with_defaults_and_attachment(envie, server, tmp_path):
    pdf = tmp_path / "boleto.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    server.reply(Reply(body={"status": "success"}))
    envie.send(
        to_email="cliente@exemplo.com.br",
        to_name="Cliente",
        subject="Olá",
        body="<p>Oi</p>",
        plain_text="Oi",
        attachments=[pdf],
    )
    req = server.last
    assert (req.method, req.path) == ("POST", "/envie/singlesending/create")
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "to_name": "Cliente",
        "to_email": "cliente@exemplo.com.br",
        "from_name": "Loja",
        "from_email": "remetente@exemplo.com.br",
        "reply_to_name": "Loja",
        "reply_to_email": "remetente@exemplo.com.br",
        "subject": "Olá",
        "body": "<html><body><p>Oi</p></body></html>",  # wrapped: opens/clicks are tracked only so
        "plain_text": "Oi",
        "attachments": [
            {"data": base64.b64encode(b"%PDF-1.4 test").decode(), "name": "boleto", "mime": "application/pdf"}
        ],
    }


# ------------------------------------------------------------------ tracking and webhooks (issue 12, item 7)


def test_envie_body_goes_out_as_an_html_document_for_open_and_click_tracking(envie, server):
    """The doc: opens and clicks are tracked only "entre as devidas tags <html><body></body></html>"."""
    server.reply(*[Reply(body={"status": "success"})] * 4)
    bodies = [
        "<p>Oi</p>",
        "<HTML><body class='x'><p>Oi</p></body></HTML>",
        "<body><p>Oi</p></body>",
        "<html><p>Oi</p></html>",
    ]
    for body in bodies:
        envie.send(to_email="c@exemplo.com.br", subject="s", body=body)
    sent = [r.json["body"] for r in server.requests]
    assert sent == [
        "<html><body><p>Oi</p></body></html>",
        "<HTML><body class='x'><p>Oi</p></body></HTML>",  # already a document: never wrapped twice
        "<html><body><p>Oi</p></body></html>",
        "<html><body><p>Oi</p></body></html>",
    ]


@pytest.mark.parametrize(
    "timestamp",
    [
        1767261600,
        1767261600.0,
        "1767261600",
        1767261600000,
        "1767261600000",
        "2026-01-01T10:00:00Z",
        "2026-01-01T07:00:00-03:00",
        "2026-01-01T10:00:00",
    ],
    ids=[
        "seconds",
        "float-seconds",
        "seconds-text",
        "milliseconds",
        "milliseconds-text",
        "iso-z",
        "iso-offset",
        "iso-naive-utc",
    ],
)
def test_envie_webhook_timestamps_in_seconds_milliseconds_or_iso(timestamp):
    """The doc shows ``"timestamp": 0`` without a unit: each plausible form reads as the same instant."""
    from datetime import datetime, timezone

    from airflow_provider_emailbr.hooks.envie import parse_webhook_event

    event = parse_webhook_event(
        {
            "event": "MessageLoaded",
            "timestamp": timestamp,
            "payload": {"message": {"id": 1, "timestamp": timestamp}},
        }
    )
    expected = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert event.occurred_at == expected and event.sent_at == expected


def test_envie_webhook_timestamp_that_is_no_time_is_a_clear_error():
    from airflow_provider_emailbr.exceptions import EmailBRInputError
    from airflow_provider_emailbr.hooks.envie import parse_webhook_event

    with pytest.raises(
        EmailBRInputError, match=r"webhook timestamp 'ontem' is not a Unix time .* or an ISO 8601"
    ):
        parse_webhook_event({"event": "MessageSent", "payload": {"message": {"timestamp": "ontem"}}})
