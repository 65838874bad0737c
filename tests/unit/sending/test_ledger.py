"""The results ledger: unreadable lines, mark_send_results, run identity. Object stores without append,
against the sandbox, are in ``tests/sandbox_backed/sending/test_ledger.py``."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.ledger import ResultsLog, RunIdentity, mark_send_results


def test_unreadable_lines_in_the_middle_are_skipped_safely(tmp_path):
    results_path = tmp_path / "r.jsonl"
    results_path.write_text('{"key": "a", "outcome": "attempt"}\n{"key": "a", "outc\n[1, 2]\n{"key": "b"}\n')
    assert ResultsLog(results_path).read() == [{"key": "a", "outcome": "attempt"}, {"key": "b"}]


def test_mark_send_results_validates(tmp_path):
    with pytest.raises(EmailBRInputError, match="outcome: 'maybe' is not allowed"):
        mark_send_results(tmp_path / "r.jsonl", dag_id="d", task_id="t", run_id="r", outcome="maybe")
    with pytest.raises(EmailBRInputError, match="not found"):
        mark_send_results(
            tmp_path / "r.jsonl", dag_id="d", task_id="t", run_id="r", outcome="sent", keys=["x"]
        )


def test_run_identity_owns_only_its_task_instance():
    identity = RunIdentity("d", "t", "r", map_index=2, try_number=3)
    assert identity.owns({"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": 2})
    assert not identity.owns({"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1})
    assert not identity.owns({"dag_id": "d", "task_id": "t2", "run_id": "r", "map_index": 2})
