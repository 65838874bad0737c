"""The contact import engine shared by the vendor import operators.

- :mod:`~airflow_provider_emailbr.importing.sources`: where rows come from (an iterable or XCom, CSV and JSON
  Lines files, a SQL query), streamed.
- :mod:`~airflow_provider_emailbr.importing.rows`: column mapping, validation and normalisation of one row
  into a :class:`~airflow_provider_emailbr.importing.rows.Contact`, or its rejection.
- :mod:`~airflow_provider_emailbr.importing.staging`: the run's staged source on disk (each contact once,
  the last row winning) and its difference with the last synced snapshot.
- :mod:`~airflow_provider_emailbr.importing.snapshot`: the snapshot of the last successful sync kept at
  ``state_path``: its identity checks, reading and atomic replacement.
- :mod:`~airflow_provider_emailbr.importing.suppression`: addresses never to send (``suppress``).
- :mod:`~airflow_provider_emailbr.importing.dedup`: a set of addresses seen, on disk (kept for callers of
  the 0.1 API; the engine de-duplicates in the staged source).
- :mod:`~airflow_provider_emailbr.importing.engine`: the base operator and its phases (read, validate and
  stage; compare; batches; send; per-batch confirmation; mirror removals; the next snapshot), the counters
  and the rejected-rows report.

The vendor parts are :mod:`airflow_provider_emailbr.operators.iagente` and
:mod:`airflow_provider_emailbr.operators.criaenvio`.
"""
