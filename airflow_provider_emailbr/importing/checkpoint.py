"""Resuming an import after a crash: each answered request, checkpointed in Airflow 3.3's task state store.

**The unit is the request, not the batch.** A batch (``batch_size`` staged contacts) is split by the
platform into *units*, one request each (:meth:`~airflow_provider_emailbr.importing.engine.
BaseImportContactsOperator.plan_units`: a ``contact/mass/add`` chunk of ``chunk_size`` on IAGENTEmail, one
contact's upsert on CriaEnvio, so a batch of 1,000 is 2 or 1,000 requests). A checkpoint per batch would
make a retry re-send every answered request of the batches in progress; so each unit is recorded on its
own, identified by its batch number and its position in the batch. A retry sends exactly the units not
recorded (:meth:`ImportCheckpoint.batches` and :meth:`CheckpointRecorder.begin`).

**Recorded as soon as the answer arrives.** The sending thread that gets a unit's answer hands it to one
background writer thread (:class:`CheckpointRecorder`), which writes whatever answers are queued in *one*
store write (at most one write per answer, fewer when answers come faster than writes). Answers are
recorded in the order they arrive, not in submission order. The stored value is small and bounded: the
number of leading batches whose every unit is recorded (the *prefix*, with a rolling digest of their
contacts), plus the few batches beyond it with some units recorded (each with its digest, its number of
units when known and the recorded units as ranges).

**The bound, by construction.** A unit is dispatched only while fewer than ``max_in_doubt`` dispatched
units lack a durable record (:meth:`CheckpointRecorder.reserve`, the engine's
:attr:`~airflow_provider_emailbr.importing.engine.BaseImportContactsOperator.max_in_doubt`, by default
its number of units in flight). So at any instant, in particular when a worker is killed, at most
``max_in_doubt`` requests may have been answered by the platform without the task state store knowing,
and the retry re-sends at most that many answered requests: it sends *at most the requests not answered
at the kill plus* ``max_in_doubt``. With one request in flight (``max_in_doubt=1``) this is the "remaining
plus one" of a resumed import whatever the timing. With more in flight the bound is that number; answers
recorded in less than the time between two answers (a store write is ~10–30 ms against requests of
100 ms or more) keep it at one in practice, but no timing is promised. (A unit is one request unless the
hook retries it after a transient failure, or IAGENTEmail splits a chunk refused as a whole to isolate the
bad rows: the bound counts units.)

**What a checkpoint belongs to.** Batches come from the staged source (:meth:`Staging.to_send`), in order
of first appearance in the source, ``batch_size`` contacts at a time, and units from a deterministic split
of a batch: the same source staged against the same snapshot gives the same units. The checkpoint stores a
*seed* (platform, target, ``batch_size`` and how units are planned, e.g. ``chunk_size``) and digests of the
recorded batches' contacts (e-mail, row, fields). Before anything is sent, the retry re-reads the staged
batches up to the last one named (reading only) and compares every digest.

**A changed source starts afresh.** When the seed or a digest differ (the file changed, the target,
``batch_size`` or ``chunk_size`` changed, or ``state_path``'s snapshot was updated by the failed try, which
changes what is to send), or the checkpoint is of the earlier format (one entry per confirmed batch prefix),
it is ignored with a warning and every unit is sent: a contact import is an upsert, so sending again is
safe, while skipping on a guess could leave contacts out. A checkpoint of another kind, an entry that is
not a readable checkpoint, or a store that cannot be read fails the task before any request (fail-closed),
as for sends; a write that fails stops the import before its next request.

**Snapshots.** The contacts of skipped units are not confirmed again in this run's staging (the earlier
try's rejections are not known here), so the snapshot stored at the end leaves them out and the next sync
sends them again as new. A successful import deletes its checkpoint: clearing the task later imports again.

On Airflow 3.2, or with ``durable=False``, there is no checkpoint: a retry starts from the first batch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError
from airflow_provider_emailbr.utils.state_store import ENVELOPE_MARKER, TaskState, unwrap_envelope

if TYPE_CHECKING:
    from airflow_provider_emailbr.importing.engine import ImportBatch

#: Task state namespace, key and entry kind of an import's checkpoint.
NAMESPACE = "import"
KEY = "checkpoint"
KIND = "import-checkpoint"
#: Version of the checkpoint's value: 2 records units (requests); 1 recorded a prefix of whole batches.
VERSION = 2
#: What a corrupt entry's error tells the user to do.
REMEDY = (
    "Nothing was sent on a guess: clear the task's state (or delete the key) and run again; the import "
    "then starts from its first batch (an import is an upsert)."
)

#: A unit of an import: ``(batch number, position of the unit in its batch)``.
UnitKey = tuple[int, int]


def batch_digest(batch: ImportBatch) -> str:
    """The digest of one batch's contacts (e-mail, row, fields, custom fields), in order."""
    digest = hashlib.blake2b(digest_size=16)
    for contact in batch.contacts:
        digest.update(
            json.dumps(
                [contact.email, contact.row, contact.fields, contact.custom], sort_keys=True, default=str
            ).encode("utf-8")
        )
        digest.update(b"\x1e")
    return digest.hexdigest()


