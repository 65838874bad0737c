"""Dates and times from DAG authors and files: an aware time in the account's zone, or a named error.

Hostile text, wrong types, any aware or naive datetime and unknown zone names go to :func:`to_local`; the
two written forms of a birth date (ISO and Brazilian ``DD/MM/YYYY``) and hostile text go to
:func:`parse_birth_date`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.dates import parse_birth_date, to_local
from tests.strategies import HOSTILE_SETTINGS, HOSTILE_TEXT, WRONG_TYPES

ZONES = st.sampled_from(
    ["America/Sao_Paulo", "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"]
)
DATE_TEXT = st.one_of(
    HOSTILE_TEXT,
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.from_regex(r"\A-?\d{1,20}([-/]\d{1,20}){0,2}([T ]\d{1,3}(:\d{1,3}){0,2})?([+-]\d{2}:?\d{2}|Z)?\Z"),
)


@HOSTILE_SETTINGS
@given(
    value=st.one_of(
        DATE_TEXT,
        WRONG_TYPES,
        st.datetimes(timezones=st.none() | st.timezones()),
        st.dates(),
    ),
    zone=ZONES,
)
# a wall time inside Hong Kong's 1955 DST gap: converted directly, pendulum named an instant an hour early
@example(datetime(1955, 3, 20, 4, 0, tzinfo=ZoneInfo("Asia/Hong_Kong")), "America/Sao_Paulo")
def test_to_local_returns_an_aware_time_in_the_zone_or_a_named_error(value, zone):
    try:
        result = to_local(value, zone, field="start_at")
    except EmailBRInputError as err:
        assert str(err).startswith("start_at: ")
        return
    assert isinstance(result, pendulum.DateTime)
    assert result.tzinfo is not None and result.timezone_name == zone
    if isinstance(value, datetime) and value.tzinfo is not None:
        # the same instant, only shown in another zone; compared in UTC because Python (PEP 495) makes a
        # wall time inside a DST gap or fold unequal to every time in another zone, even to itself converted
        assert result == value.astimezone(timezone.utc)


@HOSTILE_SETTINGS
@given(value=st.one_of(st.text(max_size=5), WRONG_TYPES), zone=ZONES)
def test_to_local_refuses_an_unknown_zone_clearly(value, zone):
    with pytest.raises(EmailBRInputError, match="is not an IANA zone name"):
        to_local("2030-01-01T00:00:00", f"Mars/{zone}{value!s:.5}", field="start_at")


@pytest.mark.parametrize(
    "text", ["1", "12", "123", "01/02/2025", "23/11/2026 09:30", "amanhã", "2026-11-23 9h"]
)
def test_to_local_refuses_what_is_not_iso_instead_of_guessing(text):
    with pytest.raises(EmailBRInputError, match="is not a date-time; use ISO-8601"):
        to_local(text, "America/Sao_Paulo", field="start_at")


@HOSTILE_SETTINGS
@given(st.one_of(DATE_TEXT, WRONG_TYPES, st.dates(), st.datetimes()))
def test_parse_birth_date_returns_the_written_date_or_a_named_error(value):
    try:
        result = parse_birth_date(value, field="birthday")
    except EmailBRInputError as err:
        assert str(err).startswith("birthday: ")
        return
    assert type(result) is date
    if isinstance(value, str):
        numbers = [int(n) for n in re.findall(r"\d+", value)]
        assert numbers in ([result.year, result.month, result.day], [result.day, result.month, result.year])


@HOSTILE_SETTINGS
@given(st.dates())
def test_parse_birth_date_round_trips_both_written_forms(day):
    assert parse_birth_date(day.isoformat(), field="b") == day
    assert parse_birth_date(f"{day.day:02d}/{day.month:02d}/{day.year:04d}", field="b") == day
