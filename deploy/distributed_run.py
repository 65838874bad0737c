"""The distributed run: CeleryExecutor with two workers, Redis and PostgreSQL, workers killed mid-task.

A production-shaped deployment on one machine, against the sandbox: PostgreSQL (the metadata DB and the
Celery result backend) and Redis (the Celery broker) from the distribution's packages (``apt-get install``
when missing and we are root), then ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer``
and two ``airflow celery worker`` processes serving the queue ``emailbr``. Each worker reports its own
host name (``worker1.<host>``, ``worker2.<host>``) so the task instances tell which worker ran each try.

The DAGs are in ``deploy/dags/emailbr_distributed_scenarios.py``. The scenarios, each asserted on the
sandbox's state and request journal:

(a) a 20,000-message emailManager batch send: the worker running it is killed with SIGKILL mid-send; the
    retry runs on the other worker and sends what the ledger proves never left; the messages the kill left
    ``unknown`` (at most ``L + 1`` requests) are resolved as an on-call engineer would, from the platform's
    report, through the REST API (``emailbr.send.resolution``, then a clear); every message is delivered
    exactly once;
(b) a 200,000-contact IAGENTEmail import killed mid-run: the retry resumes, its ``contact/mass/add``
    requests are at most the batches left unconfirmed at the kill plus one;
(c) a CriaEnvio campaign creation whose worker is killed right after the create request (``POST /envios``,
    held by the sandbox until after the kill, then processed): exactly one campaign exists afterwards;
(d) a deferrable campaign wait whose triggerer is killed and replaced mid-wait: the new triggerer takes the
    trigger over, the wait completes, and the campaign was created and sent once.

A killed worker's try stays ``running`` until its heartbeat times out (``[scheduler]
task_instance_heartbeat_timeout``, shortened here to :data:`HEARTBEAT_TIMEOUT` seconds); the scheduler then
fails it and the retry is queued. The killed worker is started again only once the retry runs elsewhere.

Every process the run started (workers, Redis, PostgreSQL, the Airflow components, the sandbox) is stopped
at the end, also on failure and on Ctrl-C. Exit code 0 only when every scenario passed; a per-scenario
PASS/FAIL summary with timings is printed either way.

    .venv/bin/python deploy/distributed_run.py [--scenarios a,b,c,d] [--keep]

Needs ``pip install -e '.[test,distributed]'`` (``make distributed-run`` does it). See ``docs/production.md``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import production_run
import requests
from production_run import (
    API_USER,
    REPO,
    AirflowAPI,
    Postgres,
    RunFailed,
    Service,
    airflow_commands,
    airflow_environment,
    apt_install,
    check_python_environment,
    free_port,
    health_if_ready,
    migrate_metadata_db,
    postgres_bin_dir,
    say,
    shielded,
    stop_services,
    tail,
    terminate_on_signals,
    wait_for,
    write_api_password,
)

from emailbr_sandbox.client import SandboxError

production_run.RUN_LABEL = "distributed-run"

DEPLOY = Path(__file__).resolve().parent
DAG_FILE = DEPLOY / "dags" / "emailbr_distributed_scenarios.py"
QUEUE = "emailbr"
WORKERS = ("worker1", "worker2")
#: Seconds without a heartbeat after which the scheduler fails a try whose worker died.
HEARTBEAT_TIMEOUT = 12
#: Seconds without a heartbeat after which a triggerer's triggers go to another triggerer.
TRIGGERER_HEALTH_THRESHOLD = 10
#: How long a CriaEnvio campaign takes to go out in the sandbox (long enough for a triggerer restart).
CAMPAIGN_SECONDS = 40
BATCH_MESSAGES = 20_000
BATCH_SIZE = 500
IMPORT_CONTACTS = 200_000
IMPORT_CHUNK = 1000
#: The IAGENTEmail group the import DAG fills (``IMPORT_GROUP`` of the DAG file).
IMPORT_GROUP = "Importação distribuída"
TERMINAL_RUN_STATES = {"success", "failed"}
WORKER_NAME_VARIABLE = "EMAILBR_DISTRIBUTED_WORKER"


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: ``<worker name>.<host>``, so tries name their worker."""
    return f"{os.environ.get(WORKER_NAME_VARIABLE, 'airflow')}.{socket.getfqdn()}"


