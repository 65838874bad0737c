"""The e-mail addresses already seen in one import run, kept on disk so memory stays constant.

Duplicates are found case-insensitively (the key is the lower-cased address); the first spelling seen is the
one the platform keeps, so a later row updates that contact instead of creating a second one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Mapping

#: Keys looked up per SQLite query (well under SQLite's bound-parameter limit).
_LOOKUP_CHUNK = 500


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

    def __enter__(self) -> SeenEmails:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_batch(self, emails: Mapping[str, str]) -> dict[str, str]:
        """Record ``{key: e-mail}``; return ``{key: first e-mail}`` for keys recorded before this call."""
        keys = list(emails)
        before: dict[str, str] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
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


__all__ = ["SeenEmails"]
