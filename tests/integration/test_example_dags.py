"""The example DAGs: each parses without network access and runs to success under ``dag.test()``."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.dagrun import run_dag

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_IDS = sorted(p.stem for p in EXAMPLES.glob("emailbr_*.py"))


def test_every_example_dag_parses_without_network(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args, **kwargs):
        raise AssertionError("an example DAG opened a network connection while being parsed")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == DAG_IDS
    for dag_id in DAG_IDS:
        dag = bag.dags[dag_id]
        assert "example" in dag.tags
        assert dag.catchup is False


def test_iagente_sync_example(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_IAGENTE_EXPORT", str(EXAMPLES / "data" / "clientes_iagente.csv"))
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_OUTPUT_DIR", str(tmp_path))
    result = run_dag(EXAMPLES / "emailbr_iagente_sync.py", "emailbr_iagente_sync")
    assert result.state == "success", result.task_states
    summary = result.xcom("import_export")
    assert (summary["received"], summary["sent"], summary["rejected"]) == (60, 56, 4)
    group = next(g for g in sandbox.state("iagente")["groups"] if g["name"] == "Clientes ERP")
    members = [c for c in sandbox.state("iagente")["contacts"] if group["group_id"] in c["groups"]]
    joao = next(c for c in members if c["email"] == "joao.1@exemplo.com.br")
    assert (joao["name"], joao["birthday"], joao["field1"], joao["field2"]) == (
        "João Gonçalves",
        "1961-02-02",
        "Florianópolis",
        "Premium",
    )
    rejected = list((tmp_path).rglob("iagente_rejected.csv"))
    assert len(rejected) == 1 and rejected[0].read_text(encoding="utf-8").count("invalid_email") == 4
    assert json.dumps(summary)  # the XCom is JSON-serialisable


def test_mailgrid_transactional_example(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_OUTPUT_DIR", str(tmp_path))
    result = run_dag(EXAMPLES / "emailbr_mailgrid_transactional.py", "emailbr_mailgrid_transactional")
    assert result.state == "success", result.task_states
    sends = [r for r in sandbox.requests(vendor="mailgrid") if r["path"].endswith("/send/")]
    assert len(sends) == 2  # 151 recipients in calls of at most 100
    statuses = result.xcom("wait_for_delivery")
    assert len(statuses) == 151
    assert sum(1 for s in statuses.values() if not s["delivered"]) == 1  # the bounce.example address
    assert list(tmp_path.rglob("mailgrid_report.csv"))
    assert len(list(tmp_path.rglob("mailgrid_send_results.jsonl"))) == 1


def test_emailmanager_batch_example(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_VAR_EMAILBR_EMAILMANAGER_MESSAGES", str(EXAMPLES / "data" / "mensagens_emailmanager.jsonl")
    )
    result = run_dag(EXAMPLES / "emailbr_emailmanager_batch.py", "emailbr_emailmanager_batch")
    assert result.state == "success", result.task_states
    records = result.xcom("send_batch")
    assert len(records) == 40 and all(r["ErrorCode"] == 0 for r in records)
    batches = [r for r in sandbox.requests(vendor="emailmanager") if r["path"].endswith("/email/batch")]
    assert len(batches) == 1
    assert len(list(tmp_path.rglob("emailmanager_results.jsonl"))) == 1
