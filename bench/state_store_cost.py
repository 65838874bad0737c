"""What the durable send ledger (Airflow 3.3's task state store) costs a send, under real task execution.

Run::

    python bench/state_store_cost.py [--messages 10000] [--batch-sizes 500,50] [--repeats 3] [--latency-ms 20]

One ``dag.test()`` run (SQLite metadata DB, so every task state store call goes through the in-process
execution API, ~20–30 ms each) of a DAG whose tasks send the same emailManager batch with
``durable=False`` (no ledger at all: the baseline) and ``durable=True`` (the task state store), alternating,
``--repeats`` times, for each batch size and against two servers:

- the sandbox (``emailbr_sandbox``, its own process, ``--latency-ms`` added to every request);
- a stub: a stdlib ``ThreadingHTTPServer`` in this process answering ``POST /email/batch`` the way
  emailManager documents it, after sleeping ``--latency-ms``.

Each task times its own ``execute()`` and counts and times its state-store calls (through a wrapper around
``context["task_state_store"]``). Printed per case (medians): the send time of each variant, the overhead
``(durable - plain) / plain`` in %, how long the durable send *waited* for its ledger (the read, the first
intent, intents not yet written when their window was due, the last write) and its share of the send, and
the time spent inside store calls in all (most of it in the background, overlapping requests) with its
share. The end-to-end overhead is the difference of two noisy timings: on a loaded machine the waited share
is the steadier figure. Compare the figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HOME = tempfile.mkdtemp(prefix="emailbr-bench-state-")
os.environ.setdefault("AIRFLOW_HOME", HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(HOME) / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

from emailbr_sandbox import SandboxServer  # noqa: E402 - after the environment is set
from emailbr_sandbox.dagrun import run_dag  # noqa: E402

#: The DAG file the bench runs (written into the DAGs folder); its tasks are described by env vars.
DAG_FILE = '''
"""The bench's DAG: one timed emailManager batch send per case (see bench/state_store_cost.py)."""

from __future__ import annotations

import json
import os
import time

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator


