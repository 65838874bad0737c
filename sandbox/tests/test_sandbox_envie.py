"""envie.email emulation against envie-email.txt: key headers, JSON only, paging, send validation, webhooks."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SEND = {
    "to_name": "Cliente",
    "to_email": "cliente@exemplo.com.br",
    "from_name": "Loja",
    "from_email": "loja@exemplo.com.br",
    "reply_to_name": "SAC",
    "reply_to_email": "sac@exemplo.com.br",
    "subject": "Pedido",
    "body": "<html><body>Oi</body></html>",
}
PDF = {"data": base64.b64encode(b"%PDF-1.4").decode(), "name": "boleto", "mime": "application/pdf"}


def test_wrong_keys_are_401(api):
    answer = api.http.get(api.urls["envie"] + "lists/show", headers={"public-key": "x", "private-key": "y"})
    assert answer.status_code == 401
    assert answer.json() == {"status": "error", "error": "Sua chave API está errada."}
    only_public = api.http.get(
        api.urls["envie"] + "lists/show", headers={"public-key": "sandbox-envie-public-key"}
    )
    assert only_public.status_code == 401


def test_non_json_bodies_are_406(api):
    form = api.envie(
        "POST",
        "lists/create",
        data="general=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 406
    assert form.json() == {"status": "error", "error": "O formato da requisição não é JSON."}
    broken = api.envie(
        "POST", "singlesending/create", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 406


def test_lists_create_get_and_paged_index(api):
    created = api.envie(
        "POST", "lists/create", {"general": {"name": "Clientes", "description": "Base"}}
    ).json()
    assert created["status"] == "success" and len(created["list_uid"]) == 13
    record = api.envie("POST", "lists/get", {"list": created["list_uid"]}).json()
    assert record["status"] == "success"
    general = record["data"]["record"]["general"]
    assert general == {
        "list_uid": created["list_uid"],
        "name": "Clientes",
        "display_name": "Clientes",
        "description": "Base",
    }
    assert set(record["data"]["record"]) == {"general", "defaults", "notifications", "company"}

    missing = api.envie("POST", "lists/create", {"general": {"name": "Sem descrição"}})
    assert missing.status_code == 400 and "description" in missing.json()["error"]
    assert api.envie("POST", "lists/get", {"list": "nope"}).status_code == 404

    for i in range(11):
        api.envie("POST", "lists/create", {"general": {"name": f"L{i}", "description": "d"}})
    first = api.envie("GET", "lists/show").json()["data"]
    assert (first["count"], first["total_pages"], first["current_page"], first["next_page"]) == (
        "13",
        2,
        1,
        2,
    )
    assert len(first["records"]) == 10
    second = api.envie("GET", "lists/show", params={"page": 2}).json()["data"]
    assert second["next_page"] is None and len(second["records"]) == 3
    wide = api.envie("GET", "lists/show", params={"per_page": 50}).json()["data"]
    assert wide["total_pages"] == 1 and len(wide["records"]) == 13


def test_subscribers_of_a_list_are_paged(api, sb):
    seeded = sb.state("envie")["lists"][0]["list_uid"]
    page = api.envie("POST", "lists/show", {"UID": seeded}, params={"page": 3}).json()
    assert page["status"] == "success"
    data = page["data"]
    assert (data["count"], data["total_pages"], data["current_page"]) == ("25", 3, 3)
    assert len(data["records"]) == 5
    assert set(data["records"][0]) == {
        "subscriber_uid",
        "EMAIL",
        "FNAME",
        "LNAME",
        "status",
        "source",
        "ip_address",
        "date_added",
    }
    assert api.envie("POST", "lists/show", {"UID": "missing"}).status_code == 404


def test_single_sending_success_and_required_fields(api, sb):
    answer = api.envie("POST", "singlesending/create", {**SEND, "attachments": [PDF]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success" and isinstance(body["message_id"], int)
    sent = sb.state("envie")["sent"]
    assert sent[-1]["message_id"] == body["message_id"] and sent[-1]["attachments"][0]["name"] == "boleto"

    incomplete = {k: v for k, v in SEND.items() if k not in ("subject", "reply_to_email")}
    refused = api.envie("POST", "singlesending/create", incomplete)
    assert refused.status_code == 400
    assert refused.json()["status"] == "error"
    assert "reply_to_email" in refused.json()["error"] and "subject" in refused.json()["error"]


def test_blacklisted_recipient_is_409(api):
    answer = api.envie("POST", "singlesending/create", {**SEND, "to_email": "x@blacklist.example"})
    assert answer.status_code == 409
    assert answer.json() == {"status": "error", "error": "Email em blacklist."}


@pytest.mark.parametrize(
    "attachment",
    [
        {**PDF, "mime": "application/x-msdownload"},
        {**PDF, "data": "***not base64***"},
        {"data": PDF["data"], "name": "sem-mime"},
    ],
)
def test_attachment_rules(api, attachment):
    assert api.envie("POST", "singlesending/create", {**SEND, "attachments": [attachment]}).status_code == 400


def test_attachment_names_must_be_unique_and_whitelist_is_configurable(api, sb):
    twice = api.envie("POST", "singlesending/create", {**SEND, "attachments": [PDF, dict(PDF)]})
    assert twice.status_code == 400 and "boleto" in twice.json()["error"]
    csv = {**PDF, "name": "planilha", "mime": "text/csv"}
    assert api.envie("POST", "singlesending/create", {**SEND, "attachments": [csv]}).status_code == 400
    sb.config(envie_mime_types=["text/csv"])
    assert api.envie("POST", "singlesending/create", {**SEND, "attachments": [csv]}).status_code == 200


class Receiver:
    """A webhook endpoint answering the statuses it is given, in order (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.events: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.events.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/envie"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator:
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def test_webhook_is_retried_twice_on_non_200(api, sb, receiver_factory, wait_for):
    receiver = receiver_factory([500, 503])
    sb.config(webhook_url=receiver.url, webhook_retry_seconds=0.05)
    message_id = api.envie("POST", "singlesending/create", SEND).json()["message_id"]
    delivery = wait_for(lambda: [d for d in sb.webhooks() if d["done"]])[0]
    assert [a.get("status") for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["delivered"] is True
    assert len(receiver.events) == 3
    event = receiver.events[-1]
    assert event["event"] == "MessageSent"
    assert event["payload"]["message"]["id"] == message_id
    assert event["payload"]["message"]["to"] == SEND["to_email"]
    assert isinstance(event["payload"]["message"]["timestamp"], int)


def test_webhook_gives_up_after_three_attempts_and_reports_bounces(api, sb, receiver_factory, wait_for):
    receiver = receiver_factory([500, 500, 500, 500])
    sb.config(webhook_url=receiver.url, webhook_retry_seconds=0.05)
    api.envie("POST", "singlesending/create", {**SEND, "to_email": "ninguem@bounce.example"})
    delivery = wait_for(lambda: [d for d in sb.webhooks() if d["done"]])[0]
    assert [a.get("status") for a in delivery["attempts"]] == [500, 500, 500]
    assert delivery["delivered"] is False
    assert [e["event"] for e in receiver.events] == ["MessageDeliveryFailed"] * 3


def test_webhook_to_an_unreachable_url_never_blocks_the_send(api, sb, unused_port, wait_for):
    sb.config(webhook_url=f"http://127.0.0.1:{unused_port}/", webhook_retry_seconds=0.05)
    answer = api.envie("POST", "singlesending/create", SEND, timeout=2)
    assert answer.status_code == 200
    delivery = wait_for(lambda: [d for d in sb.webhooks() if d["done"]])[0]
    assert len(delivery["attempts"]) == 3 and all("error" in a for a in delivery["attempts"])
