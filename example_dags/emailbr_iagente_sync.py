"""IAGENTEmail sync, daily: a ``;``-separated Latin-1 CSV export into an IAGENTEmail group.

Brazilian ERPs and spreadsheets often export ``;``-separated Latin-1 files: the operator reads them in a
stream (the delimiter is detected from the header), maps the columns to IAGENTEmail's fields, validates
every row and writes the rejected ones next to the export.

The export path comes from the Airflow Variable ``emailbr_iagente_export`` (default: the sample file shipped
beside this DAG). Connection: ``iagente_default``.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator

SAMPLE_EXPORT = str(Path(__file__).parent / "data" / "clientes_iagente.csv")
OUTPUT_DIR = "{{ var.value.get('emailbr_output_dir', '/tmp/emailbr-output') }}/{{ ds }}"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["emailbr", "iagente", "example"],
)
def emailbr_iagente_sync() -> None:
    IAgenteImportContactsOperator(
        task_id="import_export",
        source_path=f"{{{{ var.value.get('emailbr_iagente_export', '{SAMPLE_EXPORT}') }}}}",
        encoding="latin-1",
        field_mapping={"birthday": "Data de nascimento", "field1": "Cidade", "field2": "Plano"},
        group_name="Clientes ERP",
        create_group=True,
        rejected_path=f"{OUTPUT_DIR}/iagente_rejected.csv",
        max_rejected_ratio=0.1,
    )


emailbr_iagente_sync()
