"""The snapshot of the last successful sync to one target, kept at ``state_path`` between runs.

A snapshot is a small SQLite file: a ``meta`` table (format, version, the target's identity, the resolved
target, when it was written) and a ``contacts`` table with one row per contact the platform confirmed:
its key (the lower-cased address), its spelling when it differs from the key, a hash of its mapped platform
fields, a hash of its custom fields, and its platform id once known (CriaEnvio).

The **identity** of a target is what makes two runs comparable: the vendor, the connection, the target as
given (group or lists) and the field mapping. A snapshot whose identity differs, or that cannot be read, is
never taken as empty: :meth:`SnapshotStore.load` stops the task naming the file and the fix,
``full_refresh=True``.

The file lives anywhere :func:`~airflow_provider_emailbr.utils.storage.as_path` reaches: a local path (moved
into place with an atomic rename) or object storage (uploaded in one write, so readers see the old object or
the new one). On a distributed deployment use object storage: a local path is only seen by one machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.storage import as_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: The ``format`` a snapshot's ``meta`` table names.
SNAPSHOT_FORMAT = "emailbr-contact-snapshot"
#: The version of the layout below; a file of another version is refused (never guessed at).
SNAPSHOT_VERSION = 1
#: The tables of a snapshot file.
SNAPSHOT_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE contacts (key TEXT PRIMARY KEY, email TEXT, fhash BLOB NOT NULL, chash BLOB NOT NULL,"
    " platform_id TEXT) WITHOUT ROWID;"
)
#: What to do about a snapshot that cannot be used, for messages.
FIX = (
    "if the target or the field mapping changed on purpose, or the file is damaged, run once with "
    "full_refresh=True: it sends every contact and stores a fresh snapshot"
)


def canonical(value: Any) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces): how identities are stored and compared."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _as_text(value: Any) -> Any:
    """``value`` with every scalar but ``None`` and booleans as text, containers kept."""
    if isinstance(value, Mapping):
        return {str(k): _as_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_text(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    return str(value)


class SnapshotStore:
    """Where one target's snapshot is kept: reads it into a local temporary file, writes a new one in place.

    :param path: the ``state_path``: a local path, a URI or an ``ObjectStoragePath``.
    :param conn_id: the object store's connection (``state_conn_id``).
    :param identity: the target's identity (JSON-serialisable), checked against the stored one.
    """

    def __init__(
        self, path: str | Path | ObjectStoragePath, *, conn_id: str | None, identity: Mapping[str, Any]
    ) -> None:
        if not str(path).strip():
            raise EmailBRInputError("state_path: empty; give a local path, a URI or an ObjectStoragePath")
        self.path = as_path(path, conn_id)
        self.shown = str(path)
        self.identity = dict(identity)
        self.stored_target: Any = None
        self._workdir = tempfile.mkdtemp(prefix="emailbr-snapshot-")

    def close(self) -> None:
        """Remove the local temporary copies."""
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unusable(self, why: str) -> EmailBRInputError:
        return EmailBRInputError(f"state_path: the snapshot {self.shown!r} {why}; {FIX}")

    def load(self) -> str | None:
        """The local path of a checked copy of the stored snapshot, or ``None`` when none is stored yet.

        Raises :class:`EmailBRInputError` naming the file when it cannot be read, is not a snapshot, is of
        another version, or belongs to another target, connection or field mapping.
        """
        try:
            if not self.path.exists():
                return None
            if self.path.is_dir():
                raise self._unusable("is a directory, not a file")
            local = os.path.join(self._workdir, "previous.sqlite")
            if isinstance(self.path, Path):
                shutil.copyfile(self.path, local)
            else:
                with self.path.open("rb") as src, open(local, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except EmailBRInputError:
            raise
        except Exception as err:  # permissions, network, a vanished bucket: never "no snapshot"
            raise self._unusable(f"cannot be read ({type(err).__name__}: {err})") from None
        self.stored_target = self._check(local)
        return local

    def _check(self, local: str) -> Any:
        """Check format, version and identity of the copy; return the target it was resolved to."""
        try:
            db = sqlite3.connect(f"file:{local}?mode=ro", uri=True)
            try:
                meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
                db.execute("SELECT key, email, fhash, chash, platform_id FROM contacts LIMIT 1").fetchall()
            finally:
                db.close()
        except sqlite3.DatabaseError as err:
            raise self._unusable(f"is not a readable contact snapshot ({err})") from None
        if meta.get("format") != SNAPSHOT_FORMAT:
            raise self._unusable(f"is not a contact snapshot (format {meta.get('format')!r})")
        if meta.get("version") != str(SNAPSHOT_VERSION):
            raise self._unusable(
                f"has version {meta.get('version')!r}; this release reads version {SNAPSHOT_VERSION}"
            )
        try:
            stored = json.loads(meta["identity"])
            target = json.loads(meta.get("target", "null"))
        except (KeyError, ValueError) as err:
            raise self._unusable(f"has no readable identity ({err})") from None
        if canonical(stored) != canonical(self.identity):
            differing = sorted(
                key
                for key in set(stored) | set(self.identity)
                if canonical(stored.get(key)) != canonical(self.identity.get(key))
            )
            details = "; ".join(
                f"{key}: stored {canonical(stored.get(key))}, now {canonical(self.identity.get(key))}"
                for key in differing
            )
            raise self._unusable(f"belongs to another target ({details})")
        return target

    def check_target(self, target: Any) -> None:
        """Refuse a snapshot resolved to another target (e.g. a list of the same name, re-created); ids
        compare as text (``7`` and ``"7"`` are the same group)."""
        if self.stored_target is not None and canonical(_as_text(self.stored_target)) != canonical(
            _as_text(target)
        ):
            raise self._unusable(
                f"was synced to {canonical(self.stored_target)}, and the target now resolves to "
                f"{canonical(target)}"
            )

    def new_file(self) -> str:
        """A fresh local SQLite file with the snapshot tables and ``meta`` of this run (contacts empty)."""
        local = os.path.join(self._workdir, "next.sqlite")
        with contextlib.suppress(FileNotFoundError):
            os.remove(local)
        db = sqlite3.connect(local)
        try:
            db.executescript(SNAPSHOT_SCHEMA)
        finally:
            db.close()
        return local

    def meta(self, target: Any) -> dict[str, str]:
        """The ``meta`` rows of the snapshot this run writes (the contact count is added by the writer)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "version": str(SNAPSHOT_VERSION),
            "identity": canonical(self.identity),
            "target": canonical(target),
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def store(self, local: str) -> None:
        """Put the finished local snapshot at ``state_path``: a rename for a local path, one upload else."""
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            shutil.copyfile(local, partial)
            os.replace(partial, self.path)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "rb") as src, self.path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


__all__ = ["FIX", "SNAPSHOT_FORMAT", "SNAPSHOT_VERSION", "SnapshotStore", "canonical"]
