"""utils.report_windows: half-open query windows that cover a range exactly once, aligned on local
wall-clock time and cut at every change of the zone's UTC offset (daylight saving).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.report_windows import plan_windows

UTC = timezone.utc
NY = pendulum.timezone("America/New_York")
SP = pendulum.timezone("America/Sao_Paulo")

# ---------------------------------------------------------------------------------------------- windows


def test_fall_back_day_splits_at_the_change_and_follows_local_midnights():
    windows = list(
        plan_windows(
            datetime(2026, 10, 31, 4, tzinfo=UTC), datetime(2026, 11, 3, 5, tzinfo=UTC), NY, timedelta(days=1)
        )
    )
    assert [w.describe() for w in windows] == [
        "2026-10-31 00:00 → 2026-11-01 00:00",
        "2026-11-01 00:00 → 2026-11-01 02:00",
        "2026-11-01 01:00 → 2026-11-02 00:00",
        "2026-11-02 00:00 → 2026-11-03 00:00",
    ]
    assert windows[1].end == datetime(2026, 11, 1, 6, tzinfo=UTC)  # 02:00 EDT = 01:00 EST
    assert [w.utc_offset for w in windows] == [timedelta(hours=h) for h in (-4, -4, -5, -5)]


def test_spring_forward_day_splits_at_the_change():
    windows = list(
        plan_windows(
            datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC), NY, timedelta(days=1)
        )
    )
    assert [w.describe() for w in windows] == [
        "2026-03-08 00:00 → 2026-03-08 02:00",
        "2026-03-08 03:00 → 2026-03-09 00:00",
    ]


def test_sub_windows_are_aligned_on_the_start_and_cut_at_the_end():
    start = datetime(2026, 5, 1, 9, 30, tzinfo=SP)
    windows = list(plan_windows(start, start + timedelta(hours=2, minutes=20), SP, timedelta(hours=1)))
    assert [w.describe() for w in windows] == [
        "2026-05-01 09:30 → 2026-05-01 10:30",
        "2026-05-01 10:30 → 2026-05-01 11:30",
        "2026-05-01 11:30 → 2026-05-01 11:50",
    ]


def test_seconds_round_the_query_outwards():
    start = datetime(2026, 5, 1, 12, 0, 59, tzinfo=UTC)
    (window,) = plan_windows(start, start + timedelta(seconds=2), SP, None)
    # 09:00:59 → 09:01:01 local: horaini rounds down, horafim up, the rows' own times decide.
    assert window.describe() == "2026-05-01 09:00 → 2026-05-01 09:02"


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=9)),
    max_window=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=3)),
    zone=st.sampled_from(["America/New_York", "America/Sao_Paulo", "Europe/London", "Australia/Lord_Howe"]),
)
def test_windows_cover_the_range_exactly_once_within_limits(start, length, max_window, zone):
    tz = pendulum.timezone(zone)
    end = start + length
    windows = list(plan_windows(start, end, tz, max_window))
    assert windows[0].start == start and windows[-1].end == end
    for previous, following in itertools.pairwise(windows):
        assert previous.end == following.start
    for window in windows:
        assert timedelta(0) < window.end - window.start <= max_window
        # one UTC offset for the whole window, so the wall-clock range is exact
        last = window.end - timedelta(microseconds=1)
        assert window.utc_offset == window.start.astimezone(tz).utcoffset() == last.astimezone(tz).utcoffset()
        assert window.wall_start <= window.wall_end


def test_plan_refuses_a_non_positive_max_window():
    with pytest.raises(EmailBRInputError, match="max_window"):
        list(
            plan_windows(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), SP, timedelta(0))
        )
