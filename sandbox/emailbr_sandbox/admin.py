"""The admin API under ``/_sandbox/``: state, reset, faults, journal, config, clock, webhooks.

Admin requests are never recorded in the journal and never subject to faults, latency or rate limits. All
bodies and answers are JSON; errors are ``{"error": "<message>"}`` with HTTP 400 or 404.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .constants import CREDENTIALS, VENDOR_PREFIXES, VENDORS
from .faults import parse_fault
from .vendors.criaenvio import CriaEnvioVendor
from .wire import METHOD_NOT_ALLOWED, Failure, Response, Router, json_response

if TYPE_CHECKING:
    from .app import SandboxApp


def _fail(status: int, message: str) -> Failure:
    return Failure(json_response({"error": message}, status))


class AdminApi:
    """Routes and handlers of ``/_sandbox/…``."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self.router = Router()
        add = self.router.add
        add("GET", "", self.health)
        add("GET", "health", self.health)
        add("GET", "state", self.state)
        add("POST", "reset", self.reset)
        add("POST", "save", self.save)
        add("GET", "faults", self.list_faults)
        add("POST", "faults", self.add_faults)
        add("DELETE", "faults", self.clear_faults)
        add("DELETE", "faults/{fault_id}", self.remove_fault)
        add("GET", "requests", self.list_requests)
        add("DELETE", "requests", self.clear_requests)
        add("GET", "config", self.get_config)
        add("POST", "config", self.set_config)
        add("GET", "clock", self.get_clock)
        add("POST", "clock", self.set_clock)
        add("GET", "webhooks", self.list_webhooks)
        add("POST", "envie/events", self.envie_event)

    def handle(self, method: str, path: str, query_string: bytes, body: bytes) -> Response:
        """Dispatch one admin request (``path`` is relative to ``/_sandbox``)."""
        found = self.router.match(method, path.strip("/"))
        if found is None:
            return json_response({"error": f"unknown admin endpoint {path!r}"}, 404)
        if found is METHOD_NOT_ALLOWED:
            return json_response({"error": f"method {method} not allowed on {path!r}"}, 405)
        handler, params = found  # type: ignore[misc]
        query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        try:
            return handler(query, _json_body(body), **params)
        except Failure as failure:
            return failure.response

    # -- handlers -----------------------------------------------------------------------------------------
    def health(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/health``: liveness, URL, vendor prefixes and credentials."""
        return json_response(
            {
                "status": "ok",
                "url": self.app.base_url,
                "vendors": {name: VENDOR_PREFIXES[name] for name in VENDORS},
                "credentials": CREDENTIALS,
            }
        )

    def state(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/state[?vendor=x]``: vendors' data plus clock, config, faults, journal size."""
        vendor = query.get("vendor")
        if vendor is not None and vendor not in self.app.vendors:
            raise _fail(400, f"unknown vendor {vendor!r}")
        names = [vendor] if vendor else list(self.app.vendors)
        return json_response(
            {
                "vendors": {name: self.app.vendors[name].snapshot() for name in names},
                "clock": self.app.ctx.clock.describe(),
                "config": self.app.ctx.settings.to_json(),
                "faults": self.app.faults.to_json(),
                "journal_size": len(self.app.journal),
            }
        )

    def reset(self, query: dict[str, str], body: Any) -> Response:
        """``POST /_sandbox/reset``: seeded initial state; journal, faults and webhooks cleared."""
        self.app.reset()
        return json_response({"status": "ok"})

    def save(self, query: dict[str, str], body: Any) -> Response:
        """``POST /_sandbox/save``: write the state file now (400 without ``--state-file``)."""
        path = self.app.save_state_file()
        if path is None:
            raise _fail(400, "the sandbox was started without --state-file")
        return json_response({"status": "ok", "state_file": path})

    def list_faults(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/faults``: the active rules."""
        return json_response({"faults": self.app.faults.to_json()})

    def add_faults(self, query: dict[str, str], body: Any) -> Response:
        """``POST /_sandbox/faults``: one rule, a list of rules, or ``{"faults": [...]}``."""
        specs = body.get("faults") if isinstance(body, dict) and "faults" in body else body
        specs = specs if isinstance(specs, list) else [specs]
        try:
            for spec in specs:
                parse_fault(spec, 0)  # validate all before adding any
            created = [self.app.faults.add(spec).to_json() for spec in specs]
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        return json_response({"faults": created})

    def clear_faults(self, query: dict[str, str], body: Any) -> Response:
        """``DELETE /_sandbox/faults``: remove every rule."""
        self.app.faults.clear()
        return json_response({"status": "ok"})

    def remove_fault(self, query: dict[str, str], body: Any, fault_id: str) -> Response:
        """``DELETE /_sandbox/faults/{id}``."""
        if not fault_id.isdigit() or not self.app.faults.remove(int(fault_id)):
            raise _fail(404, f"no fault with id {fault_id}")
        return json_response({"status": "ok"})

    def list_requests(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/requests?vendor=&method=&path=&status=&since=&limit=``: the journal, redacted."""
        vendor = query.get("vendor") or None
        if vendor is not None and vendor not in self.app.vendors:
            raise _fail(400, f"unknown vendor {vendor!r}")
        numbers = {}
        for key in ("status", "since", "limit"):
            if query.get(key):
                if not query[key].lstrip("-").isdigit():
                    raise _fail(400, f"{key} must be an integer")
                numbers[key] = int(query[key])
        entries = self.app.journal.entries(
            vendor=vendor, method=query.get("method") or None, path=query.get("path") or None, **numbers
        )
        return json_response({"count": len(entries), "requests": entries})

    def clear_requests(self, query: dict[str, str], body: Any) -> Response:
        """``DELETE /_sandbox/requests``: empty the journal."""
        self.app.journal.clear()
        return json_response({"status": "ok"})

    def get_config(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/config``: the run-time settings."""
        return json_response(self.app.ctx.settings.to_json())

    def set_config(self, query: dict[str, str], body: Any) -> Response:
        """``POST /_sandbox/config``: change settings (``credits`` also sets CriaEnvio's balance)."""
        if not isinstance(body, dict):
            raise _fail(400, "the body must be a JSON object of settings")
        candidate = self.app.ctx.settings.copy()
        try:
            candidate.update(body)
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        self.app.ctx.apply_settings(body)
        criaenvio = self.app.vendors["criaenvio"]
        if "credits" in body and isinstance(criaenvio, CriaEnvioVendor):
            criaenvio.set_credits(self.app.ctx.settings.credits)
        return json_response(self.app.ctx.settings.to_json())

    def get_clock(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/clock``: sandbox time, offset, speed and time zone."""
        return json_response(self.app.ctx.clock.describe())

    def set_clock(self, query: dict[str, str], body: Any) -> Response:
        """``POST /_sandbox/clock`` ``{"advance_seconds": N, "clock_speed": X}`` (both optional)."""
        if not isinstance(body, dict) or not set(body) <= {"advance_seconds", "clock_speed"}:
            raise _fail(400, 'expected {"advance_seconds": N, "clock_speed": X}')
        try:
            if "clock_speed" in body:
                self.app.ctx.apply_settings({"clock_speed": body["clock_speed"]})
            if "advance_seconds" in body:
                seconds = body["advance_seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                    raise ValueError("advance_seconds must be a number")
                self.app.ctx.clock.advance(float(seconds))
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        self.app.dirty = True
        return json_response(self.app.ctx.clock.describe())

    def list_webhooks(self, query: dict[str, str], body: Any) -> Response:
        """``GET /_sandbox/webhooks``: envie.email and MailGrid webhook deliveries and their attempts."""
        return json_response({"deliveries": list(self.app.webhooks.deliveries)})

    def envie_event(self, query: dict[str, str], body: Any) -> Response:
        """``POST /_sandbox/envie/events`` ``{"message_id", "event": "MessageLoaded"|"MessageLinkClicked",
        "url"}``: the recipient of a sent envie.email message opens it or clicks ``url``; the webhook body
        posted is returned (400 for an unknown message or event, or a click without a URL)."""
        if not isinstance(body, dict):
            raise _fail(400, "expected a JSON object with message_id and event")
        try:
            posted = self.app.vendors["envie"].engagement(
                body.get("message_id"), body.get("event"), body.get("url")
            )
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        return json_response({"status": "ok", "body": posted})


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise _fail(400, f"invalid JSON body: {exc}") from exc
