"""Test DAG: one campaign created by a task that may retry once at once (``retries=1``, no delay).

The durable-state tests lose the create's answer, let the retry reattach through the task state store, then
clear the task instance and run it again.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioCreateCampaignOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def campaign_durable():
    CriaEnvioCreateCampaignOperator(
        task_id="create_campaign",
        subject="Ofertas de {{ ds }}",
        html="<p>Ofertas de {{ ds }}.</p>",
        name="Newsletter {{ ds }}",
        list_names=["Clientes"],
        sender="remetente@exemplo.com.br",
        start_at="{{ data_interval_end.add(hours=2) }}",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )


the_dag = campaign_durable()
