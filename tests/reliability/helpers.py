"""Shared stand-ins of the fault-injection suite: its task-instance identity, outcome wording, journal helpers.

The task-instance double and context builder are the shared ones of ``tests/helpers.py``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRError

#: The task instance every fault-injection test runs as (passed to ``tests.helpers.context``/``FakeTI``):
#: a scheduled run of DAG ``reliability``; the results ledger's keys come from it.
RELIABILITY_TI = {"dag_id": "reliability", "run_id": "scheduled__2026-11-20T00:00:00+00:00"}


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
