"""The contact import engine: one base operator for what does not depend on the platform.

An import runs in explicit phases, each a method a later feature can replace on its own:

1. **read and validate** (:meth:`BaseImportContactsOperator.validated_batches`): raw rows stream from the
   :class:`~airflow_provider_emailbr.importing.sources.RowSource` in batches of ``batch_size``; each row
   becomes a :class:`~airflow_provider_emailbr.importing.rows.Contact` or a rejected row in the report.
2. **batches to send** (:meth:`BaseImportContactsOperator.send_batches_of`): duplicates are collapsed
   (case-insensitively; the last row wins, under the first spelling) with an on-disk store of the addresses
   seen. Each :class:`ImportBatch` carries its number and its last source row.
3. **send** (:meth:`BaseImportContactsOperator.send`): the platform splits each batch into units of work
   (:meth:`~BaseImportContactsOperator.plan_units`: a ``contact/mass/add`` chunk, one contact's upsert) that
   run on a few threads with a bounded number in flight
   (:class:`~airflow_provider_emailbr.utils.throttle.BoundedInFlight`). Each unit answers one
   :class:`ContactOutcome` per contact; outcomes are applied in the operator's thread, in order.
4. **confirmation** (:meth:`BaseImportContactsOperator.batch_confirmed`): called once every contact of a
   batch, and of every batch before it, has an outcome: the point where a checkpoint can be stored.

The platform operators (:mod:`airflow_provider_emailbr.operators.iagente`,
:mod:`airflow_provider_emailbr.operators.criaenvio`) only say which fields exist, how to resolve the target
(group or lists), how to split a batch and how to send one unit.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.dedup import SeenEmails
from airflow_provider_emailbr.importing.rows import (
    Contact,
    FieldSpec,
    RowNormaliser,
    RowRejected,
    raw_email,
    safe_row,
)
from airflow_provider_emailbr.importing.sources import FileSource, IterableSource, RowSource, SqlSource
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.storage import RowWriter
from airflow_provider_emailbr.utils.throttle import BoundedInFlight

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: Seconds between progress lines.
PROGRESS_EVERY = 10.0
#: Columns of the rejected-rows report.
REJECTED_COLUMNS = ("row", "email", "reason", "message", "vendor_message", "data")


@dataclass
class ImportStats:
    """Counters of one import run (see :meth:`BaseImportContactsOperator.execute` for their meaning)."""

    received: int = 0
    valid: int = 0
    duplicates: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)


@dataclass
class ImportBatch:
    """One read batch: its valid contacts (de-duplicated before sending), sent together.

    ``number`` counts read batches from 0; ``last_row`` is the number of the batch's last source row, so
    once the batch is confirmed every row up to it is settled (sent, or rejected in the report).
    """

    number: int
    last_row: int
    contacts: list[Contact]


@dataclass
class ContactOutcome:
    """What the platform did with one contact: a ``result`` when it took it, a ``rejection`` when not.

    ``result`` is ``imported`` (IAGENTEmail), ``created``, ``updated`` or ``kept`` (CriaEnvio).
    """

    contact: Contact
    result: str | None = None
    rejection: RowRejected | None = None


class ImportRun:
    """The bookkeeping of one run, kept in the operator's thread: counters, rejected-rows report, progress.

    :param report: the rejected-rows writer (opened and closed by the caller), or ``None`` for no report.
    :param log: the operator's logger, for progress lines.
    :param total: the number of rows when known (for the ETA).
    """

    def __init__(self, report: RowWriter | None, log: Any, total: int | None) -> None:
        self.stats = ImportStats()
        self.report = report
        self.log = log
        self.total = total
        self.started = self.last_progress = time.monotonic()

    def reject(
        self,
        row: int,
        email: Any,
        reason: str,
        message: str,
        vendor_message: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Count a rejected row and write it to the report."""
        self.stats.rejected += 1
        self.stats.reasons[reason] += 1
        if self.report is not None:
            self.report.write(
                {
                    "row": row,
                    "email": email,
                    "reason": reason,
                    "message": message,
                    "vendor_message": vendor_message,
                    "data": json.dumps(data, default=str) if data else "",
                }
            )

    def record(self, outcomes: Iterable[ContactOutcome]) -> None:
        """Apply the platform's outcomes: count what it took, report what it refused."""
        stats = self.stats
        for outcome in outcomes:
            rejection = outcome.rejection
            if rejection is not None:
                contact = outcome.contact
                self.reject(
                    contact.row,
                    contact.email,
                    rejection.reason,
                    rejection.message,
                    rejection.vendor_message,
                    contact.fields,
                )
                continue
            stats.sent += 1
            if outcome.result == "created":
                stats.created += 1
            elif outcome.result == "updated":
                stats.updated += 1

    def maybe_log_progress(self) -> None:
        """Log rows done, rate and ETA, at most every :data:`PROGRESS_EVERY` seconds."""
        now = time.monotonic()
        if now - self.last_progress < PROGRESS_EVERY:
            return
        self.last_progress = now
        stats = self.stats
        rate = stats.received / max(now - self.started, 1e-9)
        eta = f", ETA {max(self.total - stats.received, 0) / rate:.0f} s" if self.total and rate else ""
        self.log.info(
            "progress: %d rows read, %d sent, %d rejected, %.0f rows/s%s",
            stats.received,
            stats.sent,
            stats.rejected,
            rate,
            eta,
        )


