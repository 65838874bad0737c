"""The lag rule of the durable send ledger, the inference it allows on read, and the resolution key.

Request ``q`` of a try goes out only once the outcomes of every request ``r < q - L`` are durable
(``_LagGate``); a retry reading the ledger therefore infers that a request beyond the lag of a missing
outcome never left, so a killed worker leaves at most ``L + 1`` requests ``unknown``. What remains is
resolved by a person through the task state store key ``emailbr.send.resolution``.

A killed worker is simulated by :class:`Killswitch`: at its ``at``-th event (a ledger write or a vendor
call, counted together) the worker dies; from then on the store drops every write (never durable) and no
call goes out. A call that is the killing event is delivered first (the request left, the answer is lost).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.engine import WindowSizer
from airflow_provider_emailbr.sending.ledger import (
    NEVER_LEFT,
    STATE_KIND,
    STATE_NAMESPACE,
    StateLedger,
    effective_outcome,
    item_digest,
)
from airflow_provider_emailbr.sending.model import ATTEMPT, NOT_SENT, REFUSED, SENT, UNKNOWN
from airflow_provider_emailbr.utils.state_store import ChunkedLog, TaskState
from tests.helpers import FakeTaskStateStore
from tests.unit.sending.test_durable import IDENTITY, RecordingPlan, WorkerKilled, engine

RESOLUTION = "emailbr.send.resolution"


def address(i: int) -> str:
    """The key of item ``i`` of a :class:`RecordingPlan`."""
    return f"to:p{i}@exemplo.com.br"


def entries(store: FakeTaskStateStore) -> list[dict[str, Any]]:
    """The send ledger's raw entries, oldest first."""
    return ChunkedLog(TaskState(store, namespace=STATE_NAMESPACE), "log", kind=STATE_KIND).read()


def latest(store: FakeTaskStateStore) -> dict[str, dict[str, Any]]:
    """What a retry reads back (with the inference), by item digest."""
    return StateLedger(TaskState(store, namespace=STATE_NAMESPACE)).latest(IDENTITY)


