"""envie.email's six webhook events, read as they are documented, and normalised into a DeliveryEvent.

The documented bodies (``envie-email.txt``, "Webhooks")::

    {"event": "MessageLoaded", "timestamp": 0,
     "payload": {"ip_address", "user_agent", "message": {"id", "to", "from", "timestamp", "tag"}}}
    {"event": "MessageLinkClicked", "timestamp": 0,
     "payload": {"url", "token", "ip_address", "user_agent", "message": {…}}}
    {"event": "MessageSent", "payload": {"output", "details", "message": {…}}}          # no top-level time
    {"event": "MessageDelayed" | "MessageDeliveryFailed" | "MessageHeld", "timestamp": 0,
     "payload": {"details", "output", "message": {"id", "to", "timestamp", "tag"}}}

The top-level ``timestamp`` is when the event happened; ``payload.message.timestamp`` is when the e-mail was
sent. The docs write ``0`` without a unit, so seconds, milliseconds and ISO 8601 are all read. A callback
that does not answer 200 is posted twice more: the same body, so the same :attr:`DeliveryEvent.event_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from airflow_provider_emailbr.events.model import DeliveryEvent, stable_event_id
from airflow_provider_emailbr.events.payloads import json_object, load_json_body
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.records import ValueRecord

VENDOR = "envie"
"""The ``vendor`` of envie.email's delivery events."""

#: Webhook timestamps at or above this are milliseconds (in seconds it would be the year 5138).
_MILLISECONDS_FROM = 10**11


class EnvieEventType(str, Enum):
    """The six webhook events envie.email posts to the customer."""

    LOADED = "MessageLoaded"
    LINK_CLICKED = "MessageLinkClicked"
    SENT = "MessageSent"
    DELAYED = "MessageDelayed"
    DELIVERY_FAILED = "MessageDeliveryFailed"
    HELD = "MessageHeld"


EVENT_TYPE_OF: dict[EnvieEventType, str] = {
    EnvieEventType.SENT: "delivered",  # "Quando uma mensagem é entregue com sucesso ao destinatário"
    EnvieEventType.DELAYED: "deferred",  # first attempt failed, retried; one callback per attempt
    EnvieEventType.DELIVERY_FAILED: "bounced",  # "Falha Permanente (Bounce)"
    EnvieEventType.HELD: "deferred",  # "Em Blacklist (Temporário)": refused for now, queued for retries
    EnvieEventType.LOADED: "opened",
    EnvieEventType.LINK_CLICKED: "clicked",
}
"""The normalised ``event_type`` of each envie.email event."""


