"""Mass contact import into IAGENTEmail groups and CriaEnvio lists.

Both operators share one base (:class:`BaseImportContactsOperator`) for what does not depend on the
platform: the source (an iterable of dicts or an XCom, a CSV/JSON Lines file, or a SQL query read in
batches), column mapping, validation and normalisation, de-duplication, the rejected-rows report, progress
logs, the summary and the rejected-ratio check. The platform operators only say which fields exist, how to
resolve the target (group or lists) and how to send a batch.

Memory stays constant whatever the input size: rows stream from the source in batches, and the e-mails
already seen in the run live in a temporary on-disk SQLite table, not in a Python set.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import sqlite3
import tempfile
import threading
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRResponseError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.utils.dates import parse_birth_date
from airflow_provider_emailbr.utils.emails import InvalidEmail, normalise_email
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.storage import RowWriter, detect_format, open_text
from airflow_provider_emailbr.utils.throttle import Throttle

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: Seconds between progress lines.
PROGRESS_EVERY = 10.0
#: Delimiters looked for in a CSV header when none is given.
CSV_DELIMITERS = (";", ",", "\t", "|")
#: Columns of the rejected-rows report.
REJECTED_COLUMNS = ("row", "email", "reason", "message", "vendor_message", "data")


class RowRejected(Exception):
    """A row that cannot be imported: ``reason`` is a short code, ``message`` says what is wrong."""

    def __init__(self, reason: str, message: str, vendor_message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.vendor_message = vendor_message


@dataclass(frozen=True)
class FieldSpec:
    """One platform field: its kind (``email``, ``text``, ``date``, ``sexo``) and the source columns that
    feed it by default (compared case-insensitively)."""

    name: str
    kind: str = "text"
    aliases: tuple[str, ...] = ()


@dataclass
class Contact:
    """One validated contact ready to send: its source row number, e-mail and platform fields."""

    row: int
    email: str
    fields: dict[str, Any]
    custom: dict[str, Any] = field(default_factory=dict)


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


# ------------------------------------------------------------------------------------------ sources


def iter_csv(handle: Iterable[str], delimiter: str | None) -> Iterator[dict[str, Any]]:
    """Dict rows of a CSV stream; the delimiter is detected from the header when not given."""
    lines = iter(handle)
    header = next(lines, None)
    if header is None or not header.strip():
        raise EmailBRInputError("the CSV source is empty: it has no header line")
    if delimiter is None:
        counts = {d: header.count(d) for d in CSV_DELIMITERS}
        delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    reader = csv.reader(itertools.chain([header], lines), delimiter=delimiter)
    columns = [c.strip() for c in _next_record(reader)]
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise EmailBRInputError(f"CSV header repeats column(s) {duplicated}; each column must be unique")
    while (values := _next_record(reader)) is not None:
        if not any(values):
            continue  # blank line (or only delimiters)
        row: dict[str, Any] = dict(zip(columns, values, strict=False))
        if len(values) > len(columns):
            row["__extra_cells__"] = values[len(columns) :]
        yield row


def _next_record(reader: Any) -> list[str] | None:
    """The next CSV record, ``None`` at the end; a record the csv module cannot read is a clear error."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as err:  # e.g. a gigantic cell beyond csv.field_size_limit()
        raise EmailBRInputError(
            f"the CSV source cannot be read at line {reader.line_num} ({err}); fix or remove that line"
        ) from None


def iter_jsonl_rows(handle: Iterable[str]) -> Iterator[Any]:
    """Parsed JSON values of a JSON Lines stream; a line that is not JSON is yielded as a marker to reject."""
    for line in handle:
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except (ValueError, RecursionError) as err:
            yield _BadLine(str(err)[:200])


@dataclass(frozen=True)
class _BadLine:
    """A JSON Lines line that could not be parsed; it becomes a rejected row, not a crash."""

    error: str


# ------------------------------------------------------------------------------------------ de-duplication