def fixed_windows(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Windows of ``size`` requests (the lag is then the calls in flight + ``size`` - 1)."""
    monkeypatch.setattr(WindowSizer, "size", lambda self, done: size)


# -- the gate ----------------------------------------------------------------------------------------------
def test_the_gate_holds_request_q_until_outcomes_before_q_minus_l_are_durable_and_never_deadlocks(
    monkeypatch,
):
    fixed_windows(monkeypatch, 2)
    slots, lag = 4, 4 + 2 - 1
    store = FakeTaskStateStore()
    release = threading.Event()
    violations: list[str] = []
    dispatched: list[int] = []

    class SlowSecondRequest(RecordingPlan):
        def call(self, hook: Any, body: Any) -> Any:
            request = int(body[0][4 : body[0].index("@")])  # one item per call, numbered as requests
            dispatched.append(request)
            durable = latest(store)
            violations.extend(
                f"{request} went out before {r}'s outcome was durable"
                for r in range(request - lag)
                if durable.get(item_digest(address(r)), {}).get("outcome") != SENT
            )
            if request == 2:
                release.wait(10)
            return super().call(hook, body)

    plan = SlowSecondRequest(30)
    sending = threading.Thread(target=lambda: engine(plan, store, concurrency=slots).run())
    sending.start()
    stalled_at = -1
    while stalled_at != len(dispatched):  # until no call went out for 0.3 s
        stalled_at = len(dispatched)
        time.sleep(0.3)
    held = max(dispatched)
    stuck = latest(store)
    release.set()
    sending.join(10)

    assert not sending.is_alive()  # no deadlock: the gate wrote the outcomes it had instead of waiting
    assert violations == []
    assert held == 2 + lag  # request 2 + L went out; 2 + L + 1 needed request 2's outcome
    # the outcomes of the requests after the stuck one were made durable while it was stuck (forced write)
    assert all(stuck[item_digest(address(r))]["outcome"] == SENT for r in range(3, held + 1))
    assert Counter(plan.delivered) == Counter(address(i) for i in range(30))
    assert {e.get("l") for e in entries(store) if e["o"] == ATTEMPT} == {lag}


# -- the inference on read ---------------------------------------------------------------------------------
def test_a_request_beyond_the_lag_of_a_missing_outcome_is_not_sent_and_within_it_unknown():
    store = FakeTaskStateStore()
    ledger = StateLedger(TaskState(store, namespace=STATE_NAMESPACE))
    stamp = {"try_number": 1}
    lines = [{"key": address(q), **stamp, "outcome": ATTEMPT, "request": q, "lag": 2} for q in range(6)]
    lines += [{"key": address(q), **stamp, "outcome": SENT, "request": q} for q in (0, 1, 3)]
    ledger.write(lines)

    read = latest(store)
    outcomes = {q: effective_outcome(read[item_digest(address(q))]) for q in range(6)}
    # request 2 has no outcome: 3 and 4 (q - 2 <= 2) may have gone out, 5 (5 - 2 > 2) was held by the gate
    assert outcomes == {0: SENT, 1: SENT, 2: UNKNOWN, 3: SENT, 4: UNKNOWN, 5: REFUSED}
    assert read[item_digest(address(5))] == {"outcome": NOT_SENT, "try_number": 1, "error": NEVER_LEFT}


def test_an_intent_without_a_lag_is_never_inferred_and_a_later_try_is_judged_on_its_own():
    store = FakeTaskStateStore()
    ledger = StateLedger(TaskState(store, namespace=STATE_NAMESPACE))
    ledger.write([{"key": address(q), "try_number": 1, "outcome": ATTEMPT, "request": q} for q in range(4)])
    assert {effective_outcome(r) for r in latest(store).values()} == {UNKNOWN}  # no "l": no inference
    # try 2 sent request 3's item again and got its answer: try 1's inference never overrides it
    ledger.write(
        [
            {"key": address(3), "try_number": 2, "outcome": ATTEMPT, "request": 0, "lag": 1},
            {"key": address(3), "try_number": 2, "outcome": SENT, "request": 0},
        ]
    )
    assert latest(store)[item_digest(address(3))]["outcome"] == SENT


# -- a kill at any point -----------------------------------------------------------------------------------
class Killswitch:
    """The worker of try 1, dying at its ``at``-th event (see the module docstring)."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.events = 0
        self.dead = False
        self.lock = threading.Lock()

    def event(self) -> str:
        """``alive``, ``dying`` (this event kills the worker) or ``dead``."""
        with self.lock:
            if self.dead:
                return "dead"
            self.events += 1
            if self.events > self.at:
                self.dead = True
                return "dying"
            return "alive"


class DyingStore(FakeTaskStateStore):
    """A task state store whose writes after the kill never became durable."""

    switch: Killswitch | None = None

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if self.switch is not None and self.switch.event() != "alive":
            return
        super().set(key, value, retention=retention)


class DyingPlan(RecordingPlan):
    """Calls of two items; after the kill nothing goes out (the killing call itself was delivered)."""

    def __init__(self, n: int, switch: Killswitch | None) -> None:
        super().__init__(n, per_call=2)
        self.switch = switch

    def call(self, hook: Any, body: Any) -> Any:
        state = self.switch.event() if self.switch is not None else "alive"
        if state == "dead":
            raise WorkerKilled
        answer = super().call(hook, body)
        if state == "dying":
            raise WorkerKilled
        return answer


@pytest.mark.parametrize(("slots", "window"), [(1, 3), (3, 3), (1, 6), (2, 6)])
@pytest.mark.parametrize("kill_at", range(0, 36, 1))
def test_a_kill_at_any_point_leaves_at_most_l_plus_one_requests_unknown_and_resolving_them_sends_each_once(
    monkeypatch, slots, window, kill_at
):
    fixed_windows(monkeypatch, window)
    lag = slots + window - 1
    n = 40  # 20 requests of 2 items
    store = DyingStore()
    store.switch = Killswitch(kill_at)
    first = DyingPlan(n, store.switch)
    with contextlib.suppress(WorkerKilled):
        engine(first, store, concurrency=slots).run()
    store.switch = None

    retry = DyingPlan(n, None)
    second = engine(retry, store, try_number=2, concurrency=slots).run()

    unknown = {item.key for item, _ in second.tally.unknown}
    unknown_requests = {int(k[4 : k.index("@")]) // 2 for k in unknown}
    assert len(unknown_requests) <= lag + 1, (kill_at, sorted(unknown_requests))
    delivered = Counter(first.delivered + retry.delivered)
    assert set(delivered.values()) <= {1}  # nothing twice
    assert set(delivered) | unknown == {address(i) for i in range(n)}  # nothing lost
    assert not set(retry.delivered) & unknown

    # the on-call engineer checks the platform's report and says which unknown items went out
    went_out = sorted(unknown & set(first.delivered))
    never = sorted(unknown - set(first.delivered))
    resolution = [{"outcome": o, "keys": k} for o, k in ((SENT, went_out), (NOT_SENT, never)) if k]
    if resolution:
        store.set(RESOLUTION, resolution)
    resolved = DyingPlan(n, None)
    third = engine(resolved, store, try_number=3, concurrency=slots).run()

    assert sorted(resolved.delivered) == never
    assert Counter(first.delivered + retry.delivered + resolved.delivered) == Counter(
        address(i) for i in range(n)
    )
    assert third.sent == n and not third.tally.unknown and RESOLUTION not in store.values


# -- the resolution key ------------------------------------------------------------------------------------
def killed_send(store: FakeTaskStateStore, n: int = 10, kill_at: int = 4) -> RecordingPlan:
    """Try 1 of ``n`` one-item calls, killed after call ``kill_at`` went out; returns its plan."""
    plan = RecordingPlan(n, store=store)
    plan.kill_at = kill_at
    with pytest.raises(WorkerKilled):
        engine(plan, store).run()
    return plan


def test_a_resolution_is_applied_once_recorded_as_manual_and_deleted(monkeypatch):
    fixed_windows(monkeypatch, 1)  # L = 1
    store = FakeTaskStateStore()
    first = killed_send(store)
    failed = engine(RecordingPlan(10), store, try_number=2).run()
    unknown = [item.key for item, _ in failed.tally.unknown]
    # call 4 was the killed one (its answer lost) and call 5's intent was written (it may have gone out
    # as far as the ledger can tell); calls 6+ never left (inferred): try 2 sent them
    assert unknown == [address(4), address(5)]
    assert [r.get("key") for r in failed.ordered if r["outcome"] == UNKNOWN] == unknown
    assert all("key" not in r for r in failed.ordered if r["outcome"] != UNKNOWN)

    store.set(
        RESOLUTION, [{"outcome": SENT, "keys": [address(4)]}, {"outcome": NOT_SENT, "keys": [address(5)]}]
    )
    third = RecordingPlan(10)
    resolved = engine(third, store, try_number=3).run()
    assert third.delivered == [address(5)] and resolved.sent == 10 and not resolved.tally.unknown
    assert RESOLUTION not in store.values
    manual = [e for e in entries(store) if e.get("r") == "manual"]
    assert manual == [
        {"t": 3, "o": SENT, "k": [item_digest(address(4))], "r": "manual"},
        {"t": 3, "o": NOT_SENT, "k": [item_digest(address(5))], "r": "manual"},
    ]
    assert first.delivered[-1] == address(4)  # what the person saw in the platform's report

    fourth = RecordingPlan(10)
    assert engine(fourth, store, try_number=4).run().sent == 10 and fourth.delivered == []


def test_a_resolution_without_keys_resolves_every_unknown_item_and_a_repeat_is_accepted():
    store = FakeTaskStateStore()
    killed_send(store, kill_at=2)
    failed = engine(RecordingPlan(10), store, try_number=2).run()
    unknown = {item.key for item, _ in failed.tally.unknown}
    store.set(RESOLUTION, {"outcome": SENT})
    third = RecordingPlan(10)
    result = engine(third, store, try_number=3).run()
    assert third.delivered == [] and result.sent == 10
    assert latest(store)[item_digest(address(2))] == {"outcome": SENT, "try_number": 3, "resolved": "manual"}
    # the same resolution again (a try killed between recording it and deleting the key) changes nothing
    store.set(RESOLUTION, {"outcome": SENT, "keys": sorted(unknown)})
    fourth = RecordingPlan(10)
    assert engine(fourth, store, try_number=4).run().sent == 10 and fourth.delivered == []
    assert RESOLUTION not in store.values


def test_an_entry_without_keys_resolves_the_unknown_items_the_other_entries_do_not_name(monkeypatch):
    fixed_windows(monkeypatch, 1)
    store = FakeTaskStateStore()
    killed_send(store)
    engine(RecordingPlan(10), store, try_number=2).run()  # leaves 4 and 5 unknown
    # the smaller group named, the rest without keys (a value kept under the store's size limit)
    store.set(RESOLUTION, [{"outcome": NOT_SENT}, {"outcome": SENT, "keys": [address(4)]}])
    third = RecordingPlan(10)
    result = engine(third, store, try_number=3).run()
    assert third.delivered == [address(5)] and result.sent == 10
    read = latest(store)
    assert read[item_digest(address(4))] == {"outcome": SENT, "try_number": 3, "resolved": "manual"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"outcome": "maybe"}, "field 'outcome' is 'maybe'; allowed: 'sent'"),
        (
            {"outcome": SENT, "keys": "to:p4@exemplo.com.br"},
            "field 'keys' is 'to:p4@exemplo.com.br'; allowed: a",
        ),
        ({"outcome": SENT, "keys": [4]}, r"field 'keys' is '\[4\]'; allowed: a non-empty list of item keys"),
        ({"outcome": SENT, "keys": []}, r"field 'keys' is '\[\]'; allowed"),
        ({"outcome": SENT, "keys": ["to:p0@exemplo.com.br"]}, "names to:p0@exemplo.com.br, which is not"),
        ({"outcome": SENT, "keys": ["nobody"]}, "names nobody, which is not .* allowed: keys of its unknown"),
        ({"outcome": SENT, "why": "checked"}, "field\\(s\\) 'why' are not allowed"),
        ("sent", "the value 'sent' is not an object"),
        ([{"outcome": SENT}, {"outcome": "oops"}], r"resolution \(item 1\): field 'outcome' is 'oops'"),
        ([{"outcome": SENT}, {"outcome": NOT_SENT}], "more than one object without the field 'keys'"),
    ],
)
def test_a_malformed_resolution_fails_before_any_request_naming_field_value_and_what_is_allowed(
    value, message
):
    store = FakeTaskStateStore()
    killed_send(store)
    engine(RecordingPlan(10), store, try_number=2).run()
    store.set(RESOLUTION, value)
    writes = store.writes
    plan = RecordingPlan(10)
    with pytest.raises(EmailBRInputError, match=message):
        engine(plan, store, try_number=3).run()
    assert plan.delivered == [] and store.writes == writes
    assert RESOLUTION in store.values  # left for the person to correct


