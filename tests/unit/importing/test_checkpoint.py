"""Import checkpoints in the task state store (Airflow 3.3), with the in-memory store double.

A killed worker is :class:`WorkerKilled` raised by a unit after it reached the platform (the engine does not
catch a ``BaseException``; its answer is lost, so the unit is not recorded); the retry is a new operator over
the same store, as a retry on another worker would be.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError
from airflow_provider_emailbr.importing.checkpoint import (
    KIND,
    VERSION,
    ImportCheckpoint,
    batch_digest,
    chain_digest,
    to_ranges,
)
from airflow_provider_emailbr.importing.engine import ContactOutcome, ImportBatch
from airflow_provider_emailbr.importing.rows import Contact
from airflow_provider_emailbr.utils.state_store import TaskState
from tests.helpers import FakeTaskStateStore, context
from tests.unit.importing.test_engine import RecordingImport, rows

KEY = "emailbr.import.checkpoint"


class WorkerKilled(BaseException):
    """The worker died after a unit reached the platform."""


class KilledImport(RecordingImport):
    """Sends units of 2 contacts, ``in_flight`` at a time; the unit carrying ``kill_on`` reaches the
    platform, then the worker dies (its answer is lost)."""

    def __init__(self, *, kill_on: str | None = None, in_flight: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_on = kill_on
        self.in_flight = in_flight

    @property
    def max_in_flight(self) -> int:
        return self.in_flight

    def send_unit(self, unit: list[Contact]) -> list[ContactOutcome]:
        outcomes = super().send_unit(unit)
        if self.kill_on in [c.email for c in unit]:
            raise WorkerKilled
        return outcomes


def emails(*numbers: int) -> list[str]:
    return [f"c{i}@exemplo.com.br" for i in numbers]


def stored(store: FakeTaskStateStore) -> dict[str, Any]:
    """The checkpoint's value (inside its envelope)."""
    envelope = json.loads(store.values[KEY])
    assert envelope["emailbr"] == KIND and envelope["v"] == VERSION
    return envelope["data"]


def killed_at_c10(store: FakeTaskStateStore) -> None:
    """16 contacts in batches of 8 (4 units of 2 each); the worker dies on the unit of c10 (batch 1, unit 1)."""
    with pytest.raises(WorkerKilled):
        KilledImport(contacts=rows(16), batch_size=8, kill_on="c10@exemplo.com.br").execute(
            context(task_state_store=store)
        )


def test_a_retry_after_a_kill_sends_exactly_the_units_not_recorded():
    store = FakeTaskStateStore()
    data = rows(40)  # 10 batches of 4, each sent in 2 units of 2
    first = KilledImport(contacts=data, batch_size=4, kill_on="c22@exemplo.com.br")
    with pytest.raises(WorkerKilled):
        first.execute(context(task_state_store=store))
    checkpoint = stored(store)
    # batches 0-4 whole; of batch 5, unit 0 (c20, c21); unit 1 (c22, c23) reached the platform, answer lost
    assert checkpoint["batches"] == 5
    assert [(b["batch"], b["done"]) for b in checkpoint["open"]] == [(5, [[0, 1]])]
    assert store.writes == 11  # one write per answer (one unit at a time: nothing to coalesce)

    retry = KilledImport(contacts=data, batch_size=4)
    summary = retry.execute(context(2, task_state_store=store))
    assert [e for unit in retry.units for e in unit] == emails(*range(22, 40))
    assert summary["sent"] == 18
    assert KEY not in store.values  # a finished import forgets its checkpoint: a clear imports again


def test_recorded_units_with_gaps_are_skipped_and_the_others_sent():
    store = FakeTaskStateStore()
    killed_at_c10(store)
    checkpoint = stored(store)
    assert checkpoint["batches"] == 1 and checkpoint["open"][0]["done"] == [[0, 1]]
    # answers that came out of order: units 0 and 2 of batch 1 recorded, 1 and 3 not
    checkpoint["open"][0].update(done=[[0, 1], [2, 3]], units=4)
    store.values[KEY] = json.dumps({"emailbr": KIND, "v": VERSION, "data": checkpoint})

    retry = KilledImport(contacts=rows(16), batch_size=8)
    retry.execute(context(2, task_state_store=store))
    assert retry.units == [emails(10, 11), emails(14, 15)]


