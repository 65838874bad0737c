"""The webhook receiver's logic, free of any web framework: token, connection, body, filter, store.

:mod:`airflow_provider_emailbr.plugins.webhooks` serves it at ``POST /emailbr/webhooks/{conn_id}`` in the
API server. The answers:

* ``404``: no such connection, a connection of a vendor that posts no webhooks, or one without the extra
  ``webhook_token``;
* ``401``: missing or wrong token (``X-Webhook-Token`` header or ``token`` query parameter, compared in
  constant time); nothing is read or stored, and the refusal is counted in the log without the token;
* ``413``: a body over :data:`~.payloads.MAX_BODY_BYTES`;
* ``400``: a body that is not JSON, nests too deep, or holds an unknown event;
* ``200``: the events are on disk in the :class:`~.store.EventStore` (duplicates and event types the
  connection's ``webhook_events`` leaves out are counted, not stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone, tzinfo
from typing import Any, NamedTuple

from airflow_provider_emailbr.events.model import EVENT_TYPES, DeliveryEvent
from airflow_provider_emailbr.events.payloads import MAX_BODY_BYTES, BodyTooLargeError
from airflow_provider_emailbr.events.store import EventStore, StoreOutcome
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.privacy import mask_email

log = logging.getLogger(__name__)

VENDOR_OF_CONN_TYPE: dict[str, str] = {"envie_email": "envie", "mailgrid": "mailgrid"}
"""Connection types whose vendor posts webhooks, and the vendor's parser."""


class WebhookSettings(NamedTuple):
    """What the receiver needs from one connection (its repr never shows the token)."""

    conn_id: str
    """The Airflow connection id (the last part of the URL)."""
    vendor: str
    """``envie`` or ``mailgrid``: which parser reads the body."""
    token: str
    """The extra ``webhook_token``."""
    event_types: frozenset[str] | None
    """The extra ``webhook_events``: the event types kept (``None``: all)."""
    zone: tzinfo
    """The account's zone for zone-less times (MailGrid; extra ``timezone``)."""

    def __repr__(self) -> str:
        kept = "all" if self.event_types is None else sorted(self.event_types)
        return (
            f"WebhookSettings(conn_id={self.conn_id!r}, vendor={self.vendor!r}, token='***', events={kept!r})"
        )


class WebhookReply(NamedTuple):
    """The receiver's answer: an HTTP status and a JSON body."""

    status: int
    """The HTTP status."""
    body: dict[str, Any]
    """The JSON body (``detail`` on errors; ``stored``/``duplicates``/``filtered`` on success)."""


class WebhookConfigError(EmailBRInputError):
    """A connection's webhook extras are wrong (the receiver answers 500 so that the vendor retries)."""


def webhook_settings(conn_id: str, conn_type: str | None, extra: Mapping[str, Any]) -> WebhookSettings | None:
    """A connection's :class:`WebhookSettings`, or ``None`` when it does not receive webhooks."""
    vendor = VENDOR_OF_CONN_TYPE.get(conn_type or "")
    token = extra.get("webhook_token")
    if vendor is None or not isinstance(token, str) or not token.strip():
        return None
    return WebhookSettings(
        conn_id=conn_id,
        vendor=vendor,
        token=token.strip(),
        event_types=parse_event_types(extra.get("webhook_events"), conn_id=conn_id),
        zone=_zone(extra.get("timezone"), conn_id),
    )


def parse_event_types(value: Any, *, conn_id: str = "") -> frozenset[str] | None:
    """The ``webhook_events`` extra (a list or comma-separated text of event types); empty means all."""
    if value is None or value == "" or value == []:
        return None
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise WebhookConfigError(f"connection {conn_id!r}: webhook_events must be a list of event types")
    unknown = sorted({item for item in items if item and item not in EVENT_TYPES})
    if unknown:
        raise WebhookConfigError(
            f"connection {conn_id!r}: webhook_events holds {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(EVENT_TYPES)}"
        )
    kept = frozenset(item for item in items if item)
    return kept or None


