"""MailGrid operators: transactional sends and delivery reports.

:class:`MailGridReportOperator` exports MailGrid's delivery report for a time window. The window rules
(half-open windows decided by each row's own time, sub-windows that never span a daylight-saving change) are
in :mod:`airflow_provider_emailbr.utils.report_windows`; the reading of a report row is the hook's
(:func:`~airflow_provider_emailbr.hooks.mailgrid.parse_report_row`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import date, datetime, timedelta, tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import (
    MAX_MESSAGE_BYTES,
    MAX_RECIPIENTS,
    MailGridHook,
    parse_report_row,
)
from airflow_provider_emailbr.operators.send import EmailBRSendOperator
from airflow_provider_emailbr.sending.addresses import split_addresses
from airflow_provider_emailbr.sending.mailgrid import MailGridAdapter, MailGridPlan, plan_message
from airflow_provider_emailbr.sending.model import read_attachments
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.report_windows import (
    DEFAULT_MAX_WINDOW,
    ReportWindow,
    account_zone,
    as_instant,
    as_timedelta,
    plan_windows,
    utcnow,
)
from airflow_provider_emailbr.utils.storage import RowWriter, detect_format

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

# ------------------------------------------------------------------------------------------ delivery reports

#: Columns of a normalised report row, in file order.
REPORT_COLUMNS: tuple[str, ...] = ("message_id", "sender", "recipient", "sent_at", "status", "delivered")

#: The ``status`` filter: our word → the vendor's (``sucesso``/``erro`` are accepted as well).
STATUS_FILTERS: dict[str, str] = {
    "delivered": "sucesso",
    "failed": "erro",
    "sucesso": "sucesso",
    "erro": "erro",
}

#: Most report queries (sub-windows) one export may make: a longer range is a mistake, refused up front.
MAX_SUB_WINDOWS = 5000
#: The vendor's reports lag about 10 minutes behind sends.
DEFAULT_REPORT_LAG = timedelta(minutes=10)


def normalise_row(raw: Mapping[str, Any], zone: tzinfo) -> tuple[dict[str, Any], datetime | None]:
    """A vendor report row as :data:`REPORT_COLUMNS` (``sent_at`` ISO-8601 with offset), and its instant."""
    row = parse_report_row(raw, zone)
    record = {
        "message_id": row.message_id,
        "sender": row.sender,
        "recipient": row.recipient,
        "sent_at": row.sent_at.isoformat() if row.sent_at is not None else None,
        "status": row.status,
        "delivered": row.delivered,
    }
    return record, row.sent_at


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


# ---------------------------------------------------------------------------------------- transactional send


class MailGridSendEmailOperator(EmailBRSendOperator):
    """Send one e-mail to any number of recipients through MailGrid (``POST send/``).

    ``to`` is sent in calls of at most 100 recipients (MailGrid's limit), all sharing the same body and
    attachments (encoded once). ``cc`` and ``bcc`` (≤ 100 each) are copied **once**: they ride with the first
    call. Limits, the sender and the 50 MB message size (body and attachments as encoded) are checked before
    the first call. Each address receives the message once (duplicates are dropped, case-insensitively).
    Planning, sending and the reading of MailGrid's answers are the sending layer's
    (:mod:`airflow_provider_emailbr.sending.mailgrid`).

    Returns one record per recipient (``to`` first, then ``cc``, ``bcc``): ``{"to", "role", "id",
    "status", "codigo", "outcome"}`` (+ ``"error"``), where ``status``/``codigo`` are MailGrid's (``"MSG
    ENVIADA"``/``"200"``) and ``outcome`` is ``sent``, ``refused``, ``unknown`` or ``not_sent``. Copies
    carry the id of their call's first accepted recipient. See
    :mod:`airflow_provider_emailbr.operators.send` for the retry rules.

    :param to: recipients: an address, a comma/semicolon-separated string, a list, or an XComArg (templated).
    :param subject: subject (templated).
    :param html: HTML body (``mensagemTipo=html``; templated). Give ``html`` or ``text``.
    :param text: plain-text body (``mensagemTipo=text``; templated).
    :param alt_text: plain-text alternative of an HTML body (``mensagemAlt``; templated).
    :param cc: copies, ≤ 100 (templated).
    :param bcc: blind copies, ≤ 100 (templated).
    :param encoding: ``base64`` (default) or ``quoted-printable`` (``mensagemEncoding``).
    :param from_email: sender (default: the connection's ``from_email`` extra; templated).
    :param from_name: sender name (default: the connection's ``from_name`` extra; templated).
    :param reply_to: reply-to address (``emailReply``; templated).
    :param attachments: paths or ``ObjectStoragePath`` objects; MIME type from the name (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    :param mailgrid_conn_id: the MailGrid connection.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "to",
        "cc",
        "bcc",
        "subject",
        "html",
        "text",
        "alt_text",
        "from_email",
        "from_name",
        "reply_to",
        "attachments",
        "mailgrid_conn_id",
    )
    template_fields_renderers = {"html": "html"}
    platform = MailGridAdapter.name
    max_concurrency = MailGridAdapter.max_concurrency

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str,
        html: str | None = None,
        text: str | None = None,
        alt_text: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        encoding: str = "base64",
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to: str | None = None,
        attachments: Sequence[str | ObjectStoragePath] | None = None,
        attachments_conn_id: str | None = None,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html = html
        self.text = text
        self.alt_text = alt_text
        self.cc = cc
        self.bcc = bcc
        self.encoding = encoding
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to = reply_to
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id
        self.mailgrid_conn_id = mailgrid_conn_id

    @cached_property
    def hook(self) -> MailGridHook:
        """The MailGrid hook (built on first use)."""
        return MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)

    def plan(self, context: Context) -> MailGridPlan:
        """Validate everything and build the shared body once; one item per recipient."""
        if bool(self.html) == bool(self.text):
            raise EmailBRInputError(
                "html/text: give exactly one body (html → mensagemTipo html, text → text)"
            )
        if self.alt_text and not self.html:
            raise EmailBRInputError("alt_text: only meaningful with an html body")
        to = split_addresses(self.to, field="to")
        if not to:
            raise EmailBRInputError(f"to: at least one recipient is required, got {self.to!r}")
        cc = split_addresses(self.cc, field="cc")
        bcc = split_addresses(self.bcc, field="bcc")
        files = read_attachments(
            self.attachments, self.attachments_conn_id, max_encoded_bytes=MAX_MESSAGE_BYTES
        )
        plan = plan_message(
            self.hook,
            to=to,
            cc=cc,
            bcc=bcc,
            subject=self.subject,
            html=self.html,
            text=self.text,
            alt_text=self.alt_text,
            encoding=self.encoding,
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to=self.reply_to,
            attachments=files,
        )
        self.log.info(
            "MailGrid: %d recipient(s) in calls of ≤ %d, %d cc, %d bcc, %d attachment(s)",
            len(to),
            MAX_RECIPIENTS,
            len(cc),
            len(bcc),
            len(files),
        )
        return plan
