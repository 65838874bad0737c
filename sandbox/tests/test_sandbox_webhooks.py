"""Webhooks the sandbox posts: envie.email's six events in exactly their documented shapes
(``envie-email.txt``, "Webhooks"), MailGrid's failure webhook with its ``X-Webhook-Token`` header, and the
vendors' two retries of a callback that does not answer 200.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SEND = {
    "to_name": "Ana",
    "from_name": "Loja",
    "from_email": "loja@exemplo.com.br",
    "reply_to_name": "Loja",
    "reply_to_email": "sac@exemplo.com.br",
    "subject": "Pedido",
    "body": "<html><body><a href='https://loja.example/oferta'>Oferta</a></body></html>",
}
MAILGRID_MESSAGE = {"emailRemetente": "loja@exemplo.com.br", "assunto": "Pedido", "mensagem": "<p>Oi</p>"}
TOKEN = "mailgrid-webhook-token-123"

#: The documented bodies, copied from envie-email.txt: top-level keys, payload keys, message keys.
WITH_FROM = {"id", "to", "from", "timestamp", "tag"}
WITHOUT_FROM = {"id", "to", "timestamp", "tag"}
DOCUMENTED = {
    "MessageLoaded": ({"event", "timestamp", "payload"}, {"ip_address", "user_agent", "message"}, WITH_FROM),
    "MessageLinkClicked": (
        {"event", "timestamp", "payload"},
        {"user_agent", "url", "token", "ip_address", "message"},
        WITH_FROM,
    ),
    "MessageSent": ({"event", "payload"}, {"output", "details", "message"}, WITH_FROM),
    "MessageDelayed": ({"event", "timestamp", "payload"}, {"details", "output", "message"}, WITHOUT_FROM),
    "MessageDeliveryFailed": (
        {"event", "timestamp", "payload"},
        {"details", "output", "message"},
        WITHOUT_FROM,
    ),
    "MessageHeld": ({"event", "timestamp", "payload"}, {"details", "output", "message"}, WITHOUT_FROM),
}


class Callback:
    """A webhook receiver that records path, query, headers and body, answering the given statuses (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.posts: list[dict[str, Any]] = []
        callback = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                callback.posts.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status = callback.statuses.pop(0) if callback.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        return [post["body"] for post in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callbacks() -> Iterator:
    made: list[Callback] = []

    def make(statuses: list[int] | None = None) -> Callback:
        made.append(Callback(statuses))
        return made[-1]

    yield make
    for callback in made:
        callback.close()


def check_documented_shape(body: dict[str, Any]) -> None:
    top, payload, message = DOCUMENTED[body["event"]]
    assert set(body) == top
    assert set(body["payload"]) == payload
    assert set(body["payload"]["message"]) == message
    if "timestamp" in body:
        assert isinstance(body["timestamp"], int)
    assert isinstance(body["payload"]["message"]["id"], int)
    assert isinstance(body["payload"]["message"]["timestamp"], int)


def send(api, to: str) -> int:
    answer = api.envie("POST", "singlesending/create", {**SEND, "to_email": to})
    assert answer.status_code == 200
    return answer.json()["message_id"]


def test_envie_posts_all_six_events_in_their_documented_shapes(api, sb, callbacks, wait_for):
    callback = callbacks()
    url = f"{callback.base}/emailbr/webhooks/envie_default?token=envie-secret"
    sb.config(webhook_url=url, webhook_retry_seconds=0.05)
    sent = send(api, "ana@exemplo.com.br")
    send(api, "bia@bounce.example")
    send(api, "caio@delayed.example")
    send(api, "dani@held.example")
    opened = sb.envie_event(sent, "MessageLoaded")
    clicked = sb.envie_event(sent, "MessageLinkClicked", url="https://loja.example/oferta")
    bodies = wait_for(lambda: callback.bodies() if len(callback.posts) == 7 else None)
    assert sorted(b["event"] for b in bodies) == sorted(
        [
            "MessageSent",
            "MessageDeliveryFailed",
            "MessageDelayed",
            "MessageSent",
            "MessageHeld",
            "MessageLoaded",
            "MessageLinkClicked",
        ]
    )
    for body in bodies:
        check_documented_shape(body)
    assert {p["path"] for p in callback.posts} == {"/emailbr/webhooks/envie_default?token=envie-secret"}
    by_recipient = {(b["event"], b["payload"]["message"]["to"]) for b in bodies}
    assert ("MessageDeliveryFailed", "bia@bounce.example") in by_recipient
    assert ("MessageDelayed", "caio@delayed.example") in by_recipient
    assert ("MessageSent", "caio@delayed.example") in by_recipient
    assert ("MessageHeld", "dani@held.example") in by_recipient
    assert opened in bodies and clicked in bodies
    assert clicked["payload"]["url"] == "https://loja.example/oferta"
    assert (
        opened["payload"]["message"]["id"] == sent
        and opened["payload"]["message"]["from"] == SEND["from_email"]
    )
    assert opened["timestamp"] >= opened["payload"]["message"]["timestamp"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message_id": 999999, "event": "MessageLoaded"}, "no sent envie.email message"),
        ({"message_id": "SENT", "event": "MessageSent"}, "event must be one of"),
        ({"message_id": "SENT", "event": "MessageLinkClicked"}, "a click needs the http(s) url"),
    ],
)
def test_an_open_or_click_of_an_unknown_message_or_without_url_is_refused(api, sb, body, message):
    sent = send(api, "ana@exemplo.com.br")
    if body["message_id"] == "SENT":
        body = {**body, "message_id": sent}
    answer = api.http.post(sb.url + "/_sandbox/envie/events", json=body)
    assert answer.status_code == 400 and message in answer.json()["error"]


def test_mailgrid_posts_each_failure_with_its_token_as_the_report_row(api, sb, callbacks, wait_for):
    callback = callbacks()
    sb.config(
        mailgrid_webhook_url=f"{callback.base}/emailbr/webhooks/mailgrid_default",
        mailgrid_webhook_token=TOKEN,
    )
    sent = api.mailgrid(
        "send/", {**MAILGRID_MESSAGE, "emailDestino": ["a@exemplo.com.br", "b@bounce.example"]}
    ).json()
    [post] = wait_for(lambda: callback.posts or None)
    assert post["path"] == "/emailbr/webhooks/mailgrid_default"
    assert post["headers"]["X-Webhook-Token"] == TOKEN
    rows = api.mailgrid(
        "report/",
        {
            "dataini": "2000-01-01",
            "horaini": "00:00",
            "datafim": "2100-12-31",
            "horafim": "23:59",
            "status": "erro",
        },
        host=False,
    ).json()
    assert post["body"] == rows["0"]
    assert post["body"]["msgid"] == sent["1"]["id"] and post["body"]["email_para"] == "b@bounce.example"
    [delivery] = [d for d in sb.webhooks() if d["vendor"] == "mailgrid"]
    assert delivery["headers"] == ["X-Webhook-Token"] and TOKEN not in json.dumps(delivery)


def test_a_callback_not_answering_200_gets_two_retries_for_both_vendors(api, sb, callbacks, wait_for):
    envie, mailgrid = callbacks([500, 401, 500]), callbacks([503, 500])
    sb.config(
        webhook_url=envie.base + "/hook",
        mailgrid_webhook_url=mailgrid.base + "/hook",
        mailgrid_webhook_token=TOKEN,
        webhook_retry_seconds=0.05,
    )
    send(api, "bia@bounce.example")
    api.mailgrid("send/", {**MAILGRID_MESSAGE, "emailDestino": ["b@bounce.example"]})
    deliveries = wait_for(lambda: (d := sb.webhooks()) and len(d) == 2 and all(x["done"] for x in d) and d)
    attempts = {d["vendor"]: [a.get("status") for a in d["attempts"]] for d in deliveries}
    assert attempts == {"envie": [500, 401, 500], "mailgrid": [503, 500, 200]}
    assert {d["vendor"]: d["delivered"] for d in deliveries} == {"envie": False, "mailgrid": True}
    assert len(envie.posts) == 3 and len(mailgrid.posts) == 3
    assert all(p["headers"]["X-Webhook-Token"] == TOKEN for p in mailgrid.posts)


def test_no_webhook_without_a_url_and_none_for_a_delivered_mailgrid_message(api, sb, callbacks):
    callback = callbacks()
    send(api, "bia@bounce.example")
    sb.config(mailgrid_webhook_url=callback.base + "/hook")
    api.mailgrid("send/", {**MAILGRID_MESSAGE, "emailDestino": ["a@exemplo.com.br"]})
    assert sb.webhooks() == [] and callback.posts == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mailgrid_webhook_url": "ftp://x"}, "mailgrid_webhook_url must be an http(s) URL"),
        ({"mailgrid_webhook_token": "a\r\nX-Evil: 1"}, "mailgrid_webhook_token must be a printable string"),
    ],
)
def test_bad_webhook_settings_are_refused(api, sb, change, message):
    answer = api.http.post(sb.url + "/_sandbox/config", json=change)
    assert answer.status_code == 400 and message in answer.json()["error"]
