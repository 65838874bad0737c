"""Former home of the MailGrid report operator and its window rules, kept so that 0.1.0 imports still work.

The operator lives in :mod:`airflow_provider_emailbr.operators.mailgrid`, the window planning in
:mod:`airflow_provider_emailbr.utils.report_windows`, the reading of a report row in
:mod:`airflow_provider_emailbr.hooks.mailgrid` and the delivery look-up shared by the sensor and the trigger
in :mod:`airflow_provider_emailbr.waiting.mailgrid`; import them from there.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from airflow_provider_emailbr.hooks.mailgrid import DELIVERED_TEXTS, is_delivered, parse_report_row
from airflow_provider_emailbr.operators.mailgrid import (
    DEFAULT_REPORT_LAG,
    MAX_SUB_WINDOWS,
    REPORT_COLUMNS,
    STATUS_FILTERS,
    MailGridReportOperator,
    RowSelector,
    normalise_row,
)
from airflow_provider_emailbr.utils.report_windows import (
    DEFAULT_MAX_WINDOW,
    ReportWindow,
    account_zone,
    as_instant,
    as_timedelta,
    plan_windows,
    utcnow,
)
from airflow_provider_emailbr.waiting.mailgrid import (
    afind_deliveries,
    collect_deliveries,
    delivery_queries,
    find_deliveries,
)

__all__ = [
    "DEFAULT_MAX_WINDOW",
    "DEFAULT_REPORT_LAG",
    "DELIVERED_TEXTS",
    "MAX_SUB_WINDOWS",
    "REPORT_COLUMNS",
    "STATUS_FILTERS",
    "MailGridReportOperator",
    "ReportWindow",
    "RowSelector",
    "account_zone",
    "afind_deliveries",
    "as_instant",
    "as_timedelta",
    "collect_deliveries",
    "delivery_queries",
    "find_deliveries",
    "is_delivered",
    "normalise_row",
    "parse_report_time",
    "plan_windows",
    "utcnow",
]


def parse_report_time(day: Any, clock: Any, zone: tzinfo) -> datetime | None:
    """The instant of a report row's local ``data`` and ``hora`` in ``zone``, or ``None`` when unreadable.

    Kept for 0.1.0 callers: it is :func:`~airflow_provider_emailbr.hooks.mailgrid.parse_report_row`'s
    ``sent_at``.
    """
    return parse_report_row({"data": day, "hora": clock}, zone).sent_at