# -- pre-flight ---------------------------------------------------------------------------------------------
def check_distributed_environment() -> None:
    """The production run's checks plus the Celery provider and the Redis client."""
    check_python_environment()
    missing = []
    for dist in ("apache-airflow-providers-celery", "celery", "redis"):
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        raise RunFailed(
            f"{sys.executable} lacks {', '.join(missing)}: install the distributed extra into this "
            f"environment: {Path(sys.executable).parent / 'pip'} install -e '{REPO}[test,distributed]'"
        )


# -- Redis --------------------------------------------------------------------------------------------------
def redis_server_binary() -> str:
    """The ``redis-server`` binary, installing Debian's ``redis-server`` package when it is missing."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if found:
        return found
    apt_install("redis-server", "the Redis server is not installed (no redis-server on the PATH)")
    found = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin")
    if not found:
        raise RunFailed("apt-get installed redis-server but no redis-server binary exists")
    return found


def start_redis(binary: str, root: Path) -> tuple[Service, str]:
    """A throw-away Redis on a free loopback port (no persistence); returns its service and broker URL."""
    import redis

    root.mkdir()
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(root), "--protected-mode", "yes", "--daemonize", "no"]
    service = Service("redis", command, root / "redis.log")
    service.start(dict(os.environ), root)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def ready() -> bool | None:
        service.check_alive()
        try:
            return client.ping() or None
        except redis.RedisError:
            return None

    wait_for("Redis to answer PING", ready, 30)
    return service, f"redis://127.0.0.1:{port}/0"


# -- the deployment -----------------------------------------------------------------------------------------
@dataclass
class Deployment:
    """The running processes, the API client and the sandbox of one distributed run."""

    work: Path
    env: dict[str, str]
    api: AirflowAPI
    sandbox: Any
    services: list[Service]
    workers: dict[str, Service] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        """``AIRFLOW_HOME`` of every process."""
        return Path(self.env["AIRFLOW_HOME"])

    def check_alive(self, *, except_for: tuple[Service, ...] = ()) -> None:
        """``RunFailed`` when a process we did not kill on purpose has exited."""
        for service in self.services:
            if service in except_for or service.exit_code == -signal.SIGKILL:
                continue
            service.check_alive()

    def start_worker(self, name: str) -> Service:
        """Start (or start again) the Celery worker ``name`` and wait until Celery says it is ready."""
        env = dict(self.env)
        env[WORKER_NAME_VARIABLE] = name
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "distributed_run.worker_hostname"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(DEPLOY), env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "airflow", "celery", "worker", "--queues", QUEUE]
        command += ["--concurrency", "1", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
        command += ["--without-mingle", "--without-gossip"]
        log = self.work / "logs" / f"celery-{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        service = Service(f"celery-{name}", command, log)
        service.start(env, self.work)
        self.services.append(service)
        self.workers[name] = service

        def ready() -> bool | None:
            service.check_alive()
            with log.open("rb") as handle:
                handle.seek(offset)
                return True if b" ready." in handle.read() else None

        wait_for(f"Celery worker {name} to be ready", ready, 180)
        return service

    def kill(self, service: Service) -> None:
        """SIGKILL the service's whole process tree (as a machine dying would)."""
        assert service.process is not None
        service.signal(signal.SIGKILL)
        service.process.wait(timeout=10)
        service.exit_code = service.process.returncode
        service.stopped_at = time.monotonic()

    @staticmethod
    def worker_of(hostname: str | None) -> str | None:
        """The worker name a task instance's ``hostname`` names (``worker1.<host>`` → ``worker1``)."""
        if not hostname:
            return None
        name = hostname.split(".", 1)[0]
        return name if name in WORKERS else None

    # -- REST API helpers
    def trigger(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Unpause ``dag_id`` and create the run ``run_id``."""
        self.api.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return self.api.call(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": now, "conf": {}},
        )

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """The current try of one task instance, as the REST API shows it."""
        return self.api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one task instance (state, host name, try number)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        return self.api.call("GET", path)["task_instances"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The state of a DAG run."""
        return self.api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_task(
        self, dag_id: str, run_id: str, task_id: str, what: str, check: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll the task instance until ``check`` accepts it; ``RunFailed`` if the run ends first."""

        def poll() -> dict[str, Any] | None:
            self.check_alive()
            try:
                ti = self.task_instance(dag_id, run_id, task_id)
            except requests.RequestException:
                return None
            if check(ti):
                return ti
            if self.run_state(dag_id, run_id) in TERMINAL_RUN_STATES:
                raise RunFailed(f"{dag_id} {run_id} ended before {what} (task {task_id}: {ti['state']})")
            return None

        return wait_for(what, poll, 300, interval=0.3)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 420) -> str:
        """Poll the run until it ends; its final state."""

        def poll() -> str | None:
            self.check_alive()
            try:
                state = self.run_state(dag_id, run_id)
            except requests.RequestException:
                return None
            return state if state in TERMINAL_RUN_STATES else None

        return wait_for(f"{dag_id} {run_id} to end", poll, timeout, interval=0.5)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The task's ``return_value`` XCom (``None`` when it has none)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        response = self.api.request("GET", path, params={"deserialize": True})
        return response.json()["value"] if response.status_code == 200 else None

    # -- sandbox helpers
    def journal_mark(self) -> int:
        """The id of the newest entry of the sandbox's request journal (0 when empty)."""
        newest = self.sandbox.client.requests(limit=1)
        return newest[-1]["id"] if newest else 0

    def journal(self, vendor: str, path: str, since: int, method: str = "POST") -> list[dict[str, Any]]:
        """Journal entries of ``vendor`` whose path contains ``path``, newer than ``since``."""
        return self.sandbox.client.requests(vendor, method=method, path=path, since=since)

    def kill_worker_running(
        self, dag_id: str, run_id: str, task_id: str, just_before: Callable[[], int] = lambda: 0
    ) -> tuple[str, int]:
        """SIGKILL the worker running the task's current try; (the killed worker, what ``just_before``
        measured right before the kill, e.g. the requests the try had had answered)."""
        ti = self.task_instance(dag_id, run_id, task_id)
        killed = self.worker_of(ti.get("hostname"))
        if killed is None:
            raise RunFailed(f"{task_id} runs on {ti.get('hostname')!r}, which is none of our workers")
        measured = just_before()
        self.kill(self.workers[killed])
        say(f"SIGKILL to {killed} (pid {self.workers[killed].process.pid}) running {task_id} try 1")
        return killed, measured

    def retry_elsewhere(self, dag_id: str, run_id: str, task_id: str, killed: str) -> dict[str, Any]:
        """Wait for the retry to run, then start the killed worker again; the retry's task instance."""
        retry = self.wait_task(
            dag_id,
            run_id,
            task_id,
            "the retry to start",
            lambda ti: ti["try_number"] >= 2 and ti["state"] in ("running", "success", "failed", "deferred"),
        )
        say(f"{task_id} try {retry['try_number']} {retry['state']} on {retry.get('hostname')}")
        self.start_worker(killed)
        say(f"{killed} started again")
        return retry


# -- scenarios ----------------------------------------------------------------------------------------------
def remove_fault(client: Any, fault: dict[str, Any]) -> None:
    """Delete a fault rule of the sandbox unless it is already gone (a rule with a ``count`` is removed
    once used up)."""
    if any(rule["id"] == fault["id"] for rule in client.faults()):
        client.remove_fault(fault["id"])


@dataclass
class Outcome:
    """What one scenario found: passed or not, the checks made, how long it took."""

    name: str
    passed: bool = False
    checks: list[tuple[bool, str]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def check(self, ok: bool, text: str) -> None:
        """Record one assertion and print it."""
        self.checks.append((bool(ok), text))
        say(f"  [{'ok' if ok else 'FAIL'}] {text}")


def retry_checks(outcome: Outcome, deployment: Deployment, dag_id: str, run_id: str, task_id: str) -> None:
    """The tries of a task whose worker was killed: try 1 on one worker, try 2 (the retry that the kill
    caused, while the killed worker was down) on the other one."""
    tries = deployment.tries(dag_id, run_id, task_id)
    hosts = {t["try_number"]: deployment.worker_of(t.get("hostname")) for t in tries}
    first, retry = hosts.get(1), hosts.get(2)
    outcome.check(
        first is not None and retry is not None and retry != first,
        f"try 1 ran on {first}, the retry on {retry} "
        f"(tries {[(t['try_number'], t['state'], hosts[t['try_number']]) for t in tries]})",
    )


def scenario_batch_send(deployment: Deployment, outcome: Outcome) -> None:
    """(a) A 20,000-message emailManager batch send whose worker is killed mid-send, its unknown messages
    resolved through the REST API (:func:`resolve_unknown_sends`)."""
    dag_id, task_id, run_id = "emailbr_distributed_batch_send", "send_batch", "scenario_a"
    client = deployment.sandbox.client
    addresses = [f"pessoa{i:05d}@exemplo.com.br" for i in range(BATCH_MESSAGES)]
    messages = deployment.work / "messages.jsonl"
    with messages.open("w", encoding="utf-8") as out:
        for i, address in enumerate(addresses):
            message = {"To": address, "Subject": f"Pedido {i} confirmado", "TextBody": f"Pedido {i}."}
            out.write(json.dumps(message) + "\n")
    before = len(client.state("emailmanager")["messages"])
    mark = deployment.journal_mark()
    # each batch takes a quarter of a second in the sandbox: the send lasts long enough to be killed in
    fault = client.set_fault("latency", vendor="emailmanager", path="/email/batch", latency_ms=250)
    try:
        deployment.trigger(dag_id, run_id)
        deployment.wait_task(
            dag_id, run_id, task_id, "the send to start", lambda ti: ti["state"] == "running"
        )
        wait_for(
            "8 batches to be delivered",
            lambda: True if len(deployment.journal("emailmanager", "/email/batch", mark)) >= 8 else None,
            240,
            interval=0.2,
        )
        killed, at_kill = deployment.kill_worker_running(
            dag_id, run_id, task_id, lambda: len(deployment.journal("emailmanager", "/email/batch", mark))
        )
        say(f"killed after {at_kill} of {math.ceil(BATCH_MESSAGES / BATCH_SIZE)} batches")
        deployment.retry_elsewhere(dag_id, run_id, task_id, killed)
        state = deployment.wait_run(dag_id, run_id)
    finally:
        remove_fault(client, fault)
    lags = send_ledger_lags(deployment, run_id)
    say(f"the run ended {state} after the retries; lags L in force in try 1: {lags}")
    if state != "success":
        unknown = resolve_unknown_sends(deployment, run_id, addresses, before)
        say(
            f"{len(unknown)} message(s) were left unknown by the kill; resolved through the REST API, cleared"
        )
        state = deployment.wait_run(dag_id, run_id)
    outcome.check(state == "success", f"the run ended {state}")
    retry_checks(outcome, deployment, dag_id, run_id, task_id)
    delivered = Counter(m["To"] for m in client.state("emailmanager")["messages"][before:])
    twice = sorted(a for a, n in delivered.items() if n > 1)
    missing = [a for a in addresses if a not in delivered]
    outcome.check(
        not twice and not missing and len(delivered) == BATCH_MESSAGES,
        f"{sum(delivered.values())} deliveries to {len(delivered)} of {BATCH_MESSAGES} recipients: "
        f"{len(twice)} delivered twice or more, {len(missing)} never delivered",
    )


#: The task and key through which the on-call engineer resolves the batch send's unknown messages.
BATCH_DAG, BATCH_TASK, RESOLUTION_KEY = (
    "emailbr_distributed_batch_send",
    "send_batch",
    "emailbr.send.resolution",
)


def send_ledger_lags(deployment: Deployment, run_id: str) -> list[int]:
    """The lags ``L`` try 1 of the batch send recorded in its ledger (read through the REST API)."""
    path = f"/api/v2/dags/{BATCH_DAG}/dagRuns/{run_id}/taskInstances/{BATCH_TASK}/state-store"
    rows = deployment.api.call("GET", path)["task_state_store"]
    lags = {
        entry["l"]
        for row in rows
        if row["key"].startswith("emailbr.send.log.")
        for entry in row["value"]["data"]["entries"]
        if entry.get("t") == 1 and "l" in entry
    }
    return sorted(lags)


def resolve_unknown_sends(
    deployment: Deployment, run_id: str, addresses: list[str], before: int
) -> list[dict[str, Any]]:
    """Do what the failed task asks of the on-call engineer: read its unknown messages (the XCom
    ``send_results``), check the platform's report (the sandbox's delivered messages) for each, PUT the
    resolution ``emailbr.send.resolution`` through the REST API and clear the task; the unknown records."""
    base = f"/api/v2/dags/{BATCH_DAG}/dagRuns/{run_id}/taskInstances/{BATCH_TASK}"
    results = deployment.api.call("GET", f"{base}/xcomEntries/send_results", params={"deserialize": True})
    unknown = [r for r in results["value"] if r.get("outcome") == "unknown"]
    if not unknown:
        raise RunFailed(f"{BATCH_TASK} failed without unknown messages: {results['value'][:3]}")
    delivered = {m["To"] for m in deployment.sandbox.client.state("emailmanager")["messages"][before:]}
    went_out = [r["key"] for r in unknown if addresses[int(r["key"].split(":")[0])] in delivered]
    never = [r["key"] for r in unknown if r["key"] not in set(went_out)]
    say(f"platform report: {len(went_out)} of the unknown messages were delivered, {len(never)} were not")
    # name the smaller group only; the object without "keys" resolves the rest (the store caps a value at
    # [state_store] max_value_storage_bytes, 64 KiB by default: about 2,500 emailManager keys)
    named, rest = sorted([("sent", went_out), ("not_sent", never)], key=lambda group: len(group[1]))
    value = [{"outcome": rest[0]}] + ([{"outcome": named[0], "keys": named[1]}] if named[1] else [])
    deployment.api.call("PUT", f"{base}/state-store/{RESOLUTION_KEY}", expect=(204,), json={"value": value})
    deployment.api.call(
        "POST",
        f"/api/v2/dags/{BATCH_DAG}/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": [BATCH_TASK], "only_failed": False, "dry_run": False},
    )
    return unknown


def scenario_import(deployment: Deployment, outcome: Outcome) -> None:
    """(b) A 200,000-contact IAGENTEmail import killed mid-run; the retry resumes."""
    dag_id, task_id, run_id = "emailbr_distributed_import", "import_contacts", "scenario_b"
    client = deployment.sandbox.client
    source = deployment.work / "contacts.csv"
    with source.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "nome"])
        writer.writerows((f"contato{i:06d}@exemplo.com.br", f"Contato {i}") for i in range(IMPORT_CONTACTS))
    batches = math.ceil(IMPORT_CONTACTS / IMPORT_CHUNK)
    mark = deployment.journal_mark()
    fault = client.set_fault("latency", vendor="iagente", path="contact/mass/add", latency_ms=100)
    try:
        deployment.trigger(dag_id, run_id)
        deployment.wait_task(
            dag_id, run_id, task_id, "the import to start", lambda ti: ti["state"] == "running"
        )

        def confirmed() -> int:
            entries = deployment.journal("iagente", "contact/mass/add", mark)
            return sum(1 for e in entries if e["status"] == 200)

        wait_for(
            f"{batches // 4} batches to be confirmed",
            lambda: True if confirmed() >= batches // 4 else None,
            300,
            interval=0.2,
        )
        # answered before the kill = confirmed; an answer the sandbox gives after it reaches nobody
        killed, confirmed_at_kill = deployment.kill_worker_running(dag_id, run_id, task_id, confirmed)
        remaining = batches - confirmed_at_kill
        say(f"killed after {confirmed_at_kill} of {batches} batches were confirmed ({remaining} left)")
        # the killed worker's requests in flight have landed long before the scheduler notices the death
        deployment.wait_task(
            dag_id, run_id, task_id, "the killed try to be failed", lambda ti: ti["state"] != "running"
        )
        retry_mark = deployment.journal_mark()
        deployment.retry_elsewhere(dag_id, run_id, task_id, killed)
        state = deployment.wait_run(dag_id, run_id, timeout=600)
    finally:
        remove_fault(client, fault)
    outcome.check(state == "success", f"the run ended {state}")
    retry_checks(outcome, deployment, dag_id, run_id, task_id)
    after = len(deployment.journal("iagente", "contact/mass/add", retry_mark))
    others = len(client.requests("iagente", since=retry_mark)) - after
    say(f"the retry re-sent {max(after - remaining, 0)} request(s) the sandbox had answered before the kill")
    outcome.check(
        after <= remaining + 1,
        f"the retry sent {after} contact/mass/add requests (and {others} other request(s)); {remaining} "
        f"batches were unanswered at the kill (allowed: at most {remaining + 1})",
    )
    state_now = client.state("iagente")
    group = next((g for g in state_now["groups"] if g["name"] == IMPORT_GROUP), None)
    members = 0
    if group is not None:
        members = sum(1 for c in state_now["contacts"] if group["group_id"] in c["groups"])
    outcome.check(members == IMPORT_CONTACTS, f"the group holds {members} of {IMPORT_CONTACTS} contacts")


