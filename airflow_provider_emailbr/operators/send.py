"""Transactional sends through MailGrid, emailManager and envie.email, never twice to the same person.

A retry can hurt a real person here (a duplicate e-mail), so every send operator follows the same rules,
implemented once in :class:`EmailBRSendOperator`:

- **Everything is validated before the first request** (recipients, limits, attachments, sizes).
- **Every item has a stable key** that identifies it across tries: the recipient for MailGrid
  (``to:``/``cc:``/``bcc:`` + address) and envie.email (the address), the input position plus a hash of the
  message for emailManager (``3:9f2c…``).
- **The HTTP core never repeats a send after an ambiguous failure** (the request went out, the answer was
  lost). Each item ends a try as ``sent`` (confirmed by the vendor), ``refused`` (certainly not sent: the
  vendor said no, or the request never left), ``unknown`` (it may have been delivered) or ``not_sent`` (not
  attempted: the try stopped sending after a lost answer, an authentication failure or an unreachable
  platform).
- **Results file** (``results_path``, JSON Lines, local or object storage): an ``attempt`` line is written
  before each request and the outcome lines as answers arrive. A retried try reads it and skips what was
  confirmed sent, re-sends what was certainly not sent, and does **not** re-send ``unknown`` items (an
  ``attempt`` without an outcome, e.g. a worker killed mid-request, counts as ``unknown``), unless
  ``resend_unknown=True``. Lines carry the DAG, task, run and map index, so another run never skips.
  Without ``results_path`` nothing tells a retry what went out, so a retry (try 2+) refuses to send
  unless ``resend_unknown=True`` (everything is then sent again).
- **Failure policy**: refusals fail the task after everything else was sent, with a summary, unless
  ``fail_on_partial=False`` (the task then succeeds when at least one item was sent). Unknown and
  not-attempted items always fail the task, naming what was sent, refused and unknown, and saying how to
  resolve: check the vendor's report, then either :func:`mark_send_results` (``sent`` or ``not_sent``) or
  run again with ``resend_unknown=True``. The results are also pushed to XCom under ``send_results``
  before failing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mimetypes
import os
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRError,
    EmailBRInputError,
    EmailBRResponseError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.hooks.emailmanager import (
    MAX_BATCH_MESSAGES,
    EmailManagerHook,
    attachment_from_bytes,
    validate_message,
)
from airflow_provider_emailbr.hooks.emailmanager import split_addresses as split_message_addresses
from airflow_provider_emailbr.hooks.envie import EnvieAttachment, EnvieEmailHook
from airflow_provider_emailbr.hooks.mailgrid import (
    MAX_MESSAGE_BYTES,
    MAX_RECIPIENTS,
    MailGridAttachment,
    MailGridHook,
)
from airflow_provider_emailbr.utils.emailer import EmailBRSendError, name_some, split_addresses
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.storage import as_path, json_line

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_emailbr.hooks.base import EmailBRHook

log = logging.getLogger(__name__)

SENT = "sent"
REFUSED = "refused"
UNKNOWN = "unknown"
#: Written before a request; without a later outcome it means "unknown" (the worker stopped mid-request).
ATTEMPT = "attempt"
#: Certainly not sent and nothing refused it: not attempted after a stop (in results), or checked as not
#: delivered by :func:`mark_send_results` (in the results file). The next try sends it.
NOT_SENT = "not_sent"
OUTCOMES = (SENT, REFUSED, UNKNOWN)
#: Bookkeeping fields of a results line, kept out of the XCom records.
_LEDGER_FIELDS = ("key", "dag_id", "task_id", "run_id", "map_index", "at")
#: Seconds between progress lines in the task log.
PROGRESS_EVERY = 5.0


class SendIncompleteError(EmailBRSendError):
    """A send operator could not confirm every item: some were refused, unknown or not attempted."""


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


# --------------------------------------------------------------------------------------- results file


@dataclass(frozen=True)
class RunIdentity:
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
        public = {k: v for k, v in latest[key].items() if k not in (*_LEDGER_FIELDS, "try_number", "error")}
        records.append({**public, "key": key, **identity.stamp(), "outcome": outcome, "resolved": "manual"})
    ledger.write(records)
    return chosen


# ------------------------------------------------------------------------------------------- base


@dataclass
class SendItem:
    """One thing to send and account for: a recipient (MailGrid, envie.email) or a message (emailManager).

    :param key: stable identity across tries (written to the results file).
    :param label: how logs and errors name it (addresses masked).
    :param data: what the operator needs to send it.
    :param slot: where it sits in the input, when ``key`` alone does not say (emailManager's index): a
        previous try's line for the same slot with another key means the input changed.
    """

    key: str
    label: str
    data: Any = None
    slot: str | None = None


@dataclass
class _Tally:
    sent_now: list[SendItem]
    sent_before: list[SendItem]
    refused: list[tuple[SendItem, str]]
    unknown: list[tuple[SendItem, str]]
    not_attempted: list[tuple[SendItem, str]]


class EmailBRSendOperator(BaseOperator):
    """Base of the send operators: results file, sent/refused/unknown accounting, failure policy, summary.

    Subclasses implement :meth:`plan` (validate and list the items), :meth:`group` (how pending items are
    packed into requests), :meth:`send_group` (one request, per-item records) and :meth:`item_fields` (the
    public fields of an item that has no vendor answer).

    :param results_path: JSON Lines file (local path, URI or ``ObjectStoragePath``) where results are
        appended as they arrive and read back by a retry (templated). Strongly recommended with retries:
        without it a retried try refuses to send (unless ``resend_unknown=True``).
    :param results_conn_id: connection of the object store holding ``results_path``.
    :param fail_on_partial: fail the task when some items were refused (after sending everything else).
        With ``False`` the task succeeds if at least one item was sent; unknown items always fail it.
    :param resend_unknown: send again the items a previous try left ``unknown`` — without
        ``results_path``, everything (templated; only after checking the vendor's report that they were
        not delivered).
    :param concurrency: requests in flight at once (they share one back-off when the vendor says 429).
    :param return_results: return the per-item results (``True``) or only counts (``False``, for very
        large sends whose results live in ``results_path``).
    """

    template_fields: Sequence[str] = ("results_path", "resend_unknown")
    ui_color = "#e8f4ea"

    #: The platform's name in messages.
    platform: ClassVar[str]
    #: HTTP statuses after which the vendor certainly did not process a send (so: refused, not unknown).
    not_processed_statuses: ClassVar[frozenset[int]] = frozenset({429, 503})
    #: Most requests in flight the vendor allows.
    max_concurrency: ClassVar[int] = 20

    def __init__(
        self,
        *,
        results_path: str | ObjectStoragePath | None = None,
        results_conn_id: str | None = None,
        fail_on_partial: bool = True,
        resend_unknown: bool | str = False,
        concurrency: int = 1,
        return_results: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(concurrency, int) or not 1 <= concurrency <= self.max_concurrency:
            raise EmailBRInputError(
                f"concurrency: {concurrency!r} must be an integer from 1 to {self.max_concurrency}"
            )
        self.results_path = results_path
        self.results_conn_id = results_conn_id
        self.fail_on_partial = fail_on_partial
        self.resend_unknown = resend_unknown
        self.concurrency = concurrency
        self.return_results = return_results

    # ------------------------------------------------------------------ subclass API

    @property
    @abstractmethod
    def hook(self) -> EmailBRHook:
        """The platform hook (subclasses build it lazily)."""

    @abstractmethod
    def plan(self, context: Context) -> list[SendItem]:
        """Validate the rendered input and list every item, in output order. No request is sent."""

    @abstractmethod
    def group(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """Pack pending items into requests; items left out are reported as not attempted."""

    @abstractmethod
    def send_group(self, group: list[SendItem]) -> list[dict[str, Any]]:
        """Send one request; return one record per item (same order) with ``outcome`` and vendor fields.

        Raise an :class:`~airflow_provider_emailbr.exceptions.EmailBRError` when the whole request failed.
        """

    @abstractmethod
    def item_fields(self, item: SendItem) -> dict[str, Any]:
        """The public fields of an item without a vendor answer (e.g. ``{"to": address}``)."""

    # ------------------------------------------------------------------ classification

    def classify(self, err: BaseException) -> tuple[str, str | None]:
        """``(outcome, stop_reason)`` for a whole request that failed with ``err``.

        ``stop_reason`` is set when sending more would likely fail the same way or add unknowns.
        """
        if isinstance(err, EmailBRTransportError):
            if err.request_sent:
                return UNKNOWN, "the answer to a send was lost"
            return REFUSED, "the platform could not be reached"
        status = getattr(err, "status", None)
        if isinstance(err, EmailBRApiError) and status in self.not_processed_statuses:
            return REFUSED, f"the platform stayed unavailable (HTTP {status})"
        if isinstance(err, EmailBRApiError) and status is not None and status >= 500:
            return UNKNOWN, f"the platform failed while processing a send (HTTP {status})"
        if isinstance(err, EmailBRResponseError) and (status is None or status < 300):
            return UNKNOWN, "the platform's answer to a send could not be read"
        if isinstance(err, EmailBRAuthError):
            return REFUSED, "the platform refused the credentials"
        if isinstance(err, EmailBRConfigError):
            return REFUSED, "the connection is not usable"
        if isinstance(err, EmailBRError):
            return REFUSED, None
        return UNKNOWN, f"unexpected {type(err).__name__} while sending"

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> Any:
        """Plan, skip what earlier tries settled, send the rest, then succeed or fail with a summary."""
        identity = RunIdentity.from_context(context)
        resend_unknown = _as_bool(self.resend_unknown, "resend_unknown")
        ledger = ResultsLog(self.results_path, conn_id=self.results_conn_id) if self.results_path else None
        if ledger is None and identity.try_number > 1 and not resend_unknown:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"{self.platform} send, try {identity.try_number}: an earlier try may have sent e-mail and "
                "no results_path records what went out, so this try sends nothing (it could send some "
                "messages twice). Set results_path on the operator; or, after checking the platform's "
                "report, run again with resend_unknown=True to send everything again."
            )
        items = self.plan(context)
        keys = [i.key for i in items]
        if len(set(keys)) != len(keys):
            raise EmailBRInputError(f"{self.platform}: the input lists the same item twice")
        prior = ledger.latest(identity) if ledger else {}
        self._check_input_unchanged(items, prior)

        results: dict[str, dict[str, Any]] = {}
        tally = _Tally([], [], [], [], [])
        pending: list[SendItem] = []
        for item in items:
            record = prior.get(item.key)
            outcome = effective_outcome(record)
            if outcome == SENT:
                results[item.key] = {**self.item_fields(item), **_public(record), "outcome": SENT}
                tally.sent_before.append(item)
            elif outcome == UNKNOWN and not resend_unknown:
                reason = str((record or {}).get("error") or "a request was sent and no answer recorded")
                results[item.key] = {
                    **self.item_fields(item),
                    **_public(record),
                    "outcome": UNKNOWN,
                    "error": reason,
                }
                tally.unknown.append((item, f"left unknown by try {(record or {}).get('try_number')}"))
            else:
                pending.append(item)
        if tally.sent_before or tally.unknown:
            self.log.info(
                "%s: %d item(s) confirmed sent by earlier tries are skipped; %d unknown are not re-sent%s",
                self.platform,
                len(tally.sent_before),
                len(tally.unknown),
                "" if not resend_unknown else " (resend_unknown=True: unknown ones are sent again)",
            )

        groups = list(self.group(pending))
        grouped = {i.key for g in groups for i in g}
        for item in pending:
            if item.key not in grouped:
                reason = "nothing left to send it with"
                results[item.key] = {**self.item_fields(item), "outcome": NOT_SENT, "error": reason}
                tally.not_attempted.append((item, reason))
        self._send_groups(groups, identity, ledger, results, tally)
        return self._finish(context, items, results, tally)

    def _check_input_unchanged(self, items: list[SendItem], prior: Mapping[str, Mapping[str, Any]]) -> None:
        """Fail when an earlier try's item in the same slot had another key (the input changed)."""
        by_slot: dict[str, tuple[str, str | None]] = {}
        for key, record in prior.items():
            slot = record.get("slot")
            if slot is not None and effective_outcome(record) in (SENT, UNKNOWN):
                by_slot[str(slot)] = (key, effective_outcome(record))
        changed = [
            f"{item.label} (now {item.key}, before {by_slot[item.slot][0]}: {by_slot[item.slot][1]})"
            for item in items
            if item.slot is not None and item.slot in by_slot and by_slot[item.slot][0] != item.key
        ]
        if changed:
            raise EmailBRInputError(
                f"{self.platform}: the input changed since an earlier try, which already sent (or may have "
                f"sent) other messages in the same positions: {name_some(changed, 5)}. Sending now could "
                "duplicate or skip messages; restore the original input or use a new results_path."
            )

    def _send_groups(
        self,
        groups: list[list[SendItem]],
        identity: RunIdentity,
        ledger: ResultsLog | None,
        results: dict[str, dict[str, Any]],
        tally: _Tally,
    ) -> None:
        """Send the groups (``concurrency`` at a time), recording every outcome as it arrives."""
        remaining = deque(groups)
        total = len(groups)
        done_count = 0
        stop: str | None = None
        last_progress = time.monotonic()
        hook = self.hook
        pool = None
        if self.concurrency > 1 and len(groups) > 1:
            from concurrent.futures import ThreadPoolExecutor

            from airflow_provider_emailbr.utils.throttle import Throttle

            hook.settings  # noqa: B018 - read the connection once, before the workers share the hook
            hook.session  # noqa: B018
            self._send_hook = hook.with_options(throttle=Throttle())
            pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="emailbr-send")
        else:
            self._send_hook = hook
        in_flight: dict[Any, list[SendItem]] = {}
        try:
            while remaining or in_flight:
                while remaining and stop is None and len(in_flight) < (self.concurrency if pool else 1):
                    group = remaining.popleft()
                    if ledger is not None:
                        ledger.write(
                            [
                                {"key": i.key, **self._slot(i), **identity.stamp(), "outcome": ATTEMPT}
                                for i in group
                            ]
                        )
                    if pool is None:
                        in_flight[_Done(self._attempt(group))] = group
                    else:
                        in_flight[pool.submit(self._attempt, group)] = group
                if not in_flight:
                    break
                if pool is None:
                    finished = list(in_flight)
                else:
                    from concurrent.futures import FIRST_COMPLETED, wait

                    finished = list(wait(list(in_flight), return_when=FIRST_COMPLETED).done)
                for future in finished:
                    group = in_flight.pop(future)
                    records, reason = future.result()
                    self._record(group, records, identity, ledger, results, tally)
                    done_count += 1
                    if reason and stop is None:
                        stop = reason
                        self.log.error(
                            "%s: stopping after this request: %s; nothing more is sent in this try",
                            self.platform,
                            reason,
                        )
                if time.monotonic() - last_progress >= PROGRESS_EVERY or (not remaining and not in_flight):
                    last_progress = time.monotonic()
                    self.log.info(
                        "%s: %d/%d request(s) done: %d sent, %d refused, %d unknown",
                        self.platform,
                        done_count,
                        total,
                        len(tally.sent_now),
                        len(tally.refused),
                        len(tally.unknown),
                    )
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        for group in remaining:
            for item in group:
                reason = f"not attempted: {stop}"
                results[item.key] = {**self.item_fields(item), "outcome": NOT_SENT, "error": reason}
                tally.not_attempted.append((item, reason))

    def _attempt(self, group: list[SendItem]) -> tuple[list[dict[str, Any]], str | None]:
        """Send one group; never raises: a failure becomes one record per item and maybe a stop reason."""
        try:
            records = self.send_group(group)
        except Exception as err:
            outcome, stop = self.classify(err)
            if not isinstance(err, EmailBRError):
                self.log.exception("%s: unexpected error while sending", self.platform)
            message = str(err) if isinstance(err, EmailBRError) else f"{type(err).__name__}: {err}"
            return [{**self.item_fields(item), "outcome": outcome, "error": message} for item in group], stop
        if len(records) != len(group):  # a bug, not the vendor: account for the group as unknown
            error = f"{len(records)} results for {len(group)} items"
            return [{**self.item_fields(i), "outcome": UNKNOWN, "error": error} for i in group], error
        return records, None

    def _record(
        self,
        group: list[SendItem],
        records: list[dict[str, Any]],
        identity: RunIdentity,
        ledger: ResultsLog | None,
        results: dict[str, dict[str, Any]],
        tally: _Tally,
    ) -> None:
        lines = []
        for item, record in zip(group, records, strict=True):
            results[item.key] = record
            lines.append({"key": item.key, **self._slot(item), **identity.stamp(), **record})
            outcome = record["outcome"]
            if outcome == SENT:
                tally.sent_now.append(item)
            elif outcome == UNKNOWN:
                tally.unknown.append((item, str(record.get("error") or "")))
            else:
                tally.refused.append((item, str(record.get("error") or "")))
        if ledger is not None:
            ledger.write(lines)

    @staticmethod
    def _slot(item: SendItem) -> dict[str, Any]:
        return {"slot": item.slot} if item.slot is not None else {}

    def _finish(
        self,
        context: Context,
        items: list[SendItem],
        results: dict[str, dict[str, Any]],
        tally: _Tally,
    ) -> Any:
        """Return the results, or push them to XCom and fail with the summary."""
        ordered = [{k: v for k, v in results[i.key].items() if k not in _LEDGER_FIELDS} for i in items]
        sent = len(tally.sent_now) + len(tally.sent_before)
        failed = bool(tally.unknown or tally.not_attempted) or (
            bool(tally.refused) and (self.fail_on_partial or sent == 0)
        )
        summary = self._summary(tally, failed=failed)
        if failed:
            context["ti"].xcom_push(key="send_results", value=ordered)
            raise SendIncompleteError(
                summary,
                sent=[i.label for i in tally.sent_before + tally.sent_now],
                refused=[i.label for i, _ in tally.refused],
                unknown=[i.label for i, _ in tally.unknown],
            )
        if tally.refused:
            self.log.warning("%s (fail_on_partial=False: the task succeeds)", summary)
        else:
            self.log.info("%s", summary)
        if self.return_results:
            return ordered
        return {
            "sent": sent,
            "sent_before": len(tally.sent_before),
            "refused": len(tally.refused),
            "unknown": 0,
            "total": len(items),
        }

    def _summary(self, tally: _Tally, *, failed: bool) -> str:
        """Counts, then who was sent, refused, unknown and not attempted (by reason), and how to resolve."""
        sent = tally.sent_before + tally.sent_now
        lines = [
            f"{self.platform} send: {len(sent)} sent ({len(tally.sent_before)} by earlier tries), "
            f"{len(tally.refused)} refused, {len(tally.unknown)} unknown, "
            f"{len(tally.not_attempted)} not attempted."
        ]
        if sent and failed:
            lines.append(f"Confirmed sent: {name_some([i.label for i in sent])}.")
        if tally.refused:
            lines.append(f"Refused (not sent; a retry sends them again): {_by_reason(tally.refused)}.")
        if tally.not_attempted:
            lines.append(f"Not attempted (a retry sends them): {_by_reason(tally.not_attempted)}.")
        if tally.unknown:
            lines.append(
                "Unknown (the request went out and the answer was lost: they MAY have been delivered and are "
                f"NOT re-sent automatically): {_by_reason(tally.unknown)}. To resolve, check the platform's "
                "delivery report, then either mark them with "
                "airflow_provider_emailbr.operators.send.mark_send_results(results_path, dag_id=…, "
                "task_id=…, run_id=…, outcome='sent' or 'not_sent') or run the task again with "
                "resend_unknown=True."
            )
        if failed:
            where = f"{self.results_path} and " if self.results_path else ""
            lines.append(f"Per-item results: {where}the XCom 'send_results'.")
        return " ".join(lines)


