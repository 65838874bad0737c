"""Incremental contact sync benchmark: every figure is compared with a baseline measured in the same run.

Each section runs against two servers on loopback: the sandbox (``emailbr_sandbox``, its own process) and a
plain standard-library ``ThreadingHTTPServer`` started here that emulates IAGENTEmail ``contact/create`` and
``contact/mass/add`` and the CriaEnvio calls an import makes (so the figures do not depend on the sandbox's
own cost). Every import runs in a fresh interpreter (this script, ``--child``), as a worker would.

1. First full import into IAGENTEmail from CSV (``--first-rows``): the staged operator versus a naive client
   (one ``contact/create`` per contact with a fresh ``requests.post``, on ``--naive-sample`` contacts, same
   server) -- target >= 30x; and the staged operator versus the same import with the staging step taken out
   (validated batches sent as read, as before staging) -- target: staging adds <= 20 %. Staged and unstaged
   runs alternate, ``--repeats`` rounds after one warm-up; medians of wall time are compared, and the
   importing process's CPU time is shown too (steadier on a loaded machine). ``--before`` times the staged
   operator of another checkout in the same rounds (before and after a change, in one run).
2. Unchanged re-sync of ``--resync-rows`` CSV rows with ``state_path``: zero vendor write requests, and the
   whole task (read, validate, diff) in <= 20 s.
3. CriaEnvio, 1 % of ``--cria-rows`` changed, 20 ms latency per request, 8 in flight: requests ~ changed rows
   + a constant, and >= 50x faster than today's full upsert of the same source (timed on a ``--cria-sample``
   row sample of it, without ``state_path``, and extrapolated).
4. Peak RSS of the importing process, first sync and unchanged re-sync with ``state_path``, ``--small-rows``
   versus ``--resync-rows`` rows -- target: growth <= 50 MB.

    python bench/contact_sync.py [--sections 1,2,3,4] [--servers sandbox,stdlib] [--first-rows 100000]
        [--naive-sample 2000] [--repeats 3] [--before /path/to/other/checkout] [--resync-rows 1000000]
        [--small-rows 10000] [--cria-rows 20000] [--cria-sample 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from import_contacts import naive_iagente_rate, write_csv

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioImportContactsOperator
from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator

#: Latency of every CriaEnvio request in section 3, and requests in flight.
CRIA_LATENCY_MS = 20
CRIA_IN_FLIGHT = 8
#: Share of the rows changed in section 3 (one row in this many).
CHANGED_EVERY = 100
KEY = "bench-key"


# ---------------------------------------------------------------------------------- the imports measured


class UnstagedIAgenteImport(IAgenteImportContactsOperator):
    """The import with the staging step taken out: validated batches go to the platform as they are read
    (as before staging existed). The baseline of section 1's staging cost; not for use."""

    def stage(self, validated: Any, staging: Any, run: Any, suppression: Any) -> None:
        self._validated = validated

    def send_batches_of(self, staging: Any) -> Any:
        return self._validated

    def send(self, batches: Any, run: Any, staging: Any = None) -> None:
        super().send(batches, run, None)


OPERATORS = {
    "staged": IAgenteImportContactsOperator,
    "unstaged": UnstagedIAgenteImport,
    "criaenvio": CriaEnvioImportContactsOperator,
}


