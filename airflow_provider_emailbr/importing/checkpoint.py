"""Resuming an import after a crash: the confirmed batches, checkpointed in Airflow 3.3's task state store.

The import engine calls :meth:`ImportCheckpoint.confirmed` each time a batch (and every batch before it) has
an outcome, and a retry of the task instance sends only the batches after the last confirmed one
(:meth:`ImportCheckpoint.batches`). So a worker killed mid-import costs its retry the remaining batches
plus the one that was in flight, not the whole import again.

**What "batch N" means.** Batches come from the staged source (:meth:`Staging.to_send`), in order of first
appearance in the source, ``batch_size`` contacts at a time: the same source staged against the same
snapshot gives the same batches. A checkpoint belongs to one staged source: it stores a *seed* (platform,
target, ``batch_size``) and a rolling digest of the confirmed batches' contacts (e-mail, row, fields).
Before anything is sent, the retry re-reads the same number of staged batches (reading only) and compares.

**A changed source starts afresh.** When the seed or the digest differ (the file changed, the target or
``batch_size`` changed, or ``state_path``'s snapshot was updated by the failed try, which changes what is
to send), the checkpoint is ignored with a warning and every batch is sent: a contact import is an upsert,
so sending again is safe, while skipping on a guess could leave contacts out. A checkpoint of another kind
or version, or a store that cannot be read, fails the task before any request (fail-closed), as for sends.

**Snapshots.** The contacts of skipped batches are not confirmed again in this run's staging (the earlier
try's rejections are not known here), so the snapshot stored at the end leaves them out and the next sync
sends them again as new. A successful import deletes its checkpoint: clearing the task later imports again.

On Airflow 3.2, or with ``durable=False``, there is no checkpoint: a retry starts from the first batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError
from airflow_provider_emailbr.utils.state_store import TaskState

if TYPE_CHECKING:
    from airflow_provider_emailbr.importing.engine import ImportBatch

#: Task state namespace, key and entry kind of an import's checkpoint.
NAMESPACE = "import"
KEY = "checkpoint"
KIND = "import-checkpoint"


def batch_digest(previous: str, batch: ImportBatch) -> str:
    """The rolling digest after ``batch``: ``previous`` chained with the batch's contacts."""
    digest = hashlib.blake2b(previous.encode("ascii"), digest_size=16)
    for contact in batch.contacts:
        digest.update(
            json.dumps(
                [contact.email, contact.row, contact.fields, contact.custom], sort_keys=True, default=str
            ).encode("utf-8")
        )
        digest.update(b"\x1e")
    return digest.hexdigest()


class ImportCheckpoint:
    """The confirmed prefix of one import's batches, in the task state store (see the module docstring).

    :param state: the task's durable state (namespace ``import``).
    :param seed: what the checkpoint is only valid for: platform, target and ``batch_size``.
    :param log: the task's logger.
    """

    def __init__(self, state: TaskState, *, seed: Mapping[str, Any], log: Any) -> None:
        self.state = state
        self.seed = json.dumps(dict(seed), sort_keys=True, default=str)
        self.log = log
        self._digest = ""
        self._confirmed = 0
        self._stored = self._read()  # at once, before any request: fail-closed

    @classmethod
    def from_context(
        cls, context: Mapping[str, Any] | None, *, seed: Mapping[str, Any], log: Any, durable: bool = True
    ) -> ImportCheckpoint | None:
        """The checkpoint of this task instance; ``None`` on Airflow 3.2 or with ``durable=False``."""
        state = TaskState.from_context(context, namespace=NAMESPACE, durable=durable)
        return None if state is None else cls(state, seed=seed, log=log)

    def _read(self) -> dict[str, Any] | None:
        data = self.state.get(KEY, kind=KIND)
        if data is None:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("seed"), str)
            or not isinstance(data.get("batches"), int)
            or data["batches"] < 0
            or not isinstance(data.get("digest"), str)
        ):
            raise EmailBRStateCorruptError(
                f"Task state entry {self.state.full_key(KEY)!r} is not a readable import checkpoint; nothing "
                "was sent. Clear the task's state (or delete the key) and run again."
            )
        return data

    def batches(self, read: Callable[[], Iterable[ImportBatch]]) -> Iterator[ImportBatch]:
        """The batches this try must send: after the checkpoint when it matches, else all of them.

        ``read`` reads the staged batches from the start; it is called twice when there is a checkpoint
        (once to check it, reading only, once to send).
        """
        stored = self._stored
        skip = 0
        if stored is not None and stored["batches"]:
            skip = self._matching_prefix(stored, read)
        self._digest, self._confirmed = stored["digest"] if skip else "", skip
        for batch in read():
            if batch.number >= skip:
                yield batch

    def _matching_prefix(self, stored: Mapping[str, Any], read: Callable[[], Iterable[ImportBatch]]) -> int:
        """``stored["batches"]`` when the staged source's first batches are the checkpointed ones, else 0."""
        wanted = stored["batches"]
        if stored["seed"] != self.seed:
            self.log.warning(
                "import checkpoint of an earlier try is for another target or batch_size (%s, now %s): "
                "ignored, every batch is sent (an import is an upsert)",
                stored["seed"],
                self.seed,
            )
            return 0
        digest, seen = "", 0
        for batch in read():
            if seen == wanted:
                break
            digest = batch_digest(digest, batch)
            seen += 1
        if seen == wanted and digest == stored["digest"]:
            self.log.info(
                "resuming the import: %d batch(es) confirmed by an earlier try are not sent again", wanted
            )
            return wanted
        self.log.warning(
            "import checkpoint of an earlier try (%d batch(es)) does not match the staged source (it "
            "changed, or the snapshot at state_path was updated): ignored, every batch is sent (an import "
            "is an upsert)",
            wanted,
        )
        return 0

    def confirmed(self, batch: ImportBatch) -> None:
        """Record that ``batch`` and every batch before it have an outcome (one store write)."""
        if batch.number != self._confirmed:
            raise EmailBRStateStoreError(
                f"import checkpoint: batch {batch.number} confirmed after {self._confirmed} batch(es); "
                "batches must be confirmed in order"
            )
        self._digest = batch_digest(self._digest, batch)
        self._confirmed += 1
        self.state.set(
            KEY, {"seed": self.seed, "batches": self._confirmed, "digest": self._digest}, kind=KIND
        )

    def finished(self) -> None:
        """The import completed: forget the checkpoint, so that clearing the task imports again."""
        try:
            self.state.delete(KEY)
        except EmailBRStateStoreError:
            self.log.warning(
                "the import checkpoint could not be deleted; a cleared re-run of this same source would skip "
                "the batches it names",
                exc_info=True,
            )
