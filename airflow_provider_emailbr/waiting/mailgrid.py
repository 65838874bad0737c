"""Finding MailGrid messages in the detailed report, shared by the delivery sensor and its trigger.

:class:`DeliveryLookup` is the whole plan, without I/O: which report queries find the pending message ids
(:func:`delivery_queries`) and what each answer says about them (:func:`collect_deliveries`). The two
drivers, :func:`find_deliveries` (worker) and :func:`afind_deliveries` (triggerer), only run its queries
through the hook, synchronously or asynchronously.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook, MailGridReportRow, parse_report_row
from airflow_provider_emailbr.utils.report_windows import ReportWindow, account_zone, plan_windows


def delivery_record(row: MailGridReportRow) -> dict[str, Any]:
    """What the sensor returns for one message: ``{"status", "delivered", "recipient", "sent_at"}``
    (JSON-able; ``sent_at`` ISO-8601 with offset, or ``None``)."""
    return {
        "status": row.status,
        "delivered": row.delivered,
        "recipient": row.recipient,
        "sent_at": row.sent_at.isoformat() if row.sent_at is not None else None,
    }


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

    ``found[id]`` is :func:`delivery_record` of the row. Copies (Cc/Bcc) share their message's id; the first
    row in the vendor's order (the ``To`` recipient) is the one kept. A row whose time cannot be read is
    kept (it cannot be placed in a window, and every report row is final).
    """
    for raw in raw_rows:
        message_id = str(raw.get("msgid") or "")
        if message_id not in wanted or message_id in found:
            continue
        row = parse_report_row(raw, zone)
        if row.sent_at is not None and not window.contains(row.sent_at):
            continue
        found[message_id] = delivery_record(row)


class ReportQuery(NamedTuple):
    """One report query of a lookup: a window, and the one message id asked for (``None``: every row)."""

    window: ReportWindow
    message_id: str | None

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`MailGridHook.report_wall_clock` for this query."""
        return {
            "wall_start": self.window.wall_start,
            "wall_end": self.window.wall_end,
            "message_id": self.message_id,
        }


class DeliveryLookup:
    """Look message ids up in the detailed report of ``[start, end)``, without doing any I/O.

    Iterate :meth:`queries`, run each through the hook and hand the answer to :meth:`record`; :attr:`found`
    then holds :func:`delivery_record` of every id found. A per-id query is skipped once its id is found.
    """

    def __init__(
        self,
        pending: Sequence[str],
        start: datetime,
        end: datetime,
        zone: tzinfo,
        *,
        per_id_query_limit: int,
        max_window: timedelta,
    ) -> None:
        self.zone = zone
        self.found: dict[str, dict[str, Any]] = {}
        self._wanted = set(pending)
        self._planned = delivery_queries(
            pending, start, end, zone, per_id_query_limit=per_id_query_limit, max_window=max_window
        )

    def queries(self) -> Iterator[ReportQuery]:
        """The queries still worth making, lazily (an id found by an earlier answer is not asked again)."""
        for window, message_id in self._planned:
            if message_id is None or message_id not in self.found:
                yield ReportQuery(window, message_id)

    def record(self, query: ReportQuery, raw_rows: Iterable[Mapping[str, Any]]) -> None:
        """Take in the answer (report rows) to ``query``."""
        collect_deliveries(self.found, self._wanted, query.window, raw_rows, self.zone)


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
    lookup = DeliveryLookup(
        pending, start, end, account_zone(hook), per_id_query_limit=per_id_query_limit, max_window=max_window
    )
    for query in lookup.queries():
        lookup.record(query, hook.report_wall_clock(**query.arguments()))
    return lookup.found


async def afind_deliveries(
    hook: MailGridHook,
    pending: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    per_id_query_limit: int,
    max_window: timedelta,
) -> dict[str, dict[str, Any]]:
    """The asynchronous driver of :class:`DeliveryLookup` (triggerer side; reads the connection async)."""
    await hook.aget_settings()
    lookup = DeliveryLookup(
        pending, start, end, account_zone(hook), per_id_query_limit=per_id_query_limit, max_window=max_window
    )
    for query in lookup.queries():
        lookup.record(query, await hook.areport_wall_clock(**query.arguments()))
    return lookup.found
