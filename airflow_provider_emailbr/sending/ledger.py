"""The results ledger of a send: what each try attempted and what came of it, read back by the next try.

The engine talks to a ledger through :class:`SendLedger` (``latest`` and ``write``), so another store can
replace the JSON Lines file without touching the engine: :func:`open_ledger` picks the implementation:

* on Airflow >= 3.3 with ``durable=True`` (the default), :class:`StateLedger`, kept in the task state store
  (shared by every try of the task instance, on any worker, and kept when the task is cleared); with a
  ``results_path`` too, :class:`ExportedLedger` also writes the file (an export; it also fills in what the
  store does not know, and its manual marks from :func:`mark_send_results` are honoured);
* otherwise (Airflow 3.2, ``durable=False``) :class:`ResultsLog`, the file named by ``results_path``
  (local or object storage), or nothing.

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
from airflow_provider_emailbr.utils.state_store import ChunkedLog
from airflow_provider_emailbr.utils.storage import as_path, json_line

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_emailbr.utils.state_store import TaskState

log = logging.getLogger(__name__)

#: Bookkeeping fields of a results line, kept out of the XCom records.
LEDGER_FIELDS = ("key", "dag_id", "task_id", "run_id", "map_index", "at")
#: Fields the engine adds to its lines for a ledger that numbers requests (never in the results file).
REQUEST_FIELDS = ("request", "lag")
#: ``resolved`` of a record a person decided (``mark_send_results`` or the resolution key).
MANUAL = "manual"


class SendLedger(Protocol):
    """Where a send records its attempts and outcomes, and where a retry reads them back.

    ``write`` must have persisted the records when it returns: the engine writes an ``attempt`` record before
    each request goes out. A ledger whose writes are costly says ``coalesce = True``: the engine then writes
    the intents of a whole window of requests at once, before the first of them goes out, and carries the
    outcomes along with the next write instead of writing each on its own.
    """

    location: str
    coalesce: bool

    def key_of(self, key: str) -> str:
        """How ``latest`` names the item ``key`` (the key itself, or a digest of it)."""

    def latest(self, identity: RunIdentity) -> dict[str, dict[str, Any]]:
        """The last record per key written by ``identity``'s task instance (any try)."""

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Persist ``records`` now."""

    def read_resolution(self) -> list[ManualResolution] | None:
        """The resolution of unknown items a person left for the next try (:data:`RESOLUTION_KEY`), if any."""

    def clear_resolution(self) -> None:
        """Delete that resolution once it is applied (recorded in the ledger)."""

    def resolution_hint(self, identity: RunIdentity) -> str | None:
        """How a person resolves this ledger's unknown items (``None``: :func:`mark_send_results`)."""


def open_ledger(
    results_path: str | Path | ObjectStoragePath | None,
    *,
    conn_id: str | None = None,
    state: TaskState | None = None,
) -> SendLedger | None:
    """The ledger of a send (see the module docstring); ``None`` with neither a state store nor a file."""
    results = ResultsLog(results_path, conn_id=conn_id) if results_path else None
    if state is None:
        return results
    durable = StateLedger(state)
    return durable if results is None else ExportedLedger(durable, results)


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

    coalesce = False

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

    def key_of(self, key: str) -> str:
        """Lines name items by their key."""
        return key

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

    def read_resolution(self) -> list[ManualResolution] | None:
        """A results file is resolved by :func:`mark_send_results`, read back as its lines."""
        return None

    def clear_resolution(self) -> None:
        """Nothing to delete: the file's manual marks are lines of the ledger."""

    def resolution_hint(self, identity: RunIdentity) -> str | None:
        """The file's way: :func:`mark_send_results` (worded by the send's summary)."""
        return None


#: Task state namespace and entry kind of a send's durable ledger.
STATE_NAMESPACE = "send"
STATE_KIND = "send-ledger"
#: Longest error text an outcome keeps in the task state store.
MAX_STATE_TEXT = 160
#: Most items one ledger entry names (about 15,000 characters with their slots: well inside a chunk).
MAX_ENTRY_KEYS = 1000
#: Task state key (``emailbr.send.resolution``) through which a person resolves a send's unknown items.
RESOLUTION_KEY = "resolution"
#: Why a request is inferred never to have left (the error of its items' ``not_sent`` record).
NEVER_LEFT = "never sent: the try stopped before this request went out"


def item_digest(key: str) -> str:
    """The 12-character name of an item in the task state store (72 bits of BLAKE2b): no address in the
    metadata DB, and bounded whatever the key."""
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.blake2b(key.encode("utf-8"), digest_size=9).digest()).decode()


