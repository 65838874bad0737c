"""Run a DAG file with ``dag.test()`` on an embedded SQLite metadata DB and read back what it produced.

For the demo, the provider's own tests and users' DAG tests against the sandbox::

    from emailbr_sandbox.dagrun import run_dag

    result = run_dag("dags/my_pipeline.py", "my_pipeline")
    assert result.state == "success"
    summary = result.xcom("import_contacts")

``AIRFLOW_HOME`` and ``AIRFLOW__CORE__DAGS_FOLDER`` must be set before Airflow is first imported; the DAG file
is copied into the DAGs folder (``dag.test()`` needs it there) and the metadata DB is migrated once.
"""

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
        """One XCom value of a task (its return value by default), or ``None``."""
        return self.xcoms.get(task_id, {}).get(key)


_migrated: set[str] = set()


def ensure_metadata_db() -> None:
    """Create or upgrade the metadata DB of ``$AIRFLOW_HOME`` once per process (``airflow db migrate``)."""
    home = os.environ.get("AIRFLOW_HOME", "")
    if home in _migrated:
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=dict(os.environ),
        timeout=600,
    )
    _migrated.add(home)


def load_dag(dag_file: str | Path, dag_id: str) -> Any:
    """Import ``dag_file`` from the DAGs folder; return its DAG ``dag_id`` (assigned or auto-registered)."""
    from airflow.sdk import DAG
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dags_folder.mkdir(parents=True, exist_ok=True)
    target = dags_folder / Path(dag_file).name
    if Path(dag_file).resolve() != target.resolve():
        shutil.copyfile(dag_file, target)
    name = f"emailbr_dagfile_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.autoregistered_dags.clear()
    DagContext.current_autoregister_module_name = name
    try:
        spec.loader.exec_module(module)
    finally:
        DagContext.current_autoregister_module_name = None
    found = [v for v in vars(module).values() if isinstance(v, DAG)]
    found += [d for d, mod in DagContext.autoregistered_dags if mod is module]
    DagContext.autoregistered_dags.clear()
    for dag in found:
        if dag.dag_id == dag_id:
            return dag
    raise LookupError(f"{target} defines no DAG {dag_id!r} (found {sorted({d.dag_id for d in found})})")


def run_dag(dag_file: str | Path, dag_id: str, **test_kwargs: Any) -> DagRunResult:
    """Load ``dag_id`` from ``dag_file``, run ``dag.test(**test_kwargs)`` and collect its results."""
    ensure_metadata_db()
    dagrun = load_dag(dag_file, dag_id).test(**test_kwargs)
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        task_states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances(session=session)}
        xcoms: dict[str, dict[str, Any]] = {}
        rows = session.query(XComModel).filter(XComModel.run_id == dagrun.run_id, XComModel.dag_id == dag_id)
        for row in rows:
            xcoms.setdefault(row.task_id, {})[row.key] = row.value
    return DagRunResult(state=str(dagrun.state), task_states=task_states, xcoms=xcoms)