class BaseImportContactsOperator(BaseOperator):
    """Stream contacts from one source into an e-mail platform, validating and reporting every row.

    Exactly one source: ``contacts`` (an iterable of dicts, e.g. an upstream task's XCom), ``source_path``
    (CSV or JSON Lines, local or any ``ObjectStoragePath`` URI) or ``sql`` with ``sql_conn_id`` (any
    common-sql connection, read with ``fetchmany``).

    Memory stays constant whatever the input size: rows stream from the source in batches, and the e-mails
    already seen in the run live in a temporary on-disk SQLite table, not in a Python set.

    :param contacts: iterable of dicts (templated).
    :param source_path: file path or URI (templated); format from the extension or ``source_format``.
    :param source_format: ``csv`` or ``jsonl``.
    :param source_conn_id: connection for the object store of ``source_path``.
    :param encoding: text encoding of the file (default UTF-8; a UTF-8 BOM is ignored; Latin-1 is common).
    :param delimiter: CSV delimiter; detected from the header among ``; , tab |`` when not given.
    :param sql: query to read the contacts from (templated).
    :param sql_conn_id: connection of a common-sql ``DbApiHook`` (SQLite, Postgres, …).
    :param sql_parameters: parameters of the query.
    :param field_mapping: ``{platform field: source column}``; unmapped fields use same-named or well-known
        columns (``email``/``e-mail``, ``nome``/``name`` …).
    :param batch_size: rows read and validated per batch.
    :param rejected_path: where to write the rejected rows (CSV or JSON Lines, local or object storage).
    :param rejected_format: ``csv`` or ``jsonl`` when the extension does not say.
    :param rejected_conn_id: connection for the object store of ``rejected_path``.
    :param max_rejected_ratio: fail the task, after the whole import, when more than this fraction of the
        received rows was rejected (default 0.05). The report is written either way.
    :param dry_run: read, validate, resolve the target and count — send nothing.
    :param mask_emails: log e-mail addresses masked (default ``True``).
    """

    template_fields: Sequence[str] = (
        "contacts",
        "source_path",
        "sql",
        "sql_parameters",
        "field_mapping",
        "rejected_path",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "field_mapping": "json"}
    ui_color = "#e8f4f8"

    #: Platform fields, the e-mail first.
    fields_spec: ClassVar[tuple[FieldSpec, ...]] = ()
    #: Name of the platform in messages.
    platform: ClassVar[str] = ""

    def __init__(
        self,
        *,
        contacts: Iterable[Mapping[str, Any]] | str | None = None,
        source_path: str | ObjectStoragePath | None = None,
        source_format: str | None = None,
        source_conn_id: str | None = None,
        encoding: str = "utf-8",
        delimiter: str | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        sql_parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        field_mapping: Mapping[str, str] | None = None,
        batch_size: int = 1000,
        rejected_path: str | ObjectStoragePath | None = None,
        rejected_format: str | None = None,
        rejected_conn_id: str | None = None,
        max_rejected_ratio: float = 0.05,
        dry_run: bool = False,
        mask_emails: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contacts = contacts
        self.source_path = source_path
        self.source_format = source_format
        self.source_conn_id = source_conn_id
        self.encoding = encoding
        self.delimiter = delimiter
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.sql_parameters = sql_parameters
        self.field_mapping = field_mapping
        self.batch_size = batch_size
        self.rejected_path = rejected_path
        self.rejected_format = rejected_format
        self.rejected_conn_id = rejected_conn_id
        self.max_rejected_ratio = max_rejected_ratio
        self.dry_run = dry_run
        self.mask_emails = mask_emails
        given = [name for name, value in self._sources().items() if value is not None]
        if len(given) != 1:
            raise EmailBRInputError(
                f"{type(self).__name__}: give exactly one source among contacts, source_path and sql; "
                f"got {given or 'none'}"
            )
        if sql is not None and not sql_conn_id:
            raise EmailBRInputError("sql_conn_id: required with sql (a common-sql connection id)")
        if not 0 <= max_rejected_ratio <= 1:
            raise EmailBRInputError(f"max_rejected_ratio: {max_rejected_ratio!r} must be between 0 and 1")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmailBRInputError(f"batch_size: {batch_size!r} must be a positive integer")

    def _sources(self) -> dict[str, Any]:
        return {"contacts": self.contacts, "source_path": self.source_path, "sql": self.sql}

    # ------------------------------------------------------------------ the platform's part (subclasses)

    @abstractmethod
    def prepare_target(self) -> dict[str, Any]:
        """Resolve (and, unless dry-running, create) the target; return what the summary should show."""

    @abstractmethod
    def plan_units(self, contacts: list[Contact]) -> Iterable[Any]:
        """Split a batch into units of work, each sent by one :meth:`send_unit` call.

        Runs in the operator's thread, lazily, while earlier units are in flight: do the CPU work of
        building a request here, so the sending threads only wait on the network.
        """

    @abstractmethod
    def send_unit(self, unit: Any) -> list[ContactOutcome]:
        """Send one unit (in a worker thread); answer one outcome per contact of the unit.

        Raise to fail the task (a wrong key, an account-wide refusal): nothing more is sent, and the
        outcomes of the units before this one are still counted and reported.
        """

    @property
    def max_in_flight(self) -> int:
        """Worker threads sending units (the base sends one unit at a time)."""
        return 1

    @property
    def in_flight_window(self) -> int:
        """Units submitted and not yet accounted for (at least :attr:`max_in_flight`)."""
        return self.max_in_flight

    def custom_field_columns(self) -> Mapping[str, str]:
        """Platform custom fields to read, ``{field name: source column}`` (CriaEnvio only)."""
        return {}

    def batch_confirmed(self, batch: ImportBatch, stats: ImportStats) -> None:
        """Called in order, once every contact of ``batch`` (and of every batch before it) has an outcome.

        The place to checkpoint progress; the base does nothing.
        """

    # ------------------------------------------------------------------ execute

    def execute(self, context: Context) -> dict[str, Any]:
        """Import every row; return the summary (also when nothing had to be sent).

        Summary keys: ``received`` (rows read), ``valid`` (passed validation), ``duplicates`` (rows whose
        e-mail appeared earlier in this run; the last one wins), ``sent`` (contacts the platform accepted),
        ``created``/``updated`` (CriaEnvio), ``rejected`` with ``rejected_reasons``, ``duration_seconds``,
        ``rate_per_second``, ``rejected_path``, ``dry_run`` and the resolved target.
        """
        self._check_rendered()
        source = self.row_source()
        normaliser = self.row_normaliser()
        started = time.monotonic()
        target = self.prepare_target()
        with contextlib.ExitStack() as stack:
            report = self._rejected_writer()
            if report is not None:
                stack.enter_context(report)
            run = ImportRun(report, self.log, source.size_hint())
            seen = stack.enter_context(SeenEmails())
            batches = self.send_batches_of(self.validated_batches(source, normaliser, run), seen, run)
            try:
                if self.dry_run:
                    for _ in batches:
                        run.maybe_log_progress()
                else:
                    self.send(batches, run)
            except Exception:
                partial = json.dumps(self._summary(run.stats, started, target), ensure_ascii=False)
                self.log.error("%s import stopped; counted until then: %s", self.platform, partial)
                raise
        stats = run.stats
        summary = self._summary(stats, started, target)
        self.log.info("%s import finished: %s", self.platform, json.dumps(summary, ensure_ascii=False))
        if stats.received and stats.rejected / stats.received > self.max_rejected_ratio:
            from airflow.sdk.exceptions import AirflowException

            raise AirflowException(
                f"{stats.rejected} of {stats.received} rows rejected "
                f"({stats.rejected / stats.received:.1%}), "
                f"more than max_rejected_ratio={self.max_rejected_ratio:.1%}; summary: "
                f"{json.dumps(summary, ensure_ascii=False)}"
            )
        return summary

    # ------------------------------------------------------------------ phase 1: read and validate

    def row_source(self) -> RowSource:
        """The source given to the operator."""
        if self.contacts is not None:
            return IterableSource(self.contacts)
        if self.source_path is not None:
            return FileSource(
                self.source_path,
                fmt=self.source_format,
                encoding=self.encoding,
                delimiter=self.delimiter,
                conn_id=self.source_conn_id,
            )
        return SqlSource(
            str(self.sql), str(self.sql_conn_id), parameters=self.sql_parameters, fetch_size=self.batch_size
        )

    def row_normaliser(self) -> RowNormaliser:
        """The normaliser of this platform's fields, with the operator's mapping."""
        return RowNormaliser(
            self.fields_spec,
            platform=self.platform,
            field_mapping=self.field_mapping,
            custom_columns=self.custom_field_columns(),
        )

    def validated_batches(
        self, source: RowSource, normaliser: RowNormaliser, run: ImportRun
    ) -> Iterator[ImportBatch]:
        """Read the source ``batch_size`` rows at a time; yield each batch with its valid contacts (rows
        numbered from 1 in source order) and report the others. A source without an e-mail column stops
        here, before anything is sent."""
        rows = enumerate(source.rows(), start=1)
        stats = run.stats
        for batch_number in itertools.count():
            batch = list(itertools.islice(rows, self.batch_size))
            if not batch:
                return
            if batch_number == 0 and source.fixed_columns:
                normaliser.check_columns(batch[0][1])
            valid = []
            for number, raw in batch:
                stats.received += 1
                try:
                    valid.append(normaliser.normalise(number, raw))
                except RowRejected as err:
                    run.reject(number, raw_email(raw), err.reason, err.message, data=safe_row(raw))
            stats.valid += len(valid)
            yield ImportBatch(batch_number, batch[-1][0], valid)

    # ------------------------------------------------------------------ phase 2: batches to send

    def send_batches_of(
        self, validated: Iterable[ImportBatch], seen: SeenEmails, run: ImportRun
    ) -> Iterator[ImportBatch]:
        """Collapse duplicate e-mails (case-insensitively) in each batch before it is sent.

        Inside a batch the last row wins, under the first spelling of the address; a contact seen in an
        earlier batch is sent again (so the last row wins on the platform) under its first spelling.
        """
        for batch in validated:
            unique: dict[str, Contact] = {}
            for contact in batch.contacts:
                key = contact.email.lower()
                earlier = unique.get(key)
                if earlier is not None:
                    run.stats.duplicates += 1
                    contact.email = earlier.email
                unique[key] = contact
            if unique:
                first_spellings = seen.add_batch({key: c.email for key, c in unique.items()})
                run.stats.duplicates += len(first_spellings)
                for key, spelling in first_spellings.items():
                    unique[key].email = spelling
            batch.contacts = list(unique.values())
            yield batch

    # ------------------------------------------------------------------ phases 3 and 4: send, confirm

    def send(self, batches: Iterable[ImportBatch], run: ImportRun) -> None:
        """Send every batch's units with :attr:`max_in_flight` workers; apply outcomes and confirmations
        in the operator's thread, in source order."""
        settle = functools.partial(self._settle, run)
        with BoundedInFlight(
            self.max_in_flight,
            window=self.in_flight_window,
            consume=settle,
            name=f"{self.platform.lower()}-import",
        ) as flight:
            for batch in batches:
                for unit in self.plan_units(batch.contacts):
                    flight.submit(self.send_unit, unit)
                flight.mark(batch)
                run.maybe_log_progress()
            flight.drain()

    def _settle(self, run: ImportRun, tag: Any, outcomes: list[ContactOutcome] | None) -> None:
        if isinstance(tag, ImportBatch):
            self.batch_confirmed(tag, run.stats)
        elif outcomes:
            run.record(outcomes)

    # ------------------------------------------------------------------ summary and checks

    def _summary(self, stats: ImportStats, started: float, target: Mapping[str, Any]) -> dict[str, Any]:
        duration = time.monotonic() - started
        return {
            "received": stats.received,
            "valid": stats.valid,
            "duplicates": stats.duplicates,
            "sent": stats.sent,
            "created": stats.created,
            "updated": stats.updated,
            "rejected": stats.rejected,
            "rejected_reasons": dict(sorted(stats.reasons.items())),
            "duration_seconds": round(duration, 3),
            "rate_per_second": round(stats.received / duration, 1) if duration > 0 else None,
            "rejected_path": str(self.rejected_path) if self.rejected_path else None,
            "dry_run": self.dry_run,
            **target,
        }

    def _check_rendered(self) -> None:
        """Templated fields that rendered to the wrong type get a clear error before anything is read."""
        if self.contacts is not None and (
            isinstance(self.contacts, (str, bytes, Mapping)) or not isinstance(self.contacts, Iterable)
        ):
            raise EmailBRInputError(
                f"contacts: expected an iterable of dicts (e.g. a list from an upstream task), got "
                f"{type(self.contacts).__name__}"
            )
        if self.field_mapping is not None:
            if not isinstance(self.field_mapping, Mapping):
                raise EmailBRInputError(
                    f"field_mapping: expected a dict, got {type(self.field_mapping).__name__}"
                )
            known = {f.name for f in self.fields_spec}
            unknown = sorted(set(map(str, self.field_mapping)) - known)
            if unknown:
                raise EmailBRInputError(
                    f"field_mapping: unknown {self.platform} field(s) {unknown}; allowed: {sorted(known)}"
                )
            for name, column in self.field_mapping.items():
                if not isinstance(column, str) or not column.strip():
                    raise EmailBRInputError(
                        f"field_mapping[{name!r}]: expected a source column name, got "
                        f"{type(column).__name__} {str(column)[:80]!r}"
                    )

    def _rejected_writer(self) -> RowWriter | None:
        if not self.rejected_path:
            return None
        return RowWriter(
            self.rejected_path,
            columns=REJECTED_COLUMNS,
            fmt=self.rejected_format,
            conn_id=self.rejected_conn_id,
        )

    def show(self, email: str) -> str:
        """``email`` as it may appear in logs and messages: masked unless ``mask_emails=False``."""
        return mask_email(email) if self.mask_emails else email


__all__ = [
    "PROGRESS_EVERY",
    "REJECTED_COLUMNS",
    "BaseImportContactsOperator",
    "ContactOutcome",
    "ImportBatch",
    "ImportRun",
    "ImportStats",
]
