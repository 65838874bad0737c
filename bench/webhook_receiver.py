"""Measure the webhook receiver inside a real ``airflow api-server``: posts per second, each event stored once.

Run (the provider must be installed, so that its ``airflow.plugins`` entry point is registered)::

    python bench/webhook_receiver.py [--seconds 10] [--connections 32] [--workers 1] [--duplicates 0.1]

A throw-away Airflow (SQLite metadata DB) gets a DAG scheduled on ``emailbr://events/bench`` and an envie.email
connection with a ``webhook_token``. Then, each for ``--seconds`` through ``--connections`` concurrent
keep-alive connections of a minimal asyncio HTTP/1.1 client (so that the client takes as little of the
machine's CPU as possible):

1. **baseline**: ``GET /api/v2/version``, the API server's own cheapest authenticated route;
2. **webhooks**: ``POST /emailbr/webhooks/bench?token=…`` with envie.email ``MessageLoaded`` bodies, a share
   of them (``--duplicates``) repeating an earlier body as a vendor's retry would.

Then it waits for the publisher and checks, against what was sent: every distinct event is in the store
exactly once, every post got 200, and the asset events on ``emailbr://events/bench`` (read through the REST
API) carry each distinct event exactly once. Target: at least 500 posts/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.apiserver import api_server, plugin_installed, wait_until

TARGET = 500
CONN_ID = "bench"
TOKEN = "bench-" + "k" * 40
DAG = """
from airflow.sdk import DAG, Asset, task

with DAG("emailbr_bench_consumer", schedule=[Asset("emailbr://events/bench")]):

    @task
    def consume(triggering_asset_events=None):
        return None

    consume()
"""


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux ``/proc``)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue.extend(int(child) for child in (task / "children").read_text().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds used so far by ``pid`` and its descendants."""
    import os

    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def envie_body(number: int) -> bytes:
    """One distinct ``MessageLoaded`` body (its message id and time make its event id)."""
    return json.dumps(
        {
            "event": "MessageLoaded",
            "timestamp": 1767265200 + number,
            "payload": {
                "ip_address": "200.1.2.3",
                "user_agent": "Mozilla/5.0",
                "message": {
                    "id": number,
                    "to": f"pessoa{number}@exemplo.com.br",
                    "from": "loja@exemplo.com.br",
                    "timestamp": 1767261600,
                    "tag": "bench",
                },
            },
        }
    ).encode()


