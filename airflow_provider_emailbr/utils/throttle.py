"""Concurrency for bulk work: a request gate shared by workers, and a bounded in-flight runner.

:class:`Throttle`: when one worker gets HTTP 429, every worker pauses until the ``Retry-After`` time, not just
the one that was told; an optional ``max_per_second`` spaces requests evenly. Thread-safe.

:class:`BoundedInFlight`: run calls on a few worker threads with at most a fixed number outstanding, and
hand each result back to the submitting thread in submission order, so the caller keeps all its bookkeeping
(counts, reports, checkpoints) single-threaded and knows that everything before a result is settled too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

#: What the calls run by a :class:`BoundedInFlight` return.
ResultT = TypeVar("ResultT")


class Throttle:
    """Gate requests: call :meth:`wait` before each request and :meth:`pause` when the server says 429.

    :param max_per_second: at most this many requests per second across all workers (``None``: no limit).
    """

    def __init__(
        self,
        max_per_second: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_per_second is not None and max_per_second <= 0:
            raise ValueError(f"max_per_second must be positive, got {max_per_second!r}")
        self.interval = 1.0 / max_per_second if max_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self.pauses = 0

    def wait(self) -> None:
        """Block until this worker may send: after any common pause, and in its rate-limit slot."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until, self._next_slot)
            self._next_slot = start + self.interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Make every worker wait ``seconds`` from now before its next request."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1


class BoundedInFlight(Generic[ResultT]):
    """Run calls on ``workers`` threads, at most ``window`` submitted and not yet handed back, in order.

    :meth:`submit` queues a call and hands every result that is ready at the head of the queue to
    ``consume(tag, result)`` in the calling thread, in submission order; when ``window`` calls are
    outstanding it first waits for the oldest. :meth:`mark` queues a tag with no call: it is consumed (with
    ``None``) once everything submitted before it has been, which is how a caller learns that a whole batch
    is settled. :meth:`drain` waits for and consumes everything left.

    The first call that raises stops the run: nothing more is submitted and no queued call starts, the
    results before it are still consumed in order, and then its exception is raised. Use as
    a context manager: leaving the block cancels what was not started and waits for the running calls.

    :param workers: threads running the calls.
    :param window: calls submitted and not yet consumed (default ``workers``); a larger window keeps the
        workers busy while the oldest call is slow, at the cost of results waiting to be handed back.
    :param consume: called in the submitting thread with each call's tag and result.
    :param name: thread name prefix (shows in thread dumps and logs).
    """

    def __init__(
        self,
        workers: int,
        *,
        consume: Callable[[Any, ResultT | None], None],
        window: int | None = None,
        name: str = "emailbr-in-flight",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        self.window = max(window or workers, workers)
        self._consume = consume
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        #: ``(tag, future, is_call)``: marks queue no call, so they never take a window slot.
        self._queue: deque[tuple[Any, Future[ResultT | None], bool]] = deque()
        #: Calls queued and not yet consumed (what the window bounds).
        self._calls = 0
        self._failed = threading.Event()

    def __enter__(self) -> BoundedInFlight[ResultT]:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, future, _ in self._queue:
            future.cancel()
        self._queue.clear()
        self._calls = 0
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, call: Callable[..., ResultT], *args: Any, tag: Any = None) -> None:
        """Queue ``call(*args)``; consume the results ready at the head (waiting while the window is full)."""
        if self._failed.is_set():
            self.drain()  # consumes what came before the failed call, then raises its exception
        future = self._pool.submit(self._unless_failed, call, args)
        future.add_done_callback(self._note_failure)
        self._queue.append((tag, future, True))
        self._calls += 1
        self._release(keep=self.window)

    def mark(self, tag: Any) -> None:
        """Queue ``tag`` alone: it is consumed, with ``None``, right after everything submitted before it."""
        done: Future[ResultT | None] = Future()
        done.set_result(None)
        self._queue.append((tag, done, False))
        self._release(keep=self.window)

    def drain(self) -> None:
        """Wait for every queued call and consume the results in order (raises the first failure)."""
        self._release(keep=0)

    def _unless_failed(self, call: Callable[..., ResultT], args: tuple[Any, ...]) -> ResultT:
        """Run ``call`` unless an earlier call failed: a worker never starts queued work after a failure,
        even before the submitting thread has seen it (queued calls start in submission order, so every
        call skipped here comes after the failed one and is never consumed)."""
        if self._failed.is_set():
            raise _Skipped
        return call(*args)

    def _note_failure(self, future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._failed.set()

    def _release(self, *, keep: int) -> None:
        """Consume head results: every ready one, and older ones until at most ``keep`` calls are queued.

        Only calls count against ``keep``: a mark behind a call would otherwise hold a window slot, and a
        caller that marks every batch would keep half as many calls in flight as it asked for.
        """
        queue = self._queue
        if self._failed.is_set():
            self._cancel_after_first_failure()
            keep = 0  # nothing more is submitted: settle everything up to the failure now
        while queue and (self._calls > keep or queue[0][1].done()):
            tag, future, is_call = queue.popleft()
            if is_call:
                self._calls -= 1
            self._consume(tag, future.result())  # the failed call raises here, after those before it

    def _cancel_after_first_failure(self) -> None:
        """Cancel the queued calls after the first one that failed (those not started yet never run)."""
        failed = False
        for _, future, _ in self._queue:
            if failed:
                future.cancel()
            elif future.done() and not future.cancelled() and future.exception() is not None:
                failed = True


class _Skipped(Exception):
    """A queued call that did not run because an earlier call had failed."""
