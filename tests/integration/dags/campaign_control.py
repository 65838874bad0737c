"""Test DAG: create a campaign for tomorrow, pause it (twice), resume it for the day after, wait for it with
the deferrable sensor, then cancel it whatever the wait's outcome.

The test cancels the campaign from outside while the sensor is deferred, so the trigger ends the wait with a
``cancelled`` event and the sensor fails; the final ``cancel`` task then finds the campaign already
cancelled.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag

from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCreateCampaignOperator,
)
from airflow_provider_emailbr.sensors.criaenvio import CriaEnvioCampaignSensor

CAMPAIGN_ID = "{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def campaign_control():
    create = CriaEnvioCreateCampaignOperator(
        task_id="create_campaign",
        subject="Lançamento",
        html="<p>Em breve!</p>",
        list_names="Clientes",
        start_at="{{ data_interval_end.add(days=1) }}",
    )
    pause = CriaEnvioCampaignControlOperator(task_id="pause", campaign_id=CAMPAIGN_ID, action="pause")
    pause_again = CriaEnvioCampaignControlOperator(
        task_id="pause_again", campaign_id=CAMPAIGN_ID, action="pause"
    )
    resume = CriaEnvioCampaignControlOperator(
        task_id="resume",
        campaign_id=CAMPAIGN_ID,
        action="resume",
        resume_at="{{ data_interval_end.add(days=2) }}",
    )
    wait = CriaEnvioCampaignSensor(
        task_id="wait_campaign", campaign_id=CAMPAIGN_ID, deferrable=True, poke_interval=0.5, timeout=120
    )
    cancel = CriaEnvioCampaignControlOperator(
        task_id="cancel", campaign_id=CAMPAIGN_ID, action="cancel", trigger_rule="all_done"
    )
    chain(create, pause, pause_again, resume, wait, cancel)


the_dag = campaign_control()
