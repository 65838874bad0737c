"""Wait in the triggerer for MailGrid messages to reach the delivery report: :class:`MailGridDeliveryTrigger`.

The trigger only reads the report (``POST report/`` is a read, marked idempotent in the hook), so a
triggerer restart, which runs ``run()`` again from the start, can never cause a side effect. Everything is
asynchronous: the connection is fetched with Airflow's async helpers and requests go through the hook's
:meth:`~airflow_provider_emailbr.hooks.base.EmailBRHook.acall`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_emailbr.events.model import DeliveryEvent, as_utc
from airflow_provider_emailbr.exceptions import (
    EmailBRError,
    EmailBRRateLimitError,
    EmailBRServerError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook, parse_report_row
from airflow_provider_emailbr.utils.redaction import redact
from airflow_provider_emailbr.utils.report_windows import account_zone, as_timedelta, plan_windows, utcnow
from airflow_provider_emailbr.utils.retry import RetryPolicy, is_transient
from airflow_provider_emailbr.waiting.mailgrid import afind_deliveries

#: The error classes that can be transient (0.1.0 name). Which of them are is decided by
#: :func:`~airflow_provider_emailbr.utils.retry.is_transient`: a permanent transport error is not.
TRANSIENT_ERRORS = (EmailBRTransportError, EmailBRServerError, EmailBRRateLimitError)


class MailGridDeliveryTrigger(BaseTrigger):
    """Poll MailGrid's detailed report until every message id appears in it, then fire one event.

    Events (``TriggerEvent.payload``):

    - ``{"status": "success", "results": {message_id: {"status", "delivered", "recipient", "sent_at"}}}``;
    - ``{"status": "timeout", "results": {...found so far}, "pending": [ids], "message"}`` at ``deadline``;
    - ``{"status": "error", "results": {...}, "pending": [...], "message"}`` on a permanent error (wrong
      credentials, missing connection, an answer that cannot be read).

    Transient errors (:func:`~airflow_provider_emailbr.utils.retry.is_transient`: timeouts, dropped
    connections, 5xx, rate limits) that outlast the hook's retries are logged and tried again at the next
    poll. Any other error, a permanent transport error such as a failed TLS handshake included, ends the
    wait at once with an ``error`` event.

    :param message_ids: the ids to wait for, in the order of the result.
    :param sent_after: ISO-8601 instant before which none of them was sent (the report window's start).
    :param deadline: ISO-8601 instant at which to give up, or ``None`` for no limit.
    :param found: statuses already known (not queried again).
    :param poll_interval: seconds between two polls.
    :param per_id_query_limit: up to this many pending ids are queried one by one; more scan the window.
    :param max_window_seconds: longest sub-window when scanning.
    :param mailgrid_conn_id: the MailGrid connection.
    """

    def __init__(
        self,
        *,
        message_ids: Sequence[str],
        sent_after: str,
        deadline: str | None = None,
        found: Mapping[str, Mapping[str, Any]] | None = None,
        poll_interval: float = 60.0,
        per_id_query_limit: int = 10,
        max_window_seconds: float = 86400.0,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.message_ids = [str(i) for i in message_ids]
        self.sent_after = str(sent_after)
        self.deadline = str(deadline) if deadline else None
        self.found = {str(k): dict(v) for k, v in (found or {}).items()}
        self.poll_interval = float(poll_interval)
        self.per_id_query_limit = int(per_id_query_limit)
        self.max_window_seconds = float(max_window_seconds)
        self.mailgrid_conn_id = str(mailgrid_conn_id)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-able kwargs (ids, instants and the connection id; never a credential)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "message_ids": list(self.message_ids),
                "sent_after": self.sent_after,
                "deadline": self.deadline,
                "found": self.found,
                "poll_interval": self.poll_interval,
                "per_id_query_limit": self.per_id_query_limit,
                "max_window_seconds": self.max_window_seconds,
                "mailgrid_conn_id": self.mailgrid_conn_id,
            },
        )

    def _payload(self, status: str, found: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        pending = [i for i in self.message_ids if i not in found]
        return {
            "status": status,
            "results": {i: found[i] for i in self.message_ids if i in found},
            "pending": pending,
            **extra,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until all ids are found, the deadline passes, or a permanent error occurs."""
        hook = MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)
        sent_after = datetime.fromisoformat(self.sent_after)
        deadline = datetime.fromisoformat(self.deadline) if self.deadline else None
        max_window = timedelta(seconds=self.max_window_seconds)
        found = dict(self.found)
        while True:
            pending = [i for i in self.message_ids if i not in found]
            now = utcnow()
            try:
                found.update(
                    await afind_deliveries(
                        hook,
                        pending,
                        sent_after,
                        max(now, sent_after),
                        per_id_query_limit=self.per_id_query_limit,
                        max_window=max_window,
                    )
                )
            except EmailBRError as err:
                if not is_transient(err):
                    yield TriggerEvent(self._payload("error", found, message=redact(str(err))))
                    return
                self.log.warning("MailGrid report not readable now, trying again next poll: %s", redact(err))
            except Exception as err:  # e.g. the connection does not exist: end the wait with the reason
                message = redact(f"{type(err).__name__}: {err}")
                yield TriggerEvent(self._payload("error", found, message=message))
                return
            pending = [i for i in self.message_ids if i not in found]
            if not pending:
                yield TriggerEvent(self._payload("success", found))
                return
            self.log.info(
                "%d of %d MailGrid message(s) in the report; %d pending",
                len(self.message_ids) - len(pending),
                len(self.message_ids),
                len(pending),
            )
            now = utcnow()
            if deadline is not None and now >= deadline:
                yield TriggerEvent(
                    self._payload(
                        "timeout",
                        found,
                        message=f"{len(pending)} message id(s) not in MailGrid's report by {self.deadline}",
                    )
                )
                return
            wait = self.poll_interval
            if deadline is not None:
                wait = min(wait, max(0.0, (deadline - now).total_seconds()))
            await asyncio.sleep(wait)


