"""Sensors and triggers under faults: transient errors never end a wait, every terminal state is detected,
and a trigger re-created from ``serialize()`` (a triggerer restart) causes no side effect.

The fault hits the reads the waits make (CriaEnvio ``GET /envios/{id}``, MailGrid ``POST report/``). Each
trigger case first runs one trigger for a moment and cancels it (the triggerer dies), then re-creates it from
``serialize()`` and runs it with the others in one event loop; the journal of the whole wait must hold reads
only, and the platform's state must be what it was.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
from airflow.triggers.base import BaseTrigger

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.sensors.criaenvio import (
    CriaEnvioCampaignCancelledError,
    CriaEnvioCampaignPausedError,
    CriaEnvioCampaignSensor,
)
from airflow_provider_emailbr.sensors.mailgrid import MailGridDeliverySensor
from airflow_provider_emailbr.triggers.criaenvio import CriaEnvioCampaignTrigger
from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger
from tests.helpers import context
from tests.reliability.conftest import MAX_RETRIES, Chaos, fast_connections, matrix
from tests.reliability.helpers import RELIABILITY_TI

pytestmark = pytest.mark.integration

POLL = 0.05
WAIT_LIMIT = 30.0
MISSING = "AAAAAA-BBBBBB-CC"


def restarted(trigger: BaseTrigger) -> BaseTrigger:
    """The trigger as a restarted triggerer re-creates it: from its class path and ``serialize()`` kwargs."""
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # what the metadata database stores
    module, _, name = classpath.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return cls(**kwargs)


def run_triggers(first: BaseTrigger, others: list[BaseTrigger]) -> list[dict[str, Any]]:
    """Run ``first`` briefly and kill it, then its re-created twin and ``others`` together; return the
    first event of each (twin first)."""

    async def one(trigger: BaseTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    async def main() -> list[dict[str, Any]]:
        killed = asyncio.ensure_future(one(first))
        await asyncio.sleep(0.1)
        assert not killed.done(), "the trigger was meant to be still waiting when the triggerer died"
        killed.cancel()
        await asyncio.gather(killed, return_exceptions=True)
        return list(
            await asyncio.wait_for(asyncio.gather(*(one(t) for t in [restarted(first), *others])), WAIT_LIMIT)
        )

    return asyncio.run(main())


# ------------------------------------------------------------------------------------------ CriaEnvio


def campaigns() -> dict[str, str]:
    """Three campaigns of a three-contact list: ``sending`` (starts now), ``cancelled``, ``paused``."""
    hook = CriaEnvioHook()
    list_id = str(hook.create_list(nome="Clientes")["data"]["id"])
    for i in range(3):
        contact = hook.create_contact(email=f"cliente{i}@exemplo.com.br")["data"]["id"]
        hook.subscribe_contact(contact, [list_id])
    message = hook.create_message(assunto="Ofertas", html="<p>Olá</p>")["data"]["id"]
    tomorrow = pendulum.now("America/Sao_Paulo").add(days=1)
    ids = {}
    for name, start in (("sending", "agora"), ("cancelled", tomorrow), ("paused", tomorrow)):
        ids[name] = str(
            hook.create_campaign(message_id=message, list_ids=[list_id], start_at=start)["data"]["id"]
        )
    hook.cancel_campaign(ids["cancelled"])
    hook.pause_campaign(ids["paused"])
    return ids


def criaenvio_writes(chaos: Chaos, since: int) -> list[tuple[str, str]]:
    entries = chaos.sandbox.requests("criaenvio", since=since)
    bad = [
        (e["method"], e["path"])
        for e in entries
        if e["method"] != "GET"
        or not e["path"].startswith("/criaenvio/v1/envios/")
        or e["path"].count("/") != 4
    ]
    return bad


def last_id(chaos: Chaos) -> int:
    entries = chaos.sandbox.requests(limit=1)
    return entries[-1]["id"] if entries else 0


@matrix()
def test_criaenvio_campaign_trigger(chaos: Chaos, fault: str, rate: float, seed: int) -> None:
    chaos.scenario = "wait: CriaEnvio trigger (+restart)"
    ids = campaigns()
    mark = last_id(chaos)
    before = {c["id"]: c["current"]["status"] for c in chaos.sandbox.state("criaenvio")["campaigns"]}
    chaos.inject("criaenvio", path="/envios/", method="GET")

    def trigger(campaign_id: str, **kwargs: Any) -> CriaEnvioCampaignTrigger:
        return CriaEnvioCampaignTrigger(
            campaign_id=campaign_id, poll_interval=POLL, max_backoff=0.5, **kwargs
        )

    events = run_triggers(
        trigger(ids["sending"]),
        [trigger(ids["cancelled"]), trigger(ids["paused"], fail_on_paused=True), trigger("nao-existe")],
    )
    chaos.tries += 5
    chaos.settle()
    success, cancelled, paused, unknown = events
    assert success["status"] == "success", success
    assert success["campaign"]["status"] == "Concluído" and success["campaign"]["total_enviado"] == 3
    assert cancelled["status"] == "cancelled" and cancelled["campaign"]["status"] == "Cancelado"
    assert paused["status"] == "paused" and paused["campaign"]["status"] == "Suspenso"
    assert unknown["status"] == "error" and "não encontrado" in unknown["message"], unknown
    assert criaenvio_writes(chaos, mark) == [], "the wait did something other than read campaigns"
    state = chaos.sandbox.state("criaenvio")
    after = {c["id"]: c["current"]["status"] for c in state["campaigns"]}
    assert after == {**before, ids["sending"]: "Concluído"}
    assert len(state["messages"]) == 1
    chaos.note("every terminal state detected; reads only")


@matrix()
def test_criaenvio_campaign_sensor(chaos: Chaos, fault: str, rate: float, seed: int) -> None:
    chaos.scenario = "wait: CriaEnvio sensor (poke + deferred)"
    ids = campaigns()
    mark = last_id(chaos)
    chaos.inject("criaenvio", path="/envios/", method="GET")
    # poke mode, in the worker: the campaign goes out while the sensor waits
    stats = CriaEnvioCampaignSensor(
        task_id="wait", campaign_id=ids["sending"], deferrable=False, poke_interval=POLL, timeout=WAIT_LIMIT
    ).execute(context(**RELIABILITY_TI))
    assert stats["status"] == "Concluído" and stats["total_enviado"] == 3
    chaos.tries += 1
    # deferrable: one poke in the worker, then the trigger, then execute_complete
    for name, error, kwargs in (
        ("cancelled", CriaEnvioCampaignCancelledError, {}),
        ("paused", CriaEnvioCampaignPausedError, {"fail_on_paused": True}),
    ):
        sensor = CriaEnvioCampaignSensor(
            task_id="wait",
            campaign_id=ids[name],
            deferrable=True,
            poke_interval=POLL,
            timeout=WAIT_LIMIT,
            **kwargs,
        )
        chaos.tries += 1
        with pytest.raises(error):
            try:
                sensor.execute(context(**RELIABILITY_TI))
            except TaskDeferred as deferred:
                event = asyncio.run(_first_event(deferred.trigger))
                sensor.execute_complete(context(**RELIABILITY_TI), event)
    chaos.settle()
    assert criaenvio_writes(chaos, mark) == []
    chaos.note("every terminal state detected")


async def _first_event(trigger: BaseTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return await asyncio.wait_for(first(), WAIT_LIMIT)


# ------------------------------------------------------------------------------------------ MailGrid


def sent_messages(chaos: Chaos) -> tuple[list[str], dict[str, bool], str]:
    """Send four messages (one bounces) whose rows show in the report after a lag; return their ids, the
    expected ``delivered`` flags and the window start."""
    start = (datetime.now(timezone.utc) - timedelta(minutes=2)).isoformat()
    chaos.sandbox.config(report_lag_seconds=0.2)
    results = MailGridHook().send(
        to=["ana@exemplo.com.br", "bia@exemplo.com.br", "caio@exemplo.com.br", "duda@bounce.example"],
        subject="Pedido",
        message="<p>Oi</p>",
    )
    return (
        [r["id"] for r in results],
        {r["id"]: not r["to"].endswith("bounce.example") for r in results},
        start,
    )


def mailgrid_writes(chaos: Chaos, since: int) -> list[tuple[str, str]]:
    return [
        (e["method"], e["path"])
        for e in chaos.sandbox.requests("mailgrid", since=since)
        if e["path"] != "/mailgrid/api/report/"
    ]


@matrix()
def test_mailgrid_delivery_trigger(chaos: Chaos, fault: str, rate: float, seed: int, monkeypatch) -> None:
    chaos.scenario = "wait: MailGrid delivery trigger (+restart)"
    ids, delivered, start = sent_messages(chaos)
    rows_before = len(chaos.sandbox.state("mailgrid")["rows"])
    wrong = json.loads(fast_connections(chaos.sandbox)["AIRFLOW_CONN_MAILGRID_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_MAILGRID_WRONG", json.dumps({**wrong, "password": "wrong-password-123"}))
    mark = last_id(chaos)
    chaos.inject("mailgrid", path="/report")
    soon = (datetime.now(timezone.utc) + timedelta(seconds=0.5)).isoformat()

    def trigger(message_ids: list[str], **kwargs: Any) -> MailGridDeliveryTrigger:
        return MailGridDeliveryTrigger(
            message_ids=message_ids, sent_after=start, poll_interval=POLL, **kwargs
        )

    success, timed_out, error = run_triggers(
        trigger(ids),
        [trigger([ids[0], MISSING], deadline=soon), trigger([MISSING], mailgrid_conn_id="mailgrid_wrong")],
    )
    chaos.tries += 4
    chaos.settle()
    assert success["status"] == "success" and success["pending"] == [], success
    assert {i: r["delivered"] for i, r in success["results"].items()} == delivered
    assert timed_out["status"] == "timeout" and timed_out["pending"][-1] == MISSING, timed_out
    assert set(timed_out["results"]) <= {ids[0]}  # found before the deadline, under the fault, or not
    assert all(r["delivered"] == delivered[i] for i, r in timed_out["results"].items())
    assert error["status"] == "error" and "207" in error["message"], error
    assert "wrong-password-123" not in json.dumps(error)
    assert mailgrid_writes(chaos, mark) == [], "the wait did something other than read the report"
    assert len(chaos.sandbox.state("mailgrid")["rows"]) == rows_before
    chaos.note("every terminal state detected; reads only")


@matrix()
def test_mailgrid_delivery_sensor(chaos: Chaos, fault: str, rate: float, seed: int) -> None:
    chaos.scenario = "wait: MailGrid delivery sensor (poke + deferred)"
    ids, delivered, start = sent_messages(chaos)
    mark = last_id(chaos)
    chaos.inject("mailgrid", path="/report")
    found = MailGridDeliverySensor(
        task_id="wait",
        message_ids=ids,
        sent_after=start,
        deferrable=False,
        poke_interval=POLL,
        timeout=WAIT_LIMIT,
    ).execute(context(**RELIABILITY_TI))
    assert {i: r["delivered"] for i, r in found.items()} == delivered
    chaos.tries += 1
    sensor = MailGridDeliverySensor(
        task_id="wait",
        message_ids=[ids[0], MISSING],
        sent_after=start,
        deferrable=True,
        poke_interval=POLL,
        timeout=0.4,
    )
    chaos.tries += 1
    with pytest.raises(AirflowSensorTimeout, match=MISSING):
        try:
            sensor.execute(context(**RELIABILITY_TI))
        except TaskDeferred as deferred:
            event = asyncio.run(_first_event(deferred.trigger))
            sensor.execute_complete(context(**RELIABILITY_TI), event)
    chaos.settle()
    assert mailgrid_writes(chaos, mark) == []
    chaos.note("every terminal state detected")


@pytest.mark.parametrize(("fault", "rate", "seed"), [("503", 1.0, 1)], ids=["503-burst-outlasting-retries"])
def test_sensors_keep_waiting_when_a_burst_outlasts_the_hook_retries(
    chaos: Chaos, fault: str, rate: float, seed: int
) -> None:
    """A 503 burst longer than the hook's retries fails one poke, not the wait (both sensors, poke mode)."""
    chaos.scenario = "wait: sensors, 503 burst > hook retries"
    ids = campaigns()
    burst = MAX_RETRIES + 3
    mark = last_id(chaos)
    chaos.sandbox.set_fault(
        "status", vendor="criaenvio", path="/envios/", method="GET", status=503, count=burst
    )
    stats = CriaEnvioCampaignSensor(
        task_id="wait", campaign_id=ids["sending"], deferrable=False, poke_interval=POLL, timeout=WAIT_LIMIT
    ).execute(context(**RELIABILITY_TI))
    assert stats["status"] == "Concluído"
    message_ids, delivered, start = sent_messages(chaos)
    chaos.sandbox.set_fault("status", vendor="mailgrid", path="/report", status=503, count=burst)
    found = MailGridDeliverySensor(
        task_id="wait",
        message_ids=message_ids,
        sent_after=start,
        deferrable=False,
        poke_interval=POLL,
        timeout=WAIT_LIMIT,
    ).execute(context(**RELIABILITY_TI))
    assert {i: r["delivered"] for i, r in found.items()} == delivered
    statuses = [r["status"] for r in chaos.sandbox.requests("criaenvio", path="/envios/", since=mark)]
    assert statuses[:burst] == [503] * burst and statuses[-1] == 200
    chaos.tries += 2
    chaos.fired += 2 * burst
    chaos.note("both sensors kept waiting and succeeded")
