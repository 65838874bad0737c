"""Measure MailGridReportOperator: rows per second to a file, and memory while streaming.

Run::

    python bench/mailgrid_reports.py [--days 7] [--rows-per-day 50000] [--format csv]

A loopback server answers ``POST report/`` like MailGrid: ``rows_per_day`` rows per one-day query, stamped
evenly inside the queried wall-clock range (plus the vendor's inclusive end minute, which the operator must
drop). The operator exports ``days`` days in one-day sub-windows. Printed figures:

1. rows written per second, end to end (HTTP, JSON parsing, normalisation, window filter, file writing);
2. peak Python memory (``tracemalloc``) during exports of 1, 3 and 7 days: it follows one sub-window's
   answer, not the whole report (rows are streamed to the file as each answer arrives). The figure
   includes the fake server, which builds each answer in the same process;
3. how long planning a year of one-hour sub-windows across New York's DST changes takes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="emailbr-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def make_server(rows_per_day: int) -> ThreadingHTTPServer:
    """A fake MailGrid answering each report query with rows spread over the queried range."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            first = datetime.strptime(f"{body['dataini']} {body['horaini']}", "%Y-%m-%d %H:%M")
            last = datetime.strptime(f"{body['datafim']} {body['horafim']}", "%Y-%m-%d %H:%M")
            span = (last - first).total_seconds() + 60  # the end minute is inclusive
            count = max(1, int(rows_per_day * span / 86400))
            rows = {}
            for i in range(count):
                at = first + timedelta(seconds=int(span * i / count))
                rows[str(i)] = {
                    "msgid": f"{i:06d}-bench-{at:%H%M%S}",
                    "email_de": "loja@exemplo.com.br",
                    "email_para": f"cliente{i}@exemplo.com.br",
                    "data": at.strftime("%d/%m/%Y"),
                    "hora": at.strftime("%H:%M:%S"),
                    "status": "Entregue com sucesso" if i % 10 else "Falha na entrega",
                }
            data = json.dumps(rows).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def export(days: int, fmt: str, *, trace: bool) -> tuple[dict, float, int, int]:
    """Run the operator over ``days`` one-day sub-windows: summary, seconds, peak memory, file size."""
    from airflow_provider_emailbr.operators.reports import MailGridReportOperator

    start = datetime(2026, 5, 1, 3, tzinfo=timezone.utc)  # local midnight in São Paulo
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"report.{fmt}"
        op = MailGridReportOperator(
            task_id="bench",
            mailgrid_conn_id="mailgrid_bench",
            start=start.isoformat(),
            end=(start + timedelta(days=days)).isoformat(),
            report_lag=0,
            output_path=str(out),
        )
        assert op.hook.settings.login  # read the connection before measuring
        if trace:
            tracemalloc.start()
        began = time.perf_counter()
        summary = op.execute({})
        elapsed = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
        return summary, elapsed, peak, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=50_000)
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    args = parser.parse_args()

    server = make_server(args.rows_per_day)
    host, port = server.server_address[:2]
    os.environ["AIRFLOW_CONN_MAILGRID_BENCH"] = json.dumps(
        {
            "conn_type": "mailgrid",
            "host": f"http://{host}:{port}/mailgrid/api/",
            "login": "bench@mailgrid.example",
            "password": "bench-password",
            "extra": {"timezone": "America/Sao_Paulo", "timeout": 120},
        }
    )

    from airflow_provider_emailbr.operators.reports import plan_windows

    summary, elapsed, _, size = export(args.days, args.format, trace=False)
    rows = summary["rows"]
    print(f"export: {rows:,} rows in {summary['window']['sub_windows']} sub-windows, {elapsed:.2f} s")
    print(f"  {rows / elapsed:,.0f} rows/s end to end ({args.format}, {size / 1e6:.1f} MB written)")
    for days in (1, 3, 7):
        summary, _, peak, _ = export(days, args.format, trace=True)
        print(
            f"  peak traced memory over {days} day(s) ({summary['rows']:,} rows): {peak / 1e6:.1f} MB "
            f"(one sub-window = {args.rows_per_day:,} rows)"
        )

    import pendulum

    ny = pendulum.timezone("America/New_York")
    year = datetime(2026, 1, 1, 5, tzinfo=timezone.utc)
    began = time.perf_counter()
    windows = list(plan_windows(year, year + timedelta(days=365), ny, timedelta(hours=1)))
    elapsed = time.perf_counter() - began
    print(f"planning: {len(windows):,} one-hour sub-windows over 2026 in New York in {elapsed * 1000:.0f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
