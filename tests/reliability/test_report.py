"""MailGrid report export under faults: the file holds exactly the sandbox's rows of the window.

Forty messages are sent inside the window and ten outside it (after the sandbox clock jumped ahead); the
export reads the window in five sub-windows with the fault on ``report/``. Up to three tries run under the
fault; the successful one must have written every row of the window once, and nothing else.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.operators.mailgrid import MailGridReportOperator
from tests.helpers import context
from tests.reliability.conftest import Chaos, matrix
from tests.reliability.helpers import RELIABILITY_TI, assert_precise, failure

pytestmark = pytest.mark.integration

TRIES = 3


@matrix()
def test_report_export(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "report: MailGrid export (5 sub-windows)"
    hook = MailGridHook()
    inside = hook.send(
        to=[f"dentro{i:02d}@exemplo.com.br" for i in range(40)], subject="a", message="<p>a</p>"
    )
    chaos.sandbox.advance(600)  # rows of the next send are stamped ten minutes after the window's end
    hook.send(to=[f"fora{i:02d}@exemplo.com.br" for i in range(10)], subject="b", message="<p>b</p>")
    end = datetime.now(timezone.utc)
    start = end - timedelta(minutes=5)
    expected = Counter((r["id"], r["to"]) for r in inside)
    assert len(chaos.sandbox.state("mailgrid")["rows"]) == 50
    output = tmp_path / "report.csv"
    chaos.inject("mailgrid", path="/report")

    def run(try_number: int) -> dict:
        op = MailGridReportOperator(
            task_id="report",
            start=start.isoformat(),
            end=end.isoformat(),
            max_window=60,
            report_lag=0,
            deferrable=False,
            output_path=str(output),
        )
        return op.execute(context(try_number, task_id="report", **RELIABILITY_TI))

    failures: list[str] = []
    summary = None
    for try_number in range(1, TRIES + 1):
        chaos.tries += 1
        try:
            summary = run(try_number)
            break
        except Exception as err:  # checked to be precise
            assert_precise(err)
            failures.append(failure(err))
            # a failed try leaves no partial export behind (the file appears only once complete)
            assert sorted(p.name for p in tmp_path.iterdir()) == [], "a failed try left a file"
            chaos.settle()
    if summary is None:
        chaos.calm()
        chaos.tries += 1
        summary = run(TRIES + 1)
        chaos.note(f"every try {failures[0]}; converged once the fault stopped")
    else:
        chaos.note("succeeded" if not failures else f"succeeded after a retry ({failures[0]})")
    with output.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    written = Counter((r["message_id"], r["recipient"]) for r in rows)
    assert written == expected, "the report file does not hold exactly the window's rows once each"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
    assert summary["rows"] == len(rows) == 40 and summary["window"]["sub_windows"] == 5
    assert len(chaos.sandbox.requests("mailgrid", path="/send")) == 2  # the export only read
