"""Test DAG: sends retried twice with NO results_path: only the task state store remembers what went out.

The test injects the sandbox's "drop after processing" fault on the first emailManager and MailGrid send
(the answer is lost), lets Airflow retry, then clears the tasks and runs them again.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator
from airflow_provider_emailbr.operators.send import SendEmailOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
)
def durable_send():
    EmailManagerBatchSendOperator(
        task_id="emailmanager",
        messages=[
            {"To": f"pessoa{i:04d}@exemplo.com.br", "Subject": "Aviso", "TextBody": f"aviso {i}"}
            for i in range(1200)
        ],
        concurrency=2,
    )
    MailGridSendEmailOperator(
        task_id="mailgrid",
        to=[f"cliente{i:04d}@exemplo.com.br" for i in range(250)],
        subject="Aviso",
        html="<p>aviso</p>",
    )
    SendEmailOperator(
        task_id="envie",
        conn_id="envie_default",
        to=[f"assinante{i}@exemplo.com.br" for i in range(4)],
        subject="Aviso",
        html="<p>aviso</p>",
    )


the_dag = durable_send()
