"""The DAGs of the distributed run (``deploy/distributed_run.py``): one per fault scenario.

Every task runs on the Celery queue :data:`QUEUE`, which both Celery workers of the run serve, and has
:data:`RETRIES` retries a few seconds apart: the run kills the worker running a task with SIGKILL, the
scheduler fails the orphaned try once its heartbeat times out, and the retry has to land on the other
worker. No task has a ``results_path`` or a ``state_path``: what a retry knows about an earlier try has to
come from the vendor or from Airflow's own durable state, never from a file on the killed worker's disk.

- ``emailbr_distributed_batch_send``: an emailManager batch send of the messages in the JSON Lines file named
  by the Variable ``emailbr_distributed_messages``.
- ``emailbr_distributed_import``: an IAGENTEmail import of the CSV file named by the Variable
  ``emailbr_distributed_contacts`` into the group :data:`IMPORT_GROUP`.
- ``emailbr_distributed_campaign``: a CriaEnvio campaign created (once) for the run.
- ``emailbr_distributed_campaign_wait``: the same, then a deferrable wait until the campaign is done.

Connections (``emailmanager_default``, ``iagente_default``, ``criaenvio_default``) and Variables come from
the environment of the workers (``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioCreateCampaignOperator
from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator
from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator
from airflow_provider_emailbr.sensors.criaenvio import CriaEnvioCampaignSensor

#: The Celery queue of every task (``airflow celery worker --queues emailbr`` on both workers).
QUEUE = "emailbr"
#: Retries of every task: one for the killed try, one spare for a slow, loaded machine.
RETRIES = 2
#: The IAGENTEmail group the import fills (created by the first try).
IMPORT_GROUP = "Importação distribuída"
#: The CriaEnvio list the campaigns go to (seeded by the sandbox).
CAMPAIGN_LIST = "Lista Teste"
#: Contacts per ``contact/mass/add`` request of the import.
IMPORT_CHUNK = 1000

DEFAULT_ARGS = {
    "queue": QUEUE,
    "retries": RETRIES,
    "retry_delay": timedelta(seconds=2),
    "execution_timeout": timedelta(minutes=10),
}
DAG_SETTINGS = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "tags": ["emailbr", "distributed-run"],
}


def create_campaign() -> CriaEnvioCreateCampaignOperator:
    """The campaign of one DAG run, named after the run so that the run can find it in the sandbox."""
    return CriaEnvioCreateCampaignOperator(
        task_id="create_campaign",
        name="Distribuída {{ run_id }}",
        subject="Novidades da semana",
        html="<html><body><p>Olá! Confira as ofertas da semana.</p></body></html>",
        list_names=[CAMPAIGN_LIST],
        sender="remetente@exemplo.com.br",
    )


@dag(**DAG_SETTINGS)
def emailbr_distributed_batch_send() -> None:
    EmailManagerBatchSendOperator(
        task_id="send_batch",
        messages_path="{{ var.value.emailbr_distributed_messages }}",
    )


@dag(**DAG_SETTINGS)
def emailbr_distributed_import() -> None:
    IAgenteImportContactsOperator(
        task_id="import_contacts",
        source_path="{{ var.value.emailbr_distributed_contacts }}",
        group_name=IMPORT_GROUP,
        create_group=True,
        chunk_size=IMPORT_CHUNK,
    )


@dag(**DAG_SETTINGS)
def emailbr_distributed_campaign() -> None:
    create_campaign()


@dag(**DAG_SETTINGS)
def emailbr_distributed_campaign_wait() -> None:
    created = create_campaign()
    wait = CriaEnvioCampaignSensor(
        task_id="wait_for_campaign",
        campaign_id="{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}",
        deferrable=True,
        poke_interval=5,
        timeout=int(timedelta(minutes=10).total_seconds()),
    )
    created >> wait


emailbr_distributed_batch_send()
emailbr_distributed_import()
emailbr_distributed_campaign()
emailbr_distributed_campaign_wait()
