"""Alerts in a real DAG run: task callbacks through each notifier, and Airflow's failure e-mail through the
e-mail backend (``[email] email_backend`` / ``email_conn_id``), asserted on what the sandbox received."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dagrun import run_dag

pytestmark = pytest.mark.integration
DAGS = Path(__file__).parent / "dags"


def test_callbacks_and_airflow_failure_email_go_through_the_platforms(sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_emailbr.utils.emailer.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "mailgrid_default")

    result = run_dag(DAGS / "send_alerts.py", "send_alerts")

    assert result.task_states == {
        "fails_mailgrid": "failed",
        "fails_emailmanager": "failed",
        "fails_envie": "failed",
        "succeeds": "success",
        "retries_then_fails": "failed",
        "airflow_failure_email": "failed",
    }
    mailgrid = {
        c["body"]["assunto"]: c["body"] for c in sandbox.requests("mailgrid", path="/mailgrid/api/send")
    }
    failure = mailgrid["fails_mailgrid falhou em send_alerts (try 1): saldo negativo"]
    assert failure["emailDestino"] == ["oncall@exemplo.com.br"]
    assert "task <b>fails_mailgrid</b> (try 1): <b>failed</b>" in failure["mensagem"]
    assert mailgrid["succeeds ok"]["emailDestino"] == ["dados@exemplo.com.br"]

    subjects = [m["Subject"] for m in sandbox.state("emailmanager")["messages"]]
    assert "fails_emailmanager falhou em send_alerts (try 1): arquivo vazio" in subjects
    assert "nova tentativa de retries_then_fails após try 1" in subjects
    assert "retries_then_fails falhou em send_alerts (try 2): sempre falha" in subjects
    assert [
        m["Tag"] for m in sandbox.state("emailmanager")["messages"] if m["Subject"].startswith("fails_")
    ] == ["alertas"]

    (envie,) = sandbox.state("envie")["sent"]
    assert envie["subject"] == "fails_envie falhou em send_alerts (try 1): timeout do banco"
    assert envie["to_email"] == "oncall@exemplo.com.br"

    # Airflow's own failure e-mail (email_on_failure) went through the backend and the MailGrid connection
    alert = next(body for subject, body in mailgrid.items() if subject.startswith("Airflow alert:"))
    assert "airflow_failure_email" in alert["assunto"]
    assert alert["emailDestino"] == ["plantao@exemplo.com.br"]
    assert "falha com e-mail do Airflow" in alert["mensagem"]
    assert alert["emailRemetente"] == "remetente@exemplo.com.br"  # Airflow's placeholder sender was replaced
