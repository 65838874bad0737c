"""Campaign pipelines in real ``dag.test()`` runs against the sandbox: scheduling in the future with an
accelerated sandbox clock, waiting with the deferrable sensor in the (inline) triggerer, idempotency across a
retry and a clear, and the pause/resume/cancel paths with a cancellation seen by the trigger.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import text

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from tests.dagrun import run_dag, skip_without_dag_runs
from tests.integration.test_campaigns import create_audience

pytestmark = pytest.mark.integration

DAGS = Path(__file__).parent / "dags"
SP = "America/Sao_Paulo"


@pytest.fixture
def audience(sandbox) -> str:
    """A "Clientes" list with three active contacts; returns its id."""
    return create_audience(sandbox)


def db_rows(sql: str, **params: object) -> list[tuple]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return [tuple(row) for row in session.execute(text(sql), params)]


LATEST_RUN = "(SELECT run_id FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1)"


def events_of(dag_id: str, task_id: str) -> list[str]:
    """The audit-log events (``running``, ``deferred``, ``success`` …) of a task in the DAG's latest run."""
    sql = f"SELECT event FROM log WHERE dag_id = :d AND task_id = :t AND run_id = {LATEST_RUN} ORDER BY id"
    return [r[0] for r in db_rows(sql, d=dag_id, t=task_id)]


def try_number(dag_id: str, task_id: str) -> int:
    """The try number of a task in the DAG's latest run."""
    sql = f"SELECT try_number FROM task_instance WHERE dag_id = :d AND task_id = :t AND run_id = {LATEST_RUN}"
    [(number,)] = db_rows(sql, d=dag_id, t=task_id)
    return number


def now_to_the_second() -> pendulum.DateTime:
    return pendulum.now("UTC").replace(microsecond=0)


def test_pipeline_schedules_in_the_future_waits_deferred_and_returns_the_stats(sandbox, audience):
    sandbox.config(campaign_seconds=2, clock_speed=3600)  # two hours pass in two seconds
    logical = now_to_the_second()
    result = run_dag(DAGS / "campaign_pipeline.py", "campaign_pipeline", logical_date=logical)
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    expected_start = logical.add(hours=2).in_timezone(SP).replace(second=0)
    created = result.xcom("create_campaign")
    assert created["scheduled_for"] == expected_start.isoformat()
    assert created["total_contacts"] == 3
    [post] = sandbox.requests(vendor="criaenvio", method="POST", path="/envios")
    assert post["body"] == {
        "mensagem": created["message_id"],
        "listas": audience,
        "data_de_inicio": expected_start.strftime("%d/%m/%Y %H:%M"),
        "remetente": "kk",
    }
    [message] = sandbox.requests(vendor="criaenvio", method="POST", path="/mensagens")
    ds = logical.to_date_string()
    assert message["body"]["assunto"] == f"Ofertas de {ds}"
    assert message["body"]["nome"].startswith(f"Newsletter {ds} [airflow-key:")

    [campaign] = sandbox.state("criaenvio")["campaigns"]
    current = campaign["current"]
    stats = result.xcom("wait_campaign")
    assert stats["campaign_id"] == created["campaign_id"] == campaign["id"]
    assert stats["status"] == current["status"] == "Concluído"
    assert stats["total_enviado"] == current["total_enviado"] == 3
    assert stats["taxa_de_abertura"] == pytest.approx(current["taxa_de_abertura"])
    assert result.xcom("summarise") == {
        "sent": 3,
        "open_rate": stats["taxa_de_abertura"],
        "click_rate": stats["taxa_de_clique"],
    }
    # the sensor deferred (one poke in the worker, then the trigger), and nothing but reads followed the create
    assert "deferred" in events_of("campaign_pipeline", "wait_campaign")
    after_create = sandbox.requests(vendor="criaenvio", since=post["id"])
    assert len(after_create) >= 2
    assert {(r["method"], r["path"]) for r in after_create} == {
        ("GET", f"/criaenvio/v1/envios/{created['campaign_id']}")
    }


def latest_run_id(dag_id: str) -> str:
    [(run_id,)] = db_rows("SELECT run_id FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1", d=dag_id)
    return run_id


