"""The send operators' loop: skip what earlier tries settled, send the rest, tally and summarise.

:class:`SendEngine` runs one :class:`~.base.SendPlan` for one task instance. It reads the ledger
(:mod:`.ledger`) once, skips items an earlier try confirmed sent, does not re-send items it left
``unknown`` (unless ``resend_unknown``), writes an ``attempt`` record before each call goes out (for a
costly ledger, one intent per window of calls, see :class:`WindowSizer`) and the outcomes as answers
arrive (for a costly ledger, carried along with the next write), keeps at most ``concurrency`` calls in
flight (sharing one back-off when the vendor says 429) and stops sending after a call whose verdict says
so. It returns a :class:`SendResult`; the operator decides success or failure (:meth:`SendResult.failed`)
and words it with :meth:`SendResult.summary`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.base import CallResult, SendPlan
from airflow_provider_emailbr.sending.ledger import (
    LEDGER_FIELDS,
    MANUAL,
    REQUEST_FIELDS,
    RunIdentity,
    SendLedger,
    effective_outcome,
)
from airflow_provider_emailbr.sending.model import (
    ATTEMPT,
    NOT_SENT,
    SENT,
    UNKNOWN,
    SendItem,
    name_some,
    shorten,
)
from airflow_provider_emailbr.utils.records import Record

log = logging.getLogger(__name__)

#: Seconds between progress lines in the task log.
PROGRESS_EVERY = 5.0
#: Largest share of a send's time its durable ledger writes should take (the windows are sized for it).
WRITE_SHARE = 0.03
#: Longest stretch of sending one intent covers (what a killed worker can leave ``unknown``).
MAX_WINDOW_SECONDS = 2.0
#: Most requests one intent covers.
MAX_WINDOW_REQUESTS = 1000
#: Fields of a ledger record that are not the item's public result.
_PRIVATE_FIELDS = (*LEDGER_FIELDS, *REQUEST_FIELDS, "try_number", "outcome", "slot", "resolved", "error")


class Tally(Record):
    """Who ended where in this try."""

    __slots__ = ("not_attempted", "refused", "sent_before", "sent_now", "unknown")

    def __init__(self) -> None:
        self.sent_now: list[SendItem] = []
        self.sent_before: list[SendItem] = []
        self.refused: list[tuple[SendItem, str]] = []
        self.unknown: list[tuple[SendItem, str]] = []
        self.not_attempted: list[tuple[SendItem, str]] = []


class SendResult(Record):
    """The outcome of a try: one record per item (input order) and the tally."""

    __slots__ = ("items", "ledger_wait", "resolution_hint", "results", "tally", "vendor")

    def __init__(
        self, vendor: str, items: list[SendItem], results: dict[str, dict[str, Any]], tally: Tally
    ) -> None:
        self.vendor = vendor
        self.items = items
        self.results = results
        self.tally = tally
        #: Seconds the send waited for its ledger (reads, and writes not overlapped by requests).
        self.ledger_wait = 0.0
        #: How a person resolves unknown items in the ledger used (``None``: ``mark_send_results``).
        self.resolution_hint: str | None = None

    @property
    def ordered(self) -> list[dict[str, Any]]:
        """The per-item records in input order, without bookkeeping fields; an ``unknown`` one keeps its
        item's ``key`` (what a person names to resolve it)."""
        records = []
        for item in self.items:
            record = {k: v for k, v in self.results[item.key].items() if k not in LEDGER_FIELDS}
            records.append({**record, "key": item.key} if record.get("outcome") == UNKNOWN else record)
        return records

    @property
    def sent(self) -> int:
        """Items confirmed sent, by this try or earlier ones."""
        return len(self.tally.sent_now) + len(self.tally.sent_before)

    def failed(self, *, fail_on_partial: bool) -> bool:
        """Unknown or not-attempted items always fail; refusals fail with ``fail_on_partial`` or when none was
        sent."""
        tally = self.tally
        return bool(tally.unknown or tally.not_attempted) or (
            bool(tally.refused) and (fail_on_partial or self.sent == 0)
        )

    def counts(self) -> dict[str, int]:
        """Counts only (for very large sends whose records live in the ledger)."""
        return {
            "sent": self.sent,
            "sent_before": len(self.tally.sent_before),
            "refused": len(self.tally.refused),
            "unknown": 0,
            "total": len(self.items),
        }

    def summary(self, *, failed: bool, results_location: str | None = None, markable: bool = True) -> str:
        """Counts, then who was sent, refused, unknown and not attempted (by reason), and how to resolve."""
        tally = self.tally
        sent = tally.sent_before + tally.sent_now
        lines = [
            f"{self.vendor} send: {len(sent)} sent ({len(tally.sent_before)} by earlier tries), "
            f"{len(tally.refused)} refused, {len(tally.unknown)} unknown, "
            f"{len(tally.not_attempted)} not attempted."
        ]
        if sent and failed:
            lines.append(f"Confirmed sent: {name_some([i.label for i in sent])}.")
        if tally.refused:
            lines.append(f"Refused (not sent; a retry sends them again): {_by_reason(tally.refused)}.")
        if tally.not_attempted:
            lines.append(f"Not attempted (a retry sends them): {_by_reason(tally.not_attempted)}.")
        if tally.unknown and self.resolution_hint:
            lines.append(
                "Unknown (the request went out, or was about to, and its answer was not recorded: they MAY "
                f"have been delivered and are NOT re-sent automatically): {_by_reason(tally.unknown)}. "
                f"{self.resolution_hint}"
            )
        elif tally.unknown:
            mark = (
                "either mark them with airflow_provider_emailbr.operators.send.mark_send_results("
                "results_path, dag_id=…, task_id=…, run_id=…, outcome='sent' or 'not_sent') or "
                if markable
                else "if they were not delivered, "
            )
            lines.append(
                "Unknown (the request went out, or was about to, and its answer was not recorded: they MAY "
                f"have been delivered and are NOT re-sent automatically): {_by_reason(tally.unknown)}. To "
                f"resolve, check the platform's delivery report, then {mark}run the task again with "
                "resend_unknown=True."
            )
        if failed:
            where = f"{results_location} and " if results_location else ""
            lines.append(f"Per-item results: {where}the XCom 'send_results'.")
        return " ".join(lines)


