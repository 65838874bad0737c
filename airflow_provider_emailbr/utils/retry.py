"""Which failed calls may be repeated, and how long to wait before repeating them.

The rule that keeps e-mail from going out twice: a call that changes state (create, send, schedule, and
CriaEnvio's ``pausar``/``cancelar``, which are GETs) is repeated **only** when the server certainly did not
process it — the connection was refused or never opened, or the server answered 429 or 503. Reads and
idempotent writes are also repeated after a lost answer (read timeout, dropped connection) and on
500/502/504. Waits honour ``Retry-After`` and otherwise grow exponentially with jitter; attempts are bounded.
The loop itself is ``tenacity``'s, which Airflow already ships.

:func:`is_transient` is the one rule for "this failure may pass by itself": the retry decision here, and the
sensors and triggers that keep waiting through such failures, all use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, TypeVar

from airflow_provider_emailbr.exceptions import (
    EmailBRRateLimitError,
    EmailBRServerError,
    EmailBRTransportError,
)

T = TypeVar("T")

#: Statuses after which the server certainly did not process the request: any call may be repeated.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
#: Statuses after which only idempotent calls are repeated.
IDEMPOTENT_RETRY_STATUSES = frozenset({500, 502, 504})


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may pass by itself, so that asking again later can succeed.

    True for a rate limit (HTTP 429), a server-side failure (HTTP 5xx or a vendor failure code) and a
    transport failure that is not ``permanent`` (refused or dropped connection, timeout). False for
    everything else: a permanent transport failure (a failed TLS handshake, a request that cannot be built),
    wrong credentials, a refused or unknown object, an unreadable answer, bad input.
    """
    if isinstance(error, (EmailBRRateLimitError, EmailBRServerError)):
        return True
    if isinstance(error, EmailBRTransportError):
        return not error.permanent
    return False


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date) into seconds from now, or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryPolicy(NamedTuple):
    """Bounded retries with exponential backoff, jitter and ``Retry-After``.

    :param max_retries: repeats after the first attempt (0 disables retries).
    :param backoff_base: first wait in seconds; each later wait doubles, plus up to ``backoff_base`` jitter.
    :param backoff_max: longest computed wait in seconds.
    :param max_retry_after: longest wait accepted from a ``Retry-After`` header; a longer one is capped.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        """The numbers only: ``sleep`` is a function, noise in logs."""
        return (
            f"RetryPolicy(max_retries={self.max_retries!r}, backoff_base={self.backoff_base!r}, "
            f"backoff_max={self.backoff_max!r}, max_retry_after={self.max_retry_after!r})"
        )

    def retry_reason(self, exc: BaseException, *, idempotent: bool) -> str | None:
        """Say why ``exc`` may be retried for a call of this idempotency, or ``None`` when it may not.

        Only a transient error (:func:`is_transient`) may be; whether it is depends on what the server may
        already have done: nothing (429, 503, no connection) or, for an idempotent call only, something.
        """
        if not is_transient(exc):
            return None
        if isinstance(exc, EmailBRRateLimitError):
            return "rate limited (HTTP 429)"
        if isinstance(exc, EmailBRServerError) and exc.status in NOT_PROCESSED_STATUSES:
            return f"service unavailable (HTTP {exc.status})"
        if isinstance(exc, EmailBRServerError) and exc.status in IDEMPOTENT_RETRY_STATUSES and idempotent:
            return f"server error (HTTP {exc.status}) on an idempotent call"
        if isinstance(exc, EmailBRTransportError):
            if not exc.request_sent:
                return "connection failed before the request was sent"
            if idempotent:
                return "answer lost on an idempotent call"
        return None

    def wait_seconds(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``: ``Retry-After`` when given, else backoff."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(max(0.0, float(retry_after)), self.max_retry_after)
        import tenacity

        backoff = tenacity.wait_exponential_jitter(
            initial=self.backoff_base, max=self.backoff_max, jitter=self.backoff_base
        )
        return float(backoff(_AttemptState(attempt)))

    def _retrying_kwargs(self, *, idempotent: bool, describe: str, logger: logging.Logger) -> dict[str, Any]:
        """The tenacity configuration shared by :meth:`call` and :meth:`acall`."""
        import tenacity

        def _should_retry(exc: BaseException) -> bool:
            return self.retry_reason(exc, idempotent=idempotent) is not None

        def _before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "%s: %s; retry %d of %d in %.2f s",
                describe,
                self.retry_reason(exc, idempotent=idempotent) if exc else "failed",
                state.attempt_number,
                self.max_retries,
                state.upcoming_sleep,
            )

        return {
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "retry": tenacity.retry_if_exception(_should_retry),
            "wait": lambda state: self.wait_seconds(
                state.outcome.exception() if state.outcome else None, state.attempt_number
            ),
            "before_sleep": _before_sleep,
            "reraise": True,
        }

    async def acall(
        self,
        func: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        describe: str,
        logger: logging.Logger,
    ) -> T:
        """The asynchronous twin of :meth:`call`: waits with ``asyncio.sleep``, never blocking the loop."""
        import asyncio

        import tenacity

        retrying = tenacity.AsyncRetrying(
            sleep=asyncio.sleep,
            **self._retrying_kwargs(idempotent=idempotent, describe=describe, logger=logger),
        )
        return await retrying(func)

    def call(
        self,
        func: Callable[[], T],
        *,
        idempotent: bool,
        describe: str,
        logger: logging.Logger,
    ) -> T:
        """Run ``func`` under this policy; log every retry with its reason; re-raise the last error."""
        import tenacity

        retrying = tenacity.Retrying(
            sleep=self.sleep, **self._retrying_kwargs(idempotent=idempotent, describe=describe, logger=logger)
        )
        return retrying(func)


class _AttemptState(NamedTuple):
    """The one attribute tenacity's wait strategies read from a retry state."""

    attempt_number: int
