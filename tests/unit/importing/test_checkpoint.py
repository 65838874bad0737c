"""Import checkpoints in the task state store (Airflow 3.3), with the in-memory store double.

A killed worker is :class:`WorkerKilled` raised by a unit after it reached the platform (the engine does not
catch a ``BaseException``, like a SIGKILL it leaves nothing behind); the retry is a new operator over the
same store, as a retry on another worker would be.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError
from airflow_provider_emailbr.importing.checkpoint import KIND
from airflow_provider_emailbr.importing.engine import ContactOutcome
from airflow_provider_emailbr.importing.rows import Contact
from tests.helpers import FakeTaskStateStore, context
from tests.unit.importing.test_engine import RecordingImport, rows

KEY = "emailbr.import.checkpoint"


class WorkerKilled(BaseException):
    """The worker died after a unit reached the platform."""


class KilledImport(RecordingImport):
    """Sends units of 2 contacts; the unit carrying ``kill_on`` reaches the platform, then the worker dies."""

    def __init__(self, *, kill_on: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_on = kill_on

    @property
    def max_in_flight(self) -> int:
        return 1

    def send_unit(self, unit: list[Contact]) -> list[ContactOutcome]:
        outcomes = super().send_unit(unit)
        if self.kill_on in [c.email for c in unit]:
            raise WorkerKilled
        return outcomes


def test_a_retry_after_a_kill_resumes_after_the_last_confirmed_batch():
    store = FakeTaskStateStore()
    data = rows(40)  # 10 batches of 4, each sent in 2 units of 2
    first = KilledImport(contacts=data, batch_size=4, kill_on="c22@exemplo.com.br")
    with pytest.raises(WorkerKilled):
        first.execute(context(task_state_store=store))
    stored = json.loads(store.values[KEY])
    assert stored["emailbr"] == KIND and stored["data"]["batches"] == 5  # batches 0-4 confirmed; 5 killed

    retry = KilledImport(contacts=data, batch_size=4)
    summary = retry.execute(context(2, task_state_store=store))
    resent = [e for unit in retry.units for e in unit]
    assert resent == [f"c{i}@exemplo.com.br" for i in range(20, 40)]  # batch 5 (in flight) and after
    remaining_batches = 10 - 5
    assert len(retry.units) <= 2 * (remaining_batches + 1)  # requests ≤ remaining batches (+ the killed)
    assert summary["sent"] == 20
    assert KEY not in store.values  # a finished import forgets its checkpoint: a clear imports again


def test_a_changed_source_or_target_starts_afresh_and_sends_everything():
    store = FakeTaskStateStore()
    first = KilledImport(contacts=rows(12), batch_size=4, kill_on="c9@exemplo.com.br")
    with pytest.raises(WorkerKilled):
        first.execute(context(task_state_store=store))
    assert json.loads(store.values[KEY])["data"]["batches"] == 2

    changed = [{"email": "novo@exemplo.com.br", "nome": "N"}, *rows(12)[1:]]  # batch 0 differs now
    retry = KilledImport(contacts=changed, batch_size=4)
    retry.execute(context(2, task_state_store=store))
    assert len({e for unit in retry.units for e in unit}) == 12  # nothing skipped on a guess

    with pytest.raises(WorkerKilled):
        KilledImport(contacts=rows(12), batch_size=4, kill_on="c9@exemplo.com.br").execute(
            context(task_state_store=store)
        )
    other_size = KilledImport(contacts=rows(12), batch_size=3)
    other_size.execute(context(2, task_state_store=store))
    assert len({e for unit in other_size.units for e in unit}) == 12


def test_an_unreadable_store_or_a_foreign_checkpoint_fails_before_any_request():
    op = KilledImport(contacts=rows(4), batch_size=2)
    with pytest.raises(EmailBRStateStoreError, match="could not be read"):
        op.execute(context(task_state_store=FakeTaskStateStore(fail_on=("get",))))
    assert op.units == []

    store = FakeTaskStateStore()
    store.values[KEY] = json.dumps({"emailbr": "send-ledger", "v": 1, "data": {}})
    with pytest.raises(EmailBRStateCorruptError, match="emailbr.import.checkpoint"):
        op.execute(context(task_state_store=store))
    store.values[KEY] = json.dumps({"emailbr": KIND, "v": 1, "data": {"batches": "três"}})
    with pytest.raises(EmailBRStateCorruptError, match="not a readable import checkpoint"):
        op.execute(context(task_state_store=store))
    assert op.units == []


def test_a_store_that_cannot_be_written_stops_the_import_after_the_first_batch():
    op = KilledImport(contacts=rows(8), batch_size=2)
    with pytest.raises(EmailBRStateStoreError, match="could not be written"):
        op.execute(context(task_state_store=FakeTaskStateStore(fail_on=("set",))))
    assert len(op.units) == 1  # no further batch goes out without its predecessor checkpointed


def test_without_a_store_or_durable_off_a_retry_starts_over_as_on_32():
    for ctx, durable in ((context(2), True), (context(2, task_state_store=FakeTaskStateStore()), False)):
        first = KilledImport(contacts=rows(8), batch_size=2, kill_on="c5@exemplo.com.br", durable=durable)
        with pytest.raises(WorkerKilled):
            first.execute(ctx)
        retry = KilledImport(contacts=rows(8), batch_size=2, durable=durable)
        retry.execute(ctx)
        assert retry.units[0][0] == "c0@exemplo.com.br"
        assert len(retry.units) == 4
    assert not ctx["task_state_store"].values


def test_a_dry_run_neither_reads_nor_writes_the_checkpoint():
    store = FakeTaskStateStore(fail_on=("get", "set"))
    summary = KilledImport(contacts=rows(4), dry_run=True).execute(context(task_state_store=store))
    assert summary["dry_run"] is True and store.writes == 0
