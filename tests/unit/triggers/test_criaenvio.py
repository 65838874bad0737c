"""CriaEnvioCampaignTrigger against the recording server: serialisation, backoff from the retry policy, transient
and permanent errors, the verdict it shares with the sensor, and its class paths.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_emailbr.sensors.criaenvio import (
    CriaEnvioCampaignCancelledError,
    CriaEnvioCampaignPausedError,
    CriaEnvioCampaignSensor,
)
from airflow_provider_emailbr.triggers.criaenvio import CriaEnvioCampaignTrigger
from tests.conftest import Reply
from tests.unit.criaenvio_campaign_doubles import (
    KEY,
    connect_criaenvio,
    view,
)


@pytest.fixture
def criaenvio(server, set_connection):
    """``criaenvio_default`` on the recording server; call the fixture's value to change its zone."""
    return connect_criaenvio(server, set_connection)


TRIGGER_PATH = "airflow_provider_emailbr.triggers.criaenvio.CriaEnvioCampaignTrigger"


# ------------------------------------------------------------------------------------------ trigger


def test_trigger_serialize_round_trip_is_exact_and_secret_free(criaenvio):
    trigger = CriaEnvioCampaignTrigger(
        campaign_id="c1",
        criaenvio_conn_id="criaenvio_default",
        poll_interval=30,
        fail_on_paused=True,
        max_backoff=120,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_PATH
    assert kwargs == {
        "campaign_id": "c1",
        "criaenvio_conn_id": "criaenvio_default",
        "poll_interval": 30.0,
        "fail_on_paused": True,
        "max_backoff": 120.0,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert all(isinstance(v, (str, int, float, bool)) for v in kwargs.values())
    again = CriaEnvioCampaignTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert KEY not in json.dumps(kwargs) and KEY not in repr(trigger)


def test_trigger_backoff_honours_retry_after_and_grows_bounded():
    """The waits are the retry policy's (tenacity's exponential backoff plus up to one base of jitter)."""
    from airflow_provider_emailbr.exceptions import EmailBRRateLimitError

    def limited(seconds: float) -> EmailBRRateLimitError:
        return EmailBRRateLimitError(
            platform="CriaEnvio", endpoint="envios/c1", status=429, retry_after=seconds
        )

    trigger = CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=60, max_backoff=10)
    assert trigger.backoff(1, limited(3.0)) == 3.0
    assert trigger.backoff(1, limited(99.0)) == 10.0  # Retry-After capped
    waits = [trigger.backoff(n) for n in range(1, 8)]
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 3.0 and 4.0 <= waits[2] <= 5.0
    assert all(w <= 10.0 for w in waits) and waits[-1] == 10.0
    fast = CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=0.2)
    assert 0.2 <= fast.backoff(1) <= 0.4


def run_trigger(trigger: CriaEnvioCampaignTrigger, timeout: float = 20) -> list:
    async def collect() -> list:
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout))


def test_trigger_rides_out_transient_errors_and_fires_once(server, criaenvio):
    done = view("Concluído", total_enviado=10, taxa_de_abertura=20.5, porcentagem_de_conclusao=100)
    server.reply(
        Reply(body=view("Agendado")),
        Reply(status=429, headers={"Retry-After": "0.2"}, body={"error": {"code": "x", "message": "slow"}}),
        Reply(status=503, body="<html>busy</html>"),
        Reply(drop=True),
        Reply(
            status=500,
            body={"error": {"code": "04-ERRO-INTERNO", "http_code": 500, "message": "Internal Error"}},
        ),
        Reply(body=view("Enviando", total_enviado=5, porcentagem_de_conclusao=50)),
        Reply(body=done),
    )
    events = run_trigger(CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=0.05))
    assert len(events) == 1
    assert events[0].payload["status"] == "success"
    assert events[0].payload["campaign"]["total_enviado"] == 10
    assert events[0].payload["campaign"]["taxa_de_abertura"] == 20.5
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/criaenvio/v1/envios/c1")] * 7


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(
                status=404,
                body={
                    "error": {
                        "code": "01-NAO-ENCONTRADO",
                        "http_code": 404,
                        "message": "Registro não encontrado.",
                    }
                },
            ),
            "Registro não encontrado.",
        ),
        (
            Reply(
                status=401,
                body={"error": {"code": "03-NAO-AUTORIZADO", "http_code": 401, "message": "Chave inválida."}},
            ),
            "Chave inválida.",
        ),
        (Reply(status=200, body="<html>login</html>"), "answer is not JSON"),
        (Reply(status=200, body={"unexpected": True}), "unexpected answer without 'data'"),
    ],
)
def test_trigger_ends_with_an_error_event_on_a_permanent_error(server, criaenvio, reply, expected):
    server.reply(reply)
    events = run_trigger(CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=0.05))
    assert len(events) == 1 and events[0].payload["status"] == "error"
    assert expected in events[0].payload["message"] and KEY not in events[0].payload["message"]
    assert len(server.requests) == 1


