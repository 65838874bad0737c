"""The production-shaped run: ``emailbr_crm_to_campaign`` under real Airflow processes on PostgreSQL.

What it does, start to finish, in one throw-away work directory (removed at the end; kept, without the
database cluster, on failure or with ``--keep``):

1. a PostgreSQL cluster from the distribution's packages (``apt-get install postgresql`` when the server
   binaries are missing and we are root), initialised in the work directory, listening on a free loopback
   port, with a database and a password-authenticated user for Airflow;
2. the sandbox (campaign clock accelerated as in the demo) and the demo's SQLite "CRM";
3. a throw-away ``AIRFLOW_HOME``: LocalExecutor, the PostgreSQL metadata DB (``airflow db migrate``), the DAG
   copied into the DAGs folder, connections and variables passed to every process as ``AIRFLOW_CONN_*`` /
   ``AIRFLOW_VAR_*`` environment variables, SimpleAuthManager with one admin user;
4. ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``, each its own process logging to
   a file; the DAG is unpaused and triggered through the REST API (JWT from ``POST /auth/token``), the task
   instances are polled until the run ends, and the sensor ``wait_for_campaign`` must be seen ``deferred``
   (waiting in the triggerer, holding no worker slot);
5. the outputs are checked (statistics file, the sandbox's contacts and campaign), a summary is printed and
   every process is stopped (SIGTERM, then SIGKILL after a grace period) — also on failure and on Ctrl-C.

Exit code 0 only when the run succeeded, the sensor was seen deferred and the outputs are right.

    .venv/bin/python deploy/production_run.py [--keep] [--run-timeout 420]

Needs the PostgreSQL driver and the demo's SQLite provider: ``pip install -e '.[demo,production]'`` (the
``production`` extra is ``apache-airflow-providers-postgres``). See ``docs/production.md``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "example_dags" / "emailbr_crm_to_campaign.py"
DAG_ID = "emailbr_crm_to_campaign"
SENSOR_TASK = "wait_for_campaign"
IMPORT_TASK = "import_contacts"
CAMPAIGN_TASK = "create_campaign"
LIST_NAME = "Clientes CRM"
API_USER = "emailbr"
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
TERMINAL_RUN_STATES = {"success", "failed"}
STARTED = time.monotonic()

T = TypeVar("T")


class RunFailed(Exception):
    """The run could not be set up, did not succeed, or produced the wrong outputs."""


#: The prefix of progress lines (``distributed_run.py``, which reuses these helpers, sets its own).
RUN_LABEL = "production-run"


def say(message: str) -> None:
    """Print one progress line with the time elapsed since the start."""
    print(f"[{RUN_LABEL} {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file (empty when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call ``check`` until it returns something other than ``None``; ``RunFailed`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- pre-flight ---------------------------------------------------------------------------------------------
def check_python_environment() -> None:
    """Fail early, with the command that fixes it, when Airflow, this provider or the driver is missing."""
    missing = []
    for dist in (
        "apache-airflow",
        "airflow-provider-emailbr",
        "apache-airflow-providers-postgres",  # the PostgreSQL driver of the metadata DB
        "apache-airflow-providers-sqlite",  # the demo CRM
    ):
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    if importlib.util.find_spec("psycopg2") is None:
        missing.append("psycopg2 (comes with apache-airflow-providers-postgres)")
    if missing:
        raise RunFailed(
            f"{sys.executable} lacks {', '.join(missing)}: install the production and demo extras into this "
            f"environment: {Path(sys.executable).parent / 'pip'} install -e '{REPO}[demo,production]'"
        )


# -- PostgreSQL ---------------------------------------------------------------------------------------------
def postgres_bin_dir() -> Path:
    """Directory of the newest installed PostgreSQL server binaries, installing Debian's package if needed."""

    def find() -> Path | None:
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
        )
        if found:
            return found[-1].parent
        on_path = shutil.which("initdb")  # other distributions and Homebrew put it on the PATH
        return Path(on_path).parent if on_path else None

    bin_dir = find()
    if bin_dir is not None:
        return bin_dir
    apt_install("postgresql", "the PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    bin_dir = find()
    if bin_dir is None:
        raise RunFailed("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb exists")
    return bin_dir


def apt_install(package: str, missing: str) -> None:
    """Install one Debian package with ``apt-get`` (as root); ``RunFailed`` saying ``missing`` otherwise."""
    if os.geteuid() != 0:
        raise RunFailed(
            f"{missing} and this script is not root: run `sudo apt-get install -y {package}` first"
        )
    say(f"{missing}: apt-get install -y {package} …")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-q"],
        # wait for the dpkg lock rather than fail when a fresh machine is still running unattended-upgrades
        [
            "apt-get",
            "install",
            "-y",
            "-q",
            "-o",
            "DPkg::Lock::Timeout=300",
            "--no-install-recommends",
            package,
        ],
    ):
        done = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900
        )
        if done.returncode != 0:
            raise RunFailed(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stdout[-2000:]}")