def campaigns_of_run(deployment: Deployment, run_id: str) -> list[dict[str, Any]]:
    """The sandbox's CriaEnvio campaigns whose message is named after the DAG run ``run_id``."""
    state = deployment.sandbox.client.state("criaenvio")
    messages = {m["id"] for m in state["messages"] if run_id in str(m.get("nome") or "")}
    return [c for c in state["campaigns"] if c["mensagem"] in messages]


def scenario_campaign(deployment: Deployment, outcome: Outcome) -> None:
    """(c) Campaign creation whose worker is killed right after the create request."""
    dag_id, task_id, run_id = "emailbr_distributed_campaign", "create_campaign", "scenario_c"
    client = deployment.sandbox.client
    mark = deployment.journal_mark()
    # the sandbox holds the first create request 8 s before processing it: the worker is killed while it
    # waits for the answer, and the campaign is created all the same (the answer is lost with the worker)
    fault = client.set_fault(
        "latency", vendor="criaenvio", path="/envios", method="POST", latency_ms=8000, count=1
    )
    try:
        deployment.trigger(dag_id, run_id)
        wait_for(
            "the message to be created",
            lambda: True if deployment.journal("criaenvio", "/mensagens", mark) else None,
            240,
            interval=0.2,
        )
        time.sleep(2.0)  # the next request, POST /envios, leaves at once and waits in the sandbox
        killed, killed_at = deployment.kill_worker_running(dag_id, run_id, task_id, deployment.journal_mark)
        creates = wait_for(
            "the killed try's create request to be processed",
            lambda: deployment.journal("criaenvio", "/envios", mark) or None,
            20,
            interval=0.3,
        )
        outcome.check(
            creates[0]["fault"] == "latency" and creates[0]["id"] > killed_at,
            f"the killed try's POST /envios was processed after the kill (status {creates[0]['status']}, "
            f"{'answer lost' if creates[0]['dropped'] or creates[0]['id'] > killed_at else 'answered'})",
        )
        deployment.retry_elsewhere(dag_id, run_id, task_id, killed)
        state = deployment.wait_run(dag_id, run_id)
    finally:
        remove_fault(client, fault)
    outcome.check(state == "success", f"the run ended {state}")
    retry_checks(outcome, deployment, dag_id, run_id, task_id)
    campaigns = campaigns_of_run(deployment, run_id)
    creates = deployment.journal("criaenvio", "/envios", mark)
    result = deployment.xcom(dag_id, run_id, task_id) or {}
    outcome.check(
        len(campaigns) == 1 and len(creates) == 1 and str(result.get("campaign_id")) == campaigns[0]["id"],
        f"{len(campaigns)} campaign(s) of the run in the sandbox ({[c['id'] for c in campaigns]}), "
        f"{len(creates)} POST /envios, the task returned campaign {result.get('campaign_id')}",
    )