def test_trigger_reports_a_missing_connection(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    events = run_trigger(CriaEnvioCampaignTrigger(campaign_id="c1", criaenvio_conn_id="nope"))
    assert len(events) == 1 and events[0].payload["status"] == "error"
    assert "nope" in events[0].payload["message"]


@pytest.mark.parametrize(("fail_on_paused", "expected"), [(True, "paused"), (False, "cancelled")])
def test_trigger_paused_and_cancelled(server, criaenvio, fail_on_paused, expected):
    server.reply(Reply(body=view("Suspenso")), Reply(body=view("Cancelado")))
    events = run_trigger(
        CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=0.05, fail_on_paused=fail_on_paused)
    )
    assert [e.payload["status"] for e in events] == [expected]
    assert len(server.requests) == (1 if fail_on_paused else 2)


def test_reads_in_flight_are_capped_per_event_loop():
    from airflow_provider_emailbr.triggers.criaenvio import MAX_CONCURRENT_READS, read_slots

    async def slots_of_this_loop() -> tuple:
        first, second = read_slots(), read_slots()
        async with first:
            held = first._value
        return first, second, held

    a1, a2, held = asyncio.run(slots_of_this_loop())
    b1, _, _ = asyncio.run(slots_of_this_loop())
    assert a1 is a2 and a1 is not b1
    assert MAX_CONCURRENT_READS == 20 and held == MAX_CONCURRENT_READS - 1


STATS = {"total_enviado": 4, "total_de_contatos": 10, "porcentagem_de_conclusao": 40.0}


@pytest.mark.parametrize(
    ("status", "fail_on_paused", "event", "sensor_outcome"),
    [
        ("Concluído", False, "success", "done"),
        ("Cancelado", False, "cancelled", CriaEnvioCampaignCancelledError),
        ("Suspenso", True, "paused", CriaEnvioCampaignPausedError),
        ("Suspenso", False, None, "waiting"),
        ("Enviando", True, None, "waiting"),
        ("Agendado", False, None, "waiting"),
        ("Em criação", False, None, "waiting"),
    ],
)
def test_sensor_and_trigger_reach_the_same_verdict(status, fail_on_paused, event, sensor_outcome):
    stats = {**STATS, "status": status}
    trigger = CriaEnvioCampaignTrigger(campaign_id="c1", fail_on_paused=fail_on_paused)
    sensor = CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1", fail_on_paused=fail_on_paused)
    fired = trigger._event_for(stats)
    assert (fired.payload["status"] if fired is not None else None) == event
    if isinstance(sensor_outcome, type):
        with pytest.raises(sensor_outcome) as raised:
            sensor._evaluate("c1", stats)
        assert str(raised.value) == fired.payload["message"]  # one message, written once
    else:
        poke = sensor._evaluate("c1", stats)
        assert poke.is_done is (sensor_outcome == "done")
        assert poke.xcom_value == (stats if sensor_outcome == "done" else None)


def test_a_cancelled_campaign_fails_the_sensor_without_retries():
    with pytest.raises(AirflowFailException, match=r"was cancelled \(Cancelado\) after sending 4 of 10"):
        CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1")._evaluate(
            "c1", {**STATS, "status": "Cancelado"}
        )


def test_new_triggers_serialise_under_the_vendor_module_and_old_paths_still_deserialise():
    from airflow._shared.module_loading import import_string  # what the triggerer resolves class paths with

    classpath, kwargs = CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=5).serialize()
    assert classpath == "airflow_provider_emailbr.triggers.criaenvio.CriaEnvioCampaignTrigger"
    old = import_string("airflow_provider_emailbr.triggers.campaigns.CriaEnvioCampaignTrigger")
    assert old(**kwargs).serialize() == (classpath, kwargs)