def child(spec_path: str) -> None:
    """Run one import (``--child``): print its summary and the process's peak RSS."""
    logging.disable(logging.INFO)
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    operator = OPERATORS[spec["operator"]](task_id="bench", **spec["kwargs"])
    cpu = time.process_time()
    summary = operator.execute({})
    summary["cpu_seconds"] = time.process_time() - cpu
    summary["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(summary))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``VmHWM`` starts afresh at ``exec``; ``ru_maxrss`` is
    inherited from the parent across ``fork`` (this bench's parent can be large), so it is the fallback."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_import(env: dict[str, str], operator: str, **kwargs: Any) -> dict[str, Any]:
    """One import in a fresh interpreter; its summary with ``peak_rss_mb``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump({"operator": operator, "kwargs": kwargs}, handle)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", handle.name],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(handle.name)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"import failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")


# ---------------------------------------------------------------------------------- the emulating server


class EmulatedVendors:
    """IAGENTEmail ``contact/create`` and ``contact/mass/add``, and the CriaEnvio calls of an import, on a
    standard-library ``ThreadingHTTPServer``: answers in the vendors' documented shapes, no validation."""

    name = "stdlib"
    key = KEY

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter = Counter()  # (vendor, "read"/"write") -> count
        self.cria_latency = 0.0
        self.iagente_imported = 0  # counted, not kept: a million contacts would weigh on the bench process
        self.cria_by_email: dict[str, str] = {}
        self.cria_contacts: dict[str, dict[str, Any]] = {}
        self.cria_lists: dict[str, str] = {}
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                emulator.handle(self, "GET")

            def do_POST(self) -> None:
                emulator.handle(self, "POST")

            def do_PUT(self) -> None:
                emulator.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="emulated-vendors", daemon=True)
        self.thread.start()
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.iagente_host = f"{base}/iagente/v1/"
        self.conn_env = {
            "AIRFLOW_CONN_IAGENTE_DEFAULT": json.dumps(
                {"conn_type": "iagente_email", "host": self.iagente_host, "password": KEY}
            ),
            "AIRFLOW_CONN_CRIAENVIO_DEFAULT": json.dumps(
                {
                    "conn_type": "criaenvio",
                    "host": f"{base}/criaenvio/v1/",
                    "password": KEY,
                    "extra": {"timezone": "America/Sao_Paulo"},
                }
            ),
        }

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    # -- the bench's view ---------------------------------------------------------------------------

    def iagente_group(self, name: str) -> int:
        """A group id (this emulator keeps one group)."""
        return 1

    def count(self, vendor: str) -> tuple[int, int]:
        """Requests and write requests to ``vendor`` since the last :meth:`count` or :meth:`forget`."""
        with self.lock:
            counted = (
                self.requests[vendor, "read"] + self.requests[vendor, "write"],
                self.requests[vendor, "write"],
            )
        self.forget()
        return counted

    def forget(self) -> None:
        """Start counting requests afresh."""
        with self.lock:
            self.requests.clear()

    def set_cria_latency(self, ms: float) -> None:
        """Delay every CriaEnvio answer by ``ms``."""
        self.cria_latency = ms / 1000

    # -- serving --------------------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        vendor, _, path = url.path.strip("/").partition("/v1/")
        with self.lock:
            self.requests[vendor, "read" if method == "GET" else "write"] += 1
        if vendor == "iagente":
            status, answer = self.iagente(path, dict(parse_qsl(raw.decode())))
        else:
            if self.cria_latency:
                time.sleep(self.cria_latency)
            body = json.loads(raw) if raw[:1] == b"{" else dict(parse_qsl(raw.decode()))
            status, answer = self.criaenvio(method, path, dict(parse_qsl(url.query)), body)
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def iagente(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path == "contact/create":
            with self.lock:
                self.iagente_imported += 1
            return 200, {"status": "success", "message": "Contato inserido com sucesso", "contact_id": 1}
        if path == "contact/mass/add":
            rows: dict[str, dict[str, str]] = {}
            for name, value in form.items():
                if name.startswith("contacts["):
                    index, _, field = name[9:-1].partition("][")
                    rows.setdefault(index, {})[field] = value
            with self.lock:
                self.iagente_imported += len(rows)
            return 200, {
                "status": "success",
                "message": "Operação concluída!",
                "invalids": 0,
                "imports": len(rows),
                "details": [],
            }
        return 404, {"status": "error", "message": "Não encontrado"}

    def criaenvio(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        parts = path.split("/")
        ok = {"data": {"OK": "OK"}}
        if parts == ["contatos"] and method == "GET":
            found = []
            if query.get("status") != "descadastros" and query.get("email"):
                contact_id = self.cria_by_email.get(query["email"].lower())
                found = [self.cria_contacts[contact_id]] if contact_id else []
            return 200, {"data": found, "pagination": {"current_page": 1, "total_pages": 1}}
        if parts == ["contatos"] and method == "POST":
            with self.lock:
                if body["email"].lower() in self.cria_by_email:
                    message = "Já existe um contato com este email. Tente atualizá-lo."
                    return 400, {
                        "error": {"code": "02-ARGUMENTOS-INVALIDOS", "http_code": 400, "message": message}
                    }
                contact_id = f"c{len(self.cria_contacts) + 1}"
                self.cria_by_email[body["email"].lower()] = contact_id
                self.cria_contacts[contact_id] = {"id": contact_id, **body}
            return 200, {"data": {"id": contact_id, **body}}
        if parts == ["grupos"]:
            if method == "POST":
                self.cria_lists[body["nome"]] = f"g{len(self.cria_lists) + 1}"
                return 200, {"data": {"id": self.cria_lists[body["nome"]], "nome": body["nome"]}}
            lists = [{"id": i, "nome": n, "ativo": True} for n, i in self.cria_lists.items()]
            return 200, {"data": lists, "pagination": {"current_page": 1, "total_pages": 1}}
        if len(parts) >= 2 and parts[0] == "contatos" and parts[1] in self.cria_contacts:
            if len(parts) == 2 and method == "PUT":
                self.cria_contacts[parts[1]].update(body)
            return 200, ok  # inscrever, desinscrever, campos
        return 404, {"error": {"code": "03-NAO-ENCONTRADO", "http_code": 404, "message": "Não encontrado."}}


class SandboxTarget:
    """The sandbox, seen the way the bench needs it (same methods as :class:`EmulatedVendors`)."""

    name = "sandbox"

    def __init__(self) -> None:
        from emailbr_sandbox import SandboxServer

        # a journal long enough to count every request of section 3, keeping only a few bytes of each body
        self.server = SandboxServer(
            extra_args=["--journal-size", "50000", "--journal-body-bytes", "64"]
        ).start()
        self.conn_env = self.server.conn_env
        self.iagente_host = self.server.client.connections["iagente"]["host"]

    def close(self) -> None:
        """Stop the sandbox."""
        self.server.stop()

    def iagente_group(self, name: str) -> int:
        """A new group (``group/create``)."""
        import requests

        answer = requests.post(
            f"{self.iagente_host}group/create",
            data={"name": name},
            headers={"IAGENTE-KEY": self.key},
            timeout=30,
        )
        answer.raise_for_status()
        return int(answer.json()["group_id"])

    @property
    def key(self) -> str:
        return self.server.client.connections["iagente"]["password"]

    def count(self, vendor: str) -> tuple[int, int]:
        """Requests and write requests to ``vendor`` since the last :meth:`count` or :meth:`forget` (the
        journal is read, then emptied)."""
        entries = self.server.client.requests(vendor=vendor)
        self.forget()
        return len(entries), sum(1 for e in entries if e["method"] != "GET")

    def forget(self) -> None:
        """Start counting requests afresh (empty the journal)."""
        self.server.client.clear_requests()

    def set_cria_latency(self, ms: float) -> None:
        """Delay every CriaEnvio request by ``ms`` (a sandbox latency fault)."""
        self.server.client.clear_faults()
        if ms:
            self.server.client.set_fault("latency", vendor="criaenvio", latency_ms=ms)


@contextlib.contextmanager
def started(name: str) -> Iterator[Any]:
    """One of the two servers, stopped on the way out."""
    target = SandboxTarget() if name == "sandbox" else EmulatedVendors()
    try:
        yield target
    finally:
        target.close()


# ---------------------------------------------------------------------------------- the sections


class Bench:
    """The sections, sharing CSV files and the work directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="emailbr-sync-bench-"))
        self.env = {**os.environ, "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(self.work / "airflow"))}
        self.synced: dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any], int]] = {}

    def csv(self, rows: int) -> Path:
        """A CSV of ``rows`` rows (written once)."""
        path = self.work / f"contacts-{rows}.csv"
        if not path.exists():
            write_csv(path, rows)
        return path

    def changed_csv(self, rows: int) -> Path:
        """The CSV of ``rows`` rows with the name of one row in :data:`CHANGED_EVERY` changed."""
        path = self.work / f"changed-{rows}.csv"
        if not path.exists():
            with self.csv(rows).open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as out:
                out.write(next(src))
                for number, line in enumerate(src):
                    if number % CHANGED_EVERY == 0:
                        email, name, rest = line.split(";", 2)
                        line = f"{email};{name} Renomeada;{rest}"
                    out.write(line)
        return path

    def head_csv(self, source: Path, rows: int) -> Path:
        """The header and the first ``rows`` rows of ``source``."""
        path = self.work / f"head-{rows}-{source.name}"
        with source.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as out:
            out.writelines(itertools.islice(src, rows + 1))
        return path

    def env_of(self, target: Any) -> dict[str, str]:
        return {**self.env, **target.conn_env}

    # -- 1 --------------------------------------------------------------------------------------------

    def first_import(self, target: Any) -> None:
        args, env = self.args, self.env_of(target)
        source = str(self.csv(args.first_rows))
        variants = {"staged": ("staged", env), "unstaged": ("unstaged", env)}
        if args.before:  # the same staged operator, from another checkout (the code before a change)
            variants["before"] = (
                "staged",
                {**env, "PYTHONPATH": f"{args.before}:{env.get('PYTHONPATH', '')}"},
            )
        durations: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        sent = 0
        for repeat in range(args.repeats + 1):
            names = list(variants)
            order = names[repeat % len(names) :] + names[: repeat % len(names)]  # each goes first in turn
            for name in order:
                operator, variant_env = variants[name]
                group = target.iagente_group(f"First {repeat} {name}")
                summary = run_import(
                    variant_env, operator, source_path=source, group_id=group, mask_emails=True
                )
                sent = summary["sent"]
                if repeat:  # the first round warms the server and the page cache
                    durations[name].append(summary["duration_seconds"])
                    cpu[name].append(summary["cpu_seconds"])
        naive_group = target.iagente_group("Naive")
        naive_rate = naive_iagente_rate(target.iagente_host, target.key, naive_group, args.naive_sample)
        wall = {name: statistics.median(values) for name, values in durations.items()}
        used = {name: statistics.median(values) for name, values in cpu.items()}
        rate = args.first_rows / wall["staged"]
        print(f"1. First full import into IAGENTEmail, {args.first_rows:,} CSV rows ({target.name})")
        labels = {"staged": "staged operator", "unstaged": "without staging", "before": "staged, --before"}
        for name, label in labels.items():
            if name in wall:
                print(
                    f"   {label:<17}: wall {fmt(durations[name])} s, median {wall[name]:.2f} s "
                    f"({args.first_rows / wall[name]:,.0f} contacts/s); importer CPU median {used[name]:.2f} s"
                )
        print(f"   naive client     : {args.naive_sample:,} x contact/create -> {naive_rate:,.0f} contacts/s")
        print(f"   staged vs naive  : {rate / naive_rate:.1f}x   (target >= 30x)")
        print(
            f"   staging adds     : {wall['staged'] / wall['unstaged'] - 1:+.1%} wall, "
            f"{used['staged'] / used['unstaged'] - 1:+.1%} importer CPU   (target <= +20 %; {sent:,} sent per run)"
        )
        if "before" in wall:
            print(
                f"   vs --before      : {wall['staged'] / wall['before'] - 1:+.1%} wall, "
                f"{used['staged'] / used['before'] - 1:+.1%} importer CPU"
            )
        print()

    # -- 2 and 4 --------------------------------------------------------------------------------------

    def sync_twice(self, target: Any, rows: int) -> tuple[dict[str, Any], dict[str, Any], int]:
        """A first sync of ``rows`` CSV rows with ``state_path``, then the same source again: both
        summaries and the write requests the second made (each done once per server and size)."""
        key = (target.name, rows)
        if key not in self.synced:
            env, source = self.env_of(target), str(self.csv(rows))
            state = str(self.work / f"state-{target.name}-{rows}.sqlite")
            group = target.iagente_group(f"Sync {rows}")
            kwargs = {"source_path": source, "group_id": group, "state_path": state}
            first = run_import(env, "staged", **kwargs)
            target.forget()
            again = run_import(env, "staged", **kwargs)
            self.synced[key] = (first, again, target.count("iagente")[1])
        return self.synced[key]

    def unchanged_resync(self, target: Any) -> None:
        rows = self.args.resync_rows
        first, again, writes = self.sync_twice(target, rows)
        print(f"2. Unchanged re-sync of {rows:,} CSV rows into IAGENTEmail with state_path ({target.name})")
        print(f"   first sync  : {first['duration_seconds']:.1f} s, {first['sent']:,} sent")
        print(
            f"   re-sync     : {again['duration_seconds']:.1f} s (read, validate, diff)   (target <= 20 s); "
            f"{again['unchanged']:,} unchanged, {again['sent']} sent"
        )
        print(f"   vendor write requests in the re-sync: {writes}   (target 0)\n")

    def memory(self, target: Any) -> None:
        small, big = self.args.small_rows, self.args.resync_rows
        small_first, small_again, _ = self.sync_twice(target, small)
        big_first, big_again, _ = self.sync_twice(target, big)
        print(f"4. Peak RSS of the importing process, IAGENTEmail with state_path ({target.name})")
        for what, a, b in (("first sync", small_first, big_first), ("re-sync   ", small_again, big_again)):
            growth = b["peak_rss_mb"] - a["peak_rss_mb"]
            print(
                f"   {what}: {small:,} rows {a['peak_rss_mb']:.1f} MB, {big:,} rows {b['peak_rss_mb']:.1f} MB"
                f" -> growth {growth:+.1f} MB   (target <= 50 MB)"
            )
        print()

    # -- 3 --------------------------------------------------------------------------------------------

    def one_percent_changed(self, target: Any) -> None:
        args, env = self.args, self.env_of(target)
        rows, sample = args.cria_rows, min(args.cria_sample, args.cria_rows)
        state = str(self.work / f"state-cria-{target.name}.sqlite")
        common = {"list_names": ["Bench"], "create_lists": True, "max_concurrency": CRIA_IN_FLIGHT}
        target.set_cria_latency(0)
        first = run_import(env, "criaenvio", source_path=str(self.csv(rows)), state_path=state, **common)
        target.set_cria_latency(CRIA_LATENCY_MS)
        changed = self.changed_csv(rows)
        target.forget()
        sync = run_import(env, "criaenvio", source_path=str(changed), state_path=state, **common)
        requests, writes = target.count("criaenvio")
        head = self.head_csv(changed, sample)
        full = run_import(env, "criaenvio", source_path=str(head), **common)
        full_requests, _ = target.count("criaenvio")
        target.set_cria_latency(0)
        extrapolated = full["duration_seconds"] * rows / sample
        print(
            f"3. CriaEnvio, {rows:,} rows of which {sync['changed']:,} changed, {CRIA_LATENCY_MS} ms per request, "
            f"{CRIA_IN_FLIGHT} in flight ({target.name})"
        )
        print(f"   first sync (no latency): {first['duration_seconds']:.1f} s, {first['created']:,} created")
        print(
            f"   1 % changed, state_path: {sync['duration_seconds']:.2f} s, {requests:,} requests "
            f"({writes:,} writes) for {sync['changed']:,} changed + {sync['new']} new "
            f"-> {requests - sync['changed'] - sync['new']:+,} requests beyond one per changed contact"
        )
        print(
            f"   full upsert (today)    : {sample:,}-row sample {full['duration_seconds']:.1f} s, "
            f"{full_requests / sample:.2f} requests/row -> {rows:,} rows ~ {extrapolated:,.0f} s"
        )
        print(
            f"   speed-up               : {extrapolated / sync['duration_seconds']:.0f}x   (target >= 50x)\n"
        )


def fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


SECTIONS = {
    "1": Bench.first_import,
    "2": Bench.unchanged_resync,
    "3": Bench.one_percent_changed,
    "4": Bench.memory,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sections", default="1,2,3,4")
    parser.add_argument("--servers", default="sandbox,stdlib")
    parser.add_argument("--first-rows", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--before", help="a checkout of the provider to time as well in section 1 (e.g. main)"
    )
    parser.add_argument("--resync-rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--cria-rows", type=int, default=20_000)
    parser.add_argument("--cria-sample", type=int, default=5_000)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    bench = Bench(args)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; work files in {bench.work}\n")
    for name in args.servers.split(","):
        with started(name.strip()) as target:
            for section in args.sections.split(","):
                SECTIONS[section.strip()](bench, target)


if __name__ == "__main__":
    main()
