"""The staged source of one import run, on disk, and its difference with the last synced snapshot.

Every valid contact of the source is written to a temporary SQLite file before anything is sent, so memory
stays constant and a contact is sent at most once per run: a later row of the same address (compared
lower-cased) replaces the values of an earlier one (the last row wins) and keeps the first spelling of the
address.

Each read batch is stored once, as one flat JSON array ``[row, fields, custom, row, fields, custom, …]`` in
the ``batches`` table, and decoded once when its contacts are sent. The ``staged`` table holds one row per
distinct address: the order of its first appearance (``seq``), its key (the lower-cased address), its first
spelling only when that differs from the key, two hashes (of its mapped platform fields and of its custom
fields; empty when the run keeps no snapshot), where its winning row is (``batch``, ``pos``) and the batch
of its first row (``first``). Before the first pass in order of first appearance, the winning rows of
addresses whose last row came in a later batch than their first are copied out of their batches, each
batch decoded once (the ``moved`` table), so that pass reads every other batch in order. Comparing
the run with the previous snapshot (attached read-only as ``old``) says from the hashes alone which contacts
are new, changed, unchanged or gone, without reading any of them into memory.

Both statements of a batch run on a second thread while the next batch is validated (SQLite runs a
statement without Python's lock).

As the platform confirms contacts (sent or removed), :meth:`Staging.confirm` and :meth:`Staging.removed`
record it; :meth:`Staging.write_snapshot` then writes the next snapshot: the previous one, with what was
confirmed in this run applied. A run that stops midway therefore stores exactly what was confirmed.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import tempfile
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any, NamedTuple

from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, collection_paused
from airflow_provider_emailbr.utils.privacy import mask_email

#: Bytes of each hash: a false "unchanged" needs a 64-bit collision on one contact.
HASH_BYTES = 8
#: Staged rows read per query while sending or removing.
READ_CHUNK = 1000

_SCHEMA = (
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192; PRAGMA temp_store=FILE;"
    "CREATE TABLE batches (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, contacts TEXT NOT NULL);"
    "CREATE TABLE staged (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, email TEXT,"
    " fhash BLOB NOT NULL, chash BLOB NOT NULL, batch INTEGER NOT NULL, pos INTEGER NOT NULL,"
    " first INTEGER NOT NULL);"
    "CREATE TABLE moved (seq INTEGER PRIMARY KEY, contact TEXT NOT NULL);"
    "CREATE TABLE done (key TEXT PRIMARY KEY, email TEXT, fhash BLOB, chash BLOB, platform_id TEXT)"
    " WITHOUT ROWID;"
)
_EMPTY_OLD = (
    "CREATE TABLE old.contacts (key TEXT PRIMARY KEY, email TEXT, fhash BLOB NOT NULL, chash BLOB NOT NULL,"
    " platform_id TEXT) WITHOUT ROWID;"
)
_INSERT_BATCH = "INSERT INTO batches (id, size, contacts) VALUES (?, ?, ?)"
#: One statement per batch: ``?1`` is a JSON array of the batch's addresses, each its key or, when spelt
#: otherwise, ``[key, spelling]``; ``?2`` the hashes (16 bytes a contact, custom fields' zeroed when there
#: are none; empty when not hashed); ``?3`` the batch. A known key keeps its place and first spelling.
_UPSERT_KEYS = (
    "INSERT INTO staged (key, email, fhash, chash, batch, pos, first)"
    " SELECT CASE type WHEN 'text' THEN value ELSE value ->> 0 END,"
    " CASE type WHEN 'text' THEN NULL ELSE value ->> 1 END,"
    " COALESCE(substr(?2, key * 16 + 1, 8), X''),"
    " COALESCE(NULLIF(substr(?2, key * 16 + 9, 8), zeroblob(8)), X''),"
    " ?3, key, ?3 FROM json_each(?1)"
    " WHERE true ON CONFLICT(key) DO UPDATE SET fhash = excluded.fhash, chash = excluded.chash,"
    " batch = excluded.batch, pos = excluded.pos"
)
#: The custom-field hash of a contact without custom fields (the staged value is ``X''`` then).
_NO_CUSTOM_HASH = bytes(HASH_BYTES)
#: Values per contact in a stored batch: row, platform fields, custom fields.
_STRIDE = 3
#: Decoded batches kept while sending (staged contacts come in order of first appearance, so the batches
#: they point at mostly follow one another).
_DECODED_KEPT = 4
#: A batch is decoded whole when at least this share of it is wanted at once (else the wanted contacts
#: are cut out of it by SQLite, e.g. the few contacts a drop takes or a re-sync's changed ones).
_WHOLE_BATCH_SHARE = 0.25
#: Keys or batch ids per ``IN (…)`` query (well under SQLite's bound-parameter limit).
_LOOKUP_CHUNK = 500
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


ContactValues = tuple[int, dict[str, Any], dict[str, Any]]
"""A stored contact's source row, platform fields and custom fields."""


