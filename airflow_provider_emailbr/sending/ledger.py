"""The results ledger of a send: what each try attempted and what came of it, read back by the next try.

The engine talks to a ledger through :class:`SendLedger` (``latest`` and ``write``), so another store can
replace the JSON Lines file without touching the engine: :func:`open_ledger` picks the implementation.
Today that is :class:`ResultsLog`, the file named by ``results_path`` (local or object storage).

Records are JSON objects with the item's ``key``, the writer's identity (``dag_id``, ``task_id``,
``run_id``, ``map_index``, ``try_number``, ``at``) and an ``outcome``: ``attempt`` is written before each
request, the real outcome as the answer arrives. A retried try reads the last record per key of its own
task instance and skips what was confirmed sent; an ``attempt`` without an outcome counts as ``unknown``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.model import (
    ATTEMPT,
    NOT_SENT,
    OUTCOMES,
    REFUSED,
    SENT,
    UNKNOWN,
    name_some,
)
from airflow_provider_emailbr.utils.storage import as_path, json_line

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

log = logging.getLogger(__name__)

#: Bookkeeping fields of a results line, kept out of the XCom records.
LEDGER_FIELDS = ("key", "dag_id", "task_id", "run_id", "map_index", "at")


class SendLedger(Protocol):
    """Where a send records its attempts and outcomes, and where a retry reads them back.

    ``write`` must have persisted the records when it returns: the engine writes an ``attempt`` record before
    each request goes out.
    """

    location: str

    def latest(self, identity: RunIdentity) -> dict[str, dict[str, Any]]:
        """The last record per key written by ``identity``'s task instance (any try)."""

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Persist ``records`` now."""


def open_ledger(
    results_path: str | Path | ObjectStoragePath | None, *, conn_id: str | None = None
) -> SendLedger | None:
    """The ledger of a send: the results file at ``results_path``, or ``None`` when there is none."""
    if not results_path:
        return None
    return ResultsLog(results_path, conn_id=conn_id)


def effective_outcome(record: Mapping[str, Any] | None) -> str | None:
    """What a results line means for the next try: ``sent``, ``refused`` (send again) or ``unknown``."""
    if record is None:
        return None
    outcome = record.get("outcome")
    if outcome == ATTEMPT:
        return UNKNOWN
    if outcome == NOT_SENT:
        return REFUSED
    return outcome if outcome in OUTCOMES else UNKNOWN


class RunIdentity(NamedTuple):
    """Which task instance a results line belongs to; ``try_number`` says which try wrote it."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1

    @classmethod
    def from_context(cls, context: Context) -> RunIdentity:
        """Read the identity of the running task instance."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=-1 if map_index is None else int(map_index),
            try_number=int(getattr(ti, "try_number", 1) or 1),
        )

    def owns(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` was written by this task instance (any try)."""
        return (
            record.get("dag_id") == self.dag_id
            and record.get("task_id") == self.task_id
            and record.get("run_id") == self.run_id
            and int(record.get("map_index", -1)) == self.map_index
        )

    def stamp(self) -> dict[str, Any]:
        """The bookkeeping fields of a line written now by this try."""
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
            "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        }


#: Filesystems that can append to a file in place; others (S3, GCS …) get the whole file rewritten.
_APPEND_PROTOCOLS = {"file", "local", "memory"}


class ResultsLog:
    """The JSON Lines results file of a send: read once, then appended to as answers arrive.

    Local files are appended to, flushed and ``fsync``-ed line batch by line batch. Object stores that
    cannot append get the whole object rewritten after each batch (the lines are kept in memory); that costs
    one upload per request, so prefer a local or shared-volume path for very many one-recipient sends.

    Unreadable lines (a write cut short when a worker was killed) are skipped with a warning. That is safe:
    every outcome line follows an ``attempt`` line written before its request, so a lost line can only leave
    an item ``unknown`` (never re-sent automatically) or drop the ``attempt`` of a request that never left.
    """

    def __init__(self, path: str | Path | ObjectStoragePath, *, conn_id: str | None = None) -> None:
        self.location = str(path)
        self.path = as_path(path, conn_id)
        protocol = getattr(self.path, "protocol", None) or "file"
        self.appendable = isinstance(self.path, Path) or protocol in _APPEND_PROTOCOLS
        self._lines: list[str] | None = None
        self._ends_with_newline = True

    def read(self) -> list[dict[str, Any]]:
        """Every readable line of the file (``[]`` when it does not exist yet)."""
        if not self.path.exists():
            self._lines = []
            return []
        text = self.path.read_text(encoding="utf-8")
        self._ends_with_newline = not text or text.endswith("\n")
        records = []
        skipped = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if isinstance(value, dict):
                records.append(value)
            else:
                skipped.append(number)
        if skipped:
            log.warning(
                "results_path %s: unreadable line(s) %s ignored (a write cut short?); this can only leave "
                "items unknown, never send them again",
                self.location,
                name_some([str(n) for n in skipped], 10),
            )
        self._lines = [json_line(r) for r in records]
        return records

    def latest(self, identity: RunIdentity) -> dict[str, dict[str, Any]]:
        """The last line per key written by ``identity``'s task instance."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.read():
            if identity.owns(record) and record.get("key"):
                latest[str(record["key"])] = record
        return latest

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Persist ``records`` now (before the next request goes out)."""
        if not records:
            return
        if self._lines is None:
            self.read()
        assert self._lines is not None
        lines = [json_line(r) for r in records]
        if not self.appendable:
            self._lines.extend(lines)
            self.path.write_text("\n".join(self._lines) + "\n", encoding="utf-8")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prefix = "" if self._ends_with_newline else "\n"  # never glue a line onto a cut-short one
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(prefix + "\n".join(lines) + "\n")
            handle.flush()
            try:
                os.fsync(handle.fileno())
            except (AttributeError, OSError, ValueError):
                log.debug("results_path %s: fsync not available; flushed only", self.location)
        self._ends_with_newline = True


def mark_send_results(
    results_path: str | Path | ObjectStoragePath,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    outcome: str,
    keys: Iterable[str] | None = None,
    map_index: int = -1,
    results_conn_id: str | None = None,
) -> list[str]:
    """Resolve ``unknown`` items of a send after checking the vendor's report; return the keys marked.

    ``outcome="sent"``: they were delivered, a retry must skip them. ``outcome="not_sent"``: they were not,
    the next try sends them. ``keys`` defaults to every item currently ``unknown`` for that task instance
    (``dag_id``, ``task_id``, ``run_id``, ``map_index``); the keys are in the results file (``key``).
    """
    if outcome not in (SENT, NOT_SENT):
        raise EmailBRInputError(f"outcome: {outcome!r} is not allowed; use 'sent' or 'not_sent'")
    identity = RunIdentity(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=0)
    ledger = ResultsLog(results_path, conn_id=results_conn_id)
    latest = ledger.latest(identity)
    if keys is None:
        chosen = [k for k, r in latest.items() if effective_outcome(r) == UNKNOWN]
    else:
        chosen = list(keys)
        missing = [k for k in chosen if k not in latest]
        if missing:
            raise EmailBRInputError(f"keys: {name_some(missing)} not found in {str(results_path)!r}")
    records = []
    for key in chosen:
        public = {k: v for k, v in latest[key].items() if k not in (*LEDGER_FIELDS, "try_number", "error")}
        records.append({**public, "key": key, **identity.stamp(), "outcome": outcome, "resolved": "manual"})
    ledger.write(records)
    return chosen
