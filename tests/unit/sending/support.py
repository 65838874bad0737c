"""Doubles of the send tests (unit tests on the recording server and sandbox-backed ones alike).

Operators are executed with the shared :class:`tests.helpers.FakeTI` under one fixed identity (DAG
``send_dag``, task ``send``, run ``manual__1``), so results-file lines can be compared whole; a "retry" is
the same operator executed again with ``try_number + 1``.
"""

from __future__ import annotations

from typing import Any

from tests.helpers import FAST_RETRIES, FakeTI
from tests.helpers import run as run_operator

#: The task instance the send tests run as (keys of the results-file lines).
SEND_TI = {"dag_id": "send_dag", "task_id": "send", "run_id": "manual__1"}


def run(op: Any, try_number: int = 1, **ti: Any) -> tuple[Any, FakeTI]:
    """Execute ``op`` as try ``try_number`` of the send test task instance (fields of ``ti`` override)."""
    return run_operator(op, try_number, **{**SEND_TI, **ti})


def fast(op: Any) -> Any:
    """Shorten the hook's retry waits (503/429 tests)."""
    op.hook._retry_policy_override = FAST_RETRIES
    return op


def addresses(n: int, prefix: str = "cliente") -> list[str]:
    """``n`` distinct recipient addresses."""
    return [f"{prefix}{i:04d}@exemplo.com.br" for i in range(n)]


def batch_messages(n: int, **extra: Any) -> list[dict[str, Any]]:
    """``n`` distinct emailManager batch messages (``To``, ``Subject``, ``HtmlBody``), each with ``extra``."""
    return [
        {"To": f"pessoa{i:04d}@exemplo.com.br", "Subject": f"Olá {i}", "HtmlBody": f"<p>{i}</p>", **extra}
        for i in range(n)
    ]
