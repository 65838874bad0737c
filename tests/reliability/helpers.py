"""Shared stand-ins of the fault-injection suite: a task-instance double, outcome wording, journal helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRError


@dataclass
class FakeTI:
    """What the operators read from ``context["ti"]``: identity, try number and ``xcom_push``."""

    dag_id: str = "reliability"
    task_id: str = "task"
    run_id: str = "scheduled__2026-11-20T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(try_number: int = 1, **ti: Any) -> dict[str, Any]:
    """A minimal execution context for ``execute()``: only ``ti``."""
    return {"ti": FakeTI(try_number=try_number, **ti)}


def failure(err: BaseException) -> str:
    """How a clean failure is shown in the table: its class."""
    return f"failed cleanly: {type(err).__name__}"


def assert_precise(err: BaseException) -> None:
    """A failure must be one of the provider's errors (or Airflow's) with a message that says what failed."""
    from airflow.sdk.exceptions import AirflowException

    assert isinstance(err, (EmailBRError, AirflowException)), f"unexpected {type(err).__name__}: {err}"
    text = str(err)
    assert len(text) > 20, f"an imprecise message: {text!r}"
    for secret in ("sandbox-iagente-key", "sandbox-criaenvio-key", "sandbox-mailgrid-password"):
        assert secret not in text


def processed(entry: dict[str, Any]) -> bool:
    """Whether the sandbox ran the emulation for a journal entry (``drop`` and latency faults included)."""
    return entry.get("handled_status") is not None


def ambiguous(entry: dict[str, Any]) -> bool:
    """Whether the client could not know the outcome: the answer was lost, or it was a 5xx other than 503
    (the client cannot tell a 500 that processed the request from one that did not)."""
    return (
        bool(entry.get("dropped"))
        or entry.get("fault") == "latency"
        or entry.get("status") in (500, 502, 504)
    )
