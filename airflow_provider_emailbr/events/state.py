"""Durable cursors of the event triggers: what a watcher has already fired, kept across triggerer restarts.

An ``AssetWatcher``'s trigger is started again from scratch whenever the triggerer restarts (and after each
``run()`` that returns), so whatever it has already fired must live outside the process. Two places exist:

* **The asset state store** (Airflow >= 3.3). The triggerer hands every
  :class:`~airflow.triggers.base.BaseEventTrigger` that watches assets an ``asset_state_store`` accessor for
  them; the cursor is stored under one key of the watched asset, in the metadata database. This is the
  default: nothing to configure. The accessor needs exactly one watched asset per trigger.
* **A file** (``cursor_path``: a local path or any ``ObjectStoragePath`` URI, with ``cursor_conn_id``), for
  Airflow 3.2, where there is no asset state store, or to keep the cursor somewhere you can inspect. When
  given, it is used even where the asset state store exists.

Both store the same envelope as the task state store door (:mod:`airflow_provider_emailbr.utils.state_store`):
``{"emailbr": <kind>, "v": <version>, "data": ...}``. A value of another kind or version raises
:class:`~airflow_provider_emailbr.exceptions.EmailBRStateCorruptError`, and a store that cannot be read or
written raises :class:`~airflow_provider_emailbr.exceptions.EmailBRStateStoreError`: an unreadable cursor is
never taken as empty, because that would fire old events again.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_emailbr.exceptions import (
    EmailBRConfigError,
    EmailBRStateCorruptError,
    EmailBRStateStoreError,
)
from airflow_provider_emailbr.utils.state_store import unwrap_envelope, wrap_envelope


class Cursor(Protocol):
    """Where a trigger keeps what it has already fired: :meth:`load` and :meth:`save` one JSON value."""

    async def load(self) -> Any:
        """The stored ``data`` (``None`` before the first save)."""

    async def save(self, data: Any) -> None:
        """Replace the stored ``data``."""


#: What the user does about a cursor that is not ours (in every corrupt-cursor error).
STALE_CURSOR_REMEDY = (
    "Nothing was fired on a guess: if the cursor is stale, delete it (the watcher then starts from now)."
)


class AssetStateCursor:
    """A cursor in the asset state store of the asset a trigger watches (Airflow >= 3.3).

    ``accessor`` is the trigger's ``asset_state_store`` (anything with ``aget(key, default)`` and
    ``aset(key, value)``); ``key`` names the cursor among the asset's keys.
    """

    def __init__(self, accessor: Any, *, key: str, kind: str, version: int = 1) -> None:
        self._accessor = accessor
        self.key = key
        self.kind = kind
        self.version = version

    async def load(self) -> Any:
        """The cursor's ``data``, or ``None``; a store failure raises ``EmailBRStateStoreError``."""
        try:
            stored = await self._accessor.aget(self.key, None)
        except ValueError as error:  # several watched assets: the accessor cannot pick one
            raise EmailBRConfigError(
                f"The event trigger watches several assets ({error}); give each asset its own trigger, or "
                "pass cursor_path"
            ) from None
        except Exception as error:
            raise EmailBRStateStoreError(
                f"The asset state store could not be read (key {self.key!r}): {type(error).__name__}. "
                "Nothing was fired: without the cursor, what was already fired is unknown."
            ) from error
        return unwrap_envelope(
            stored,
            kind=self.kind,
            version=self.version,
            what=f"Cursor asset state key {self.key!r}",
            remedy=STALE_CURSOR_REMEDY,
        )

    async def save(self, data: Any) -> None:
        """Store ``data``; a store failure raises ``EmailBRStateStoreError``."""
        try:
            await self._accessor.aset(self.key, wrap_envelope(self.kind, self.version, data))
        except Exception as error:
            raise EmailBRStateStoreError(
                f"The asset state store could not be written (key {self.key!r}): {type(error).__name__}. "
                "Nothing was fired without a durable record."
            ) from error

    def __repr__(self) -> str:
        return f"AssetStateCursor(key={self.key!r})"


class FileCursor:
    """A cursor in a JSON file: a local path (replaced atomically) or an ``ObjectStoragePath`` URI.

    File operations run in a worker thread, so the triggerer's event loop never blocks on them.
    """

    def __init__(self, path: str, *, kind: str, version: int = 1, conn_id: str | None = None) -> None:
        self.path = str(path)
        self.conn_id = conn_id
        self.kind = kind
        self.version = version

    def _target(self) -> Any:
        from airflow_provider_emailbr.utils.storage import as_path

        return as_path(self.path, self.conn_id)

    def _read(self) -> Any:
        target = self._target()
        if not target.exists():
            return None
        text = target.read_text(encoding="utf-8")
        try:
            return json.loads(text)
        except ValueError:
            raise EmailBRStateCorruptError(
                f"Cursor file {self.path!r} is not JSON. Nothing was fired on a guess: delete the file to "
                "start from now."
            ) from None

    def _write(self, data: Any) -> None:
        target = self._target()
        text = json.dumps(wrap_envelope(self.kind, self.version, data), sort_keys=True)
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
        else:
            target.write_text(text, encoding="utf-8")

    async def load(self) -> Any:
        """The cursor's ``data``, or ``None`` when the file does not exist yet."""
        try:
            stored = await asyncio.to_thread(self._read)
        except EmailBRStateCorruptError:
            raise
        except Exception as error:
            raise EmailBRStateStoreError(
                f"Cursor file {self.path!r} could not be read: {type(error).__name__}: {error}"
            ) from error
        return unwrap_envelope(
            stored,
            kind=self.kind,
            version=self.version,
            what=f"Cursor file {self.path!r}",
            remedy=STALE_CURSOR_REMEDY,
        )

    async def save(self, data: Any) -> None:
        """Write ``data`` (locally: to ``<name>.partial``, then moved over the file)."""
        try:
            await asyncio.to_thread(self._write, data)
        except Exception as error:
            raise EmailBRStateStoreError(
                f"Cursor file {self.path!r} could not be written: {type(error).__name__}: {error}"
            ) from error

    def __repr__(self) -> str:
        return f"FileCursor(path={self.path!r})"


def trigger_cursor(
    trigger: Any, *, key: str, kind: str, cursor_path: str | None, cursor_conn_id: str | None = None
) -> Cursor:
    """The cursor of an event trigger: the file ``cursor_path`` when given, else the watched asset's state.

    Raises :class:`~airflow_provider_emailbr.exceptions.EmailBRConfigError` when neither exists (Airflow 3.2,
    or a trigger run outside an ``AssetWatcher``, without ``cursor_path``): without a durable cursor a
    restart would fire everything again.
    """
    if cursor_path:
        return FileCursor(cursor_path, kind=kind, conn_id=cursor_conn_id)
    accessor = getattr(trigger, "asset_state_store", None)
    if accessor is not None:
        return AssetStateCursor(accessor, key=key, kind=kind)
    raise EmailBRConfigError(
        f"{type(trigger).__name__} has nowhere durable to keep its cursor: there is no asset state store "
        "(Airflow 3.2, or the trigger does not run in an AssetWatcher). Pass cursor_path (a local path or an "
        "object storage URI) so that a triggerer restart never fires the same event twice."
    )
