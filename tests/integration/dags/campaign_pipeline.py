"""Test DAG: create a campaign scheduled two hours after the data interval, wait for it with the deferrable
sensor, and summarise its statistics.

The create task may retry once at once (``retries=1``, no delay), which the idempotency tests use. Run it
against the sandbox with an accelerated clock (``clock_speed``) so the two hours pass in seconds.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioCreateCampaignOperator
from airflow_provider_emailbr.sensors.criaenvio import CriaEnvioCampaignSensor


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def campaign_pipeline():
    create = CriaEnvioCreateCampaignOperator(
        task_id="create_campaign",
        subject="Ofertas de {{ ds }}",
        html="<h1>Olá!</h1><p>Ofertas da semana de {{ ds }}.</p>",
        name="Newsletter {{ ds }}",
        list_names=["Clientes"],
        sender="remetente@exemplo.com.br",
        start_at="{{ data_interval_end.add(hours=2) }}",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
    wait = CriaEnvioCampaignSensor(
        task_id="wait_campaign",
        campaign_id="{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}",
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

    @task
    def summarise(stats: dict) -> dict:
        return {
            "sent": stats["total_enviado"],
            "open_rate": stats["taxa_de_abertura"],
            "click_rate": stats["taxa_de_clique"],
        }

    create >> wait
    summarise(wait.output)


the_dag = campaign_pipeline()