#: ``kind`` of the MailGrid failures cursor (see :mod:`airflow_provider_emailbr.events.state`).
FAILURES_CURSOR = "mailgrid-failures"


class MailGridFailuresEventTrigger(BaseEventTrigger):
    """Fire one asset event per new failure in MailGrid's detailed report, for an ``AssetWatcher``.

    Every ``poll_interval`` seconds the trigger reads the report's failures (``status: erro``) from its
    cursor to now, window by window (:func:`~airflow_provider_emailbr.utils.report_windows.plan_windows`,
    at most ``max_window_seconds`` each, a row kept only inside its own window). MailGrid's report refreshes
    about every 10 minutes, so a failure can appear well after it happened: each read goes back
    ``lag_seconds`` before the previous read's end, and the failures already fired in that overlap are
    recognised by their stable :attr:`~airflow_provider_emailbr.events.model.DeliveryEvent.event_id`
    (:func:`~airflow_provider_emailbr.events.mailgrid.event_from_report_row`: the same id a MailGrid
    webhook post of the same failure gets).

    Each new failure fires ``{"event": DeliveryEvent.to_dict()}``; it reaches the DAG in the asset event's
    ``extra["payload"]`` (read it with
    :func:`~airflow_provider_emailbr.events.sinks.events_from_asset_events`).
    "New" means sent from the trigger's first run on (or from ``since``).

    **Never twice.** The cursor (read-up-to instant and the ids fired in the overlap) is durable
    (:func:`~airflow_provider_emailbr.events.state.trigger_cursor`: the watched asset's state store on Airflow
    3.3, or the file ``cursor_path``) and is written *before* the events are fired, so a triggerer restart
    never fires a failure again. The trade-off: a crash in the instant between that write and the triggerer's
    own recording of the events loses them rather than firing them twice.

    Transient errors (:func:`~airflow_provider_emailbr.utils.retry.is_transient`) that outlast the hook's own
    retries wait :class:`~airflow_provider_emailbr.utils.retry.RetryPolicy`'s backoff (``Retry-After`` when
    given), capped at ``max_backoff``, and are read again. A permanent error (wrong credentials, a missing
    connection) fires nothing: it is logged as an error and read again after ``max_backoff`` seconds. A cursor
    that cannot be read or written stops the trigger with its error.

    :param mailgrid_conn_id: the MailGrid connection.
    :param poll_interval: seconds between two reads of the report.
    :param lag_seconds: how far back before the previous read's end each read starts again (the report's
        refresh lag plus a margin; default 15 minutes).
    :param since: ISO-8601 instant with offset from which failures count on the first run (default: the
        first run's start). Ignored once a cursor exists.
    :param max_window_seconds: longest report query window.
    :param max_backoff: longest wait in seconds after a transient error; also the wait after a permanent one.
    :param cursor_path: a local path or object storage URI of the cursor file (needed on Airflow 3.2; when
        given it is used instead of the asset state store).
    :param cursor_conn_id: the object store's connection for ``cursor_path``.
    """

    def __init__(
        self,
        *,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
        poll_interval: float = 300.0,
        lag_seconds: float = 900.0,
        since: str | None = None,
        max_window_seconds: float = 86400.0,
        max_backoff: float = 900.0,
        cursor_path: str | None = None,
        cursor_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.mailgrid_conn_id = str(mailgrid_conn_id)
        self.poll_interval = float(poll_interval)
        self.lag_seconds = float(lag_seconds)
        self.since = as_utc(since).isoformat() if since else None
        self.max_window_seconds = float(max_window_seconds)
        self.max_backoff = float(max_backoff)
        self.cursor_path = str(cursor_path) if cursor_path else None
        self.cursor_conn_id = str(cursor_conn_id) if cursor_conn_id else None
        for name in ("poll_interval", "max_window_seconds"):
            as_timedelta(getattr(self, name), field=name, allow_zero=False)
        for name in ("lag_seconds", "max_backoff"):
            as_timedelta(getattr(self, name), field=name, allow_zero=True)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-able kwargs: the connection id, numbers, an instant, a path; never a secret."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "mailgrid_conn_id": self.mailgrid_conn_id,
                "poll_interval": self.poll_interval,
                "lag_seconds": self.lag_seconds,
                "since": self.since,
                "max_window_seconds": self.max_window_seconds,
                "max_backoff": self.max_backoff,
                "cursor_path": self.cursor_path,
                "cursor_conn_id": self.cursor_conn_id,
            },
        )

    @property
    def cursor_key(self) -> str:
        """The cursor's key among the watched asset's state keys."""
        return f"emailbr.mailgrid.failures.{self.mailgrid_conn_id}"

    @property
    def retry_policy(self) -> RetryPolicy:
        """The waits after transient errors: from one second (or ``poll_interval`` when shorter), doubling,
        with jitter, at most ``max_backoff``; a ``Retry-After`` is honoured up to ``max_backoff``."""
        first = max(0.05, min(self.poll_interval, 1.0))
        return RetryPolicy(
            backoff_base=first, backoff_max=max(first, self.max_backoff), max_retry_after=self.max_backoff
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read new failures every ``poll_interval`` seconds and fire each once; runs until removed."""
        from airflow_provider_emailbr.events.state import trigger_cursor

        cursor = trigger_cursor(
            self,
            key=self.cursor_key,
            kind=FAILURES_CURSOR,
            cursor_path=self.cursor_path,
            cursor_conn_id=self.cursor_conn_id,
        )
        state = FailuresCursor.from_data(await cursor.load())
        if state is None:
            state = FailuresCursor.start(datetime.fromisoformat(self.since) if self.since else utcnow())
            await cursor.save(state.to_data())
        hook = MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)
        policy = self.retry_policy
        failures = 0
        while True:
            now = utcnow()
            try:
                found = await self._read_failures(hook, state.read_from(self.lag_seconds), now)
            except Exception as err:
                transient = isinstance(err, EmailBRError) and is_transient(err)
                failures = failures + 1 if transient else 0
                wait = policy.wait_seconds(err, failures) if transient else self.max_backoff
                reason = redact(f"{type(err).__name__}: {err}")
                if transient:
                    self.log.warning(
                        "MailGrid report not readable now (%s); next read in %.1f s", reason, wait
                    )
                else:
                    self.log.error("MailGrid failures cannot be read (%s); next read in %.0f s", reason, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            new = state.advance(found, now, self.lag_seconds)
            await cursor.save(state.to_data())
            if new:
                self.log.info("%d new MailGrid failure(s) in the report", len(new))
            for event in new:
                yield TriggerEvent({"event": event.to_dict()})
            await asyncio.sleep(self.poll_interval)

    async def _read_failures(self, hook: MailGridHook, start: datetime, end: datetime) -> list[DeliveryEvent]:
        """The failures sent in ``[start, end)``, as delivery events, in the report's order."""
        from airflow_provider_emailbr.events.mailgrid import event_from_report_row

        await hook.aget_settings()
        zone = account_zone(hook)
        found: list[DeliveryEvent] = []
        if end <= start:
            return found
        max_window = timedelta(seconds=self.max_window_seconds)
        for window in plan_windows(start, end, zone, max_window):
            rows = await hook.areport_wall_clock(
                wall_start=window.wall_start, wall_end=window.wall_end, status="erro"
            )
            for raw in rows:
                row = parse_report_row(raw, zone)
                if row.delivered or (row.sent_at is not None and not window.contains(row.sent_at)):
                    continue
                found.append(event_from_report_row(row, received_at=end))
        return found


class FailuresCursor:
    """Where :class:`MailGridFailuresEventTrigger` stands: its floor, how far it has read, what it fired.

    ``floor`` is the earliest send time that counts (the first run, or ``since``); ``read_to`` the end of the
    last read; ``fired`` maps the event ids fired in the re-read overlap to their time (ISO-8601), and is
    pruned as the overlap moves on, so it stays small.
    """

    __slots__ = ("fired", "floor", "read_to")

    def __init__(self, floor: datetime, read_to: datetime | None, fired: dict[str, str]) -> None:
        self.floor = floor
        self.read_to = read_to
        self.fired = fired

    @classmethod
    def start(cls, floor: datetime) -> FailuresCursor:
        """A fresh cursor from ``floor``."""
        return cls(floor, None, {})

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> FailuresCursor | None:
        """The cursor stored as :meth:`to_data` wrote it (``None`` when nothing is stored)."""
        if data is None:
            return None
        read_to = data.get("read_to")
        return cls(
            datetime.fromisoformat(data["floor"]),
            datetime.fromisoformat(read_to) if read_to else None,
            dict(data.get("fired") or {}),
        )

    def to_data(self) -> dict[str, Any]:
        """JSON-able primitives."""
        return {
            "floor": self.floor.isoformat(),
            "read_to": self.read_to.isoformat() if self.read_to else None,
            "fired": dict(self.fired),
        }

    def read_from(self, lag_seconds: float) -> datetime:
        """Where the next read starts: ``lag_seconds`` before the last read's end, never before the floor."""
        if self.read_to is None:
            return self.floor
        return max(self.floor, self.read_to - timedelta(seconds=lag_seconds))

    def advance(
        self, found: Sequence[DeliveryEvent], read_to: datetime, lag_seconds: float
    ) -> list[DeliveryEvent]:
        """Take in a read that ended at ``read_to``: return the events not fired yet and record them; forget
        the ids that fall out of the next read's overlap."""
        new: list[DeliveryEvent] = []
        for event in found:
            if event.event_id in self.fired:
                continue
            self.fired[event.event_id] = event.timestamp.isoformat()
            new.append(event)
        self.read_to = read_to
        horizon = self.read_from(lag_seconds)
        self.fired = {k: v for k, v in self.fired.items() if datetime.fromisoformat(v) >= horizon}
        return new