def _zone(value: Any, conn_id: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from airflow_provider_emailbr.utils.dates import DEFAULT_TIMEZONE

    try:
        return ZoneInfo(str(value or DEFAULT_TIMEZONE))
    except (ZoneInfoNotFoundError, ValueError):
        raise WebhookConfigError(f"connection {conn_id!r}: timezone {value!r} is not a known zone") from None


def airflow_connection_settings(conn_id: str) -> WebhookSettings | None:
    """Look a connection up through Airflow's secrets backends and metadata DB (the API server's way)."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        connection = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    return webhook_settings(conn_id, connection.conn_type, connection.extra_dejson)


def parse_events(settings: WebhookSettings, body: bytes, *, received_at: datetime) -> list[DeliveryEvent]:
    """The normalised events of one body, read by the connection's vendor parser."""
    if settings.vendor == "envie":
        from airflow_provider_emailbr.events.envie import delivery_event

        return [delivery_event(body, received_at=received_at)]
    from airflow_provider_emailbr.events.mailgrid import delivery_events

    return delivery_events(body, zone=settings.zone, received_at=received_at)


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the configured token with the one received (``None``: none was sent)."""
    return given is not None and hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


class WebhookReceiver:
    """Checks, reads and stores webhook posts (see the module's doc).

    :param store: where accepted events are committed before the answer.
    :param lookup: conn_id → :class:`WebhookSettings` or ``None`` (default: Airflow's connections).
    :param cache_seconds: how long a looked-up connection is reused (a changed token applies after it).
    :param max_body_bytes: the body size cap (413 above it).
    :param on_stored: called after new events were committed (wakes the publisher).
    """

    def __init__(
        self,
        store: EventStore,
        *,
        lookup: Callable[[str], WebhookSettings | None] = airflow_connection_settings,
        cache_seconds: float = 10.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.lookup = lookup
        self.cache_seconds = cache_seconds
        self.max_body_bytes = max_body_bytes
        self.on_stored = on_stored
        self._cache: dict[str, tuple[float, WebhookSettings | WebhookConfigError | None]] = {}
        self._refused: dict[str, int] = {}
        self._refused_lock = threading.Lock()

    # ------------------------------------------------------------------ connection

    def settings(self, conn_id: str) -> WebhookSettings | None:
        """The connection's settings, from the cache when fresh; a config error is raised again."""
        now = time.monotonic()
        cached = self._cache.get(conn_id)
        if cached is None or now - cached[0] > self.cache_seconds:
            try:
                value: WebhookSettings | WebhookConfigError | None = self.lookup(conn_id)
            except WebhookConfigError as error:
                value = error
            cached = self._cache[conn_id] = (now, value)
        if isinstance(cached[1], WebhookConfigError):
            raise cached[1]
        return cached[1]

    def needs_lookup(self, conn_id: str) -> bool:
        """Whether :meth:`settings` would look the connection up (so an async caller runs it in a thread)."""
        cached = self._cache.get(conn_id)
        return cached is None or time.monotonic() - cached[0] > self.cache_seconds

    # ------------------------------------------------------------------ the steps of one post

    def authorize(
        self, conn_id: str, header_token: str | None, query_token: str | None
    ) -> WebhookSettings | WebhookReply:
        """The connection's settings if the token is right, else the error reply (404, 401 or 500)."""
        try:
            settings = self.settings(conn_id)
        except WebhookConfigError as error:
            log.error("emailbr webhooks: %s", error)
            return WebhookReply(500, {"detail": "the connection's webhook settings are invalid; see the log"})
        if settings is None:
            return WebhookReply(404, {"detail": f"no connection {conn_id!r} receives webhooks"})
        given = header_token if header_token is not None else query_token
        if not tokens_match(settings.token, given):
            with self._refused_lock:
                count = self._refused[conn_id] = self._refused.get(conn_id, 0) + 1
            log.warning(
                "emailbr webhooks: refused a post to %r with a %s token (%d refused so far in this process)",
                conn_id,
                "missing" if given is None else "wrong",
                count,
            )
            return WebhookReply(401, {"detail": "missing or wrong webhook token"})
        return settings

    def refused_count(self, conn_id: str) -> int:
        """How many posts to ``conn_id`` this process refused for their token."""
        return self._refused.get(conn_id, 0)

    def read(self, settings: WebhookSettings, body: bytes) -> list[DeliveryEvent] | WebhookReply:
        """The body's events kept by the connection's filter, or the error reply (413, 400)."""
        if len(body) > self.max_body_bytes:
            return self.too_large()
        try:
            events = parse_events(settings, body, received_at=datetime.now(timezone.utc))
        except BodyTooLargeError:
            return self.too_large()
        except EmailBRInputError as error:
            return WebhookReply(400, {"detail": str(error)})
        return events

    def too_large(self) -> WebhookReply:
        """The 413 reply."""
        return WebhookReply(413, {"detail": f"body over {self.max_body_bytes} bytes"})

    def kept(self, settings: WebhookSettings, events: list[DeliveryEvent]) -> list[DeliveryEvent]:
        """The events whose type the connection's ``webhook_events`` keeps."""
        if settings.event_types is None:
            return events
        return [event for event in events if event.event_type in settings.event_types]

    def stored_reply(
        self, settings: WebhookSettings, events: list[DeliveryEvent], kept: int, outcome: StoreOutcome
    ) -> WebhookReply:
        """The 200 reply, and a debug line per event with the recipient masked."""
        if outcome.stored and self.on_stored is not None:
            self.on_stored()
        if log.isEnabledFor(logging.DEBUG):
            for event in events:
                log.debug(
                    "emailbr webhooks: %s %s event %s for %s",
                    settings.conn_id,
                    event.event_type,
                    event.event_id,
                    mask_email(event.recipient),
                )
        return WebhookReply(
            200,
            {"stored": outcome.stored, "duplicates": outcome.duplicates, "filtered": len(events) - kept},
        )

    # ------------------------------------------------------------------ whole posts

    def handle(
        self, conn_id: str, body: bytes, *, header_token: str | None = None, query_token: str | None = None
    ) -> WebhookReply:
        """One post, synchronously (blocking until the events are on disk)."""
        settings = self.authorize(conn_id, header_token, query_token)
        if isinstance(settings, WebhookReply):
            return settings
        events = self.read(settings, body)
        if isinstance(events, WebhookReply):
            return events
        kept = self.kept(settings, events)
        return self.stored_reply(settings, events, len(kept), self.store.add(conn_id, kept))

    async def ahandle(
        self,
        conn_id: str,
        read_body: Callable[[int], Any],
        *,
        header_token: str | None = None,
        query_token: str | None = None,
    ) -> WebhookReply:
        """One post on an event loop: the connection is looked up in a thread when not cached, the body is
        read (``await read_body(cap)``, which answers ``None`` past the cap) only after the token is right,
        and the answer waits for the group commit without blocking the loop."""
        if self.needs_lookup(conn_id):
            await asyncio.to_thread(self.settings_or_error, conn_id)
        settings = self.authorize(conn_id, header_token, query_token)
        if isinstance(settings, WebhookReply):
            return settings
        body = await read_body(self.max_body_bytes)
        if body is None:
            return self.too_large()
        events = self.read(settings, body)
        if isinstance(events, WebhookReply):
            return events
        kept = self.kept(settings, events)
        outcome = await asyncio.wrap_future(self.store.submit(conn_id, kept))
        return self.stored_reply(settings, events, len(kept), outcome)

    def settings_or_error(self, conn_id: str) -> None:
        """Fill the cache for ``conn_id`` (errors stay in the cache, for :meth:`authorize` to answer)."""
        with contextlib.suppress(WebhookConfigError):
            self.settings(conn_id)
