"""CRM to campaign, daily: contacts from a SQL database into CriaEnvio, then a campaign, then its results.

1. ``import_contacts`` — customers from the CRM (any common-sql connection; the demo uses SQLite) upserted
   into the CriaEnvio list "Clientes CRM", invalid rows written to ``rejected.csv``.
2. ``create_campaign`` — the newsletter message and a campaign scheduled one hour after the data interval
   ends; idempotent, so a retried or cleared task reuses what an earlier try created.
3. ``wait_for_campaign`` — waits in the triggerer (deferrable, no worker slot) until the campaign is done.
4. ``write_statistics`` — the campaign's totals and rates to ``campaign_stats.json``.

Connections: ``crm_db`` (the CRM) and ``criaenvio_default``. Files go under the Airflow Variable
``emailbr_output_dir`` (default ``/tmp/emailbr-output``), one folder per day.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCreateCampaignOperator,
    CriaEnvioImportContactsOperator,
)
from airflow_provider_emailbr.sensors.criaenvio import CriaEnvioCampaignSensor

OUTPUT_DIR = "{{ var.value.get('emailbr_output_dir', '/tmp/emailbr-output') }}/{{ ds }}"

NEWSLETTER = """<html><body>
<h1>Novidades de {{ data_interval_end.in_timezone('America/Sao_Paulo').format('DD/MM/YYYY') }}</h1>
<p>Olá! Confira as ofertas da semana.</p>
</body></html>"""


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["emailbr", "criaenvio", "example"],
)
def emailbr_crm_to_campaign() -> None:
    import_contacts = CriaEnvioImportContactsOperator(
        task_id="import_contacts",
        sql="SELECT email, nome, sexo, nascimento, cidade FROM clientes WHERE ativo = 1 ORDER BY id",
        sql_conn_id="crm_db",
        list_names=["Clientes CRM"],
        create_lists=True,
        custom_fields={"Cidade": "cidade"},
        create_missing_fields=True,
        rejected_path=f"{OUTPUT_DIR}/rejected.csv",
        max_rejected_ratio=0.1,
    )

    create_campaign = CriaEnvioCreateCampaignOperator(
        task_id="create_campaign",
        name="Newsletter {{ ds }}",
        subject="Novidades da semana",
        html=NEWSLETTER,
        list_names=["Clientes CRM"],
        sender="remetente@exemplo.com.br",
        start_at="{{ data_interval_end.add(hours=1) }}",
    )

    wait_for_campaign = CriaEnvioCampaignSensor(
        task_id="wait_for_campaign",
        campaign_id="{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}",
        deferrable=True,
        poke_interval=30,
        timeout=int(timedelta(days=1).total_seconds()),
    )

    @task
    def write_statistics(stats: dict, output_dir: str) -> str:
        """Write the final campaign statistics next to the rejected-rows report."""
        path = Path(output_dir) / "campaign_stats.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stats, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)

    statistics = write_statistics(wait_for_campaign.output, OUTPUT_DIR)
    import_contacts >> create_campaign >> wait_for_campaign >> statistics


emailbr_crm_to_campaign()
