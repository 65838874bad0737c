"""MailGrid delivery reports: :class:`MailGridReportOperator`, plus the window and row rules it shares with
:class:`~airflow_provider_emailbr.sensors.reports.MailGridDeliverySensor` and its trigger.

The vendor's report takes a window in the account's local time at minute precision (``dataini``,
``horaini``, ``datafim``, ``horafim``, no zone) and answers one JSON object with every row, each stamped with
a local ``data`` (``DD/MM/YYYY``) and ``hora`` (``HH:MM:SS``). The rules below turn that into exact,
repeatable windows:

* **Half-open windows, decided by each row's own time.** A window is ``[start, end)`` in absolute time.
  The query asks for the minutes covering it (``horaini`` rounded down, ``horafim`` rounded up, whichever way
  the vendor treats its ends) and each row is kept only when its reported time falls in ``[start, end)``.
  So consecutive windows (sub-windows of one run, or consecutive DAG runs) never report a row twice and
  never lose one at a boundary, even though the vendor's minute ends overlap.
* **Sub-windows** never exceed ``max_window``; they are aligned on the window's start in local wall-clock
  time (one-day sub-windows of a midnight-to-midnight window follow local midnights) and never span a
  change of the zone's UTC offset (a daylight-saving change), so each query is a plain wall-clock range.
* **Ambiguous local times.** In the hour repeated when clocks fall back, a zone-less ``01:30`` is two
  instants; the vendor's answer cannot tell which. Such rows are read as the first occurrence (Python's
  ``fold=0``), which keeps every row in exactly one window; their ``sent_at`` can be an hour early.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.dates import to_local
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.storage import RowWriter, detect_format

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: Columns of a normalised report row, in file order.
REPORT_COLUMNS: tuple[str, ...] = ("message_id", "sender", "recipient", "sent_at", "status", "delivered")

#: The ``status`` filter: our word → the vendor's (``sucesso``/``erro`` are accepted as well).
STATUS_FILTERS: dict[str, str] = {
    "delivered": "sucesso",
    "failed": "erro",
    "sucesso": "sucesso",
    "erro": "erro",
}

#: Status texts (compared without case, accents or repeated spaces) that mean "delivered". The vendor's
#: page and the sandbox show ``Entregue com sucesso``; any other text counts as not delivered, and the
#: text itself is always kept in the ``status`` column.
DELIVERED_TEXTS: frozenset[str] = frozenset({"entregue com sucesso", "entregue", "sucesso"})

#: Default sub-window length: one day bounds each answer while keeping the number of calls low.
DEFAULT_MAX_WINDOW = timedelta(days=1)
#: Most report queries (sub-windows) one export may make: a longer range is a mistake, refused up front.
MAX_SUB_WINDOWS = 5000
#: The vendor's reports lag about 10 minutes behind sends.
DEFAULT_REPORT_LAG = timedelta(minutes=10)

_UTC = timezone.utc
_MINUTE = timedelta(minutes=1)
#: Step when looking for a UTC-offset change; real zones never change twice within it.
_OFFSET_PROBE_SECONDS = 6 * 3600
_DAY_RE = re.compile(
    r"^(?:(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))$"
)
_CLOCK_RE = re.compile(r"^(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?$")


# ---------------------------------------------------------------------------------------------- zones


def account_zone(hook: MailGridHook) -> tzinfo:
    """The zone of the connection's zone-less report times (extra ``timezone``), validated."""
    name = hook.timezone
    try:
        return pendulum.timezone(name)
    except Exception:
        raise EmailBRConfigError(
            f"Connection {hook.conn_id!r} (mailgrid): extra 'timezone' {name!r} is not an IANA time zone "
            "name; use e.g. America/Sao_Paulo"
        ) from None


def _offset_at(ts: float, zone: tzinfo) -> timedelta:
    return datetime.fromtimestamp(ts, zone).utcoffset() or timedelta(0)


def _from_wall(wall: datetime, zone: tzinfo) -> datetime:
    """The instant of a naive wall-clock time; an ambiguous time is its first occurrence (``fold=0``)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(_UTC)


def _next_offset_change(start: datetime, limit: datetime, zone: tzinfo) -> datetime | None:
    """The first instant in ``(start, limit)`` where the zone's UTC offset changes, to the second."""
    low = math.floor(start.timestamp())
    last = math.ceil(limit.timestamp()) - 1
    before = _offset_at(low, zone)
    probe = low
    while probe < last:
        high = min(probe + _OFFSET_PROBE_SECONDS, last)
        if _offset_at(high, zone) != before:
            while high - probe > 1:
                middle = (probe + high) // 2
                if _offset_at(middle, zone) == before:
                    probe = middle
                else:
                    high = middle
            return datetime.fromtimestamp(high, _UTC)
        probe = high
    return None


