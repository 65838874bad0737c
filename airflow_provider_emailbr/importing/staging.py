"""The staged source of one import run, on disk, and its difference with the last synced snapshot.

Every valid contact of the source is written to a temporary SQLite table keyed by its lower-cased address
before anything is sent, so memory stays constant and a contact is sent at most once per run: a later row
of the same address replaces the values of an earlier one (the last row wins) and keeps the first spelling
of the address. Each staged contact carries two hashes, of its mapped platform fields and of its custom
fields, so comparing the run with the previous snapshot (attached read-only as ``old``) says which contacts
are new, changed, unchanged or gone, without reading any of them into memory.

Each batch goes to SQLite as one JSON array, inserted by one statement on a second thread while the next
batch is validated (SQLite runs a statement without Python's lock). A run that keeps no snapshot computes
no hashes.

As the platform confirms contacts (sent or removed), :meth:`Staging.confirm` and :meth:`Staging.removed`
record it; :meth:`Staging.write_snapshot` then writes the next snapshot: the previous one, with what was
confirmed in this run applied. A run that stops midway therefore stores exactly what was confirmed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any, NamedTuple

from airflow_provider_emailbr.importing.rows import Contact, FieldSpec
from airflow_provider_emailbr.utils.privacy import mask_email

#: Bytes of each hash: a false "unchanged" needs a 64-bit collision on one contact.
HASH_BYTES = 8
#: Staged rows read per query while sending or removing.
READ_CHUNK = 1000

_SCHEMA = (
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192; PRAGMA temp_store=FILE;"
    "CREATE TABLE staged (key TEXT NOT NULL UNIQUE, email TEXT NOT NULL, row INTEGER NOT NULL,"
    " fields TEXT NOT NULL, custom TEXT NOT NULL, fhash BLOB NOT NULL, chash BLOB NOT NULL);"
    "CREATE TABLE done (key TEXT PRIMARY KEY, email TEXT, fhash BLOB, chash BLOB, platform_id TEXT)"
    " WITHOUT ROWID;"
)
_EMPTY_OLD = (
    "CREATE TABLE old.contacts (key TEXT PRIMARY KEY, email TEXT, fhash BLOB NOT NULL, chash BLOB NOT NULL,"
    " platform_id TEXT) WITHOUT ROWID;"
)
_UPSERT_BULK = (
    "INSERT INTO staged (key, email, row, fields, custom, fhash, chash)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value {fields} 3, value ->> 4,"
    " COALESCE(substr(?2, key * 16 + 1, 8), X''),"
    " CASE value ->> 4 WHEN '' THEN X'' ELSE COALESCE(substr(?2, key * 16 + 9, 8), X'') END"
    " FROM json_each(?1)"
    " WHERE true ON CONFLICT(key) DO UPDATE SET row = excluded.row, fields = excluded.fields,"
    " custom = excluded.custom, fhash = excluded.fhash, chash = excluded.chash"
)
#: The hashes of a batch whose contacts are not hashed (bound as NULL: each hash is then ``X''``).
_NO_HASHES = b""
#: The custom-field hash of a contact without custom fields (the staged value is ``X''`` then).
_NO_CUSTOM_HASH = bytes(HASH_BYTES)
#: A staged contact that differs from the previous snapshot (or is not in it).
_DIFFERS = "(o.key IS NULL OR o.fhash != s.fhash OR o.chash != s.chash)"


class SyncDiff(NamedTuple):
    """How the staged source compares with the previous snapshot (all counts of distinct contacts)."""

    staged: int
    new: int
    changed: int
    unchanged: int
    removed: int
    previous: int


class Gone(NamedTuple):
    """A contact of the previous snapshot that is no longer in the source (to remove with ``mirror``).

    Its repr shows the address masked (LGPD).
    """

    key: str
    email: str
    platform_id: str | None

    def __repr__(self) -> str:
        return (
            f"Gone(key={mask_email(self.key)!r}, email={mask_email(self.email)!r}, "
            f"platform_id={self.platform_id!r})"
        )


class SyncState(NamedTuple):
    """What the previous snapshot knows of a contact about to be sent: its platform id (when known) and
    which of its parts changed (``fields``, ``custom``). A new contact has none."""

    platform_id: str | None
    changed: frozenset[str]


def encode_values(values: dict[str, Any], *, sort: bool = False) -> str:
    """Field values as compact JSON (dates as ISO text), in the order given (platform fields come in the
    platform's order) or sorted (custom fields, whose order is the user's)."""
    return (_SORTED if sort else _IN_ORDER)(values)


def digest(text: str) -> bytes:
    """The :data:`HASH_BYTES`-byte hash of encoded values."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest()


