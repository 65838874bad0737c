"""Durable sends in real DAG runs (``dag.test()``, Airflow 3.3's task state store) with NO results_path.

A lost answer, Airflow's retries, then a real clear of the task instances and a run again: the sandbox's
journal must hold every message exactly once. ``dag.test()`` at a logical date that already has a run
deletes that run (and its state-store rows) before re-creating it; :func:`keeping_the_run` lets it re-run
the existing run after its own clear (``SerializedDAG.clear_dags``, Airflow's clear of the task instances),
which is what clearing a task in the UI or the REST API does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.dagrun import run_dag

pytestmark = pytest.mark.integration
DAGS = Path(__file__).parent / "dags"


@contextmanager
def keeping_the_run() -> Iterator[None]:
    """Make ``dag.test()`` run the DAG run it just cleared instead of deleting and re-creating it."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    create = dagrun_module.get_or_create_dagrun

    def existing_run(*, dag: Any, logical_date: Any, session: Any, **kwargs: Any) -> Any:
        run = session.scalar(
            select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.logical_date == logical_date)
        )
        if run is None:
            return create(dag=dag, logical_date=logical_date, session=session, **kwargs)
        run.dag = dag
        run.state = DagRunState.RUNNING
        session.commit()
        return run

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", existing_run):
        yield


def state_rows(dag_id: str) -> dict[str, list[tuple[str, Any, int]]]:
    """Task state store rows of ``dag_id`` per task: ``(key, expires_at, value length)``."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    rows: dict[str, list[tuple[str, Any, int]]] = {}
    with create_session() as session:
        for row in session.query(TaskStateStoreModel).filter(TaskStateStoreModel.dag_id == dag_id):
            rows.setdefault(row.task_id, []).append((row.key, row.expires_at, len(row.value)))
    return rows


def tries(dag_id: str) -> dict[str, int]:
    """The try number of each task instance of ``dag_id``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.try_number for ti in session.query(TaskInstance).filter_by(dag_id=dag_id)}


def delivered(sandbox: Any) -> dict[str, Counter[str]]:
    """How many times the sandbox took a message for each address, per vendor."""
    return {
        "emailmanager": Counter(m["To"] for m in sandbox.state("emailmanager")["messages"]),
        "mailgrid": Counter(r["email_para"] for r in sandbox.state("mailgrid")["rows"]),
        "envie": Counter(m["to_email"] for m in sandbox.state("envie")["sent"]),
    }


def test_lost_answer_retry_clear_and_run_again_send_each_message_exactly_once(sandbox):
    pytest.importorskip("airflow.sdk.execution_time.context", reason="needs Airflow 3.3")
    for vendor, path in (("mailgrid", "/send"), ("emailmanager", "/email/batch")):
        sandbox.set_fault("drop", vendor=vendor, path=path, count=1)  # processed, then the connection is cut
    when = datetime(2026, 4, 1, 12, tzinfo=timezone.utc)

    first = run_dag(DAGS / "durable_send.py", "durable_send", logical_date=when, run_after=when)

    # The lost answers leave their items unknown: the tasks fail after sending everything else once.
    assert first.task_states == {"emailmanager": "failed", "mailgrid": "failed", "envie": "success"}
    counts = delivered(sandbox)
    assert len(counts["emailmanager"]) == 1200 and set(counts["emailmanager"].values()) == {1}
    assert len(counts["mailgrid"]) == 250 and set(counts["mailgrid"].values()) == {1}
    assert len(counts["envie"]) == 4 and set(counts["envie"].values()) == {1}
    assert len(sandbox.requests("emailmanager")) == 3  # 500 (answer lost), then 500 and 200 by the retry
    assert len(sandbox.requests("mailgrid")) == 3
    results = first.xcom("mailgrid", "send_results")
    assert Counter(r["outcome"] for r in results) == {"sent": 150, "unknown": 100}
    rows = state_rows("durable_send")
    assert rows.keys() == {"emailmanager", "mailgrid", "envie"}
    for task in rows.values():  # consecutive bounded chunks of the send ledger
        assert sorted(key for key, _, _ in task) == sorted(f"emailbr.send.log.{n}" for n in range(len(task)))
        assert max(size for _, _, size in task) < 51_000
    assert all(expires is None for task in rows.values() for _, expires, _ in task)  # NEVER_EXPIRE

    # A clear keeps the task state store: running the cleared tasks sends nothing again, anywhere.
    before = len(sandbox.requests())
    with keeping_the_run():
        again = run_dag(DAGS / "durable_send.py", "durable_send", logical_date=when, run_after=when)
    assert tries("durable_send") == {"emailmanager": 6, "mailgrid": 6, "envie": 2}  # ran again, retried
    assert len(sandbox.requests()) == before
    assert again.task_states == {"emailmanager": "failed", "mailgrid": "failed", "envie": "success"}
    assert Counter(r["outcome"] for r in again.xcom("mailgrid", "send_results")) == {
        "sent": 150,
        "unknown": 100,
    }
    assert delivered(sandbox) == counts
    assert state_rows("durable_send") == rows  # the clear kept them; the re-run only read them