def chain_digest(previous: str, batch: str) -> str:
    """The rolling digest of a prefix of batches: ``previous`` (of the batches before) chained with the
    next batch's :func:`batch_digest`."""
    return hashlib.blake2b(f"{previous}:{batch}".encode("ascii"), digest_size=16).hexdigest()


def to_ranges(indices: Iterable[int]) -> list[list[int]]:
    """Sorted unit positions as ``[start, end)`` ranges: ``{0, 1, 2, 5}`` → ``[[0, 3], [5, 6]]``."""
    ranges: list[list[int]] = []
    for index in sorted(indices):
        if ranges and ranges[-1][1] == index:
            ranges[-1][1] = index + 1
        else:
            ranges.append([index, index + 1])
    return ranges


class OpenBatch:
    """A batch beyond the recorded prefix: ``digest`` (:func:`batch_digest` of its contacts), ``units`` (how
    many units it was split into; ``None`` while it is still being planned) and ``done`` (positions of the
    units whose answer is recorded, or being recorded)."""

    __slots__ = ("digest", "done", "units")

    def __init__(self, digest: str, units: int | None = None, done: Iterable[int] = ()) -> None:
        self.digest = digest
        self.units = units
        self.done = set(done)

    @property
    def complete(self) -> bool:
        """Every unit of the batch is done (and the batch is fully planned)."""
        return self.units is not None and len(self.done) >= self.units

    def to_json(self, number: int) -> dict[str, Any]:
        """The batch as stored."""
        return {"batch": number, "digest": self.digest, "units": self.units, "done": to_ranges(self.done)}