class Postgres:
    """A throw-away PostgreSQL cluster in ``root``: loopback only, socket in ``root``, removed by ``stop()``.

    PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres`` OS user (the
    Debian package creates it; ``nobody`` otherwise). Durability settings are off: the cluster lives for a
    few minutes and its data is thrown away.
    """

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgresql.log"
        self.port = 0
        self.password = secrets.token_urlsafe(18)
        self.started = False
        self.run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self.run_as = pwd.getpwnam(name)
                    break
            if self.run_as is None:
                raise RunFailed("running as root but neither a `postgres` nor a `nobody` OS user exists")

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the server's OS user when we are root."""
        user = {}
        if self.run_as is not None:
            user = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root)}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **user,
        )

    def start(self) -> None:
        """``initdb``, start the server on a free port, create the ``airflow`` user and database."""
        if self.run_as is not None:
            for parent in self.root.parents:
                mode = parent.stat()
                searchable = mode.st_mode & 0o001 or (
                    mode.st_uid == self.run_as.pw_uid
                    or (mode.st_gid == self.run_as.pw_gid and mode.st_mode & 0o010)
                )
                if not searchable:
                    raise RunFailed(
                        f"{parent} (mode {oct(mode.st_mode & 0o777)}) cannot be entered by the "
                        f"{self.run_as.pw_name!r} OS user that runs PostgreSQL: set TMPDIR to a directory it "
                        "can reach"
                    )
        self.root.mkdir(mode=0o700)
        self.socket_dir.mkdir(mode=0o700)
        if self.run_as is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RunFailed(
                f"initdb failed ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
            )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# production_run.py: a throw-away loopback cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        for _attempt in range(3):  # the free port can be taken between choosing it and binding it
            self.port = free_port()
            options = ["-l", str(self.log), "-o", f"-p {self.port}", "-w", "-t", "60"]
            done = self._run("pg_ctl", "-D", str(self.data), *options, "start")
            if done.returncode == 0:
                break
        else:
            raise RunFailed(f"PostgreSQL did not start:\n{done.stdout[-800:]}\n{tail(self.log, 20)}")
        self.started = True
        statements = [
            f"CREATE ROLE airflow LOGIN PASSWORD '{self.password}'",
            "CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8'",
        ]
        command = [
            "psql",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]
        command += ["-v", "ON_ERROR_STOP=1", "-q"]
        for statement in statements:
            command += ["-c", statement]
        done = self._run(*command, timeout=60)
        if done.returncode != 0:
            raise RunFailed(f"creating the airflow database failed:\n{done.stderr[-1500:]}")

    @property
    def version(self) -> str:
        """The server's version string, e.g. ``postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``."""
        return self._run("postgres", "--version", timeout=30).stdout.strip()

    @property
    def sqlalchemy_url(self) -> str:
        """The metadata DB for ``[database] sql_alchemy_conn`` (TCP on loopback, password authentication)."""
        return f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/airflow"

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL of the postmaster) and delete the cluster."""
        if self.started:
            self.started = False
            done = self._run(
                "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop", timeout=60
            )
            if done.returncode != 0:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


# -- Airflow processes --------------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from ``/proc``; empty where there is no ``/proc``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Service:
    """One long-running Airflow process (its own session, so signals reach its whole process group)."""

    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    stopped_at: float = 0.0
    exit_code: int | None = None

    def start(self, env: dict[str, str], cwd: Path) -> None:
        """Start the process with stdout and stderr going to its log file."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    def check_alive(self) -> None:
        """``RunFailed`` (with the log's tail) when the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RunFailed(
                f"`airflow {self.name}` exited with code {self.process.returncode}; "
                f"last lines of {self.log}:\n{tail(self.log, 40)}"
            )

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process group and to any descendant that left it."""
        if self.process is None:
            return
        for pid in descendants(self.process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) != self.process.pid:
                    os.kill(pid, signum)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


def stop_services(services: list[Service], grace: float = 30.0) -> None:
    """Stop the services: scheduler, dag-processor and triggerer first, the API server last.

    Each wave gets SIGTERM, ``grace`` seconds, then SIGKILL (process groups and descendants). The API server
    goes last because it also serves the execution API through which running tasks report how they ended.
    """
    waves = [[s for s in services if s.name != "api-server"], [s for s in services if s.name == "api-server"]]
    for wave in waves:
        running = [s for s in wave if s.process is not None and s.process.poll() is None]
        leftovers = {s.name: descendants(s.process.pid) for s in running if s.process is not None}
        for service in running:
            service.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in running:
            assert service.process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for service in running:
            assert service.process is not None
            if service.process.poll() is None:
                say(f"{service.name} did not stop within {grace:.0f} s: SIGKILL")
                service.signal(signal.SIGKILL)
                service.process.wait(timeout=10)
            for pid in leftovers.get(service.name, []):  # children re-parented after their parent exited
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            service.stopped_at = time.monotonic()
    for service in services:
        if service.process is not None:
            service.exit_code = service.process.returncode


# -- REST API -----------------------------------------------------------------------------------------------
class AirflowAPI:
    """Minimal client of Airflow's public REST API (``/api/v2``) with a SimpleAuthManager JWT."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through an HTTP proxy from the environment

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request with a timeout; connection errors are returned to the caller as exceptions."""
        return self.session.request(method, f"{self.base_url}{path}", timeout=15, **kwargs)

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """A request whose status must be in ``expect``; returns the decoded JSON body."""
        response = self.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise RunFailed(f"{method} {path} answered {response.status_code}: {response.text[:800]}")
        return response.json() if response.content else None

    def login(self, username: str, password: str) -> None:
        """``POST /auth/token`` (SimpleAuthManager); the JWT goes as ``Authorization: Bearer`` from now on."""
        body = self.call(
            "POST", "/auth/token", expect=(200, 201), json={"username": username, "password": password}
        )
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"


