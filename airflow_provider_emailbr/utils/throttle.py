"""A request gate shared by concurrent workers: an optional rate limit and a common back-off.

When one worker gets HTTP 429, every worker pauses until the ``Retry-After`` time, not just the one that was
told; an optional ``max_per_second`` spaces requests evenly. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
