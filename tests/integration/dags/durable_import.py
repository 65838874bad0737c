"""Test DAG: an IAGENTEmail import whose first try dies after its third confirmed batch; retried once.

The "crash" is an exception raised in the operator's thread right after batch 2 was confirmed on try 1;
the calls already in flight then still get their answers, each recorded in the task state store. Try 2 must
send exactly the calls not recorded. No ``state_path``: only the task state store remembers how far the
import got.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator

CONTACTS = [{"email": f"contato{i:05d}@exemplo.com.br", "nome": f"Contato {i}"} for i in range(6000)]


class CrashingImport(IAgenteImportContactsOperator):
    """Dies on try 1 once batch 2 is confirmed."""

    def execute(self, context: Any) -> Any:
        self._try_number = context["ti"].try_number
        return super().execute(context)

    def batch_confirmed(self, batch: Any, stats: Any) -> None:
        if self._try_number == 1 and batch.number == 2:
            raise RuntimeError("worker lost after batch 2 (simulated)")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
)
def durable_import():
    CrashingImport(
        task_id="import_contacts",
        contacts=CONTACTS,
        group_name="Durável",
        create_group=True,
        batch_size=1000,
        chunk_size=500,
    )


the_dag = durable_import()
