"""Test DAG: one upstream extract task (optional) and one contact-import task, configured by the test.

The test sets ``EMAILBR_IMPORT_TEST`` (JSON) before the file is imported: ``platform`` (iagente or
criaenvio), ``operator_kwargs``, and ``rows`` to pass through an upstream task's XCom.
"""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioImportContactsOperator
from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator

CONFIG = json.loads(os.environ.get("EMAILBR_IMPORT_TEST", '{"platform": "iagente", "operator_kwargs": {}}'))
OPERATORS = {"iagente": IAgenteImportContactsOperator, "criaenvio": CriaEnvioImportContactsOperator}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def contacts_import():
    kwargs = dict(CONFIG["operator_kwargs"])
    if "rows" in CONFIG:

        @task
        def extract() -> list[dict]:
            return CONFIG["rows"]

        kwargs["contacts"] = extract()
    OPERATORS[CONFIG["platform"]](task_id="import_contacts", **kwargs)


the_dag = contacts_import()