def test_the_recorder_records_answers_out_of_order_and_folds_complete_batches():
    store = FakeTaskStateStore()
    checkpoint = ImportCheckpoint(
        TaskState(store, namespace="import"), seed={"platform": "Teste"}, log=logging.getLogger("t")
    )
    batches = [
        ImportBatch(
            n, 3 * n + 3, [Contact(3 * n + i + 1, f"c{3 * n + i}@exemplo.com.br", {}) for i in range(3)]
        )
        for n in range(2)
    ]
    with checkpoint.recorder(max_in_doubt=3) as recorder:
        for batch in batches:
            recorder.begin(batch)
        recorder.planned(batches[0], 3)
        for unit in ((0, 2), (1, 0)):
            assert recorder.reserve()
            recorder.done(unit)
        wait_for(lambda: recorder.recorded == 2)
        value = stored(store)
        assert value["batches"] == 0 and value["digest"] == ""
        assert [(b["batch"], b["units"], b["done"]) for b in value["open"]] == [
            (0, 3, [[2, 3]]),
            (1, None, [[0, 1]]),
        ]
        for unit in ((0, 0), (0, 1)):
            assert recorder.reserve()
            recorder.done(unit)
        wait_for(lambda: recorder.recorded == 4)
    value = stored(store)
    assert value["batches"] == 1 and value["digest"] == chain_digest("", batch_digest(batches[0]))
    assert value["open"] == [
        {"batch": 1, "digest": batch_digest(batches[1]), "units": None, "done": [[0, 1]]}
    ]
    assert store.writes == recorder.writes <= 4


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a generous bound: it fails only if the writer never writes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the checkpoint writer did not write"
        time.sleep(0.005)


def test_to_ranges():
    assert to_ranges([]) == []
    assert to_ranges({5, 0, 1, 2}) == [[0, 3], [5, 6]]


class SlowStore(FakeTaskStateStore):
    """A store whose writes take a while (the writer lags behind answers that come at once)."""

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        time.sleep(0.003)
        super().set(key, value, retention=retention)


def durable_units(store: FakeTaskStateStore, units_per_batch: int) -> int:
    """Units recorded in the store's checkpoint (every batch of the test has ``units_per_batch``)."""
    if KEY not in store.values:
        return 0
    value = json.loads(store.values[KEY])["data"]
    return value["batches"] * units_per_batch + sum(
        end - start for batch in value["open"] for start, end in batch["done"]
    )


