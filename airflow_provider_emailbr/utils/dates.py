"""Date and time conversions to the vendors' zone-less local formats.

CriaEnvio and MailGrid dates carry no time zone: they are local time of the account, Brazil's
``America/Sao_Paulo`` unless the connection's ``timezone`` extra says otherwise. Aware datetimes are
converted to that zone; naive ones are taken as already being in it.

Calendar dates written as text are read in one place, :func:`parse_calendar_date`: ISO ``YYYY-MM-DD`` or
Brazilian ``DD/MM/YYYY`` (never the US order). :func:`parse_wall_time` adds a ``HH:MM[:SS]`` clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from functools import cache
from typing import Any

import pendulum
from pendulum import DateTime

from airflow_provider_emailbr.exceptions import EmailBRInputError

DEFAULT_TIMEZONE = "America/Sao_Paulo"

# Patterns compiled on first use (:func:`_date_pattern`, ``re``'s cache), not at import.
#: ``YYYY-MM-DD`` (groups 1-3) or ``DD/MM/YYYY`` (groups 4-6), in one match.
_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})/(\d{1,2})/(\d{4})"
#: ``HH:MM`` or ``HH:MM:SS``.
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"


@cache
def _date_pattern() -> re.Pattern[str]:
    """:data:`_DATE`, compiled once: an import reads a date on every row."""
    return re.compile(_DATE)


def parse_calendar_date(text: str) -> date | None:
    """The date written in ``text`` as ``YYYY-MM-DD`` or ``DD/MM/YYYY``; ``None`` when it is neither or
    names no real day (``31/02/2026``)."""
    match = _date_pattern().fullmatch(text.strip())
    if match is None:
        return None
    try:
        if match[1]:
            return date(int(match[1]), int(match[2]), int(match[3]))
        return date(int(match[6]), int(match[5]), int(match[4]))
    except ValueError:
        return None


def parse_wall_time(day: str, clock: str) -> datetime | None:
    """The naive local date-time of a date (:func:`parse_calendar_date`) and a ``HH:MM[:SS]`` clock, as
    zone-less vendor rows give them; ``None`` when either cannot be read."""
    calendar_day = parse_calendar_date(day)
    match = re.fullmatch(_CLOCK, clock.strip())
    if calendar_day is None or match is None:
        return None
    try:
        return datetime(
            calendar_day.year,
            calendar_day.month,
            calendar_day.day,
            int(match[1]),
            int(match[2]),
            int(match[3] or 0),
        )
    except ValueError:
        return None


def to_local(value: datetime | date | str, tz: str, *, field: str = "value") -> DateTime:
    """Return ``value`` as a pendulum datetime in zone ``tz``.

    Accepts aware or naive ``datetime`` (naive = already local), ``date`` (midnight local), and ISO-8601
    strings (with or without offset). Anything else raises :class:`EmailBRInputError` naming ``field``.
    """
    try:
        zone = pendulum.timezone(tz)
    except (ValueError, TypeError) as err:  # InvalidTimezone is a ValueError
        raise EmailBRInputError(
            f"{field}: time zone {tz!r} is not an IANA zone name, e.g. {DEFAULT_TIMEZONE}"
        ) from err
    try:
        return _to_local(value, zone, field)
    except OverflowError as err:  # an offset that pushes year 1 or 9999 out of range
        raise EmailBRInputError(
            f"{field}: {value!r} is out of the supported date range (years 1 to 9999 in {tz})"
        ) from err


def _to_local(value: datetime | date | str, zone: Any, field: str) -> DateTime:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the same rule as for strings: a skipped or repeated local time resolves
            return pendulum.datetime(  # the way pendulum.parse does (after the transition)
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
                tz=zone,
            )
        # through UTC: pendulum.instance() moves a wall time inside a DST gap of the value's own zone by an
        # hour, so converting it directly would name another instant than Python's own reading of the value
        return pendulum.instance(value.astimezone(timezone.utc)).in_timezone(zone)
    if isinstance(value, date):
        return pendulum.datetime(value.year, value.month, value.day, tz=zone)
    if isinstance(value, str):
        text = value.strip()
        try:
            # strict: ISO-8601 only; the lenient fallback read "1" as the 1st of this month and
            # "01/02/2025" as 2 January (US order), silently
            parsed: Any = pendulum.parse(text, tz=zone, strict=True)
        except (ValueError, TypeError, OverflowError, pendulum.parsing.exceptions.ParserError) as err:
            raise EmailBRInputError(
                f"{field}: {value!r} is not a date-time; use ISO-8601, e.g. 2026-11-23T09:30:00-03:00"
            ) from err
        if isinstance(parsed, DateTime):
            return parsed.in_timezone(zone)
        if isinstance(parsed, date):
            return pendulum.datetime(parsed.year, parsed.month, parsed.day, tz=zone)
    raise EmailBRInputError(
        f"{field}: expected a datetime, a date or an ISO-8601 string, got {type(value).__name__} {value!r}"
    )


def parse_birth_date(value: date | datetime | str, *, field: str) -> date:
    """Parse a calendar date: ``date``, ``datetime``, ISO ``YYYY-MM-DD`` or Brazilian ``DD/MM/YYYY``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        parsed = parse_calendar_date(value)
        if parsed is not None:
            return parsed
    raise EmailBRInputError(f"{field}: {value!r} is not a date; use a date, YYYY-MM-DD or DD/MM/YYYY")
