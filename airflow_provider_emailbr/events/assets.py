"""The asset that webhook events arrive on, and reading them back from a DAG's triggering asset events.

Light on purpose (DAG files import it): no Airflow import at module level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_emailbr.events.model import DeliveryEvent

ASSET_URI_PREFIX = "emailbr://events/"
"""Every receiver asset's URI starts with this; the connection id follows."""


def asset_uri(conn_id: str) -> str:
    """The URI of the asset on which a connection's webhook events arrive: ``emailbr://events/{conn_id}``."""
    return f"{ASSET_URI_PREFIX}{conn_id}"


def events_asset(conn_id: str, **asset_kwargs: Any) -> Any:
    """An ``airflow.sdk.Asset`` for a connection's webhook events, to schedule a DAG on."""
    from airflow.sdk import Asset

    return Asset(asset_uri(conn_id), **asset_kwargs)


def delivery_events_from(asset_events: Iterable[Any]) -> list[DeliveryEvent]:
    """The :class:`DeliveryEvent` objects carried by asset events (or their ``extra`` mappings), in order.

    Reads both shapes: a batch (``{"events": [...], "batch_id", …}``, what the receiver publishes) and a
    single event (the event's own dict, as an event trigger may emit).
    """
    events: list[DeliveryEvent] = []
    for item in asset_events:
        extra = item if isinstance(item, Mapping) else getattr(item, "extra", None) or {}
        if isinstance(extra.get("events"), list):
            events.extend(DeliveryEvent.from_dict(entry) for entry in extra["events"])
        elif "event_id" in extra:
            events.append(DeliveryEvent.from_dict(extra))
    return events