class CountingStore:
    """``context["task_state_store"]`` with its calls counted and timed."""

    def __init__(self, store):
        self.store, self.calls, self.seconds = store, {"get": 0, "set": 0}, 0.0

    def _timed(self, name, *args, **kwargs):
        started = time.perf_counter()
        try:
            return getattr(self.store, name)(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls[name] = self.calls.get(name, 0) + 1

    def get(self, *args, **kwargs):
        return self._timed("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._timed("set", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._timed("delete", *args, **kwargs)


class TimedBatchSend(EmailManagerBatchSendOperator):
    """The batch send, timing its ``execute()`` and its state-store calls (pushed to XCom ``timing``)."""

    def execute(self, context):
        counting = None
        if context.get("task_state_store") is not None:
            counting = CountingStore(context["task_state_store"])
            context["task_state_store"] = counting
        started = time.perf_counter()
        result = super().execute(context)
        elapsed = time.perf_counter() - started
        timing = {"seconds": elapsed, "sent": result["sent"], "waited": self.ledger_wait}
        if counting is not None:
            timing.update(store_seconds=counting.seconds, store_calls=counting.calls)
        context["ti"].xcom_push(key="timing", value=timing)
        return result

    def finish(self, context, result):
        self.ledger_wait = result.ledger_wait
        return super().finish(context, result)


CASES = json.loads(os.environ["EMAILBR_BENCH_CASES"])
N = int(os.environ["EMAILBR_BENCH_MESSAGES"])
MESSAGES = [{"To": f"cliente{i:06d}@exemplo.com.br", "Subject": "Pedido", "TextBody": "ok"} for i in range(N)]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def state_store_cost():
    previous = None
    for case in CASES:
        task = TimedBatchSend(
            task_id=case["task_id"],
            messages=MESSAGES,
            batch_size=case["batch_size"],
            durable=case["durable"],
            emailmanager_conn_id=case["conn_id"],
            return_results=False,
        )
        if previous is not None:
            previous >> task
        previous = task


the_dag = state_store_cost()
'''


class StubEmailManager(BaseHTTPRequestHandler):
    """``POST …/email/batch`` answered as emailManager documents it, after ``latency`` seconds."""

    latency = 0.0
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        time.sleep(self.latency)
        messages = body if isinstance(body, list) else [body]
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000-03:00")
        answer = [
            {
                "ErrorCode": 0,
                "Message": "OK",
                "MessageID": str(uuid.uuid4()),
                "SubmittedAt": now,
                "To": m["To"],
            }
            for m in messages
        ]
        data = json.dumps(answer if isinstance(body, list) else answer[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--batch-sizes", default="500,50")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]

    StubEmailManager.latency = args.latency_ms / 1000
    stub = ThreadingHTTPServer(("127.0.0.1", 0), StubEmailManager)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    with SandboxServer(latency_ms=args.latency_ms, extra_args=["--journal-size", "100"]) as sandbox:
        sandbox_conn = json.loads(sandbox.conn_env["AIRFLOW_CONN_EMAILMANAGER_DEFAULT"])
        os.environ["AIRFLOW_CONN_EM_SANDBOX"] = json.dumps(sandbox_conn)
        stub_url = f"http://127.0.0.1:{stub.server_address[1]}/"
        os.environ["AIRFLOW_CONN_EM_STUB"] = json.dumps({**sandbox_conn, "host": stub_url})
        cases = []
        for server in ("sandbox", "stub"):
            for size in sizes:
                for repeat in range(args.repeats):
                    for durable in (False, True) if repeat % 2 == 0 else (True, False):
                        name = f"{server}_b{size}_{'durable' if durable else 'plain'}_{repeat}"
                        cases.append(
                            {
                                "task_id": name,
                                "batch_size": size,
                                "durable": durable,
                                "conn_id": f"em_{server}",
                            }
                        )
        os.environ["EMAILBR_BENCH_CASES"] = json.dumps(cases)
        os.environ["EMAILBR_BENCH_MESSAGES"] = str(args.messages)
        dag_file = Path(HOME) / "state_store_cost.py"
        dag_file.write_text(DAG_FILE, encoding="utf-8")
        print(
            f"{args.messages} emailManager messages per send, latency {args.latency_ms:g} ms per request, "
            f"{args.repeats} repeats, one dag.test() run of {len(cases)} tasks (AIRFLOW_HOME {HOME})"
        )
        started = time.perf_counter()
        result = run_dag(dag_file, "state_store_cost")
        print(f"dag.test() took {time.perf_counter() - started:.1f} s; run {result.state}")
    stub.shutdown()
    failed = {t: s for t, s in result.task_states.items() if s != "success"}
    if failed:
        raise SystemExit(f"tasks did not succeed: {failed}")

    print(
        f"{'server':<8} {'batch':>5} {'requests':>8} {'plain s':>8} {'durable s':>9} {'overhead':>9} "
        f"{'waited s':>8} {'waited':>7} {'store s':>8} {'store share':>11} {'writes':>6} {'reads':>5}"
    )
    for server in ("sandbox", "stub"):
        for size in sizes:

            def timings(variant: str, server: str = server, size: int = size) -> list[dict[str, Any]]:
                return [result.xcom(f"{server}_b{size}_{variant}_{r}", "timing") for r in range(args.repeats)]

            plain = statistics.median(t["seconds"] for t in timings("plain"))
            durable_runs = timings("durable")
            durable = statistics.median(t["seconds"] for t in durable_runs)
            store = statistics.median(t["store_seconds"] for t in durable_runs)
            waited = statistics.median(t["waited"] for t in durable_runs)
            writes = statistics.median(t["store_calls"].get("set", 0) for t in durable_runs)
            reads = statistics.median(t["store_calls"].get("get", 0) for t in durable_runs)
            assert all(t["sent"] == args.messages for t in durable_runs + timings("plain"))
            print(
                f"{server:<8} {size:>5} {-(-args.messages // size):>8} {plain:>8.2f} {durable:>9.2f} "
                f"{(durable - plain) / plain * 100:>8.1f}% {waited:>8.2f} {waited / durable * 100:>6.1f}% "
                f"{store:>8.2f} {store / durable * 100:>10.1f}% "
                f"{writes:>6.0f} {reads:>5.0f}"
            )


if __name__ == "__main__":
    main()