def test_the_failure_message_tells_the_key_the_rest_call_and_the_clear(monkeypatch):
    fixed_windows(monkeypatch, 1)
    store = FakeTaskStateStore()
    killed_send(store)
    result = engine(RecordingPlan(10), store, try_number=2).run()
    summary = result.summary(failed=True)
    assert "2 unknown" in summary and "emailbr.send.resolution" in summary
    assert (
        "PUT /api/v2/dags/send_dag/dagRuns/manual__1/taskInstances/send/state-store/emailbr.send.resolution"
        in summary
    )
    assert '{"value": {"outcome": "sent" or "not_sent", "keys": [...]}}' in summary
    assert "then clear the task instance" in summary and "mark_send_results" not in summary


def test_the_wire_format_of_sends_is_the_same_with_and_without_the_ledger(server, set_connection):
    from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator
    from tests.conftest import Reply
    from tests.helpers import context
    from tests.unit.sending.support import batch_messages

    set_connection(
        "emailmanager_default",
        conn_type="emailmanager",
        host=f"{server.url}/em/",
        password="t",
        extra={"from_email": "r@exemplo.com.br"},
    )
    server.default = Reply(body=[{"ErrorCode": 0, "MessageID": "m"}] * 2)
    seen = []
    for durable in (False, True):
        server.requests.clear()
        op = EmailManagerBatchSendOperator(
            task_id="send", messages=batch_messages(10), batch_size=2, durable=durable, concurrency=2
        )
        op.execute(context(1, task_state_store=FakeTaskStateStore()))
        seen.append(sorted((r.method, r.path, r.body) for r in server.requests))
    assert len(seen[0]) == 5 and seen[0] == seen[1]
