"""The contact import engine shared by the vendor import operators.

- :mod:`~airflow_provider_emailbr.importing.sources`: where rows come from (an iterable or XCom, CSV and JSON
  Lines files, a SQL query), streamed.
- :mod:`~airflow_provider_emailbr.importing.rows`: column mapping, validation and normalisation of one row
  into a :class:`~airflow_provider_emailbr.importing.rows.Contact`, or its rejection.
- :mod:`~airflow_provider_emailbr.importing.dedup`: the addresses already seen in a run, on disk.
- :mod:`~airflow_provider_emailbr.importing.engine`: the base operator and its phases (read and validate,
  batches, send, per-batch confirmation), the counters and the rejected-rows report.

The vendor parts are :mod:`airflow_provider_emailbr.operators.iagente` and
:mod:`airflow_provider_emailbr.operators.criaenvio`.
"""
