"""Should the hooks' synchronous path use ``httpx.Client`` instead of ``requests.Session``? Measure both.

Run::

    python bench/http_clients.py [--seconds 2.5] [--threads 8]

The hooks send every synchronous request through one pooled client and read the answer streamed, under a size
cap (``stream=True`` + ``iter_content`` with requests, ``Client.stream`` + ``iter_bytes`` with httpx). This
benchmark does exactly that, with the same pool sizes as the hooks (32 keep-alive connections per host, no
redirects, no library retries), against two independent loopback servers, each in its own process:

- **sandbox**: the emailbr sandbox (uvicorn), ``GET /emailmanager/deliverystats`` with its token header;
- **stdlib**: a minimal ``http.server.ThreadingHTTPServer`` (HTTP/1.1 keep-alive) answering a fixed small JSON.

For each server × client it measures:

- **sequential**: one thread, one request at a time: requests per second and latency (p50, p99);
- **concurrent**: ``--threads`` threads sharing the one client (a thread pool, as the bulk operators use):
  requests per second and latency.

and the client's own CPU time per request (``time.process_time`` of this process, which runs only the
clients: on a 2-core machine the client's CPU cost is what competes with everything else). The first rows
(requests) are the baseline; the "httpx/requests" column is the ratio of httpx's throughput to it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Keep-alive connections per host, as ``EmailBRHook.session`` mounts them.
POOL_SIZE = 32
#: Bytes read per chunk, as the hooks read answers.
CHUNK_BYTES = 65536
STDLIB_BODY = json.dumps({"InactiveMails": 0, "Bounced": [{"Name": "Hard bounce", "Count": 0}]}).encode()


@dataclass(frozen=True)
class Target:
    """A server under test: its name, the URL of the cheap read, and the headers that read needs."""

    name: str
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Result:
    """One run: requests per second, latency percentiles in milliseconds, client CPU µs per request."""

    rate: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


def serve_stdlib() -> None:
    """Serve :data:`STDLIB_BODY` on a free loopback port; print the port; stop when stdin closes."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(STDLIB_BODY)))
            self.end_headers()
            self.wfile.write(STDLIB_BODY)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(httpd.server_address[1], flush=True)
    sys.stdin.read()
    httpd.shutdown()


@contextmanager
def stdlib_server() -> Iterator[str]:
    """Run :func:`serve_stdlib` in a child process; yield its base URL."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-stdlib"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)


def requests_fetcher() -> tuple[Callable[[str, dict[str, str]], bytes], Callable[[], None]]:
    """A ``requests.Session`` mounted as the hooks mount it, and a streamed read like ``_send_once``."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("http://", adapter)

    def fetch(url: str, headers: dict[str, str]) -> bytes:
        response = session.request(
            "GET", url, headers=headers, timeout=(10, 30), allow_redirects=False, stream=True
        )
        try:
            body = b"".join(response.iter_content(CHUNK_BYTES))
        finally:
            response.close()
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        return body

    return fetch, session.close


def httpx_fetcher() -> tuple[Callable[[str, dict[str, str]], bytes], Callable[[], None]]:
    """An ``httpx.Client`` with the same pool size, and a streamed read like the hooks' async path."""
    import httpx

    client = httpx.Client(
        limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE), trust_env=True
    )
    timeout = httpx.Timeout(30, connect=10)

    def fetch(url: str, headers: dict[str, str]) -> bytes:
        with client.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=False) as response:
            body = b"".join(response.iter_bytes(CHUNK_BYTES))
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        return body

    return fetch, client.close


CLIENTS: dict[str, Callable[[], tuple[Callable[[str, dict[str, str]], bytes], Callable[[], None]]]] = {
    "requests.Session": requests_fetcher,
    "httpx.Client": httpx_fetcher,
}


def run(
    fetch: Callable[[str, dict[str, str]], bytes], target: Target, seconds: float, threads: int
) -> Result:
    """Call ``fetch`` from ``threads`` threads for ``seconds``; return throughput, latency and CPU cost."""
    deadline_box: list[float] = []

    def worker() -> list[float]:
        latencies: list[float] = []
        while time.perf_counter() < deadline_box[0]:
            started = time.perf_counter()
            fetch(target.url, target.headers)
            latencies.append(time.perf_counter() - started)
        return latencies

    deadline_box.append(time.perf_counter() + min(0.5, seconds / 4))  # warm-up: open the pool
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: worker(), range(threads)))
        cpu_before = time.process_time()
        started = time.perf_counter()
        deadline_box[0] = started + seconds
        per_thread = list(pool.map(lambda _: worker(), range(threads)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
    latencies = sorted(latency for chunk in per_thread for latency in chunk)
    count = len(latencies)
    return Result(
        rate=count / elapsed,
        p50_ms=statistics.median(latencies) * 1e3,
        p99_ms=latencies[min(count - 1, int(count * 0.99))] * 1e3,
        cpu_us=cpu / count * 1e6,
    )


def main() -> int:
    """Start both servers, measure every server × client × mode, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.5, help="duration of each measured run")
    parser.add_argument("--threads", type=int, default=8, help="threads of the concurrent runs")
    parser.add_argument("--serve-stdlib", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stdlib:
        serve_stdlib()
        return 0

    import httpx
    import requests

    try:
        from emailbr_sandbox import SandboxServer
        from emailbr_sandbox.constants import EMAILMANAGER_TOKEN
    except ImportError:
        from airflow_provider_emailbr.sandbox import SandboxServer
        from airflow_provider_emailbr.sandbox.constants import EMAILMANAGER_TOKEN

    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, requests {requests.__version__}, "
        f"httpx {httpx.__version__}; {args.seconds:g} s per run, concurrent = {args.threads} threads, "
        f"pool {POOL_SIZE} keep-alive connections"
    )
    rows: list[tuple[str, str, str, Result]] = []
    with SandboxServer() as sandbox, stdlib_server() as stdlib_url:
        targets = [
            Target(
                "sandbox",
                f"{sandbox.url}/emailmanager/deliverystats",
                {"X-Emailmanager-Server-Token": EMAILMANAGER_TOKEN, "Accept": "application/json"},
            ),
            Target("stdlib", stdlib_url + "deliverystats", {"Accept": "application/json"}),
        ]
        for target in targets:
            for mode, threads in (("sequential", 1), ("concurrent", args.threads)):
                for client_name, build in CLIENTS.items():
                    fetch, close = build()
                    try:
                        rows.append(
                            (target.name, mode, client_name, run(fetch, target, args.seconds, threads))
                        )
                    finally:
                        close()

    header = (
        f"{'server':8} {'mode':10} {'client':17} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10}"
    )
    print("\n" + header + f" {'httpx/requests':>15}\n" + "-" * (len(header) + 16))
    baseline: dict[tuple[str, str], float] = {}
    for server_name, mode, client_name, result in rows:
        key = (server_name, mode)
        ratio = ""
        if client_name == "requests.Session":
            baseline[key] = result.rate
        elif key in baseline:
            ratio = f"{result.rate / baseline[key]:.2f}x"
        print(
            f"{server_name:8} {mode:10} {client_name:17} {result.rate:8,.0f} {result.p50_ms:7.2f} "
            f"{result.p99_ms:7.2f} {result.cpu_us:10,.0f} {ratio:>15}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
