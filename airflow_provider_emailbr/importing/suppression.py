"""Addresses an import must never send (``suppress``): a list given inline, by XCom, or in a file.

A suppression list is what a CRM, another platform or
:class:`~airflow_provider_emailbr.operators.criaenvio.CriaEnvioExportUnsubscribesOperator` says must stay
out: people who withdrew consent. :func:`load_suppression` reads it completely before the import sends
anything, so a bad list stops the task before any request, naming the source and the row.

Addresses are compared as the import compares its own rows: normalised with
:func:`~airflow_provider_emailbr.utils.emails.normalise_email` (trimmed, domain lower-cased), then
lower-cased as a whole (:func:`suppression_key`). Up to :data:`IN_MEMORY_LIMIT` addresses are kept in a set;
a longer list moves to a temporary on-disk SQLite table, so a million addresses cost a few megabytes of
memory, not hundreds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.sources import iter_csv
from airflow_provider_emailbr.utils.emails import InvalidEmail, normalise_email
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.storage import (
    BadJsonLine,
    as_path,
    detect_format,
    open_text,
    parse_jsonl_lines,
)

log = logging.getLogger(__name__)

#: Addresses kept in memory; beyond this many the list moves to a temporary SQLite file.
IN_MEMORY_LIMIT = 50_000
#: The column (or JSON key, compared case-insensitively) that holds the address in a file.
EMAIL_COLUMN = "email"
#: The parameter's name, for messages.
FIELD = "suppress"
#: Addresses written or looked up per SQLite statement (well under SQLite's bound-parameter limit).
_CHUNK = 500


def suppression_key(address: str) -> str:
    """The comparison key of a valid address: normalised as the import normalises rows, lower-cased.

    Raises :class:`~airflow_provider_emailbr.utils.emails.InvalidEmail` for text that is not an address.
    """
    return normalise_email(address).lower()


class Suppression:
    """A set of suppressed addresses (keys of :func:`suppression_key`), in memory or on disk.

    ``"ana@exemplo.com.br" in suppression`` asks for one key; :meth:`matching` for a batch of them (one
    query per :data:`_CHUNK` keys when the list is on disk). Build it with :func:`load_suppression`, or add
    keys with :meth:`add` and call :meth:`close` (or use it as a context manager) to remove its temporary
    file; a forgotten one is removed when the object is garbage-collected.

    :param source: what the list was read from, for messages.
    :param memory_limit: keys kept in memory before moving to disk (default :data:`IN_MEMORY_LIMIT`).
    """

    def __init__(self, source: str = "addresses", *, memory_limit: int | None = None) -> None:
        self.source = source
        self.memory_limit = IN_MEMORY_LIMIT if memory_limit is None else memory_limit
        self._keys: set[str] | None = set()
        self._db: sqlite3.Connection | None = None
        self._count = 0
        self._cleanup: weakref.finalize | None = None

    @property
    def on_disk(self) -> bool:
        """Whether the keys moved to the temporary SQLite file."""
        return self._db is not None

    def add(self, keys: Iterable[str]) -> None:
        """Add keys (already normalised by :func:`suppression_key`); repeated keys count once."""
        if self._keys is not None:
            self._keys.update(keys)
            if len(self._keys) > self.memory_limit:
                self._spill()
            return
        assert self._db is not None
        batch = list(keys)
        for start in range(0, len(batch), _CHUNK):
            cursor = self._db.executemany(
                "INSERT OR IGNORE INTO suppressed VALUES (?)", ((k,) for k in batch[start : start + _CHUNK])
            )
            self._count += max(cursor.rowcount, 0)

    def _spill(self) -> None:
        """Move the in-memory keys to a new temporary SQLite table."""
        handle, path = tempfile.mkstemp(prefix="emailbr-suppress-", suffix=".sqlite")
        os.close(handle)
        db = sqlite3.connect(path, check_same_thread=False)
        db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-4096;"
            "CREATE TABLE suppressed (key TEXT PRIMARY KEY) WITHOUT ROWID;"
        )
        self._cleanup = weakref.finalize(self, _drop, db, path)
        self._db = db
        keys, self._keys = self._keys or set(), None
        self._count = 0
        self.add(sorted(keys))  # sorted: B-tree inserts in order

    def __contains__(self, email_lower: object) -> bool:
        if not isinstance(email_lower, str):
            return False
        if self._keys is not None:
            return email_lower in self._keys
        assert self._db is not None
        found = self._db.execute("SELECT 1 FROM suppressed WHERE key = ?", (email_lower,)).fetchone()
        return found is not None

    def matching(self, emails_lower: Iterable[str]) -> set[str]:
        """The keys of ``emails_lower`` that are suppressed (a batch look-up for large lists)."""
        wanted = list(dict.fromkeys(emails_lower))
        if self._keys is not None:
            return self._keys.intersection(wanted)
        assert self._db is not None
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = f"SELECT key FROM suppressed WHERE key IN ({','.join('?' * len(chunk))})"
            found.update(key for (key,) in self._db.execute(query, chunk))
        return found

    def __len__(self) -> int:
        return len(self._keys) if self._keys is not None else self._count

    def __repr__(self) -> str:
        where = "on disk" if self.on_disk else "in memory"
        return f"<Suppression of {len(self)} address(es) from {self.source} ({where})>"

    def close(self) -> None:
        """Remove the temporary file, if any; the set is empty afterwards."""
        if self._cleanup is not None:
            self._cleanup()
        self._db = None
        self._keys = set()
        self._count = 0

    def __enter__(self) -> Suppression:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop(db: sqlite3.Connection, path: str) -> None:
    db.close()
    with contextlib.suppress(OSError):
        os.remove(path)


def load_suppression(spec: Any, *, conn_id: str | None) -> Suppression | None:
    """The suppression list ``spec`` describes, read completely, or ``None`` when ``spec`` is ``None``.

    :param spec: ``None``; an iterable of addresses (e.g. an XCom list), each a text or a mapping with an
        ``email`` key; or a local path, a URI or an ``ObjectStoragePath`` of a CSV (delimiter detected) or
        JSON Lines file (by its extension: ``.csv``, ``.jsonl``, ``.ndjson``, ``.json``)
        with an ``email`` column.
    :param conn_id: the object store's connection, for a URI.

    Every entry must be a valid address: a missing ``email`` column, a file that does not exist or cannot be
    read, and a row that is not an address raise
    :class:`~airflow_provider_emailbr.exceptions.EmailBRInputError` naming the source and the row.
    """
    if spec is None:
        return None
    if _is_file_spec(spec):
        if isinstance(spec, str) and "@" in spec and not _has_extension(spec) and "/" not in spec:
            raise EmailBRInputError(
                f"{FIELD}: {mask_email(spec)!r} looks like one address, not a file; give a list of "
                "addresses (e.g. ['ana@exemplo.com.br']) or the path of a CSV or JSON Lines file"
            )
        return _from_file(spec, conn_id)
    if isinstance(spec, (Mapping, bytes, bytearray)) or not isinstance(spec, Iterable):
        raise EmailBRInputError(
            f"{FIELD}: expected a list of addresses or the path of a CSV or JSON Lines file with an "
            f"'{EMAIL_COLUMN}' column, got {type(spec).__name__}"
        )
    return _build("the given addresses", _iterable_entries(spec))


def _is_file_spec(spec: Any) -> bool:
    if isinstance(spec, (str, Path)):
        return True
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # pragma: no cover - Airflow is a dependency
        return False
    return isinstance(spec, ObjectStoragePath)


def _has_extension(text: str) -> bool:
    try:
        detect_format(text)
    except EmailBRInputError:
        return False
    return True


def _iterable_entries(values: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` of every entry of an iterable of addresses or of mappings with an e-mail."""
    for number, value in enumerate(values, start=1):
        where = f"item {number}"
        if isinstance(value, Mapping):
            yield where, _email_cell(value, where)
        else:
            yield where, value


