"""The durable send ledger (Airflow 3.3's task state store) with the in-memory store double.

A transport-free plan stands in for a vendor: it "delivers" each call into a list, so every test asserts on
what went out. A killed worker is :class:`WorkerKilled`, which the engine does not catch (like SIGKILL, it
leaves no outcome behind); a "retry" is a new engine over the same store with the next try number.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError
from airflow_provider_emailbr.sending.base import SendPlan
from airflow_provider_emailbr.sending.engine import SendEngine, SendResult, WindowSizer
from airflow_provider_emailbr.sending.ledger import (
    STATE_KIND,
    STATE_NAMESPACE,
    ExportedLedger,
    ResultsLog,
    RunIdentity,
    StateLedger,
    item_digest,
    open_ledger,
)
from airflow_provider_emailbr.sending.model import ATTEMPT, SENT, SendItem
from airflow_provider_emailbr.utils.state_store import MAX_CHUNK_CHARS, TaskState
from tests.helpers import FakeTaskStateStore, context, read_jsonl


class WorkerKilled(BaseException):
    """The worker died mid-request: nothing after the request runs (the engine only catches ``Exception``)."""


class RecordingPlan(SendPlan):
    """``n`` one-recipient items in calls of ``per_call``; each call is delivered into ``delivered``.

    ``kill_at``: the call number (0-based, counted over the plan's life) that is delivered and then kills
    the worker. ``store``: the task state store whose intents are checked before each call goes out.
    """

    vendor = "Test"

    def __init__(self, n: int, *, per_call: int = 1, store: FakeTaskStateStore | None = None) -> None:
        self.items = [SendItem(f"to:p{i}@exemplo.com.br", f"p{i}", data=i) for i in range(n)]
        self.per_call = per_call
        self.store = store
        self.delivered: list[str] = []
        self.calls = 0
        self.kill_at: int | None = None
        self.intent_missing: list[str] = []

    def groups(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        for start in range(0, len(pending), self.per_call):
            yield pending[start : start + self.per_call]

    def body(self, group: list[SendItem]) -> Any:
        return [i.key for i in group]

    def call(self, hook: Any, body: Any) -> Any:
        if self.store is not None:  # the intent must be durable before the request goes out
            latest = StateLedger(TaskState(self.store, namespace=STATE_NAMESPACE)).latest(IDENTITY)
            self.intent_missing += [
                k for k in body if latest.get(item_digest(k), {}).get("outcome") != ATTEMPT
            ]
        self.delivered.extend(body)
        number = self.calls
        self.calls += 1
        if number == self.kill_at:
            raise WorkerKilled
        return [{"id": f"m-{k[4 : k.index('@')]}", "status": "ok"} for k in body]

    async def acall(self, hook: Any, body: Any) -> Any:  # pragma: no cover - not used by the engine
        return self.call(hook, body)

    def read(self, group: list[SendItem], answer: Any) -> list[dict[str, Any]]:
        return [{**self.blank(i), **a, "outcome": SENT} for i, a in zip(group, answer, strict=True)]

    def blank(self, item: SendItem) -> dict[str, Any]:
        return {"to": item.key[3:], "id": None}


IDENTITY = RunIdentity("send_dag", "send", "manual__1")


class ThreadSafeHook:
    """What the engine reads from a hook before sharing it between threads (``concurrency`` > 1)."""

    settings = session = None

    def with_options(self, **options: Any) -> ThreadSafeHook:
        return self


def engine(
    plan: RecordingPlan, store: FakeTaskStateStore, *, try_number: int = 1, **kwargs: Any
) -> SendEngine:
    state = TaskState(store, namespace=STATE_NAMESPACE)
    return SendEngine(
        plan,
        hook=ThreadSafeHook(),
        identity=IDENTITY._replace(try_number=try_number),
        ledger=StateLedger(state),
        **kwargs,
    )


def test_intents_are_durable_before_each_request_and_outcomes_coalesced(monkeypatch):
    monkeypatch.setattr(WindowSizer, "size", lambda self, done: 10)  # windows of 10 requests
    store = FakeTaskStateStore()
    plan = RecordingPlan(30, store=store)
    result = engine(plan, store).run()
    assert plan.intent_missing == []
    assert len(result.tally.sent_now) == 30
    assert store.writes == 4  # 3 windows (each with the outcomes so far) and the last outcomes
    stored = StateLedger(TaskState(store, namespace=STATE_NAMESPACE)).latest(IDENTITY)
    assert {r["outcome"] for r in stored.values()} == {SENT}
    assert stored[item_digest("to:p7@exemplo.com.br")] == {"outcome": SENT, "try_number": 1}


def test_window_sizer_keeps_writes_under_their_share_within_the_bounds(monkeypatch):
    import airflow_provider_emailbr.sending.engine as engine_module

    now = [100.0]
    monkeypatch.setattr(engine_module.time, "monotonic", lambda: now[0])
    sizer = WindowSizer(slots=2)
    assert sizer.size(0) == 2  # nothing measured yet: the requests in flight
    sizer.wrote(0.025)
    now[0] += 1.0  # 50 requests in 1 s: 20 ms each
    assert sizer.size(50) == 42  # 25 ms / (3 % of 20 ms) = 41.7 requests per write
    now[0] += 99.0  # 50 requests in 100 s: 2 s each
    assert sizer.size(50) == 2  # never more than 2 s of sending per window, never fewer than in flight
    fast = WindowSizer(slots=1)
    fast.wrote(1.0)
    now[0] += 0.001
    assert fast.size(1000) == engine_module.MAX_WINDOW_REQUESTS


def test_store_keeps_no_addresses_and_wraps_every_chunk_in_an_envelope():
    store = FakeTaskStateStore()
    engine(RecordingPlan(5), store).run()
    assert not any("@" in value for value in store.values.values())
    chunk = json.loads(store.values["emailbr.send.log.0"])
    assert chunk["emailbr"] == STATE_KIND and chunk["v"] == 1 and chunk["data"]["n"] == 0
    entries = chunk["data"]["entries"]
    # the intent records the lag in force ("l": one call in flight, windows of one request)
    assert entries[0] == {"t": 1, "o": ATTEMPT, "q": 0, "l": 1, "k": [item_digest("to:p0@exemplo.com.br")]}
    # a request whose items all ended alike is recorded by its number, without naming them again
    assert {"t": 1, "o": SENT, "q": 0} in entries
    assert all("k" not in e for e in entries if e["o"] != ATTEMPT)


def test_a_request_with_mixed_outcomes_names_its_items_and_keeps_a_short_error():
    class RefusesOdd(RecordingPlan):
        def read(self, group: list[SendItem], answer: Any) -> list[dict[str, Any]]:
            return [
                {**self.blank(i), "outcome": "refused", "error": "recusado " + "x" * 300}
                if i.data % 2
                else {**self.blank(i), "outcome": SENT}
                for i in group
            ]

    store = FakeTaskStateStore()
    engine(RefusesOdd(4, per_call=4), store).run()
    entries = json.loads(store.values["emailbr.send.log.0"])["data"]["entries"]
    refused = next(e for e in entries if e["o"] == "refused")
    assert refused["k"] == [item_digest(f"to:p{i}@exemplo.com.br") for i in (1, 3)]
    assert refused["e"].startswith("recusado x") and len(refused["e"]) == 160
    retry = RecordingPlan(4)
    engine(retry, store, try_number=2).run()
    assert retry.delivered == ["to:p1@exemplo.com.br", "to:p3@exemplo.com.br"]  # refused: sent again


def test_worker_killed_after_a_request_retry_sends_nothing_of_its_window_and_reports_it_unknown():
    store = FakeTaskStateStore()
    plan = RecordingPlan(40, per_call=2, store=store)
    plan.kill_at = 3
    with pytest.raises(WorkerKilled):
        engine(plan, store).run()
    delivered_before = list(plan.delivered)
    stored = StateLedger(TaskState(store, namespace=STATE_NAMESPACE)).latest(IDENTITY)
    unknown_keys = {d for d, r in stored.items() if r["outcome"] == ATTEMPT}
    assert {item_digest(k) for k in delivered_before[-2:]} <= unknown_keys  # the killed call's items

    retry = RecordingPlan(40, per_call=2, store=store)
    result = engine(retry, store, try_number=2).run()

    assert retry.intent_missing == []
    assert not set(retry.delivered) & set(delivered_before)  # nothing that may have gone out is re-sent
    assert not {item_digest(k) for k in retry.delivered} & unknown_keys
    everything = Counter(delivered_before + retry.delivered)
    assert set(everything.values()) == {1}
    assert len(result.tally.unknown) == len(unknown_keys)
    assert result.failed(fail_on_partial=True)
    summary = result.summary(failed=True, markable=False)
    assert "NOT re-sent automatically" in summary and "resend_unknown=True" in summary
    assert "mark_send_results" not in summary
    # every item is accounted for: sent once, or unknown (never both, never neither)
    unknown_labels = {i.key for i, _ in result.tally.unknown}
    sent_keys = {i.key for i in result.tally.sent_now + result.tally.sent_before}
    assert not unknown_labels & sent_keys and len(unknown_labels | sent_keys) == 40
    assert set(everything) <= unknown_labels | sent_keys


def test_third_try_after_the_kill_sends_nothing_and_resend_unknown_sends_only_the_unknown():
    store = FakeTaskStateStore()
    plan = RecordingPlan(10, store=store)
    plan.kill_at = 4
    with pytest.raises(WorkerKilled):
        engine(plan, store).run()
    engine(RecordingPlan(10), store, try_number=2).run()
    third = RecordingPlan(10)
    result = engine(third, store, try_number=3).run()
    assert third.delivered == []
    unknown = {i.key for i, _ in result.tally.unknown}
    assert unknown and len(result.tally.sent_before) == 10 - len(unknown)

    forced = RecordingPlan(10)
    forced_result = engine(forced, store, try_number=4, resend_unknown=True).run()
    assert set(forced.delivered) == unknown
    assert forced_result.sent == 10 and not forced_result.tally.unknown


def test_a_stopped_try_records_its_unsent_window_as_not_sent_so_the_retry_sends_it():
    class StopsAfterTwo(RecordingPlan):
        def send(self, hook: Any, group: list[SendItem]) -> Any:
            records, _ = super().send(hook, group)
            return records, ("the platform could not be reached" if self.calls == 2 else None)

    store = FakeTaskStateStore()
    first = StopsAfterTwo(6, store=store)
    first.calls = 0
    result = engine(first, store, concurrency=1).run()
    assert first.delivered == ["to:p0@exemplo.com.br", "to:p1@exemplo.com.br"]
    assert len(result.tally.not_attempted) == 4
    retry = RecordingPlan(6, store=store)
    again = engine(retry, store, try_number=2).run()
    assert retry.delivered == [f"to:p{i}@exemplo.com.br" for i in range(2, 6)]
    assert again.sent == 6 and not again.failed(fail_on_partial=True)


def test_a_100000_message_send_keeps_every_value_bounded_and_is_read_back_whole():
    store = FakeTaskStateStore()
    plan = RecordingPlan(100_000, per_call=500)
    result = engine(plan, store, concurrency=4).run()
    assert result.sent == 100_000
    assert max(len(v) for v in store.values.values()) < MAX_CHUNK_CHARS + 200
    windows = 100_000 // (500 * 4)  # at least one window per four requests in flight
    assert store.writes <= windows + len(store.values) + 1  # one write per window, plus chunk roll-overs
    retry = RecordingPlan(100_000, per_call=500)
    again = engine(retry, store, try_number=2).run()
    assert retry.delivered == [] and len(again.tally.sent_before) == 100_000


def test_an_unreachable_store_fails_before_anything_is_sent():
    for failing in ("get", "set"):
        store = FakeTaskStateStore(fail_on=(failing,))
        plan = RecordingPlan(3)
        with pytest.raises(EmailBRStateStoreError, match="task state store could not be"):
            engine(plan, store).run()
        assert plan.delivered == []


@pytest.mark.parametrize(
    "stored",
    [
        {"emailbr": "campaign", "v": 1, "data": {}},  # a foreign entry under our key
        {"emailbr": STATE_KIND, "v": 9, "data": {"n": 0, "entries": []}},  # a future version
        {"emailbr": STATE_KIND, "v": 1, "data": {"n": 3, "entries": []}},  # the wrong chunk
        {"emailbr": STATE_KIND, "v": 1, "data": {"n": 0, "entries": [{"nonsense": 1}]}},
        "not an envelope",
    ],
)
def test_a_corrupt_or_foreign_entry_is_a_clear_error_and_nothing_is_sent(stored):
    store = FakeTaskStateStore()
    store.values["emailbr.send.log.0"] = json.dumps(stored)
    plan = RecordingPlan(3)
    with pytest.raises(EmailBRStateCorruptError, match="emailbr.send|not readable"):
        engine(plan, store).run()
    assert plan.delivered == []


def test_open_ledger_picks_the_store_on_33_and_the_results_file_on_the_32_floor(tmp_path):
    state = TaskState(FakeTaskStateStore(), namespace=STATE_NAMESPACE)
    assert isinstance(open_ledger(None, state=state), StateLedger)
    assert isinstance(open_ledger(tmp_path / "r.jsonl", state=state), ExportedLedger)
    assert isinstance(open_ledger(tmp_path / "r.jsonl", state=None), ResultsLog)
    assert open_ledger(None, state=None) is None


def test_results_file_export_keeps_its_wire_format_and_manual_marks_win(tmp_path):
    store = FakeTaskStateStore()
    path = tmp_path / "results.jsonl"
    state = TaskState(store, namespace=STATE_NAMESPACE)
    plan = RecordingPlan(3)
    plan.kill_at = 1
    ledger = ExportedLedger(StateLedger(state), ResultsLog(path))
    with pytest.raises(WorkerKilled):
        SendEngine(plan, None, identity=IDENTITY, ledger=ledger).run()
    lines = read_jsonl(path)
    assert set(lines[0]) == {"key", "dag_id", "task_id", "run_id", "map_index", "try_number", "at", "outcome"}
    latest = {line["key"]: line["outcome"] for line in lines}
    assert lines[0]["outcome"] == ATTEMPT and latest["to:p0@exemplo.com.br"] == SENT
    assert latest["to:p1@exemplo.com.br"] == ATTEMPT  # killed after its request: no outcome line

    from airflow_provider_emailbr.sending.ledger import mark_send_results

    marked = mark_send_results(path, dag_id="send_dag", task_id="send", run_id="manual__1", outcome="sent")
    assert "to:p1@exemplo.com.br" in marked and "to:p0@exemplo.com.br" not in marked
    retry = RecordingPlan(3)
    result: SendResult = SendEngine(
        retry,
        None,
        identity=IDENTITY._replace(try_number=2),
        ledger=ExportedLedger(StateLedger(state), ResultsLog(path)),
    ).run()
    assert not set(retry.delivered) & set(
        plan.delivered
    )  # marked sent: skipped although the store said unknown
    assert result.sent == 3 and not result.tally.unknown


def test_durable_off_or_no_store_keeps_the_32_retry_refusal():
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator

    floor = EnvieEmailSendOperator(task_id="send", to="a@exemplo.com.br", subject="s", html="x")
    with pytest.raises(AirflowFailException, match="no results_path records what went out"):
        floor.execute(context(2))  # Airflow 3.2: no task_state_store in the context
    opted_out = EnvieEmailSendOperator(task_id="send", to="a@x.com", subject="s", html="x", durable=False)
    with pytest.raises(AirflowFailException, match="no results_path records what went out"):
        opted_out.execute(context(2, task_state_store=FakeTaskStateStore()))
    assert isinstance(floor.open_ledger(context(1, task_state_store=FakeTaskStateStore())), StateLedger)
    assert opted_out.open_ledger(context(1, task_state_store=FakeTaskStateStore())) is None
    with_file = EnvieEmailSendOperator(
        task_id="send", to="a@x.com", subject="s", html="x", results_path="/tmp/r.jsonl"
    )
    ledger = with_file.open_ledger(context(2))  # 3.2: the results file is the ledger, as before
    assert isinstance(ledger, ResultsLog) and ledger.coalesce is False
