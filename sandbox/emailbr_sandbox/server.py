"""Run the sandbox in a subprocess: :class:`SandboxServer` (a context manager).

The server runs as ``python -m emailbr_sandbox --port 0 …`` in its own process (so tests,
benchmarks and the server do not share a GIL). Its output goes to a log file, which is polled for the ready
line to learn the URL. The child exits when its stdin closes, so it never outlives the process that
started it, even if that process is killed.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from .client import SandboxClient
from .constants import READY_RE

#: Directory holding the ``emailbr_sandbox`` package, added to the child's ``PYTHONPATH`` so that the child
#: runs the same sandbox as its parent even when that one is not installed (a source checkout on sys.path).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def _per_vendor_args(flag: str, value: float | Mapping[str, float] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [arg for vendor, number in value.items() for arg in (flag, f"{vendor}={number}")]
    return [flag, str(value)]


class SandboxServer:
    """Start the sandbox in a subprocess and stop it on exit.

    Example::

        with SandboxServer(campaign_seconds=2, clock_speed=3600) as server:
            os.environ.update(server.conn_env)
            server.client.set_fault("status", vendor="mailgrid", status=503, count=1)
            ...

    Keyword arguments mirror the CLI flags (``latency_ms``, ``error_rate`` and ``rate_limit`` take a number
    for all vendors or a ``{vendor: value}`` mapping); ``extra_args`` are appended verbatim.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        campaign_seconds: float | None = None,
        report_lag_seconds: float | None = None,
        clock_speed: float | None = None,
        timezone: str | None = None,
        latency_ms: float | Mapping[str, float] | None = None,
        error_rate: float | Mapping[str, float] | None = None,
        rate_limit: float | Mapping[str, float] | None = None,
        credits: int | None = None,
        webhook_url: str | None = None,
        state_file: str | os.PathLike[str] | None = None,
        extra_args: Iterable[str] = (),
        python: str | None = None,
        startup_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        keep_log: bool = False,
    ) -> None:
        args = ["--host", host, "--port", str(port), "--exit-on-stdin-eof"]
        for flag, value in (
            ("--seed", seed),
            ("--campaign-seconds", campaign_seconds),
            ("--report-lag-seconds", report_lag_seconds),
            ("--clock-speed", clock_speed),
            ("--timezone", timezone),
            ("--credits", credits),
            ("--webhook-url", webhook_url),
            ("--state-file", state_file),
        ):
            if value is not None:
                args += [flag, str(value)]
        args += _per_vendor_args("--latency-ms", latency_ms)
        args += _per_vendor_args("--error-rate", error_rate)
        args += _per_vendor_args("--rate-limit", rate_limit)
        args += list(extra_args)
        self.args = args
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.env = dict(env) if env is not None else None
        self.keep_log = keep_log
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.log_path: str | None = None
        self._log: IO[bytes] | None = None
        self._client: SandboxClient | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Start the subprocess and wait for its ready line (``RuntimeError`` if it fails or times out)."""
        if self.process is not None:
            raise RuntimeError("this SandboxServer is already started")
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        handle, self.log_path = tempfile.mkstemp(prefix="emailbr-sandbox-", suffix=".log")
        self._log = os.fdopen(handle, "wb")
        self.process = subprocess.Popen(
            [self.python, "-m", "emailbr_sandbox", *self.args],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        atexit.register(self.stop)
        try:
            self.url = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> str:
        assert self.process is not None and self.log_path is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            text = Path(self.log_path).read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                found = READY_RE.match(line)
                if found:
                    return found.group("url")
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the sandbox exited with code {self.process.returncode} before it was ready:\n"
                    f"{text[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the sandbox was not ready after {self.startup_timeout} s:\n{text[-4000:]}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the subprocess gracefully (it saves its state file), killing it after ``timeout`` seconds."""
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                if process.stdin is not None:
                    process.stdin.close()  # the child shuts down on stdin EOF
                process.wait(timeout / 2)
            except (OSError, subprocess.TimeoutExpired):
                process.terminate()
                try:
                    process.wait(timeout / 2)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        elif process is not None and process.stdin is not None:
            process.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_path is not None and not self.keep_log:
            Path(self.log_path).unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the sandbox."""
        return self.process.pid if self.process is not None else None

    @property
    def port(self) -> int:
        """The TCP port the sandbox listens on."""
        return int(self._require_url().rsplit(":", 1)[1])

    @property
    def client(self) -> SandboxClient:
        """Admin client of this sandbox (also exposes vendor URLs, credentials and ``conn_env``)."""
        if self._client is None:
            self._client = SandboxClient(self._require_url())
        return self._client

    @property
    def conn_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` variables of the five default connections."""
        return self.client.conn_env

    def read_log(self) -> str:
        """Return what the subprocess printed (ready line, export lines, uvicorn messages); ``""`` once the
        log was deleted by :meth:`stop`."""
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        return Path(self.log_path).read_text(encoding="utf-8", errors="replace")

    def _require_url(self) -> str:
        if self.url is None:
            raise RuntimeError("the sandbox is not started")
        return self.url

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "process", None) is not None:
            self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, pid={self.pid})"
