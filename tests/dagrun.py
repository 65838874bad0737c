"""Run real DAGs with ``dag.test()`` in tests: the provider's own helper, shared with users' DAG tests.

``EMAILBR_SKIP_DAG_RUNS=<reason>`` skips every DAG run with that reason. CI sets it on the floor job:
``dag.test()`` of Airflow 3.2.2 fails in its in-process execution API (``'State' object has no attribute
'svcs_registry'``) with the fastapi/starlette/cadwyn releases pip resolves today, because 3.2.x does not cap
them (3.3 does). The provider's code paths are still exercised there by every other test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from emailbr_sandbox.dagrun import DagRunResult, ensure_metadata_db, load_dag
from emailbr_sandbox.dagrun import run_dag as _run_dag

__all__ = ["DagRunResult", "ensure_metadata_db", "load_dag", "run_dag", "skip_without_dag_runs"]


def skip_without_dag_runs() -> None:
    """Skip the calling test when DAG runs are disabled for this environment."""
    reason = os.environ.get("EMAILBR_SKIP_DAG_RUNS")
    if reason:
        pytest.skip(f"dag.test() disabled here: {reason}")


def run_dag(dag_file: str | Path, dag_id: str, **test_kwargs: Any) -> DagRunResult:
    """:func:`emailbr_sandbox.dagrun.run_dag`, skipped where DAG runs are disabled."""
    skip_without_dag_runs()
    return _run_dag(dag_file, dag_id, **test_kwargs)
