"""MailGrid reports and the delivery sensor in real ``dag.test()`` runs against the sandbox.

Assertions are on the sandbox's journal (the exact report windows received), the files written and the
XComs, not on logs.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pendulum
import pytest

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from tests.dagrun import run_dag

pytestmark = pytest.mark.integration
DAGS = Path(__file__).parent / "dags"
UTC = timezone.utc


def windows(requests: list[dict]) -> list[tuple[str, str, str, str]]:
    return [
        (r["body"]["dataini"], r["body"]["horaini"], r["body"]["datafim"], r["body"]["horafim"])
        for r in requests
    ]


def wall(instant: datetime, zone: str, *, up: bool = False) -> tuple[str, str]:
    local = instant.astimezone(pendulum.timezone(zone)).replace(tzinfo=None)
    floor = local.replace(second=0, microsecond=0)
    if up and floor != local:
        floor += timedelta(minutes=1)
    return f"{floor:%Y-%m-%d}", f"{floor:%H:%M}"


def test_data_interval_window_split_lag_deferral_csv_and_jsonl(sandbox, tmp_path):
    sent = MailGridHook().send(
        to=["ana@exemplo.com.br", "bob@bounce.example"], subject="Pedido 42", message="<p>Oi</p>"
    )
    ids = [r["id"] for r in sent]
    time.sleep(1.05)  # rows carry whole seconds: let the send's second end before the window does
    logical_date = pendulum.now("UTC").replace(microsecond=0)
    csv_path, jsonl_path = tmp_path / "out" / "report.csv", tmp_path / "out" / "report.jsonl"

    result = run_dag(
        DAGS / "report_data_interval.py",
        "report_data_interval",
        logical_date=logical_date,
        run_conf={"csv_path": str(csv_path), "jsonl_path": str(jsonl_path)},
    )

    assert result.state == "success", result.task_states
    zone = sandbox.timezone
    start = logical_date - timedelta(minutes=2)
    requests = sandbox.requests("mailgrid", path="report")
    jsonl_request, *csv_requests = requests

    # csv_report: the data interval [L-2min, L) in two 1-minute sub-windows, in the connection's zone.
    middle = logical_date - timedelta(minutes=1)
    assert windows(csv_requests) == [
        (*wall(start, zone), *wall(middle, zone, up=True)),
        (*wall(middle, zone), *wall(logical_date, zone, up=True)),
    ]
    with csv_path.open(newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    # Both sub-windows' answers carry the rows (the vendor's end minute is inclusive): reported once.
    assert [(r["message_id"], r["recipient"], r["status"], r["delivered"]) for r in csv_rows] == [
        (ids[0], "ana@exemplo.com.br", "Entregue com sucesso", "True"),
        (ids[1], "bob@bounce.example", "Falha na entrega", "False"),
    ]
    sent_at = datetime.fromisoformat(csv_rows[0]["sent_at"])
    assert start <= sent_at < logical_date and sent_at.utcoffset() == timedelta(hours=-3)
    csv_summary = result.xcom("csv_report")
    assert csv_summary["rows"] == 2 and csv_summary["delivered"] == 1 and csv_summary["failed"] == 1
    assert csv_summary["window"]["sub_windows"] == 2 and csv_summary["path"] == str(csv_path)
    assert csv_summary["complete"] is True and "records" not in csv_summary

    # jsonl_report: the same window, queried in one go once the 10-second lag had passed.
    jsonl_summary = result.xcom("jsonl_report")
    assert jsonl_summary["window"] == csv_summary["window"] | {"sub_windows": 1}
    assert jsonl_request["time"] >= logical_date.timestamp() + 10
    assert windows([jsonl_request]) == [(*wall(start, zone), *wall(logical_date, zone, up=True))]
    rows = [json.loads(line) for line in jsonl_path.read_text(encoding="utf-8").splitlines()]
    assert [(r["message_id"], r["delivered"]) for r in rows] == [(ids[0], True), (ids[1], False)]
    assert jsonl_summary["records"] == rows and jsonl_summary["format"] == "jsonl"
    assert jsonl_summary["complete"] is True


def test_windows_across_daylight_saving_changes(sandbox, monkeypatch):
    definition = sandbox.connections["mailgrid"]
    ny = {**definition, "extra": {**definition["extra"], "timezone": "America/New_York"}}
    monkeypatch.setenv("AIRFLOW_CONN_MAILGRID_NY", json.dumps(ny))

    result = run_dag(DAGS / "report_dst.py", "report_dst")

    assert result.state == "success", result.task_states
    assert windows(sandbox.requests("mailgrid", path="report")) == [
        ("2026-10-31", "00:00", "2026-11-01", "00:00"),
        ("2026-11-01", "00:00", "2026-11-01", "02:00"),  # EDT, up to the change at 06:00 UTC
        ("2026-11-01", "01:00", "2026-11-02", "00:00"),  # EST, from the change: 01:00 again
        ("2026-11-02", "00:00", "2026-11-03", "00:00"),
    ]
    assert windows(sandbox.requests("mailgrid", path="consolidate")) == [
        ("2026-03-07", "00:00", "2026-03-08", "00:00"),
        ("2026-03-08", "00:00", "2026-03-08", "02:00"),  # EST, up to the change at 07:00 UTC
        ("2026-03-08", "03:00", "2026-03-09", "00:00"),  # EDT: 02:00-03:00 never happened
    ]
    fall = result.xcom("fall_back")
    assert fall["window"] == {
        "start": "2026-10-31T00:00:00-04:00",
        "end": "2026-11-03T00:00:00-05:00",
        "timezone": "America/New_York",
        "sub_windows": 4,
    }
    assert result.xcom("spring_forward")["window"]["start"] == "2026-03-07T00:00:00-05:00"


def test_delivery_sensor_waits_in_the_trigger_and_times_out(sandbox):
    sandbox.config(report_lag_seconds=3)  # the first poke, in the worker, cannot see the messages yet

    result = run_dag(DAGS / "report_delivery_sensor.py", "report_delivery_sensor")

    assert result.task_states == {
        "send_messages": "success",
        "wait_delivered": "success",
        "wait_missing": "failed",
    }
    ids = result.xcom("send_messages")
    statuses = result.xcom("wait_delivered")
    assert list(statuses) == ids
    assert [(s["recipient"], s["status"], s["delivered"]) for s in statuses.values()] == [
        ("ana@exemplo.com.br", "Entregue com sucesso", True),
        ("bob@bounce.example", "Falha na entrega", False),
    ]
    looked_up = [r["body"].get("idMensagem") for r in sandbox.requests("mailgrid", path="report")]
    # polled by id: the worker's poke, then the trigger's polls until the report lag passed
    assert looked_up.count(ids[0]) >= 2 and looked_up.count("AAAAAA-BBBBBB-CC") >= 3
