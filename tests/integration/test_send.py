"""Send operators in real DAG runs (``dag.test()``) against the sandbox.

``test_send_operators_dag`` runs every operator once: chunking at exactly 100 (MailGrid) and 500
(emailManager), 20 recipients per message, attachments, the 50 MB limit, partial failures and recipients
from an upstream task's XCom. ``test_no_double_send_across_retries`` drops the connection after the
sandbox processed the first send of each platform and lets Airflow retry: the sandbox must hold every
message exactly once, and after the unknown ones are resolved a new run of the same logical date sends
nothing more.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_emailbr.operators.send import mark_send_results
from tests.dagrun import run_dag

pytestmark = pytest.mark.integration
DAGS = Path(__file__).parent / "dags"


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("EMAILBR_SEND_TEST_DIR", str(tmp_path))
    (tmp_path / "fatura.pdf").write_bytes(b"%PDF-1.4 fatura")
    with (tmp_path / "grande.zip").open("wb") as handle:
        handle.truncate(40 * 1024 * 1024)  # 53 MB once base64-encoded: over MailGrid's 50 MB
    lines = [{"To": f"jsonl{i}@exemplo.com.br", "Subject": "s", "HtmlBody": "<p>x</p>"} for i in range(3)]
    lines.append({"To": "desativado@inactive.example", "Subject": "s", "HtmlBody": "<p>x</p>"})
    (tmp_path / "mensagens.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return tmp_path


def test_send_operators_dag(sandbox, files):
    result = run_dag(DAGS / "send_operators.py", "send_operators")

    assert result.task_states == {
        "recipients": "success",
        "messages": "success",
        "mailgrid_chunks": "success",
        "mailgrid_partial": "failed",
        "mailgrid_partial_tolerated": "success",
        "mailgrid_too_big": "failed",
        "emailmanager_single": "success",
        "emailmanager_batch": "success",
        "emailmanager_jsonl": "success",
        "emailmanager_too_many": "failed",
        "envie_send": "success",
        "envie_partial": "failed",
    }

    # MailGrid: 250 recipients from the upstream XCom in calls of 100/100/50, copies once, the attachment in each
    sends = sandbox.requests("mailgrid", path="/mailgrid/api/send")
    chunks = [c["body"] for c in sends if c["body"]["assunto"].startswith("Fatura de 2")]
    assert [len(b["emailDestino"]) for b in chunks] == [100, 100, 50]
    assert [("emailDestinoCopia" in b, "emailDestinoCopiaOculta" in b) for b in chunks] == [
        (True, True),
        (False, False),
        (False, False),
    ]
    pdf = base64.b64encode(b"%PDF-1.4 fatura").decode()
    assert all(
        b["mensagemAnexos"]["file1"] == {"name": "fatura.pdf", "type": "application/pdf", "content": pdf}
        for b in chunks
    )
    assert "Olá, segue a fatura do run manual__" in chunks[0]["mensagem"]
    rows = sandbox.state("mailgrid")["rows"]
    assert Counter(r["email_para"] for r in rows)["cliente0000@exemplo.com.br"] == 1
    chunk_results = result.xcom("mailgrid_chunks")
    assert len(chunk_results) == 252 and chunk_results[0]["to"] == "cliente0000@exemplo.com.br"
    assert {r["outcome"] for r in chunk_results} == {"sent"}
    assert (files / "mailgrid_chunks.jsonl").exists()
    # partial failures: everything else sent, then failed (or tolerated)
    delivered = {r["email_para"] for r in rows}
    assert {"bom@exemplo.com.br", "outro@exemplo.com.br"} <= delivered
    assert [r["outcome"] for r in result.xcom("mailgrid_partial", "send_results")] == ["sent", "refused"]
    assert [r["outcome"] for r in result.xcom("mailgrid_partial_tolerated")] == ["sent", "refused"]
    # the size limit: refused before any call
    assert "grande@exemplo.com.br" not in json.dumps([c["body"] for c in sends])

    # emailManager: one message with its attachment; 1001 from the upstream XCom in 500/500/1; JSON Lines
    messages = sandbox.state("emailmanager")["messages"]
    single = [m for m in messages if m["Tag"] == "notas"]
    assert len(single) == 1 and single[0]["Attachments"] == [
        {"Name": "fatura.pdf", "ContentType": "application/pdf", "Size": 15}
    ]
    batch_calls = sandbox.requests("emailmanager", path="/emailmanager/email/batch")
    assert len(batch_calls) == 4  # 3 for the 1001 messages, 1 for the JSON Lines file
    assert sum(m["To"].startswith("pessoa") for m in messages) == 1001
    batch_results = result.xcom("emailmanager_batch")
    assert [r["index"] for r in batch_results] == list(range(1001))
    by_id = {m["MessageID"]: m["To"] for m in messages}
    assert all(by_id[r["MessageID"]] == f"pessoa{r['index']:04d}@exemplo.com.br" for r in batch_results)
    assert [r["ErrorCode"] for r in result.xcom("emailmanager_jsonl")] == [0, 0, 0, 406]
    assert not any(m["To"].startswith("x00") for m in messages)  # 21 recipients: refused before sending

    # envie.email: attachment without extension, plain text; the blacklisted recipient refused, the other sent
    sent = sandbox.state("envie")["sent"]
    assert sorted(m["to_email"] for m in sent) == [
        "e1@exemplo.com.br",
        "e2@exemplo.com.br",
        "e3@exemplo.com.br",
    ]
    e1 = next(m for m in sent if m["to_email"] == "e1@exemplo.com.br")
    assert e1["attachments"] == [{"name": "fatura", "mime": "application/pdf", "size": 15}]
    assert [r["outcome"] for r in result.xcom("envie_partial", "send_results")] == ["sent", "refused"]


def test_no_double_send_across_retries(sandbox, files):
    for vendor, path in (
        ("mailgrid", "/send"),
        ("emailmanager", "/email/batch"),
        ("envie", "/singlesending"),
    ):
        sandbox.set_fault("drop", vendor=vendor, path=path, count=1)  # processed, then the connection is cut
    when = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)

    result = run_dag(DAGS / "send_retries.py", "send_retries", logical_date=when, run_after=when)

    assert result.task_states == {"mailgrid": "failed", "emailmanager": "failed", "envie": "failed"}
    # Three tries each; the dropped request was processed once and never repeated; the rest sent once.
    mailgrid = Counter(r["email_para"] for r in sandbox.state("mailgrid")["rows"])
    assert len(mailgrid) == 250 and set(mailgrid.values()) == {1}
    assert [len(c["body"]["emailDestino"]) for c in sandbox.requests("mailgrid")] == [100, 100, 50]
    emailmanager = Counter(m["To"] for m in sandbox.state("emailmanager")["messages"])
    assert len(emailmanager) == 1200 and set(emailmanager.values()) == {1}
    assert len(sandbox.requests("emailmanager")) == 3
    envie = Counter(m["to_email"] for m in sandbox.state("envie")["sent"])
    assert len(envie) == 5 and set(envie.values()) == {1}
    assert len(sandbox.requests("envie")) == 5

    run_id = f"manual__{when.isoformat()}"
    lines = [json.loads(x) for x in (files / f"mailgrid-{run_id}.jsonl").read_text().splitlines()]
    assert sorted({line["try_number"] for line in lines}) == [1, 2]  # try 3 wrote nothing: nothing to send
    unknown = {line["key"] for line in lines if line["outcome"] == "unknown"}
    assert len(unknown) == 100

    # The operator checks each platform's report, marks the unknown ones as delivered, and runs again.
    for task_id in ("mailgrid", "emailmanager", "envie"):
        marked = mark_send_results(
            files / f"{task_id}-{run_id}.jsonl",
            dag_id="send_retries",
            task_id=task_id,
            run_id=run_id,
            outcome="sent",
        )
        assert marked
    before = len(sandbox.requests())
    again = run_dag(DAGS / "send_retries.py", "send_retries", logical_date=when, run_after=when)
    assert again.task_states == {"mailgrid": "success", "emailmanager": "success", "envie": "success"}
    assert len(sandbox.requests()) == before  # nothing was sent again
    assert len(again.xcom("emailmanager")) == 1200