def _email_cell(row: Mapping[Any, Any], where: str) -> Any:
    for key, value in row.items():
        if str(key).strip().lower() == EMAIL_COLUMN:
            return value
    raise EmailBRInputError(
        f"{FIELD}: {where} has no '{EMAIL_COLUMN}' field (its fields are {sorted(map(str, row))})"
    )


def _from_file(spec: Any, conn_id: str | None) -> Suppression:
    name = str(spec)
    try:
        fmt = detect_format(spec)
    except EmailBRInputError:
        raise EmailBRInputError(
            f"{FIELD}: cannot tell the format of {name!r} from its extension; name the file .csv or .jsonl"
        ) from None
    try:
        target = as_path(spec, conn_id)
        if not target.exists():
            raise EmailBRInputError(f"{FIELD}: the file {name!r} does not exist")
        with open_text(target, conn_id=conn_id) as handle:
            entries = _csv_entries(handle, name) if fmt == "csv" else _jsonl_entries(handle, name)
            return _build(name, entries)
    except EmailBRInputError as err:
        message = str(err)
        raise EmailBRInputError(
            message if message.startswith(FIELD) else f"{FIELD}: {name}: {message}"
        ) from None
    except UnicodeDecodeError as err:
        raise EmailBRInputError(
            f"{FIELD}: {name!r} is not UTF-8 text (near byte {err.start}); write the file as UTF-8"
        ) from None
    except OSError as err:
        raise EmailBRInputError(f"{FIELD}: cannot read {name!r}: {err}") from None