def health_if_ready(api: AirflowAPI) -> dict[str, Any] | None:
    """The ``/api/v2/monitor/health`` answer once DB, scheduler, triggerer and dag-processor are healthy."""
    try:
        response = api.request("GET", "/api/v2/monitor/health")
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    health = response.json()
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return health if all((health.get(part) or {}).get("status") == "healthy" for part in parts) else None


# -- the run ------------------------------------------------------------------------------------------------
@dataclass
class Observation:
    """What polling the task instances saw."""

    transitions: dict[str, list[str]] = field(default_factory=dict)
    deferred_at: float | None = None
    deferred_seconds: float = 0.0
    trigger_classpath: str | None = None
    triggerer_id: int | None = None
    run_states: list[str] = field(default_factory=list)

    def record(self, task_id: str, state: str) -> None:
        """Append ``state`` to the task's history when it differs from the last one seen."""
        history = self.transitions.setdefault(task_id, [])
        if not history or history[-1] != state:
            history.append(state)


def task_log_tails(airflow_home: Path, run_id: str, task_ids: list[str], lines: int = 40) -> str:
    """The last lines of the latest attempt log of each of ``task_ids`` in this run."""
    parts = []
    for task_id in task_ids:
        logs = sorted(
            (airflow_home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}").glob(
                "*.log"
            )
        )
        if logs:
            parts.append(f"--- task log {logs[-1]} ---\n{tail(logs[-1], lines)}")
    return "\n".join(parts)


def watch_run(
    api: AirflowAPI, run_id: str, services: list[Service], timeout: float, obs: Observation
) -> tuple[str, dict[str, str]]:
    """Poll the run and its task instances until the run ends; return its state and the final task states."""
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    last_deferred_poll: float | None = None
    errors = 0
    while True:
        for service in services:
            service.check_alive()
        try:
            run = api.call("GET", base)
            instances = api.call("GET", f"{base}/taskInstances")["task_instances"]
        except requests.RequestException as exc:  # a busy machine: tolerate a few slow answers
            errors += 1
            if errors >= 10:
                raise RunFailed(f"the API server did not answer 10 polls in a row: {exc!r}") from exc
            time.sleep(1)
            continue
        errors = 0
        if not obs.run_states or obs.run_states[-1] != run["state"]:
            obs.run_states.append(run["state"])
            say(f"run {run_id}: {run['state']}")
        for ti in instances:
            state = ti["state"] or "none"
            if states.get(ti["task_id"]) != state:
                say(f"  {ti['task_id']:<18} -> {state}")
            states[ti["task_id"]] = state
            obs.record(ti["task_id"], state)
            if ti["task_id"] == SENSOR_TASK and state == "deferred":
                now = time.monotonic()
                if obs.deferred_at is None:
                    obs.deferred_at = now
                if last_deferred_poll is not None:
                    obs.deferred_seconds += now - last_deferred_poll
                last_deferred_poll = now
                trigger = ti.get("trigger") or {}
                obs.trigger_classpath = trigger.get("classpath") or obs.trigger_classpath
                obs.triggerer_id = trigger.get("triggerer_id") or obs.triggerer_id
            elif ti["task_id"] == SENSOR_TASK:
                last_deferred_poll = None
        if run["state"] in TERMINAL_RUN_STATES:
            return run["state"], states
        if time.monotonic() > deadline:
            raise RunFailed(f"run {run_id} still {run['state']} after {timeout:.0f} s; task states {states}")
        time.sleep(0.5)


def verify_outputs(
    api: AirflowAPI, run: dict[str, Any], output_dir: Path, sandbox_state: dict[str, Any]
) -> dict[str, Any]:
    """Check the statistics file and the sandbox's contacts and campaign against the tasks' XComs."""
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances"

    def xcom(task_id: str) -> Any:
        return api.call("GET", f"{base}/{task_id}/xcomEntries/return_value", params={"deserialize": True})[
            "value"
        ]

    summary, campaign, stats_path = xcom(IMPORT_TASK), xcom(CAMPAIGN_TASK), xcom("write_statistics")
    problems = []
    stats_file = Path(stats_path)
    if not stats_file.is_file() or output_dir not in stats_file.parents:
        raise RunFailed(f"the statistics file {stats_path!r} is missing or outside {output_dir}")
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    if stats.get("status") != "Concluído" or str(stats.get("campaign_id")) != str(campaign["campaign_id"]):
        problems.append(
            f"statistics file: status {stats.get('status')!r}, campaign {stats.get('campaign_id')!r}"
        )
    lists = [lst for lst in sandbox_state["lists"] if lst["nome"] == LIST_NAME]
    members = len(lists[0]["contatos"]) if lists else 0
    if not lists or members != summary["sent"] or not 0 < summary["sent"] <= summary["received"]:
        problems.append(
            f"sandbox list {LIST_NAME!r} holds {members} contacts, the import sent {summary['sent']}"
        )
    campaigns = [c for c in sandbox_state["campaigns"] if str(c.get("id")) == str(campaign["campaign_id"])]
    current = (campaigns[0].get("current") or {}) if campaigns else {}
    if current.get("status") != "Concluído":
        problems.append(f"sandbox campaign {campaign['campaign_id']}: {current or 'not found'}")
    if not stats.get("total_enviado"):
        problems.append(f"the campaign sent nothing: {stats}")
    if problems:
        raise RunFailed("wrong outputs: " + "; ".join(problems))
    rejected = stats_file.parent / "rejected.csv"
    return {
        "summary": summary,
        "campaign": campaign,
        "stats": stats,
        "stats_file": stats_file,
        "rejected_file": rejected if rejected.exists() else None,
        "list_members": members,
    }


