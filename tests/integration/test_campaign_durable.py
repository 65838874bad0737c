"""Campaign creation on Airflow 3.3's task state store, in real ``dag.test()`` runs against the sandbox:
the campaign's answer is lost, the retry reattaches through the stored message id (no name search, no second
create), and after a clear of the task instance a new try reattaches to the stored campaign with one read.

A clear is a real clear (``clear_task_instances``, as the REST API and CLI do), followed by running the
cleared task instance the way ``dag.test()`` runs one: ``dag.test()`` at the same logical date would delete
the run and its state-store rows instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.dagrun import load_dag, run_dag
from tests.integration.test_campaigns import create_audience

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).parent / "dags" / "campaign_durable.py"
DAG_ID = "campaign_durable"
TASK_ID = "create_campaign"


def stored_state(run_id: str) -> dict[str, Any]:
    """The task's rows in Airflow's task state store: ``{key: value}``."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskStateStoreModel).filter_by(dag_id=DAG_ID, run_id=run_id, task_id=TASK_ID)
        return {row.key: json.loads(row.value) for row in rows}


def clear_and_rerun(run_id: str) -> str:
    """Clear the task instance as the REST API does, then run its next try; return its final state."""
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    dag = load_dag(DAG_FILE, DAG_ID)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id, task_id=TASK_ID).all()
        clear_task_instances(tis, session)
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id, task_id=TASK_ID).one()
        assert ti.state is None  # cleared
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        session.refresh(ti)
        _run_task(ti=ti, task=dag.task_dict[TASK_ID])
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id, task_id=TASK_ID).one()
        return str(ti.state)


def test_lost_answer_then_retry_then_clear_create_one_message_and_one_campaign(sandbox):
    create_audience(sandbox)
    # the campaign is created but its answer is lost, and the in-try look-up fails: try 1 fails
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
    result = run_dag(DAG_FILE, DAG_ID, logical_date=pendulum.now("UTC").replace(microsecond=0))
    assert result.state == "success", result.task_states
    created = result.xcom(TASK_ID)
    held = sandbox.state("criaenvio")
    assert len(held["messages"]) == 1 and len(held["campaigns"]) == 1
    assert created["campaign_id"] == held["campaigns"][0]["id"]
    # the retry found the message through the state store: only try 1 searched the name key
    assert len(sandbox.requests(vendor="criaenvio", method="GET", path="/mensagens")) == 1
    assert len(sandbox.requests(vendor="criaenvio", method="POST", path="/mensagens")) == 1
    assert len(sandbox.requests(vendor="criaenvio", method="POST", path="/envios")) == 1

    [(run_id,)] = _latest_run()
    state = stored_state(run_id)
    assert state["emailbr.campaign.message"]["data"] == {"id": created["message_id"]}
    assert state["emailbr.campaign.campaign"]["data"] == {
        "id": created["campaign_id"],
        "message_id": created["message_id"],
    }

    # a clear keeps the rows: the next try reattaches with one read and creates nothing
    sandbox.clear_requests()
    assert clear_and_rerun(run_id) == "success"
    assert [(r["method"], r["path"]) for r in sandbox.requests(vendor="criaenvio")] == [
        ("GET", f"/criaenvio/v1/envios/{created['campaign_id']}")
    ]
    held = sandbox.state("criaenvio")
    assert len(held["messages"]) == 1 and len(held["campaigns"]) == 1


def _latest_run() -> list[tuple[str]]:
    from airflow.utils.session import create_session
    from sqlalchemy import text

    with create_session() as session:
        sql = text("SELECT run_id FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1")
        return [tuple(row) for row in session.execute(sql, {"d": DAG_ID})]