def scenario_triggerer_restart(deployment: Deployment, outcome: Outcome) -> None:
    """(d) A deferrable campaign wait survives the triggerer being killed and replaced."""
    dag_id, run_id = "emailbr_distributed_campaign_wait", "scenario_d"
    sensor = "wait_for_campaign"
    mark = deployment.journal_mark()
    deployment.trigger(dag_id, run_id)
    deferred = deployment.wait_task(
        dag_id,
        run_id,
        sensor,
        "a triggerer to take the deferred wait",
        lambda ti: ti["state"] == "deferred" and (ti.get("trigger") or {}).get("triggerer_id") is not None,
    )
    time.sleep(2.0)  # the trigger's first check of the campaign runs in that triggerer
    old_triggerer = (deferred.get("trigger") or {}).get("triggerer_id")
    status_at_restart = [c.get("current", {}).get("status") for c in campaigns_of_run(deployment, run_id)]
    triggerer = next(s for s in deployment.services if s.name == "triggerer" and s.exit_code is None)
    deployment.kill(triggerer)
    say(
        f"SIGKILL to the triggerer (pid {triggerer.process.pid}, job {old_triggerer}); "
        f"campaign {status_at_restart}"
    )
    replacement = Service("triggerer", triggerer.command, triggerer.log)
    replacement.start(deployment.env, deployment.work)
    deployment.services.append(replacement)
    say(f"new triggerer started (pid {replacement.process.pid})")
    taken_over = deployment.wait_task(
        dag_id,
        run_id,
        sensor,
        "another triggerer to take the trigger over",
        lambda ti: (
            ti["state"] != "deferred"
            or (ti.get("trigger") or {}).get("triggerer_id") not in (None, old_triggerer)
        ),
    )
    new_triggerer = (taken_over.get("trigger") or {}).get("triggerer_id")
    state = deployment.wait_run(dag_id, run_id)
    outcome.check(
        bool(status_at_restart) and all(s != "Concluído" for s in status_at_restart),
        f"the campaign was still going when the triggerer was killed ({status_at_restart})",
    )
    outcome.check(
        new_triggerer not in (None, old_triggerer),
        f"the trigger moved from triggerer job {old_triggerer} to job {new_triggerer}",
    )
    outcome.check(state == "success", f"the run ended {state}")
    tries = deployment.tries(dag_id, run_id, sensor)
    outcome.check(
        [t["try_number"] for t in tries] == [1],
        f"the wait completed in its first try (tries {[(t['try_number'], t['state']) for t in tries]})",
    )
    campaigns = campaigns_of_run(deployment, run_id)
    creates = deployment.journal("criaenvio", "/envios", mark)
    statuses = [c.get("current", {}).get("status") for c in campaigns]
    outcome.check(
        len(campaigns) == 1 and len(creates) == 1 and statuses == ["Concluído"],
        f"{len(campaigns)} campaign(s) of the run, {len(creates)} POST /envios, status {statuses}",
    )