def _floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def _ceil_minute(value: datetime) -> datetime:
    floor = _floor_minute(value)
    return floor if floor == value else floor + _MINUTE


# ---------------------------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class ReportWindow:
    """One query's window: ``[start, end)`` in UTC, inside which the zone's UTC offset is ``utc_offset``."""

    start: datetime
    end: datetime
    utc_offset: timedelta

    @property
    def wall_start(self) -> datetime:
        """``dataini``/``horaini``: the local start, rounded down to the minute (naive)."""
        return _floor_minute(self.start.astimezone(_UTC).replace(tzinfo=None) + self.utc_offset)

    @property
    def wall_end(self) -> datetime:
        """``datafim``/``horafim``: the local end, rounded up to the minute (naive)."""
        return _ceil_minute(self.end.astimezone(_UTC).replace(tzinfo=None) + self.utc_offset)

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` falls in ``[start, end)``."""
        return self.start <= instant < self.end

    def describe(self) -> str:
        """The wall-clock range as queried, e.g. ``2026-11-01 00:00 → 2026-11-01 02:00``."""
        return f"{self.wall_start:%Y-%m-%d %H:%M} → {self.wall_end:%Y-%m-%d %H:%M}"


def plan_windows(
    start: datetime, end: datetime, zone: tzinfo, max_window: timedelta | None = None
) -> Iterator[ReportWindow]:
    """Split ``[start, end)`` into query windows, lazily, in order; they cover it exactly once.

    Windows are at most ``max_window`` long (``None``: no limit), aligned on ``start``'s local wall-clock
    time, and never span a change of ``zone``'s UTC offset.
    """
    start, end = start.astimezone(_UTC), end.astimezone(_UTC)
    if max_window is not None and max_window <= timedelta(0):
        raise EmailBRInputError(f"max_window: {max_window} must be positive")
    origin = start.astimezone(zone).replace(tzinfo=None)
    step = 1
    current = start
    while current < end:
        limit = end
        if max_window is not None:
            limit = min(limit, current + max_window)
            while True:
                aligned = _from_wall(origin + step * max_window, zone)
                if aligned > current:
                    break
                step += 1
            limit = min(limit, aligned)
        change = _next_offset_change(current, limit, zone)
        following = change if change is not None else limit
        yield ReportWindow(current, following, _offset_at(current.timestamp(), zone))
        current = following


# ---------------------------------------------------------------------------------------------- rows


@lru_cache(maxsize=256)
def _status_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def is_delivered(status: Any) -> bool:
    """Whether a vendor status text means the message was delivered (see :data:`DELIVERED_TEXTS`)."""
    return _status_key(str(status or "")) in DELIVERED_TEXTS


def parse_report_time(day: Any, clock: Any, zone: tzinfo) -> datetime | None:
    """The instant of a row's local ``data`` and ``hora``, in ``zone``; ``None`` when unreadable.

    ``data`` is ``DD/MM/YYYY`` (or ISO ``YYYY-MM-DD``), ``hora`` ``HH:MM:SS`` (or ``HH:MM``).
    """
    day_match = _DAY_RE.match(str(day or "").strip())
    clock_match = _CLOCK_RE.match(str(clock or "").strip())
    if day_match is None or clock_match is None:
        return None
    if day_match["y"] is not None:
        year, month, dom = int(day_match["y"]), int(day_match["m"]), int(day_match["d"])
    else:
        year, month, dom = int(day_match["iy"]), int(day_match["im"]), int(day_match["id"])
    try:
        return datetime(
            year,
            month,
            dom,
            int(clock_match["h"]),
            int(clock_match["mi"]),
            int(clock_match["s"] or 0),
            tzinfo=zone,
            fold=0,
        )
    except ValueError:
        return None


def normalise_row(raw: Mapping[str, Any], zone: tzinfo) -> tuple[dict[str, Any], datetime | None]:
    """A vendor row as ``REPORT_COLUMNS`` (``sent_at`` ISO-8601 with offset), and its instant."""
    sent = parse_report_time(raw.get("data"), raw.get("hora"), zone)
    status = str(raw.get("status") or "")
    row = {
        "message_id": str(raw.get("msgid") or ""),
        "sender": str(raw.get("email_de") or ""),
        "recipient": str(raw.get("email_para") or ""),
        "sent_at": sent.isoformat() if sent is not None else None,
        "status": status,
        "delivered": is_delivered(status),
    }
    return row, sent


class RowSelector:
    """Keep, from each window's answer, the rows whose own time lies in the window.

    A row whose time cannot be read cannot be placed in one window: it is kept the first time it is seen
    (by message id, recipient and status) and counted in :attr:`untimed`.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.untimed = 0
        self._untimed_seen: set[tuple[str, str, str]] = set()

    def select(self, window: ReportWindow, raw_rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield the normalised rows of ``raw_rows`` that belong to ``window``."""
        for raw in raw_rows:
            row, sent = normalise_row(raw, self.zone)
            if sent is None:
                key = (row["message_id"], row["recipient"], row["status"])
                if key in self._untimed_seen:
                    continue
                self._untimed_seen.add(key)
                self.untimed += 1
                yield row
            elif window.contains(sent):
                yield row


# ---------------------------------------------------------------------------------------------- inputs


def as_timedelta(value: timedelta | float | int, *, field: str, allow_zero: bool) -> timedelta:
    """A ``timedelta`` from a ``timedelta`` or a number of seconds, validated."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise EmailBRInputError(f"{field}: {value!r} is not a duration; use a timedelta or seconds")
    try:
        delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except (ValueError, OverflowError):  # NaN, infinity, more seconds than a timedelta holds
        raise EmailBRInputError(f"{field}: {value!r} is not a usable number of seconds") from None
    if delta < timedelta(0) or (delta == timedelta(0) and not allow_zero):
        raise EmailBRInputError(f"{field}: {delta} must be {'zero or ' if allow_zero else ''}positive")
    return delta


def as_instant(value: datetime | date | str, zone: tzinfo, *, field: str) -> datetime:
    """An aware UTC instant; naive values and dates are local time of ``zone``."""
    local = to_local(value, str(zone), field=field)
    return datetime.fromtimestamp(local.timestamp(), _UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(_UTC)


# ---------------------------------------------------------------------------------------------- operator


class MailGridReportOperator(BaseOperator):
    """Export MailGrid's delivery report for a time window to a CSV or JSON Lines file.

    The window is the DAG run's data interval unless ``start``/``end`` are given; it is half-open,
    ``[start, end)``, decided by each row's own time, so consecutive runs never repeat or lose a row. It is
    queried in the connection's time zone (extra ``timezone``) in sub-windows of at most ``max_window``.
    MailGrid's reports lag about 10 minutes behind sends: while the window ended less than ``report_lag``
    ago the task defers (``DateTimeTrigger``, no worker held) until the window is complete, or, with
    ``wait_for_complete_window=False``, warns and reports what is there. A window that ends in the future
    is refused: it cannot be complete.

    Rows are normalised to ``message_id, sender, recipient, sent_at, status, delivered`` and streamed to
    ``output_path`` one sub-window at a time. The XCom is a summary: ``{"path", "format", "rows",
    "delivered", "failed", "statuses", "window": {"start", "end", "timezone", "sub_windows"}, "complete"}``,
    plus ``"records"`` (the rows) when ``return_rows=True``.

    :param start: window start (datetime, date or ISO-8601 string; naive = the account's local time).
        Default: the data interval's start. Templated.
    :param end: window end, excluded. Default: the data interval's end. Templated.
    :param status: only ``delivered`` or ``failed`` rows (sent as ``sucesso``/``erro``). Templated.
    :param recipient: only rows to this address (``emaildestino``). Templated.
    :param sender: only rows from this sender (``remetente``). Templated.
    :param message_id: only this message (``idMensagem``; not with ``consolidated``). Templated.
    :param consolidated: read ``consolidate/`` instead of the detailed ``report/``.
    :param max_window: longest sub-window (``timedelta`` or seconds). Default one day.
    :param report_lag: how long after its end a window is complete. Default 10 minutes.
    :param wait_for_complete_window: wait until ``end + report_lag`` (default) or warn and go on.
    :param deferrable: wait by deferring (default); ``False`` sleeps in the worker (no triggerer needed).
    :param output_path: file to write (local path, URI or ``ObjectStoragePath``); ``None`` writes no file
        (counts only, and the rows when ``return_rows``). Written to ``<name>.partial`` and moved into place
        when the export completes, so a failed try leaves no partial file (an earlier complete one stays).
        Templated.
    :param output_format: ``csv`` or ``jsonl``; default from the file's extension. Templated.
    :param output_conn_id: connection for an object-storage ``output_path`` (``s3://``, ``gs://`` …).
    :param return_rows: put the rows in the XCom too (mind the XCom backend's size limits).
    :param mailgrid_conn_id: the MailGrid connection.
    """

    template_fields: Sequence[str] = (
        "start",
        "end",
        "status",
        "recipient",
        "sender",
        "message_id",
        "output_path",
        "output_format",
    )
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
        status: str | None = None,
        recipient: str | None = None,
        sender: str | None = None,
        message_id: str | None = None,
        consolidated: bool = False,
        max_window: timedelta | float = DEFAULT_MAX_WINDOW,
        report_lag: timedelta | float = DEFAULT_REPORT_LAG,
        wait_for_complete_window: bool = True,
        deferrable: bool = True,
        output_path: str | ObjectStoragePath | None = None,
        output_format: str | None = None,
        output_conn_id: str | None = None,
        return_rows: bool = False,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start = start
        self.end = end
        self.status = status
        self.recipient = recipient
        self.sender = sender
        self.message_id = message_id
        self.consolidated = consolidated
        self.max_window = as_timedelta(max_window, field="max_window", allow_zero=False)
        self.report_lag = as_timedelta(report_lag, field="report_lag", allow_zero=True)
        self.wait_for_complete_window = wait_for_complete_window
        self.deferrable = deferrable
        self.output_path = output_path
        self.output_format = output_format
        self.output_conn_id = output_conn_id
        self.return_rows = return_rows
        self.mailgrid_conn_id = mailgrid_conn_id

    @cached_property
    def hook(self) -> MailGridHook:
        """The MailGrid hook, built on first use."""
        return MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)

    # ------------------------------------------------------------------ inputs

    def _filters(self) -> dict[str, Any]:
        """The vendor filters, validated (raises before any request)."""
        status = None
        if self.status not in (None, ""):
            key = str(self.status).strip().lower()
            if key not in STATUS_FILTERS:
                raise EmailBRInputError(f"status: {self.status!r} is not allowed; use delivered or failed")
            status = STATUS_FILTERS[key]
        message_id = str(self.message_id).strip() if self.message_id else None
        if message_id and self.consolidated:
            raise EmailBRInputError(
                f"message_id: {message_id!r} cannot be used with consolidated=True; the consolidated "
                "report has no message id filter"
            )
        if self.output_path:
            detect_format(self.output_path, self.output_format, field="output_format")
        elif self.output_format:
            detect_format("", self.output_format, field="output_format")
        return {
            "status": status,
            "recipient": str(self.recipient).strip() if self.recipient else None,
            "sender": str(self.sender).strip() if self.sender else None,
            "message_id": message_id,
            "consolidated": self.consolidated,
        }

    def _window(self, context: Context, zone: tzinfo) -> tuple[datetime, datetime]:
        """``(start, end)`` in UTC: the given values, else the DAG run's data interval."""
        bounds = []
        for field, given, interval_key in (
            ("start", self.start, "data_interval_start"),
            ("end", self.end, "data_interval_end"),
        ):
            value = given if given not in (None, "") else context.get(interval_key)
            if value is None:
                raise EmailBRInputError(
                    f"{field}: not given and the DAG run has no data interval (a run without a logical "
                    "date, or an asset-triggered run); pass start and end"
                )
            bounds.append(as_instant(value, zone, field=field))
        start, end = bounds
        if end <= start:
            hint = ""
            if self.start in (None, "") and self.end in (None, ""):
                hint = (
                    "; the DAG run's data interval is empty, as Airflow 3 cron schedules make it by "
                    "default: pass start/end, or give the timetable an interval, e.g. "
                    "CronTriggerTimetable('@daily', timezone='UTC', interval=timedelta(days=1)) or "
                    "CronDataIntervalTimetable"
                )
            raise EmailBRInputError(
                f"end: {end.isoformat()} must be after start {start.isoformat()} (the window is [start, "
                f"end)){hint}"
            )
        if (end - start) / self.max_window > MAX_SUB_WINDOWS:
            raise EmailBRInputError(
                f"start/end: {start.isoformat()} to {end.isoformat()} would take more than "
                f"{MAX_SUB_WINDOWS:,} report queries of max_window={self.max_window}; export a shorter range "
                "or raise max_window"
            )
        return start, end

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> dict[str, Any]:
        """Check inputs, wait for the vendor's lag if needed (deferring), then export the report."""
        self._filters()
        zone = account_zone(self.hook)
        start, end = self._window(context, zone)
        now = utcnow()
        if end > now:
            raise EmailBRInputError(
                f"end: {end.astimezone(zone).isoformat()} is in the future (now "
                f"{now.astimezone(zone).isoformat()}); a window that has not ended cannot be complete: "
                "end it at the current time at the latest"
            )
        complete_at = end + self.report_lag
        complete = now >= complete_at
        if not complete and self.wait_for_complete_window:
            if self.deferrable:
                from airflow.providers.standard.triggers.temporal import DateTimeTrigger

                self.log.info(
                    "Window ends %s: MailGrid's report is complete from %s; deferring until then",
                    end.astimezone(zone).isoformat(),
                    complete_at.astimezone(zone).isoformat(),
                )
                self.defer(
                    trigger=DateTimeTrigger(moment=complete_at),
                    method_name="execute_complete",
                    kwargs={"window_start": start.isoformat(), "window_end": end.isoformat()},
                )
            wait = (complete_at - now).total_seconds()
            self.log.info("Waiting %.0f s in the worker for MailGrid's report lag", wait)
            time.sleep(wait)
            complete = True
        return self._export(start, end, zone, complete=complete)

    def execute_complete(
        self,
        context: Context,
        event: Any = None,
        window_start: str | None = None,
        window_end: str | None = None,
    ) -> dict[str, Any]:
        """Resume after the lag wait and export the report of the window decided before deferring."""
        self._filters()
        zone = account_zone(self.hook)
        if window_start and window_end:
            start, end = (
                as_instant(window_start, zone, field="start"),
                as_instant(window_end, zone, field="end"),
            )
        else:
            start, end = self._window(context, zone)
        complete = utcnow() >= end + self.report_lag
        return self._export(start, end, zone, complete=complete)

    def _export(self, start: datetime, end: datetime, zone: tzinfo, *, complete: bool) -> dict[str, Any]:
        filters = self._filters()
        if not complete:
            self.log.warning(
                "MailGrid's report for the window ending %s is not complete yet (the vendor lags about %s); "
                "rows sent near its end may be missing",
                end.astimezone(zone).isoformat(),
                self.report_lag,
            )
        self.log.info(
            "MailGrid %s report %s → %s (%s)%s",
            "consolidated" if self.consolidated else "detailed",
            start.astimezone(zone).isoformat(),
            end.astimezone(zone).isoformat(),
            zone,
            _describe_filters(filters),
        )
        writer = (
            RowWriter(
                self.output_path,
                columns=REPORT_COLUMNS,
                fmt=self.output_format,
                conn_id=self.output_conn_id,
                atomic=True,
            )
            if self.output_path
            else None
        )
        selector = RowSelector(zone)
        statuses: Counter[str] = Counter()
        records: list[dict[str, Any]] = []
        rows = delivered = windows = 0
        with writer if writer is not None else nullcontext():
            for window in plan_windows(start, end, zone, self.max_window):
                windows += 1
                answer = self.hook.report_wall_clock(
                    wall_start=window.wall_start, wall_end=window.wall_end, **filters
                )
                kept = 0
                for row in selector.select(window, answer):
                    kept += 1
                    rows += 1
                    delivered += row["delivered"]
                    statuses[row["status"]] += 1
                    if writer is not None:
                        writer.write(row)
                    if self.return_rows:
                        records.append(row)
                if writer is not None:
                    writer.flush()
                self.log.info(
                    "Sub-window %s: %d row(s) answered, %d in the window",
                    window.describe(),
                    len(answer),
                    kept,
                )
                del answer  # one sub-window's answer in memory at a time, not two
        if selector.untimed:
            self.log.warning(
                "%d row(s) had no readable data/hora: kept once each, with sent_at empty", selector.untimed
            )
        summary: dict[str, Any] = {
            "path": str(writer.path) if writer is not None else None,
            "format": writer.format if writer is not None else None,
            "rows": rows,
            "delivered": delivered,
            "failed": rows - delivered,
            "statuses": dict(statuses),
            "window": {
                "start": start.astimezone(zone).isoformat(),
                "end": end.astimezone(zone).isoformat(),
                "timezone": str(zone),
                "sub_windows": windows,
            },
            "complete": complete,
        }
        if self.return_rows:
            summary["records"] = records
        self.log.info(
            "MailGrid report: %d row(s), %d delivered, %d not delivered, written to %s",
            rows,
            delivered,
            rows - delivered,
            summary["path"] or "(no file)",
        )
        return summary


def _describe_filters(filters: Mapping[str, Any]) -> str:
    parts = []
    if filters.get("status"):
        parts.append(f"status={filters['status']}")
    if filters.get("recipient"):
        parts.append(f"recipient={mask_email(filters['recipient'])}")
    if filters.get("sender"):
        parts.append(f"sender={mask_email(filters['sender'])}")
    if filters.get("message_id"):
        parts.append(f"message_id={filters['message_id']}")
    return (" filtered by " + ", ".join(parts)) if parts else ""


# ---------------------------------------------------------------------------------------------- deliveries


def delivery_queries(
    pending: Sequence[str],
    start: datetime,
    end: datetime,
    zone: tzinfo,
    *,
    per_id_query_limit: int,
    max_window: timedelta,
) -> Iterator[tuple[ReportWindow, str | None]]:
    """The report queries that find ``pending`` message ids in ``[start, end)``: ``(window, message_id)``.

    Up to ``per_id_query_limit`` ids are looked up one by one (``idMensagem``: small answers); more are
    found by reading the whole window in ``max_window`` sub-windows (``message_id`` ``None``).
    """
    if len(pending) <= per_id_query_limit:
        windows = list(plan_windows(start, end, zone, None))
        for message_id in pending:
            for window in windows:
                yield window, message_id
    else:
        for window in plan_windows(start, end, zone, max_window):
            yield window, None


def collect_deliveries(
    found: dict[str, dict[str, Any]],
    wanted: set[str],
    window: ReportWindow,
    raw_rows: Iterable[Mapping[str, Any]],
    zone: tzinfo,
) -> None:
    """Record in ``found`` the first row of each wanted message id that belongs to ``window``.

    ``found[id]`` is ``{"status", "delivered", "recipient", "sent_at"}``. Copies (Cc/Bcc) share their
    message's id; the first row in the vendor's order (the ``To`` recipient) is the one kept.
    """
    for raw in raw_rows:
        message_id = str(raw.get("msgid") or "")
        if message_id not in wanted or message_id in found:
            continue
        row, sent = normalise_row(raw, zone)
        if sent is not None and not window.contains(sent):
            continue
        found[message_id] = {
            "status": row["status"],
            "delivered": row["delivered"],
            "recipient": row["recipient"],
            "sent_at": row["sent_at"],
        }


def find_deliveries(
    hook: MailGridHook,
    pending: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    per_id_query_limit: int,
    max_window: timedelta,
) -> dict[str, dict[str, Any]]:
    """Look ``pending`` message ids up in the detailed report of ``[start, end)`` (worker side)."""
    zone = account_zone(hook)
    found: dict[str, dict[str, Any]] = {}
    wanted = set(pending)
    for window, message_id in delivery_queries(
        pending, start, end, zone, per_id_query_limit=per_id_query_limit, max_window=max_window
    ):
        if message_id is not None and message_id in found:
            continue
        answer = hook.report_wall_clock(
            wall_start=window.wall_start, wall_end=window.wall_end, message_id=message_id
        )
        collect_deliveries(found, wanted, window, answer, zone)
    return found


async def afind_deliveries(
    hook: MailGridHook,
    pending: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    per_id_query_limit: int,
    max_window: timedelta,
) -> dict[str, dict[str, Any]]:
    """The asynchronous twin of :func:`find_deliveries` (triggerer side; reads the connection async)."""
    await hook.aget_settings()
    zone = account_zone(hook)
    found: dict[str, dict[str, Any]] = {}
    wanted = set(pending)
    for window, message_id in delivery_queries(
        pending, start, end, zone, per_id_query_limit=per_id_query_limit, max_window=max_window
    ):
        if message_id is not None and message_id in found:
            continue
        answer = await hook.areport_wall_clock(
            wall_start=window.wall_start, wall_end=window.wall_end, message_id=message_id
        )
        collect_deliveries(found, wanted, window, answer, zone)
    return found
