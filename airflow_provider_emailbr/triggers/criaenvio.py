"""Wait for a CriaEnvio campaign in the triggerer: :class:`CriaEnvioCampaignTrigger`.

The trigger only reads (``GET /envios/{id}``), so a triggerer restart — which runs ``run()`` again from the
start — can never cause a side effect. Everything is asynchronous: the connection is fetched with Airflow's
async helpers, requests go through the hook's :meth:`~airflow_provider_emailbr.hooks.base.EmailBRHook.acall`
(one pooled ``httpx.AsyncClient`` per event loop, shared by every trigger), and waits are ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_emailbr.exceptions import EmailBRError
from airflow_provider_emailbr.hooks.criaenvio import (
    ENDPOINTS,
    CriaEnvioHook,
    campaign_progress,
    campaign_stats,
)
from airflow_provider_emailbr.utils.report_windows import utcnow
from airflow_provider_emailbr.utils.retry import RetryPolicy, is_transient
from airflow_provider_emailbr.waiting.criaenvio import SUCCESS, campaign_verdict

#: The hook's own retries are off: the trigger's loop retries transient errors without a bound.
NO_RETRIES = RetryPolicy(max_retries=0)
#: First wait after a transient error (the poll interval when shorter); it doubles on each error in a row.
MIN_BACKOFF = 1.0
#: Shortest first wait after a transient error, however short the poll interval.
_MIN_FIRST_WAIT = 0.05
#: Campaign reads in flight at once per event loop, whatever the number of triggers. It keeps the shared
#: HTTP client's pool (20 kept-alive connections) from queueing: httpcore's pool costs CPU in proportion to
#: its queue on every request, so a thousand simultaneous reads would starve the loop.
MAX_CONCURRENT_READS = 20
#: Longest random delay before a trigger's first read, so triggers started together (a triggerer restart)
#: do not all poll at the same instants.
FIRST_READ_SPREAD = 5.0

_read_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def read_slots() -> asyncio.Semaphore:
    """The running loop's semaphore of :data:`MAX_CONCURRENT_READS` campaign reads."""
    loop = asyncio.get_running_loop()
    slots = _read_slots.get(loop)
    if slots is None:
        slots = _read_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_READS)
    return slots