class SeenEmails:
    """The e-mails already imported in this run, in a temporary on-disk SQLite table (constant memory)."""

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="emailbr-seen-", suffix=".sqlite")
        os.close(handle)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-4096;"
            "CREATE TABLE seen (key TEXT PRIMARY KEY, email TEXT) WITHOUT ROWID;"
        )

    def add_batch(self, emails: Mapping[str, str]) -> dict[str, str]:
        """Record ``{key: e-mail}``; return ``{key: first e-mail}`` for keys recorded before this call."""
        keys = list(emails)
        before: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, email FROM seen WHERE key IN ({marks})"
            before.update(self.db.execute(query, chunk).fetchall())
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", emails.items())
        return before

    def close(self) -> None:
        """Drop the temporary table and its file."""
        self.db.close()
        with contextlib.suppress(OSError):
            os.remove(self.path)


# ------------------------------------------------------------------------------------------ the base


class BaseImportContactsOperator(BaseOperator):
    """Stream contacts from one source into an e-mail platform, validating and reporting every row.

    Exactly one source: ``contacts`` (an iterable of dicts, e.g. an upstream task's XCom), ``source_path``
    (CSV or JSON Lines, local or any ``ObjectStoragePath`` URI) or ``sql`` with ``sql_conn_id`` (any
    common-sql connection, read with ``fetchmany``).

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
    template_fields_renderers = {"sql": "sql", "field_mapping": "json"}
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

    # ------------------------------------------------------------------ platform hooks (subclasses)

    @abstractmethod
    def prepare_target(self) -> dict[str, Any]:
        """Resolve (and, unless dry-running, create) the target; return what the summary should show."""

    @abstractmethod
    def send_batch(self, contacts: list[Contact], stats: ImportStats, reject: Callable[..., None]) -> None:
        """Send validated, de-duplicated contacts; account every one as sent or rejected."""

    def finish_sending(self, stats: ImportStats, reject: Callable[..., None]) -> None:
        """Wait for sends still in flight and account for them (operators that pipeline override this)."""

    def custom_field_columns(self) -> Mapping[str, str]:
        """Platform custom fields to read, ``{field name: source column}`` (CriaEnvio only)."""
        return {}

    # ------------------------------------------------------------------ execute

    def execute(self, context: Context) -> dict[str, Any]:
        """Import every row; return the summary (also when nothing had to be sent).

        Summary keys: ``received`` (rows read), ``valid`` (passed validation), ``duplicates`` (rows whose
        e-mail appeared earlier in this run; the last one wins), ``sent`` (contacts the platform accepted),
        ``created``/``updated`` (CriaEnvio), ``rejected`` with ``rejected_reasons``, ``duration_seconds``,
        ``rate_per_second``, ``rejected_path``, ``dry_run`` and the resolved target.
        """
        self._check_rendered()
        started = time.monotonic()
        target = self.prepare_target()
        stats = ImportStats()
        seen = SeenEmails()
        writer = self._rejected_writer()
        progress = _Progress(self.log, started)
        try:
            if writer is not None:
                writer.__enter__()

            def reject(
                row: int,
                email: Any,
                reason: str,
                message: str,
                vendor_message: str | None = None,
                data: Mapping[str, Any] | None = None,
            ) -> None:
                stats.rejected += 1
                stats.reasons[reason] += 1
                if writer is not None:
                    writer.write(
                        {
                            "row": row,
                            "email": email,
                            "reason": reason,
                            "message": message,
                            "vendor_message": vendor_message,
                            "data": json.dumps(data, default=str) if data else "",
                        }
                    )

            for batch_number, batch in enumerate(_batched(self._iter_source(), self.batch_size)):
                if batch_number == 0 and self.contacts is None:
                    self._check_columns(batch[0][1])
                valid: dict[str, Contact] = {}
                for number, raw in batch:
                    stats.received += 1
                    try:
                        contact = self._normalise(number, raw)
                    except RowRejected as err:
                        reject(number, _raw_email(raw), err.reason, err.message, data=_safe_row(raw))
                        continue
                    stats.valid += 1
                    key = contact.email.lower()  # duplicates are found case-insensitively
                    if key in valid:  # last wins inside the batch, under the first spelling of the address
                        stats.duplicates += 1
                        contact.email = valid[key].email
                    valid[key] = contact
                if not valid:
                    continue
                earlier = seen.add_batch({key: c.email for key, c in valid.items()})
                stats.duplicates += len(earlier)  # re-sent so that the last row wins on the platform
                for key, first_spelling in earlier.items():
                    valid[key].email = first_spelling
                if not self.dry_run:
                    self.send_batch(list(valid.values()), stats, reject)
                progress.maybe_log(stats, self._total_hint())
            if not self.dry_run:
                self.finish_sending(stats, reject)
        finally:
            seen.close()
            if writer is not None:
                writer.__exit__(None, None, None)
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

    def _check_columns(self, first_row: Any) -> None:
        """Files and queries have fixed columns: without an e-mail column, stop before sending anything."""
        if not isinstance(first_row, Mapping):
            return
        columns = [str(c) for c in first_row if c != "__extra_cells__"]
        if self._column_map(columns).get("email") not in columns:
            aliases = ", ".join((self.fields_spec[0].name, *self.fields_spec[0].aliases))
            raise EmailBRInputError(
                f"the source has no e-mail column (looked for {aliases}); its columns are {columns}; "
                "map one with field_mapping={'email': '<column>'}"
            )

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

    # ------------------------------------------------------------------ reading

    def _total_hint(self) -> int | None:
        return len(self.contacts) if isinstance(self.contacts, Sequence) else None

    def _iter_source(self) -> Iterator[tuple[int, Any]]:
        """``(record number, raw row)`` pairs, 1 = the first data record, streamed."""
        if self.contacts is not None:
            return enumerate(self.contacts, start=1)
        if self.source_path is not None:
            return enumerate(self._iter_file(), start=1)
        return enumerate(self._iter_sql(), start=1)

    def _iter_file(self) -> Iterator[Any]:
        fmt = detect_format(self.source_path, self.source_format, field="source_format")
        with open_text(self.source_path, encoding=self.encoding, conn_id=self.source_conn_id) as handle:
            try:
                if fmt == "csv":
                    yield from iter_csv(handle, self.delimiter)
                else:
                    yield from iter_jsonl_rows(handle)
            except UnicodeDecodeError as err:
                raise EmailBRInputError(
                    f"source_path: {str(self.source_path)!r} is not valid {self.encoding} text near byte "
                    f"{err.start}; set encoding= (Latin-1 exports are common: encoding='latin-1')"
                ) from None

    def _iter_sql(self) -> Iterator[dict[str, Any]]:
        from airflow.sdk import BaseHook

        db_hook = BaseHook.get_connection(self.sql_conn_id).get_hook()
        if not hasattr(db_hook, "get_conn"):
            raise EmailBRInputError(f"sql_conn_id: {self.sql_conn_id!r} is not a database connection")
        conn = db_hook.get_conn()
        cursor = conn.cursor()
        try:
            if self.sql_parameters is None:
                cursor.execute(self.sql)
            else:
                cursor.execute(self.sql, self.sql_parameters)
            columns = [d[0] for d in cursor.description or ()]
            while True:
                rows = cursor.fetchmany(self.batch_size)
                if not rows:
                    return
                for values in rows:
                    yield dict(zip(columns, values, strict=True))
        finally:
            cursor.close()
            conn.close()

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _validate_email(value: str) -> str:
        try:
            return normalise_email(value)
        except InvalidEmail as err:
            raise RowRejected("invalid_email", f"email: {mask_email(value)} is not valid ({err})") from None

    @cached_property
    def _plans(self) -> dict[tuple[Any, ...], tuple[Any, list[tuple[FieldSpec, Any]], list[tuple[str, Any]]]]:
        """Per set of row columns (CSV rows all share one): where each field is read from."""
        return {}

    def _plan(self, keys: tuple[Any, ...]) -> tuple[Any, list[tuple[FieldSpec, Any]], list[tuple[str, Any]]]:
        """``(e-mail column or None, [(field, column)], [(custom field, column)])`` for rows with ``keys``."""
        mapping = self._column_map(keys)
        present = set(keys)
        email_column = mapping.get("email")
        fields = [
            (spec, mapping[spec.name]) for spec in self.fields_spec[1:] if mapping.get(spec.name) in present
        ]
        custom = [(name, column) for name, column in self.custom_field_columns().items() if column in present]
        return (email_column if email_column in present else None), fields, custom

    def _column_map(self, columns: Iterable[str]) -> dict[str, str]:
        """``{platform field: source column}`` from ``field_mapping`` and the well-known column names."""
        by_lower = {str(c).strip().lower(): c for c in columns}
        mapping: dict[str, str] = {}
        for spec in self.fields_spec:
            if self.field_mapping and spec.name in self.field_mapping:
                mapping[spec.name] = self.field_mapping[spec.name]
                continue
            for alias in (spec.name, *spec.aliases):
                if alias.lower() in by_lower:
                    mapping[spec.name] = by_lower[alias.lower()]
                    break
        return mapping

    def _normalise(self, number: int, raw: Any) -> Contact:
        if isinstance(raw, _BadLine):
            raise RowRejected("malformed_line", f"line is not valid JSON ({raw.error})")
        if not isinstance(raw, Mapping):
            raise RowRejected(
                "not_a_mapping", f"expected a mapping of column to value, got {type(raw).__name__}"
            )
        if "__extra_cells__" in raw:
            raise RowRejected(
                "extra_cells", f"row has {len(raw['__extra_cells__'])} more cell(s) than the header"
            )
        keys = tuple(raw)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = self._plan(keys)
        email_column, field_columns, custom_columns = plan
        if email_column is None:
            missing = (self.field_mapping or {}).get("email", "email")
            raise RowRejected(
                "missing_email", f"no e-mail column {missing!r} (row columns: {sorted(map(str, raw))})"
            )
        email_value = raw[email_column]
        if email_value is None or not str(email_value).strip():
            raise RowRejected("missing_email", "email: empty")
        if not isinstance(email_value, str):
            raise RowRejected("invalid_email", f"email: expected text, got {type(email_value).__name__}")
        email = self._validate_email(email_value)
        fields: dict[str, Any] = {}
        for spec, column in field_columns:
            value = raw[column]
            if type(value) is str and spec.kind == "text":  # the common case, kept cheap
                value = value.strip()
                if value:
                    fields[spec.name] = value if value.isascii() else _unicode(spec.name, value)
                continue
            value = _normalise_value(spec, value)
            if value is not None:
                fields[spec.name] = value
        custom = {}
        for name, column in custom_columns:
            if raw[column] not in (None, ""):
                custom[name] = _text(name, raw[column])
        return Contact(row=number, email=email, fields=fields, custom=custom)

    def _rejected_writer(self) -> RowWriter | None:
        if not self.rejected_path:
            return None
        return RowWriter(
            self.rejected_path,
            columns=REJECTED_COLUMNS,
            fmt=self.rejected_format,
            conn_id=self.rejected_conn_id,
        )

    def _show(self, email: str) -> str:
        return mask_email(email) if self.mask_emails else email


class _Progress:
    """Logs rows done, rate and ETA at most every :data:`PROGRESS_EVERY` seconds."""

    def __init__(self, log: Any, started: float) -> None:
        self.log = log
        self.started = started
        self.last = started

    def maybe_log(self, stats: ImportStats, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        rate = stats.received / max(now - self.started, 1e-9)
        eta = f", ETA {max(total - stats.received, 0) / rate:.0f} s" if total and rate else ""
        self.log.info(
            "progress: %d rows read, %d sent, %d rejected, %.0f rows/s%s",
            stats.received,
            stats.sent,
            stats.rejected,
            rate,
            eta,
        )


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


_SEXO = {
    "m": "m",
    "masculino": "m",
    "male": "m",
    "homem": "m",
    "h": "m",
    "f": "f",
    "feminino": "f",
    "female": "f",
    "mulher": "f",
}


def _normalise_value(spec: FieldSpec, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if spec.kind == "date":
        if isinstance(value, str) and "T" in value:
            try:
                return datetime.fromisoformat(value.strip()).date()
            except ValueError:
                pass
        if not isinstance(value, (str, date)):
            raise RowRejected("invalid_date", f"{spec.name}: expected a date, got {type(value).__name__}")
        try:
            return parse_birth_date(value, field=spec.name)
        except EmailBRInputError as err:
            raise RowRejected("invalid_date", str(err)) from None
    if spec.kind == "sexo":
        normalised = _SEXO.get(str(value).strip().lower())
        if normalised is None:
            raise RowRejected(
                "invalid_sexo", f"{spec.name}: {str(value)[:40]!r} is not m/f (masculino/feminino)"
            )
        return normalised
    return _text(spec.name, value)


def _text(name: str, value: Any) -> str:
    if isinstance(value, (dict, list, tuple, set)):
        raise RowRejected("invalid_value", f"{name}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text if text.isascii() else _unicode(name, text)


def _unicode(name: str, text: str) -> str:
    """``text`` if UTF-8 can encode it; a lone surrogate (a JSON ``\\ud800`` escape) rejects the row."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RowRejected(
            "invalid_value",
            f"{name}: holds {text[err.start : err.end]!r} at position {err.start}, a lone surrogate that is "
            "not a character; only valid Unicode text can be sent",
        ) from None
    return text


