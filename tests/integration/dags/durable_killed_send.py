"""Test DAG: an emailManager batch send whose first try dies mid-send; retried once, no results_path.

The "death" is the task state store failing under try 1 once two of its ledger writes went through: the
write that fails (and everything after it) never becomes durable, and the try ends there, as a worker
killed at that moment would (a request was in flight, its answer never recorded). Try 2 must send what
the lag rule proves never left and report the rest ``unknown``, with their keys, for a person to resolve
through the task state store key ``emailbr.send.resolution``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag

from airflow_provider_emailbr.operators.emailmanager import EmailManagerBatchSendOperator

MESSAGES = [
    {"To": f"pessoa{i:04d}@exemplo.com.br", "Subject": "Aviso", "TextBody": f"aviso {i}"} for i in range(60)
]


class StoreDiesUnderTryOne:
    """The task state store accessor of try 1: its third ``set`` and every one after it fail."""

    def __init__(self, accessor: Any) -> None:
        self.accessor = accessor
        self.sets = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.accessor.get(key, default)

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        self.sets += 1
        if self.sets > 2:
            raise ConnectionError("worker lost (simulated)")
        self.accessor.set(key, value, **kwargs)

    def delete(self, key: str) -> None:
        self.accessor.delete(key)


class DyingBatchSend(EmailManagerBatchSendOperator):
    """Dies mid-send on try 1 (see the module docstring)."""

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number == 1:
            context["task_state_store"] = StoreDiesUnderTryOne(context["task_state_store"])
        return super().execute(context)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
)
def durable_killed_send():
    DyingBatchSend(task_id="send", messages=MESSAGES, batch_size=5, concurrency=2)


the_dag = durable_killed_send()
