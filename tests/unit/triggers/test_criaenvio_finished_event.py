"""CriaEnvioCampaignFinishedEventTrigger against the recording server: exact serialisation, one event per final
status, nothing fired again after a restart, and the durable cursor it needs.
"""

from __future__ import annotations

import json

import pytest
from airflow.triggers.base import BaseEventTrigger

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRStateCorruptError
from airflow_provider_emailbr.triggers.criaenvio import (
    CAMPAIGN_FINISHED_CURSOR,
    CriaEnvioCampaignFinishedEventTrigger,
)
from tests.conftest import Reply
from tests.unit.criaenvio_campaign_doubles import KEY, connect_criaenvio, view
from tests.unit.triggers.event_doubles import FakeAssetStateStore, collect_events

CLASSPATH = "airflow_provider_emailbr.triggers.criaenvio.CriaEnvioCampaignFinishedEventTrigger"
CURSOR_KEY = "emailbr.criaenvio.campaign_finished.criaenvio_default.c1"


@pytest.fixture
def criaenvio(server, set_connection):
    return connect_criaenvio(server, set_connection)


def watcher(store: FakeAssetStateStore | None = None, **kwargs) -> CriaEnvioCampaignFinishedEventTrigger:
    """The trigger as the triggerer starts it for an AssetWatcher: with the watched asset's state store."""
    trigger = CriaEnvioCampaignFinishedEventTrigger(campaign_id="c1", poll_interval=0.01, **kwargs)
    trigger.asset_state_store = store
    return trigger


def test_serialize_round_trip_is_exact_primitive_and_secret_free(criaenvio):
    trigger = CriaEnvioCampaignFinishedEventTrigger(
        campaign_id="c1", poll_interval=30, max_backoff=120, cursor_path="/var/cursors/c1.json"
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "campaign_id": "c1",
        "criaenvio_conn_id": "criaenvio_default",
        "poll_interval": 30.0,
        "max_backoff": 120.0,
        "cursor_path": "/var/cursors/c1.json",
        "cursor_conn_id": None,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert all(v is None or isinstance(v, (str, float)) for v in kwargs.values())
    assert CriaEnvioCampaignFinishedEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert KEY not in json.dumps(kwargs)
    assert isinstance(trigger, BaseEventTrigger)


def test_a_completed_campaign_fires_one_event_and_records_it_first(server, criaenvio):
    server.reply(Reply(body=view("Enviando")), Reply(body=view("Concluído", total_enviado=10)))
    store = FakeAssetStateStore()
    [event] = collect_events(watcher(store), count=1)
    assert event.payload["status"] == "success" and event.payload["campaign_id"] == "c1"
    assert (
        event.payload["campaign"]["status"] == "Concluído"
        and event.payload["campaign"]["total_enviado"] == 10
    )
    json.dumps(event.payload)
    stored = json.loads(store.values[CURSOR_KEY])
    assert stored["emailbr"] == CAMPAIGN_FINISHED_CURSOR and stored["data"]["status"] == "success"
    assert len(server.requests) == 2


def test_after_firing_it_waits_without_reading_the_campaign_again(server, criaenvio):
    server.default = Reply(body=view("Concluído"))
    events = collect_events(watcher(FakeAssetStateStore()), within=0.5)
    assert [e.payload["status"] for e in events] == ["success"]
    assert len(server.requests) == 1


def test_a_restarted_trigger_never_fires_the_same_final_status_again(server, criaenvio):
    server.default = Reply(body=view("Cancelado"))
    store = FakeAssetStateStore()
    [first] = collect_events(watcher(store), count=1)
    assert first.payload["status"] == "cancelled" and "cancelled" in first.payload["message"]
    reads = len(server.requests)
    assert collect_events(watcher(store), within=0.5) == []
    assert len(server.requests) == reads  # the restarted trigger did not even read the campaign


def test_a_paused_campaign_is_not_final(server, criaenvio):
    server.default = Reply(body=view("Suspenso"))
    assert collect_events(watcher(FakeAssetStateStore()), within=0.5) == []
    assert len(server.requests) >= 2  # still polling


def test_a_permanent_error_fires_nothing_and_is_read_again_later(server, criaenvio):
    server.reply(
        Reply(status=401, body={"error": {"code": "03-NAO-AUTORIZADO", "message": "Chave inválida"}})
    )
    server.default = Reply(body=view("Concluído"))
    store = FakeAssetStateStore()
    [event] = collect_events(watcher(store, max_backoff=0.05), count=1)
    assert event.payload["status"] == "success"
    assert len(server.requests) == 2


def test_the_cursor_file_is_used_when_given(server, criaenvio, tmp_path):
    server.default = Reply(body=view("Concluído"))
    path = tmp_path / "cursors" / "c1.json"
    [event] = collect_events(watcher(None, cursor_path=str(path)), count=1)
    assert event.payload["status"] == "success"
    assert json.loads(path.read_text())["data"]["status"] == "success"
    assert collect_events(watcher(None, cursor_path=str(path)), within=0.3) == []
    assert len(server.requests) == 1


def test_without_a_durable_cursor_it_refuses_to_start(server, criaenvio):
    with pytest.raises(EmailBRConfigError, match="cursor_path"):
        collect_events(watcher(None), within=1)
    assert server.requests == []


def test_a_cursor_of_another_kind_stops_it_before_any_read(server, criaenvio):
    store = FakeAssetStateStore()
    store.set(CURSOR_KEY, {"emailbr": "something-else", "v": 1, "data": {}})
    with pytest.raises(EmailBRStateCorruptError, match="something-else"):
        collect_events(watcher(store), within=1)
    assert server.requests == []
