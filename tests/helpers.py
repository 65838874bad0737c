"""Test doubles shared by every test suite: one task-instance stand-in, one context builder, one fast policy.

Operators under test are executed with ``op.execute(context(...))``: the context carries only ``ti``, which
has what the operators read (identity, try number, ``xcom_push``). A "retry" is the same operator executed
again with ``try_number + 1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_emailbr.utils.retry import RetryPolicy

#: Retry waits short enough for tests that go through 429/503 answers.
FAST_RETRIES = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05)


@dataclass
class FakeTI:
    """What the operators read from ``context["ti"]``: identity, try number and ``xcom_push``."""

    dag_id: str = "emailbr_test"
    task_id: str = "task"
    run_id: str = "manual__2026-11-20T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class FakeTaskStateStore:
    """Airflow 3.3's ``context["task_state_store"]`` in memory: ``get``/``set``/``delete`` with JSON round trips.

    Values go through ``json.dumps``/``loads`` as they do through the real store, so a value that is not JSON
    fails here as it would there. ``fail_on`` makes the named operation raise (an unreachable store);
    ``writes`` counts ``set`` calls (the cost a benchmark or test may bound).
    """

    def __init__(self, *, fail_on: tuple[str, ...] = ()) -> None:
        self.values: dict[str, str] = {}
        self.fail_on = set(fail_on)
        self.writes = 0

    def _check(self, operation: str) -> None:
        if operation in self.fail_on:
            raise ConnectionError(f"task state store {operation} failed (simulated)")

    def get(self, key: str, default: Any = None) -> Any:
        self._check("get")
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self._check("set")
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = json.dumps(value)
        self.writes += 1

    def delete(self, key: str) -> None:
        self._check("delete")
        self.values.pop(key, None)

    def clear(self) -> None:
        self._check("delete")
        self.values.clear()


def context(
    try_number: int = 1, *, task_state_store: FakeTaskStateStore | None = None, **ti: Any
) -> dict[str, Any]:
    """A minimal execution context for ``execute()``: ``ti``, plus ``task_state_store`` when given (3.3)."""
    built: dict[str, Any] = {"ti": FakeTI(try_number=try_number, **ti)}
    if task_state_store is not None:
        built["task_state_store"] = task_state_store
    return built


def run(op: Any, try_number: int = 1, **ti: Any) -> tuple[Any, FakeTI]:
    """Execute ``op`` once as try ``try_number``; return its result and the task instance (for XComs)."""
    instance = FakeTI(try_number=try_number, **ti)
    return op.execute({"ti": instance}), instance


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file (a results ledger, a rejected-rows file)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
