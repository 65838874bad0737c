"""Outgoing webhook delivery (envie.email events, MailGrid failures) with the vendors' retry rule.

envie.email POSTs each event to the customer's URL; "if the callback answers with a status other than 200,
two new attempts are made". MailGrid POSTs each failure to its webhook URL with the account's token in an
``X-Webhook-Token`` header; its retries are not documented, so the sandbox applies the same rule. Each
vendor has its own callback URL (settings ``webhook_url`` for envie.email, ``mailgrid_webhook_url`` and
``mailgrid_webhook_token`` for MailGrid). Deliveries run as background tasks on the event loop (the
request that caused them never waits) and use a tiny stdlib HTTP/1.1 client, so the sandbox needs no extra
dependency.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .context import SandboxContext

#: Attempts per event: the first POST plus two retries.
MAX_ATTEMPTS = 3
#: The header that carries MailGrid's webhook token.
MAILGRID_TOKEN_HEADER = "X-Webhook-Token"
#: The vendors that post webhooks.
WEBHOOK_VENDORS = ("envie", "mailgrid")


async def post_json(url: str, payload: Any, timeout: float, headers: Mapping[str, str] | None = None) -> int:
    """POST ``payload`` as JSON to ``url`` with extra ``headers``; return the HTTP status (raise
    ``OSError``/timeout on failure)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: emailbr-sandbox\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode("latin-1")

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ssl.create_default_context() if secure else None
        )
        try:
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.split()
            if len(fields) < 2 or not fields[1].isdigit():
                raise OSError(f"invalid HTTP status line {status_line!r}")
            return int(fields[1])
        finally:
            writer.close()

    return await asyncio.wait_for(exchange(), timeout)


class WebhookDispatcher:
    """Queues events for delivery and remembers the outcome of each (``GET /_sandbox/webhooks``)."""

    def __init__(self, ctx: SandboxContext, history: int = 1000) -> None:
        self.ctx = ctx
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=history)
        self._next_id = 1

    def reset(self) -> None:
        """Forget past deliveries (pending ones are cancelled by the context reset)."""
        self.deliveries.clear()
        self._next_id = 1

    def emit(self, event: dict[str, Any], *, vendor: str = "envie") -> dict[str, Any] | None:
        """Schedule delivery of ``event`` to ``vendor``'s configured URL; return the delivery record (or
        ``None`` when that vendor has no URL). A MailGrid delivery carries the token header when one is set;
        the record names the headers sent, never their values."""
        settings = self.ctx.settings
        if vendor not in WEBHOOK_VENDORS:
            raise ValueError(f"unknown webhook vendor {vendor!r}; known: {', '.join(WEBHOOK_VENDORS)}")
        url = settings.webhook_url if vendor == "envie" else settings.mailgrid_webhook_url
        if not url:
            return None
        headers: dict[str, str] = {}
        if vendor == "mailgrid" and settings.mailgrid_webhook_token:
            headers[MAILGRID_TOKEN_HEADER] = settings.mailgrid_webhook_token
        record: dict[str, Any] = {
            "id": self._next_id,
            "vendor": vendor,
            "url": url,
            "event": event.get("event", "failure"),
            "headers": sorted(headers),
            "payload": event,
            "attempts": [],
            "delivered": False,
            "done": False,
        }
        self._next_id += 1
        self.deliveries.append(record)
        self.ctx.spawn(self._deliver(record, headers))
        return record

    async def _deliver(self, record: dict[str, Any], headers: Mapping[str, str]) -> None:
        settings = self.ctx.settings
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(settings.webhook_retry_seconds)
            outcome: dict[str, Any] = {"at": self.ctx.clock.now()}
            try:
                outcome["status"] = await post_json(
                    record["url"], record["payload"], settings.webhook_timeout_seconds, headers
                )
            except (OSError, asyncio.TimeoutError) as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            record["attempts"].append(outcome)
            if outcome.get("status") == 200:
                record["delivered"] = True
                break
        record["done"] = True
