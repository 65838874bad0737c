"""The bounded in-flight runner: order, bound, batch markers and what a failure does to the calls around it."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_emailbr.utils.throttle import BoundedInFlight


def test_results_come_back_in_submission_order_however_the_calls_finish():
    consumed = []
    with BoundedInFlight(4, window=8, consume=lambda tag, result: consumed.append((tag, result))) as flight:
        for n in range(8):  # the first calls are the slowest: they finish last
            flight.submit(lambda n=n: time.sleep(0.01 * (8 - n)) or n * n, tag=n)
        flight.drain()
    assert consumed == [(n, n * n) for n in range(8)]


def test_never_more_than_window_calls_are_outstanding():
    running = 0
    peak = 0
    lock = threading.Lock()
    outstanding = []

    def call() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.005)
        with lock:
            running -= 1

    with BoundedInFlight(2, window=3, consume=lambda tag, result: None) as flight:
        for n in range(20):
            flight.submit(call, tag=n)
            outstanding.append(len(flight._queue))
        flight.drain()
    assert peak == 2  # two workers
    assert max(outstanding) == 3  # the window


def test_a_mark_is_consumed_right_after_everything_submitted_before_it():
    consumed = []
    with BoundedInFlight(3, window=10, consume=lambda tag, result: consumed.append(tag)) as flight:
        flight.submit(time.sleep, 0.05, tag="slow")
        flight.submit(time.sleep, 0, tag="fast")
        flight.mark("batch 0 settled")
        flight.submit(time.sleep, 0, tag="next")
        flight.drain()
    assert consumed == ["slow", "fast", "batch 0 settled", "next"]


def test_a_failure_consumes_what_came_before_cancels_what_came_after_and_raises():
    consumed = []
    started = []
    gate = threading.Event()

    def work(n: int) -> int:
        started.append(n)
        if n == 1:
            gate.wait(1)
            return n
        if n == 2:
            raise RuntimeError("account refused")
        return n

    flight = BoundedInFlight(2, window=50, consume=lambda tag, result: consumed.append(result))
    with pytest.raises(RuntimeError, match="account refused"), flight:
        flight.submit(work, 0, tag=0)
        flight.submit(work, 1, tag=1)  # slow: still running when 2 fails
        flight.submit(work, 2, tag=2)
        time.sleep(0.05)
        for n in range(3, 30):  # a submit after the failure settles and raises
            gate.set()
            flight.submit(work, n, tag=n)
    assert consumed == [0, 1]  # the calls before the failure, in order; nothing after it
    assert max(started) < 10  # later calls were not started once the failure was seen


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        BoundedInFlight(0, consume=lambda tag, result: None)


def test_marks_do_not_take_a_window_slot():
    """A caller that marks every batch still gets ``window`` calls outstanding before it waits: with a window
    of 2, the second ``submit`` returns at once although a mark sits between the two calls. (When marks
    counted, it waited for the first call, which here only finishes once the caller has gone on, so the first
    call ran into its timeout: the caller had been holding one call in flight instead of two.)"""
    caller_went_on = threading.Event()
    consumed: list[tuple[str, bool | None]] = []

    def first() -> bool:
        return caller_went_on.wait(timeout=5)

    with BoundedInFlight(2, window=2, consume=lambda tag, result: consumed.append((tag, result))) as flight:
        flight.submit(first, tag="first")
        flight.mark("batch 1")
        flight.submit(lambda: True, tag="second")
        flight.mark("batch 2")
        caller_went_on.set()
        flight.drain()
    assert consumed == [("first", True), ("batch 1", None), ("second", True), ("batch 2", None)]