def airflow_environment(
    work: Path, pg: Postgres, ports: dict[str, int], conn_env: dict[str, str]
) -> dict[str, str]:
    """The environment of every Airflow process: configuration, connections and variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and key != "AIRFLOW_HOME"
    }
    home = work / "airflow"
    api_url = f"http://127.0.0.1:{ports['api']}"
    no_proxy = ",".join(p for p in ("127.0.0.1", "localhost", os.environ.get("NO_PROXY", "")) if p)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "http.access=WARNING",  # no line per REST call
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            # metadata DB and executor
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.sqlalchemy_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            # one secret shared by every process: the API server must accept the JWTs the scheduler gives
            # to task workers, and the log servers must accept the API server's signed log requests
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # >= 64 bytes for HS512
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(ports["api"]),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker_logs"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"]),
            # SimpleAuthManager: one admin whose password we wrote to the passwords file beforehand
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                home / "simple_auth_manager_passwords.json"
            ),
            # quick on 2 cores: few parsing processes, short loops
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # only the run we trigger: with catchup=False, unpausing a @daily DAG would also create a
            # scheduled run for the latest tick, whose "one hour after the interval" is usually in the past
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # connections and variables, exactly as a deployment passes them without a secrets backend
            "AIRFLOW_CONN_CRM_DB": json.dumps({"conn_type": "sqlite", "host": str(work / "crm.db")}),
            "AIRFLOW_VAR_EMAILBR_OUTPUT_DIR": str(work / "output"),
        }
    )
    env.update(conn_env)
    return env


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into ``KeyboardInterrupt`` so the ``finally`` blocks clean up.

    SIGINT is set explicitly: a shell without job control starts background commands with it ignored.
    """

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP while cleaning up (every step of the clean-up is bounded in time)."""
    previous = {
        sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def write_api_password(env: dict[str, str]) -> str:
    """A fresh password for :data:`API_USER`, written to SimpleAuthManager's passwords file (mode 0600)."""
    password = secrets.token_urlsafe(18)
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    passwords.write_text(json.dumps({API_USER: password}) + "\n", encoding="utf-8")
    passwords.chmod(0o600)
    return password


def migrate_metadata_db(env: dict[str, str], work: Path) -> None:
    """``airflow db migrate`` into ``work/logs/db-migrate.log``; ``RunFailed`` with its tail when it fails."""
    log_path = work / "logs" / "db-migrate.log"
    with log_path.open("wb") as log:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    if done.returncode != 0:
        raise RunFailed(f"airflow db migrate failed ({done.returncode}):\n{tail(log_path, 40)}")


def airflow_commands(api_port: int) -> dict[str, list[str]]:
    """The command line of each Airflow process of a deployment (API server, scheduler, dag-processor,
    triggerer), run with this Python."""
    airflow = [sys.executable, "-m", "airflow"]
    return {
        "api-server": [
            *airflow,
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
            "--workers",
            "1",
        ],
        "scheduler": [*airflow, "scheduler"],
        "dag-processor": [*airflow, "dag-processor"],
        "triggerer": [*airflow, "triggerer"],
    }


