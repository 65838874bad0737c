"""CriaEnvioCampaignSensor against the recording server: deferral with its timeout, verdicts in the worker,
and resumption from the trigger's events.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_emailbr.exceptions import EmailBRError
from airflow_provider_emailbr.hooks.criaenvio import campaign_stats
from airflow_provider_emailbr.sensors.criaenvio import (
    CriaEnvioCampaignCancelledError,
    CriaEnvioCampaignPausedError,
    CriaEnvioCampaignSensor,
)
from tests.conftest import Reply
from tests.unit.criaenvio_campaign_doubles import (
    connect_criaenvio,
    ctx,
    view,
)


@pytest.fixture
def criaenvio(server, set_connection):
    """``criaenvio_default`` on the recording server; call the fixture's value to change its zone."""
    return connect_criaenvio(server, set_connection)


TRIGGER_PATH = "airflow_provider_emailbr.triggers.criaenvio.CriaEnvioCampaignTrigger"

# ------------------------------------------------------------------------------------------ sensor


def test_deferrable_sensor_pokes_once_then_defers_with_its_timeout(server, criaenvio):
    server.reply(Reply(body=view("Agendado")))
    sensor = CriaEnvioCampaignSensor(
        task_id="wait", campaign_id="c1", deferrable=True, poke_interval=15, timeout=3600, fail_on_paused=True
    )
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(ctx())
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(hours=1)
    assert deferred.trigger.serialize() == (
        TRIGGER_PATH,
        {
            "campaign_id": "c1",
            "criaenvio_conn_id": "criaenvio_default",
            "poll_interval": 15.0,
            "fail_on_paused": True,
            "max_backoff": 300.0,
        },
    )
    assert len(server.requests) == 1


def test_deferrable_sensor_returns_at_once_when_already_complete(server, criaenvio):
    server.reply(Reply(body=view("Concluído", total_enviado=10, porcentagem_de_conclusao="100.00")))
    stats = CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1", deferrable=True).execute(ctx())
    assert stats["status"] == "Concluído" and stats["total_enviado"] == 10


def test_sensor_fails_without_retry_on_a_cancelled_campaign(server, criaenvio):
    server.reply(Reply(body=view("Cancelado", total_enviado=3)))
    sensor = CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1", deferrable=False, poke_interval=0)
    with pytest.raises(
        CriaEnvioCampaignCancelledError, match="campaign c1 was cancelled .* after sending 3 of 10"
    ):
        sensor.execute(ctx())


def test_sensor_keeps_waiting_on_pause_unless_told_otherwise(server, criaenvio):
    server.reply(Reply(body=view("Suspenso")), Reply(body=view("Enviando")), Reply(body=view("Concluído")))
    sensor = CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1", deferrable=False, poke_interval=0.01)
    assert sensor.execute(ctx())["status"] == "Concluído"
    assert len(server.requests) == 3
    server.reply(Reply(body=view("Suspenso", porcentagem_de_conclusao=40)))
    strict = CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1", fail_on_paused=True, deferrable=False)
    with pytest.raises(CriaEnvioCampaignPausedError, match="paused \\(Suspenso\\) at 40.0%"):
        strict.execute(ctx())


def test_execute_complete_maps_trigger_events():
    sensor = CriaEnvioCampaignSensor(task_id="wait", campaign_id="c1")
    stats = campaign_stats(view("Concluído", total_enviado=10)["data"])
    assert sensor.execute_complete({}, {"status": "success", "campaign_id": "c1", "campaign": stats}) == stats
    cancelled = campaign_stats(view("Cancelado", total_enviado=4)["data"])
    with pytest.raises(
        CriaEnvioCampaignCancelledError,
        match="campaign c1 was cancelled \\(Cancelado\\) after sending 4 of 10",
    ):
        sensor.execute_complete({}, {"status": "cancelled", "campaign_id": "c1", "campaign": cancelled})
    with pytest.raises(
        EmailBRError, match="Waiting for CriaEnvio campaign c1 failed: EmailBRNotFoundError: gone"
    ):
        sensor.execute_complete(
            {}, {"status": "error", "campaign_id": "c1", "message": "EmailBRNotFoundError: gone"}
        )