# one encoder each, built once (json.dumps with options builds a new encoder per call); dates become ISO text
# through date.isoformat itself, which the C encoder calls without a Python frame (a value of another type
# raises TypeError)
_IN_ORDER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=date.isoformat).encode
_SORTED = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=date.isoformat, sort_keys=True
).encode


class Staging:
    """The temporary on-disk tables of one run: staged contacts, confirmations, the previous snapshot.

    :param fields_spec: the platform's fields (dates are restored from their ISO text).
    :param previous: a local snapshot file to compare with (read-only), or ``None`` for none.
    :param hashed: hash each contact's values, for a snapshot (``False`` when the run keeps none: every
        contact is then new, and :meth:`confirm` and :meth:`write_snapshot` are not for use).
    """

    def __init__(
        self, fields_spec: Sequence[FieldSpec], previous: str | None = None, *, hashed: bool = True
    ) -> None:
        self._dates = tuple(spec.name for spec in fields_spec if spec.kind == "date")
        self.hashed = hashed
        handle, self.path = tempfile.mkstemp(prefix="emailbr-staged-", suffix=".sqlite")
        os.close(handle)
        self._db = sqlite3.connect(
            f"file:{self.path}", uri=True, check_same_thread=False, isolation_level=None
        )
        #: the staging thread: one statement at a time, each after the one before
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emailbr-staging")
        self._writing: Future[Any] | None = None
        self.db.executescript(_SCHEMA)
        self.has_previous = previous is not None
        if previous is not None:
            self.db.execute("ATTACH DATABASE ? AS old", (f"file:{previous}?mode=ro",))
        else:
            self.db.execute("ATTACH DATABASE ':memory:' AS old")
            self.db.executescript(_EMPTY_OLD)
        self.db.execute("BEGIN")
        self.staged_rows = 0

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, once the batch being written on the staging thread (if any) is in; raises what
        writing it raised."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()
        return self._db

    def close(self) -> None:
        """Drop the temporary tables and their file."""
        with contextlib.suppress(Exception):
            self.db  # noqa: B018 - let a batch being written finish before closing
        self._thread.shutdown()
        self._db.close()
        with contextlib.suppress(OSError):
            os.remove(self.path)

    # ------------------------------------------------------------------ staging

    def stage(self, contacts: Iterable[Contact]) -> None:
        """Add valid contacts; a known address takes the later row's values under its first spelling.

        The batch is encoded here as one JSON array of ``[key, email, row, fields, custom]`` (with the
        hashes, when kept, in one blob beside it), then inserted by one statement on the staging thread while
        the caller validates the next batch.
        """
        try:
            statement, encoded, blob, count = self._encode(contacts)
        except TypeError as err:  # a value of a type the normaliser never gives
            raise TypeError(f"cannot stage a contact's values: {err}") from None
        if not count:
            return
        db = self.db  # waits for the batch before
        self._writing = self._thread.submit(db.execute, statement, (encoded, blob))
        self.staged_rows += count

    def _encode(self, contacts: Iterable[Contact]) -> tuple[str, str, bytes, int]:
        """The statement, the batch as one JSON array, the hashes blob and the number of contacts."""
        encode_sorted = _SORTED
        if self.hashed:
            encode, hashes = _IN_ORDER, bytearray()
            batch = []
            for contact in contacts:
                fields, custom = encode(contact.fields), contact.custom
                custom = encode_sorted(custom) if custom else ""
                batch.append([contact.email.lower(), contact.email, contact.row, fields, custom])
                hashes += digest(fields)
                hashes += digest(custom) if custom else _NO_CUSTOM_HASH
            statement, blob = _UPSERT_BULK.format(fields="->>"), bytes(hashes)
        else:  # the fields go as JSON objects, encoded with the whole batch
            batch = [
                [c.email.lower(), c.email, c.row, c.fields, encode_sorted(c.custom) if c.custom else ""]
                for c in contacts
            ]
            statement, blob = _UPSERT_BULK.format(fields="->"), _NO_HASHES
        return statement, _IN_ORDER(batch), blob, len(batch)

    def distinct(self) -> int:
        """Distinct contacts staged."""
        return self.db.execute("SELECT COUNT(*) FROM staged").fetchone()[0]

    def drop(self, keys: Iterable[str]) -> list[Contact]:
        """Take the contacts of ``keys`` out of the staged source; return them (for the report)."""
        dropped = []
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, email, row, fields, custom FROM staged WHERE key IN ({marks}) ORDER BY row"
            for _, email, row, fields, custom in self.db.execute(query, chunk).fetchall():
                dropped.append(self._contact(email, row, fields, custom))
            self.db.execute(f"DELETE FROM staged WHERE key IN ({marks})", chunk)
        return sorted(dropped, key=lambda c: c.row)

    def iter_keys(self) -> Iterator[list[str]]:
        """The staged keys, :data:`READ_CHUNK` at a time (to match them against another list)."""
        last = ""
        while True:
            query = "SELECT key FROM staged WHERE key > ? ORDER BY key LIMIT ?"
            keys = [k for (k,) in self.db.execute(query, (last, READ_CHUNK)).fetchall()]
            if not keys:
                return
            yield keys
            last = keys[-1]

    # ------------------------------------------------------------------ the difference

    def diff(self) -> SyncDiff:
        """Count new, changed, unchanged and gone contacts against the previous snapshot."""
        staged, new, changed = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(o.key IS NULL), 0),"
            " COALESCE(SUM(o.key IS NOT NULL AND (o.fhash != s.fhash OR o.chash != s.chash)), 0)"
            " FROM staged s LEFT JOIN old.contacts o ON o.key = s.key"
        ).fetchone()
        previous = self.db.execute("SELECT COUNT(*) FROM old.contacts").fetchone()[0]
        kept = staged - new
        return SyncDiff(
            staged=staged,
            new=new,
            changed=changed,
            unchanged=kept - changed,
            removed=previous - kept,
            previous=previous,
        )

    def to_send(self, size: int) -> Iterator[list[Contact]]:
        """The new and changed contacts in order of first appearance, ``size`` at a time, each with its
        :class:`SyncState` (``None`` for a new contact)."""
        last = 0
        query = (
            "SELECT s.rowid, s.email, s.row, s.fields, s.custom, o.key IS NOT NULL, o.fhash != s.fhash,"
            " o.chash != s.chash, o.platform_id FROM staged s LEFT JOIN old.contacts o ON o.key = s.key"
            f" WHERE s.rowid > ? AND {_DIFFERS} ORDER BY s.rowid LIMIT ?"
        )
        while True:
            rows = self.db.execute(query, (last, size)).fetchall()
            if not rows:
                return
            batch = []
            decoded = self._decode(row[3] for row in rows)
            for values, (_, email, row, _, custom, known, fields_changed, custom_changed, platform_id) in zip(
                decoded, rows, strict=True
            ):
                contact = Contact(row, email, values, json.loads(custom) if custom else {})
                if known:
                    parts = {"fields"} if fields_changed else set()
                    if custom_changed:
                        parts.add("custom")
                    contact.sync = SyncState(platform_id, frozenset(parts))
                batch.append(contact)
            yield batch
            last = rows[-1][0]

    def gone(self, size: int) -> Iterator[list[Gone]]:
        """The contacts of the previous snapshot missing from the source, ``size`` at a time."""
        last = ""
        query = (
            "SELECT o.key, COALESCE(o.email, o.key), o.platform_id FROM old.contacts o WHERE o.key > ?"
            " AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.key = o.key) ORDER BY o.key LIMIT ?"
        )
        while True:
            rows = self.db.execute(query, (last, size)).fetchall()
            if not rows:
                return
            yield [Gone(*row) for row in rows]
            last = rows[-1][0]

    def _contact(self, email: str, row: int, fields: str, custom: str) -> Contact:
        (values,) = self._decode((fields,))
        return Contact(row=row, email=email, fields=values, custom=json.loads(custom) if custom else {})

    def _decode(self, encoded: Iterable[str]) -> list[dict[str, Any]]:
        """Staged platform fields back to values (dates from their ISO text), in one JSON parse."""
        decoded = json.loads(f"[{','.join(encoded)}]")
        for name in self._dates:
            for values in decoded:
                text = values.get(name)
                if text is not None:
                    values[name] = date.fromisoformat(text)
        return decoded

    # ------------------------------------------------------------------ confirmations and the next snapshot

    def confirm(self, confirmed: Iterable[tuple[str, str | None]]) -> None:
        """Record contacts the platform took: ``(e-mail, platform id or None)``; a known id is kept."""
        self.db.executemany(
            "INSERT OR REPLACE INTO done (key, email, fhash, chash, platform_id)"
            " SELECT s.key, NULLIF(s.email, s.key), s.fhash, s.chash,"
            " COALESCE(?2, (SELECT platform_id FROM old.contacts o WHERE o.key = s.key))"
            " FROM staged s WHERE s.key = ?1",
            ((email.lower(), platform_id) for email, platform_id in confirmed),
        )

    def removed(self, keys: Iterable[str]) -> None:
        """Record contacts taken out of the target."""
        self.db.executemany(
            "INSERT OR REPLACE INTO done (key, email, fhash, chash, platform_id)"
            " VALUES (?, NULL, NULL, NULL, NULL)",
            ((key,) for key in keys),
        )

    def confirmed_any(self) -> bool:
        """Whether this run confirmed anything (a send or a removal) since the previous snapshot."""
        return bool(self.db.execute("SELECT EXISTS (SELECT 1 FROM done)").fetchone()[0])

    def write_snapshot(self, local: str, meta: Mapping[str, str]) -> int:
        """Fill the empty snapshot file ``local``: the previous snapshot with this run's confirmations
        applied, and ``meta`` plus the number of contacts. Return that number."""
        self.db.execute("COMMIT")
        self.db.execute("ATTACH DATABASE ? AS out", (local,))
        try:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO out.contacts SELECT key, email, fhash, chash, platform_id FROM ("
                " SELECT o.key, o.email, o.fhash, o.chash, o.platform_id FROM old.contacts o"
                "  WHERE NOT EXISTS (SELECT 1 FROM done d WHERE d.key = o.key)"
                " UNION ALL SELECT key, email, fhash, chash, platform_id FROM done WHERE fhash IS NOT NULL"
                ") ORDER BY key"
            )
            count = self.db.execute("SELECT COUNT(*) FROM out.contacts").fetchone()[0]
            rows = {**meta, "contacts": str(count)}
            self.db.executemany("INSERT INTO out.meta VALUES (?, ?)", rows.items())
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        finally:
            self.db.execute("DETACH DATABASE out")
            self.db.execute("BEGIN")
        return count


__all__ = ["HASH_BYTES", "READ_CHUNK", "Gone", "Staging", "SyncDiff", "SyncState", "digest", "encode_values"]
