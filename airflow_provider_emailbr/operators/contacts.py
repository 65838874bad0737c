"""Mass contact import into IAGENTEmail groups and CriaEnvio lists (the import path of release 0.1).

The operators live by vendor, in :mod:`airflow_provider_emailbr.operators.iagente` and
:mod:`airflow_provider_emailbr.operators.criaenvio`; the engine they share (sources, normalisation,
de-duplication, the send loop, the rejected-rows report) in :mod:`airflow_provider_emailbr.importing`. This
module re-exports every name it used to define, so DAG files that import from here keep working.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION

from airflow_provider_emailbr.importing.dedup import SeenEmails
from airflow_provider_emailbr.importing.engine import (
    PROGRESS_EVERY,
    REJECTED_COLUMNS,
    BaseImportContactsOperator,
    ImportStats,
)
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, RowRejected
from airflow_provider_emailbr.importing.sources import CSV_DELIMITERS, iter_csv, iter_jsonl_rows
from airflow_provider_emailbr.operators.criaenvio import CriaEnvioImportContactsOperator
from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator

__all__ = [
    "CSV_DELIMITERS",
    "FIRST_EXCEPTION",
    "PROGRESS_EVERY",
    "REJECTED_COLUMNS",
    "BaseImportContactsOperator",
    "Contact",
    "CriaEnvioImportContactsOperator",
    "FieldSpec",
    "IAgenteImportContactsOperator",
    "ImportStats",
    "RowRejected",
    "SeenEmails",
    "iter_csv",
    "iter_jsonl_rows",
]
