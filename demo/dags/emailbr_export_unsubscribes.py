"""Opt-outs back to the CRM: CriaEnvio's unsubscribed contacts to ``descadastros.csv``, daily.

The file (``email``, ``id``, ``registered_at``) goes back to the CRM, and into the ``suppress`` list of the
next import to any platform, so a withdrawn consent stays withdrawn everywhere. The demo runs it after the
first day's campaign and feeds the file to the second day's import.

Connection: ``criaenvio_default``. The file goes under the Airflow Variable ``emailbr_output_dir`` (default
``/tmp/emailbr-output``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioExportUnsubscribesOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["emailbr", "criaenvio", "example"],
)
def emailbr_export_unsubscribes() -> None:
    CriaEnvioExportUnsubscribesOperator(
        task_id="export_unsubscribes",
        output_path="{{ var.value.get('emailbr_output_dir', '/tmp/emailbr-output') }}/descadastros.csv",
    )


emailbr_export_unsubscribes()
