"""Run real DAGs with ``dag.test()`` in tests: the provider's own helper, shared with users' DAG tests."""

from airflow_provider_emailbr.sandbox.dagrun import DagRunResult, ensure_metadata_db, load_dag, run_dag

__all__ = ["DagRunResult", "ensure_metadata_db", "load_dag", "run_dag"]
