"""Secrets never leak from a real DAG run: every component with the sandbox's real credentials, end to end.

``test_secrets_sweep.py`` forces the error paths (wrong secrets, a closed port); this run takes the success
paths — imports, a campaign waited for in the (inline) triggerer, sends, a delivery wait, a report, the three
notifiers and Airflow's failure e-mail through the provider's backend — plus two failures (an impossible
campaign action and the e-mail task), and then searches everything the run left behind for the credentials:
XComs, rendered template fields, the task-instance rows (``next_kwargs`` of deferred tasks, ``rendered``
values), the audit log, task and trigger logs (stdlib and structlog), stdout/stderr, the files the tasks
wrote, and the sandbox journal as its admin API prints it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from sqlalchemy import text
from structlog.testing import capture_logs

from emailbr_sandbox.constants import (
    CRIAENVIO_KEY,
    EMAILMANAGER_TOKEN,
    ENVIE_PRIVATE_KEY,
    IAGENTE_KEY,
    MAILGRID_PASSWORD,
)
from tests.dagrun import run_dag, skip_without_dag_runs

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).parent / "dags" / "secrets_sweep.py"
SECRETS = {
    "IAGENTEmail key": IAGENTE_KEY,
    "envie.email private key": ENVIE_PRIVATE_KEY,
    "CriaEnvio key": CRIAENVIO_KEY,
    "MailGrid SMTP password": MAILGRID_PASSWORD,
    "emailManager token": EMAILMANAGER_TOKEN,
}


def _table_dump(run_id: str) -> dict[str, str]:
    """Every row the run left in the tables a user can browse (UI, REST API), as text."""
    from airflow.utils.session import create_session

    queries = {
        "xcom": "SELECT task_id, key, value FROM xcom WHERE run_id = :r",
        "rendered_task_instance_fields": (
            "SELECT task_id, rendered_fields, k8s_pod_yaml FROM rendered_task_instance_fields WHERE run_id = :r"
        ),
        "task_instance": "SELECT * FROM task_instance WHERE run_id = :r",
        "task_instance_history": "SELECT * FROM task_instance_history WHERE run_id = :r",
        "log": "SELECT * FROM log WHERE run_id = :r",
        "trigger": "SELECT * FROM trigger",
        "dag_run": "SELECT * FROM dag_run WHERE run_id = :r",
    }
    dump = {}
    with create_session() as session:
        for table, sql in queries.items():
            rows = session.execute(text(sql), {"r": run_id}).fetchall()
            dump[table] = "\n".join(repr(tuple(row)) for row in rows)
    return dump


def test_a_whole_dag_run_leaves_no_secret_anywhere(sandbox, tmp_path, monkeypatch, log_records, capfd):
    skip_without_dag_runs()
    sandbox.config(campaign_seconds=2, clock_speed=60)
    monkeypatch.setenv("EMAILBR_SWEEP_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_emailbr.utils.emailer.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "mailgrid_default")

    with capture_logs() as events:
        result = run_dag(DAG_FILE, "secrets_sweep")

    # the run really went through the success paths and the deliberate failures
    states = result.task_states
    succeeded = {
        "iagente_import",
        "criaenvio_import",
        "create_campaign",
        "wait_campaign",
        "mailgrid_send",
        "wait_delivered",
        "mailgrid_report",
        "emailmanager_single",
        "emailmanager_batch",
        "envie_send",
        "any_vendor_send",
    }
    assert {t: states[t] for t in succeeded} == dict.fromkeys(succeeded, "success"), states
    assert states["pause_finished_campaign"] == "failed"  # pausing a finished campaign is impossible
    assert states["fails_with_airflow_email"] == "failed"
    assert result.xcom("wait_campaign")["status"] == "Concluído"
    alert_subjects = [
        c["body"].get("assunto") for c in sandbox.requests("mailgrid") if isinstance(c.get("body"), dict)
    ]
    assert "mailgrid_send ok" in alert_subjects, alert_subjects  # the notifier ran
    assert sandbox.state("emailmanager")["messages"], "the emailManager notifier and sends ran"

    run_id = _latest_run_id()
    seen = _table_dump(run_id)
    seen["structlog events"] = "\n".join(repr(e) for e in events)
    seen["stdlib log records"] = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in log_records
    )
    captured = capfd.readouterr()
    seen["stdout"], seen["stderr"] = captured.out, captured.err
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            seen[f"file {path.name}"] = path.read_text(encoding="utf-8", errors="replace")
    seen["sandbox journal (admin API)"] = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).text

    assert seen["xcom"] and seen["rendered_task_instance_fields"] and seen["file report.csv"]
    leaks = [
        f"{secret_name} in {where}"
        for where, content in seen.items()
        for secret_name, secret in SECRETS.items()
        if secret in content
    ]
    assert not leaks, leaks


def _latest_run_id() -> str:
    from airflow.utils.session import create_session

    with create_session() as session:
        (run_id,) = session.execute(
            text("SELECT run_id FROM dag_run WHERE dag_id = 'secrets_sweep' ORDER BY id DESC LIMIT 1")
        ).one()
    return run_id
