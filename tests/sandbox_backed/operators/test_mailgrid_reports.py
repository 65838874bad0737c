"""MailGridReportOperator against the sandbox: the emulator's rows normalised and filtered, the password masked
in the journal."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.operators.mailgrid import MailGridReportOperator


def test_sandbox_rows_normalised_and_filtered(sandbox, tmp_path):
    hook = MailGridHook()
    sent = hook.send(to=["ana@exemplo.com.br", "bob@bounce.example"], subject="Pedido", message="<p>Oi</p>")
    time.sleep(1.05)  # the rows' second must be over before the window ends
    end = datetime.now(timezone.utc)
    out = tmp_path / "failed.jsonl"
    summary = MailGridReportOperator(
        task_id="report",
        report_lag=timedelta(0),
        start=(end - timedelta(minutes=30)).isoformat(),
        end=end.isoformat(),
        status="failed",
        output_path=str(out),
    ).execute({})
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["message_id"], r["recipient"], r["status"], r["delivered"]) for r in rows] == [
        (sent[1]["id"], "bob@bounce.example", "Falha na entrega", False)
    ]
    assert datetime.fromisoformat(rows[0]["sent_at"]).utcoffset() == timedelta(hours=-3)
    (request,) = sandbox.requests("mailgrid", path="report")
    assert request["body"]["status"] == "erro" and request["body"]["senha_smtp"] == "***"
    assert summary["rows"] == 1 and summary["failed"] == 1