class StateLedger:
    """A send's ledger in Airflow 3.3's task state store: shared by every try, on any worker, kept on clear.

    Stored as a :class:`~airflow_provider_emailbr.utils.state_store.ChunkedLog` (``emailbr.send.log.<n>``,
    values ≤ 50,000 characters) of compact entries, about 15 characters per item and try, so a
    100,000-message send stays bounded (about 1.5 MB in ~30 chunks):

    * an intent, written before its request goes out: ``{"t": try, "o": "attempt", "q": request,
      "k": [digest, …], "s": [slot, …]}`` (``q`` numbers the try's requests; ``s``, the items' input
      positions, only when they have one);
    * the outcome of a whole request whose items all ended alike: ``{"t": try, "o": outcome, "q": request,
      "e": error}``;
    * otherwise the outcome of some items: ``{"t": try, "o": outcome, "k": [digest, …], "e": error}``.

    ``e`` (a shortened error) is optional. An entry names at most :data:`MAX_ENTRY_KEYS` items (an intent
    of more is split in several entries of the same ``q``). Items are named by :func:`item_digest` of their
    key. The vendor's answer fields (ids, codes) are not kept here: they are in the task's XCom and in the
    ``results_path`` export. Entries are only ever appended; the last entry per item wins.
    """

    coalesce = True
    location = "the task state store"

    def __init__(self, state: TaskState) -> None:
        self.log = ChunkedLog(state, "log", kind=STATE_KIND)
        self._sizes: dict[Any, int] = {}  # items of each request this writer recorded an intent for

    def key_of(self, key: str) -> str:
        """Items are named by their digest."""
        return item_digest(key)

    def latest(self, identity: RunIdentity) -> dict[str, dict[str, Any]]:
        """The last record per item digest (the store is already scoped to the task instance), with the
        requests that never left inferred ``not_sent`` (:func:`_infer_never_sent`)."""
        from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError

        latest: dict[str, dict[str, Any]] = {}
        slots: dict[str, Any] = {}
        requests: dict[tuple[Any, Any], list[str]] = {}
        lags: dict[tuple[Any, Any], int] = {}
        intents: dict[tuple[Any, Any], list[dict[str, Any]]] = {}  # each request's intent records
        answered: set[tuple[Any, str]] = set()  # (try, digest) whose outcome that try recorded
        for entry in self.log.read():
            keys = entry.get("k") if isinstance(entry, dict) else None
            entry_slots = entry.get("s") if isinstance(entry, dict) else None
            readable = (
                isinstance(entry, dict)
                and isinstance(entry.get("o"), str)
                and (entry.get("l") is None or (isinstance(entry["l"], int) and entry["l"] >= 0))
            )
            if readable and keys is None and entry["o"] != ATTEMPT:
                keys = requests.get((entry.get("t"), entry.get("q")))
            if (
                not readable
                or not isinstance(keys, list)
                or (
                    entry_slots is not None
                    and (not isinstance(entry_slots, list) or len(entry_slots) != len(keys))
                )
            ):
                raise EmailBRStateCorruptError(
                    f"A send ledger entry in the task state store is not readable ({str(entry)[:80]!r}); "
                    "nothing was sent on a guess."
                )
            request = (entry.get("t"), entry.get("q"))
            base: dict[str, Any] = {"outcome": entry["o"], "try_number": entry.get("t")}
            if entry.get("e"):
                base["error"] = entry["e"]
            if entry.get("r") == MANUAL:
                base["resolved"] = MANUAL
            if entry["o"] == ATTEMPT and "q" in entry:
                requests.setdefault(request, []).extend(keys)
                intents.setdefault(request, []).append(base)
                if entry.get("l") is not None:
                    lags[request] = entry["l"]
            elif entry["o"] != ATTEMPT and entry.get("r") != MANUAL:
                answered.update((entry.get("t"), digest) for digest in keys)
            for position, digest in enumerate(keys):
                if entry_slots is not None and entry_slots[position] is not None:
                    slots[digest] = entry_slots[position]
                latest[digest] = base
        _infer_never_sent(latest, requests, lags, intents, answered)
        for digest, slot in slots.items():
            latest[digest] = {**latest[digest], "slot": slot}
        return latest

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append ``records`` (the engine's results lines, with their ``request`` number) as compact
        entries, in one store write."""
        entries: list[dict[str, Any]] = []
        by_request: dict[Any, list[Mapping[str, Any]]] = {}
        for record in records:
            by_request.setdefault((record.get("try_number"), record.get("request")), []).append(record)
        loose: dict[tuple[Any, ...], dict[str, Any]] = {}  # outcomes listed item by item
        for (try_number, request), group in by_request.items():
            intents = [r for r in group if r.get("outcome") == ATTEMPT]
            for start in range(0, len(intents), MAX_ENTRY_KEYS):
                part = intents[start : start + MAX_ENTRY_KEYS]
                entry: dict[str, Any] = {"t": try_number, "o": ATTEMPT, "q": request, "k": []}
                if part[0].get("lag") is not None:
                    entry["l"] = part[0]["lag"]
                entry["k"] = [item_digest(str(r["key"])) for r in part]
                if any(r.get("slot") is not None for r in part):
                    entry["s"] = [r.get("slot") for r in part]
                entries.append(entry)
            if intents and request is not None:
                self._sizes[(try_number, request)] = self._sizes.get((try_number, request), 0) + len(intents)
            outcomes = [r for r in group if r.get("outcome") != ATTEMPT]
            if not outcomes:
                continue
            kinds = {(r.get("outcome"), _state_error(r)) for r in outcomes}
            if (
                request is not None
                and len(kinds) == 1
                and len(outcomes) == self._sizes.get((try_number, request))
                and not any(r.get("resolved") for r in outcomes)
            ):
                ((outcome, error),) = kinds
                whole: dict[str, Any] = {"t": try_number, "o": outcome, "q": request}
                if error:
                    whole["e"] = error
                entries.append(whole)
                continue
            for record in outcomes:
                manual = record.get("resolved") == MANUAL
                kind = (try_number, record.get("outcome"), _state_error(record), manual)
                listed = loose.get(kind)
                if listed is None or len(listed["k"]) >= MAX_ENTRY_KEYS:
                    listed = loose[kind] = {"t": try_number, "o": kind[1], "k": []}
                    if kind[2]:
                        listed["e"] = kind[2]
                    if manual:
                        listed["r"] = MANUAL
                    entries.append(listed)
                listed["k"].append(item_digest(str(record["key"])))
        self.log.append(entries)

    def read_resolution(self) -> list[ManualResolution] | None:
        """What a person set under :data:`RESOLUTION_KEY` (one store read), checked; ``None`` if unset."""
        stored = self.log.state.get_raw(RESOLUTION_KEY)
        if stored is None:
            return None
        where = self.log.state.full_key(RESOLUTION_KEY)
        if isinstance(stored, list) and stored:
            return [ManualResolution.parse(v, where=f"{where} (item {n})") for n, v in enumerate(stored)]
        return [ManualResolution.parse(stored, where=where)]

    def clear_resolution(self) -> None:
        """Delete :data:`RESOLUTION_KEY` (after its outcome was recorded: applied once)."""
        self.log.state.delete(RESOLUTION_KEY)

    def resolution_hint(self, identity: RunIdentity) -> str | None:
        """The REST call that resolves this task instance's unknown items, and what happens next."""
        from urllib.parse import quote

        key = self.log.state.full_key(RESOLUTION_KEY)
        path = (
            f"/api/v2/dags/{quote(identity.dag_id, safe='')}/dagRuns/{quote(identity.run_id, safe='')}"
            f"/taskInstances/{quote(identity.task_id, safe='')}/state-store/{key}"
        )
        if identity.map_index >= 0:
            path += f"?map_index={identity.map_index}"
        return (
            f"To resolve, check the platform's delivery report, then tell the next try what happened: set "
            f"the task state store key {key} of this task instance through Airflow's REST API, PUT {path} "
            '(body: {"value": {"outcome": "sent" or "not_sent", "keys": [...]}}, "keys" being the '
            'unknown items\' "key" in the XCom \'send_results\'; leave "keys" out to resolve every unknown '
            "item; a list of such objects resolves some items as sent and others as not_sent at once, "
            'its one object without "keys" resolving the items the others do not name), '
            "then clear the task instance. Its next try applies the resolution "
            "once, before any request: not_sent items are sent, sent ones are skipped (or run again with "
            "resend_unknown=True to send every unknown item again)."
        )


class ManualResolution(NamedTuple):
    """What a person decided about unknown items: ``outcome`` (``sent`` or ``not_sent``) for ``keys``
    (item keys as in the XCom ``send_results``; ``None``: every unknown item)."""

    outcome: str
    keys: tuple[str, ...] | None

    @classmethod
    def parse(cls, value: Any, *, where: str) -> ManualResolution:
        """Check a stored value, raising :class:`EmailBRInputError` naming the field, the value and what
        is allowed (before any request of the try)."""
        allowed = '{"outcome": "sent" or "not_sent", "keys": [item keys, optional]} or a list of them'
        if not isinstance(value, Mapping):
            raise EmailBRInputError(
                f"{where}: the value {str(value)[:80]!r} is not an object; allowed: {allowed}. "
                "Nothing was sent."
            )
        extra = sorted(set(value) - {"outcome", "keys"})
        if extra:
            raise EmailBRInputError(
                f"{where}: field(s) {', '.join(map(repr, extra))} are not allowed; allowed: {allowed}. "
                "Nothing was sent."
            )
        outcome = value.get("outcome")
        if outcome not in (SENT, NOT_SENT):
            raise EmailBRInputError(
                f"{where}: field 'outcome' is {outcome!r}; allowed: 'sent' (they were delivered: skip "
                "them) or 'not_sent' (they were not: send them). Nothing was sent."
            )
        keys = value.get("keys")
        if keys is None and "keys" not in value:
            return cls(outcome, None)
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise EmailBRInputError(
                f"{where}: field 'keys' is {str(keys)[:120]!r}; allowed: a non-empty list of item keys "
                "(strings, the \"key\" of the unknown records in the XCom 'send_results'), or no 'keys' "
                "field for every unknown item. Nothing was sent."
            )
        return cls(outcome, tuple(dict.fromkeys(keys)))


def _infer_never_sent(
    latest: dict[str, dict[str, Any]],
    requests: Mapping[tuple[Any, Any], list[str]],
    lags: Mapping[tuple[Any, Any], int],
    intents: Mapping[tuple[Any, Any], list[dict[str, Any]]],
    answered: set[tuple[Any, str]],
) -> None:
    """Turn into ``not_sent`` the items of requests that the lag rule proves never left.

    A try's request ``q`` went out only once the outcomes of every request ``r < q - l`` were durable
    (``l``: the lag its intent records; the engine's ``_LagGate``). So if the try's earliest request
    without a complete outcome is ``m``, every request ``q > m + l`` never left: its items are ``not_sent``
    (sent by the next try), not ``unknown``. Only items whose last record is still that intent change. The
    inference assumes the try that wrote the intents is over (a retry or a cleared task runs after it).
    """
    by_try: dict[Any, list[Any]] = {}
    for try_number, number in requests:
        if isinstance(number, int):
            by_try.setdefault(try_number, []).append(number)
    for try_number, numbers in by_try.items():
        unanswered = [
            q for q in numbers if any((try_number, d) not in answered for d in requests[(try_number, q)])
        ]
        if not unanswered:
            continue
        first = min(unanswered)
        for q in numbers:
            lag = lags.get((try_number, q))
            if lag is None or q - lag <= first:
                continue
            never_left = {"outcome": NOT_SENT, "try_number": try_number, "error": NEVER_LEFT}
            for digest in requests[(try_number, q)]:
                if any(latest.get(digest) is intent for intent in intents[(try_number, q)]):
                    latest[digest] = never_left


def _state_error(record: Mapping[str, Any]) -> str | None:
    """The shortened error of a results line that is not ``sent`` (what the store keeps of it)."""
    error = record.get("error") if record.get("outcome") != SENT else None
    if not error:
        return None
    text = str(error)
    return text if len(text) <= MAX_STATE_TEXT else text[: MAX_STATE_TEXT - 1] + "…"


class ExportedLedger:
    """The task state store as the authority, the results file as an export written alongside it.

    A retry reads the store; for an item the store knows nothing about (e.g. a DAG run re-created by
    ``dag.test()``, which drops its state rows) the file's last line is used, and a manual resolution in the
    file (:func:`mark_send_results`) overrides the store, so resolving unknown items works as on 3.2.
    """

    coalesce = True

    def __init__(self, durable: StateLedger, results: ResultsLog) -> None:
        self.durable = durable
        self.results = results
        self.location = f"{durable.location} (exported to {results.location})"

    def key_of(self, key: str) -> str:
        """Items are named by their digest (the store's names)."""
        return item_digest(key)

    def latest(self, identity: RunIdentity) -> dict[str, dict[str, Any]]:
        """The store's records, completed and overridden by the file as described above."""
        latest = self.durable.latest(identity)
        for key, record in self.results.latest(identity).items():
            digest = item_digest(key)
            if digest not in latest or record.get("resolved") == MANUAL:
                latest[digest] = record
        return latest

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """The store first (the authority), then the file (its lines as on Airflow 3.2)."""
        self.durable.write(records)
        self.results.write([{k: v for k, v in r.items() if k not in REQUEST_FIELDS} for r in records])

    def read_resolution(self) -> list[ManualResolution] | None:
        """The resolution a person left in the store (the file's own marks are read by :meth:`latest`)."""
        return self.durable.read_resolution()

    def clear_resolution(self) -> None:
        """Delete the applied resolution from the store."""
        self.durable.clear_resolution()

    def resolution_hint(self, identity: RunIdentity) -> str | None:
        """How a person resolves unknown items: through the store (the file's marks also work)."""
        return self.durable.resolution_hint(identity)


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
        records.append({**public, "key": key, **identity.stamp(), "outcome": outcome, "resolved": MANUAL})
    ledger.write(records)
    return chosen