SCENARIOS: dict[str, tuple[str, Callable[[Deployment, Outcome], None]]] = {
    "a": ("(a) batch send, worker killed mid-send", scenario_batch_send),
    "b": ("(b) import, worker killed mid-run", scenario_import),
    "c": ("(c) campaign creation, worker killed after the create request", scenario_campaign),
    "d": ("(d) deferrable wait, triggerer restarted mid-wait", scenario_triggerer_restart),
}


# -- the run ------------------------------------------------------------------------------------------------
def deploy(
    args: argparse.Namespace, work: Path, cleanup: list[Callable[[], None]], services: list[Service]
) -> Deployment:
    """PostgreSQL, Redis, the sandbox, the metadata DB and every Airflow process, healthy and parsed."""
    from emailbr_sandbox import SandboxServer

    phase = time.monotonic()
    pg = Postgres(postgres_bin_dir(), work / "postgres")
    cleanup.append(pg.stop)
    pg.start()
    redis_service, broker_url = start_redis(redis_server_binary(), work / "redis")
    cleanup.append(lambda: stop_services([redis_service], grace=10))
    say(f"PostgreSQL on 127.0.0.1:{pg.port}, Redis at {broker_url} ({time.monotonic() - phase:.1f} s)")

    sandbox = SandboxServer(
        campaign_seconds=CAMPAIGN_SECONDS,
        extra_args=["--journal-size", "5000", "--journal-body-bytes", "512"],
    ).start()
    cleanup.append(sandbox.stop)
    say(f"sandbox running at {sandbox.url}")

    ports = {"api": free_port(), "worker_logs": free_port(), "trigger_logs": free_port()}
    env = airflow_environment(work, pg, ports, sandbox.conn_env)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg.sqlalchemy_url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD),
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW_VAR_EMAILBR_DISTRIBUTED_MESSAGES": str(work / "messages.jsonl"),
            "AIRFLOW_VAR_EMAILBR_DISTRIBUTED_CONTACTS": str(work / "contacts.csv"),
        }
    )
    home = Path(env["AIRFLOW_HOME"])
    for directory in (work / "dags", work / "logs", home):
        directory.mkdir()
    shutil.copyfile(DAG_FILE, work / "dags" / DAG_FILE.name)
    api_password = write_api_password(env)

    phase = time.monotonic()
    migrate_metadata_db(env, work)
    say(f"airflow db migrate done ({time.monotonic() - phase:.1f} s)")

    phase = time.monotonic()
    for name, command in airflow_commands(ports["api"]).items():
        service = Service(name, command, work / "logs" / f"{name}.log")
        services.append(service)
        service.start(env, work)
    api = AirflowAPI(f"http://127.0.0.1:{ports['api']}")
    deployment = Deployment(work, env, api, sandbox, services)
    for name in WORKERS:
        deployment.start_worker(name)

    def healthy() -> dict[str, Any] | None:
        deployment.check_alive()
        return health_if_ready(api)

    wait_for("the Airflow components to be healthy", healthy, args.start_timeout)
    api.login(API_USER, api_password)

    def parsed() -> bool | None:
        deployment.check_alive()
        errors = api.call("GET", "/api/v2/importErrors")["import_errors"]
        if errors:
            raise RunFailed("DAG import errors: " + "; ".join(e["stack_trace"] for e in errors))
        dags = api.call("GET", "/api/v2/dags", params={"tags": "distributed-run"})["dags"]
        return True if len(dags) == len(SCENARIOS) else None

    wait_for("the dag-processor to parse the scenario DAGs", parsed, args.start_timeout)
    say(f"all processes healthy, two Celery workers ready, DAGs parsed ({time.monotonic() - phase:.1f} s)")
    return deployment


