"""Campaign operators, sensor and trigger against the sandbox, without a DAG (fast): what CriaEnvio received
(the journal) and holds (the state) for the wire format, validation, idempotency across tries under the
"drop after processing" fault, the control transitions, and the trigger's wait under transient faults.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pendulum
import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRError,
    EmailBRInputError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCampaignStateError,
    CriaEnvioCreateCampaignOperator,
    idempotency_key,
)
from airflow_provider_emailbr.sensors.criaenvio import (
    CriaEnvioCampaignCancelledError,
    CriaEnvioCampaignSensor,
)
from airflow_provider_emailbr.triggers.criaenvio import CriaEnvioCampaignTrigger
from tests.helpers import context

pytestmark = pytest.mark.integration

SENDER = "remetente@exemplo.com.br"
PENDING_SENDER = "pendente@exemplo.com.br"


def ctx(**ti: object) -> dict:
    """A context whose task instance creates the campaign of one scheduled newsletter run."""
    identity = {
        "dag_id": "newsletter",
        "task_id": "create_campaign",
        "run_id": "scheduled__2026-11-20T00:00:00+00:00",
    }
    return context(**{**identity, **ti})


def create_audience(sandbox) -> str:
    """Create a "Clientes" list with three active contacts and empty the journal; return the list id."""
    hook = CriaEnvioHook()
    list_id = hook.create_list(nome="Clientes")["data"]["id"]
    for i in range(3):
        contact = hook.create_contact(email=f"cliente{i}@exemplo.com.br", nome=f"Cliente {i}")["data"]["id"]
        hook.subscribe_contact(contact, [list_id])
    sandbox.clear_requests()
    return list_id


@pytest.fixture
def audience(sandbox) -> str:
    """A "Clientes" list with three active contacts; returns its id."""
    return create_audience(sandbox)


def create_op(**kwargs) -> CriaEnvioCreateCampaignOperator:
    defaults = {
        "task_id": "create_campaign",
        "subject": "Ofertas",
        "html": "<p>Olá</p>",
        "list_names": "Clientes",
        "sender": SENDER,
        "start_at": pendulum.now("UTC").add(hours=2),
    }
    return CriaEnvioCreateCampaignOperator(**{**defaults, **kwargs})


def calls(sandbox, *, writes_only: bool = False) -> list[tuple[str, str]]:
    out = []
    for r in sandbox.requests(vendor="criaenvio"):
        path = r["path"].removeprefix("/criaenvio/v1/")
        state_changing = r["method"] != "GET" or path.endswith(("/pausar", "/cancelar", "/lista_teste"))
        if not writes_only or state_changing:
            out.append((r["method"], path))
    return out


def state(sandbox) -> dict:
    return sandbox.state("criaenvio")


def same_campaign(a: dict, b: dict) -> bool:
    """The same XCom apart from the status, which moves on with time (Em criação → Agendado …)."""
    return {k: v for k, v in a.items() if k != "status"} == {k: v for k, v in b.items() if k != "status"}


# ------------------------------------------------------------------------------------------ create


def test_create_against_the_sandbox(sandbox, audience):
    start = pendulum.now("America/Sao_Paulo").add(days=1).replace(second=0, microsecond=0)
    result = create_op(
        name="Newsletter",
        reply_to="resposta@exemplo.com.br",
        unsubscribe_message="Descadastre-se",
        start_at=start.in_timezone("UTC"),
    ).execute(ctx())
    key = idempotency_key("newsletter", "create_campaign", "scheduled__2026-11-20T00:00:00+00:00", -1)
    journal = sandbox.requests(vendor="criaenvio")
    assert [(r["method"], r["path"].removeprefix("/criaenvio/v1/")) for r in journal] == [
        ("GET", "mensagens"),
        ("GET", "remetentes"),
        ("GET", "grupos"),
        ("POST", "mensagens"),
        ("POST", "envios"),
    ]
    assert journal[0]["query"] == {"nome": key, "page": "1", "number": "100", "chave": "***"}
    assert journal[3]["body"] == {
        "assunto": "Ofertas",
        "html": "<p>Olá</p>",
        "nome": f"Newsletter [{key}]",
        "email_resposta": "resposta@exemplo.com.br",
        "mensagem_descadastro": "Descadastre-se",
    }
    assert journal[4]["headers"]["content-type"] == "application/json"
    assert journal[4]["body"] == {
        "mensagem": result["message_id"],
        "listas": audience,
        "data_de_inicio": start.strftime("%d/%m/%Y %H:%M"),
        "remetente": "kk",
    }
    held = state(sandbox)
    [campaign] = held["campaigns"]
    assert campaign["listas"] == [audience] and campaign["total"] == 3
    assert result == {
        "campaign_id": campaign["id"],
        "codigo": campaign["codigo"],
        "message_id": campaign["mensagem"],
        "status": "Em criação",
        "scheduled_for": start.isoformat(),
        "total_contacts": 3,
    }


def test_send_test_reaches_the_test_list_before_scheduling(sandbox, audience):
    result = create_op(send_test=True, start_at="now").execute(ctx())
    assert calls(sandbox, writes_only=True) == [
        ("POST", "mensagens"),
        ("GET", f"mensagens/{result['message_id']}/lista_teste"),
        ("POST", "envios"),
    ]
    held = state(sandbox)
    assert [(s["mensagem"], s["emails"]) for s in held["test_sends"]] == [
        (result["message_id"], ["teste@exemplo.com.br"])
    ]
    assert sandbox.requests(vendor="criaenvio", path="/envios")[0]["body"]["data_de_inicio"] == "agora"


def test_unconfirmed_sender_creates_nothing(sandbox, audience):
    with pytest.raises(EmailBRInputError, match=r"p\*\*\*@exemplo.com.br \(id k4\) is not confirmed"):
        create_op(sender=PENDING_SENDER).execute(ctx())
    assert calls(sandbox, writes_only=True) == []
    assert state(sandbox)["messages"] == []


def test_unknown_list_name_creates_nothing(sandbox, audience):
    with pytest.raises(
        EmailBRInputError,
        match="no active list is named 'Prospects'; active lists: 'Clientes', 'Lista Teste'",
    ):
        create_op(list_names=["Clientes", "Prospects"]).execute(ctx())
    assert calls(sandbox, writes_only=True) == []


def test_oversized_message_is_refused_with_the_vendor_reason(sandbox, audience):
    sandbox.config(criaenvio_max_message_bytes=4096)
    with pytest.raises(EmailBRValidationError, match="Tamanho de mensagem excedido"):
        create_op(html="<p>" + "x" * 5000 + "</p>").execute(ctx())
    held = state(sandbox)
    assert held["messages"] == [] and held["campaigns"] == []


def test_platform_refusal_of_a_past_minute_is_reported(sandbox, audience):
    # a start one minute ahead may become past while the request travels: the vendor's reason is kept
    sandbox.advance(120)
    with pytest.raises(EmailBRValidationError, match="pertence ao passado"):
        create_op(start_at=pendulum.now("UTC").add(seconds=61)).execute(ctx())


# ------------------------------------------------------------------------------------------ idempotency


def test_dropped_campaign_create_is_reconciled_within_the_try(sandbox, audience):
    sandbox.set_fault("drop", vendor="criaenvio", path="/envios", method="POST", count=1)
    result = create_op().execute(ctx())
    held = state(sandbox)
    assert len(held["messages"]) == 1 and len(held["campaigns"]) == 1
    assert result["campaign_id"] == held["campaigns"][0]["id"] and result["total_contacts"] == 3
    posts = sandbox.requests(vendor="criaenvio", method="POST", path="/envios")
    assert [p["dropped"] for p in posts] == [True]


def test_dropped_message_create_is_reconciled_within_the_try(sandbox, audience):
    sandbox.set_fault("drop", vendor="criaenvio", path="/mensagens", method="POST", count=1)
    result = create_op().execute(ctx())
    held = state(sandbox)
    assert [m["id"] for m in held["messages"]] == [result["message_id"]]
    assert [c["mensagem"] for c in held["campaigns"]] == [result["message_id"]]


def test_retry_after_a_dropped_create_reuses_the_campaign(sandbox, audience):
    # the create is processed but its answer lost, and the in-try look-up fails too: the try fails …
    sandbox.add_faults(
        [
            {"kind": "drop", "vendor": "criaenvio", "path": "/envios", "method": "POST", "count": 1},
            {
                "kind": "status",
                "vendor": "criaenvio",
                "path": "/envios",
                "method": "GET",
                "status": 400,
                "count": 1,
            },
        ]
    )
    with pytest.raises(EmailBRTransportError, match="connection dropped"):
        create_op().execute(ctx(try_number=1))
    [campaign] = state(sandbox)["campaigns"]
    # … and the retry finds the campaign by its key instead of creating a second one
    result = create_op().execute(ctx(try_number=2))
    held = state(sandbox)
    assert len(held["campaigns"]) == 1 and len(held["messages"]) == 1
    assert result["campaign_id"] == campaign["id"] and result["message_id"] == campaign["mensagem"]
    assert [c for c in calls(sandbox, writes_only=True) if c == ("POST", "envios")] == [("POST", "envios")]


def test_cleared_task_reuses_even_after_its_start_time_passed(sandbox, audience):
    first = create_op(start_at=pendulum.now("UTC").add(minutes=3)).execute(ctx())
    sandbox.clear_requests()
    past = pendulum.now("UTC").subtract(hours=1)
    again = create_op(start_at=past, subject="changed").execute(ctx(try_number=3))
    assert same_campaign(again, first)
    assert calls(sandbox, writes_only=True) == []
    assert len(state(sandbox)["campaigns"]) == 1


def test_retry_with_a_past_time_and_nothing_created_is_refused_before_any_write(sandbox, audience):
    with pytest.raises(EmailBRInputError, match="start_at: .* is in the past"):
        create_op(start_at=pendulum.now("UTC").subtract(hours=1)).execute(ctx(try_number=2))
    assert [m for m, _ in calls(sandbox)] == ["GET"]  # only the look-up
    with pytest.raises(EmailBRInputError, match="is in the past"):
        create_op(start_at=pendulum.now("UTC").subtract(hours=1)).execute(ctx(try_number=1))
    assert len(calls(sandbox)) == 1  # a first try does not even look


def test_retry_after_a_refused_campaign_reuses_and_updates_the_message(sandbox, audience):
    sandbox.set_fault("status", vendor="criaenvio", path="/envios", method="POST", status=400, count=1)
    with pytest.raises(EmailBRValidationError):
        create_op(subject="v1").execute(ctx(try_number=1))
    [message] = state(sandbox)["messages"]
    result = create_op(subject="v2").execute(ctx(try_number=2))
    held = state(sandbox)
    assert [m["id"] for m in held["messages"]] == [message["id"]] == [result["message_id"]]
    assert held["messages"][0]["assunto"] == "v2"
    assert len(held["campaigns"]) == 1
    assert ("PUT", f"mensagens/{message['id']}") in calls(sandbox, writes_only=True)


def test_map_indexes_and_runs_get_their_own_campaigns(sandbox, audience):
    a = create_op().execute(ctx(map_index=0))
    b = create_op().execute(ctx(map_index=1))
    c = create_op().execute(ctx(run_id="manual__other"))
    again = create_op().execute(ctx(map_index=1, try_number=2))
    assert len({a["campaign_id"], b["campaign_id"], c["campaign_id"]}) == 3
    assert same_campaign(again, b)
    assert len(state(sandbox)["campaigns"]) == 3


def test_lookup_scans_every_page_of_campaigns(sandbox, audience):
    target = create_op().execute(ctx())
    hook = CriaEnvioHook()
    other = hook.create_message(assunto="outra", html="<p>outra</p>")["data"]["id"]
    for _ in range(105):  # push the campaign onto the first of two pages (the API lists oldest first)
        hook.create_campaign(message_id=other, list_ids=["tt"], start_at="agora")
    mine = create_op().execute(ctx(run_id="manual__late"))
    sandbox.clear_requests()
    assert same_campaign(create_op().execute(ctx(try_number=2)), target)
    assert same_campaign(create_op().execute(ctx(run_id="manual__late", try_number=2)), mine)
    pages = [r["query"]["page"] for r in sandbox.requests(vendor="criaenvio", path="/envios")]
    assert pages == ["1", "2", "1", "2"]  # page 1 says how many pages there are, then newest first
    assert calls(sandbox, writes_only=True) == []


# ------------------------------------------------------------------------------------------ control


def control(action: str, campaign_id: str, **kwargs) -> dict:
    return CriaEnvioCampaignControlOperator(
        task_id=f"{action}_it", campaign_id=campaign_id, action=action, **kwargs
    ).execute(ctx())


def test_pause_resume_cancel_paths(sandbox, audience):
    created = create_op(start_at=pendulum.now("UTC").add(days=1)).execute(ctx())
    cid = created["campaign_id"]
    paused = control("pause", cid)
    assert paused["changed"] is True and paused["status"] == "Suspenso"
    assert control("pause", cid)["changed"] is False
    later = pendulum.now("America/Sao_Paulo").add(days=2).replace(second=0, microsecond=0)
    resumed = control("resume", cid, resume_at=later.isoformat())
    assert resumed == {
        "campaign_id": cid,
        "action": "resume",
        "previous_status": "Suspenso",
        "status": "Agendado",
        "changed": True,
    }
    assert sandbox.requests(vendor="criaenvio", path="/retomar")[-1]["body"] == {
        "data": later.strftime("%d/%m/%Y %H:%M")
    }
    assert state(sandbox)["campaigns"][0]["current"]["data_de_inicio"] == later.strftime("%Y-%m-%d %H:%M:%S")
    cancelled = control("cancel", cid)
    assert cancelled["status"] == "Cancelado"
    assert control("cancel", cid)["changed"] is False
    with pytest.raises(CriaEnvioCampaignStateError, match="Cannot resume .* its status is 'Cancelado'"):
        control("resume", cid)
    assert calls(sandbox, writes_only=True)[-3:] == [
        ("GET", f"envios/{cid}/pausar"),
        ("POST", f"envios/{cid}/retomar"),
        ("GET", f"envios/{cid}/cancelar"),
    ]


def test_finished_campaign_cannot_be_paused_or_cancelled(sandbox, audience):
    sandbox.config(campaign_seconds=0.2)
    created = create_op(start_at="now").execute(ctx())
    sandbox.advance(5)
    for action in ("pause", "cancel"):
        with pytest.raises(CriaEnvioCampaignStateError, match="its status is 'Concluído'"):
            control(action, created["campaign_id"])
    assert calls(sandbox, writes_only=True)[-1] == ("POST", "envios")


def test_dropped_pause_is_confirmed_by_reading_the_campaign(sandbox, audience):
    created = create_op().execute(ctx())
    sandbox.set_fault("drop", vendor="criaenvio", path="/pausar", count=1)
    result = control("pause", created["campaign_id"])
    assert result["status"] == "Suspenso" and result["changed"] is True
    assert len(sandbox.requests(vendor="criaenvio", path="/pausar")) == 1


def test_unknown_campaign_is_a_clear_error(sandbox):
    with pytest.raises(EmailBRError, match="Registro não encontrado"):
        control("pause", "nao-existe")


# ------------------------------------------------------------------------------------------ trigger


def run_trigger(trigger: CriaEnvioCampaignTrigger, timeout: float = 30, during=None) -> list:
    async def collect() -> list:
        return [event async for event in trigger.run()]

    async def main() -> list:
        task = asyncio.ensure_future(collect())
        if during is not None:
            await during()
        return await asyncio.wait_for(task, timeout)

    return asyncio.run(main())


def test_trigger_waits_for_a_scheduled_campaign_and_returns_its_stats(sandbox, audience):
    sandbox.config(campaign_seconds=1, clock_speed=3600)
    created = create_op(start_at=pendulum.now("UTC").add(hours=1)).execute(ctx())
    sandbox.clear_requests()
    [event] = run_trigger(CriaEnvioCampaignTrigger(campaign_id=created["campaign_id"], poll_interval=0.2))
    payload = event.payload
    current = state(sandbox)["campaigns"][0]["current"]
    assert payload["status"] == "success" and payload["campaign_id"] == created["campaign_id"]
    stats = payload["campaign"]
    for key in ("total_de_contatos", "total_enviado", "rejeitados", "visualizacoes_unicas", "cliques_unicos"):
        assert stats[key] == current[key]
    for key in ("taxa_de_abertura", "taxa_de_clique", "taxa_de_rejeicao"):
        assert stats[key] == pytest.approx(current[key])
    assert stats["status"] == "Concluído" and stats["porcentagem_de_conclusao"] == 100.0
    json.dumps(payload)
    polls = sandbox.requests(vendor="criaenvio")
    assert len(polls) >= 3 and {(r["method"], r["path"]) for r in polls} == {
        ("GET", f"/criaenvio/v1/envios/{created['campaign_id']}")
    }


def test_trigger_retries_transient_faults_without_ending_the_wait(sandbox, audience):
    sandbox.config(campaign_seconds=1)
    created = create_op(start_at="now").execute(ctx())
    sandbox.clear_requests()
    sandbox.add_faults(
        [
            {
                "kind": "status",
                "vendor": "criaenvio",
                "method": "GET",
                "status": 429,
                "retry_after": 0.1,
                "count": 2,
            },
            {"kind": "status", "vendor": "criaenvio", "method": "GET", "status": 503, "count": 1},
            {"kind": "status", "vendor": "criaenvio", "method": "GET", "status": 502, "count": 1},
            {"kind": "drop_before", "vendor": "criaenvio", "method": "GET", "count": 1},
            {"kind": "drop", "vendor": "criaenvio", "method": "GET", "count": 1},
        ]
    )
    [event] = run_trigger(CriaEnvioCampaignTrigger(campaign_id=created["campaign_id"], poll_interval=0.1))
    assert event.payload["status"] == "success"
    statuses = [r["status"] for r in sandbox.requests(vendor="criaenvio")]
    assert statuses[:6] == [429, 429, 503, 502, None, None] and statuses[-1] == 200
    assert all(r["method"] == "GET" for r in sandbox.requests(vendor="criaenvio"))


def test_paused_campaign_keeps_the_trigger_waiting_until_resumed(sandbox, audience):
    sandbox.config(campaign_seconds=1.5)
    created = create_op(start_at="now").execute(ctx())
    cid = created["campaign_id"]
    hook = CriaEnvioHook()
    hook.pause_campaign(cid)
    paused_polls = threading.Event()

    async def during() -> None:
        while len(await asyncio.to_thread(sandbox.requests, "criaenvio", path=f"/envios/{cid}")) < 4:
            await asyncio.sleep(0.1)
        assert state(sandbox)["campaigns"][0]["current"]["status"] == "Suspenso"
        paused_polls.set()
        await asyncio.to_thread(hook.resume_campaign, cid)

    sandbox.clear_requests()
    [event] = run_trigger(CriaEnvioCampaignTrigger(campaign_id=cid, poll_interval=0.1), during=during)
    assert paused_polls.is_set() and event.payload["status"] == "success"


def test_cancelled_and_paused_and_unknown_campaigns_end_the_wait(sandbox, audience):
    created = create_op().execute(ctx())
    cid = created["campaign_id"]
    hook = CriaEnvioHook()
    hook.pause_campaign(cid)
    [paused] = run_trigger(CriaEnvioCampaignTrigger(campaign_id=cid, poll_interval=0.1, fail_on_paused=True))
    assert paused.payload["status"] == "paused" and paused.payload["campaign"]["status"] == "Suspenso"
    hook.cancel_campaign(cid)
    [cancelled] = run_trigger(CriaEnvioCampaignTrigger(campaign_id=cid, poll_interval=0.1))
    assert (
        cancelled.payload["status"] == "cancelled" and cancelled.payload["campaign"]["status"] == "Cancelado"
    )
    [unknown] = run_trigger(CriaEnvioCampaignTrigger(campaign_id="nao-existe", poll_interval=0.1))
    assert unknown.payload["status"] == "error" and "Registro não encontrado" in unknown.payload["message"]
    assert "sandbox-criaenvio-key" not in json.dumps(unknown.payload)


# ------------------------------------------------------------------------------------------ sensor


def test_sensor_in_poke_mode_returns_the_stats(sandbox, audience):
    sandbox.config(campaign_seconds=0.5)
    created = create_op(start_at="now").execute(ctx())
    sensor = CriaEnvioCampaignSensor(
        task_id="wait", campaign_id=created["campaign_id"], deferrable=False, poke_interval=0.2, timeout=30
    )
    stats = sensor.execute(ctx())
    assert stats["status"] == "Concluído" and stats["total_enviado"] == 3 == stats["total_de_contatos"]
    assert (stats["campaign_id"], stats["codigo"]) == (created["campaign_id"], created["codigo"])


def test_sensor_fails_on_a_cancelled_campaign(sandbox, audience):
    created = create_op().execute(ctx())
    CriaEnvioHook().cancel_campaign(created["campaign_id"])
    sensor = CriaEnvioCampaignSensor(task_id="wait", campaign_id=created["campaign_id"], deferrable=True)
    with pytest.raises(
        CriaEnvioCampaignCancelledError, match="was cancelled \\(Cancelado\\) after sending 0 of 3"
    ):
        sensor.execute(ctx())
