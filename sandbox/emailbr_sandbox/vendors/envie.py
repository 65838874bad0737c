"""envie.email emulation: lists, subscribers, transactional send and webhooks (``/envie/…``).

Authentication is the pair of headers ``public-key`` / ``private-key`` (HTTP 401 when wrong). Bodies must
be JSON (HTTP 406 otherwise). Errors are ``{"status": "error", "error": "<message>"}`` with the HTTP status
of the vendor's error table; successes carry ``"status": "success"``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NoReturn

from ..constants import (
    BLACKLIST_DOMAIN,
    BOUNCE_DOMAIN,
    DELAYED_DOMAIN,
    ENVIE_PRIVATE_KEY,
    ENVIE_PUBLIC_KEY,
    HELD_DOMAIN,
    SENDER_EMAIL,
)
from ..context import LOWER_ALNUM
from ..wire import BodyError, Request, Response, email_domain, is_email, json_response, paginate, to_int
from .base import Vendor, status_text

DEFAULT_PER_PAGE = 10
REQUIRED_SEND_FIELDS = (
    "to_name",
    "to_email",
    "from_name",
    "from_email",
    "reply_to_name",
    "reply_to_email",
    "subject",
    "body",
)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
SEEDED_SUBSCRIBERS = 25

#: The six webhook events, with the fields of each one's documented body (``envie-email.txt``, "Webhooks"):
#: whether it has a top-level ``timestamp``, the ``payload`` fields besides ``message``, and whether its
#: ``message`` has ``from``.
WEBHOOK_SHAPES: dict[str, tuple[bool, tuple[str, ...], bool]] = {
    "MessageLoaded": (True, ("ip_address", "user_agent"), True),
    "MessageLinkClicked": (True, ("user_agent", "url", "token", "ip_address"), True),
    "MessageSent": (False, ("output", "details"), True),
    "MessageDelayed": (True, ("details", "output"), False),
    "MessageDeliveryFailed": (True, ("details", "output"), False),
    "MessageHeld": (True, ("details", "output"), False),
}
#: The engagement events a test triggers through ``POST /_sandbox/envie/events``.
ENGAGEMENT_EVENTS = ("MessageLoaded", "MessageLinkClicked")


def webhook_body(event: str, message: dict[str, Any], occurred_at: float, **payload: Any) -> dict[str, Any]:
    """The body envie.email posts for ``event``, exactly in its documented shape (:data:`WEBHOOK_SHAPES`).

    ``message`` has ``id``, ``to``, ``from``, ``timestamp`` (send time, Unix seconds) and ``tag``; ``from``
    is left out where the docs do not show it. ``payload`` must give exactly the event's payload fields.
    """
    has_timestamp, fields, has_from = WEBHOOK_SHAPES[event]
    if set(payload) != set(fields):
        raise ValueError(f"{event} carries {sorted(fields)}, not {sorted(payload)}")
    keys = ("id", "to", "from", "timestamp", "tag") if has_from else ("id", "to", "timestamp", "tag")
    body: dict[str, Any] = {"event": event}
    if has_timestamp:
        body["timestamp"] = int(occurred_at)
    body["payload"] = {**{k: payload[k] for k in fields}, "message": {k: message[k] for k in keys}}
    return body


class EnvieVendor(Vendor):
    """State: ``lists`` keyed by ``list_uid`` (each with its subscribers) and the ``sent`` messages."""

    name = "envie"

    def routes(self) -> None:
        """Register the documented endpoints."""
        add = self.router.add
        add("POST", "lists/create", self.list_create)
        add("POST", "lists/get", self.list_get)
        add("GET", "lists/show", self.list_index)
        add("POST", "lists/show", self.list_subscribers)
        add("POST", "singlesending/create", self.single_sending)

    # -- state --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start with one list, ``Lista Sandbox``, holding 25 confirmed subscribers."""
        self.lists: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []
        self.next_list = 1
        self.next_subscriber = 1
        self.next_message_id = 1001
        seeded = self._new_list("Lista Sandbox", "Lista criada pelo sandbox")
        for n in range(1, SEEDED_SUBSCRIBERS + 1):
            self._add_subscriber(seeded, f"assinante{n:02d}@exemplo.com.br", f"Assinante{n:02d}", "Sandbox")

    def dump(self) -> dict[str, Any]:
        """Return lists (with subscribers), sent messages and counters."""
        return {
            "lists": list(self.lists.values()),
            "sent": self.sent,
            "next_list": self.next_list,
            "next_subscriber": self.next_subscriber,
            "next_message_id": self.next_message_id,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore a :meth:`dump`."""
        self.lists = {item["list_uid"]: item for item in data["lists"]}
        self.sent = data["sent"]
        self.next_list = data["next_list"]
        self.next_subscriber = data["next_subscriber"]
        self.next_message_id = data["next_message_id"]

    def snapshot(self) -> dict[str, Any]:
        """Add the webhook deliveries to the dump."""
        return {**self.dump(), "webhooks": list(self.webhooks.deliveries)}

    # -- envelope -----------------------------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        """``{"status": "error", "error": …}`` with the real HTTP status."""
        return json_response({"status": "error", "error": message}, status)

    def authenticate(self, request: Request) -> Response | None:
        """Both ``public-key`` and ``private-key`` headers must match (HTTP 401)."""
        headers = request.headers
        if headers.get("public-key") != ENVIE_PUBLIC_KEY or headers.get("private-key") != ENVIE_PRIVATE_KEY:
            return self.error(401, status_text(401))
        return None

    def body(self, request: Request) -> dict[str, Any]:
        """Return the JSON object body, or fail with HTTP 406 (not JSON)."""
        ctype = request.content_type
        if ctype and "json" not in ctype:
            self.fail(406, status_text(406))
        try:
            data = request.json()
        except BodyError:
            self.fail(406, status_text(406))
        if not isinstance(data, dict):
            self.fail(406, status_text(406))
        return data

    def invalid(self, detail: str) -> NoReturn:
        """Fail with HTTP 400 and ``Sua requisição é inválida. <detail>``."""
        self.fail(400, f"{status_text(400)} {detail}")

    # -- helpers ------------------------------------------------------------------------------------------
    def _new_list(self, name: str, description: str) -> dict[str, Any]:
        uid = self.ctx.ids.token("envie-list", self.next_list, 13, LOWER_ALNUM)
        self.next_list += 1
        record = {
            "list_uid": uid,
            "name": name,
            "display_name": name,
            "description": description,
            "date_added": self.ctx.clock.fmt(self.ctx.clock.now(), DATE_FORMAT),
            "subscribers": [],
        }
        self.lists[uid] = record
        return record

    def _add_subscriber(self, record: dict[str, Any], email: str, first: str, last: str) -> None:
        uid = self.ctx.ids.token("envie-subscriber", self.next_subscriber, 13, LOWER_ALNUM)
        self.next_subscriber += 1
        record["subscribers"].append(
            {
                "subscriber_uid": uid,
                "EMAIL": email,
                "FNAME": first,
                "LNAME": last,
                "status": "confirmed",
                "source": "import",
                "ip_address": "127.0.0.1",
                "date_added": self.ctx.clock.fmt(self.ctx.clock.now(), DATE_FORMAT),
            }
        )

    @staticmethod
    def _list_record(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "general": {
                "list_uid": record["list_uid"],
                "name": record["name"],
                "display_name": record["display_name"],
                "description": record["description"],
            },
            "defaults": {"from_name": "Sandbox", "reply_to": SENDER_EMAIL, "subject": ""},
            "notifications": {
                "subscribe": "no",
                "unsubscribe": "no",
                "subscribe_to": "",
                "unsubscribe_to": "",
            },
            "company": {
                "name": "Sandbox Ltda",
                "address_1": "Rua Exemplo, 100",
                "address_2": "",
                "zone_name": "São Paulo",
                "city": "São Paulo",
                "zip_code": "01000-000",
                "address_format": "[COMPANY_NAME]\n[COMPANY_ADDRESS_1]\n[COMPANY_CITY]",
                "country": {"country_id": "31", "name": "Brazil", "code": "BR"},
                "zone": {"zone_id": "464", "name": "São Paulo", "code": "SP"},
            },
        }

    @staticmethod
    def _paged(request: Request, items: list[Any]) -> dict[str, Any]:
        """Page ``items`` by ``page``/``per_page`` (query): ``count``, ``total_pages``, … ``records``."""
        page = paginate(
            items,
            to_int(request.query.get("page"), 1),
            to_int(request.query.get("per_page"), DEFAULT_PER_PAGE),
        )
        return {
            "count": str(page.total),
            "total_pages": page.pages,
            "current_page": page.page,
            "next_page": page.page + 1 if page.page < page.pages else None,
            "records": page.items,
        }

    def _find_list(self, uid: Any) -> dict[str, Any]:
        record = self.lists.get(uid) if isinstance(uid, str) else None
        if record is None:
            self.fail(404, "A lista não existe.")
        return record

    # -- lists --------------------------------------------------------------------------------------------
    def list_create(self, request: Request) -> Response:
        """``POST /lists/create`` ``{"general": {"name", "description"}}`` → ``list_uid``."""
        general = self.body(request).get("general")
        if not isinstance(general, dict):
            self.invalid("Campo obrigatório não informado: general.")
        missing = [k for k in ("name", "description") if not str(general.get(k) or "").strip()]
        if missing:
            self.invalid("Campo obrigatório não informado: " + ", ".join(missing) + ".")
        record = self._new_list(str(general["name"]).strip(), str(general["description"]).strip())
        return json_response({"status": "success", "list_uid": record["list_uid"]})

    def list_get(self, request: Request) -> Response:
        """``POST /lists/get`` ``{"list": uid}`` → the list record."""
        body = self.body(request)
        if "list" not in body:
            self.invalid("Campo obrigatório não informado: list.")
        record = self._find_list(body["list"])
        return json_response({"status": "success", "data": {"record": self._list_record(record)}})

    def list_index(self, request: Request) -> Response:
        """``GET /lists/show?page=&per_page=`` → paged lists (default 10 per page)."""
        records = [self._list_record(r) for r in self.lists.values()]
        return json_response({"status": "success", "data": self._paged(request, records)})

    def list_subscribers(self, request: Request) -> Response:
        """``POST /lists/show`` ``{"UID": uid}`` (``page``/``per_page`` in the query) → paged subscribers."""
        body = self.body(request)
        if "UID" not in body:
            self.invalid("Campo obrigatório não informado: UID.")
        record = self._find_list(body["UID"])
        return json_response({"status": "success", "data": self._paged(request, record["subscribers"])})

    # -- transactional ------------------------------------------------------------------------------------
    def single_sending(self, request: Request) -> Response:
        """``POST /singlesending/create`` → ``{"status": "success", "message_id": <int>}``.

        400 for missing fields, bad addresses or attachments; 409 for a recipient at ``blacklist.example``.
        A recipient at ``bounce.example`` is accepted and reported as ``MessageDeliveryFailed``.
        """
        body = self.body(request)
        missing = [k for k in REQUIRED_SEND_FIELDS if not isinstance(body.get(k), str) or not body[k].strip()]
        if missing:
            self.invalid("Campos obrigatórios não informados: " + ", ".join(missing) + ".")
        for key in ("to_email", "from_email", "reply_to_email"):
            if not is_email(body[key].strip()):
                self.invalid(f"E-mail inválido em {key}.")
        attachments = self._attachments(body.get("attachments"))
        to_email = body["to_email"].strip()
        if email_domain(to_email) == BLACKLIST_DOMAIN:
            self.fail(409, status_text(409))
        now = self.ctx.clock.now()
        message_id = self.next_message_id
        self.next_message_id += 1
        failed = email_domain(to_email) == BOUNCE_DOMAIN
        self.sent.append(
            {
                "message_id": message_id,
                "to_email": to_email,
                "to_name": body["to_name"],
                "from_email": body["from_email"].strip(),
                "from_name": body["from_name"],
                "reply_to_email": body["reply_to_email"].strip(),
                "subject": body["subject"],
                "attachments": attachments,
                "sent_at": now,
                "status": "failed" if failed else "sent",
            }
        )
        self._notify(message_id, to_email, body["from_email"].strip(), now, failed)
        return json_response({"status": "success", "message_id": message_id})

    def _attachments(self, value: Any) -> list[dict[str, str]]:
        """Validate ``attachments``; return ``[{name, mime, size}]`` (content is not kept)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.invalid("attachments deve ser uma lista.")
        allowed = set(self.ctx.settings.envie_mime_types)
        names: set[str] = set()
        kept = []
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("data", "name", "mime")
            ):
                self.invalid(f"Anexo {index}: data, name e mime são obrigatórios.")
            if item["mime"] not in allowed:
                self.invalid(f"Anexo {index}: MIME type não permitido: {item['mime']}.")
            if item["name"] in names:
                self.invalid(f"Anexo {index}: nome repetido: {item['name']}.")
            try:
                size = len(base64.b64decode(item["data"], validate=True))
            except (binascii.Error, ValueError):
                self.invalid(f"Anexo {index}: data não está em base64.")
            names.add(item["name"])
            kept.append({"name": item["name"], "mime": item["mime"], "size": size})
        return kept

    def _notify(self, message_id: int, to: str, sender: str, sent_at: float, failed: bool) -> None:
        """Emit the delivery events of one message (when a webhook URL is set): ``MessageSent``;
        ``MessageDeliveryFailed`` at ``bounce.example``; ``MessageDelayed`` then ``MessageSent`` at
        ``delayed.example``; ``MessageHeld`` at ``held.example``."""
        message = self._webhook_message(message_id, to, sender, sent_at)
        now = self.ctx.clock.now()
        domain = email_domain(to)
        if failed:
            self._emit(
                "MessageDeliveryFailed",
                message,
                now,
                details=f"Permanent failure delivering to {to}",
                output="550 5.1.1 The email account that you tried to reach does not exist",
            )
        elif domain == HELD_DOMAIN:
            self._emit(
                "MessageHeld",
                message,
                now,
                details=f"Message for {to} held: the receiving server refused it for now",
                output="421 4.7.0 Try again later, closing connection",
            )
        else:
            if domain == DELAYED_DOMAIN:
                self._emit(
                    "MessageDelayed",
                    message,
                    now,
                    details=f"Delivery to {to} delayed; retrying",
                    output="451 4.3.0 Mail server temporarily rejected message",
                )
            self._emit(
                "MessageSent",
                message,
                now,
                output="250 2.0.0 OK: queued as sandbox",
                details=f"Message for {to} accepted by the sandbox",
            )

    def _webhook_message(self, message_id: int, to: str, sender: str, sent_at: float) -> dict[str, Any]:
        return {"id": message_id, "to": to, "from": sender, "timestamp": int(sent_at), "tag": ""}

    def _emit(self, event: str, message: dict[str, Any], occurred_at: float, **payload: Any) -> None:
        self.webhooks.emit(webhook_body(event, message, occurred_at, **payload))

    def engagement(self, message_id: Any, event: Any, url: Any = None) -> dict[str, Any]:
        """Emit an open (``MessageLoaded``) or a click (``MessageLinkClicked`` on ``url``) of a sent message,
        as if its recipient had opened it; return the body posted. ``ValueError`` for an unknown message or
        event, or a click without a URL."""
        if event not in ENGAGEMENT_EVENTS:
            raise ValueError(f"event must be one of {', '.join(ENGAGEMENT_EVENTS)}, not {event!r}")
        sent = next((m for m in self.sent if str(m["message_id"]) == str(message_id)), None)
        if sent is None:
            raise ValueError(f"no sent envie.email message {message_id!r}")
        message = self._webhook_message(
            sent["message_id"], sent["to_email"], sent["from_email"], sent["sent_at"]
        )
        now = self.ctx.clock.now()
        client = {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (sandbox)"}
        if event == "MessageLinkClicked":
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError("a click needs the http(s) url that was clicked")
            token = self.ctx.ids.hex("envie-click", sent["message_id"], 16)
            body = webhook_body(event, message, now, url=url, token=token, **client)
        else:
            body = webhook_body(event, message, now, **client)
        self.webhooks.emit(body)
        return body