def _csv_entries(handle: Iterable[str], name: str) -> Iterator[tuple[str, Any]]:
    column: str | None = None
    for number, row in enumerate(iter_csv(handle, None), start=1):
        if column is None:
            column = next((c for c in row if str(c).strip().lower() == EMAIL_COLUMN), None)
            if column is None:
                columns = [c for c in row if isinstance(c, str) and not c.startswith("__")]
                raise EmailBRInputError(
                    f"{FIELD}: {name} has no '{EMAIL_COLUMN}' column (its columns are {columns})"
                )
        yield f"{name} row {number}", row.get(column)


def _jsonl_entries(handle: Iterable[str], name: str) -> Iterator[tuple[str, Any]]:
    for number, value in parse_jsonl_lines(handle):
        where = f"{name} line {number}"
        if isinstance(value, BadJsonLine):
            raise EmailBRInputError(f"{FIELD}: {where} is not valid JSON ({value.error})")
        if not isinstance(value, Mapping):
            raise EmailBRInputError(
                f"{FIELD}: {where} is not a JSON object with an '{EMAIL_COLUMN}' key (got "
                f"{type(value).__name__})"
            )
        yield where, _email_cell(value, where)


def _build(source: str, entries: Iterable[tuple[str, Any]], batch: int = 10_000) -> Suppression:
    """A :class:`Suppression` of every entry; an entry that is not an address is an error naming it."""
    suppression = Suppression(source)
    keys: list[str] = []
    try:
        for where, value in entries:
            keys.append(_key(where, value))
            if len(keys) >= batch:
                suppression.add(keys)
                keys = []
        suppression.add(keys)
    except BaseException:
        suppression.close()
        raise
    log.info("Suppression list: %d distinct address(es) from %s.", len(suppression), source)
    return suppression


def _key(where: str, value: Any) -> str:
    if not isinstance(value, str):
        shown = "empty" if value is None else f"a {type(value).__name__}"
        raise EmailBRInputError(f"{FIELD}: {where}: expected an e-mail address, got {shown}")
    if not value.strip():
        raise EmailBRInputError(f"{FIELD}: {where}: the e-mail address is empty")
    try:
        return suppression_key(value)
    except InvalidEmail as err:
        raise EmailBRInputError(
            f"{FIELD}: {where}: {mask_email(value)!r} is not a valid e-mail address ({err})"
        ) from None


__all__ = ["EMAIL_COLUMN", "IN_MEMORY_LIMIT", "Suppression", "load_suppression", "suppression_key"]
