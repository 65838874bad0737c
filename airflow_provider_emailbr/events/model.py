"""One delivery event, whatever the vendor: what happened to which message, for whom, and when.

The model is deliberately small and JSON-friendly: :meth:`DeliveryEvent.to_dict` is what asset events carry in
their ``extra`` and what the webhook receiver stores, and :meth:`DeliveryEvent.from_dict` reads it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.privacy import mask_email

EVENT_TYPES: tuple[str, ...] = (
    "sent",
    "delivered",
    "deferred",
    "bounced",
    "rejected",
    "opened",
    "clicked",
    "complained",
    "unsubscribed",
    "unknown",
)
"""Every ``event_type`` a :class:`DeliveryEvent` can have."""

SUPPRESSING_EVENT_TYPES: frozenset[str] = frozenset({"bounced", "complained", "unsubscribed"})
"""Event types after which an address should not be sent to again (fed to an import's ``suppress``)."""


class DeliveryEvent(NamedTuple):
    """What happened to one message for one recipient, normalised across vendors.

    ``event_id`` is stable for a given vendor event: a vendor's retry of the same post gives the same id, so
    duplicates are recognised (see :func:`stable_event_id`). ``raw`` is the payload as received; it is kept
    out of the repr, which also masks the recipient.
    """

    event_type: str
    """One of :data:`EVENT_TYPES`."""
    event_id: str
    """Stable identifier of this event (the same for a vendor's repeated post)."""
    vendor: str
    """Which platform reported it: ``envie``, ``mailgrid``, ``criaenvio``, …"""
    timestamp: datetime
    """When it happened, aware, UTC."""
    recipient: str | None = None
    """The recipient's address."""
    message_id: str | None = None
    """The vendor's id of the message."""
    tag: str | None = None
    """The tag the message was sent with, when the vendor carries one."""
    url: str | None = None
    """The link clicked (``clicked`` events)."""
    description: str | None = None
    """The vendor's own wording of what happened (a bounce reason, a status text)."""
    raw: Mapping[str, Any] = {}
    """The vendor's payload as received."""

    def __repr__(self) -> str:
        return (
            f"DeliveryEvent(event_type={self.event_type!r}, event_id={self.event_id!r}, "
            f"vendor={self.vendor!r}, timestamp={self.timestamp.isoformat()!r}, "
            f"recipient={mask_email(self.recipient)!r}, "
            f"message_id={self.message_id!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-able primitives (``timestamp`` as ISO-8601 with offset)."""
        return {
            "event_type": self.event_type,
            "event_id": self.event_id,
            "vendor": self.vendor,
            "timestamp": self.timestamp.isoformat(),
            "recipient": self.recipient,
            "message_id": self.message_id,
            "tag": self.tag,
            "url": self.url,
            "description": self.description,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryEvent:
        """Read back what :meth:`to_dict` wrote; a missing field or wrong type is an input error."""
        missing = [name for name in ("event_type", "event_id", "vendor", "timestamp") if not data.get(name)]
        if missing:
            raise EmailBRInputError(f"delivery event lacks {', '.join(missing)}")
        return cls(
            event_type=check_event_type(data["event_type"]),
            event_id=str(data["event_id"]),
            vendor=str(data["vendor"]),
            timestamp=as_utc(data["timestamp"]),
            recipient=data.get("recipient"),
            message_id=data.get("message_id"),
            tag=data.get("tag"),
            url=data.get("url"),
            description=data.get("description"),
            raw=dict(data.get("raw") or {}),
        )


def check_event_type(value: Any) -> str:
    """``value`` if it is one of :data:`EVENT_TYPES`, else an error naming the allowed ones."""
    if value not in EVENT_TYPES:
        raise EmailBRInputError(f"event_type {value!r} is unknown; allowed: {', '.join(EVENT_TYPES)}")
    return str(value)


def as_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from an aware datetime or an ISO-8601 string with offset (naive is refused)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise EmailBRInputError(f"event timestamp {value!r} must be aware (datetime or ISO-8601 with offset)")
    return moment.astimezone(timezone.utc)


def stable_event_id(vendor: str, *parts: Any) -> str:
    """A deterministic id from the parts that identify one vendor event (for vendors that send none).

    The same parts always give the same id, so a vendor's repeated post of an event is recognised.
    """
    digest = hashlib.sha256(json.dumps([vendor, *parts], sort_keys=True, default=str).encode()).hexdigest()
    return f"{vendor}:{digest[:32]}"
