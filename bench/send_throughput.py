"""Measure the send operators against the sandbox: recipients per second, and what the results file costs.

Run::

    python bench/send_throughput.py [--recipients 10000] [--latency-ms 20]

The sandbox runs in its own process with ``--latency-ms`` added to every request (a real platform answers
in tens of milliseconds, which is what concurrency hides). Each case executes an operator the way a task
would (with a minimal task-instance stand-in) and prints recipients per second, the number of requests and
the size of the results file:

- MailGrid, ``--recipients`` addresses in calls of 100, sequential and with 5 calls in flight, with and
  without ``results_path`` (an ``attempt`` line per recipient before each call, an outcome line after);
- emailManager batch, ``--recipients`` messages in batches of 500;
- envie.email, one call per recipient (``--recipients`` / 20 of them), 1, 4 and 8 calls in flight.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="emailbr-bench-"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

from emailbr_sandbox import SandboxServer
from tests.helpers import FakeTI


def timed(label: str, make: Any, count: int, results: Path | None, calls: int) -> None:
    started = time.perf_counter()
    out = make(results).execute(
        {"ti": FakeTI(dag_id="bench", task_id="send", run_id=f"{label}-{time.time_ns()}")}
    )
    elapsed = time.perf_counter() - started
    sent = sum(1 for r in out if r["outcome"] == "sent")
    assert sent == count, f"{label}: {sent} of {count} sent"
    size = results.stat().st_size if results and results.exists() else 0
    print(
        f"{label:<46} {count:>7} in {elapsed:6.2f} s = {count / elapsed:8.0f}/s, "
        f"{calls:>5} calls, results file {size / 1024:6.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from airflow_provider_emailbr.operators.send import (
        EmailManagerBatchSendOperator,
        EnvieEmailSendOperator,
        MailGridSendEmailOperator,
    )

    n = args.recipients
    to = [f"cliente{i:06d}@exemplo.com.br" for i in range(n)]
    messages = [{"To": a, "Subject": "Pedido", "TextBody": "Seu pedido foi enviado."} for a in to]
    few = to[: max(20, n // 20)]
    with SandboxServer(latency_ms=args.latency_ms, extra_args=["--journal-size", "100"]) as server:
        os.environ.update(server.conn_env)
        work = Path(tempfile.mkdtemp(prefix="emailbr-bench-results-"))
        print(f"sandbox latency {args.latency_ms:g} ms per request; results files in {work}")

        def mailgrid(concurrency: int) -> Any:
            return lambda path: MailGridSendEmailOperator(
                task_id="send",
                to=to,
                subject="s",
                html="<p>x</p>",
                concurrency=concurrency,
                results_path=path,
            )

        chunks = -(-n // 100)
        timed("MailGrid, calls of 100, sequential, no file", mailgrid(1), n, None, chunks)
        timed("MailGrid, calls of 100, sequential, results", mailgrid(1), n, work / "mg1.jsonl", chunks)
        timed("MailGrid, calls of 100, 5 in flight, results", mailgrid(5), n, work / "mg5.jsonl", chunks)
        timed(
            "emailManager, batches of 500, results",
            lambda path: EmailManagerBatchSendOperator(task_id="send", messages=messages, results_path=path),
            n,
            work / "em.jsonl",
            -(-n // 500),
        )
        for concurrency in (1, 4, 8):
            timed(
                f"envie.email, 1 per call, {concurrency} in flight, results",
                lambda path, c=concurrency: EnvieEmailSendOperator(
                    task_id="send", to=few, subject="s", html="<p>x</p>", concurrency=c, results_path=path
                ),
                len(few),
                work / f"envie{concurrency}.jsonl",
                len(few),
            )


if __name__ == "__main__":
    main()