def run(args: argparse.Namespace, work: Path, report: dict[str, Any], services: list[Service]) -> None:
    """Every step of the production-shaped run; ``RunFailed`` on the first thing that goes wrong."""
    sys.path.insert(0, str(REPO / "demo"))
    from make_crm import make_crm

    from emailbr_sandbox import SandboxServer

    phase = time.monotonic()
    pg = Postgres(postgres_bin_dir(), work / "postgres")
    report["cleanup"].append(pg.stop)
    pg.start()
    report["postgres"] = f"{pg.version}, 127.0.0.1:{pg.port}, data in {pg.data}"
    report["phases"]["PostgreSQL initdb + start"] = time.monotonic() - phase
    say(f"PostgreSQL running: {report['postgres']}")

    crm = make_crm(work / "crm.db")
    say(
        f"CRM generated: {crm['rows']} rows ({crm['invalid']} invalid e-mails, "
        f"{crm['duplicates']} duplicates)"
    )
    # One sandbox hour passes in one real second (as in the demo), so the campaign starts about a second
    # after it is created. It then takes 15 s to go out (the demo: 6 s): the sensor's first check in a
    # worker must find it unfinished for the wait to defer, and 15 s leave a slow, busy machine room to
    # start that task; the trigger's second read (poke_interval 30 s) then sees it done.
    sandbox = SandboxServer(campaign_seconds=15, clock_speed=3600).start()
    report["cleanup"].append(sandbox.stop)
    say(f"sandbox running at {sandbox.url}")

    ports = {"api": free_port(), "worker_logs": free_port(), "trigger_logs": free_port()}
    env = airflow_environment(work, pg, ports, sandbox.conn_env)
    home = Path(env["AIRFLOW_HOME"])
    (work / "dags").mkdir()
    (work / "logs").mkdir()
    home.mkdir()
    shutil.copyfile(DAG_FILE, work / "dags" / DAG_FILE.name)
    api_password = write_api_password(env)

    phase = time.monotonic()
    say("airflow db migrate (PostgreSQL) …")
    migrate_metadata_db(env, work)
    report["phases"]["airflow db migrate"] = time.monotonic() - phase

    phase = time.monotonic()
    commands = airflow_commands(ports["api"])
    events = EventsScenario(work, env, sandbox, f"http://127.0.0.1:{ports['api']}")  # events scenario
    for name in PROCESSES:
        service = Service(name, commands[name], work / "logs" / f"{name}.log")
        services.append(service)
        service.start(env, work)
    say("started " + ", ".join(f"{s.name} (pid {s.process.pid})" for s in services if s.process))

    api = AirflowAPI(f"http://127.0.0.1:{ports['api']}")

    def healthy() -> dict[str, Any] | None:
        for service in services:
            service.check_alive()
        return health_if_ready(api)

    wait_for(
        "the API server, scheduler, triggerer and dag-processor to be healthy", healthy, args.start_timeout
    )
    report["phases"]["processes healthy"] = time.monotonic() - phase
    say(f"all healthy: {api.base_url}/api/v2/monitor/health")
    api.login(API_USER, api_password)

    phase = time.monotonic()

    def parsed() -> dict[str, Any] | None:
        for service in services:
            service.check_alive()
        errors = api.call("GET", "/api/v2/importErrors")["import_errors"]
        if errors:
            raise RunFailed(
                "DAG import errors: " + "; ".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
            )
        response = api.request("GET", f"/api/v2/dags/{DAG_ID}")
        return response.json() if response.status_code == 200 else None

    dag = wait_for(f"the dag-processor to parse {DAG_ID}", parsed, args.start_timeout)
    report["phases"]["DAG parsed"] = time.monotonic() - phase
    say(f"{DAG_ID} parsed (paused: {dag['is_paused']}); unpausing and triggering it")
    api.call("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    # a manual run "now": the @daily cron timetable gives it the data interval [now, now], so the campaign
    # is scheduled one (sandbox) hour after now, i.e. about one real second later at clock speed 3600
    now = datetime.now(timezone.utc).replace(microsecond=0)
    run_id = f"production_run__{now:%Y%m%dT%H%M%S}"
    dag_run = api.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": now.isoformat(), "conf": {}},
    )
    report["run"] = dag_run
    say(
        f"triggered {run_id} (data interval "
        f"{dag_run['data_interval_start']} → {dag_run['data_interval_end']})"
    )

    phase = time.monotonic()
    obs: Observation = report["observation"]
    state, task_states = watch_run(api, run_id, services, args.run_timeout, obs)
    report["phases"]["DAG run"] = time.monotonic() - phase
    report["task_states"] = task_states
    if state != "success":
        failed = [t for t, s in task_states.items() if s != "success"]
        raise RunFailed(f"run {run_id} ended {state}: tasks not successful: {failed}")
    if obs.deferred_at is None:
        raise RunFailed(
            f"run {run_id} succeeded but {SENSOR_TASK} was never seen deferred "
            f"(its states: {obs.transitions.get(SENSOR_TASK)})"
        )
    # the triggerer writes what the trigger logged next to the task's log, named after its job id
    task_logs = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={SENSOR_TASK}"
    report["trigger_logs"] = sorted(task_logs.glob("*.trigger.*.log"))
    report["outputs"] = verify_outputs(api, dag_run, work / "output", sandbox.client.state("criaenvio"))
    report["approval"] = scenario_campaign_approval(api, work, sandbox.client, services, args.run_timeout)
    report["events"] = events.check(api, services, args.run_timeout)  # events scenario
    report["ok"] = True


# -- scenario: a campaign approved through the REST API ------------------------------------------------------
APPROVAL_DAG_FILE = REPO / "example_dags" / "emailbr_campaign_with_approval.py"
APPROVAL_DAG_ID = "emailbr_campaign_with_approval"


