"""A real ``airflow api-server`` on a throw-away ``AIRFLOW_HOME``, for tests and benchmarks.

SQLite metadata database, SimpleAuthManager with every user an admin (``GET /auth/token`` gives a JWT),
connections from ``AIRFLOW_CONN_*`` variables, DAG files written into its DAG folder and serialised with
``airflow dags reserialize`` (so their assets exist without a dag-processor). The provider's plugins load
through their ``airflow.plugins`` entry points, so the provider must be installed (``pip install -e .``):
:func:`plugin_installed` tells.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PLUGIN_ENTRY_POINT = "emailbr_webhooks"


def plugin_installed() -> bool:
    """Whether the webhook plugin's ``airflow.plugins`` entry point is registered in this environment."""
    from importlib.metadata import entry_points

    return any(e.name == PLUGIN_ENTRY_POINT for e in entry_points(group="airflow.plugins"))


def free_port() -> int:
    """A TCP port free on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_command() -> list[str]:
    """How to run this environment's Airflow CLI."""
    return [sys.executable, "-m", "airflow"]


def airflow_env(
    home: Path, *, connections: Mapping[str, Mapping[str, Any]] = (), **config: str
) -> dict[str, str]:
    """The environment of a throw-away Airflow; ``connections`` become ``AIRFLOW_CONN_*`` JSON variables and
    ``config`` items ``AIRFLOW__SECTION__KEY`` values (``api__workers="2"``)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "EMAILBR_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": "emailbr-test-jwt-secret-" + "x" * 48,
        }
    )
    for conn_id, fields in dict(connections).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)
    for key, value in config.items():
        section, _, option = key.partition("__")
        env[f"AIRFLOW__{section.upper()}__{option.upper()}"] = value
    return env


class ApiServer:
    """A running api-server: its base URL, its log, and a small JSON client with a JWT."""

    def __init__(self, url: str, home: Path, log_path: Path, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.home = home
        self.log_path = log_path
        self.process = process
        self._jwt: str | None = None

    def crash(self) -> None:
        """Kill the server and its workers at once (``SIGKILL``: no shutdown code runs)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        """One request; returns ``(status, JSON body or text)``."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if auth:
            all_headers["Authorization"] = f"Bearer {self.jwt()}"
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def jwt(self) -> str:
        """A token from ``GET /auth/token`` (all users are admins here)."""
        if self._jwt is None:
            status, body = self.request("GET", "/auth/token", auth=False)
            if status not in (200, 201):
                raise RuntimeError(f"GET /auth/token answered {status}: {body}")
            self._jwt = body["access_token"]
        return self._jwt


@contextmanager
def api_server(
    home: Path,
    *,
    dags: Mapping[str, str] = (),
    connections: Mapping[str, Mapping[str, Any]] = (),
    timeout: float = 180.0,
    workers: int = 1,
    extra_env: Mapping[str, str] = (),
    port: int | None = None,
) -> Iterator[ApiServer]:
    """Migrate a fresh metadata DB, write and serialise ``dags`` (file name → source), start the server
    (on ``port``, or a free one)."""
    env = airflow_env(home, connections=connections, api__workers=str(workers))
    env.update(dict(extra_env))
    dag_folder = home / "dags"
    dag_folder.mkdir(parents=True, exist_ok=True)
    for name, source in dict(dags).items():
        (dag_folder / name).write_text(source)
    log_path = home / "api-server.log"
    with log_path.open("wb") as setup_log:
        subprocess.run(
            [*airflow_command(), "db", "migrate"],
            env=env,
            check=True,
            stdout=setup_log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
        if dags:
            subprocess.run(
                [*airflow_command(), "dags", "reserialize"],
                env=env,
                check=True,
                stdout=setup_log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
    port = port or free_port()
    server_log = log_path.open("ab")
    process = subprocess.Popen(
        [
            *airflow_command(),
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops its uvicorn workers too
    )
    server = ApiServer(f"http://127.0.0.1:{port}", home, log_path, process)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"api-server exited with {process.returncode}:\n{server.log_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{server.url}/api/v2/monitor/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"api-server not healthy after {timeout:.0f} s:\n{server.log_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        server_log.close()


def wait_until(check: Any, *, timeout: float, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes (``AssertionError``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)
