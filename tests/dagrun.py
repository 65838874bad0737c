"""Run real DAGs with ``dag.test()`` on an embedded SQLite metadata DB, and read back what they produced."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DagRunResult:
    """The outcome of one ``dag.test()``: run state, task states and every task's XComs."""

    state: str
    task_states: dict[str, str]
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.xcoms.get(task_id, {}).get(key)


_migrated = False


def ensure_metadata_db() -> None:
    """Create the SQLite metadata DB in ``$AIRFLOW_HOME`` once per test session (``airflow db migrate``)."""
    global _migrated
    if _migrated:
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=dict(os.environ),
        timeout=300,
    )
    _migrated = True


def run_dag(dag_file: str | Path, dag_id: str, **test_kwargs: Any) -> DagRunResult:
    """Copy ``dag_file`` into the DAGs folder, import it, run ``dag.test(**test_kwargs)`` and collect results."""
    ensure_metadata_db()
    from airflow.sdk import DAG

    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dags_folder.mkdir(parents=True, exist_ok=True)
    target = dags_folder / Path(dag_file).name
    if Path(dag_file).resolve() != target.resolve():
        shutil.copyfile(dag_file, target)
    spec = importlib.util.spec_from_file_location(f"dagfile_{uuid.uuid4().hex}", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    if not dags:
        raise LookupError(f"{target} defines no module-level DAG {dag_id!r}")
    dagrun = dags[0].test(**test_kwargs)
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        task_states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances(session=session)}
        xcoms: dict[str, dict[str, Any]] = {}
        rows = session.query(XComModel).filter(XComModel.run_id == dagrun.run_id, XComModel.dag_id == dag_id)
        for row in rows:
            xcoms.setdefault(row.task_id, {})[row.key] = row.value
    return DagRunResult(state=str(dagrun.state), task_states=task_states, xcoms=xcoms)