def _raw_email(raw: Any) -> str:
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            if str(key).strip().lower() in ("email", "e-mail", "e_mail", "mail"):
                return str(value)[:320] if value is not None else ""
    return ""


def _safe_row(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, Mapping):
        return {str(k): (str(v)[:500] if v is not None else None) for k, v in raw.items()}
    return None


# ------------------------------------------------------------------------------------------ IAGENTEmail


class IAgenteImportContactsOperator(BaseImportContactsOperator):
    """Import contacts into an IAGENTEmail group with ``contact/mass/add``, in chunks.

    Fields: ``email``, ``name``, ``birthday`` (sent as ``YYYY-MM-DD``), ``field1``…``field10``. Each chunk's
    ``imports``, ``invalids`` and ``details`` are accounted per row; a chunk refused as a whole is retried
    under the core policy and then split in halves until the bad rows are isolated and reported.

    :param group_id: target group id, or
    :param group_name: target group name (exact); with ``create_group=True`` it is created when missing.
    :param chunk_size: contacts per ``contact/mass/add`` call (default 500).
    :param iagente_conn_id: IAGENTEmail connection.
    """

    template_fields: Sequence[str] = (*BaseImportContactsOperator.template_fields, "group_id", "group_name")
    platform = "IAGENTEmail"
    fields_spec = (
        FieldSpec("email", "email", ("e-mail", "e_mail", "mail", "email_address")),
        FieldSpec("name", "text", ("nome", "nome_completo", "full_name")),
        FieldSpec("birthday", "date", ("data_de_nascimento", "nascimento", "data_nascimento", "birth_date")),
        *(FieldSpec(f"field{i}") for i in range(1, 11)),
    )

    def __init__(
        self,
        *,
        group_id: int | str | None = None,
        group_name: str | None = None,
        create_group: bool = False,
        chunk_size: int = 500,
        iagente_conn_id: str = IAgenteEmailHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("batch_size", max(chunk_size, 1000))
        super().__init__(**kwargs)
        if (group_id is None) == (group_name is None):
            raise EmailBRInputError("give exactly one of group_id and group_name")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise EmailBRInputError(f"chunk_size: {chunk_size!r} must be a positive integer")
        self.group_id = group_id
        self.group_name = group_name
        self.create_group = create_group
        self.chunk_size = chunk_size
        self.iagente_conn_id = iagente_conn_id

    @cached_property
    def hook(self) -> IAgenteEmailHook:
        """The IAGENTEmail hook, built on first use."""
        return IAgenteEmailHook(iagente_conn_id=self.iagente_conn_id)

    def prepare_target(self) -> dict[str, Any]:
        if self.group_id is not None:
            self._group = self.group_id
            return {"group_id": self.group_id}
        group = self.hook.find_group(self.group_name)
        if group is None:
            if not self.create_group:
                raise EmailBRInputError(
                    f"group_name: no IAGENTEmail group named {self.group_name!r}; create it or pass "
                    "create_group=True"
                )
            if self.dry_run:
                self._group = None
                return {"group_id": None, "group_name": self.group_name, "group_would_be_created": True}
            created = self.hook.create_group(name=self.group_name)
            self.log.info("created IAGENTEmail group %r (id %s)", self.group_name, created.get("group_id"))
            self._group = created.get("group_id")
        else:
            self._group = group.get("group_id")
        return {"group_id": self._group, "group_name": self.group_name}

    #: Chunks sent ahead while the next rows are validated (the server parses one while we build the next).
    max_chunks_in_flight: ClassVar[int] = 2

    @cached_property
    def _sender(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.max_chunks_in_flight, thread_name_prefix="iagente-import")

    @cached_property
    def _in_flight(self) -> list[Any]:
        return []

    def send_batch(self, contacts: list[Contact], stats: ImportStats, reject: Callable[..., None]) -> None:
        for start in range(0, len(contacts), self.chunk_size):
            chunk = contacts[start : start + self.chunk_size]
            prepared = self.hook.prepare_mass_add(
                group_id=self._group, contacts=self._rows(chunk), validate_fields=False
            )
            prepared.body()  # encode here, so the sending threads only wait on the network
            self._in_flight.append(self._sender.submit(self._send_chunk, chunk, prepared))
            while len(self._in_flight) > self.max_chunks_in_flight:
                self._account(self._in_flight.pop(0).result(), stats, reject)

    def finish_sending(self, stats: ImportStats, reject: Callable[..., None]) -> None:
        try:
            while self._in_flight:
                self._account(self._in_flight.pop(0).result(), stats, reject)
        finally:
            self._sender.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _account(
        outcomes: list[tuple[Contact, str | None, str | None]],
        stats: ImportStats,
        reject: Callable[..., None],
    ) -> None:
        """Apply one chunk's per-contact outcomes (``None`` message = imported) in the calling thread."""
        for contact, message, vendor_message in outcomes:
            if message is None:
                stats.sent += 1
            else:
                reject(
                    contact.row, contact.email, "refused_by_platform", message, vendor_message, contact.fields
                )

    @staticmethod
    def _rows(chunk: list[Contact]) -> list[dict[str, Any]]:
        return [{"email": c.email, **_iagente_fields(c.fields)} for c in chunk]

    def _send_chunk(
        self, chunk: list[Contact], prepared: Any = None
    ) -> list[tuple[Contact, str | None, str | None]]:
        """Send one chunk; a chunk refused as a whole is split in halves until the bad rows are isolated."""
        if prepared is None:
            prepared = self.hook.prepare_mass_add(
                group_id=self._group, contacts=self._rows(chunk), validate_fields=False
            )
        try:
            answer = self.hook.send_prepared(prepared) or {}
        except (EmailBRValidationError, EmailBRInputError) as err:
            if len(chunk) == 1:
                return [(chunk[0], str(err), getattr(err, "vendor_message", None))]
            self.log.warning(
                "a chunk of %d contacts was refused as a whole; splitting it to isolate the bad rows",
                len(chunk),
            )
            half = len(chunk) // 2
            return self._send_chunk(chunk[:half]) + self._send_chunk(chunk[half:])
        refused = _details_by_index(answer.get("details"), chunk)
        return [
            (c, f"IAGENTEmail refused {self._show(c.email)}", refused[i]) if i in refused else (c, None, None)
            for i, c in enumerate(chunk)
        ]


def _iagente_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}


