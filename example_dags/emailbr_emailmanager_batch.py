"""emailManager batch sends: messages from a JSON Lines file, in batches of up to 500, with a results file.

Each line of the input is one message in emailManager's format (``From``, ``To``, ``Subject``, ``HtmlBody`` …;
``From`` defaults to the connection's ``from_email``). The results file (JSON Lines) records every message's
outcome as it arrives: a retried try skips what was confirmed sent, and a message whose answer was lost is
never re-sent blindly — the task names it instead.

The input path comes from the Variable ``emailbr_emailmanager_messages`` (default: the sample file beside
this DAG). Connection: ``emailmanager_default``.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator

SAMPLE_MESSAGES = str(Path(__file__).parent / "data" / "mensagens_emailmanager.jsonl")
OUTPUT_DIR = "{{ var.value.get('emailbr_output_dir', '/tmp/emailbr-output') }}/{{ ds }}"


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    default_args={"retries": 2},
    tags=["emailbr", "emailmanager", "example"],
)
def emailbr_emailmanager_batch() -> None:
    EmailManagerBatchSendOperator(
        task_id="send_batch",
        messages_path=f"{{{{ var.value.get('emailbr_emailmanager_messages', '{SAMPLE_MESSAGES}') }}}}",
        results_path=f"{OUTPUT_DIR}/emailmanager_results.jsonl",
    )


emailbr_emailmanager_batch()
