"""Report windows in a zone-less vendor's local time: exact, repeatable, safe across daylight-saving changes.

Vendors such as MailGrid take a report window in the account's local time at minute precision (no zone) and
stamp each row with a local date and time. The rules here turn that into exact windows:

* **Half-open windows, decided by each row's own time.** A window is ``[start, end)`` in absolute time. The
  query asks for the minutes covering it (the start rounded down, the end rounded up, whichever way the vendor
  treats its ends) and a row is kept only when its own time falls in ``[start, end)``
  (:meth:`ReportWindow.contains`). So consecutive windows (sub-windows of one run, or consecutive DAG runs)
  never report a row twice and never lose one at a boundary, even though the vendor's minute ends overlap.
* **Sub-windows** (:func:`plan_windows`) never exceed ``max_window``; they are aligned on the window's start
  in local wall-clock time (one-day sub-windows of a midnight-to-midnight window follow local midnights) and
  never span a change of the zone's UTC offset, so each query is a plain wall-clock range.
* **Ambiguous local times.** In the hour repeated when clocks fall back, a zone-less ``01:30`` is two
  instants; the vendor's answer cannot tell which. Rows are read as the first occurrence (``fold=0``), which
  keeps every row in exactly one window.

``zoneinfo`` has no public list of a zone's transitions, so an offset change is found by bisection.
Nothing here does I/O: the operator, the sensor and the trigger all plan with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple

import pendulum

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRInputError
from airflow_provider_emailbr.utils.dates import to_local

#: Default sub-window length: one day bounds each answer while keeping the number of calls low.
DEFAULT_MAX_WINDOW = timedelta(days=1)

_UTC = timezone.utc
_MINUTE = timedelta(minutes=1)
#: Step when looking for a UTC-offset change; real zones never change twice within it.
_OFFSET_PROBE_SECONDS = 6 * 3600


# ---------------------------------------------------------------------------------------------- zones


def account_zone(hook: Any) -> tzinfo:
    """The zone of a connection's zone-less times (the hook's ``timezone``, from the extra), validated.

    ``hook`` is a CriaEnvio or MailGrid hook (anything with ``timezone``, ``conn_id`` and ``conn_type``).
    """
    name = hook.timezone
    try:
        return pendulum.timezone(name)
    except Exception:
        raise EmailBRConfigError(
            f"Connection {hook.conn_id!r} ({hook.conn_type}): extra 'timezone' {name!r} is not an IANA time "
            "zone name; use e.g. America/Sao_Paulo"
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


class ReportWindow(NamedTuple):
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
