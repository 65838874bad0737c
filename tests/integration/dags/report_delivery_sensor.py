"""Test DAG: send two MailGrid messages, then wait for their final statuses in the delivery report.

- ``wait_delivered`` (deferrable) gets its ids from ``send_messages``' XCom, pokes once in the worker and
  waits in the trigger (run inline by ``dag.test()``) until both are in the report;
- ``wait_missing`` (deferrable, after ``wait_delivered``) waits for an id that was never sent and ends with its 3-second timeout.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.sensors.mailgrid import MailGridDeliverySensor


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def report_delivery_sensor():
    @task
    def send_messages() -> list[str]:
        results = MailGridHook().send(
            to=["ana@exemplo.com.br", "bob@bounce.example"], subject="Pedido 42", message="<p>Oi</p>"
        )
        return [r["id"] for r in results]

    delivered = MailGridDeliverySensor(
        task_id="wait_delivered", message_ids=send_messages(), deferrable=True, poke_interval=1, timeout=60
    )
    missing = MailGridDeliverySensor(
        task_id="wait_missing", message_ids=["AAAAAA-BBBBBB-CC"], deferrable=True, poke_interval=1, timeout=3
    )
    delivered >> missing


the_dag = report_delivery_sensor()
