"""Test DAG: one send per platform, each retried twice, with a results file (no-double-send across tries).

The test sets ``EMAILBR_SEND_TEST_DIR`` (where the results files go) and injects the sandbox's "drop after
processing" fault before the run.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator
from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator

FILES = os.environ.get("EMAILBR_SEND_TEST_DIR", "/nonexistent")
RESULTS = FILES + "/{{ ti.task_id }}-{{ run_id }}.jsonl"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
)
def send_retries():
    MailGridSendEmailOperator(
        task_id="mailgrid",
        to=[f"cliente{i:04d}@exemplo.com.br" for i in range(250)],
        subject="Aviso",
        html="<p>aviso</p>",
        results_path=RESULTS,
    )
    EmailManagerBatchSendOperator(
        task_id="emailmanager",
        messages=[
            {"To": f"pessoa{i:04d}@exemplo.com.br", "Subject": "Aviso", "TextBody": f"aviso {i}"}
            for i in range(1200)
        ],
        results_path=RESULTS,
    )
    EnvieEmailSendOperator(
        task_id="envie",
        to=[f"assinante{i}@exemplo.com.br" for i in range(5)],
        subject="Aviso",
        html="<p>aviso</p>",
        concurrency=1,
        results_path=RESULTS,
    )


the_dag = send_retries()
