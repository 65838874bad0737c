"""What the durable import checkpoint (Airflow 3.3's task state store) costs an import, under real task
execution.

Run::

    python bench/import_checkpoint_cost.py [--contacts 200000] [--chunk-size 1000] [--repeats 2]
                                           [--latency-ms 100]

One ``dag.test()`` run (SQLite metadata DB, so every task state store call goes through the in-process
execution API) of a DAG whose tasks import the same CSV file of ``--contacts`` contacts into IAGENTEmail
(sandbox, ``--latency-ms`` added to every request; ``contact/mass/add`` in chunks of ``--chunk-size``, two
in flight) with ``durable=False`` (no checkpoint: the baseline) and ``durable=True`` (each answer recorded
by the checkpoint's writer), alternating, ``--repeats`` times. Each task times its own ``execute()`` and
counts and times its state-store calls. Printed (medians): each variant's import time, the overhead
``(durable - plain) / plain`` in %, the store writes and the answers they recorded, and the time spent in
store calls (mostly in the background writer, overlapping requests). Every figure is measured in this run:
compare the two variants of one run, not figures across runs or machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HOME = tempfile.mkdtemp(prefix="emailbr-bench-import-checkpoint-")
os.environ.setdefault("AIRFLOW_HOME", HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(HOME) / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

from emailbr_sandbox import SandboxServer  # noqa: E402 - after the environment is set
from emailbr_sandbox.dagrun import run_dag  # noqa: E402

#: The DAG file the bench runs (written into AIRFLOW_HOME); its tasks are described by env vars.
DAG_FILE = '''
"""The bench's DAG: one timed IAGENTEmail import per case (see bench/import_checkpoint_cost.py)."""

from __future__ import annotations

import json
import os
import threading
import time

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator


class CountingStore:
    """``context["task_state_store"]`` with its calls counted and timed (from any thread)."""

    def __init__(self, store):
        self.store, self.calls, self.seconds = store, {}, 0.0
        self.lock = threading.Lock()

    def _timed(self, name, *args, **kwargs):
        started = time.perf_counter()
        try:
            return getattr(self.store, name)(*args, **kwargs)
        finally:
            with self.lock:
                self.seconds += time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

    def get(self, *args, **kwargs):
        return self._timed("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._timed("set", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._timed("delete", *args, **kwargs)


class TimedImport(IAgenteImportContactsOperator):
    """The import, timing its ``execute()`` and its state-store calls (pushed to XCom ``timing``)."""

    def execute(self, context):
        counting = None
        if context.get("task_state_store") is not None and self.durable:
            counting = CountingStore(context["task_state_store"])
            context["task_state_store"] = counting
        started = time.perf_counter()
        result = super().execute(context)
        timing = {"seconds": time.perf_counter() - started, "sent": result["sent"]}
        if counting is not None:
            timing.update(store_seconds=counting.seconds, store_calls=counting.calls)
        context["ti"].xcom_push(key="timing", value=timing)
        return result


CASES = json.loads(os.environ["EMAILBR_BENCH_CASES"])


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def import_checkpoint_cost():
    previous = None
    for case in CASES:
        task = TimedImport(
            task_id=case["task_id"],
            source_path=os.environ["EMAILBR_BENCH_SOURCE"],
            group_name=case["task_id"],
            create_group=True,
            chunk_size=int(os.environ["EMAILBR_BENCH_CHUNK"]),
            durable=case["durable"],
        )
        if previous is not None:
            previous >> task
        previous = task


the_dag = import_checkpoint_cost()
'''


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()

    source = Path(HOME) / "contacts.csv"
    with source.open("w", encoding="utf-8") as out:
        out.write("email,nome\n")
        out.writelines(f"contato{i:06d}@exemplo.com.br,Contato {i}\n" for i in range(args.contacts))
    cases = []
    for repeat in range(args.repeats):
        for durable in (False, True) if repeat % 2 == 0 else (True, False):
            cases.append({"task_id": f"{'durable' if durable else 'plain'}_{repeat}", "durable": durable})
    os.environ["EMAILBR_BENCH_CASES"] = json.dumps(cases)
    os.environ["EMAILBR_BENCH_SOURCE"] = str(source)
    os.environ["EMAILBR_BENCH_CHUNK"] = str(args.chunk_size)
    dag_file = Path(HOME) / "import_checkpoint_cost.py"
    dag_file.write_text(DAG_FILE, encoding="utf-8")
    with SandboxServer(latency_ms=args.latency_ms, extra_args=["--journal-size", "100"]) as sandbox:
        os.environ.update(sandbox.conn_env)
        requests = -(-args.contacts // args.chunk_size)
        print(
            f"{args.contacts} contacts per import ({requests} contact/mass/add calls of {args.chunk_size}), "
            f"latency {args.latency_ms:g} ms per request, {args.repeats} repeats, one dag.test() run of "
            f"{len(cases)} tasks (AIRFLOW_HOME {HOME})"
        )
        started = time.perf_counter()
        result = run_dag(dag_file, "import_checkpoint_cost")
        print(f"dag.test() took {time.perf_counter() - started:.1f} s; run {result.state}")
    failed = {t: s for t, s in result.task_states.items() if s != "success"}
    if failed:
        raise SystemExit(f"tasks did not succeed: {failed}")

    def timings(variant: str) -> list[dict[str, Any]]:
        return [result.xcom(f"{variant}_{r}", "timing") for r in range(args.repeats)]

    plain_runs, durable_runs = timings("plain"), timings("durable")
    assert all(t["sent"] == args.contacts for t in plain_runs + durable_runs)
    plain = statistics.median(t["seconds"] for t in plain_runs)
    durable = statistics.median(t["seconds"] for t in durable_runs)
    store = statistics.median(t["store_seconds"] for t in durable_runs)
    writes = statistics.median(t["store_calls"].get("set", 0) for t in durable_runs)
    print("each run (s): plain " + ", ".join(f"{t['seconds']:.2f}" for t in plain_runs))
    print("              durable " + ", ".join(f"{t['seconds']:.2f}" for t in durable_runs))
    print(
        f"median: plain {plain:.2f} s, durable {durable:.2f} s, overhead {(durable - plain) / plain * 100:.1f}%; "
        f"durable: {writes:.0f} store writes for {requests} answers, {store:.2f} s inside store calls "
        f"({store / writes * 1000 if writes else 0:.1f} ms a call, mostly overlapping requests)"
    )


if __name__ == "__main__":
    main()