class WatchedImport(KilledImport):
    """Checks, as each unit starts, that at most ``max_in_doubt`` started units lack a durable record."""

    def __init__(self, *, store: FakeTaskStateStore, in_doubt: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.in_doubt = in_doubt
        self.lock = threading.Lock()
        self.started = 0
        self.worst = 0

    @property
    def max_in_doubt(self) -> int:
        return self.in_doubt or self.max_in_flight

    def send_unit(self, unit: list[Contact]) -> list[ContactOutcome]:
        with self.lock:
            self.started += 1
            self.worst = max(self.worst, self.started - durable_units(self.store, 2))
        return super().send_unit(unit)


@pytest.mark.parametrize(("in_flight", "in_doubt"), [(3, None), (3, 1), (1, None)])
def test_no_unit_is_dispatched_while_max_in_doubt_earlier_units_lack_a_durable_record(in_flight, in_doubt):
    store = SlowStore()
    op = WatchedImport(contacts=rows(120), batch_size=4, store=store, in_flight=in_flight, in_doubt=in_doubt)
    op.execute(context(task_state_store=store))
    bound = in_doubt or in_flight
    # without the gate the units (answered at once) would run far ahead of the 3 ms writes
    assert 1 <= op.worst <= bound
    assert len(op.units) == 60 and store.writes <= 60  # at most one write per answer
    assert KEY not in store.values


def test_a_changed_source_or_target_starts_afresh_and_sends_everything(capsys):
    store = FakeTaskStateStore()
    first = KilledImport(contacts=rows(12), batch_size=4, kill_on="c9@exemplo.com.br")
    with pytest.raises(WorkerKilled):
        first.execute(context(task_state_store=store))
    assert stored(store)["batches"] == 2

    changed = [{"email": "novo@exemplo.com.br", "nome": "N"}, *rows(12)[1:]]  # batch 0 differs now
    retry = KilledImport(contacts=changed, batch_size=4)
    retry.execute(context(2, task_state_store=store))
    assert len({e for unit in retry.units for e in unit}) == 12  # nothing skipped on a guess
    assert "does not match the staged source" in capsys.readouterr().out

    killed_at_c10(store)
    changed = [*rows(9), {"email": "c9@exemplo.com.br", "nome": "Outro"}, *rows(6, 10)]  # batch 1 differs
    retry = KilledImport(contacts=changed, batch_size=8)
    retry.execute(context(2, task_state_store=store))
    assert len({e for unit in retry.units for e in unit}) == 16

    killed_at_c10(store)
    shrunk = KilledImport(contacts=rows(8), batch_size=8)  # batch 1, in progress, is gone from the source
    shrunk.execute(context(2, task_state_store=store))
    assert len(shrunk.units) == 4

    with pytest.raises(WorkerKilled):
        KilledImport(contacts=rows(12), batch_size=4, kill_on="c9@exemplo.com.br").execute(
            context(task_state_store=store)
        )
    other_size = KilledImport(contacts=rows(12), batch_size=3)  # the seed differs
    other_size.execute(context(2, task_state_store=store))
    assert len({e for unit in other_size.units for e in unit}) == 12
    assert "for another target, batch_size or split into requests" in capsys.readouterr().out


def test_a_checkpoint_of_the_earlier_format_is_ignored_with_a_warning(capsys):
    store = FakeTaskStateStore()
    store.values[KEY] = json.dumps(
        {"emailbr": KIND, "v": 1, "data": {"seed": "{}", "batches": 2, "digest": "x"}}
    )
    op = KilledImport(contacts=rows(8), batch_size=2)
    op.execute(context(2, task_state_store=store))
    assert len(op.units) == 4
    assert "earlier provider version" in capsys.readouterr().out


def test_an_unreadable_store_or_a_foreign_or_corrupt_checkpoint_fails_before_any_request():
    op = KilledImport(contacts=rows(4), batch_size=2)
    with pytest.raises(EmailBRStateStoreError, match="could not be read"):
        op.execute(context(task_state_store=FakeTaskStateStore(fail_on=("get",))))
    assert op.units == []

    store = FakeTaskStateStore()
    store.values[KEY] = json.dumps({"emailbr": "send-ledger", "v": 1, "data": {}})
    with pytest.raises(EmailBRStateCorruptError, match="emailbr.import.checkpoint"):
        op.execute(context(task_state_store=store))
    store.values[KEY] = json.dumps({"emailbr": KIND, "v": 3, "data": {}})
    with pytest.raises(EmailBRStateCorruptError, match="version 2"):
        op.execute(context(task_state_store=store))
    good = {"seed": "{}", "batches": 1, "digest": "d", "open": []}
    entry = {"batch": 2, "digest": "e", "units": 4, "done": [[0, 1], [2, 3]]}
    for data in (
        {**good, "batches": "três"},
        {**good, "batches": True},
        {**good, "open": None},
        {**good, "digest": None},
        {**good, "open": [{**entry, "batch": 0}]},  # inside the prefix
        {**good, "open": [{**entry, "done": []}]},
        {**good, "open": [{**entry, "done": [[1, 1]]}]},
        {**good, "open": [{**entry, "done": [[0, 2], [1, 3]]}]},  # overlapping
        {**good, "open": [{**entry, "done": [[0, 5]]}]},  # more units than the batch has
        {**good, "open": [{**entry, "units": 0}]},
        {**good, "open": [entry, entry]},
        ["not", "an", "object"],
    ):
        store.values[KEY] = json.dumps({"emailbr": KIND, "v": VERSION, "data": data})
        with pytest.raises(EmailBRStateCorruptError, match="not a readable import checkpoint"):
            op.execute(context(task_state_store=store))
    assert op.units == []


def test_a_store_that_cannot_be_written_stops_the_import_after_the_first_unit():
    op = KilledImport(contacts=rows(8), batch_size=2)
    with pytest.raises(EmailBRStateStoreError, match="could not be written"):
        op.execute(context(task_state_store=FakeTaskStateStore(fail_on=("set",))))
    assert len(op.units) == 1  # no further unit goes out without its predecessor recorded


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
