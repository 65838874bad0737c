"""The receiver's durable store: group commit, exactly-once storage across threads and processes, batches."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_emailbr.events.model import DeliveryEvent
from airflow_provider_emailbr.events.store import EventStore, StoreOutcome, default_store_path


def event(number: int) -> DeliveryEvent:
    return DeliveryEvent(
        event_type="opened",
        event_id=f"envie:{number:08d}",
        vendor="envie",
        timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
        recipient=f"p{number}@exemplo.com.br",
        raw={"n": number},
    )


@pytest.fixture
def store(tmp_path):
    events = EventStore(tmp_path / "events.db")
    yield events
    events.close()


def test_add_is_on_disk_when_it_returns(store):
    assert store.add("c", [event(1), event(2)]) == StoreOutcome(stored=2, duplicates=0)
    fresh = sqlite3.connect(store.path)
    assert fresh.execute("SELECT event_id FROM webhook_event ORDER BY seq").fetchall() == [
        ("envie:00000001",),
        ("envie:00000002",),
    ]
    assert fresh.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_duplicates_are_kept_once_per_connection(store):
    store.add("c", [event(1)])
    assert store.add("c", [event(1), event(2)]) == StoreOutcome(stored=1, duplicates=1)
    assert store.add("other", [event(1)]) == StoreOutcome(stored=1, duplicates=0)
    assert store.event_ids("c") == ["envie:00000001", "envie:00000002"]


def test_concurrent_requests_share_commits_and_each_event_is_stored_once(store):
    outcomes: list[StoreOutcome] = []
    lock = threading.Lock()

    def post(number: int) -> None:
        outcome = store.add("c", [event(number % 150)])  # 300 posts of 150 events: every event twice
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.stored for o in outcomes) == 150
    assert sum(o.duplicates for o in outcomes) == 150
    assert sorted(store.event_ids("c")) == [f"envie:{n:08d}" for n in range(150)]


def _write_from_another_process(path: str, numbers: list[int]) -> None:
    other = EventStore(path)
    for number in numbers:
        other.add("c", [event(number)])
    other.close()


def test_two_processes_writing_the_same_events_store_each_once(tmp_path):
    path = str(tmp_path / "events.db")
    EventStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_from_another_process, args=(path, list(range(80)))) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert sorted(EventStore(path).event_ids("c")) == [f"envie:{n:08d}" for n in range(80)]


def test_claim_release_and_publish_batches(store):
    store.add("a", [event(n) for n in range(5)])
    store.add("b", [event(9)])
    batches = {batch.conn_id: batch for batch in store.claim(limit=3)}
    assert [e["event_id"] for e in batches["a"].events] == [f"envie:{n:08d}" for n in range(3)]
    assert len(batches["b"].events) == 1
    assert {b.batch_id for b in store.in_flight()} == {batches["a"].batch_id, batches["b"].batch_id}
    # claimed events are not claimed again
    [rest] = store.claim(limit=10)
    assert [e["event_id"] for e in rest.events] == ["envie:00000003", "envie:00000004"]
    store.release([batches["a"].batch_id])
    store.mark_published([batches["b"].batch_id, rest.batch_id])
    assert store.counts("a") == {"stored": 5, "pending": 3, "published": 2}
    assert store.counts("b") == {"stored": 1, "pending": 0, "published": 1}
    assert [b.batch_id for b in store.in_flight()] == []
    [again] = store.claim()
    assert [e["event_id"] for e in again.events] == [f"envie:{n:08d}" for n in range(3)]


def test_forget_published_drops_only_old_published_events(store):
    store.add("a", [event(1), event(2)])
    [batch] = store.claim(limit=1)
    store.mark_published([batch.batch_id])
    assert store.forget_published(older_than=3600) == 0
    assert store.forget_published(older_than=-1) == 1
    assert store.event_ids("a") == ["envie:00000002"]


def test_store_location(monkeypatch, tmp_path):
    monkeypatch.setenv("EMAILBR_WEBHOOK_STORE", str(tmp_path / "x.db"))
    assert default_store_path() == tmp_path / "x.db"
    monkeypatch.delenv("EMAILBR_WEBHOOK_STORE")
    monkeypatch.setenv("AIRFLOW__EMAILBR__WEBHOOK_STORE_PATH", str(tmp_path / "y.db"))
    assert default_store_path() == tmp_path / "y.db"
    monkeypatch.delenv("AIRFLOW__EMAILBR__WEBHOOK_STORE_PATH")
    monkeypatch.setenv("AIRFLOW__CORE__AIRFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert default_store_path() == Path(tmp_path / "home" / "emailbr" / "webhook-events.db")
