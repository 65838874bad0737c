"""The send engine's retry rules, exercised through the MailGrid operator against the sandbox: unknown items are resent only when asked, refused ones by the retry, and results of another run never skip a send."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator
from airflow_provider_emailbr.operators.send import SendIncompleteError
from airflow_provider_emailbr.sending.ledger import ResultsLog
from tests.sandbox_backed.support import mailgrid_rows
from tests.unit.sending.support import addresses, fast, run


def test_resend_unknown_sends_only_the_unknown_again(sandbox, tmp_path):
    results_path = tmp_path / "send.jsonl"
    sandbox.set_fault("drop", vendor="mailgrid", path="/send", count=1)
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(3), subject="s", html="x", results_path=str(results_path)
    )
    with pytest.raises(SendIncompleteError):
        run(op)
    op = MailGridSendEmailOperator(
        task_id="send",
        to=addresses(3),
        subject="s",
        html="x",
        results_path=str(results_path),
        resend_unknown="True",  # as a template such as "{{ params.resend_unknown }}" renders
    )
    results, _ = run(op, try_number=2)
    assert [r["outcome"] for r in results] == ["sent"] * 3
    assert len(sandbox.requests("mailgrid")) == 2


def test_not_processed_failures_are_refused_and_resent_by_the_retry(sandbox, tmp_path):
    """HTTP 503 means MailGrid did not process the call: nothing is unknown, the retry sends it."""
    results_path = tmp_path / "send.jsonl"
    sandbox.set_fault("status", vendor="mailgrid", path="/send", status=503, count=3)  # outlasts 2 retries
    op = fast(
        MailGridSendEmailOperator(
            task_id="send", to=addresses(120), subject="s", html="x", results_path=str(results_path)
        )
    )
    with pytest.raises(SendIncompleteError, match="0 sent .* 100 refused, 0 unknown, 20 not attempted"):
        run(op)
    assert [c["status"] for c in sandbox.requests("mailgrid")] == [503, 503, 503]  # the core retried it
    results, _ = run(
        fast(
            MailGridSendEmailOperator(
                task_id="send", to=addresses(120), subject="s", html="x", results_path=str(results_path)
            )
        ),
        try_number=2,
    )
    assert all(r["outcome"] == "sent" for r in results)
    assert [c["status"] for c in sandbox.requests("mailgrid")] == [503, 503, 503, 200, 200]
    assert sorted(r["email_para"] for r in mailgrid_rows(sandbox)) == addresses(120)


def test_retry_without_results_path_refuses_to_send(sandbox):
    op = MailGridSendEmailOperator(task_id="send", to=addresses(2), subject="s", html="x")
    with pytest.raises(AirflowFailException, match="no results_path records what went out"):
        run(op, try_number=2)
    assert sandbox.requests("mailgrid") == []
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(2), subject="s", html="x", resend_unknown=True
    )
    results, _ = run(op, try_number=2)  # the operator checked the report: everything is sent again
    assert [r["outcome"] for r in results] == ["sent", "sent"]


def test_attempt_without_outcome_counts_as_unknown_and_truncated_last_line_is_ignored(sandbox, tmp_path):
    """A worker killed mid-request leaves an ``attempt`` line (and maybe half a line): nothing is re-sent."""
    results_path = tmp_path / "send.jsonl"
    stamp = {"dag_id": "send_dag", "task_id": "send", "run_id": "manual__1", "map_index": -1, "try_number": 1}
    results_path.write_text(
        json.dumps({"key": "to:cliente0000@exemplo.com.br", **stamp, "outcome": "attempt"})
        + "\n"
        + json.dumps({"key": "to:cliente0001@exemplo.com.br", **stamp, "outcome": "sent", "id": "X1"})
        + '\n{"key": "to:cliente0002@exem'
    )
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(3), subject="s", html="x", results_path=str(results_path)
    )
    with pytest.raises(SendIncompleteError, match="2 sent \\(1 by earlier tries\\), 0 refused, 1 unknown"):
        run(op, try_number=2)
    (call,) = sandbox.requests("mailgrid")
    assert call["body"]["emailDestino"] == ["cliente0002@exemplo.com.br"]
    # the new lines were not glued onto the cut-short one: the file reads back whole
    outcomes = [line["outcome"] for line in ResultsLog(results_path).read()]
    assert outcomes == ["attempt", "sent", "attempt", "sent"]
    with pytest.raises(SendIncompleteError, match="2 sent \\(2 by earlier tries\\), 0 refused, 1 unknown"):
        run(
            MailGridSendEmailOperator(
                task_id="send", to=addresses(3), subject="s", html="x", results_path=str(results_path)
            ),
            try_number=3,
        )
    assert len(sandbox.requests("mailgrid")) == 1


def test_results_of_another_run_never_skip_a_send(sandbox, tmp_path):
    results_path = tmp_path / "shared.jsonl"
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(2), subject="s", html="x", results_path=str(results_path)
    )
    run(op, run_id="scheduled__1")
    run(op, run_id="scheduled__2")
    run(op, run_id="scheduled__2", map_index=3)
    assert len(sandbox.requests("mailgrid")) == 3
    assert len(mailgrid_rows(sandbox)) == 6