class EnvieWebhookEvent(ValueRecord):
    """A parsed webhook event, with every documented field.

    ``occurred_at`` is the event's own time (top-level ``timestamp``; ``MessageSent`` has none, so the
    send time is used); ``sent_at`` is the e-mail's send time (``payload.message.timestamp``). Both UTC.
    """

    __slots__ = (
        "details",
        "event",
        "ip_address",
        "message_id",
        "occurred_at",
        "output",
        "raw",
        "sender",
        "sent_at",
        "tag",
        "to",
        "url",
        "user_agent",
    )
    _masked = frozenset({"to", "sender"})
    _hidden = _uncompared = frozenset({"raw"})

    event: EnvieEventType
    message_id: str | None
    to: str | None
    sender: str | None
    tag: str | None
    occurred_at: datetime | None
    sent_at: datetime | None
    details: str | None
    output: str | None
    url: str | None
    ip_address: str | None
    user_agent: str | None
    raw: Mapping[str, Any]

    def __init__(
        self,
        event: EnvieEventType,
        message_id: str | None,
        to: str | None,
        sender: str | None,
        tag: str | None,
        occurred_at: datetime | None,
        sent_at: datetime | None,
        details: str | None = None,
        output: str | None = None,
        url: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        self._init(
            event=event,
            message_id=message_id,
            to=to,
            sender=sender,
            tag=tag,
            occurred_at=occurred_at,
            sent_at=sent_at,
            details=details,
            output=output,
            url=url,
            ip_address=ip_address,
            user_agent=user_agent,
            raw=raw if raw is not None else {},
        )

    @property
    def is_failure(self) -> bool:
        """Whether the event reports a delivery problem (delayed, failed or held)."""
        return self.event in (EnvieEventType.DELAYED, EnvieEventType.DELIVERY_FAILED, EnvieEventType.HELD)

    def to_delivery_event(self, *, received_at: datetime | None = None) -> DeliveryEvent:
        """This event in the normalised model.

        ``timestamp`` is :attr:`occurred_at`, else ``received_at`` (an event the vendor sent without any
        time), else now. ``event_id`` hashes the body as received, so the vendor's two retries of one post
        give the same id while two attempts of a delayed message (each with its own time) do not.
        ``description`` is ``details``, else ``output``.
        """
        moment = self.occurred_at or received_at or datetime.now(timezone.utc)
        return DeliveryEvent(
            event_type=EVENT_TYPE_OF[self.event],
            event_id=stable_event_id(VENDOR, dict(self.raw)),
            vendor=VENDOR,
            timestamp=moment.astimezone(timezone.utc),
            recipient=self.to,
            message_id=self.message_id,
            tag=self.tag,
            url=self.url,
            description=self.details or self.output,
            raw=dict(self.raw),
        )


def parse_webhook_event(payload: Mapping[str, Any] | str | bytes) -> EnvieWebhookEvent:
    """Parse one envie.email webhook body (JSON text or decoded); an unknown event or bad time is refused."""
    payload = json_object(load_json_body(payload))
    name = payload.get("event")
    try:
        event = EnvieEventType(name)
    except ValueError:
        allowed = ", ".join(e.value for e in EnvieEventType)
        raise EmailBRInputError(f"webhook event {name!r} is unknown; envie.email sends {allowed}") from None
    inner = payload.get("payload") if isinstance(payload.get("payload"), Mapping) else {}
    message = inner.get("message") if isinstance(inner.get("message"), Mapping) else {}
    sent_at = parse_timestamp(message.get("timestamp"))
    occurred = parse_timestamp(payload.get("timestamp")) if "timestamp" in payload else sent_at
    return EnvieWebhookEvent(
        event=event,
        message_id=str(message["id"]) if message.get("id") is not None else None,
        to=_text(message.get("to")),
        sender=_text(message.get("from")),
        tag=_text(message.get("tag")),
        occurred_at=occurred,
        sent_at=sent_at,
        details=_text(inner.get("details")),
        output=_text(inner.get("output")),
        url=_text(inner.get("url")),
        ip_address=_text(inner.get("ip_address")),
        user_agent=_text(inner.get("user_agent")),
        raw=payload,
    )


def delivery_event(
    payload: Mapping[str, Any] | str | bytes, *, received_at: datetime | None = None
) -> DeliveryEvent:
    """One envie.email webhook body straight into a :class:`DeliveryEvent` (see
    :meth:`EnvieWebhookEvent.to_delivery_event`)."""
    return parse_webhook_event(payload).to_delivery_event(received_at=received_at)


def parse_timestamp(value: Any) -> datetime | None:
    """A webhook timestamp as an aware UTC time: Unix seconds, Unix milliseconds or an ISO 8601 string.

    The doc shows ``"timestamp": 0`` without a unit, so each form the platform could send is accepted:
    numbers (or numeric strings) of 10**11 and more are milliseconds, smaller ones seconds; other strings
    must be ISO 8601 (a time without a zone is UTC). ``0``, ``""`` and ``None`` mean "not given".
    """
    if value is None or isinstance(value, bool) or value in ("", 0):
        return None
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    else:
        raise EmailBRInputError(f"webhook timestamp {value!r} is not a Unix time or an ISO 8601 date")
    if number is not None:
        if number == 0:
            return None
        seconds = number / 1000 if abs(number) >= _MILLISECONDS_FROM else number
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise EmailBRInputError(f"webhook timestamp {value!r} is out of range") from None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise EmailBRInputError(
            f"webhook timestamp {value[:40]!r} is not a Unix time (seconds or milliseconds) or an ISO 8601 "
            "date"
        ) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _text(value: Any) -> str | None:
    """A documented string field: ``None`` and ``""`` stay absent, anything else becomes text."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