def _by_reason(entries: Sequence[tuple[SendItem, str]], max_reasons: int = 5) -> str:
    """``reason: a, b, c; other reason: d`` — items grouped by their (shortened) reason."""
    groups: dict[str, list[str]] = {}
    for item, reason in entries:
        groups.setdefault(_short(reason), []).append(item.label)
    parts = [f"[{reason}] {name_some(labels)}" for reason, labels in list(groups.items())[:max_reasons]]
    if len(groups) > max_reasons:
        parts.append(f"… {len(groups) - max_reasons} more reason(s)")
    return "; ".join(parts)


class _Done:
    """A finished inline call with a future's ``result()``, for sequential sending."""

    def __init__(self, value: tuple[list[dict[str, Any]], str | None]) -> None:
        self.value = value

    def result(self) -> tuple[list[dict[str, Any]], str | None]:
        return self.value


def _public(record: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        k: v
        for k, v in (record or {}).items()
        if k not in (*_LEDGER_FIELDS, "try_number", "outcome", "slot", "resolved", "error")
    }


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "", "none"):
        return False
    raise EmailBRInputError(f"{field}: {value!r} is not a boolean (use True or False)")


def _content_digest(value: Any) -> str:
    """A short, stable hash of a JSON-able value (key order and spacing do not matter)."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _read_attachments(
    paths: Iterable[str | Path | ObjectStoragePath] | None, conn_id: str | None, *, limit: int | None = None
) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of each attachment; with ``limit``, the base64 total is checked first."""
    targets = []
    for raw in paths or ():
        target = as_path(raw, conn_id)
        if not target.exists():
            raise EmailBRInputError(f"attachments: {str(raw)!r} does not exist")
        targets.append(target)
    if limit is not None:
        encoded = sum(4 * math.ceil(_size(t) / 3) for t in targets)
        if encoded > limit:
            raise EmailBRInputError(
                f"attachments: {encoded:,} bytes once base64-encoded exceed the {limit:,}-byte message limit "
                f"({limit // (1024 * 1024)} MB, body included); nothing was sent"
            )
    return [(t.name, t.read_bytes()) for t in targets]


