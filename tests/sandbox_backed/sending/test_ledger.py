"""The results ledger on object storage without append, against the sandbox: rewritten whole, never a resend."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator
from airflow_provider_emailbr.operators.send import SendIncompleteError
from airflow_provider_emailbr.sending.ledger import ResultsLog
from tests.unit.sending.support import addresses, run


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
