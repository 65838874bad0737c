"""Row sources of a contact import: an iterable (or XCom), a CSV or JSON Lines file, a SQL query.

Every source streams raw rows one at a time (never a whole file or result set in memory). A raw row is
usually a mapping of column to value; what a source cannot turn into one (a JSON Lines line that is not
JSON, a CSV record with more cells than the header) is still yielded, as a marker the normalisation rejects
with a clear reason, so one bad line is one rejected row, not a failed task. What makes the whole source
unusable (no header, a file that does not exist, text in the wrong encoding) raises
:class:`~airflow_provider_emailbr.exceptions.EmailBRInputError` before or as soon as it is met.
"""

from __future__ import annotations

import csv
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.records import Record
from airflow_provider_emailbr.utils.storage import (
    BadJsonLine,
    detect_format,
    open_text,
    parse_jsonl_lines,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: Delimiters looked for in a CSV header when none is given.
CSV_DELIMITERS = (";", ",", "\t", "|")
#: Key under which a CSV row keeps the cells beyond its header's columns (the row is then rejected).
EXTRA_CELLS = "__extra_cells__"


class RowSource(Record, ABC):
    """Where an import reads its raw rows from."""

    __slots__ = ()

    #: Whether every row has the same columns (a file or a query), so the first row tells them all.
    fixed_columns: bool = True

    @abstractmethod
    def rows(self) -> Iterator[Any]:
        """The raw rows, streamed, in source order."""

    def size_hint(self) -> int | None:
        """The number of rows when known up front (for the progress ETA), else ``None``."""
        return None


class IterableSource(RowSource):
    """Rows given as an iterable of mappings, e.g. an upstream task's XCom."""

    __slots__ = ("contacts",)
    fixed_columns = False

    def __init__(self, contacts: Iterable[Any]) -> None:
        self.contacts = contacts

    def rows(self) -> Iterator[Any]:
        return iter(self.contacts)

    def size_hint(self) -> int | None:
        return len(self.contacts) if isinstance(self.contacts, Sequence) else None


class FileSource(RowSource):
    """A CSV or JSON Lines file, local or any ``ObjectStoragePath`` URI.

    :param path: the file.
    :param fmt: ``csv`` or ``jsonl``; from the file name's extension when ``None``.
    :param encoding: its text encoding (a UTF-8 BOM is ignored).
    :param delimiter: the CSV delimiter; detected from the header among :data:`CSV_DELIMITERS` when ``None``.
    :param conn_id: the connection of the object store.
    """

    __slots__ = ("conn_id", "delimiter", "encoding", "fmt", "path")

    def __init__(
        self,
        path: str | ObjectStoragePath,
        fmt: str | None = None,
        encoding: str = "utf-8",
        delimiter: str | None = None,
        conn_id: str | None = None,
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.encoding = encoding
        self.delimiter = delimiter
        self.conn_id = conn_id

    def rows(self) -> Iterator[Any]:
        fmt = detect_format(self.path, self.fmt, field="source_format")
        with open_text(self.path, encoding=self.encoding, conn_id=self.conn_id) as handle:
            try:
                if fmt == "csv":
                    yield from iter_csv(handle, self.delimiter)
                else:
                    yield from iter_jsonl_rows(handle)
            except UnicodeDecodeError as err:
                raise EmailBRInputError(
                    f"source_path: {str(self.path)!r} is not valid {self.encoding} text near byte "
                    f"{err.start}; set encoding= (Latin-1 exports are common: encoding='latin-1')"
                ) from None


class SqlSource(RowSource):
    """The rows of a query on a common-sql connection (any ``DbApiHook``: SQLite, Postgres …), fetched in
    batches of ``fetch_size`` with the DB-API cursor.

    :param sql: the query.
    :param conn_id: the connection; its hook must be a common-sql ``DbApiHook``.
    :param parameters: the query's parameters.
    :param fetch_size: rows per ``fetchmany``.
    """

    __slots__ = ("conn_id", "fetch_size", "parameters", "sql")

    def __init__(
        self,
        sql: str,
        conn_id: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        fetch_size: int = 1000,
    ) -> None:
        self.sql = sql
        self.conn_id = conn_id
        self.parameters = parameters
        self.fetch_size = fetch_size

    def rows(self) -> Iterator[dict[str, Any]]:
        conn = db_hook(self.conn_id).get_conn()
        cursor = conn.cursor()
        try:
            if self.parameters is None:
                cursor.execute(self.sql)
            else:
                cursor.execute(self.sql, self.parameters)
            columns = [d[0] for d in cursor.description or ()]
            while rows := cursor.fetchmany(self.fetch_size):
                for values in rows:
                    yield dict(zip(columns, values, strict=True))
        finally:
            cursor.close()
            conn.close()


def db_hook(conn_id: str) -> Any:
    """The connection's hook, checked to be a common-sql ``DbApiHook`` (as ``BaseSQLOperator`` checks it)."""
    from airflow.sdk import BaseHook

    try:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
    except ImportError:
        raise EmailBRInputError(
            "sql_conn_id: reading contacts with sql needs apache-airflow-providers-common-sql (installed "
            "with any database provider, e.g. apache-airflow-providers-postgres or -sqlite)"
        ) from None
    hook = BaseHook.get_connection(conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise EmailBRInputError(
            f"sql_conn_id: the hook of {conn_id!r} is {type(hook).__name__}, not a database hook; use a "
            "connection whose hook is a common-sql DbApiHook (Postgres, MySQL, SQLite, Snowflake …)"
        )
    return hook


def iter_csv(handle: Iterable[str], delimiter: str | None) -> Iterator[dict[str, Any]]:
    """Dict rows of a CSV stream; the delimiter is detected from the header when not given.

    Blank lines are skipped; a record with more cells than the header keeps the extra cells under
    :data:`EXTRA_CELLS` (the row is then rejected, not silently cut).
    """
    lines = iter(handle)
    header = next(lines, None)
    if header is None or not header.strip():
        raise EmailBRInputError("the CSV source is empty: it has no header line")
    if delimiter is None:
        counts = {d: header.count(d) for d in CSV_DELIMITERS}
        delimiter = max(counts, key=counts.__getitem__) if max(counts.values()) else ","
    reader = csv.reader(itertools.chain([header], lines), delimiter=delimiter)
    columns = [c.strip() for c in _next_record(reader) or ()]
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise EmailBRInputError(f"CSV header repeats column(s) {duplicated}; each column must be unique")
    while (values := _next_record(reader)) is not None:
        if not any(values):
            continue  # blank line (or only delimiters)
        row: dict[str, Any] = dict(zip(columns, values, strict=False))
        if len(values) > len(columns):
            row[EXTRA_CELLS] = values[len(columns) :]
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
    """Parsed JSON values of a JSON Lines stream; a line that is not JSON comes as a :class:`BadJsonLine`
    (rejected as ``malformed_line``), a value that is not an object as itself (rejected as
    ``not_a_mapping``)."""
    for _, value in parse_jsonl_lines(handle):
        yield value


__all__ = [
    "CSV_DELIMITERS",
    "EXTRA_CELLS",
    "BadJsonLine",
    "FileSource",
    "IterableSource",
    "RowSource",
    "SqlSource",
    "db_hook",
    "iter_csv",
    "iter_jsonl_rows",
]
