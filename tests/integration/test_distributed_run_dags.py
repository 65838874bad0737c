"""The DAGs of the distributed run (``deploy/dags``) parse, and their tasks are set up for a killed worker.

No Celery, Redis or PostgreSQL here: ``make distributed-run`` runs the DAGs for real. These tests pin what
the run's scenarios rely on: every task on the queue both workers serve, with retries for the killed try,
and no file on a worker's disk (``results_path``, ``state_path``) for a retry to lean on.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DAG_FILE = DEPLOY / "dags" / "emailbr_distributed_scenarios.py"
EXPECTED_TASKS = {
    "emailbr_distributed_batch_send": ["send_batch"],
    "emailbr_distributed_import": ["import_contacts"],
    "emailbr_distributed_campaign": ["create_campaign"],
    "emailbr_distributed_campaign_wait": ["create_campaign", "wait_for_campaign"],
}


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAG_FILE))


@pytest.fixture(scope="module")
def harness():
    """``deploy/distributed_run.py`` imported as the workers import it (``deploy`` on ``sys.path``)."""
    sys.path.insert(0, str(DEPLOY))
    try:
        import distributed_run

        yield distributed_run
    finally:
        sys.path.remove(str(DEPLOY))


def test_the_scenario_dags_parse_without_network(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args, **kwargs):
        raise AssertionError("a distributed-run DAG opened a network connection while being parsed")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    parsed = DagBag(dag_folder=str(DAG_FILE))
    assert parsed.import_errors == {}
    assert sorted(parsed.dag_ids) == sorted(EXPECTED_TASKS)


def test_every_task_retries_on_the_workers_queue_without_local_files(bag, harness):
    for dag_id, task_ids in EXPECTED_TASKS.items():
        dag = bag.dags[dag_id]
        assert sorted(dag.task_ids) == sorted(task_ids), dag_id
        assert dag.schedule is None and dag.catchup is False and dag.max_active_runs == 1
        assert "distributed-run" in dag.tags
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.queue == harness.QUEUE == "emailbr", where
            assert task.retries == 2, where
            assert task.retry_delay.total_seconds() <= 5, where
            assert getattr(task, "results_path", None) is None, where
            assert getattr(task, "state_path", None) is None, where


def test_the_tasks_match_what_the_scenarios_measure(bag, harness):
    send = bag.dags["emailbr_distributed_batch_send"].get_task("send_batch")
    assert type(send).__name__ == "EmailManagerBatchSendOperator"
    assert send.batch_size == harness.BATCH_SIZE
    assert send.messages_path == "{{ var.value.emailbr_distributed_messages }}"

    imported = bag.dags["emailbr_distributed_import"].get_task("import_contacts")
    assert type(imported).__name__ == "IAgenteImportContactsOperator"
    assert imported.chunk_size == harness.IMPORT_CHUNK
    assert imported.group_name == harness.IMPORT_GROUP
    assert imported.source_path == "{{ var.value.emailbr_distributed_contacts }}"

    for dag_id in ("emailbr_distributed_campaign", "emailbr_distributed_campaign_wait"):
        create = bag.dags[dag_id].get_task("create_campaign")
        # the run finds a run's campaigns by the run id in the message's name
        assert "{{ run_id }}" in create.name

    wait = bag.dags["emailbr_distributed_campaign_wait"].get_task("wait_for_campaign")
    assert wait.deferrable is True
    assert wait.upstream_task_ids == {"create_campaign"}


def test_a_worker_reports_its_own_name_as_host_name(harness, monkeypatch):
    monkeypatch.setenv(harness.WORKER_NAME_VARIABLE, "worker2")
    hostname = harness.worker_hostname()
    assert hostname == f"worker2.{socket.getfqdn()}"
    assert harness.Deployment.worker_of(hostname) == "worker2"
    assert harness.Deployment.worker_of(f"worker3.{socket.getfqdn()}") is None
