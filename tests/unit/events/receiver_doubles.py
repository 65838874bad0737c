"""Doubles for the webhook receiver's tests: connections without Airflow, and an Airflow that records asset events."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_emailbr.events.publisher import AssetPublisher
from airflow_provider_emailbr.events.receiver import WebhookReceiver, WebhookSettings, webhook_settings
from airflow_provider_emailbr.events.store import EventStore

ENVIE_TOKEN = "envie-Tok3n-" + "e" * 20
MAILGRID_TOKEN = "mailgrid-Tok3n-" + "m" * 20
CONNECTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "envie_hooks": ("envie_email", {"webhook_token": ENVIE_TOKEN}),
    "mailgrid_hooks": ("mailgrid", {"webhook_token": MAILGRID_TOKEN, "timezone": "America/Sao_Paulo"}),
    "bounces_only": (
        "envie_email",
        {"webhook_token": ENVIE_TOKEN, "webhook_events": ["bounced", "complained"]},
    ),
    "no_token": ("envie_email", {}),
    "not_a_webhook_vendor": ("emailmanager", {"webhook_token": ENVIE_TOKEN}),
    "bad_filter": ("envie_email", {"webhook_token": ENVIE_TOKEN, "webhook_events": ["bounce"]}),
}


def lookup(conn_id: str) -> WebhookSettings | None:
    """The receiver's connection lookup over :data:`CONNECTIONS` (``None`` for an unknown id)."""
    if conn_id not in CONNECTIONS:
        return None
    conn_type, extra = CONNECTIONS[conn_id]
    return webhook_settings(conn_id, conn_type, extra)


class RecordingAirflow:
    """Stands in for :class:`~airflow_provider_emailbr.events.publisher.AirflowAssets`: keeps every asset
    event it is asked to create, per URI, as Airflow would store it."""

    def __init__(self, existing_assets: set[str] | None = None) -> None:
        self.existing = existing_assets
        self.asset_events: list[tuple[str, dict[str, Any]]] = []
        self.fail_next = False

    def create_event(self, conn_id: str, extra: Mapping[str, Any]) -> bool:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("metadata database unavailable")
        if self.existing is not None and conn_id not in self.existing:
            return False
        self.asset_events.append((f"emailbr://events/{conn_id}", dict(extra)))
        return True

    def batch_exists(self, conn_id: str, batch_id: str, claimed_at: float) -> bool:
        return any(extra["batch_id"] == batch_id for _, extra in self.asset_events)

    def events(self) -> list[dict[str, Any]]:
        """Every normalised event carried by the recorded asset events, in order."""
        return [event for _, extra in self.asset_events for event in extra["events"]]


def make_parts(tmp_path: Path, airflow: RecordingAirflow) -> tuple[WebhookReceiver, AssetPublisher]:
    """A receiver and a (not started) publisher on a store under ``tmp_path``."""
    store = EventStore(tmp_path / "events.db")
    publisher = AssetPublisher(store, airflow=airflow, interval=0.05)  # type: ignore[arg-type]
    return WebhookReceiver(store, lookup=lookup, on_stored=publisher.wake), publisher