def scenario_campaign_approval(
    api: AirflowAPI, work: Path, sandbox: Any, services: list[Service], timeout: float
) -> dict[str, Any]:
    """Run ``emailbr_campaign_with_approval``, approve it through the REST API once its ``approve`` task waits
    for input, and check that the run succeeded with exactly one campaign of its message on the sandbox."""
    dags = work / "dags"
    (dags / "data").mkdir(exist_ok=True)
    shutil.copyfile(
        APPROVAL_DAG_FILE.parent / "data" / "clientes_newsletter.csv",
        dags / "data" / "clientes_newsletter.csv",
    )
    shutil.copyfile(APPROVAL_DAG_FILE, dags / APPROVAL_DAG_FILE.name)
    base = f"/api/v2/dags/{APPROVAL_DAG_ID}"

    def alive() -> None:
        for service in services:
            service.check_alive()

    def parsed() -> bool | None:
        alive()
        return True if api.request("GET", base).status_code == 200 else None

    wait_for(f"the dag-processor to parse {APPROVAL_DAG_ID}", parsed, timeout)
    api.call("PATCH", base, json={"is_paused": False})
    now = datetime.now(timezone.utc).replace(microsecond=0)
    run_id = f"production_run_approval__{now:%Y%m%dT%H%M%S}"
    api.call(
        "POST", f"{base}/dagRuns", json={"dag_run_id": run_id, "logical_date": now.isoformat(), "conf": {}}
    )
    say(f"triggered {APPROVAL_DAG_ID} run {run_id}; waiting for its approval to be asked")
    run_path = f"{base}/dagRuns/{run_id}"

    waiting_since: list[float] = []

    def awaiting_input() -> dict[str, Any] | None:
        """The approval request once the task has waited for input for 20 s, as a person answers. On 3.3.2
        an answer that comes before the scheduler has processed the executor event of the workload that
        parked the task (its supervisor lingers ~5 s on this machine) fails the task: the scheduler reads
        that event's "success" against the resumed, queued task instance."""
        alive()
        if api.call("GET", run_path)["state"] in TERMINAL_RUN_STATES:
            raise RunFailed(f"{run_id} ended before its approval was asked")
        ti = api.call("GET", f"{run_path}/taskInstances/approve")
        if ti["state"] != "awaiting_input":
            waiting_since.clear()
            return None
        waiting_since.append(time.monotonic())
        if waiting_since[-1] - waiting_since[0] < 20:
            return None
        return api.call("GET", f"{run_path}/taskInstances/approve/-1/hitlDetails")

    detail = wait_for("the approve task to wait for input", awaiting_input, timeout)
    if detail.get("response_received") or "Novidades da semana" not in detail["subject"]:
        raise RunFailed(f"unexpected approval request: {detail}")
    answer = api.call(
        "PATCH",
        f"{run_path}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {}},
    )
    say(f"approved through the REST API as {answer['responded_by']['name']}")

    def ended() -> str | None:
        alive()
        state = api.call("GET", run_path)["state"]
        return state if state in TERMINAL_RUN_STATES else None

    state = wait_for(f"{run_id} to end", ended, timeout)
    instances = api.call("GET", f"{run_path}/taskInstances")["task_instances"]
    task_states = {ti["task_id"]: ti["state"] for ti in instances}
    if state != "success" or set(task_states.values()) != {"success"}:
        raise RunFailed(f"{run_id} ended {state}: {task_states}")
    message_id = api.call("GET", f"{run_path}/taskInstances/create_message/xcomEntries/return_value")["value"]
    campaigns = [c for c in sandbox.state("criaenvio")["campaigns"] if c["mensagem"] == message_id]
    if len(campaigns) != 1:
        raise RunFailed(f"approved run {run_id}: {len(campaigns)} campaigns of message {message_id}, not 1")
    say(f"approved run {run_id} succeeded with one campaign ({campaigns[0]['id']}) of message {message_id}")
    return {"run_id": run_id, "message_id": message_id, "campaign_id": campaigns[0]["id"]}


# ------------------------------------------------------------------------------------ events scenario

EVENTS_DAG_FILE = REPO / "example_dags" / "emailbr_bounce_suppression.py"
EVENTS_DAG_ID = "emailbr_bounce_suppression"