class CriaEnvioCampaignTrigger(BaseTrigger):
    """Poll a CriaEnvio campaign until it ends, then fire one event.

    Events (``TriggerEvent.payload``):

    - ``{"status": "success", "campaign_id", "campaign": stats}`` when the campaign is ``Concluído``;
    - ``{"status": "cancelled", "campaign_id", "campaign": stats, "message"}`` when it is ``Cancelado``;
    - ``{"status": "paused", ...}`` when it is ``Suspenso`` and ``fail_on_paused`` is set;
    - ``{"status": "error", "campaign_id", "message"}`` on a permanent error (unknown campaign, wrong key,
      missing connection, an answer that is not JSON).

    ``stats`` is :func:`~airflow_provider_emailbr.hooks.criaenvio.campaign_stats` of the campaign view, and
    the verdict is :func:`~airflow_provider_emailbr.waiting.criaenvio.campaign_verdict`, shared with the
    sensor.
    Transient errors (:func:`~airflow_provider_emailbr.utils.retry.is_transient`: HTTP 429, 5xx, timeouts,
    dropped connections) are logged and retried after :attr:`retry_policy`'s wait (``Retry-After`` when
    given, else exponential backoff with jitter), capped at ``max_backoff``; they never end the wait (the
    task's deferral timeout does). The first read comes after a random delay of up to
    ``min(poll_interval, 5 s)``, and at most :data:`MAX_CONCURRENT_READS` reads are in flight per event loop,
    so thousands of waits in one triggerer neither poll in step nor flood the shared HTTP client.

    :param campaign_id: the campaign (``envio``) id.
    :param criaenvio_conn_id: the CriaEnvio connection.
    :param poll_interval: seconds between two reads of the campaign.
    :param fail_on_paused: end with a ``paused`` event when the campaign is ``Suspenso`` (by default a paused
        campaign keeps the trigger waiting).
    :param max_backoff: longest wait in seconds after a transient error (also caps ``Retry-After``).
    """

    def __init__(
        self,
        *,
        campaign_id: str,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        poll_interval: float = 60.0,
        fail_on_paused: bool = False,
        max_backoff: float = 300.0,
    ) -> None:
        super().__init__()
        self.campaign_id = str(campaign_id)
        self.criaenvio_conn_id = str(criaenvio_conn_id)
        self.poll_interval = float(poll_interval)
        self.fail_on_paused = bool(fail_on_paused)
        self.max_backoff = float(max_backoff)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments: ids, numbers and a flag — never a credential."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "campaign_id": self.campaign_id,
                "criaenvio_conn_id": self.criaenvio_conn_id,
                "poll_interval": self.poll_interval,
                "fail_on_paused": self.fail_on_paused,
                "max_backoff": self.max_backoff,
            },
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """The waits after transient errors: from ``min(poll_interval, MIN_BACKOFF)``, doubling, with jitter,
        at most ``max_backoff``; a ``Retry-After`` is honoured up to ``max_backoff``. The loop is unbounded
        (the deferral timeout ends it), so only the policy's waits are used."""
        first = max(_MIN_FIRST_WAIT, min(self.poll_interval, MIN_BACKOFF))
        return RetryPolicy(backoff_base=first, backoff_max=self.max_backoff, max_retry_after=self.max_backoff)

    def backoff(self, failures: int, error: BaseException | None = None) -> float:
        """Seconds to wait after the ``failures``-th transient error in a row, ``error`` being the last."""
        return self.retry_policy.wait_seconds(error, failures)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the campaign every ``poll_interval`` seconds; yield one event when the wait is over."""
        hook = CriaEnvioHook(criaenvio_conn_id=self.criaenvio_conn_id, retry_policy=NO_RETRIES)
        endpoint = ENDPOINTS["campaign_view"]
        failures = 0
        policy = self.retry_policy
        await asyncio.sleep(random.uniform(0, min(self.poll_interval, FIRST_READ_SPREAD)))
        while True:
            try:
                async with read_slots():
                    answer = await hook.acall(endpoint, path_params={"id": self.campaign_id})
            except EmailBRError as err:
                if not is_transient(err):
                    yield self._error(err)
                    return
                failures += 1
                wait = policy.wait_seconds(err, failures)
                self.log.warning(
                    "Campaign %s: transient error #%d (%s); next read in %.1f s.",
                    self.campaign_id,
                    failures,
                    err,
                    wait,
                )
                await asyncio.sleep(wait)
                continue
            except Exception as err:  # a missing connection, an invalid time-zone extra …
                yield self._error(err)
                return
            failures = 0
            view = (answer or {}).get("data") if isinstance(answer, dict) else None
            if not isinstance(view, dict):
                yield self._error(ValueError(f"unexpected answer without 'data': {str(answer)[:200]}"))
                return
            stats = campaign_stats(view, hook.timezone)
            self.log.info("Campaign %s: %s.", self.campaign_id, campaign_progress(stats))
            event = self._event_for(stats)
            if event is not None:
                yield event
                return
            await asyncio.sleep(self.poll_interval)

    def _event_for(self, stats: dict[str, Any]) -> TriggerEvent | None:
        """The final event when the shared verdict ends the wait, else ``None`` (keep polling)."""
        verdict = campaign_verdict(self.campaign_id, stats, fail_on_paused=self.fail_on_paused)
        if not verdict.done:
            if verdict.message:
                self.log.info(verdict.message)
            return None
        payload: dict[str, Any] = {
            "status": verdict.outcome,
            "campaign_id": self.campaign_id,
            "campaign": stats,
        }
        if verdict.outcome != SUCCESS:
            payload["message"] = verdict.message
        return TriggerEvent(payload)

    def _error(self, err: BaseException) -> TriggerEvent:
        message = f"{type(err).__name__}: {err}"
        self.log.error("Campaign %s: giving up the wait: %s", self.campaign_id, message)
        return TriggerEvent({"status": "error", "campaign_id": self.campaign_id, "message": message})


#: ``kind`` of the campaign-finished cursor (see :mod:`airflow_provider_emailbr.events.state`).
CAMPAIGN_FINISHED_CURSOR = "criaenvio-campaign-finished"


class CriaEnvioCampaignFinishedEventTrigger(CriaEnvioCampaignTrigger, BaseEventTrigger):
    """Fire one asset event when a CriaEnvio campaign reaches a final status, for an ``AssetWatcher``.

    The campaign is read as :class:`CriaEnvioCampaignTrigger` reads it (same requests, same shared
    verdict, :func:`~airflow_provider_emailbr.waiting.criaenvio.campaign_verdict`; transient errors retried
    with backoff). ``Concluído`` and ``Cancelado`` are final: the first read that finds one fires **one**
    event, ``{"status": "success" | "cancelled", "campaign_id", "campaign": stats[, "message"]}``, whose
    payload reaches the DAG in the asset event's ``extra["payload"]``. A paused campaign is not final.

    A final status stays true forever, so the trigger records that it fired in a durable cursor
    (:func:`~airflow_provider_emailbr.events.state.trigger_cursor`: the watched asset's state store, or
    ``cursor_path``) *before* firing, and after a triggerer restart it only waits, without reading the
    campaign again. The trade-off: a crash in the instant between that record and the triggerer's own
    recording of the event loses the event rather than firing it twice.

    A permanent error (unknown campaign, wrong key, missing connection) fires nothing: it is logged as an
    error and the campaign is read again after ``max_backoff`` seconds, so fixing the connection is enough.

    :param campaign_id: the campaign (``envio``) id.
    :param criaenvio_conn_id: the CriaEnvio connection.
    :param poll_interval: seconds between two reads of the campaign.
    :param max_backoff: longest wait in seconds after a transient error; also the wait after a permanent one.
    :param cursor_path: a local path or object storage URI of the cursor file (needed on Airflow 3.2; when
        given it is used instead of the asset state store).
    :param cursor_conn_id: the object store's connection for ``cursor_path``.
    """

    def __init__(
        self,
        *,
        campaign_id: str,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        poll_interval: float = 60.0,
        max_backoff: float = 300.0,
        cursor_path: str | None = None,
        cursor_conn_id: str | None = None,
    ) -> None:
        super().__init__(
            campaign_id=campaign_id,
            criaenvio_conn_id=criaenvio_conn_id,
            poll_interval=poll_interval,
            fail_on_paused=False,
            max_backoff=max_backoff,
        )
        self.cursor_path = str(cursor_path) if cursor_path else None
        self.cursor_conn_id = str(cursor_conn_id) if cursor_conn_id else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments: ids, numbers and a path — never a credential."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "campaign_id": self.campaign_id,
                "criaenvio_conn_id": self.criaenvio_conn_id,
                "poll_interval": self.poll_interval,
                "max_backoff": self.max_backoff,
                "cursor_path": self.cursor_path,
                "cursor_conn_id": self.cursor_conn_id,
            },
        )

    @property
    def cursor_key(self) -> str:
        """The cursor's key among the watched asset's state keys."""
        return f"emailbr.criaenvio.campaign_finished.{self.criaenvio_conn_id}.{self.campaign_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Fire once when the campaign ends (unless the cursor says it already did), then only wait."""
        from airflow_provider_emailbr.events.state import trigger_cursor

        cursor = trigger_cursor(
            self,
            key=self.cursor_key,
            kind=CAMPAIGN_FINISHED_CURSOR,
            cursor_path=self.cursor_path,
            cursor_conn_id=self.cursor_conn_id,
        )
        fired = await cursor.load()
        if fired:
            self.log.info(
                "Campaign %s: its final status (%s) was already fired; nothing more to watch.",
                self.campaign_id,
                fired.get("status"),
            )
        else:
            event = await self._final_event()
            await cursor.save({"status": event.payload["status"], "fired_at": utcnow().isoformat()})
            yield event
        await asyncio.Event().wait()  # a final status never changes: idle until the watcher is removed

    async def _final_event(self) -> TriggerEvent:
        """The campaign-finished event, reading through :meth:`CriaEnvioCampaignTrigger.run`; permanent
        errors are logged and the campaign is read again after ``max_backoff`` seconds."""
        while True:
            reads = super().run()
            try:
                async for event in reads:
                    if event.payload.get("status") != "error":
                        return event
            finally:
                await reads.aclose()
            self.log.error(
                "Campaign %s: cannot be watched now; reading it again in %.0f s.",
                self.campaign_id,
                self.max_backoff,
            )
            await asyncio.sleep(self.max_backoff)