def _size(path: Path | ObjectStoragePath) -> int:
    info = path.stat()
    return int(info["size"] if isinstance(info, Mapping) else info.st_size)


# ------------------------------------------------------------------------------------------- MailGrid


class MailGridSendEmailOperator(EmailBRSendOperator):
    """Send one e-mail to any number of recipients through MailGrid (``POST send/``).

    ``to`` is sent in calls of at most 100 recipients (MailGrid's limit), all sharing the same body and
    attachments (encoded once). ``cc`` and ``bcc`` (≤ 100 each) are copied **once**: they ride with the first
    call. Limits, the sender and the 50 MB message size (body + base64 attachments) are checked before the
    first call. Each address receives the message once (duplicates are dropped, case-insensitively).

    Returns one record per recipient (``to`` first, then ``cc``, ``bcc``): ``{"to", "role", "id",
    "status", "codigo", "outcome"}`` (+ ``"error"``), where ``status``/``codigo`` are MailGrid's (``"MSG
    ENVIADA"``/``"200"``) and ``outcome`` is ``sent``, ``refused``, ``unknown`` or ``not_sent``. Copies
    carry the id of their call's first accepted recipient. See :class:`EmailBRSendOperator` for the retry
    rules.

    :param to: recipients: an address, a comma/semicolon-separated string, a list, or an XComArg (templated).
    :param subject: subject (templated).
    :param html: HTML body (``mensagemTipo=html``; templated). Give ``html`` or ``text``.
    :param text: plain-text body (``mensagemTipo=text``; templated).
    :param alt_text: plain-text alternative of an HTML body (``mensagemAlt``; templated).
    :param cc: copies, ≤ 100 (templated).
    :param bcc: blind copies, ≤ 100 (templated).
    :param encoding: ``base64`` (default) or ``quoted-printable`` (``mensagemEncoding``).
    :param from_email: sender (default: the connection's ``from_email`` extra; templated).
    :param from_name: sender name (default: the connection's ``from_name`` extra; templated).
    :param reply_to: reply-to address (``emailReply``; templated).
    :param attachments: paths or ``ObjectStoragePath`` objects; MIME type from the name (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    :param mailgrid_conn_id: the MailGrid connection.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "to",
        "cc",
        "bcc",
        "subject",
        "html",
        "text",
        "alt_text",
        "from_email",
        "from_name",
        "reply_to",
        "attachments",
        "mailgrid_conn_id",
    )
    template_fields_renderers = {"html": "html"}
    platform = "MailGrid"
    #: MailGrid's documented limit of simultaneous calls.
    max_concurrency = 20

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str,
        html: str | None = None,
        text: str | None = None,
        alt_text: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        encoding: str = "base64",
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to: str | None = None,
        attachments: Sequence[str | ObjectStoragePath] | None = None,
        attachments_conn_id: str | None = None,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html = html
        self.text = text
        self.alt_text = alt_text
        self.cc = cc
        self.bcc = bcc
        self.encoding = encoding
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to = reply_to
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id
        self.mailgrid_conn_id = mailgrid_conn_id
        self._body: dict[str, Any] = {}

    @cached_property
    def hook(self) -> MailGridHook:
        """The MailGrid hook (built on first use)."""
        return MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)

    def plan(self, context: Context) -> list[SendItem]:
        """Validate everything and build the shared body once; one item per recipient."""
        if bool(self.html) == bool(self.text):
            raise EmailBRInputError(
                "html/text: give exactly one body (html → mensagemTipo html, text → text)"
            )
        if self.alt_text and not self.html:
            raise EmailBRInputError("alt_text: only meaningful with an html body")
        to = split_addresses(self.to, field="to")
        if not to:
            raise EmailBRInputError(f"to: at least one recipient is required, got {self.to!r}")
        cc = split_addresses(self.cc, field="cc")
        bcc = split_addresses(self.bcc, field="bcc")
        files = _read_attachments(self.attachments, self.attachments_conn_id, limit=MAX_MESSAGE_BYTES)
        self._body = self.hook.build_send_body(
            to=to[:1],
            subject=self.subject,
            message=self.html or self.text,
            message_type="html" if self.html else "text",
            encoding=self.encoding,
            alt_message=self.alt_text,
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to=self.reply_to,
            cc=cc,
            bcc=bcc,
            attachments=[MailGridAttachment(name, content) for name, content in files],
        )
        for key in ("emailDestino", "emailDestinoCopia", "emailDestinoCopiaOculta"):
            self._body.pop(key, None)
        self.log.info(
            "MailGrid: %d recipient(s) in calls of ≤ %d, %d cc, %d bcc, %d attachment(s)",
            len(to),
            MAX_RECIPIENTS,
            len(cc),
            len(bcc),
            len(files),
        )
        return [
            SendItem(key=f"{role}:{address.lower()}", label=mask_email(address), data=(role, address))
            for role, addresses in (("to", to), ("cc", cc), ("bcc", bcc))
            for address in addresses
        ]

    def group(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """Chunks of ≤ 100 ``to``; the pending copies go with the first chunk."""
        to = [i for i in pending if i.data[0] == "to"]
        copies = [i for i in pending if i.data[0] != "to"]
        for start in range(0, len(to), MAX_RECIPIENTS):
            chunk = to[start : start + MAX_RECIPIENTS]
            yield chunk + copies if start == 0 else chunk

    def send_group(self, group: list[SendItem]) -> list[dict[str, Any]]:
        """One ``send/`` call; per-recipient records matched by address."""
        body = dict(self._body)
        to = [i.data[1] for i in group if i.data[0] == "to"]
        body["emailDestino"] = to
        for role, field in (("cc", "emailDestinoCopia"), ("bcc", "emailDestinoCopiaOculta")):
            copies = [i.data[1] for i in group if i.data[0] == role]
            if copies:
                body[field] = copies
        answers = self._send_hook.send_body(body)
        by_address = {str(a.get("to", "")).strip().lower(): a for a in answers if a.get("to")}
        records = []
        first_id = None
        for position, item in enumerate(group):
            role, address = item.data
            if role != "to":
                continue
            answer = by_address.get(address.lower())
            if answer is None and len(answers) == len(to) and not answers[position].get("to"):
                answer = answers[position]
            records.append(self._record_for(item, answer))
            if records[-1]["outcome"] == SENT and first_id is None:
                first_id = records[-1]["id"]
        for item in group:
            role, address = item.data
            if role == "to":
                continue
            carried = first_id is not None
            records.append(
                {
                    "to": address,
                    "role": role,
                    "id": first_id,
                    "status": None,
                    "codigo": None,
                    "outcome": SENT if carried else REFUSED,
                    **({} if carried else {"error": "no recipient of its call was accepted"}),
                }
            )
        order = {i.key: n for n, i in enumerate(group)}
        records.sort(key=lambda r: order[f"{r['role']}:{r['to'].lower()}"])
        return records

    @staticmethod
    def _record_for(item: SendItem, answer: Mapping[str, Any] | None) -> dict[str, Any]:
        role, address = item.data
        if answer is None:
            return {
                "to": address,
                "role": role,
                "id": None,
                "status": None,
                "codigo": None,
                "outcome": UNKNOWN,
                "error": "MailGrid's answer has no result for this recipient",
            }
        code = str(answer.get("codigo") or "")
        record = {
            "to": address,
            "role": role,
            "id": answer.get("id"),
            "status": answer.get("status"),
            "codigo": code,
            "outcome": SENT if code == "200" else REFUSED,
        }
        if code != "200":
            record["error"] = f"code {code}: {answer.get('status')}"
        return record

    def item_fields(self, item: SendItem) -> dict[str, Any]:
        role, address = item.data
        return {"to": address, "role": role, "id": None, "status": None, "codigo": None}


# --------------------------------------------------------------------------------------- emailManager


class _EmailManagerSendBase(EmailBRSendOperator):
    """emailManager sends: one item per message, keyed by input position + message hash."""

    platform = "emailManager"
    #: The vendor documents HTTP 500 as "not finished, send again shortly".
    not_processed_statuses = frozenset({429, 500, 503})

    emailmanager_conn_id: str

    @cached_property
    def hook(self) -> EmailManagerHook:
        """The emailManager hook (built on first use)."""
        return EmailManagerHook(emailmanager_conn_id=self.emailmanager_conn_id)

    def _items(self, messages: list[dict[str, Any]]) -> list[SendItem]:
        items = []
        for index, message in enumerate(messages):
            first_to = (split_message_addresses(message.get("To")) or ["?"])[0]
            items.append(
                SendItem(
                    key=f"{index}:{_content_digest(message)}",
                    label=f"message {index} to {mask_email(first_to)}",
                    data=(index, message),
                    slot=str(index),
                )
            )
        return items

    def _record_for(self, item: SendItem, answer: Mapping[str, Any] | None) -> dict[str, Any]:
        record = self.item_fields(item)
        if answer is None:
            return {**record, "outcome": UNKNOWN, "error": "emailManager's answer has no entry for it"}
        if not isinstance(answer, Mapping) or "ErrorCode" not in answer:  # e.g. an empty HTTP 200
            return {
                **record,
                "outcome": UNKNOWN,
                "error": f"emailManager's answer has no ErrorCode for it: {_short(str(answer), 120)}",
            }
        code = answer.get("ErrorCode")
        record.update(
            {
                "MessageID": answer.get("MessageID"),
                "ErrorCode": code,
                "Message": answer.get("Message"),
                "SubmittedAt": answer.get("SubmittedAt"),
                "To": answer.get("To") or record["To"],
                "outcome": SENT if code in (0, "0") else REFUSED,
            }
        )
        if code not in (0, "0"):
            record["error"] = f"ErrorCode {code}: {answer.get('Message')}"
        return record

    def item_fields(self, item: SendItem) -> dict[str, Any]:
        index, message = item.data
        return {
            "index": index,
            "To": message.get("To"),
            "MessageID": None,
            "ErrorCode": None,
            "Message": None,
            "SubmittedAt": None,
        }


class EmailManagerSendEmailOperator(_EmailManagerSendBase):
    """Send one message through emailManager (``POST /email``), in the vendor's (Postmark v1) format.

    To + Cc + Bcc ≤ 20 recipients, checked before sending. Returns ``{"index": 0, "To", "MessageID",
    "ErrorCode", "Message", "SubmittedAt", "outcome"}``. See :class:`EmailBRSendOperator` for the retry
    rules (the message's key is ``0:<hash>``).

    :param to: recipients (templated): a string (``a@x, "Name" <b@y>``), a list, or an XComArg.
    :param subject: ``Subject`` (templated).
    :param html_body: ``HtmlBody`` (templated).
    :param text_body: ``TextBody`` (templated); both make a multipart message.
    :param from_email: ``From``, may be ``"Name" <addr>`` (default: the connection's ``from_email``).
    :param cc: ``Cc`` (templated).
    :param bcc: ``Bcc`` (templated).
    :param reply_to: ``ReplyTo`` (templated).
    :param tag: ``Tag`` (templated).
    :param headers: ``Headers`` as ``{name: value}`` (templated).
    :param attachments: paths, ``ObjectStoragePath`` objects or ready ``{"Name", "Content",
        "ContentType"}`` mappings (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    :param emailmanager_conn_id: the emailManager connection.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "to",
        "cc",
        "bcc",
        "subject",
        "html_body",
        "text_body",
        "from_email",
        "reply_to",
        "tag",
        "headers",
        "attachments",
        "emailmanager_conn_id",
    )
    template_fields_renderers = {"html_body": "html", "headers": "json"}

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str,
        html_body: str | None = None,
        text_body: str | None = None,
        from_email: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | None = None,
        tag: str | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[str | ObjectStoragePath | Mapping[str, Any]] | None = None,
        attachments_conn_id: str | None = None,
        emailmanager_conn_id: str = EmailManagerHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_body = html_body
        self.text_body = text_body
        self.from_email = from_email
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.tag = tag
        self.headers = headers
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id
        self.emailmanager_conn_id = emailmanager_conn_id

    def plan(self, context: Context) -> list[SendItem]:
        """Build and validate the one message."""
        attachments = []
        for entry in self.attachments or ():
            if isinstance(entry, Mapping):
                attachments.append(dict(entry))
            else:
                ((name, content),) = _read_attachments([entry], self.attachments_conn_id)
                attachments.append(attachment_from_bytes(name, content))
        message = self.hook.build_message(
            to=split_message_addresses(self.to),
            subject=self.subject,
            html_body=self.html_body,
            text_body=self.text_body,
            from_email=self.from_email,
            cc=self.cc,
            bcc=self.bcc,
            reply_to=self.reply_to,
            tag=self.tag,
            headers=self.headers,
            attachments=attachments,
        )
        return self._items([message])

    def group(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """The message alone."""
        for item in pending:
            yield [item]

    def send_group(self, group: list[SendItem]) -> list[dict[str, Any]]:
        """``POST /email``."""
        item = group[0]
        return [self._record_for(item, self._send_hook.send_email(item.data[1]))]

    def execute(self, context: Context) -> Any:
        """Send the message; return its record (see the class docstring)."""
        result = super().execute(context)
        return result[0] if self.return_results else result


class EmailManagerBatchSendOperator(_EmailManagerSendBase):
    """Send many messages through emailManager's batch endpoint (``POST /email/batch``, ≤ 500 per call).

    Messages are in the vendor's (Postmark v1) format — ``From``, ``To``, ``Cc``, ``Bcc``, ``Subject``,
    ``HtmlBody``, ``TextBody``, ``ReplyTo``, ``Tag``, ``Headers`` ``[{Name, Value}]``, ``Attachments``
    ``[{Name, Content, ContentType}]`` — from a list or an XComArg (``messages``) or a JSON Lines file
    (``messages_path``, read whole). All are validated first (fields, ≤ 20 recipients each). A message
    without ``From`` gets ``from_email`` or the connection's ``from_email``.

    Returns one record per input message, aligned with the input: ``{"index", "To", "MessageID",
    "ErrorCode", "Message", "SubmittedAt", "outcome"}`` (+ ``"error"``). A message's key is its index plus
    a hash of its content; if an earlier try recorded another message at the same index as sent or
    unknown, the task fails before sending (the input changed). See :class:`EmailBRSendOperator`.

    :param messages: list of messages, or an XComArg resolving to one (templated).
    :param messages_path: JSON Lines file of messages, local path, URI or ``ObjectStoragePath`` (templated).
    :param messages_conn_id: object-store connection for ``messages_path``.
    :param from_email: sender for messages without ``From`` (templated).
    :param batch_size: messages per call, 1–500 (default 500).
    :param emailmanager_conn_id: the emailManager connection.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "messages",
        "messages_path",
        "from_email",
        "emailmanager_conn_id",
    )

    def __init__(
        self,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        messages_path: str | ObjectStoragePath | None = None,
        messages_conn_id: str | None = None,
        from_email: str | None = None,
        batch_size: int = MAX_BATCH_MESSAGES,
        emailmanager_conn_id: str = EmailManagerHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (messages is None) == (messages_path is None):
            raise EmailBRInputError("messages/messages_path: give exactly one of them")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_MESSAGES:
            raise EmailBRInputError(
                f"batch_size: {batch_size!r} must be an integer from 1 to {MAX_BATCH_MESSAGES}"
            )
        self.messages = messages
        self.messages_path = messages_path
        self.messages_conn_id = messages_conn_id
        self.from_email = from_email
        self.batch_size = batch_size
        self.emailmanager_conn_id = emailmanager_conn_id

    def _load(self) -> list[Any]:
        if self.messages_path is not None:
            from airflow_provider_emailbr.utils.storage import iter_jsonl

            return list(iter_jsonl(self.messages_path, conn_id=self.messages_conn_id))
        if isinstance(self.messages, (str, bytes)) or not isinstance(self.messages, Iterable):
            raise EmailBRInputError(
                f"messages: expected a list of messages, got {type(self.messages).__name__}"
            )
        return list(self.messages)

    def plan(self, context: Context) -> list[SendItem]:
        """Load and validate every message (default ``From`` filled in)."""
        raw = self._load()
        if not raw:
            raise EmailBRInputError("messages: no message to send")
        sender = self.from_email or self.hook.default_sender()
        messages = []
        for index, message in enumerate(raw):
            if not isinstance(message, Mapping):
                raise EmailBRInputError(
                    f"messages[{index}]: {type(message).__name__} is not a message object"
                )
            message = dict(message)
            if not message.get("From") and sender:
                message["From"] = sender
            validate_message(message, where=f"messages[{index}]")
            messages.append(message)
        self.log.info(
            "emailManager: %d message(s) in batches of ≤ %d (%d call(s))",
            len(messages),
            self.batch_size,
            math.ceil(len(messages) / self.batch_size),
        )
        return self._items(messages)

    def group(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """Batches of ``batch_size`` pending messages."""
        for start in range(0, len(pending), self.batch_size):
            yield pending[start : start + self.batch_size]

    def send_group(self, group: list[SendItem]) -> list[dict[str, Any]]:
        """``POST /email/batch``; answers aligned by position (a missing answer is ``unknown``)."""
        answers = self._send_hook.send_batch([item.data[1] for item in group])
        return [
            self._record_for(
                item, answers[n] if n < len(answers) and isinstance(answers[n], Mapping) else None
            )
            for n, item in enumerate(group)
        ]


# --------------------------------------------------------------------------------------- envie.email


class EnvieEmailSendOperator(EmailBRSendOperator):
    """Send a transactional e-mail through envie.email (``POST /singlesending/create``), one per recipient.

    ``to`` is an address, a list of addresses or ``{"email", "name"}`` mappings, or an XComArg; each
    recipient gets an individual message (the key of the results file is the address). The optional plain
    text (``plain_text``) and attachments (paths or ``ObjectStoragePath``; name sent without extension,
    unique within the message; MIME type from the name, checked against the connection's whitelist) are
    validated and encoded once, before the first call.

    Returns one record per recipient: ``{"to", "message_id", "status", "outcome"}`` (+ ``"error"``).
    See :class:`EmailBRSendOperator` for the retry rules.

    :param to: recipients (templated).
    :param subject: subject (templated).
    :param html: the body, HTML accepted (``body``; templated).
    :param text: the plain-text version (``plain_text``; templated); envie.email derives it when unset.
    :param from_email: sender (default: the connection's ``from_email``; templated).
    :param from_name: sender name (default: the connection's ``from_name``; templated).
    :param reply_to_email: reply-to address (default: the sender; templated).
    :param reply_to_name: reply-to name (default: the sender's name; templated).
    :param attachments: paths or ``ObjectStoragePath`` objects (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    :param envie_conn_id: the envie.email connection.
    :param concurrency: calls in flight at once (default 4).
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "to",
        "subject",
        "html",
        "text",
        "from_email",
        "from_name",
        "reply_to_email",
        "reply_to_name",
        "attachments",
        "envie_conn_id",
    )
    template_fields_renderers = {"html": "html"}
    platform = "envie.email"

    def __init__(
        self,
        *,
        to: str | Sequence[str | Mapping[str, str]],
        subject: str,
        html: str,
        text: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to_email: str | None = None,
        reply_to_name: str | None = None,
        attachments: Sequence[str | ObjectStoragePath] | None = None,
        attachments_conn_id: str | None = None,
        envie_conn_id: str = EnvieEmailHook.default_conn_name,
        concurrency: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(concurrency=concurrency, **kwargs)
        self.to = to
        self.subject = subject
        self.html = html
        self.text = text
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to_email = reply_to_email
        self.reply_to_name = reply_to_name
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id
        self.envie_conn_id = envie_conn_id
        self._body: dict[str, Any] = {}

    @cached_property
    def hook(self) -> EnvieEmailHook:
        """The envie.email hook (built on first use)."""
        return EnvieEmailHook(envie_conn_id=self.envie_conn_id)

    def _recipients(self) -> list[tuple[str, str | None]]:
        value = self.to
        if isinstance(value, str) or value is None:
            return [(a, None) for a in split_addresses(value, field="to")]
        if isinstance(value, Mapping) or not isinstance(value, Iterable):
            value = [value]  # one {"email", "name"} mapping; anything else is refused below
        out: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        for entry in value:
            if isinstance(entry, Mapping):
                address, name = entry.get("email"), entry.get("name")
                found = split_addresses([address], field="to") if isinstance(address, str) else []
                if len(found) != 1 or (name is not None and not isinstance(name, str)):
                    raise EmailBRInputError(
                        f"to: {_short(repr(entry), 80)} needs a valid 'email' (one address) and, optionally, "
                        "a text 'name'"
                    )
                address = found[0]
            else:
                found = split_addresses([entry], field="to")
                if not found:
                    continue
                address, name = found[0], None
            if address.lower() not in seen:
                seen.add(address.lower())
                out.append((address, str(name) if name else None))
        return out

    def plan(self, context: Context) -> list[SendItem]:
        """Validate the message (required fields, attachments) once; one item per recipient."""
        recipients = self._recipients()
        if not recipients:
            raise EmailBRInputError(f"to: at least one recipient is required, got {self.to!r}")
        files = _read_attachments(self.attachments, self.attachments_conn_id)
        attachments = []
        for name, content in files:
            mime = mimetypes.guess_type(name)[0]
            if not mime:
                raise EmailBRInputError(f"attachments: cannot tell the MIME type of {name!r} from its name")
            attachments.append(EnvieAttachment(name=Path(name).stem, content=content, mime=mime))
        first_address, first_name = recipients[0]
        self._body = self.hook.build_send_body(
            to_email=first_address,
            to_name=first_name,
            subject=self.subject,
            body=self.html,
            plain_text=self.text,
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to_email=self.reply_to_email,
            reply_to_name=self.reply_to_name,
            attachments=attachments,
        )
        return [
            SendItem(key=address.lower(), label=mask_email(address), data=(address, name))
            for address, name in recipients
        ]

    def group(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """One recipient per call."""
        for item in pending:
            yield [item]

    def send_group(self, group: list[SendItem]) -> list[dict[str, Any]]:
        """``POST /singlesending/create`` for one recipient."""
        item = group[0]
        address, name = item.data
        body = dict(self._body)
        body["to_email"] = address
        body["to_name"] = name or address.split("@")[0]
        answer = self._send_hook.send_body(body)  # an error answer raises
        if not isinstance(answer, Mapping) or answer.get("status") != "success":
            # an answer that is neither an error nor the documented success (e.g. an empty HTTP 200): the
            # message may or may not have been accepted, so it is unknown, never sent again automatically
            return [
                {
                    "to": address,
                    "message_id": None,
                    "status": None,
                    "outcome": UNKNOWN,
                    "error": f"envie.email's answer is not a success: {_short(str(answer), 120)}",
                }
            ]
        return [
            {
                "to": address,
                "message_id": answer.get("message_id"),
                "status": answer.get("status"),
                "outcome": SENT,
            }
        ]

    def item_fields(self, item: SendItem) -> dict[str, Any]:
        return {"to": item.data[0], "message_id": None, "status": None}
