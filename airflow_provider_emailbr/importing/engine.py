"""The contact import engine: one base operator for what does not depend on the platform.

An import runs in explicit phases, each a method a later feature can replace on its own:

1. **read, validate and stage** (:meth:`BaseImportContactsOperator.validated_batches`,
   :meth:`~BaseImportContactsOperator.stage`): raw rows stream from the
   :class:`~airflow_provider_emailbr.importing.sources.RowSource` in batches of ``batch_size``; each row
   becomes a :class:`~airflow_provider_emailbr.importing.rows.Contact` or a rejected row in the report
   (suppressed addresses too), and valid contacts go to the on-disk
   :class:`~airflow_provider_emailbr.importing.staging.Staging`, where duplicates collapse
   (case-insensitively; the last row wins, under the first spelling). The platform's own opt-outs are then
   dropped (:meth:`~BaseImportContactsOperator.drop_opted_out`) and the staged source is compared with the
   last snapshot (``state_path``): new, changed, unchanged, gone; the ``mirror`` guard applies here, before
   any request but the opt-out look-up.
2. **batches to send** (:meth:`BaseImportContactsOperator.send_batches_of`): the new and changed contacts,
   ``batch_size`` at a time. Each :class:`ImportBatch` carries its number and its last source row.
3. **send** (:meth:`BaseImportContactsOperator.send`): the platform splits each batch into units of work
   (:meth:`~BaseImportContactsOperator.plan_units`: a ``contact/mass/add`` chunk, one contact's upsert) that
   run on a few threads with a bounded number in flight
   (:class:`~airflow_provider_emailbr.utils.throttle.BoundedInFlight`). Each unit answers one
   :class:`ContactOutcome` per contact; outcomes are applied in the operator's thread, in order.
4. **confirmation** (:meth:`BaseImportContactsOperator.batch_confirmed`): called once every contact of a
   batch, and of every batch before it, has an outcome. Every contact the platform took is also recorded in
   the staging (:meth:`Staging.confirm`). The durable checkpoint does not wait for this: each unit's answer
   is recorded in the task state store as soon as it arrives
   (:mod:`~airflow_provider_emailbr.importing.checkpoint`).
5. **mirror** (:meth:`BaseImportContactsOperator.remove_gone`): with ``mirror=True``, contacts gone from
   the source are taken out of the target (:meth:`~BaseImportContactsOperator.remove_contact`).
6. **the next snapshot**: the previous one with what was confirmed applied, stored at ``state_path`` at the
   end of the run, or after a failure (then it records exactly what was confirmed).

The platform operators (:mod:`airflow_provider_emailbr.operators.iagente`,
:mod:`airflow_provider_emailbr.operators.criaenvio`) only say which fields exist, how to resolve the target
(group or lists), how to split a batch and how to send one unit.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.checkpoint import CheckpointRecorder, ImportCheckpoint, UnitKey
from airflow_provider_emailbr.importing.rows import (
    Contact,
    FieldSpec,
    RowNormaliser,
    RowRejected,
    collection_paused,
    raw_email,
    safe_row,
)
from airflow_provider_emailbr.importing.snapshot import SnapshotStore
from airflow_provider_emailbr.importing.sources import FileSource, IterableSource, RowSource, SqlSource
from airflow_provider_emailbr.importing.staging import READ_CHUNK, Gone, Staging, SyncDiff
from airflow_provider_emailbr.importing.suppression import Suppression, load_suppression
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.records import Record
from airflow_provider_emailbr.utils.storage import RowWriter
from airflow_provider_emailbr.utils.throttle import BoundedInFlight

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: Seconds between progress lines.
PROGRESS_EVERY = 10.0
#: Columns of the rejected-rows report.
REJECTED_COLUMNS = ("row", "email", "reason", "message", "vendor_message", "data")
#: Reason of a row whose address is in the operator's ``suppress`` list.
SUPPRESSED = "suppressed"
#: Reason of a row whose contact unsubscribed on the platform.
UNSUBSCRIBED = "unsubscribed"
#: Reasons of rows left out because the person opted out: they do not count towards
#: ``max_rejected_ratio`` (they say nothing about the quality of the source).
OPT_OUT_REASONS = (SUPPRESSED, UNSUBSCRIBED)


class ImportStats(Record):
    """Counters of one import run (see :meth:`BaseImportContactsOperator.execute` for their meaning)."""

    __slots__ = (
        "changed",
        "created",
        "duplicates",
        "new",
        "reasons",
        "received",
        "rejected",
        "removal_failed",
        "removed",
        "sent",
        "unchanged",
        "updated",
        "valid",
    )

    def __init__(self) -> None:
        self.received = self.valid = self.duplicates = self.sent = self.created = self.updated = 0
        self.rejected = self.new = self.changed = self.unchanged = self.removed = self.removal_failed = 0
        self.reasons: Counter = Counter()

    @property
    def opted_out(self) -> int:
        """Rows rejected because the person opted out (:data:`OPT_OUT_REASONS`), not for their data."""
        return sum(self.reasons[reason] for reason in OPT_OUT_REASONS)


class ImportBatch(NamedTuple):
    """A batch of contacts: as read and validated (phase 1), or as sent (new or changed staged contacts,
    each once, phase 2).

    ``number`` counts batches from 0; ``last_row`` is the source row of the batch's last row (read) or last
    contact (sent). Sent batches come in order of first appearance in the source, and the whole source is
    staged (its invalid rows reported) before the first one.
    """

    number: int
    last_row: int
    contacts: list[Contact]


class ContactOutcome(NamedTuple):
    """What the platform did with one contact: a ``result`` when it took it, a ``rejection`` when not.

    ``result`` is ``imported`` (IAGENTEmail), ``created``, ``updated`` or ``kept`` (CriaEnvio);
    ``platform_id`` the contact's id on the platform when the answer gave it (kept in the snapshot).
    """

    contact: Contact
    result: str | None = None
    rejection: RowRejected | None = None
    platform_id: str | None = None


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

    Memory stays constant whatever the input size: rows stream from the source in batches and are staged
    in a temporary on-disk SQLite table, not in Python objects. Each contact reaches the platform at most
    once per run, with the values of its last row.

    **Daily sync.** With ``state_path``, the run compares the staged source with the snapshot of the last
    successful sync to the same target and sends only the contacts that are new or whose mapped values
    (custom fields included) changed; unchanged ones cost no request. The snapshot is replaced at the end
    of the run (after a failure, by one recording exactly what the platform confirmed, so nothing is lost).
    With ``mirror=True`` contacts gone from the source are taken out of the target (never deleted from the
    account), unless more than ``max_removed_ratio`` of the last snapshot would go.

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
    :param batch_size: rows read and validated per batch, and contacts sent per batch.
    :param rejected_path: where to write the rejected rows (CSV or JSON Lines, local or object storage).
    :param rejected_format: ``csv`` or ``jsonl`` when the extension does not say.
    :param rejected_conn_id: connection for the object store of ``rejected_path``.
    :param max_rejected_ratio: fail the task, after the whole import, when more than this fraction of the
        received rows was rejected (default 0.05); rows left out because the person opted out
        (``suppressed``, ``unsubscribed``) do not count. The report is written either way.
    :param state_path: where the snapshot of the last successful sync to this target is kept (templated): a
        local path, a URI or an ``ObjectStoragePath``. Use object storage on a distributed deployment.
    :param state_conn_id: connection for the object store of ``state_path``.
    :param mirror: take contacts that left the source out of the target (needs ``state_path``).
    :param max_removed_ratio: with ``mirror``, fail before any request when more than this fraction of the
        last snapshot would be removed (default 0.1): an empty or broken source must not empty a list.
    :param full_refresh: ignore the stored snapshot (it is not even read), send every contact, store a
        fresh snapshot; nothing is removed in such a run.
    :param suppress: addresses never to send (templated): a list or XCom of addresses, or the path or URI
        of a CSV or JSON Lines file with an ``email`` column; matching rows are rejected as ``suppressed``.
    :param suppress_conn_id: connection for the object store of ``suppress``.
    :param dry_run: read, validate, resolve the target, compare and count — send and remove nothing.
    :param mask_emails: log e-mail addresses masked (default ``True``).
    :param durable: on Airflow >= 3.3, record each answered request in the task state store so that a retry
        sends only the requests not recorded (default; at most :attr:`max_in_doubt` answered requests are
        re-sent after a kill); ``False``: a retry starts from the first batch.
    """

    template_fields: Sequence[str] = (
        "contacts",
        "source_path",
        "sql",
        "sql_parameters",
        "field_mapping",
        "rejected_path",
        "state_path",
        "suppress",
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
        state_path: str | ObjectStoragePath | None = None,
        state_conn_id: str | None = None,
        mirror: bool = False,
        max_removed_ratio: float = 0.1,
        full_refresh: bool = False,
        suppress: Iterable[Any] | str | ObjectStoragePath | None = None,
        suppress_conn_id: str | None = None,
        dry_run: bool = False,
        mask_emails: bool = True,
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.durable = durable
        self._checkpoint: ImportCheckpoint | None = None
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
        self.state_path = state_path
        self.state_conn_id = state_conn_id
        self.mirror = mirror
        self.max_removed_ratio = max_removed_ratio
        self.full_refresh = full_refresh
        self.suppress = suppress
        self.suppress_conn_id = suppress_conn_id
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
        if mirror and state_path is None:
            raise EmailBRInputError(
                "mirror: needs state_path (the snapshot of the last sync says which contacts left the source)"
            )
        if isinstance(max_removed_ratio, bool) or not (
            isinstance(max_removed_ratio, (int, float)) and 0 <= max_removed_ratio <= 1
        ):
            raise EmailBRInputError(f"max_removed_ratio: {max_removed_ratio!r} must be between 0 and 1")

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

    @abstractmethod
    def target_identity(self) -> dict[str, Any]:
        """What identifies the target as configured (connection, group or lists, custom fields), known
        before any request: a snapshot stored for another identity is refused."""

    @abstractmethod
    def remove_contact(self, gone: Gone) -> bool:
        """Take one contact out of the target (in a worker thread), never deleting it from the account.

        Answer ``True`` when it is out (also when it already was), ``False`` when the removal failed (it
        stays in the snapshot and the next run tries again); raise to fail the task.
        """

    def opted_out(self) -> Suppression | None:
        """The platform's own opt-outs, asked before sending (rows matching are rejected as
        ``unsubscribed``); the base has none."""
        return None

    @property
    def max_in_flight(self) -> int:
        """Worker threads sending units (the base sends one unit at a time)."""
        return 1

    @property
    def in_flight_window(self) -> int:
        """Units submitted and not yet accounted for (at least :attr:`max_in_flight`)."""
        return self.max_in_flight

    @property
    def max_in_doubt(self) -> int:
        """With a checkpoint: units dispatched whose answer is not yet durable in the task state store, at
        most (default :attr:`max_in_flight`). A retry after a kill re-sends at most this many units the
        platform had already answered (:mod:`~airflow_provider_emailbr.importing.checkpoint`)."""
        return self.max_in_flight

    def plan_identity(self) -> dict[str, Any]:
        """What, besides the batch's contacts, decides how :meth:`plan_units` splits a batch (e.g. a chunk
        size): a checkpoint is only valid for the same split. The base has nothing."""
        return {}

    def custom_field_columns(self) -> Mapping[str, str]:
        """Platform custom fields to read, ``{field name: source column}`` (CriaEnvio only)."""
        return {}

    def batch_confirmed(self, batch: ImportBatch, stats: ImportStats) -> None:
        """Called in order, once every contact of ``batch`` (and of every batch before it) has an outcome.

        The place to report progress; the base does nothing (the engine records each answered unit in the
        task state store itself, without waiting for this:
        :mod:`~airflow_provider_emailbr.importing.checkpoint`).
        """

    # ------------------------------------------------------------------ execute

    def execute(self, context: Context) -> dict[str, Any]:
        """Import every row; return the summary (also when nothing had to be sent).

        Summary keys: ``received`` (rows read), ``valid`` (passed validation), ``duplicates`` (rows whose
        e-mail appeared earlier in this run; the last one wins), ``new``, ``changed`` and ``unchanged``
        (distinct contacts compared with the last snapshot; without ``state_path`` every contact is new),
        ``removed`` (taken out of the target by ``mirror``), ``sent`` (contacts the platform accepted),
        ``created``/``updated`` (CriaEnvio), ``rejected`` with ``rejected_reasons``, ``duration_seconds``,
        ``rate_per_second``, ``rejected_path``, ``state_path``, ``dry_run`` and the resolved target. In a
        dry run ``new``, ``changed`` and ``removed`` say what a real run would send and remove.
        """
        self._check_rendered()
        if not self.dry_run:  # read at once: a store that cannot be read fails before any request
            self._checkpoint = ImportCheckpoint.from_context(
                context,
                seed={
                    "platform": self.platform,
                    **self.target_identity(),
                    "batch_size": self.batch_size,
                    **self.plan_identity(),
                },
                log=self.log,
                durable=self.durable,
            )
        source = self.row_source()
        normaliser = self.row_normaliser()
        started = time.monotonic()
        target: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            store = self._snapshot_store()
            previous = None
            if store is not None:
                stack.enter_context(store)
                if self.full_refresh:
                    self.log.info("full_refresh: the stored snapshot is ignored; every contact is sent")
                else:
                    previous = store.load()
            suppression = load_suppression(self.suppress, conn_id=self.suppress_conn_id)
            if suppression is not None:
                stack.enter_context(suppression)
            staging = stack.enter_context(Staging(self.fields_spec, previous, hashed=store is not None))
            report = self._rejected_writer()
            if report is not None:
                stack.enter_context(report)
            run = ImportRun(report, self.log, source.size_hint())
            self.stage(self.validated_batches(source, normaliser, run), staging, run, suppression)
            self.drop_opted_out(staging, run)
            diff = staging.diff()
            self._count_diff(diff, run.stats, previous is not None)
            target = self.prepare_target()
            if store is not None:
                store.check_target(target)
            if self.dry_run:
                summary = self._summary(run.stats, started, target)
                self.log.info("%s dry run: %s", self.platform, json.dumps(summary, ensure_ascii=False))
                return summary
            try:
                checkpoint = self._checkpoint
                read = functools.partial(self.send_batches_of, staging)
                # confirmations only feed the next snapshot: a run that keeps none does not record them
                self.send(
                    checkpoint.batches(read) if checkpoint else read(),
                    run,
                    staging if store is not None else None,
                )
                if self.mirror and previous is not None:
                    self.remove_gone(staging, run)
                if checkpoint is not None:
                    checkpoint.finished()
            except Exception:
                partial = json.dumps(self._summary(run.stats, started, target), ensure_ascii=False)
                self.log.error("%s import stopped; counted until then: %s", self.platform, partial)
                if store is not None:
                    self._store_after_failure(store, staging, target)
                raise
            if store is not None and previous is not None and not staging.confirmed_any():
                self.log.info("nothing changed: the snapshot at %s stays as it is", store.shown)
            elif store is not None:
                count = self._store(store, staging, target)
                self.log.info("snapshot of %d contact(s) stored at %s", count, store.shown)
        stats = run.stats
        summary = self._summary(stats, started, target)
        self.log.info("%s import finished: %s", self.platform, json.dumps(summary, ensure_ascii=False))
        self._check_outcome(stats, summary)
        return summary

    def _check_outcome(self, stats: ImportStats, summary: Mapping[str, Any]) -> None:
        """Fail a finished run with too many rejected rows, or with removals that failed."""
        from airflow.sdk.exceptions import AirflowException

        shown = json.dumps(summary, ensure_ascii=False)
        received, rejected = stats.received - stats.opted_out, stats.rejected - stats.opted_out
        if received and rejected / received > self.max_rejected_ratio:
            raise AirflowException(
                f"{rejected} of {received} rows rejected ({rejected / received:.1%}), more than "
                f"max_rejected_ratio={self.max_rejected_ratio:.1%}; summary: {shown}"
            )
        if stats.removal_failed:
            raise AirflowException(
                f"{stats.removal_failed} contact(s) could not be taken out of the target; they stay in the "
                f"snapshot and the next run tries again; summary: {shown}"
            )

    # ------------------------------------------------------------------ the snapshot

    def _snapshot_store(self) -> SnapshotStore | None:
        if self.state_path is None:
            return None
        identity = {
            "vendor": self.platform,
            "field_mapping": dict(sorted((self.field_mapping or {}).items())),
            **self.target_identity(),
        }
        return SnapshotStore(self.state_path, conn_id=self.state_conn_id, identity=identity)

    def _count_diff(self, diff: SyncDiff, stats: ImportStats, has_previous: bool) -> None:
        """Put the comparison in the counters; with ``mirror``, refuse to remove too much (before any
        request)."""
        stats.new, stats.changed, stats.unchanged = diff.new, diff.changed, diff.unchanged
        if has_previous:
            self.log.info(
                "compared with the last snapshot (%d contacts): %d new, %d changed, %d unchanged, %d gone "
                "from the source",
                diff.previous,
                diff.new,
                diff.changed,
                diff.unchanged,
                diff.removed,
            )
        if not (self.mirror and has_previous):
            return
        if diff.previous and diff.removed / diff.previous > self.max_removed_ratio:
            raise EmailBRInputError(
                f"max_removed_ratio: {diff.removed} of the {diff.previous} contacts of the last snapshot "
                f"({diff.removed / diff.previous:.1%}) are gone from the source, more than "
                f"max_removed_ratio={self.max_removed_ratio:.1%}; nothing was sent or removed. Check the "
                f"source (an empty or broken export must not empty the target); if the removals are "
                f"right, raise max_removed_ratio for one run"
            )
        if self.dry_run:
            stats.removed = diff.removed

    def _store(self, store: SnapshotStore, staging: Staging, target: Any) -> int:
        local = store.new_file()
        count = staging.write_snapshot(local, store.meta(target))
        store.store(local)
        return count

    def _store_after_failure(self, store: SnapshotStore, staging: Staging, target: Any) -> None:
        """After a failure, store what the platform confirmed (the rest is sent again by the next run)."""
        try:
            count = self._store(store, staging, target)
        except Exception:
            self.log.exception("the snapshot of what was confirmed could not be stored; the old one stays")
        else:
            self.log.warning(
                "snapshot of the %d contact(s) confirmed so far stored at %s; the next run sends the rest",
                count,
                store.shown,
            )

    # ------------------------------------------------------------------ phase 1: read, validate, stage

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
            with collection_paused():  # not across the yield: the caller's work is not paused
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

    def stage(
        self,
        validated: Iterable[ImportBatch],
        staging: Staging,
        run: ImportRun,
        suppression: Suppression | None,
    ) -> None:
        """Write every valid contact to the staged source, collapsing duplicates (case-insensitively; the
        last row wins, under the first spelling); rows of suppressed addresses are rejected instead."""
        for batch in validated:
            contacts = batch.contacts
            if suppression is not None and contacts:
                hits = suppression.matching(c.email.lower() for c in contacts)
                if hits:
                    for contact in contacts:
                        if contact.email.lower() in hits:
                            message = f"{self.show(contact.email)} is in the suppress list"
                            run.reject(contact.row, contact.email, SUPPRESSED, message, data=contact.fields)
                    contacts = [c for c in contacts if c.email.lower() not in hits]
            staging.stage(contacts)
            run.maybe_log_progress()
        run.stats.duplicates = staging.staged_rows - staging.distinct()

    def drop_opted_out(self, staging: Staging, run: ImportRun) -> None:
        """Reject (as ``unsubscribed``) the staged contacts the platform says opted out."""
        opted_out = self.opted_out()
        if opted_out is None:
            return
        with opted_out:
            for keys in staging.iter_keys():
                hits = opted_out.matching(keys)
                for contact in staging.drop(hits) if hits else ():
                    message = f"{self.show(contact.email)} unsubscribed on {self.platform}"
                    run.reject(contact.row, contact.email, UNSUBSCRIBED, message, data=contact.fields)

    # ------------------------------------------------------------------ phase 2: batches to send

    def send_batches_of(self, staging: Staging) -> Iterator[ImportBatch]:
        """The staged contacts to send (new or changed), ``batch_size`` at a time, in order of first
        appearance in the source; ``last_row`` is the source row of a batch's last contact."""
        for number, contacts in enumerate(staging.to_send(self.batch_size)):
            yield ImportBatch(number, contacts[-1].row, contacts)

    # ------------------------------------------------------------------ phases 3 and 4: send, confirm

    def send(self, batches: Iterable[ImportBatch], run: ImportRun, staging: Staging | None = None) -> None:
        """Send every batch's units with :attr:`max_in_flight` workers; apply outcomes and confirmations
        in the operator's thread, in source order (and record what was confirmed in ``staging``).

        With a checkpoint (:mod:`~airflow_provider_emailbr.importing.checkpoint`), each unit's answer is
        recorded in the task state store by a background writer as soon as it arrives, a unit is
        dispatched only while fewer than :attr:`max_in_doubt` dispatched units lack a durable record, and
        the units an earlier try recorded are not sent again.
        """
        checkpoint = self._checkpoint
        settle = functools.partial(self._settle, run, staging)
        with contextlib.ExitStack() as stack:
            # entered first, left last: the writer records the answers of units still running at the exit
            recorder = (
                stack.enter_context(checkpoint.recorder(max_in_doubt=self.max_in_doubt))
                if checkpoint is not None
                else None
            )
            flight = stack.enter_context(
                BoundedInFlight(
                    self.max_in_flight,
                    window=self.in_flight_window,
                    consume=settle,
                    name=f"{self.platform.lower()}-import",
                )
            )
            for batch in batches:
                if recorder is None:
                    for unit in self.plan_units(batch.contacts):
                        flight.submit(self.send_unit, unit)
                else:
                    done = recorder.begin(batch)
                    position = -1
                    for position, unit in enumerate(self.plan_units(batch.contacts)):
                        if position in done:
                            continue
                        if not recorder.reserve():
                            flight.drain()  # a unit failed: raises its error (after the units before it)
                        flight.submit(self._send_recorded, recorder, (batch.number, position), unit)
                    recorder.planned(batch, position + 1)
                flight.mark(batch)
                run.maybe_log_progress()
            flight.drain()

    def _send_recorded(self, recorder: CheckpointRecorder, key: UnitKey, unit: Any) -> list[ContactOutcome]:
        """Send ``unit`` (in a sending thread) and hand its answer to the checkpoint's writer at once."""
        try:
            outcomes = self.send_unit(unit)
        except BaseException:
            recorder.failed()
            raise
        recorder.done(key)
        return outcomes

    def _settle(
        self, run: ImportRun, staging: Staging | None, tag: Any, outcomes: list[ContactOutcome] | None
    ) -> None:
        if isinstance(tag, ImportBatch):
            self.batch_confirmed(tag, run.stats)
        elif outcomes:
            run.record(outcomes)
            if staging is not None:
                staging.confirm((o.contact.email, o.platform_id) for o in outcomes if o.rejection is None)

    # ------------------------------------------------------------------ phase 5: mirror removals

    def remove_gone(self, staging: Staging, run: ImportRun) -> None:
        """Take the contacts gone from the source out of the target (:meth:`remove_contact`), recording
        each removal in ``staging`` as it is confirmed."""

        def settle(gone: Gone, removed: bool | None) -> None:
            if removed:
                run.stats.removed += 1
                staging.removed([gone.key])
            else:
                run.stats.removal_failed += 1

        with BoundedInFlight(
            self.max_in_flight,
            window=self.in_flight_window,
            consume=settle,
            name=f"{self.platform.lower()}-mirror",
        ) as flight:
            for chunk in staging.gone(READ_CHUNK):
                for gone in chunk:
                    flight.submit(self.remove_contact, gone, tag=gone)
                run.maybe_log_progress()
            flight.drain()
        if run.stats.removed or run.stats.removal_failed:
            self.log.info(
                "mirror: %d contact(s) taken out of the target, %d failed",
                run.stats.removed,
                run.stats.removal_failed,
            )

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
            "new": stats.new,
            "changed": stats.changed,
            "unchanged": stats.unchanged,
            "removed": stats.removed,
            "duration_seconds": round(duration, 3),
            "rate_per_second": round(stats.received / duration, 1) if duration > 0 else None,
            "rejected_path": str(self.rejected_path) if self.rejected_path else None,
            "state_path": str(self.state_path) if self.state_path else None,
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
        if self.state_path is not None and not isinstance(self.state_path, (str, os.PathLike)):
            raise EmailBRInputError(
                f"state_path: expected a local path, a URI or an ObjectStoragePath, got "
                f"{type(self.state_path).__name__}"
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
    "OPT_OUT_REASONS",
    "PROGRESS_EVERY",
    "REJECTED_COLUMNS",
    "SUPPRESSED",
    "UNSUBSCRIBED",
    "BaseImportContactsOperator",
    "ContactOutcome",
    "ImportBatch",
    "ImportRun",
    "ImportStats",
]