def raw_request(method: str, host: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response off a keep-alive connection; returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def drive(
    port: int, make_request: object, seconds: float, connections: int
) -> tuple[int, Counter, float]:
    """Send requests made by ``make_request(i)`` on ``connections`` sockets for ``seconds``."""
    statuses: Counter = Counter()
    sent = 0
    stop_at = time.perf_counter() + seconds

    async def one_connection() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                index = sent
                sent += 1
                writer.write(make_request(index))  # type: ignore[operator]
                statuses[await read_response(reader)] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return sent, statuses, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="airflow api-server --workers")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of posts repeating a body")
    args = parser.parse_args()
    if not plugin_installed():
        print("the provider is not installed (pip install -e .): its webhook plugin is not registered")
        return 2
    random.seed(15)
    with tempfile.TemporaryDirectory(prefix="emailbr-bench-webhooks-") as tmp:
        home = Path(tmp)
        store_path = home / "webhook-events.db"
        connection = {
            "conn_type": "envie_email",
            "host": "https://envie.invalid",
            "extra": {"webhook_token": TOKEN},
        }
        print(f"starting airflow api-server (--workers {args.workers}) …", flush=True)
        with api_server(
            home,
            dags={"bench_consumer.py": DAG},
            connections={CONN_ID: connection},
            workers=args.workers,
            extra_env={
                "EMAILBR_WEBHOOK_STORE": str(store_path),
                "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "http.access=WARNING",
            },
        ) as server:
            port = int(server.url.rsplit(":", 1)[1])
            host = f"127.0.0.1:{port}"
            version = raw_request("GET", host, "/api/v2/version", {"Authorization": f"Bearer {server.jwt()}"})
            webhook_path = f"/emailbr/webhooks/{CONN_ID}?token={TOKEN}"
            json_headers = {"Content-Type": "application/json"}
            sent_numbers: list[int] = []

            def webhook(index: int) -> bytes:
                if sent_numbers and random.random() < args.duplicates:
                    number = random.choice(sent_numbers)  # a vendor's retry of an earlier post
                else:
                    number = index
                    sent_numbers.append(number)
                return raw_request("POST", host, webhook_path, json_headers, envie_body(number))

            # warm-up (first requests build the app, look the connection up, open the store)
            asyncio.run(drive(port, lambda i: version, 1.0, 4))
            asyncio.run(
                drive(
                    port,
                    lambda i: raw_request("POST", host, webhook_path, json_headers, envie_body(-1 - i)),
                    1.0,
                    4,
                )
            )
            warm_count = (
                sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM webhook_event").fetchone()[0]
            )
            pid = server.process.pid
            cpu_start, client_start = cpu_seconds(pid), time.process_time()
            base_sent, base_status, base_elapsed = asyncio.run(
                drive(port, lambda i: version, args.seconds, args.connections)
            )
            cpu_base, client_base = cpu_seconds(pid) - cpu_start, time.process_time() - client_start
            cpu_start, client_start = cpu_seconds(pid), time.process_time()
            hook_sent, hook_status, hook_elapsed = asyncio.run(
                drive(port, webhook, args.seconds, args.connections)
            )
            cpu_hooks, client_hooks = cpu_seconds(pid) - cpu_start, time.process_time() - client_start
            baseline_rate = base_sent / base_elapsed
            hook_rate = hook_sent / hook_elapsed
            distinct = set(sent_numbers)

            # every event stored once
            def published() -> bool:
                db = sqlite3.connect(store_path)
                try:
                    return (
                        db.execute(
                            "SELECT COUNT(*) FROM webhook_event WHERE published_at IS NULL"
                        ).fetchone()[0]
                        == 0
                    )
                finally:
                    db.close()

            wait_until(published, timeout=120, interval=0.5)
            db = sqlite3.connect(store_path)
            rows = db.execute("SELECT event_id, event_json FROM webhook_event").fetchall()
            db.close()
            stored_messages = Counter(
                json.loads(text)["message_id"]
                for _, text in rows
                if json.loads(text)["tag"] == "bench" and int(json.loads(text)["message_id"]) >= 0
            )
            stored_once = (
                set(stored_messages) == {str(n) for n in distinct} and max(stored_messages.values()) == 1
            )

            # every event in exactly one asset event
            _, assets = server.request("GET", "/api/v2/assets?uri_pattern=emailbr%3A%2F%2Fevents%2Fbench")
            asset_id = assets["assets"][0]["id"]
            in_assets: Counter = Counter()
            offset, asset_events = 0, 0
            while True:
                _, page = server.request(
                    "GET", f"/api/v2/assets/events?asset_id={asset_id}&limit=100&offset={offset}"
                )
                batch = page["asset_events"]
                if not batch:
                    break
                for event in batch:
                    asset_events += 1
                    for item in event["extra"]["events"]:
                        if int(item["message_id"]) >= 0:
                            in_assets[item["message_id"]] += 1
                offset += len(batch)
            assets_once = set(in_assets) == {str(n) for n in distinct} and max(in_assets.values()) == 1

        print()
        print(f"machine: {__import__('os').cpu_count()} CPUs (shared with other work: figures are noisy)")
        print(
            f"api-server workers: {args.workers}; client: {args.connections} keep-alive connections, {args.seconds:.0f} s each"
        )
        print(f"baseline GET /api/v2/version: {baseline_rate:8.1f} req/s  statuses {dict(base_status)}")
        print(
            f"webhook POSTs:                {hook_rate:8.1f} posts/s  statuses {dict(hook_status)}  "
            f"({hook_rate / baseline_rate:.0%} of baseline)"
        )
        print(
            f"api-server CPU per request: baseline {cpu_base / base_sent * 1e6:.0f} µs, "
            f"webhook post {cpu_hooks / hook_sent * 1e6:.0f} µs (storing and publishing included); "
            f"CPU seconds used {cpu_base:.1f} and {cpu_hooks:.1f} in {base_elapsed:.1f} and {hook_elapsed:.1f} s"
        )
        print(f"client CPU seconds: baseline {client_base:.1f}, webhooks {client_hooks:.1f}")
        print(
            f"  posts {hook_sent}, distinct events {len(distinct)}, vendor retries {hook_sent - len(distinct)}"
        )
        print(
            f"  store: {len(stored_messages)} distinct events, each stored once: {stored_once} (warm-up rows: {warm_count})"
        )
        print(
            f"  asset events: {asset_events}, carrying {sum(in_assets.values())} events, each once: {assets_once}"
        )
        ok = hook_rate >= TARGET and stored_once and assets_once and set(hook_status) == {200}
        print(
            f"target ≥ {TARGET} posts/s with every event stored and published once: {'MET' if ok else 'MISSED'}"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
