"""Measure how fast the emailbr sandbox answers, so it is never the bottleneck of the provider's benchmarks.

Run::

    python bench/sandbox_throughput.py [--seconds 3] [--contacts 100000]

The sandbox runs in its own process (``SandboxServer``). Two figures are measured:

1. trivial calls per second (``GET /emailmanager/deliverystats``: token + JSON headers checked, tiny JSON
   answer), first through one pooled keep-alive client at a time: ``requests.Session``, ``httpx.Client``
   (what the provider's hooks use, sync and async) and ``urllib3``. One synchronous Python client is slower than
   the sandbox, so the sandbox's own CPU time per request is also read from ``/proc`` (Linux), and the
   sustained rate is measured with 16 concurrent keep-alive connections from an asyncio client;
2. contacts per second through IAGENTEmail's ``contact/mass/add``, in chunks of 500 contacts sent as
   PHP-bracket form bodies (``contacts[0][email]=…``) built with one ``str.join``.

Targets: at least 2,000 trivial requests/s and 20,000 contacts/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emailbr_sandbox import SandboxServer
from emailbr_sandbox.constants import EMAILMANAGER_TOKEN, IAGENTE_KEY

TRIVIAL_TARGET = 2000
CONTACTS_TARGET = 20000
CHUNK = 500
CONNECTIONS = 16
TRIVIAL_PATH = "emailmanager/deliverystats"
TRIVIAL_HEADERS = {"X-Emailmanager-Server-Token": EMAILMANAGER_TOKEN, "Accept": "application/json"}


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds used so far by process ``pid`` (``None`` where ``/proc`` is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(call: Callable[[], object], seconds: float, pid: int) -> tuple[float, float | None]:
    """Run ``call`` in a loop for ``seconds``; return (calls per second, sandbox CPU µs per call)."""
    for _ in range(200):
        call()
    cpu_before = cpu_seconds(pid)
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        call()
        count += 1
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    per_call = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / count * 1e6
    return count / elapsed, per_call


def trivial_clients(base: str, port: int) -> dict[str, Callable[[], object]]:
    """Keep-alive clients available in this environment, each as a zero-argument call."""
    import requests

    url = base + TRIVIAL_PATH
    session = requests.Session()
    clients: dict[str, Callable[[], object]] = {
        "requests.Session": lambda: session.get(url, headers=TRIVIAL_HEADERS).raise_for_status()
    }
    try:
        import httpx

        client = httpx.Client()
        clients["httpx.Client"] = lambda: client.get(url, headers=TRIVIAL_HEADERS).raise_for_status()
    except ImportError:
        pass
    try:
        import urllib3

        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)
        path = "/" + TRIVIAL_PATH
        clients["urllib3 pool"] = lambda: pool.request("GET", path, headers=TRIVIAL_HEADERS).data
    except ImportError:
        pass
    return clients


RAW_REQUEST = (
    f"GET /{TRIVIAL_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    + "".join(f"{k}: {v}\r\n" for k, v in TRIVIAL_HEADERS.items())
    + "\r\n"
).encode("latin-1")


async def _saturate(port: int, seconds: float, connections: int) -> float:
    """Drive the sandbox with ``connections`` keep-alive HTTP/1.1 connections; return requests per second."""
    import asyncio

    deadline = time.perf_counter() + seconds

    async def worker() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        done = 0
        while time.perf_counter() < deadline:
            writer.write(RAW_REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            done += 1
        writer.close()
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(worker() for _ in range(connections)))
    return sum(counts) / (time.perf_counter() - started)


def saturate(port: int, seconds: float, connections: int, pid: int) -> tuple[float, float | None]:
    """Run :func:`_saturate` (on uvloop when available); return (req/s, sandbox CPU µs per request)."""
    import asyncio

    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_saturate(port, 0.5, connections))  # warm-up
        cpu_before = cpu_seconds(pid)
        rate = loop.run_until_complete(_saturate(port, seconds, connections))
        cpu_after = cpu_seconds(pid)
    finally:
        loop.close()
    per_call = None
    if cpu_before is not None and cpu_after is not None:
        per_call = (cpu_after - cpu_before) / (rate * seconds) * 1e6
    return rate, per_call


def mass_add_body(group_id: int, start: int, size: int) -> str:
    """One PHP-bracket form body of ``size`` contacts."""
    parts = [f"group_id={group_id}"]
    for i in range(size):
        n = start + i
        email = quote_plus(f"contato{n}@exemplo.com.br")
        parts.append(f"contacts[{i}][email]={email}&contacts[{i}][name]=Contato+{n}&contacts[{i}][field1]=SP")
    return "&".join(parts)


def mass_add(base: str, contacts: int, pid: int) -> tuple[float, float | None]:
    """Import ``contacts`` contacts in chunks of 500; return (contacts/s, sandbox CPU µs per contact)."""
    import requests

    session = requests.Session()
    headers = {"IAGENTE-KEY": IAGENTE_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    url = base + "iagente/v1/contact/mass/add"
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    for start in range(0, contacts, CHUNK):
        answer = session.post(
            url, data=mass_add_body(1, start, min(CHUNK, contacts - start)), headers=headers
        )
        answer.raise_for_status()
        if answer.json().get("imports") != min(CHUNK, contacts - start):
            raise RuntimeError(f"unexpected mass-add answer: {answer.text[:300]}")
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    per_contact = (
        None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / contacts * 1e6
    )
    return contacts / elapsed, per_contact


def main() -> int:
    """Run both measurements and print the figures; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each trivial-call run")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts imported through mass-add")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with SandboxServer() as server:
        pid = server.pid
        assert pid is not None
        base = server.url + "/"
        print(f"sandbox: {server.url} (pid {pid}, own process)\n")
        print(f"trivial calls: GET /{TRIVIAL_PATH}, one keep-alive connection, {args.seconds:g} s each")
        best = 0.0
        capacity = None
        for name, call in trivial_clients(base, server.port).items():
            rate, cpu_us = measure(call, args.seconds, pid)
            best = max(best, rate)
            if cpu_us:
                capacity = 1e6 / cpu_us
                load = f"sandbox CPU {cpu_us:6.0f} µs/request = {100 * rate * cpu_us / 1e6:3.0f}% of one core"
            else:
                load = "sandbox CPU n/a"
            print(f"  {name:18s} {rate:8,.0f} req/s   ({load})")
        if capacity:
            print(f"  one request in flight, sandbox CPU alone would allow {capacity:,.0f} req/s")
        print(f"\nsustained load: {CONNECTIONS} keep-alive connections (asyncio client), {args.seconds:g} s")
        sustained, sustained_cpu = saturate(server.port, args.seconds, CONNECTIONS, pid)
        cpu_note = f"   (sandbox CPU {sustained_cpu:.0f} µs/request)" if sustained_cpu else ""
        print(f"  {sustained:,.0f} req/s{cpu_note}")
        server.client.reset()
        print(
            f"\nmass-add: {args.contacts:,} contacts through contact/mass/add in chunks of {CHUNK} "
            "(requests.Session)"
        )
        contacts_rate, contact_cpu = mass_add(base, args.contacts, pid)
        detail = f"   (sandbox CPU {contact_cpu:.1f} µs/contact)" if contact_cpu else ""
        print(f"  {contacts_rate:,.0f} contacts/s{detail}")
        server.client.reset()

    trivial_ok = sustained >= TRIVIAL_TARGET
    contacts_ok = contacts_rate >= CONTACTS_TARGET
    print("\nsummary")
    print(
        f"  trivial calls: {sustained:,.0f} req/s sustained ({CONNECTIONS} connections), {best:,.0f} req/s "
        f"with one pooled client   target >= {TRIVIAL_TARGET:,}: {'OK' if trivial_ok else 'BELOW TARGET'}"
    )
    print(
        f"  mass-add:      {contacts_rate:,.0f} contacts/s   target >= {CONTACTS_TARGET:,}: "
        f"{'OK' if contacts_ok else 'BELOW TARGET'}"
    )
    return 0 if trivial_ok and contacts_ok else 1


if __name__ == "__main__":
    sys.exit(main())
