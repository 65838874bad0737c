"""Turning stored webhook events into Airflow asset events, in batches, inside the API server.

One background thread per API-server process; a file lock lets one process publish at a time. Each round:

1. batches a crash left in flight are settled: if their asset event exists (found by ``batch_id`` in its
   ``extra``) they are marked published, else they go back to pending;
2. pending events are claimed, up to ``batch_size`` per connection, and recorded as a batch;
3. each batch becomes one asset event on ``emailbr://events/{conn_id}`` through Airflow's own
   ``AssetManager.register_asset_change`` (what ``POST /api/v2/assets/events`` calls), which also queues the
   DAG runs scheduled on the asset; then the batch is marked published.

An asset no DAG uses does not exist in Airflow yet: its events stay pending (a warning says how many) and are
published once a DAG scheduled on the asset is parsed.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_emailbr.events.assets import asset_uri
from airflow_provider_emailbr.events.store import EventStore, PendingBatch

log = logging.getLogger(__name__)


def batch_extra(batch: PendingBatch) -> dict[str, Any]:
    """The ``extra`` of a batch's asset event: ``{"events": [...], "batch_id", "conn_id", "count"}``."""
    return {
        "events": batch.events,
        "batch_id": batch.batch_id,
        "conn_id": batch.conn_id,
        "count": len(batch.events),
    }


class AirflowAssets:
    """Airflow's side of publishing: create an asset event, or tell whether a batch's one exists."""

    def create_event(self, conn_id: str, extra: dict[str, Any]) -> bool:
        """Register one asset event on every asset with this connection's URI; ``False`` if none exists."""
        from airflow.assets.manager import asset_manager
        from airflow.models.asset import AssetModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            models = session.scalars(select(AssetModel).where(AssetModel.uri == asset_uri(conn_id))).all()
            if not models:
                return False
            for model in models:
                asset_manager.register_asset_change(
                    asset=model, extra=extra, source_is_api=True, api_user_teams=set(), session=session
                )
        return True

    def batch_exists(self, conn_id: str, batch_id: str, claimed_at: float) -> bool:
        """Whether an asset event of this connection carries ``batch_id`` (created since the claim)."""
        from airflow.models.asset import AssetEvent, AssetModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        since = datetime.fromtimestamp(claimed_at, tz=timezone.utc) - timedelta(minutes=5)
        with create_session() as session:
            extras = session.scalars(
                select(AssetEvent.extra)
                .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                .where(AssetModel.uri == asset_uri(conn_id), AssetEvent.timestamp >= since)
            ).all()
        return any(isinstance(extra, dict) and extra.get("batch_id") == batch_id for extra in extras)


class AssetPublisher:
    """Publishes a store's pending events as asset events (see the module's doc).

    :param store: the :class:`~airflow_provider_emailbr.events.store.EventStore` to drain.
    :param airflow: where asset events go (:class:`AirflowAssets`; tests pass a double).
    :param interval: seconds between rounds when nothing new arrives.
    :param batch_size: most events in one asset event.
    :param retention: seconds a published event's id is kept to recognise a vendor's late retry.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        airflow: AirflowAssets | None = None,
        interval: float = 0.5,
        batch_size: int = 200,
        retention: float = 7 * 86400,
    ) -> None:
        self.store = store
        self.airflow = airflow or AirflowAssets()
        self.interval = interval
        self.batch_size = batch_size
        self.retention = retention
        self._lock_path = Path(f"{store.path}.publish.lock")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_purge = 0.0
        self._waiting_warned: dict[str, float] = {}

    def start(self) -> None:
        """Start the background thread (once per process)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="emailbr-webhook-publisher", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        """Ask for a round now (new events were stored)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                while self.publish_once() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception(
                    "emailbr webhooks: publishing stored events failed; retrying in %ss", self.interval
                )
            # Rounds are spaced by the interval, so that under load events gather into larger batches.
            self._stop.wait(self.interval)

    def publish_once(self) -> int:
        """One round; returns how many events were published (0 when another process holds the lock)."""
        with self._lock_path.open("a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            try:
                return self._round()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _round(self) -> int:
        self._settle_in_flight()
        published = 0
        for batch in self.store.claim(limit=self.batch_size):
            try:
                created = self.airflow.create_event(batch.conn_id, batch_extra(batch))
            except Exception:
                self.store.release([batch.batch_id])
                raise
            if created:
                self.store.mark_published([batch.batch_id])
                published += len(batch.events)
            else:
                self.store.release([batch.batch_id])
                self._warn_waiting(batch.conn_id)
        if time.monotonic() - self._last_purge > 3600:
            self._last_purge = time.monotonic()
            self.store.forget_published(older_than=self.retention)
        return published

    def _settle_in_flight(self) -> None:
        for batch in self.store.in_flight():
            if self.airflow.batch_exists(batch.conn_id, batch.batch_id, batch.claimed_at):
                self.store.mark_published([batch.batch_id])
            else:
                self.store.release([batch.batch_id])

    def _warn_waiting(self, conn_id: str) -> None:
        now = time.monotonic()
        if now - self._waiting_warned.get(conn_id, -1e9) < 300:
            return
        self._waiting_warned[conn_id] = now
        log.warning(
            "emailbr webhooks: %d event(s) of connection %r wait in the store: no DAG is scheduled on %s yet",
            self.store.counts(conn_id)["pending"],
            conn_id,
            asset_uri(conn_id),
        )