class StoredBatches:
    """Reads staged contacts' values back from their stored batches, for one pass over the staged source.

    A batch wanted in good part (:data:`_WHOLE_BATCH_SHARE`) is decoded whole, in one JSON parse, and kept
    for the next reads of the pass (the :data:`_DECODED_KEPT` latest used); from any other, SQLite cuts out
    just the contacts wanted (a few dropped or changed contacts; winning rows far from their address's first
    row come from the ``moved`` table instead, see :meth:`Staging._gather_moved`). Each contact's values are
    handed out once per pass (its dates are restored in place).

    :param db: the staging connection.
    :param dates: the names of the platform's date fields.
    """

    def __init__(self, db: sqlite3.Connection, dates: Sequence[str]) -> None:
        self._db = db
        self._dates = dates
        self._decoded: OrderedDict[int, list[Any]] = OrderedDict()

    def values_at(self, located: Sequence[tuple[int, int, int]]) -> list[ContactValues]:
        """The values of the contacts at ``(batch, position, batch size)``, in that order."""
        wanted = Counter(batch_id for batch_id, _, _ in located)
        sizes = {batch_id: size for batch_id, _, size in located}
        self._decode(
            [
                batch_id
                for batch_id, count in wanted.items()
                if batch_id in self._decoded or count >= sizes[batch_id] * _WHOLE_BATCH_SHARE
            ]
        )
        decoded = self._decoded
        cut_out = iter(self._cut_out([(b, pos) for b, pos, _ in located if b not in decoded]))
        values = []
        for batch_id, pos, _ in located:
            batch = decoded.get(batch_id)
            if batch is None:
                values.append(next(cut_out))
            else:
                start = pos * _STRIDE
                values.append(self._restored(*batch[start : start + _STRIDE]))
        while len(decoded) > _DECODED_KEPT:
            decoded.popitem(last=False)
        return values

    def _decode(self, batch_ids: Sequence[int]) -> None:
        """Decode the batches ``batch_ids`` not decoded yet; mark them all as the latest used."""
        missing = [batch_id for batch_id in batch_ids if batch_id not in self._decoded]
        for start in range(0, len(missing), _LOOKUP_CHUNK):
            chunk = missing[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, contacts FROM batches WHERE id IN ({marks})"
            for batch_id, text in self._db.execute(query, chunk).fetchall():
                self._decoded[batch_id] = json.loads(text)
        for batch_id in batch_ids:
            self._decoded.move_to_end(batch_id)

    def _cut_out(self, located: Sequence[tuple[int, int]]) -> list[ContactValues]:
        """The values of single contacts at ``(batch, position)``, cut out by SQLite, decoded together."""
        if not located:
            return []
        query = "SELECT json_extract(contacts, ?, ?, ?) FROM batches WHERE id = ?"
        texts = []
        for batch_id, pos in located:
            start = pos * _STRIDE
            paths = (f"$[{start}]", f"$[{start + 1}]", f"$[{start + 2}]")
            texts.append(self._db.execute(query, (*paths, batch_id)).fetchone()[0])
        return self.decoded(texts)

    def decoded(self, texts: Sequence[str]) -> list[ContactValues]:
        """Contacts' values from their JSON texts (``[row, fields, custom]`` each), parsed together."""
        return [self._restored(*values) for values in json.loads(f"[{','.join(texts)}]")]

    def _restored(self, row: int, fields: dict[str, Any], custom: dict[str, Any]) -> ContactValues:
        """A stored contact's values with its dates back as dates."""
        for name in self._dates:
            text = fields.get(name)
            if text is not None:
                fields[name] = date.fromisoformat(text)
        return row, fields, custom


class Staging:
    """The temporary on-disk tables of one run: stored batches, staged contacts, confirmations, the
    previous snapshot.

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
        #: the staging thread: one batch at a time, each after the one before
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
        self._batches_stored = 0
        self._moved_gathered = False

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

        The batch is encoded here (one flat JSON array of its values, one of its addresses and, when kept,
        one blob of its hashes), then stored by :meth:`_write` on the staging thread while the caller
        validates the next batch.
        """
        try:
            with collection_paused():
                values, addresses, hashes, count = self._encode(contacts)
        except TypeError as err:  # a value of a type the normaliser never gives
            raise TypeError(f"cannot stage a contact's values: {err}") from None
        if not count:
            return
        db = self.db  # waits for the batch before
        batch_id = self._batches_stored
        self._batches_stored += 1
        self._writing = self._thread.submit(self._write, db, batch_id, count, values, addresses, hashes)
        self.staged_rows += count

    @staticmethod
    def _write(
        db: sqlite3.Connection, batch_id: int, count: int, values: str, addresses: str, hashes: bytes
    ) -> None:
        """Store one encoded batch and point its addresses at it (on the staging thread)."""
        db.execute(_INSERT_BATCH, (batch_id, count, values))
        db.execute(_UPSERT_KEYS, (addresses, hashes, batch_id))

    def _encode(self, contacts: Iterable[Contact]) -> tuple[str, str, bytes, int]:
        """The batch's values as one flat JSON array, its addresses as one JSON array, the hashes blob
        and the number of contacts."""
        encode, encode_sorted = _IN_ORDER, _SORTED
        addresses: list[Any] = []
        if self.hashed:  # each contact's values are encoded alone (to hash them), then joined
            parts, hashes = [], bytearray()
            for contact in contacts:
                email = contact.email
                key = email.lower()
                addresses.append(key if key == email else [key, email])
                fields, custom = encode(contact.fields), contact.custom
                if custom:
                    custom = encode_sorted(custom)
                    parts.append(f"{contact.row},{fields},{custom}")
                    hashes += digest(fields)
                    hashes += digest(custom)
                else:
                    parts.append(f"{contact.row},{fields},{{}}")
                    hashes += digest(fields)
                    hashes += _NO_CUSTOM_HASH
            return f"[{','.join(parts)}]", encode(addresses), bytes(hashes), len(addresses)
        flat: list[Any] = []
        for contact in contacts:  # the whole batch is encoded by one call
            email = contact.email
            key = email.lower()
            addresses.append(key if key == email else [key, email])
            custom = contact.custom
            flat += (contact.row, contact.fields, dict(sorted(custom.items())) if custom else custom)
        return encode(flat), encode(addresses), b"", len(addresses)

    def distinct(self) -> int:
        """Distinct contacts staged."""
        return self.db.execute("SELECT COUNT(*) FROM staged").fetchone()[0]

    def drop(self, keys: Iterable[str]) -> list[Contact]:
        """Take the contacts of ``keys`` out of the staged source; return them (for the report)."""
        dropped = []
        wanted = list(dict.fromkeys(keys))
        stored = StoredBatches(self.db, self._dates)
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT COALESCE(s.email, s.key), s.batch, s.pos, b.size FROM staged s"
                f" JOIN batches b ON b.id = s.batch WHERE s.key IN ({marks})"
            )
            rows = self.db.execute(query, chunk).fetchall()
            located = [(batch, pos, size) for _, batch, pos, size in rows]
            for (email, *_), (row, fields, custom) in zip(rows, stored.values_at(located), strict=True):
                dropped.append(Contact(row=row, email=email, fields=fields, custom=custom))
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

    def _gather_moved(self) -> None:
        """Copy the winning rows of addresses whose last row came in a later batch than their first into
        the ``moved`` table (once per run), decoding each batch that holds some once.

        A pass in order of first appearance then reads every other contact from batches that follow one
        another, instead of cutting single contacts out of far batches: a source in which many addresses
        come back much later (each a parse of its whole batch) stays linear.
        """
        if self._moved_gathered:
            return
        self._moved_gathered = True
        db = self.db
        located = db.execute("SELECT batch, seq, pos FROM staged WHERE batch != first ORDER BY batch, pos")
        insert = "INSERT INTO moved (seq, contact) VALUES (?, ?)"
        for batch_id, group in itertools.groupby(located, key=lambda found: found[0]):
            (text,) = db.execute("SELECT contacts FROM batches WHERE id = ?", (batch_id,)).fetchone()
            with collection_paused():
                contacts = json.loads(text)
                copies = [
                    (seq, _IN_ORDER(contacts[pos * _STRIDE : (pos + 1) * _STRIDE])) for _, seq, pos in group
                ]
            db.executemany(insert, copies)

    def to_send(self, size: int) -> Iterator[list[Contact]]:
        """The new and changed contacts in order of first appearance, ``size`` at a time, each with its
        :class:`SyncState` (``None`` for a new contact)."""
        last = 0
        query = (
            "SELECT s.seq, COALESCE(s.email, s.key), s.batch, s.pos, b.size, m.contact, o.key IS NOT NULL,"
            " o.fhash != s.fhash, o.chash != s.chash, o.platform_id"
            " FROM staged s JOIN batches b ON b.id = s.batch LEFT JOIN moved m ON m.seq = s.seq"
            " LEFT JOIN old.contacts o ON o.key = s.key"
            f" WHERE s.seq > ? AND {_DIFFERS} ORDER BY s.seq LIMIT ?"
        )
        self._gather_moved()
        stored = StoredBatches(self.db, self._dates)
        while True:
            rows = self.db.execute(query, (last, size)).fetchall()
            if not rows:
                return
            with collection_paused():
                # a moved contact's values come with its row; every other one's from its batch
                in_place = iter(
                    stored.values_at(
                        [
                            (batch_id, pos, count)
                            for _, _, batch_id, pos, count, moved, *_ in rows
                            if moved is None
                        ]
                    )
                )
                copied = iter(
                    stored.decoded([moved for _, _, _, _, _, moved, *_ in rows if moved is not None])
                )
                batch = []
                for _, email, _, _, _, moved, *known_and_changed in rows:
                    row, fields, custom = next(in_place if moved is None else copied)
                    batch.append(Contact(row, email, fields, custom, self._sync_state(*known_and_changed)))
            yield batch
            last = rows[-1][0]

    @staticmethod
    def _sync_state(
        known: int, fields_changed: int | None, custom_changed: int | None, platform_id: str | None
    ) -> SyncState | None:
        """What the previous snapshot knows of a staged contact (``None`` when it is new there)."""
        if not known:
            return None
        parts = {"fields"} if fields_changed else set()
        if custom_changed:
            parts.add("custom")
        return SyncState(platform_id, frozenset(parts))

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

    # ------------------------------------------------------------------ confirmations and the next snapshot

    def confirm(self, confirmed: Iterable[tuple[str, str | None]]) -> None:
        """Record contacts the platform took: ``(e-mail, platform id or None)``; a known id is kept."""
        self.db.executemany(
            "INSERT OR REPLACE INTO done (key, email, fhash, chash, platform_id)"
            " SELECT s.key, s.email, s.fhash, s.chash,"
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


__all__ = [
    "HASH_BYTES",
    "READ_CHUNK",
    "ContactValues",
    "Gone",
    "Staging",
    "StoredBatches",
    "SyncDiff",
    "SyncState",
    "digest",
    "encode_values",
]
