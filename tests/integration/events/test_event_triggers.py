"""The event triggers' run loops against the sandbox: MailGrid failures (with the report's lag) and a CriaEnvio
campaign reaching its final status, each fired once and never again by a restarted trigger.
"""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.triggers.criaenvio import CriaEnvioCampaignFinishedEventTrigger
from airflow_provider_emailbr.triggers.mailgrid import MailGridFailuresEventTrigger
from tests.sandbox_backed.support import recent, send_two
from tests.unit.triggers.event_doubles import FakeAssetStateStore, collect_events

pytestmark = pytest.mark.integration


def watched(trigger, store: FakeAssetStateStore):
    trigger.asset_state_store = store
    return trigger


def test_mailgrid_failures_fire_once_after_the_report_lag(sandbox):
    sandbox.config(report_lag_seconds=1.5)
    delivered, bounced = send_two()
    store = FakeAssetStateStore()
    since = recent()
    [event] = collect_events(
        watched(MailGridFailuresEventTrigger(poll_interval=0.3, since=since), store), count=1, within=20
    )
    fired = event.payload["event"]
    assert (fired["message_id"], fired["event_type"], fired["recipient"]) == (
        bounced,
        "bounced",
        "bob@bounce.example",
    )
    reports = sandbox.requests("mailgrid", path="report")
    assert len(reports) >= 2  # the first read came before the row was visible
    assert [r["body"]["status"] for r in reports] == ["erro"] * len(reports)
    assert delivered != bounced
    restarted = MailGridFailuresEventTrigger(poll_interval=0.2, since=since)
    assert collect_events(watched(restarted, store), within=1.5) == []


def test_a_finished_campaign_fires_once_and_a_restart_reads_nothing(sandbox):
    sandbox.config(campaign_seconds=1)
    hook = CriaEnvioHook()
    list_id = hook.create_list(nome="Clientes")["data"]["id"]
    contact = hook.create_contact(email="cliente@exemplo.com.br", nome="Cliente")["data"]["id"]
    hook.subscribe_contact(contact, [list_id])
    message = hook.create_message(assunto="Ofertas", html="<p>Olá</p>")["data"]["id"]
    campaign = hook.create_campaign(message_id=message, list_ids=[list_id], start_at="agora")["data"]["id"]
    store = FakeAssetStateStore()
    trigger = CriaEnvioCampaignFinishedEventTrigger(campaign_id=campaign, poll_interval=0.3)
    [event] = collect_events(watched(trigger, store), count=1, within=30)
    assert event.payload["status"] == "success" and event.payload["campaign"]["status"] == "Concluído"
    assert event.payload["campaign"]["total_enviado"] == 1
    sandbox.clear_requests()
    again = CriaEnvioCampaignFinishedEventTrigger(campaign_id=campaign, poll_interval=0.1)
    assert collect_events(watched(again, store), within=1) == []
    assert sandbox.requests("criaenvio") == []