def run_scenarios(deployment: Deployment, selected: list[str], outcomes: list[Outcome]) -> None:
    """Each selected scenario in turn; a failed one does not stop the others (unless a process died)."""
    for key in selected:
        title, scenario = SCENARIOS[key]
        outcome = Outcome(title)
        outcomes.append(outcome)
        say(f"=== {title} ===")
        started = time.monotonic()
        try:
            scenario(deployment, outcome)
        except (RunFailed, SandboxError, requests.RequestException, subprocess.TimeoutExpired) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            say(f"  [FAIL] {outcome.error}")
        outcome.seconds = time.monotonic() - started
        outcome.passed = (
            outcome.error is None and bool(outcome.checks) and all(ok for ok, _ in outcome.checks)
        )
        say(f"=== {title}: {'PASS' if outcome.passed else 'FAIL'} in {outcome.seconds:.0f} s ===")
        # a worker killed by a scenario that failed early is started again for the next one
        for name in WORKERS:
            worker = deployment.workers.get(name)
            if worker is not None and worker.process is not None and worker.process.poll() is not None:
                deployment.start_worker(name)


def print_summary(outcomes: list[Outcome], setup_seconds: float | None, error: BaseException | None) -> None:
    """The per-scenario PASS/FAIL table with timings."""
    print()
    print("== distributed run (CeleryExecutor, 2 workers, Redis, PostgreSQL) ==")
    if setup_seconds is not None:
        print(f"setup       : {setup_seconds:6.1f} s (PostgreSQL, Redis, sandbox, db migrate, 6 processes)")
    for outcome in outcomes:
        print(f"{'PASS' if outcome.passed else 'FAIL'}        : {outcome.name} ({outcome.seconds:.0f} s)")
        for ok, text in outcome.checks:
            print(f"   {'ok  ' if ok else 'FAIL'} {text}")
        if outcome.error:
            print(f"   FAIL {outcome.error}")
    if error is not None:
        print(f"ERROR       : {type(error).__name__}: {error}")
    print(f"took {time.monotonic() - production_run.STARTED:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d (default all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, AIRFLOW_HOME)")
    parser.add_argument(
        "--start-timeout", type=float, default=240, help="seconds for the processes to get healthy / parse"
    )
    args = parser.parse_args()
    selected = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    unknown = [key for key in selected if key not in SCENARIOS]
    if unknown or not selected:
        parser.error(f"--scenarios: {unknown or 'nothing'} is not a subset of {','.join(SCENARIOS)}")
    try:
        check_distributed_environment()
    except RunFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="emailbr-distributed-"))
    work.chmod(0o711)  # the postgres OS user must reach its cluster directory inside
    say(f"work directory {work}")
    services: list[Service] = []
    cleanup: list[Callable[[], None]] = []
    outcomes: list[Outcome] = []
    setup_seconds: float | None = None
    error: BaseException | None = None
    try:
        with terminate_on_signals():
            deployment = deploy(args, work, cleanup, services)
            setup_seconds = time.monotonic() - production_run.STARTED
            run_scenarios(deployment, selected, outcomes)
    except (RunFailed, KeyboardInterrupt, subprocess.TimeoutExpired, requests.RequestException) as exc:
        error = exc
    finally:
        with shielded():
            say("stopping the Celery workers and the Airflow processes …")
            stop_services(services)
            for step in reversed(cleanup):
                try:
                    step()
                except Exception as exc:  # clean-up goes on whatever one step did
                    say(f"clean-up step {step} failed: {exc!r}")
    failed = error is not None or len(outcomes) != len(selected) or not all(o.passed for o in outcomes)
    if failed:
        for service in services:
            print(f"--- last lines of {service.log} ---\n{tail(service.log, 15)}", file=sys.stderr)
    print_summary(outcomes, setup_seconds, error)
    if args.keep or failed:
        print(
            f"work directory kept: {work} (logs in {work / 'logs'}, task logs in {work / 'airflow' / 'logs'})"
        )
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