class SendEngine:
    """Run one plan for one task instance (see the module docstring).

    :param plan: the validated send.
    :param hook: the vendor hook the plan's calls go through.
    :param identity: the task instance (the ledger's records are scoped to it).
    :param ledger: where attempts and outcomes are recorded, or ``None``.
    :param resend_unknown: send again what an earlier try left ``unknown``.
    :param concurrency: calls in flight at once.
    :param logger: the task's logger.
    """

    def __init__(
        self,
        plan: SendPlan,
        hook: Any,
        *,
        identity: RunIdentity,
        ledger: SendLedger | None,
        resend_unknown: bool = False,
        concurrency: int = 1,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.plan = plan
        self.hook = hook
        self.identity = identity
        self.ledger = ledger
        self.resend_unknown = resend_unknown
        self.concurrency = concurrency
        self.log = logger or log
        self.vendor = plan.vendor

    def run(self) -> SendResult:
        """Send what is pending; every item ends with a record."""
        items = self.plan.items
        keys = [i.key for i in items]
        if len(set(keys)) != len(keys):
            raise EmailBRInputError(f"{self.vendor}: the input lists the same item twice")
        started = time.monotonic()
        recorded = self.ledger.latest(self.identity) if self.ledger is not None else {}
        read_seconds = time.monotonic() - started
        self._check_input_unchanged(items, recorded)
        prior = self._by_item_key(recorded)
        result = SendResult(self.vendor, items, {}, Tally())
        if self.ledger is not None:
            started = time.monotonic()
            self._apply_resolution(prior)
            read_seconds += time.monotonic() - started
            result.resolution_hint = self.ledger.resolution_hint(self.identity)
        result.ledger_wait = read_seconds
        pending = self._settle_earlier_tries(items, prior, result)
        groups = list(self.plan.groups(pending))
        grouped = {i.key for g in groups for i in g}
        for item in pending:
            if item.key not in grouped:
                self._not_attempted(item, "nothing left to send it with", result)
        self._send_groups(groups, result)
        return result

    def _by_item_key(self, recorded: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """What earlier tries recorded (named as the ledger names items), by item key."""
        if self.ledger is None or not recorded:
            return {}
        key_of = self.ledger.key_of
        return {
            item.key: recorded[name] for item in self.plan.items if (name := key_of(item.key)) in recorded
        }

    def _apply_resolution(self, prior: dict[str, dict[str, Any]]) -> None:
        """Apply, once and before any request, what a person decided about unknown items (the ledger's
        :data:`~.ledger.RESOLUTION_KEY`): record them ``sent`` or ``not_sent`` as a manual resolution, then
        delete the key. An entry without ``keys`` resolves every unknown item that no other entry names (so
        a person names only the smaller group: the value stays under the store's size limit). A key that
        names no unknown item, or two entries without ``keys``, fail the try before anything is sent (an
        item already resolved the same way is accepted: a try killed between the record and the delete)."""
        assert self.ledger is not None
        resolutions = self.ledger.read_resolution()
        if resolutions is None:
            return
        by_key = {item.key: item for item in self.plan.items}
        unknown = [k for k in by_key if effective_outcome(prior.get(k)) == UNKNOWN]
        lines: list[dict[str, Any]] = []
        chosen: dict[str, str] = {}
        if sum(1 for r in resolutions if r.keys is None) > 1:
            raise EmailBRInputError(
                f"{self.vendor}: the resolution has more than one object without the field 'keys'; allowed: "
                "at most one (it resolves every unknown item the others do not name). Nothing was sent; "
                "correct or delete the key, then clear the task."
            )
        for resolution in sorted(resolutions, key=lambda r: r.keys is None):  # the one without keys last
            keys = (
                list(resolution.keys)
                if resolution.keys is not None
                else [k for k in unknown if k not in chosen]
            )
            invalid = [
                k
                for k in keys
                if (k in chosen and chosen[k] != resolution.outcome)
                or not (
                    k in unknown
                    or (
                        (prior.get(k) or {}).get("resolved") == MANUAL
                        and prior[k].get("outcome") == resolution.outcome
                    )
                )
            ]
            if invalid:
                raise EmailBRInputError(
                    f"{self.vendor}: the resolution's field 'keys' names {name_some(invalid, 5)}, which "
                    f"{'is' if len(invalid) == 1 else 'are'} not (or not only) unknown items of this task "
                    f"instance; allowed: keys of its unknown items ({name_some(unknown, 5) or 'none'}), each "
                    "with one outcome. Nothing was sent; correct or delete the key, then clear the task."
                )
            for key in keys:
                if key in unknown and key not in chosen:
                    chosen[key] = resolution.outcome
                    item = by_key[key]
                    lines.append(
                        {
                            "key": key,
                            **_slot(item),
                            **self.identity.stamp(),
                            "outcome": resolution.outcome,
                            "resolved": MANUAL,
                        }
                    )
        if lines:
            self.ledger.write(lines)
        self.ledger.clear_resolution()
        for line in lines:
            prior[line["key"]] = {
                "outcome": line["outcome"],
                "try_number": self.identity.try_number,
                "resolved": MANUAL,
            }
        self.log.info(
            "%s: manual resolution applied: %d unknown item(s) recorded sent, %d not_sent (sent now)",
            self.vendor,
            sum(1 for o in chosen.values() if o == SENT),
            sum(1 for o in chosen.values() if o == NOT_SENT),
        )

    def _settle_earlier_tries(
        self, items: list[SendItem], prior: Mapping[str, Mapping[str, Any]], result: SendResult
    ) -> list[SendItem]:
        pending: list[SendItem] = []
        tally = result.tally
        for item in items:
            record = prior.get(item.key)
            outcome = effective_outcome(record)
            if outcome == SENT:
                result.results[item.key] = {**self.plan.blank(item), **_public(record), "outcome": SENT}
                tally.sent_before.append(item)
            elif outcome == UNKNOWN and not self.resend_unknown:
                reason = str((record or {}).get("error") or "a request was sent and no answer recorded")
                result.results[item.key] = {
                    **self.plan.blank(item),
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
                self.vendor,
                len(tally.sent_before),
                len(tally.unknown),
                "" if not self.resend_unknown else " (resend_unknown=True: unknown ones are sent again)",
            )
        return pending

    def _check_input_unchanged(self, items: list[SendItem], prior: Mapping[str, Mapping[str, Any]]) -> None:
        """Fail when an earlier try's item in the same slot had another key (the input changed).

        ``prior`` is keyed as the ledger names items (:meth:`SendLedger.key_of`).
        """
        key_of = self.ledger.key_of if self.ledger is not None else str
        by_slot: dict[str, tuple[str, str | None]] = {}
        for key, record in prior.items():
            slot = record.get("slot")
            if slot is not None and effective_outcome(record) in (SENT, UNKNOWN):
                by_slot[str(slot)] = (key, effective_outcome(record))
        changed = [
            f"{item.label} (now {item.key}, before {by_slot[item.slot][0]}: {by_slot[item.slot][1]})"
            for item in items
            if item.slot is not None and item.slot in by_slot and by_slot[item.slot][0] != key_of(item.key)
        ]
        if changed:
            raise EmailBRInputError(
                f"{self.vendor}: the input changed since an earlier try, which already sent (or may have "
                f"sent) other messages in the same positions: {name_some(changed, 5)}. Sending now could "
                "duplicate or skip messages; restore the original input (or send it in a new DAG run)."
            )

    def _send_groups(self, groups: list[list[SendItem]], result: SendResult) -> None:
        """Send the groups (``concurrency`` at a time), recording intents before and outcomes after.

        A ledger that writes cheaply (the results file) gets an intent right before each request and each
        outcome as it arrives. A costly one (``coalesce``: the task state store) gets one intent per window
        of requests (sized by :class:`WindowSizer`), the outcomes carried along with the next write, its
        writes done by one background thread (:class:`LedgerWriter`), and the lag rule of
        :class:`_LagGate`: the requests of the try are numbered, each intent says the lag ``L`` in force,
        and request ``q`` is held until the outcomes of every request before ``q - L`` are durable. The
        next window's intent is written while the current window's last request is in flight, and no
        request of a window goes out before its intent is durable. Requests of a window that were never
        sent (the try stopped) are recorded ``not_sent`` at the end, so the next try sends them.
        """
        remaining = deque(groups)
        total = len(groups)
        done_count = 0
        stop: str | None = None
        last_progress = time.monotonic()
        hook = self.hook
        pool = None
        ledger = self.ledger
        coalesce = ledger is not None and ledger.coalesce
        slots = self.concurrency if self.concurrency > 1 and len(groups) > 1 else 1
        sizer = WindowSizer(slots) if coalesce else None
        gate = _LagGate(LedgerWriter(ledger, sizer), result) if coalesce and ledger is not None else None
        covered = 0  # groups at the head of ``remaining`` covered by an intent (written or being written)
        intent: Any = None  # the write of the intent covering them, while it may still be in progress
        numbers: dict[int, dict[str, int]] = {}  # request number and lag of each group with an intent

        def window_intents(size: int) -> list[dict[str, Any]]:
            lines = []
            lag = slots + size - 1
            for group, _ in zip(remaining, range(size), strict=False):
                if gate is not None:
                    numbers[id(group)] = {"request": len(numbers), "lag": lag}
                number = numbers.get(id(group), {})
                lines += [
                    {"key": i.key, **_slot(i), **self.identity.stamp(), "outcome": ATTEMPT, **number}
                    for i in group
                ]
            return lines

        if slots > 1:
            from concurrent.futures import ThreadPoolExecutor

            from airflow_provider_emailbr.utils.throttle import Throttle

            hook.settings  # noqa: B018 - read the connection once, before the workers share the hook
            hook.session  # noqa: B018
            hook = hook.with_options(throttle=Throttle())
            pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="emailbr-send")
        in_flight: dict[Any, list[SendItem]] = {}
        try:
            while remaining or in_flight:
                while remaining and stop is None and len(in_flight) < slots:
                    if ledger is not None and covered == 0:
                        size = sizer.size(done_count) if sizer else 1
                        if gate is not None:
                            intent = gate.write(window_intents(size))
                        else:
                            waited = time.monotonic()
                            ledger.write(window_intents(size))
                            result.ledger_wait += time.monotonic() - waited
                        covered = min(size, len(remaining))
                    if gate is not None and not gate.admits(numbers[id(remaining[0])], bool(in_flight)):
                        break  # an earlier request's answer is needed first: wait for the calls in flight
                    if intent is not None:
                        waited = time.monotonic()
                        intent.result()  # durable before any request of its window goes out
                        result.ledger_wait += time.monotonic() - waited
                        intent = None
                    group = remaining.popleft()
                    covered -= 1
                    if gate is not None and sizer is not None and covered == 0 and remaining:
                        size = sizer.size(done_count)  # the next window's intent, while this request runs
                        intent = gate.write(window_intents(size))
                        covered = min(size, len(remaining))
                    if pool is None:
                        in_flight[_Done(self.plan.send(hook, group))] = group
                    else:
                        in_flight[pool.submit(self.plan.send, hook, group)] = group
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
                    number = numbers.get(id(group), {})
                    lines = self._record(group, records, result, number)
                    if gate is not None:
                        gate.answered(number["request"], lines)
                    elif ledger is not None:
                        waited = time.monotonic()
                        ledger.write(lines)
                        result.ledger_wait += time.monotonic() - waited
                    done_count += 1
                    if reason and stop is None:
                        stop = reason
                        self.log.error(
                            "%s: stopping after this request: %s; nothing more is sent in this try",
                            self.vendor,
                            reason,
                        )
                if time.monotonic() - last_progress >= PROGRESS_EVERY or (not remaining and not in_flight):
                    last_progress = time.monotonic()
                    self.log.info(
                        "%s: %d/%d request(s) done: %d sent, %d refused, %d unknown",
                        self.vendor,
                        done_count,
                        total,
                        len(result.tally.sent_now),
                        len(result.tally.refused),
                        len(result.tally.unknown),
                    )
            for index, group in enumerate(remaining):
                for item in group:
                    self._not_attempted(item, f"not attempted: {stop}", result)
                if gate is not None and index < covered:  # its intent was written: say it never went out
                    number = numbers[id(group)]
                    gate.answered(
                        number["request"],
                        [
                            {
                                "key": item.key,
                                **_slot(item),
                                **self.identity.stamp(),
                                "outcome": NOT_SENT,
                                **number,
                            }
                            for item in group
                        ],
                    )
            if gate is not None:
                gate.finish()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            if gate is not None:
                gate.writer.close()
        if sizer is not None and sizer.writes:
            self.log.info(
                "%s: %d write(s) to %s took %.2f s in the background; the send waited %.2f s for its ledger",
                self.vendor,
                sizer.writes,
                ledger.location if ledger is not None else "the ledger",
                sizer.write_seconds,
                result.ledger_wait,
            )

    def _not_attempted(self, item: SendItem, reason: str, result: SendResult) -> None:
        result.results[item.key] = {**self.plan.blank(item), "outcome": NOT_SENT, "error": reason}
        result.tally.not_attempted.append((item, reason))

    def _record(
        self,
        group: list[SendItem],
        records: list[dict[str, Any]],
        result: SendResult,
        number: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """Tally the records of one call; return its ledger lines (with the request's ``number``, for a
        ledger that names requests)."""
        lines = []
        tally = result.tally
        for item, record in zip(group, records, strict=True):
            result.results[item.key] = record
            lines.append(
                {"key": item.key, **_slot(item), **self.identity.stamp(), **record, **(number or {})}
            )
            outcome = record["outcome"]
            if outcome == SENT:
                tally.sent_now.append(item)
            elif outcome == UNKNOWN:
                tally.unknown.append((item, str(record.get("error") or "")))
            else:
                tally.refused.append((item, str(record.get("error") or "")))
        return lines


class LedgerWriter:
    """Writes to a costly ledger in one background thread, in order, so that they overlap the requests.

    :meth:`submit` returns a future that is done when the write is durable (its ``result()`` raises the
    ledger's error, e.g. an unreachable task state store); :meth:`drain` waits for every write so far.
    The task state store's client is thread-safe (the task runner's channel to its supervisor is locked).
    """

    __slots__ = ("_last", "_pool", "ledger", "sizer")

    def __init__(self, ledger: SendLedger, sizer: WindowSizer | None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.ledger = ledger
        self.sizer = sizer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emailbr-ledger")
        self._last: Any = None

    def _write(self, lines: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        self.ledger.write(lines)
        if self.sizer is not None:
            self.sizer.wrote(time.monotonic() - started)

    def submit(self, lines: list[dict[str, Any]]) -> Any:
        """Queue one write; the future of its completion."""
        self._last = self._pool.submit(self._write, lines)
        return self._last

    def drain(self) -> None:
        """Wait until every queued write is durable (raising the first failure)."""
        if self._last is not None:
            self._last.result()

    def close(self) -> None:
        """Stop the thread once the queued writes ran."""
        self._pool.shutdown(wait=True)


class _LagGate:
    """The lag rule of a costly ledger: request ``q`` of a try goes out only once the outcomes of every
    request ``r < q - L`` are durable, ``L`` being the lag its intent records (``"l"``).

    It is what lets a retry tell "never left" from "may have been delivered" after a worker was killed:
    when the ledger holds no outcome for some request ``r``, no request beyond ``r + L`` can have been sent
    (:meth:`~airflow_provider_emailbr.sending.ledger.StateLedger.latest` infers them ``not_sent``), so at most
    ``L + 1`` requests are left ``unknown``. ``L`` is the calls in flight plus the window minus one: the
    outcomes ride along with the next window's intent, so in steady sending the gate never holds anything
    and costs no write. It also owns the outcomes waiting for that next write. When it does hold a request
    (an earlier call is slow, or the last window's intent carried too little), it forces a write of the
    outcomes it has and waits for it rather than for an intent that may never come; it only asks the engine
    to wait for answers when the missing outcome belongs to a call still in flight, so it cannot deadlock.
    """

    __slots__ = (
        "_answered_pending",
        "_durable",
        "_unwritten",
        "_writes",
        "result",
        "settled_below",
        "writer",
    )

    def __init__(self, writer: LedgerWriter, result: SendResult) -> None:
        self.writer = writer
        self.result = result
        #: Every request below this number has a durable outcome.
        self.settled_below = 0
        self._durable: set[int] = set()  # requests above ``settled_below`` whose outcomes are durable
        self._unwritten: list[dict[str, Any]] = []  # outcome lines waiting for the next write
        self._answered_pending: list[int] = []  # the requests those lines answer
        self._writes: deque[tuple[Any, list[int]]] = deque()  # submitted writes, the requests they settle

    def answered(self, request: int, lines: list[dict[str, Any]]) -> None:
        """Keep the outcome lines of ``request`` for the next write."""
        self._unwritten.extend(lines)
        self._answered_pending.append(request)

    def write(self, intents: list[dict[str, Any]]) -> Any:
        """Submit one write: the outcomes kept so far, then ``intents``; the future of its durability."""
        lines, self._unwritten = self._unwritten + intents, []
        future = self.writer.submit(lines)
        self._writes.append((future, self._answered_pending))
        self._answered_pending = []
        return future

    def admits(self, number: Mapping[str, int], anything_in_flight: bool) -> bool:
        """Whether the request ``number`` (its ``request`` and ``lag``) may go out now.

        When it may not, the kept outcomes are written and every submitted write waited for; ``False``
        then means an outcome it needs belongs to a call still in flight (``anything_in_flight``).
        """
        request, lag = number["request"], number["lag"]
        self._settle()
        if self.settled_below >= request - lag:
            return True
        waited = time.monotonic()
        self._wait_for_writes()  # the writes in progress (the window's intent) may carry the outcomes
        if self.settled_below < request - lag and self._answered_pending:
            self.write([])  # force a write of the outcomes kept, rather than wait for a next intent
            self._wait_for_writes()
        self.result.ledger_wait += time.monotonic() - waited
        if self.settled_below >= request - lag:
            return True
        if not anything_in_flight:  # every earlier request was sent and answered: this cannot happen
            raise RuntimeError(
                f"send engine: request {request} held for request {self.settled_below}, which is neither "
                "answered nor in flight"
            )
        return False

    def _wait_for_writes(self) -> None:
        """Wait until every submitted write is durable (raising the store's error: nothing more is sent
        without a record)."""
        while self._writes:
            self._writes[0][0].result()
            self._settle()

    def finish(self) -> None:
        """Write the outcomes still kept and wait until every write is durable."""
        waited = time.monotonic()
        if self._unwritten:
            self.write([])
        self.writer.drain()
        self._settle()
        self.result.ledger_wait += time.monotonic() - waited

    def _settle(self) -> None:
        """Count the requests whose outcomes' writes are done (writes complete in order)."""
        while self._writes and self._writes[0][0].done():
            future, requests = self._writes.popleft()
            future.result()
            self._durable.update(requests)
            while self.settled_below in self._durable:
                self._durable.discard(self.settled_below)
                self.settled_below += 1


class WindowSizer:
    """How many requests one durable intent covers, so that ledger writes stay a small share of a send.

    Each write to a costly ledger (the task state store: ~20–30 ms under ``dag.test()`` with SQLite) covers
    a window of requests. The window starts at the requests in flight (``slots``) and is then sized from
    what was measured: enough requests that the writes take at most :data:`WRITE_SHARE` of the sending
    time, but no more than :data:`MAX_WINDOW_SECONDS` of sending nor :data:`MAX_WINDOW_REQUESTS` requests,
    because a worker killed mid-window leaves the whole window ``unknown`` (never re-sent automatically).
    """

    __slots__ = ("slots", "started", "write_seconds", "writes")

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.started = time.monotonic()
        self.write_seconds = 0.0
        self.writes = 0

    def wrote(self, seconds: float) -> None:
        """Account one write."""
        self.write_seconds += seconds
        self.writes += 1

    def size(self, done_requests: int) -> int:
        """Requests the next intent covers, after ``done_requests`` finished."""
        if not done_requests or not self.writes:
            return self.slots
        per_request = max(time.monotonic() - self.started, 1e-6) / done_requests
        per_write = self.write_seconds / self.writes
        wanted = math.ceil(per_write / (WRITE_SHARE * per_request))
        ceiling = max(self.slots, min(MAX_WINDOW_REQUESTS, int(MAX_WINDOW_SECONDS / per_request)))
        return max(self.slots, min(wanted, ceiling))


class _Done:
    """A finished inline call with a future's ``result()``, for sequential sending."""

    def __init__(self, value: CallResult) -> None:
        self.value = value

    def result(self) -> CallResult:
        return self.value


def _slot(item: SendItem) -> dict[str, Any]:
    return {"slot": item.slot} if item.slot is not None else {}


def _public(record: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (record or {}).items() if k not in _PRIVATE_FIELDS}


def _by_reason(entries: Sequence[tuple[SendItem, str]], max_reasons: int = 5) -> str:
    """``reason: a, b, c; other reason: d`` — items grouped by their (shortened) reason."""
    groups: dict[str, list[str]] = {}
    for item, reason in entries:
        groups.setdefault(shorten(reason), []).append(item.label)
    parts = [f"[{reason}] {name_some(labels)}" for reason, labels in list(groups.items())[:max_reasons]]
    if len(groups) > max_reasons:
        parts.append(f"… {len(groups) - max_reasons} more reason(s)")
    return "; ".join(parts)
