"""The webhook receiver's durable store: accepted events are committed here before the vendor gets its 200.

A SQLite database in WAL mode, local to the API server (default ``$AIRFLOW_HOME/emailbr/webhook-events.db``,
``[emailbr] webhook_store_path`` or the ``EMAILBR_WEBHOOK_STORE`` environment variable to move it). Why not
one metadata-DB write per post: that caps the receiver at a few hundred posts a second. Here:

* **Group commit.** Requests hand their events to one writer thread per process, which commits everything
  that queued meanwhile in one transaction (``synchronous=FULL``: the commit is on disk when it returns),
  then wakes every waiting request. Many concurrent posts share one fsync.
* **Dedup.** ``(conn_id, event_id)`` is the primary key, inserted with ``OR IGNORE``: a vendor's retry of
  an event already stored is answered 200 and stored no second time.
* **Several API-server workers.** SQLite serialises writers of different processes on its file lock, and
  only one process at a time publishes (an exclusive ``flock`` on ``<store>.publish.lock``), so the store
  is safe with ``airflow api-server --workers N`` on one machine. It must be on a local disk, not NFS.
* **Publishing** (:mod:`~airflow_provider_emailbr.events.publisher`) claims pending events in batches,
  records each batch before creating its asset event and marks it published after: a crash in between is
  resolved on restart by looking for the batch's asset event, so each event reaches Airflow exactly once.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from airflow_provider_emailbr.events.model import DeliveryEvent

_PENDING = "published_at IS NULL AND batch_id IS NULL"

STORE_ENV = "EMAILBR_WEBHOOK_STORE"
"""Environment variable that overrides where the store lives."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conn_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_json TEXT NOT NULL,
    received_at REAL NOT NULL,
    batch_id TEXT,
    published_at REAL,
    UNIQUE (conn_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_event_pending ON webhook_event (published_at, batch_id, conn_id, seq);
CREATE TABLE IF NOT EXISTS webhook_batch (
    batch_id TEXT PRIMARY KEY,
    conn_id TEXT NOT NULL,
    claimed_at REAL NOT NULL
);
"""


def default_store_path() -> Path:
    """Where the store lives: ``$EMAILBR_WEBHOOK_STORE``, else ``[emailbr] webhook_store_path``, else
    ``$AIRFLOW_HOME/emailbr/webhook-events.db``."""
    configured = os.environ.get(STORE_ENV)
    if not configured:
        from airflow.configuration import conf

        configured = conf.get("emailbr", "webhook_store_path", fallback="") or ""
        if not configured:
            home = conf.get("core", "airflow_home", fallback="") or os.environ.get("AIRFLOW_HOME", "")
            configured = str(Path(home or Path.home() / "airflow") / "emailbr" / "webhook-events.db")
    return Path(configured).expanduser()


class StoreOutcome(NamedTuple):
    """What storing one request's events did."""

    stored: int
    """Events new to the store."""
    duplicates: int
    """Events already stored (a vendor's retry): kept once."""


class PendingBatch(NamedTuple):
    """Events claimed together for one asset event."""

    batch_id: str
    """Identifier written into the asset event's ``extra`` (``batch_id``)."""
    conn_id: str
    """The connection the events came in on."""
    events: list[dict[str, Any]]
    """The normalised events (:meth:`DeliveryEvent.to_dict`), oldest first."""
    claimed_at: float
    """When the batch was claimed (Unix time)."""


class EventStore:
    """The durable store of one process (see the module's doc); thread-safe, usable from async code.

    :param path: the SQLite file (its directory is created).
    :param max_batch_wait: how long the writer waits for more requests before committing (seconds); ``0``
        commits whatever is queued as soon as the previous commit returned.
    """

    def __init__(self, path: str | Path, *, max_batch_wait: float = 0.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_batch_wait = max_batch_wait
        self._queue: queue.SimpleQueue[tuple[str, list[DeliveryEvent], Future[StoreOutcome]] | None] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._local = threading.local()
        # Threads of one process take turns for write transactions here rather than in SQLite's busy
        # handler, which sleeps for milliseconds when it finds the file locked.
        self._write_turn = threading.Lock()
        with self._connect() as connection:
            connection.executescript(_SCHEMA)

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared across threads)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    # ------------------------------------------------------------------ writing (group commit)

    def submit(self, conn_id: str, events: Sequence[DeliveryEvent]) -> Future[StoreOutcome]:
        """Queue ``events`` for the next group commit; the future resolves once they are on disk."""
        future: Future[StoreOutcome] = Future()
        if not events:
            future.set_result(StoreOutcome(0, 0))
            return future
        self._ensure_writer()
        self._queue.put((conn_id, list(events), future))
        return future

    def add(self, conn_id: str, events: Sequence[DeliveryEvent]) -> StoreOutcome:
        """Store ``events`` durably (blocking until committed)."""
        return self.submit(conn_id, events).result()

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._writer_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_loop, name="emailbr-webhook-store", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        connection = self._connect()
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            if self.max_batch_wait:
                time.sleep(self.max_batch_wait)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
            try:
                outcomes = self._commit(connection, group)
            except Exception as error:
                for _, _, future in group:
                    future.set_exception(error)
                continue
            for (_, _, future), outcome in zip(group, outcomes, strict=True):
                future.set_result(outcome)

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken in turn with this process's other threads."""
        with self._write_turn:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _commit(
        self,
        connection: sqlite3.Connection,
        group: list[tuple[str, list[DeliveryEvent], Future[StoreOutcome]]],
    ) -> list[StoreOutcome]:
        now = time.time()
        rows = [
            [
                (conn_id, event.event_id, json.dumps(event.to_dict(), ensure_ascii=False), now)
                for event in events
            ]
            for conn_id, events, _ in group
        ]
        outcomes = []
        with self._transaction(connection):
            for request_rows in rows:
                stored = 0
                for row in request_rows:
                    stored += connection.execute(
                        "INSERT OR IGNORE INTO webhook_event (conn_id, event_id, event_json, received_at) "
                        "VALUES (?, ?, ?, ?)",
                        row,
                    ).rowcount
                outcomes.append(StoreOutcome(stored, len(request_rows) - stored))
        return outcomes

    def close(self) -> None:
        """Stop the writer thread once the queued requests are committed."""
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=30)

    # ------------------------------------------------------------------ publishing

    def claim(self, *, limit: int = 200) -> list[PendingBatch]:
        """Claim pending events, at most ``limit`` per connection, as batches recorded before publishing."""
        connection = self._connection()
        now = time.time()
        batches = []
        with self._transaction(connection):
            conn_ids = [
                row[0]
                for row in connection.execute(f"SELECT DISTINCT conn_id FROM webhook_event WHERE {_PENDING}")
            ]
            for conn_id in conn_ids:
                rows = connection.execute(
                    f"SELECT seq, event_json FROM webhook_event WHERE {_PENDING} AND conn_id = ? "
                    "ORDER BY seq LIMIT ?",
                    (conn_id, limit),
                ).fetchall()
                batch_id = uuid.uuid4().hex
                connection.execute(
                    "INSERT INTO webhook_batch (batch_id, conn_id, claimed_at) VALUES (?, ?, ?)",
                    (batch_id, conn_id, now),
                )
                connection.executemany(
                    "UPDATE webhook_event SET batch_id = ? WHERE seq = ?",
                    [(batch_id, seq) for seq, _ in rows],
                )
                batches.append(PendingBatch(batch_id, conn_id, [json.loads(text) for _, text in rows], now))
        return batches

    def in_flight(self) -> list[PendingBatch]:
        """Batches claimed but neither published nor released (left by a crash mid-publish)."""
        connection = self._connection()
        batches = []
        for batch_id, conn_id, claimed_at in connection.execute(
            "SELECT batch_id, conn_id, claimed_at FROM webhook_batch ORDER BY claimed_at"
        ).fetchall():
            rows = connection.execute(
                "SELECT event_json FROM webhook_event WHERE batch_id = ? ORDER BY seq", (batch_id,)
            ).fetchall()
            batches.append(
                PendingBatch(batch_id, conn_id, [json.loads(text) for (text,) in rows], claimed_at)
            )
        return batches

    def mark_published(self, batch_ids: Iterable[str]) -> None:
        """Record that these batches' asset events exist."""
        self._settle(batch_ids, published=True)

    def release(self, batch_ids: Iterable[str]) -> None:
        """Put these batches' events back to pending (their asset event was not created)."""
        self._settle(batch_ids, published=False)

    def _settle(self, batch_ids: Iterable[str], *, published: bool) -> None:
        ids = [(batch_id,) for batch_id in batch_ids]
        if not ids:
            return
        connection = self._connection()
        with self._transaction(connection):
            if published:
                now = time.time()
                connection.executemany(
                    "UPDATE webhook_event SET published_at = ? WHERE batch_id = ?", [(now, i) for (i,) in ids]
                )
            else:
                connection.executemany("UPDATE webhook_event SET batch_id = NULL WHERE batch_id = ?", ids)
            connection.executemany("DELETE FROM webhook_batch WHERE batch_id = ?", ids)

    def forget_published(self, *, older_than: float) -> int:
        """Drop published events received over ``older_than`` seconds ago (their ids stop deduplicating)."""
        connection = self._connection()
        with self._transaction(connection):
            cursor = connection.execute(
                "DELETE FROM webhook_event WHERE published_at IS NOT NULL AND received_at < ?",
                (time.time() - older_than,),
            )
        return cursor.rowcount

    # ------------------------------------------------------------------ reading

    def counts(self, conn_id: str | None = None) -> dict[str, int]:
        """``{"stored", "pending", "published"}`` for one connection or all."""
        where, args = ("WHERE conn_id = ?", (conn_id,)) if conn_id else ("", ())
        stored, published = (
            self._connection()
            .execute(f"SELECT COUNT(*), COUNT(published_at) FROM webhook_event {where}", args)
            .fetchone()
        )
        return {"stored": stored, "pending": stored - published, "published": published}

    def event_ids(self, conn_id: str) -> list[str]:
        """Every stored event id of a connection, in arrival order."""
        return [
            row[0]
            for row in self._connection().execute(
                "SELECT event_id FROM webhook_event WHERE conn_id = ? ORDER BY seq", (conn_id,)
            )
        ]
