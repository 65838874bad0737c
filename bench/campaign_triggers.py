"""How many CriaEnvio campaign waits one triggerer event loop carries: memory, polls per second, loop stalls.

Run::

    python bench/campaign_triggers.py [--triggers 1000] [--latency-ms 50] [--poll-interval 1]

The sandbox runs in its own process (``SandboxServer``) and answers every CriaEnvio request after
``--latency-ms`` milliseconds. ``--triggers`` campaigns are created, then as many
:class:`~airflow_provider_emailbr.triggers.campaigns.CriaEnvioCampaignTrigger` run concurrently in one
asyncio loop, as in a triggerer. The mix exercises every way a wait ends, and the transient errors it must
survive:

- most campaigns simply complete → ``success``;
- 5 % are paused for a few seconds and resumed → still ``success`` (a pause keeps the trigger waiting);
- 5 % are cancelled while waited on → ``cancelled``;
- 4 % are paused with ``fail_on_paused`` → ``paused``;
- 1 % do not exist → ``error``;
- 1 % of the reads answer HTTP 429 (``Retry-After: 0.5``) and 1 % HTTP 503: retried, never ending a wait.

Two phases run the same scenario: the first under ``tracemalloc`` measures the memory held per waiting
trigger (growth of traced memory once every trigger has polled at least once, divided by their number); the
second, without tracing overhead, measures polls per second and the longest event-loop stall (a heartbeat
coroutine sleeps 10 ms in a loop and records how late it wakes up). Both check that every trigger ended with
the expected event. Modules are imported and the shared HTTP client is warmed up before measuring, as in a
running triggerer (where Airflow has already imported ``httpx``).

**Garbage collection.** Each read through ``httpx`` leaves a few dozen objects in reference cycles, so
CPython's cyclic collector runs a full pass every few seconds; a full pass walks *every* object of the
process, and Airflow's imports alone are ~150,000 objects, so it pauses the loop for ~100-150 ms on this
machine whatever the triggers do. By default the benchmark therefore calls ``gc.freeze()`` once after start-up
(as Airflow's DAG processor does before forking), which moves the start-up heap out of those passes; run
with ``--no-gc-freeze`` to see the unfrozen figure. Per-poll log lines of the triggers are silenced (the
benchmark measures the triggers, not the log handler).

Targets: ≤ 100 KB per waiting trigger, no stall over 100 ms, every trigger ends with the right event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="emailbr-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")  # no per-poll log lines

from emailbr_sandbox import SandboxServer

MEMORY_TARGET_KB = 100.0
STALL_TARGET_MS = 100.0
HEARTBEAT = 0.01
TEST_LIST = "tt"  # the sandbox's seeded "Lista Teste" (one contact)


@dataclass
class Plan:
    """Which campaign gets which treatment, and the event its trigger must end with."""

    ids: list[str]
    expected: list[str]
    paused_then_resumed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fail_on_paused: list[str] = field(default_factory=list)


@dataclass
class PhaseResult:
    statuses: Counter
    wrong: int
    polls: int
    transient: int
    seconds: float
    first_round_seconds: float
    memory_per_trigger_kb: float | None
    stalls_ms: list[float]


def create_campaigns(n: int) -> Plan:
    """Create ``n`` campaigns to start now (latency off) and decide each one's treatment."""
    from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook

    hook = CriaEnvioHook()
    message = hook.create_message(assunto="Bench", html="<p>bench</p>", nome="bench")["data"]["id"]
    n_unknown = max(1, n // 100)
    n_resumed = n // 20
    n_cancelled = n // 20
    n_fail_paused = n // 25
    created = [
        hook.create_campaign(message_id=message, list_ids=[TEST_LIST], start_at="agora")["data"]["id"]
        for _ in range(n - n_unknown)
    ]
    hook.close()
    plan = Plan(ids=[], expected=[])
    for i, campaign_id in enumerate(created):
        if i < n_resumed:
            plan.paused_then_resumed.append(campaign_id)
            expected = "success"
        elif i < n_resumed + n_cancelled:
            plan.cancelled.append(campaign_id)
            expected = "cancelled"
        elif i < n_resumed + n_cancelled + n_fail_paused:
            plan.fail_on_paused.append(campaign_id)
            expected = "paused"
        else:
            expected = "success"
        plan.ids.append(campaign_id)
        plan.expected.append(expected)
    for i in range(n_unknown):
        plan.ids.append(f"unknown{i}")
        plan.expected.append("error")
    return plan


def control_thread(plan: Plan, started: threading.Event) -> threading.Thread:
    """Pause, resume and cancel campaigns from other threads while the triggers wait (as users would)."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook

    local = threading.local()

    def hook() -> CriaEnvioHook:
        if not hasattr(local, "hook"):
            local.hook = CriaEnvioHook()
        return local.hook

    def run() -> None:
        started.wait()
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="campaign-control") as pool:
            time.sleep(1.5)
            list(pool.map(lambda c: hook().pause_campaign(c), plan.paused_then_resumed + plan.fail_on_paused))
            time.sleep(1.0)
            list(pool.map(lambda c: hook().cancel_campaign(c), plan.cancelled))
            time.sleep(2.0)
            list(pool.map(lambda c: hook().resume_campaign(c), plan.paused_then_resumed))

    thread = threading.Thread(target=run, name="campaign-control", daemon=True)
    thread.start()
    return thread


async def run_phase(plan: Plan, poll_interval: float, measure_memory: bool) -> PhaseResult:
    """Run one trigger per campaign of ``plan`` in this loop; measure what the phase is for."""
    from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
    from airflow_provider_emailbr.triggers.campaigns import CriaEnvioCampaignTrigger

    loop = asyncio.get_running_loop()
    polled: set[str] = set()
    counts = Counter()
    original_acall = CriaEnvioHook.acall

    async def counting_acall(self: CriaEnvioHook, endpoint: Any, **kwargs: Any) -> Any:
        counts["polls"] += 1
        try:
            return await original_acall(self, endpoint, **kwargs)
        except Exception as err:
            if getattr(err, "status", None) in (429, 503):
                counts["transient"] += 1
            raise
        finally:
            polled.add(kwargs["path_params"]["id"])

    CriaEnvioHook.acall = counting_acall  # type: ignore[method-assign]
    stalls: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(HEARTBEAT)
            stalls.append((loop.time() - before - HEARTBEAT) * 1000)

    fail_on_paused = set(plan.fail_on_paused)
    results: list[str | None] = [None] * len(plan.ids)

    async def wait_for(index: int, trigger: CriaEnvioCampaignTrigger) -> None:
        async for event in trigger.run():
            results[index] = event.payload["status"]

    started = threading.Event()
    controller = control_thread(plan, started)
    memory_kb: float | None = None
    if measure_memory:
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
    # as a triggerer does, build the triggers (deserialised from their kwargs) before they run
    triggers = [
        CriaEnvioCampaignTrigger(
            campaign_id=cid,
            poll_interval=poll_interval,
            fail_on_paused=cid in fail_on_paused,
            max_backoff=5.0,
        )
        for cid in plan.ids
    ]
    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(wait_for(i, t)) for i, t in enumerate(triggers)]
    del triggers
    started.set()
    while len(polled) < len(plan.ids):
        await asyncio.sleep(0.05)
    first_round = time.perf_counter() - t0
    if measure_memory:
        waiting = sum(1 for r in results if r is None)
        grown = tracemalloc.get_traced_memory()[0] - baseline
        memory_kb = grown / waiting / 1024
        tracemalloc.stop()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - t0
    done.set()
    await beat
    await asyncio.to_thread(controller.join)
    CriaEnvioHook.acall = original_acall  # type: ignore[method-assign]
    wrong = sum(1 for got, want in zip(results, plan.expected, strict=True) if got != want)
    return PhaseResult(
        statuses=Counter(results),
        wrong=wrong,
        polls=counts["polls"],
        transient=counts["transient"],
        seconds=seconds,
        first_round_seconds=first_round,
        memory_per_trigger_kb=memory_kb,
        stalls_ms=stalls,
    )


async def warm_up() -> None:
    """Import what the triggers import and open the shared client, as a running triggerer already has."""
    from airflow_provider_emailbr.hooks.criaenvio import ENDPOINTS, CriaEnvioHook
    from airflow_provider_emailbr.triggers.campaigns import CriaEnvioCampaignTrigger

    CriaEnvioCampaignTrigger(campaign_id="warm-up")
    hook = CriaEnvioHook()
    with contextlib.suppress(Exception):  # an unknown campaign: only the imports and the pool matter here
        await hook.acall(ENDPOINTS["campaign_view"], path_params={"id": "warm-up"})


def phase(server: SandboxServer, args: argparse.Namespace, measure_memory: bool) -> PhaseResult:
    client = server.client
    client.reset()
    client.config(latency_ms={"criaenvio": 0}, campaign_seconds=args.campaign_seconds)
    plan = create_campaigns(args.triggers)
    client.config(latency_ms={"criaenvio": args.latency_ms})
    client.add_faults(
        [
            {
                "kind": "status",
                "vendor": "criaenvio",
                "method": "GET",
                "path": "/envios/",
                "status": 429,
                "retry_after": 0.5,
                "rate": 0.01,
            },
            {
                "kind": "status",
                "vendor": "criaenvio",
                "method": "GET",
                "path": "/envios/",
                "status": 503,
                "rate": 0.01,
            },
        ]
    )

    async def main() -> PhaseResult:
        await warm_up()
        if args.gc_freeze:
            gc.collect()
            gc.freeze()  # the start-up heap (Airflow, httpx …) leaves the cyclic collector's full passes
        return await run_phase(plan, args.poll_interval, measure_memory)

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--campaign-seconds", type=float, default=20.0)
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="leave the start-up heap to CPython's full collections (see the module docs)",
    )
    args = parser.parse_args()

    with SandboxServer(campaign_seconds=args.campaign_seconds) as server:
        os.environ.update(server.conn_env)
        print(
            f"{args.triggers} CriaEnvio campaign triggers in one event loop; sandbox latency "
            f"{args.latency_ms:g} ms, poll interval {args.poll_interval:g} s, campaigns of "
            f"{args.campaign_seconds:g} s, start-up heap {'frozen' if args.gc_freeze else 'not frozen'}\n"
        )
        memory = phase(server, args, measure_memory=True)
        timing = phase(server, args, measure_memory=False)

    ok = True
    for name, result in (("memory phase (tracemalloc on)", memory), ("timing phase", timing)):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items(), key=lambda kv: str(kv[0])))
        print(
            f"{name}: {result.seconds:.1f} s, every trigger polled within {result.first_round_seconds:.2f} s"
        )
        print(f"  events: {counts}; wrong or missing: {result.wrong}")
        print(f"  polls: {result.polls} ({result.transient} answered 429/503 and were retried)")
        ok &= result.wrong == 0 and sum(result.statuses.values()) == args.triggers
    per_trigger = memory.memory_per_trigger_kb or 0.0
    stalls = timing.stalls_ms
    longest = max(stalls)
    p99 = statistics.quantiles(stalls, n=100)[98] if len(stalls) >= 100 else longest
    polls_per_second = timing.polls / timing.seconds
    print()
    print(f"memory per waiting trigger : {per_trigger:8.1f} KB   (target ≤ {MEMORY_TARGET_KB:g} KB)")
    print(f"polls per second (total)   : {polls_per_second:8.0f}")
    print(
        f"longest event-loop stall   : {longest:8.1f} ms   (target ≤ {STALL_TARGET_MS:g} ms; "
        f"p99 {p99:.1f} ms over {len(stalls)} heartbeats)"
    )
    print(f"all triggers right event   : {'yes' if ok else 'NO'}")
    ok &= per_trigger <= MEMORY_TARGET_KB and longest <= STALL_TARGET_MS
    print("\nRESULT:", "within targets" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
