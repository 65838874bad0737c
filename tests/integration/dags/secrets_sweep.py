"""Test DAG: every operator, both sensors (deferred: their triggers run inline), the three notifiers and the
e-mail backend in one real run with the sandbox's real credentials, for the secret sweep.

The test looks for the credentials in what the run leaves behind: XComs, rendered template fields, task and
trigger logs, the task-instance rows (``next_kwargs`` of deferred tasks) and the sandbox journal.
``EMAILBR_SWEEP_DIR`` (set by the test) holds the files the tasks write.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier
from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier
from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCreateCampaignOperator,
    CriaEnvioImportContactsOperator,
)
from airflow_provider_emailbr.operators.emailmanager import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
)
from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator
from airflow_provider_emailbr.operators.mailgrid import MailGridReportOperator, MailGridSendEmailOperator
from airflow_provider_emailbr.operators.send import SendEmailOperator
from airflow_provider_emailbr.sensors.criaenvio import CriaEnvioCampaignSensor
from airflow_provider_emailbr.sensors.mailgrid import MailGridDeliverySensor

FILES = os.environ.get("EMAILBR_SWEEP_DIR", "/tmp/emailbr-sweep")
CONTACTS = [
    {"email": "ana@exemplo.com.br", "nome": "Ana"},
    {"email": "bruno@exemplo.com.br", "nome": "Bruno"},
    {"email": "não é e-mail", "nome": "Inválido"},
]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def secrets_sweep():
    IAgenteImportContactsOperator(
        task_id="iagente_import",
        contacts=CONTACTS,
        group_name="Clientes",
        create_group=True,
        rejected_path=f"{FILES}/iagente_rejected.csv",
        max_rejected_ratio=0.5,
    )
    criaenvio_import = CriaEnvioImportContactsOperator(
        task_id="criaenvio_import",
        contacts=CONTACTS,
        list_names=["Clientes"],
        create_lists=True,
        rejected_path=f"{FILES}/criaenvio_rejected.csv",
        max_rejected_ratio=0.5,
    )
    create = CriaEnvioCreateCampaignOperator(
        task_id="create_campaign",
        subject="Ofertas de {{ ds }}",
        html="<p>Olá!</p>",
        list_names=["Clientes"],
        sender="remetente@exemplo.com.br",
        start_at="{{ macros.datetime.now(macros.dateutil.tz.UTC) + macros.timedelta(minutes=1) }}",
    )
    wait = CriaEnvioCampaignSensor(
        task_id="wait_campaign",
        campaign_id="{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}",
        deferrable=True,
        poke_interval=1,
        timeout=120,
    )
    control = CriaEnvioCampaignControlOperator(
        task_id="pause_finished_campaign",
        campaign_id="{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}",
        action="pause",
        trigger_rule="all_done",
    )
    criaenvio_import >> create >> wait >> control

    @task
    def recipients() -> list[str]:
        return ["carla@exemplo.com.br", "davi@exemplo.com.br"]

    mailgrid_send = MailGridSendEmailOperator(
        task_id="mailgrid_send",
        to=recipients(),
        subject="Pedido {{ run_id }}",
        html="<p>Obrigado</p>",
        results_path=f"{FILES}/mailgrid_results.jsonl",
        return_results=True,
        on_success_callback=MailGridNotifier(to="dados@exemplo.com.br", subject="{{ ti.task_id }} ok"),
    )
    delivered = MailGridDeliverySensor(
        task_id="wait_delivered",
        message_ids="{{ ti.xcom_pull(task_ids='mailgrid_send') | map(attribute='id') | select | list }}",
        deferrable=True,
        poke_interval=1,
        timeout=60,
    )
    report = MailGridReportOperator(
        task_id="mailgrid_report",
        start="{{ macros.datetime.now(macros.dateutil.tz.UTC) - macros.timedelta(hours=1) }}",
        end="{{ macros.datetime.now(macros.dateutil.tz.UTC) }}",
        wait_for_complete_window=False,
        output_path=f"{FILES}/report.csv",
    )
    mailgrid_send >> delivered >> report

    EmailManagerSendEmailOperator(
        task_id="emailmanager_single",
        to=["eva@exemplo.com.br"],
        subject="Nota",
        text_body="nota",
        on_success_callback=EmailManagerNotifier(to="dados@exemplo.com.br", subject="{{ ti.task_id }} ok"),
    )
    EmailManagerBatchSendOperator(
        task_id="emailmanager_batch",
        messages=[{"To": "fabio@exemplo.com.br", "Subject": "Lote", "TextBody": "lote"}],
        results_path=f"{FILES}/emailmanager_results.jsonl",
    )
    SendEmailOperator(
        task_id="any_vendor_send",
        conn_id="emailmanager_default",
        to=['"Silva, Hugo" <hugo@exemplo.com.br>'],
        subject="Aviso {{ run_id }}",
        html="<p>Aviso</p>",
        results_path=f"{FILES}/any_vendor_results.jsonl",
    )
    EnvieEmailSendOperator(
        task_id="envie_send",
        to=["gil@exemplo.com.br"],
        subject="Aviso",
        html="<p>Aviso</p>",
        on_success_callback=EnvieEmailNotifier(to="dados@exemplo.com.br", subject="{{ ti.task_id }} ok"),
    )

    @task(email=["plantao@exemplo.com.br"], email_on_failure=True, email_on_retry=False)
    def fails_with_airflow_email() -> None:
        raise RuntimeError("falha proposital: o e-mail do Airflow sai pelo backend do provider")

    fails_with_airflow_email()


the_dag = secrets_sweep()