class ImportCheckpoint:
    """The recorded units of one import (see the module docstring): read at once, resumed, written.

    :param state: the task's durable state (namespace ``import``).
    :param seed: what the checkpoint is only valid for: platform, target, ``batch_size``, unit planning.
    :param log: the task's logger.
    """

    def __init__(self, state: TaskState, *, seed: Mapping[str, Any], log: Any) -> None:
        self.state = state
        self.seed = json.dumps(dict(seed), sort_keys=True, default=str)
        self.log = log
        #: What this try starts from: batches of the prefix, its digest, the batches beyond it.
        self.prefix = 0
        self.digest = ""
        self.open: dict[int, OpenBatch] = {}
        self._stored = self._read()  # at once, before any request: fail-closed

    @classmethod
    def from_context(
        cls, context: Mapping[str, Any] | None, *, seed: Mapping[str, Any], log: Any, durable: bool = True
    ) -> ImportCheckpoint | None:
        """The checkpoint of this task instance; ``None`` on Airflow 3.2 or with ``durable=False``."""
        state = TaskState.from_context(context, namespace=NAMESPACE, durable=durable)
        return None if state is None else cls(state, seed=seed, log=log)

    # ------------------------------------------------------------------ reading

    def _read(self) -> dict[str, Any] | None:
        """The stored checkpoint, checked; ``None`` when there is none or it is of the earlier format."""
        raw = self.state.get_raw(KEY)
        if isinstance(raw, Mapping) and raw.get(ENVELOPE_MARKER) == KIND and raw.get("v") == 1:
            self.log.warning(
                "import checkpoint of an earlier provider version (whole batches): ignored, every batch "
                "is sent (an import is an upsert)"
            )
            return None
        data = unwrap_envelope(
            raw,
            kind=KIND,
            version=VERSION,
            what=f"Task state entry {self.state.full_key(KEY)!r}",
            remedy=REMEDY,
        )
        if data is None:
            return None
        problem = _problem_of(data)
        if problem:
            raise EmailBRStateCorruptError(
                f"Task state entry {self.state.full_key(KEY)!r} is not a readable import checkpoint "
                f"({problem}). {REMEDY}"
            )
        return data

    def batches(self, read: Callable[[], Iterable[ImportBatch]]) -> Iterator[ImportBatch]:
        """The batches this try must send (some of their units may be done: :meth:`CheckpointRecorder.begin`).

        When the stored checkpoint matches the staged source, the batches after its prefix; else all of
        them. ``read`` reads the staged batches from the start; it is called twice when there is a
        checkpoint: at once to check it (reading only), then lazily to send.
        """
        stored = self._stored
        if stored is not None and (stored["batches"] or stored["open"]) and self._matches(stored, read):
            self.prefix, self.digest = stored["batches"], stored["digest"]
            self.open = {
                entry["batch"]: OpenBatch(entry["digest"], entry["units"], _positions(entry["done"]))
                for entry in stored["open"]
            }
            done = sum(len(batch.done) for batch in self.open.values())
            self.log.info(
                "resuming the import: %d batch(es) and %d request(s) of later batches recorded by an "
                "earlier try are not sent again",
                self.prefix,
                done,
            )
        return (batch for batch in read() if batch.number >= self.prefix)

    def _matches(self, stored: Mapping[str, Any], read: Callable[[], Iterable[ImportBatch]]) -> bool:
        """Whether the staged source's batches are the ones the stored checkpoint names (digests)."""
        if stored["seed"] != self.seed:
            self.log.warning(
                "import checkpoint of an earlier try is for another target, batch_size or split into "
                "requests (%s, now %s): ignored, every batch is sent (an import is an upsert)",
                stored["seed"],
                self.seed,
            )
            return False
        prefix = stored["batches"]
        wanted = {entry["batch"]: entry["digest"] for entry in stored["open"]}
        last = max([prefix - 1, *wanted])
        digest, in_prefix, matching = "", 0, True
        for batch in read():
            if batch.number > last:
                break
            one = batch_digest(batch)
            if batch.number < prefix:
                digest = chain_digest(digest, one)
                in_prefix += 1
            elif batch.number in wanted:
                matching = wanted.pop(batch.number) == one and matching
            if batch.number == last:
                break
        if matching and in_prefix == prefix and digest == stored["digest"] and not wanted:
            return True
        self.log.warning(
            "import checkpoint of an earlier try (%d batch(es), %d more in progress) does not match the "
            "staged source (it changed, or the snapshot at state_path was updated): ignored, every batch is "
            "sent (an import is an upsert)",
            prefix,
            len(stored["open"]),
        )
        return False

    # ------------------------------------------------------------------ writing

    def recorder(self, *, max_in_doubt: int) -> CheckpointRecorder:
        """The background writer recording this try's answered units (a context manager)."""
        return CheckpointRecorder(self, max_in_doubt=max_in_doubt)

    def value(self, prefix: int, digest: str, open_batches: Mapping[int, OpenBatch]) -> dict[str, Any]:
        """The checkpoint as stored (inside the envelope)."""
        return {
            "seed": self.seed,
            "batches": prefix,
            "digest": digest,
            "open": [batch.to_json(number) for number, batch in sorted(open_batches.items()) if batch.done],
        }

    def write(self, value: Mapping[str, Any]) -> None:
        """Store ``value`` (one store write)."""
        self.state.set(KEY, value, kind=KIND, version=VERSION)

    def finished(self) -> None:
        """The import completed: forget the checkpoint, so that clearing the task imports again."""
        try:
            self.state.delete(KEY)
        except EmailBRStateStoreError:
            self.log.warning(
                "the import checkpoint could not be deleted; a cleared re-run of this same source would skip "
                "the requests it names",
                exc_info=True,
            )