class EventsScenario:
    """Delivery events end to end: the sandbox posts webhooks to the API server's receiver, the event-driven
    ``emailbr_bounce_suppression`` runs on the asset events and records them.

    Built before the processes start (:meth:`__init__` gives the envie.email and MailGrid connections a
    ``webhook_token``, adds the warehouse connection and the suppression file's variable to ``env``, copies
    the DAG and points the sandbox's callbacks at ``POST /emailbr/webhooks/{conn_id}``); :meth:`check` then
    makes the sandbox send, bounce, delay, hold, open and click, and waits until every event is in the
    warehouse table once and the bounced addresses are in the suppression file.
    """

    def __init__(self, work: Path, env: dict[str, str], sandbox: Any, api_url: str) -> None:
        self.work = work
        self.env = env
        self.sandbox = sandbox
        self.warehouse = work / "warehouse.db"
        self.suppression = work / "output" / "suppress.csv"
        self.tokens = {
            "envie_default": secrets.token_urlsafe(24),
            "mailgrid_default": secrets.token_urlsafe(24),
        }
        for conn_id, token in self.tokens.items():
            key = f"AIRFLOW_CONN_{conn_id.upper()}"
            definition = json.loads(env[key])
            definition["extra"] = {**definition.get("extra", {}), "webhook_token": token}
            env[key] = json.dumps(definition)
        env["AIRFLOW_CONN_EMAILBR_WAREHOUSE"] = json.dumps(
            {"conn_type": "sqlite", "host": str(self.warehouse)}
        )
        env["AIRFLOW_VAR_EMAILBR_SUPPRESSION_FILE"] = str(self.suppression)
        env["EMAILBR_WEBHOOK_STORE"] = str(work / "webhook-store" / "events.db")
        (work / "dags").mkdir(exist_ok=True)
        shutil.copyfile(EVENTS_DAG_FILE, work / "dags" / EVENTS_DAG_FILE.name)
        if not any(
            e.name == "emailbr_webhooks" for e in importlib.metadata.entry_points(group="airflow.plugins")
        ):
            # a checkout whose installed metadata predates the plugin's entry point: load it from a plugins
            # folder instead (an installed provider registers it as the ``airflow.plugins`` entry point)
            plugins = work / "plugins"
            plugins.mkdir(exist_ok=True)
            (plugins / "emailbr_webhooks.py").write_text(
                "from airflow_provider_emailbr.plugins.webhooks import EmailBRWebhooksPlugin  # noqa: F401\n"
            )
            env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
        hooks = f"{api_url}/emailbr/webhooks"
        sandbox.client.config(
            webhook_url=f"{hooks}/envie_default?token={self.tokens['envie_default']}",
            mailgrid_webhook_url=f"{hooks}/mailgrid_default",
            mailgrid_webhook_token=self.tokens["mailgrid_default"],
        )

    def _schedule_asset_runs(self, api: AirflowAPI, services: list[Service]) -> None:
        """Restart the scheduler with ``use_job_schedule`` on: the run above turned it off (so that unpausing
        the daily DAG made no scheduled run), which also stops asset-triggered runs. The daily DAG is paused
        first, so the new scheduler creates no run for it."""
        api.call("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": True})
        [old] = [s for s in services if s.name == "scheduler"]
        stop_services([old])
        self.env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"
        new = Service("scheduler", old.command, old.log)
        services[services.index(old)] = new
        new.start(self.env, self.work)
        say(f"events scenario: scheduler restarted with job schedules on (pid {new.process.pid})")

    def _send(self) -> None:
        """Through the sandbox's APIs: four envie.email sends (delivered, bounced, delayed, held), an open
        and a click, and one MailGrid send to a bouncing address: 7 envie.email webhooks, 1 MailGrid one."""
        connections = self.sandbox.client.connections
        envie = connections["envie"]
        keys = {"public-key": envie["login"], "private-key": envie["password"]}
        sent: dict[str, int] = {}
        for to in ("ana@exemplo.com.br", "bia@bounce.example", "caio@delayed.example", "dani@held.example"):
            body = {
                "to_name": "Cliente",
                "to_email": to,
                "from_name": "Loja",
                "from_email": "remetente@exemplo.com.br",
                "reply_to_name": "Loja",
                "reply_to_email": "remetente@exemplo.com.br",
                "subject": "Pedido",
                "body": "<html><body><a href='https://loja.example/pedido'>Pedido</a></body></html>",
            }
            answer = requests.post(
                envie["host"] + "singlesending/create", json=body, headers=keys, timeout=30
            )
            answer.raise_for_status()
            sent[to] = answer.json()["message_id"]
        self.sandbox.client.envie_event(sent["ana@exemplo.com.br"], "MessageLoaded")
        self.sandbox.client.envie_event(
            sent["ana@exemplo.com.br"], "MessageLinkClicked", url="https://loja.example/pedido"
        )
        mailgrid = connections["mailgrid"]
        body = {
            "host_smtp": mailgrid["extra"]["smtp_host"],
            "usuario_smtp": mailgrid["login"],
            "senha_smtp": mailgrid["password"],
            "emailRemetente": "remetente@exemplo.com.br",
            "emailDestino": ["eva@bounce.example"],
            "assunto": "Pedido",
            "mensagem": "<p>Pedido</p>",
        }
        requests.post(mailgrid["host"] + "send/", json=body, timeout=30).raise_for_status()

    def _rows(self) -> list[tuple[str, str, str, str]]:
        import sqlite3

        if not self.warehouse.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.warehouse)) as db:
            try:
                return db.execute(
                    "SELECT event_id, event_type, vendor, recipient FROM email_events"
                ).fetchall()
            except sqlite3.OperationalError:  # the table is created by the first run
                return []

    def check(self, api: AirflowAPI, services: list[Service], timeout: float) -> dict[str, Any]:
        """Unpause the DAG, make the sandbox post, and wait for the records; ``RunFailed`` when wrong."""
        phase = time.monotonic()

        def parsed() -> dict[str, Any] | None:
            for service in services:
                service.check_alive()
            response = api.request("GET", f"/api/v2/dags/{EVENTS_DAG_ID}")
            return response.json() if response.status_code == 200 else None

        wait_for(f"the dag-processor to parse {EVENTS_DAG_ID}", parsed, timeout)
        self._schedule_asset_runs(api, services)
        api.call("PATCH", f"/api/v2/dags/{EVENTS_DAG_ID}", json={"is_paused": False})
        self._send()
        say("events scenario: the sandbox posts 7 envie.email and 1 MailGrid webhooks to the receiver")

        def delivered() -> list[dict[str, Any]] | None:
            deliveries = self.sandbox.client.webhooks()
            if len(deliveries) == 8 and all(d["done"] for d in deliveries):
                return deliveries
            return None

        deliveries = wait_for("the sandbox's 8 webhook deliveries", delivered, timeout)
        refused = [(d["vendor"], d["event"], d["attempts"]) for d in deliveries if not d["delivered"]]
        if refused:
            raise RunFailed(f"the receiver did not answer 200 to: {refused}")

        def recorded() -> list[tuple[str, str, str, str]] | None:
            for service in services:
                service.check_alive()
            rows = self._rows()
            runs = api.call("GET", f"/api/v2/dags/{EVENTS_DAG_ID}/dagRuns")["dag_runs"]
            failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
            if failed:
                raise RunFailed(f"{EVENTS_DAG_ID} runs failed: {failed}")
            settled = runs and all(r["state"] == "success" for r in runs)
            return rows if len(rows) >= 8 and settled else None

        rows = wait_for(f"{EVENTS_DAG_ID} to record the 8 events", recorded, timeout)
        runs = api.call("GET", f"/api/v2/dags/{EVENTS_DAG_ID}/dagRuns")["dag_runs"]
        kinds = sorted((vendor, event_type) for _, event_type, vendor, _ in rows)
        expected = sorted(
            [("envie", "delivered")] * 2
            + [("envie", "bounced"), ("envie", "deferred"), ("envie", "deferred"), ("envie", "opened")]
            + [("envie", "clicked"), ("mailgrid", "bounced")]
        )
        if kinds != expected or len({event_id for event_id, *_ in rows}) != len(rows):
            raise RunFailed(f"the warehouse holds {kinds}, expected each of {expected} once")
        suppressed = sorted(line.split(",")[0] for line in self.suppression.read_text().splitlines()[1:])
        if suppressed != ["bia@bounce.example", "eva@bounce.example"]:
            raise RunFailed(f"the suppression file holds {suppressed}, expected the two bounced addresses")
        triggers = {r["run_type"] for r in runs}
        if triggers != {"asset_triggered"}:
            raise RunFailed(f"{EVENTS_DAG_ID} runs were {triggers}, expected asset_triggered only")
        say(
            f"events scenario: {len(rows)} events in the warehouse from {len(runs)} asset-triggered run(s), "
            f"{len(suppressed)} addresses suppressed"
        )
        return {
            "seconds": time.monotonic() - phase,
            "runs": len(runs),
            "events": len(rows),
            "suppressed": suppressed,
        }


