"""Durable per-task state on Airflow 3.3's task state store (AIP-103), in one place for every operator.

Operators that must survive retries, clears and other workers (sends, campaign creation, imports) keep what
they have confirmed in the task state store. It is scoped to (DAG run, task, map index) and shared by all
tries of a task instance. This module is the provider's only door to it:

* :meth:`TaskState.from_context` returns ``None`` where Airflow has no task state store (3.2), so callers fall
  back to their 3.2 behaviour, and ``None`` when the caller opted out (``durable=False``).
* Every value is an *envelope* ``{"emailbr": <kind>, "v": <version>, "data": ...}``. A value of another
  kind or version, or not an envelope at all, raises
  :class:`~airflow_provider_emailbr.exceptions.EmailBRStateCorruptError` naming the key:
  nothing is sent on a guess.
* Any failure of the store itself raises :class:`~airflow_provider_emailbr.exceptions.EmailBRStateStoreError`:
  an unreachable store is never read as empty, because that could send twice.

Keys are namespaced (``emailbr.<namespace>.<key>``) so two features of one task never collide.
No Airflow module is imported here at import time: DAG files import the provider constantly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError

#: Context key under which Airflow >= 3.3 hands a task its state store accessor.
CONTEXT_KEY = "task_state_store"

#: Marker of the provider's envelopes (the value of the ``emailbr`` field is the entry's kind).
ENVELOPE_MARKER = "emailbr"

#: Kept until the DAG run's rows are removed: a retry days later must still see what was sent.
KEEP_FOREVER = timedelta.max


def wrap_envelope(kind: str, version: int, data: Any) -> dict[str, Any]:
    """``data`` in the provider's versioned envelope, as every durable value is stored."""
    return {ENVELOPE_MARKER: kind, "v": version, "data": data}


def unwrap_envelope(stored: Any, *, kind: str, version: int, what: str, remedy: str) -> Any:
    """The ``data`` of a stored envelope of ``kind``/``version``; ``None`` when nothing is stored.

    Anything else raises :class:`EmailBRStateCorruptError` naming ``what`` was read (a key, a file) and the
    ``remedy``: a value of another kind or version is never read as empty.
    """
    if stored is None:
        return None
    if (
        not isinstance(stored, Mapping)
        or stored.get(ENVELOPE_MARKER) != kind
        or stored.get("v") != version
        or "data" not in stored
    ):
        found = stored.get(ENVELOPE_MARKER) if isinstance(stored, Mapping) else type(stored).__name__
        raise EmailBRStateCorruptError(
            f"{what} is not a {kind!r} record of version {version} (found {found!r}). {remedy}"
        )
    return stored["data"]


class TaskState:
    """One feature's view of a task instance's durable state: namespaced, versioned, fail-closed.

    Built with :meth:`from_context`; ``accessor`` is Airflow's ``TaskStateStoreAccessor`` (or any object with
    ``get(key, default)``, ``set(key, value, *, retention)`` and ``delete(key)``, as in tests).
    """

    __slots__ = ("_accessor", "namespace")

    def __init__(self, accessor: Any, *, namespace: str) -> None:
        self._accessor = accessor
        self.namespace = namespace

    @classmethod
    def from_context(
        cls, context: Mapping[str, Any] | None, *, namespace: str, durable: bool = True
    ) -> TaskState | None:
        """The task's durable state; ``None`` with no task state store (Airflow 3.2) or ``durable`` off."""
        if not durable or context is None:
            return None
        accessor = context.get(CONTEXT_KEY) if hasattr(context, "get") else None
        if accessor is None:
            return None
        return cls(accessor, namespace=namespace)

    def full_key(self, key: str) -> str:
        """The key as stored: ``emailbr.<namespace>.<key>``."""
        return f"emailbr.{self.namespace}.{key}"

    def get_raw(self, key: str) -> Any:
        """Stored value of ``key`` (``None`` if absent); a store failure raises ``EmailBRStateStoreError``."""
        full_key = self.full_key(key)
        try:
            return self._accessor.get(full_key, None)
        except Exception as error:
            raise EmailBRStateStoreError(
                f"The task state store could not be read (key {full_key!r}): {type(error).__name__}. Nothing "
                "was sent: without it, what an earlier try already did is unknown. Check the API server / "
                "metadata database and retry."
            ) from error

    def set_raw(self, key: str, value: Any, *, retention: timedelta | None = KEEP_FOREVER) -> None:
        """Store ``value`` under ``key``; a store failure raises ``EmailBRStateStoreError``."""
        full_key = self.full_key(key)
        try:
            self._accessor.set(full_key, value, retention=retention)
        except Exception as error:
            raise EmailBRStateStoreError(
                f"The task state store could not be written (key {full_key!r}): {type(error).__name__}. "
                "Stopped before the next request so that nothing is sent without a durable record."
            ) from error

    def delete(self, key: str) -> None:
        """Remove ``key``; a store failure raises ``EmailBRStateStoreError``."""
        full_key = self.full_key(key)
        try:
            self._accessor.delete(full_key)
        except Exception as error:
            raise EmailBRStateStoreError(
                f"The task state store could not delete key {full_key!r}: {type(error).__name__}."
            ) from error

    def get(self, key: str, *, kind: str, version: int = 1) -> Any:
        """The envelope's ``data`` under ``key`` (``None`` if absent), checked as ``kind`` at ``version``."""
        return unwrap_envelope(
            self.get_raw(key),
            kind=kind,
            version=version,
            what=f"Task state entry {self.full_key(key)!r}",
            remedy="Nothing was sent on a guess: if the entry is stale, clear this task's state (mark the "
            "task instance success, or delete the key) and run again.",
        )

    def set(self, key: str, data: Any, *, kind: str, version: int = 1) -> None:
        """Store ``data`` (JSON-serialisable) under ``key`` in a ``kind``/``version`` envelope."""
        self.set_raw(key, wrap_envelope(kind, version, data))

    def __repr__(self) -> str:
        return f"TaskState(namespace={self.namespace!r})"