class CheckpointRecorder:
    """One background thread writing the units answered so far; the gate that bounds those not yet durable.

    The operator's thread calls :meth:`begin` before planning a batch's units, :meth:`reserve` before
    dispatching each unit and :meth:`planned` once the batch is split; sending threads call :meth:`done`
    (or :meth:`failed`) with each unit's answer. The writer stores the whole (small) checkpoint once per
    wake-up, with every answer queued since the last write.

    **Invariant.** :meth:`reserve` returns only when fewer than ``max_in_doubt`` reserved units lack a
    durable record; so at most ``max_in_doubt`` dispatched units, and hence at most that many answered
    ones, are ever missing from the store.

    Use as a context manager: leaving the block writes what is still queued and stops the thread. After a
    failed write nothing more is dispatched: :meth:`reserve` and leaving the block raise the
    :class:`~airflow_provider_emailbr.exceptions.EmailBRStateStoreError` (leaving the block on another
    exception only logs it).

    :param checkpoint: the checkpoint to write (its state after :meth:`ImportCheckpoint.batches`).
    :param max_in_doubt: units dispatched without a durable record, at most (at least 1).
    """

    def __init__(self, checkpoint: ImportCheckpoint, *, max_in_doubt: int) -> None:
        if max_in_doubt < 1:
            raise ValueError(f"max_in_doubt must be at least 1, got {max_in_doubt!r}")
        self.checkpoint = checkpoint
        self.max_in_doubt = max_in_doubt
        self._prefix = checkpoint.prefix
        self._digest = checkpoint.digest
        self._open = {n: OpenBatch(b.digest, b.units, b.done) for n, b in checkpoint.open.items()}
        self._changed = threading.Condition()
        self._queued: list[UnitKey] = []  # answered, not yet taken by the writer
        self._in_doubt = 0  # reserved and without a durable record (nor a failure)
        self._unit_failed = False
        self._error: EmailBRStateStoreError | None = None
        self._closing = False
        #: Store writes made, and answers they recorded (for logs and benchmarks).
        self.writes = 0
        self.recorded = 0
        self._thread = threading.Thread(target=self._run, name="emailbr-import-checkpoint", daemon=True)

    def __enter__(self) -> CheckpointRecorder:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        if self._error is not None:
            if exc_type is None:
                raise self._error
            self.checkpoint.log.warning("the last import checkpoint write failed: %s", self._error)

    # ------------------------------------------------------------------ operator's thread

    def begin(self, batch: ImportBatch) -> frozenset[int]:
        """Register ``batch`` before any of its units is dispatched (its digest joins the checkpoint);
        answer the positions of its units an earlier try recorded (they are not sent again)."""
        digest = batch_digest(batch)
        with self._changed:
            known = self._open.setdefault(batch.number, OpenBatch(digest))
            return frozenset(known.done)

    def planned(self, batch: ImportBatch, units: int) -> None:
        """``batch`` was split into ``units`` units (written with the next answer)."""
        with self._changed:
            self._open[batch.number].units = units

    def reserve(self) -> bool:
        """Wait until a unit may be dispatched: fewer than ``max_in_doubt`` reserved units not durable.

        ``True``: the unit is reserved, dispatch it. ``False``: a reserved unit failed, dispatch nothing
        more (the run stops at that unit; its error is raised by whoever ran it). Raises the writer's
        :class:`EmailBRStateStoreError` if a write failed.
        """
        with self._changed:
            while self._error is None and not self._unit_failed and self._in_doubt >= self.max_in_doubt:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            if self._unit_failed:
                return False
            self._in_doubt += 1
            return True

    # ------------------------------------------------------------------ sending threads

    def done(self, unit: UnitKey) -> None:
        """``unit``'s answer arrived: queue it for the next write."""
        with self._changed:
            self._queued.append(unit)
            self._changed.notify_all()

    def failed(self) -> None:
        """A reserved unit raised: it will never be recorded, and the run stops."""
        with self._changed:
            self._unit_failed = True
            self._in_doubt -= 1
            self._changed.notify_all()

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queued and not self._closing:
                    self._changed.wait()
                if not self._queued:
                    return
                taken, self._queued = self._queued, []
                value = self._apply(taken)
            try:
                self.checkpoint.write(value)
            except EmailBRStateStoreError as error:
                with self._changed:
                    self._error = error
                    self._changed.notify_all()
                return
            except Exception as error:  # anything else from the store is a store failure too
                with self._changed:
                    self._error = EmailBRStateStoreError(f"import checkpoint write failed: {error!r}")
                    self._changed.notify_all()
                return
            with self._changed:
                self._in_doubt -= len(taken)
                self.writes += 1
                self.recorded += len(taken)
                self._changed.notify_all()

    def _apply(self, units: list[UnitKey]) -> dict[str, Any]:
        """Add ``units`` to the checkpoint, fold complete batches into the prefix; the value to store.

        Called with the lock held.
        """
        for number, position in units:
            self._open[number].done.add(position)
        while self._prefix in self._open and self._open[self._prefix].complete:
            self._digest = chain_digest(self._digest, self._open.pop(self._prefix).digest)
            self._prefix += 1
        return self.checkpoint.value(self._prefix, self._digest, self._open)


