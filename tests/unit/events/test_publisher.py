"""Publishing stored events as asset events: batches, a missing asset, failures and a crash mid-publish."""

from __future__ import annotations

import fcntl
import logging
from datetime import datetime, timezone

import pytest

from airflow_provider_emailbr.events import publisher as publisher_module
from airflow_provider_emailbr.events.assets import delivery_events_from
from airflow_provider_emailbr.events.model import DeliveryEvent
from airflow_provider_emailbr.events.publisher import AssetPublisher
from airflow_provider_emailbr.events.store import EventStore
from tests.unit.events.receiver_doubles import RecordingAirflow


def event(number: int, recipient: str = "maria@exemplo.com.br") -> DeliveryEvent:
    return DeliveryEvent(
        "bounced", f"envie:{number}", "envie", datetime(2026, 1, 1, tzinfo=timezone.utc), recipient
    )


@pytest.fixture
def store(tmp_path):
    events = EventStore(tmp_path / "events.db")
    yield events
    events.close()


def test_pending_events_become_one_asset_event_per_connection_batch(store):
    airflow = RecordingAirflow()
    store.add("a", [event(n) for n in range(5)])
    store.add("b", [event(7)])
    publisher = AssetPublisher(store, airflow=airflow, batch_size=3)
    assert publisher.publish_once() == 4
    assert publisher.publish_once() == 2
    assert publisher.publish_once() == 0
    uris = [uri for uri, _ in airflow.asset_events]
    assert sorted(uris) == ["emailbr://events/a", "emailbr://events/a", "emailbr://events/b"]
    first = airflow.asset_events[0][1]
    assert set(first) == {"events", "batch_id", "conn_id", "count"} and first["count"] == len(first["events"])
    published = delivery_events_from(extra for _, extra in airflow.asset_events)
    assert sorted(e.event_id for e in published) == sorted([f"envie:{n}" for n in range(5)] + ["envie:7"])


def test_events_of_an_asset_no_dag_uses_wait_in_the_store(store, caplog):
    airflow = RecordingAirflow(existing_assets={"b"})
    store.add("a", [event(1)])
    publisher = AssetPublisher(store, airflow=airflow)
    with caplog.at_level(logging.WARNING, logger=publisher_module.__name__):
        assert publisher.publish_once() == 0
        assert publisher.publish_once() == 0
    assert caplog.text.count("no DAG is scheduled on emailbr://events/a yet") == 1
    assert store.counts("a")["pending"] == 1
    airflow.existing = None  # a DAG scheduled on the asset was parsed
    assert publisher.publish_once() == 1


def test_a_failed_publish_leaves_the_batch_pending(store):
    airflow = RecordingAirflow()
    airflow.fail_next = True
    store.add("a", [event(1)])
    publisher = AssetPublisher(store, airflow=airflow)
    with pytest.raises(RuntimeError, match="metadata database unavailable"):
        publisher.publish_once()
    assert store.counts("a") == {"stored": 1, "pending": 1, "published": 0}
    assert publisher.publish_once() == 1
    assert len(airflow.events()) == 1


@pytest.mark.parametrize("asset_event_was_created", [True, False])
def test_a_crash_between_the_asset_event_and_marking_it_is_settled_exactly_once(
    store, asset_event_was_created
):
    airflow = RecordingAirflow()
    store.add("a", [event(1), event(2)])
    [batch] = store.claim()  # the crashed process had claimed this batch …
    if asset_event_was_created:  # … and maybe created its asset event before dying
        airflow.create_event("a", publisher_module.batch_extra(batch))
    AssetPublisher(store, airflow=airflow).publish_once()
    assert sorted(e["event_id"] for e in airflow.events()) == ["envie:1", "envie:2"]
    assert store.counts("a") == {"stored": 2, "pending": 0, "published": 2}


def test_only_one_process_publishes_at_a_time(store):
    store.add("a", [event(1)])
    publisher = AssetPublisher(store, airflow=RecordingAirflow())
    with open(f"{store.path}.publish.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert publisher.publish_once() == 0
        fcntl.flock(held, fcntl.LOCK_UN)
    assert publisher.publish_once() == 1


def test_the_background_thread_publishes_what_was_stored(store):
    airflow = RecordingAirflow()
    publisher = AssetPublisher(store, airflow=airflow, interval=0.02)
    publisher.start()
    try:
        store.add("a", [event(1)])
        publisher.wake()
        from tests.apiserver import wait_until

        wait_until(lambda: airflow.events(), timeout=10, interval=0.02)
    finally:
        publisher.stop()
    assert [e["event_id"] for e in airflow.events()] == ["envie:1"]


def test_reading_events_back_accepts_a_batch_or_a_single_event():
    single = event(3).to_dict()
    batch = {"events": [event(4).to_dict()], "batch_id": "x", "conn_id": "a", "count": 1}

    class AssetEventLike:
        extra = batch

    assert [e.event_id for e in delivery_events_from([single, AssetEventLike()])] == ["envie:3", "envie:4"]