def _details_by_index(details: Any, chunk: list[Contact]) -> dict[int, str]:
    """Map IAGENTEmail's per-row ``details`` to positions in ``chunk`` (by ``index``, else by e-mail)."""
    refused: dict[int, str] = {}
    if not isinstance(details, list):
        return refused
    positions = {c.email.lower(): i for i, c in enumerate(chunk)}
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        index = detail.get("index")
        if not (isinstance(index, int) and 0 <= index < len(chunk)):
            index = positions.get(str(detail.get("email", "")).lower())
        if index is not None:
            refused[index] = str(detail.get("message") or detail.get("error") or "refused")
    return refused


# ------------------------------------------------------------------------------------------ CriaEnvio


class CriaEnvioImportContactsOperator(BaseImportContactsOperator):
    """Upsert contacts into CriaEnvio lists, with requests in flight concurrently.

    CriaEnvio has no bulk endpoint: each contact is created; when the e-mail already exists it is found by
    e-mail and updated (``mode="upsert"``) or left as it is (``mode="create_only"``); then it is subscribed
    to the lists and its custom fields are set. Fields: ``email``, ``nome``, ``sexo`` (normalised to m/f),
    ``data_de_nascimento`` (sent as ``DD/MM/YYYY``), plus ``custom_fields``.

    :param list_ids: target list ids, or
    :param list_names: target list names (exact); with ``create_lists=True`` missing ones are created.
    :param custom_fields: ``{custom field name: source column}``; field ids are looked up in ``/campos``
        and, with ``create_missing_fields=True``, created when missing.
    :param mode: ``upsert`` (default) or ``create_only``.
    :param max_concurrency: requests in flight (default 8).
    :param max_requests_per_second: optional rate limit shared by all workers.
    :param criaenvio_conn_id: CriaEnvio connection.
    """

    template_fields: Sequence[str] = (
        *BaseImportContactsOperator.template_fields,
        "list_ids",
        "list_names",
        "custom_fields",
    )
    platform = "CriaEnvio"
    fields_spec = (
        FieldSpec("email", "email", ("e-mail", "e_mail", "mail", "email_address")),
        FieldSpec("nome", "text", ("name", "nome_completo", "full_name")),
        FieldSpec("sexo", "sexo", ("gender", "genero", "gênero")),
        FieldSpec("data_de_nascimento", "date", ("birthday", "nascimento", "data_nascimento", "birth_date")),
    )

    def __init__(
        self,
        *,
        list_ids: Sequence[str] | str | None = None,
        list_names: Sequence[str] | str | None = None,
        create_lists: bool = False,
        custom_fields: Mapping[str, str] | None = None,
        create_missing_fields: bool = False,
        mode: str = "upsert",
        max_concurrency: int = 8,
        max_requests_per_second: float | None = None,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (list_ids is None) == (list_names is None):
            raise EmailBRInputError("give exactly one of list_ids and list_names")
        if mode not in ("upsert", "create_only"):
            raise EmailBRInputError(f"mode: {mode!r} is not allowed; use upsert or create_only")
        if not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= 64:
            raise EmailBRInputError(f"max_concurrency: {max_concurrency!r} must be an integer from 1 to 64")
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise EmailBRInputError(f"max_requests_per_second: {max_requests_per_second!r} must be positive")
        self.list_ids = list_ids
        self.list_names = list_names
        self.create_lists = create_lists
        self.custom_fields = custom_fields
        self.create_missing_fields = create_missing_fields
        self.mode = mode
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self.criaenvio_conn_id = criaenvio_conn_id

    @cached_property
    def throttle(self) -> Throttle:
        """The gate shared by all workers: rate limit and common back-off on HTTP 429."""
        return Throttle(self.max_requests_per_second)

    @cached_property
    def hook(self) -> CriaEnvioHook:
        """The CriaEnvio hook (with the shared throttle), built on first use."""
        return CriaEnvioHook(criaenvio_conn_id=self.criaenvio_conn_id).with_options(throttle=self.throttle)

    def custom_field_columns(self) -> Mapping[str, str]:
        return dict(self.custom_fields or {})

    def _check_rendered(self) -> None:
        super()._check_rendered()
        if self.custom_fields is not None and not isinstance(self.custom_fields, Mapping):
            raise EmailBRInputError(
                f"custom_fields: expected a dict, got {type(self.custom_fields).__name__}"
            )

    def prepare_target(self) -> dict[str, Any]:
        self._list_ids = self._resolve_lists()
        self._field_ids = self._resolve_fields()
        return {"list_ids": self._list_ids, "custom_field_ids": self._field_ids}

    def _resolve_lists(self) -> list[str]:
        if self.list_ids is not None:
            ids = [self.list_ids] if isinstance(self.list_ids, str) else list(self.list_ids)
            ids = [str(i).strip() for part in ids for i in str(part).split(",") if str(i).strip()]
            if not ids:
                raise EmailBRInputError("list_ids: give at least one list id")
            return ids
        names = [self.list_names] if isinstance(self.list_names, str) else list(self.list_names)
        existing: dict[str, str] = {}
        for item in self.hook.iter_lists():
            existing.setdefault(str(item.get("nome")), str(item.get("id")))
        ids = []
        for name in names:
            if name in existing:
                ids.append(existing[name])
            elif not self.create_lists:
                raise EmailBRInputError(
                    f"list_names: no CriaEnvio list named {name!r}; existing: {sorted(existing)[:20]}; "
                    "create it or pass create_lists=True"
                )
            elif self.dry_run:
                self.log.info("dry run: list %r would be created", name)
            else:
                created_id = _created_id(self.hook.create_list(nome=name), "listas")
                self.log.info("created CriaEnvio list %r (id %s)", name, created_id)
                ids.append(created_id)
        return ids

    def _resolve_fields(self) -> dict[str, str]:
        wanted = list((self.custom_fields or {}).keys())
        if not wanted:
            return {}
        existing = {str(f.get("nome")): str(f.get("id")) for f in self.hook.iter_fields()}
        resolved = {}
        for name in wanted:
            if name in existing:
                resolved[name] = existing[name]
            elif not self.create_missing_fields:
                raise EmailBRInputError(
                    f"custom_fields: no CriaEnvio custom field named {name!r}; pass "
                    f"create_missing_fields=True to create it (existing: {sorted(existing)[:20]})"
                )
            elif self.dry_run:
                self.log.info("dry run: custom field %r would be created", name)
            else:
                resolved[name] = _created_id(self.hook.create_field(nome=name), "campos")
                self.log.info("created CriaEnvio custom field %r (id %s)", name, resolved[name])
        return resolved

    def send_batch(self, contacts: list[Contact], stats: ImportStats, reject: Callable[..., None]) -> None:
        lock = threading.Lock()

        def work(contact: Contact) -> None:
            try:
                outcome = self._upsert(contact)
            except RowRejected as err:
                with lock:
                    reject(
                        contact.row,
                        contact.email,
                        err.reason,
                        err.message,
                        err.vendor_message,
                        contact.fields,
                    )
                return
            with lock:
                stats.sent += 1
                if outcome == "created":
                    stats.created += 1
                elif outcome == "updated":
                    stats.updated += 1

        with ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix="criaenvio-import"
        ) as pool:
            futures = [pool.submit(work, c) for c in contacts]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # an unexpected error (a bug, an auth failure) fails the task

    def _upsert(self, contact: Contact) -> str:
        """Create or update one contact, subscribe it, set its fields; return created/updated/kept."""
        body = {k: v for k, v in contact.fields.items()}
        try:
            contact_id, outcome = self._create_or_find(contact, body)
            if self._list_ids:
                self.hook.subscribe_contact(contact_id, self._list_ids)
            values = {self._field_ids[n]: v for n, v in contact.custom.items() if n in self._field_ids}
            if values and outcome != "kept":
                self.hook.set_contact_fields(contact_id, values)
            return outcome
        except (EmailBRValidationError, EmailBRNotFoundError) as err:
            raise RowRejected(
                "refused_by_platform", f"CriaEnvio refused {self._show(contact.email)}", err.vendor_message
            ) from None
        except (EmailBRTransportError, EmailBRApiError) as err:
            if getattr(err, "status", None) in (401, 403) and "crédito" not in str(err).lower():
                raise  # a wrong key fails the task at once instead of rejecting every row
            raise RowRejected("request_failed", f"{type(err).__name__}: {err}") from None

    def _create_or_find(self, contact: Contact, body: Mapping[str, Any]) -> tuple[str, str]:
        try:
            created = self.hook.create_contact(email=contact.email, **body)
            return _created_id(created, "contatos"), "created"
        except EmailBRValidationError as err:
            if "já existe" not in str(err.vendor_message or "").lower():
                raise
        except EmailBRTransportError as err:
            if not err.request_sent:
                raise
            # the create may have happened: look the contact up instead of guessing
        found = self.hook.find_contact_by_email(contact.email)
        if found is None:
            created = self.hook.create_contact(email=contact.email, **body)
            return _created_id(created, "contatos"), "created"
        contact_id = str(found["id"])
        if self.mode == "create_only":
            return contact_id, "kept"
        if body:
            self.hook.update_contact(contact_id, **body)
        return contact_id, "updated"


def _created_id(answer: Any, endpoint: str) -> str:
    """The id in CriaEnvio's ``{"data": {"id": ...}}`` answer to a create; any other answer is an error."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    if not isinstance(data, Mapping) or data.get("id") in (None, ""):
        raise EmailBRResponseError(
            platform="CriaEnvio",
            endpoint=endpoint,
            status=None,
            detail=f"the answer to a create has no data.id: {json.dumps(answer, default=str)[:120]}",
        )
    return str(data["id"])


__all__ = [
    "BaseImportContactsOperator",
    "CriaEnvioImportContactsOperator",
    "IAgenteImportContactsOperator",
]
