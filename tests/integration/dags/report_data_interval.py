"""Test DAG: MailGrid reports over the DAG run's data interval (a 2-minute ``DeltaDataIntervalTimetable``).

- ``jsonl_report`` waits ``report_lag`` (10 s) after the data interval's end: it starts a few seconds after
  it, defers on a ``DateTimeTrigger`` (run inline by ``dag.test()``), then writes JSON Lines and returns the
  rows too;
- ``csv_report`` reports the data interval itself in 1-minute sub-windows, without lag, to CSV.

The output paths come from the run's conf (``csv_path``, ``jsonl_path``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DeltaDataIntervalTimetable, dag

from airflow_provider_emailbr.operators.mailgrid import MailGridReportOperator


@dag(
    schedule=DeltaDataIntervalTimetable(timedelta(minutes=2)),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"csv_path": "", "jsonl_path": ""},
)
def report_data_interval():
    jsonl = MailGridReportOperator(
        task_id="jsonl_report",
        report_lag=timedelta(seconds=10),
        output_path="{{ params.jsonl_path }}",
        return_rows=True,
    )
    csv = MailGridReportOperator(
        task_id="csv_report",
        max_window=timedelta(minutes=1),
        report_lag=timedelta(0),
        output_path="{{ params.csv_path }}",
    )
    jsonl >> csv


the_dag = report_data_interval()