#: Largest JSON text of one chunk of a :class:`ChunkedLog` (the store's values should stay well below
#: ~60,000 characters; its object-storage backend is optional).
MAX_CHUNK_CHARS = 50_000
#: Most chunks a :class:`ChunkedLog` reads back: a sanity bound (about 1 GB of entries), not a quota.
MAX_CHUNKS = 20_000


class ChunkedLog:
    """An append-only list of JSON entries kept in bounded values: ``<name>.0``, ``<name>.1``, …

    The task state store has no "list keys" operation and its values must stay small, so a long log is cut
    into chunks of at most :data:`MAX_CHUNK_CHARS` characters under consecutive keys. A reader probes
    ``<name>.0``, ``<name>.1``, … until the first absent key; a writer only ever rewrites the *last* chunk
    of its own try (with more entries) or starts the next one, so chunks never have gaps and an entry, once
    stored, stays stored. Each :meth:`append` is one ``set``: entries that do not fit in the current chunk
    start the next one (only entries larger than a chunk in all are split over several ``set`` calls).
    Each chunk is an envelope of ``kind`` holding ``{"n": <its number>, "entries": [...]}``; a chunk whose
    number does not match its key is corrupt.
    """

    __slots__ = ("_chars", "_current", "_entries", "_next", "kind", "max_chars", "name", "state")

    def __init__(self, state: TaskState, name: str, *, kind: str, max_chars: int = MAX_CHUNK_CHARS) -> None:
        self.state = state
        self.name = name
        self.kind = kind
        self.max_chars = max_chars
        self._next: int | None = None  # number of the next chunk this writer starts
        self._current = -1  # number of the chunk this writer is filling
        self._entries: list[Any] = []  # entries of the chunk this writer is filling (already stored)
        self._chars = 0

    def read(self) -> list[Any]:
        """Every stored entry, oldest first; a store failure or a corrupt chunk raises before anything."""
        entries: list[Any] = []
        number = 0
        while True:
            data = self.state.get(f"{self.name}.{number}", kind=self.kind)
            if data is None:
                break
            if (
                not isinstance(data, dict)
                or data.get("n") != number
                or not isinstance(data.get("entries"), list)
            ):
                raise EmailBRStateCorruptError(
                    f"Task state entry {self.state.full_key(f'{self.name}.{number}')!r} is not chunk "
                    f"{number} of this log. Nothing was sent on a guess: clear the task's state, run again."
                )
            entries.extend(data["entries"])
            number += 1
            if number > MAX_CHUNKS:
                raise EmailBRStateCorruptError(
                    f"Task state log {self.state.full_key(self.name)!r} has more than {MAX_CHUNKS} chunks."
                )
        self._next = number
        self._entries = []
        self._chars = 0
        return entries

    def append(self, entries: list[Any]) -> None:
        """Store ``entries`` after the ones already stored; durable when this returns."""
        if not entries:
            return
        if self._next is None:
            self.read()
        assert self._next is not None
        sizes = [len(json.dumps(e)) + 2 for e in entries]  # as stored: default separators, ASCII
        if max(sizes) > self.max_chars - 64:
            raise EmailBRStateStoreError(
                f"A task state entry of {max(sizes)} characters exceeds the chunk bound of {self.max_chars}."
            )
        limit = self.max_chars - 64
        if self._entries and self._chars + sum(sizes) > limit and sum(sizes) <= limit:
            self._entries, self._chars = [], 0  # they fit in a chunk of their own: one write, not two
        start = 0
        while start < len(entries):
            if not self._entries:  # start a new chunk
                self._current = self._next
                self._next += 1
            end = start
            chars = self._chars
            while end < len(entries) and chars + sizes[end] <= limit:
                chars += sizes[end]
                end += 1
            if end == start:  # the chunk is full: the next entries go to a new one
                self._entries, self._chars = [], 0
                continue
            filled = self._entries + entries[start:end]
            self.state.set(
                f"{self.name}.{self._current}", {"n": self._current, "entries": filled}, kind=self.kind
            )
            self._entries, self._chars = filled, chars
            start = end
