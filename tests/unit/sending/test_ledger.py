"""The results ledger: unreadable lines, object stores without append, mark_send_results, run identity."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator
from airflow_provider_emailbr.operators.send import SendIncompleteError
from airflow_provider_emailbr.sending.ledger import ResultsLog, RunIdentity, mark_send_results
from tests.unit.sending.support import addresses, run


def test_unreadable_lines_in_the_middle_are_skipped_safely(tmp_path):
    results_path = tmp_path / "r.jsonl"
    results_path.write_text('{"key": "a", "outcome": "attempt"}\n{"key": "a", "outc\n[1, 2]\n{"key": "b"}\n')
    assert ResultsLog(results_path).read() == [{"key": "a", "outcome": "attempt"}, {"key": "b"}]


def test_results_on_object_storage_without_append_are_rewritten(sandbox, tmp_path):
    """Object stores that cannot append (S3, GCS) get the whole results object rewritten after each call."""
    import fsspec
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem
    from upath.implementations.memory import MemoryPath
    from upath.registry import register_implementation

    class NoAppendFileSystem(MemoryFileSystem):
        protocol = ("noappend",)

        def _open(self, path, mode="rb", **kwargs):
            if "a" in mode:
                raise NotImplementedError("append is not supported")
            return super()._open(path, mode, **kwargs)

    fsspec.register_implementation("noappend", NoAppendFileSystem, clobber=True)
    register_implementation("noappend", MemoryPath, clobber=True)
    attach("noappend", fs=NoAppendFileSystem())
    uri = "noappend://bucket/run/send.jsonl"
    sandbox.set_fault("drop", vendor="mailgrid", path="/send", count=1)
    op = MailGridSendEmailOperator(task_id="send", to=addresses(150), subject="s", html="x", results_path=uri)
    assert ResultsLog(uri).appendable is False
    with pytest.raises(SendIncompleteError):
        run(op)
    with pytest.raises(SendIncompleteError, match="50 sent"):
        run(
            MailGridSendEmailOperator(
                task_id="send", to=addresses(150), subject="s", html="x", results_path=uri
            ),
            try_number=2,
        )
    lines = ResultsLog(uri).read()
    assert [line["outcome"] for line in lines].count("attempt") == 150
    assert [line["outcome"] for line in lines].count("sent") == 50
    assert [line["outcome"] for line in lines].count("unknown") == 100


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
