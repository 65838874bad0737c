"""Test DAG: MailGrid report windows across New York's daylight-saving changes of 2026.

Connection ``mailgrid_ny`` (set by the test) has the ``timezone`` extra ``America/New_York``. ``fall_back``
covers 31 Oct – 2 Nov (clocks go from 02:00 EDT back to 01:00 EST on 1 Nov), given with offsets;
``spring_forward`` covers 7–8 Mar (02:00 EST jumps to 03:00 EDT on 8 Mar), given as plain dates, which
are midnight in the connection's zone.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.mailgrid import MailGridReportOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def report_dst():
    MailGridReportOperator(
        task_id="fall_back",
        mailgrid_conn_id="mailgrid_ny",
        start="2026-10-31T00:00:00-04:00",
        end="2026-11-03T00:00:00-05:00",
    )
    MailGridReportOperator(
        task_id="spring_forward",
        mailgrid_conn_id="mailgrid_ny",
        start="2026-03-07",
        end="2026-03-09",
        consolidated=True,
    )


the_dag = report_dst()