def test_retry_after_a_lost_create_and_a_rerun_of_the_task_reuse_the_campaign(sandbox, audience):
    sandbox.config(campaign_seconds=1, clock_speed=3600)
    # the campaign is created but the answer is lost, and the in-try look-up fails: try 1 fails, try 2 reuses
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
    logical = now_to_the_second()
    first = run_dag(
        DAGS / "campaign_pipeline.py", "campaign_pipeline", logical_date=logical, run_after=logical
    )
    assert first.state == "success", first.task_states
    assert try_number("campaign_pipeline", "create_campaign") == 2
    run_id = latest_run_id("campaign_pipeline")
    held = sandbox.state("criaenvio")
    assert len(held["campaigns"]) == 1 and len(held["messages"]) == 1
    created = first.xcom("create_campaign")
    assert created["campaign_id"] == held["campaigns"][0]["id"]

    # dag.test() again with the same logical date and run_after: the run is replaced by one with the same
    # run_id, so the create task instance runs again as after a clear, and reuses the campaign
    second = run_dag(
        DAGS / "campaign_pipeline.py", "campaign_pipeline", logical_date=logical, run_after=logical
    )
    assert second.state == "success", second.task_states
    assert latest_run_id("campaign_pipeline") == run_id
    again = second.xcom("create_campaign")
    assert {k: v for k, v in again.items() if k != "status"} == {
        k: v for k, v in created.items() if k != "status"
    }
    held = sandbox.state("criaenvio")
    assert len(held["campaigns"]) == 1 and len(held["messages"]) == 1
    assert len(sandbox.requests(vendor="criaenvio", method="POST", path="/envios")) == 1
    assert len(sandbox.requests(vendor="criaenvio", method="POST", path="/mensagens")) == 1
    assert second.xcom("wait_campaign")["status"] == "Concluído"


def test_pause_resume_and_a_cancellation_seen_by_the_deferred_sensor(sandbox, audience):
    skip_without_dag_runs()  # before the canceller thread starts, so a skipped run leaves no thread behind
    logical = now_to_the_second()
    hook = CriaEnvioHook()
    cancelled = threading.Event()

    def cancel_while_deferred() -> None:
        """Cancel the campaign once the trigger has read it a few times after the resume."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            resumes = sandbox.requests(vendor="criaenvio", path="/retomar")
            if resumes:
                cid = resumes[0]["path"].split("/")[-2]
                reads = sandbox.requests(
                    vendor="criaenvio", method="GET", path=f"/envios/{cid}", since=resumes[0]["id"]
                )
                if len([r for r in reads if r["path"].endswith(cid)]) >= 4:
                    hook.cancel_campaign(cid)
                    cancelled.set()
                    return
            time.sleep(0.2)

    canceller = threading.Thread(target=cancel_while_deferred, daemon=True)
    canceller.start()
    result = run_dag(DAGS / "campaign_control.py", "campaign_control", logical_date=logical)
    canceller.join(timeout=5)
    assert cancelled.is_set()
    assert result.state == "success"  # the leaf task (cancel, trigger rule all_done) decides the run's state
    assert result.task_states == {
        "create_campaign": "success",
        "pause": "success",
        "pause_again": "success",
        "resume": "success",
        "wait_campaign": "failed",
        "cancel": "success",
    }
    cid = result.xcom("create_campaign")["campaign_id"]
    pause = result.xcom("pause")
    assert pause["previous_status"] in {"Em criação", "Agendado"}
    assert (pause["status"], pause["changed"]) == ("Suspenso", True)
    assert result.xcom("pause_again") == {
        "campaign_id": cid,
        "action": "pause",
        "previous_status": "Suspenso",
        "status": "Suspenso",
        "changed": False,
    }
    resume = result.xcom("resume")
    assert (resume["previous_status"], resume["status"], resume["changed"]) == ("Suspenso", "Agendado", True)
    resume_at = logical.add(days=2).in_timezone(SP)
    [retomar] = sandbox.requests(vendor="criaenvio", path="/retomar")
    assert retomar["body"] == {"data": resume_at.strftime("%d/%m/%Y %H:%M")}
    assert result.xcom("cancel") == {
        "campaign_id": cid,
        "action": "cancel",
        "previous_status": "Cancelado",
        "status": "Cancelado",
        "changed": False,
    }
    assert "deferred" in events_of("campaign_control", "wait_campaign")
    assert result.xcom("wait_campaign") is None
    assert try_number("campaign_control", "wait_campaign") == 1  # failed without retrying
    [campaign] = sandbox.state("criaenvio")["campaigns"]
    assert campaign["current"]["status"] == "Cancelado"
    # exactly one state change of each kind reached the platform (the no-op tasks only read)
    changes = [
        r["path"].rsplit("/", 1)[-1]
        for r in sandbox.requests(vendor="criaenvio")
        if r["path"].endswith(("/pausar", "/retomar", "/cancelar"))
    ]
    assert changes == ["pausar", "retomar", "cancelar"]