def _positions(ranges: list[list[int]]) -> set[int]:
    """The unit positions of stored ``[start, end)`` ranges."""
    return {index for start, end in ranges for index in range(start, end)}


def _problem_of(data: Any) -> str | None:
    """What makes ``data`` not a readable checkpoint (``None`` when it is one)."""
    if not isinstance(data, dict):
        return f"a {type(data).__name__}, not an object"
    if not isinstance(data.get("seed"), str) or not isinstance(data.get("digest"), str):
        return "seed or digest missing"
    if not _count(data.get("batches"), minimum=0):
        return f"batches {data.get('batches')!r}"
    entries = data.get("open")
    if not isinstance(entries, list):
        return "open batches missing"
    numbers = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            return f"open batch {entry!r}"
        number, units, done = entry.get("batch"), entry.get("units"), entry.get("done")
        if not _count(number, minimum=data["batches"]) or not (units is None or _count(units, minimum=1)):
            return f"open batch {number!r} of {units!r} unit(s)"
        if not isinstance(done, list) or not done:
            return f"open batch {number}: done {done!r}"
        end = -1
        for item in done:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not all(_count(i, minimum=0) for i in item)
                or not end < item[0] < item[1]
                or (units is not None and item[1] > units)
            ):
                return f"open batch {number}: done range {item!r}"
            end = item[1]
        numbers.append(number)
    if len(set(numbers)) != len(numbers):
        return "an open batch named twice"
    return None


def _count(value: Any, *, minimum: int) -> bool:
    """Whether ``value`` is an ``int`` (not a ``bool``) of at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