def test_an_import_retried_after_a_crash_sends_exactly_the_calls_not_recorded(sandbox):
    pytest.importorskip("airflow.sdk.execution_time.context", reason="needs Airflow 3.3")
    when = datetime(2026, 4, 2, 12, tzinfo=timezone.utc)

    def mass_adds() -> int:
        return sum(1 for r in sandbox.requests("iagente") if r["path"].endswith("contact/mass/add"))

    result = run_dag(DAGS / "durable_import.py", "durable_import", logical_date=when, run_after=when)

    assert result.task_states == {"import_contacts": "success"}
    assert tries("durable_import") == {"import_contacts": 2}
    # 6 batches of 1000 in calls of 500. Try 1: batches 0-2 (6 calls) and the calls of batch 3 already in
    # flight (at most 2), each recorded as its answer arrived; try 2 sends exactly the calls not recorded:
    # every call was made once (starting over would have made up to 8 + 12).
    assert mass_adds() == 12
    summary = result.xcom("import_contacts")
    assert summary["sent"] in (2000, 2500, 3000)  # try 2's own count: the calls it made
    group_id = next(g["group_id"] for g in sandbox.state("iagente")["groups"] if g["name"] == "Durável")
    members = [c["email"] for c in sandbox.state("iagente")["contacts"] if group_id in c["groups"]]
    assert len(members) == 6000 and len(set(members)) == 6000
    assert "import_contacts" not in state_rows("durable_import")  # a finished import forgets its checkpoint


def set_task_state(dag_id: str, task_id: str, key: str, value: Any) -> None:
    """Set a task state store key as ``PUT /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/
    state-store/{key}`` does (the route's own backend call), for the only run of ``dag_id``."""
    import json

    from airflow._shared.state import TaskScope
    from airflow.models.dagrun import DagRun
    from airflow.state.metastore import _get_db_backend
    from airflow.utils.session import create_session

    with create_session() as session:
        (run,) = session.query(DagRun).filter(DagRun.dag_id == dag_id).all()
        scope = TaskScope(dag_id=dag_id, run_id=run.run_id, task_id=task_id, map_index=-1)
        _get_db_backend().set(scope, key, json.dumps(value), expires_at=None, session=session)


def test_a_send_killed_mid_send_then_resolved_by_a_person_delivers_each_message_exactly_once(sandbox):
    pytest.importorskip("airflow.sdk.execution_time.context", reason="needs Airflow 3.3")
    when = datetime(2026, 4, 3, 12, tzinfo=timezone.utc)

    first = run_dag(DAGS / "durable_killed_send.py", "durable_killed_send", logical_date=when, run_after=when)

    # Try 1 died mid-send; try 2 sent what never left and reports the rest unknown, with their keys.
    assert first.task_states == {"send": "failed"} and tries("durable_killed_send") == {"send": 2}
    counts = delivered(sandbox)["emailmanager"]
    assert set(counts.values()) == {1}  # nothing twice
    unknown = [r for r in first.xcom("send", "send_results") if r["outcome"] == "unknown"]

    def address(record: dict[str, Any]) -> str:  # emailManager keys are "<input position>:<hash>"
        return f"pessoa{int(record['key'].split(':')[0]):04d}@exemplo.com.br"

    assert unknown and set(counts) | {address(r) for r in unknown} == {
        f"pessoa{i:04d}@exemplo.com.br" for i in range(60)
    }  # nothing lost: delivered once, or unknown

    # The on-call engineer checks the platform's report, sets the resolution, clears the task.
    went_out = [r["key"] for r in unknown if address(r) in counts]
    never = [r["key"] for r in unknown if address(r) not in counts]
    resolution = [{"outcome": o, "keys": k} for o, k in (("sent", went_out), ("not_sent", never)) if k]
    set_task_state("durable_killed_send", "send", "emailbr.send.resolution", resolution)
    with keeping_the_run():
        again = run_dag(
            DAGS / "durable_killed_send.py", "durable_killed_send", logical_date=when, run_after=when
        )

    assert again.task_states == {"send": "success"}
    final = delivered(sandbox)["emailmanager"]
    assert len(final) == 60 and set(final.values()) == {1}
    keys = [key for key, _, _ in state_rows("durable_killed_send")["send"]]
    assert "emailbr.send.resolution" not in keys  # applied once, then deleted