def print_summary(report: dict[str, Any], services: list[Service]) -> None:
    """The human summary: processes, phase durations, states observed, outputs, result."""
    obs: Observation = report["observation"]
    print()
    print(f"== production-shaped run of {DAG_ID}: {'SUCCESS' if report['ok'] else 'FAILED'} ==")
    if report.get("postgres"):
        print(f"metadata DB : {report['postgres']}")
    for service in services:
        if service.process is not None:
            up = (service.stopped_at or time.monotonic()) - service.started_at
            print(
                f"process     : airflow {service.name:<14} pid {service.process.pid:<7} "
                f"up {up:5.0f} s, exit {service.exit_code}"
            )
    for phase, seconds in report["phases"].items():
        print(f"phase       : {phase:<26} {seconds:6.1f} s")
    if report.get("run"):
        print(f"DAG run     : {report['run']['dag_run_id']} states {' → '.join(obs.run_states)}")
    for task_id, history in obs.transitions.items():
        print(f"  {task_id:<18} {' → '.join(history)}")
    if obs.deferred_at is not None:
        print(
            f"sensor      : {SENSOR_TASK} seen DEFERRED for ~{obs.deferred_seconds:.0f} s, trigger "
            f"{obs.trigger_classpath} on triggerer job {obs.triggerer_id}"
        )
        for path in report.get("trigger_logs", []):
            print(
                f"trigger log : {path.name} ({len(path.read_text().splitlines())} lines, from the triggerer)"
            )
    elif report.get("run"):
        print(f"sensor      : {SENSOR_TASK} was never seen deferred")
    outputs = report.get("outputs")
    if outputs:
        summary, campaign, stats = outputs["summary"], outputs["campaign"], outputs["stats"]
        print(
            f"contacts    : {summary.get('received')} read, {summary.get('sent')} imported "
            f"({summary.get('created')} created, {summary.get('updated')} updated), "
            f"{summary.get('duplicates')} duplicates, {summary.get('rejected')} rejected; "
            f"sandbox list {LIST_NAME!r} holds {outputs['list_members']}"
        )
        print(f"campaign    : {campaign.get('campaign_id')} scheduled for {campaign.get('scheduled_for')}")
        print(
            f"result      : {stats.get('status')}, {stats.get('total_enviado')} sent, open rate "
            f"{stats.get('taxa_de_abertura')}%, statistics in {outputs['stats_file']}"
        )
    print(f"took {time.monotonic() - STARTED:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, AIRFLOW_HOME, outputs)"
    )
    parser.add_argument(
        "--run-timeout", type=float, default=420, help="seconds the DAG run may take (default 420)"
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=240,
        help="seconds for the processes to get healthy / parse (default 240)",
    )
    args = parser.parse_args()
    try:
        check_python_environment()
    except RunFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="emailbr-production-"))
    work.chmod(0o711)  # the postgres OS user must reach its cluster directory inside
    say(f"work directory {work}")
    services: list[Service] = []
    report: dict[str, Any] = {"ok": False, "phases": {}, "observation": Observation(), "cleanup": []}
    error: BaseException | None = None
    try:
        with terminate_on_signals():
            run(args, work, report, services)
    except (RunFailed, KeyboardInterrupt, subprocess.TimeoutExpired, requests.RequestException) as exc:
        error = exc
    finally:
        with shielded():
            say("stopping the Airflow processes …")
            stop_services(services)
            for cleanup in reversed(report["cleanup"]):
                try:
                    cleanup()
                except Exception as exc:  # clean-up goes on whatever one step did
                    say(f"clean-up step {cleanup} failed: {exc!r}")
    if error is not None:
        print(f"\nFAILED: {type(error).__name__}: {error}", file=sys.stderr)
        for service in services:
            print(f"--- last lines of {service.log} ---\n{tail(service.log, 25)}", file=sys.stderr)
        if report.get("run"):
            history = report["observation"].transitions
            unfinished = [task for task, states in history.items() if states[-1] != "success"]
            home = work / "airflow"
            print(task_log_tails(home, report["run"]["dag_run_id"], unfinished), file=sys.stderr)
    print_summary(report, services)
    if args.keep or error is not None:
        print(
            f"work directory kept: {work} (logs in {work / 'logs'}, task logs in {work / 'airflow' / 'logs'})"
        )
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report["ok"] and error is None else 1


if __name__ == "__main__":
    sys.exit(main())
