"""What a wait decides, shared by a sensor (in a worker) and its trigger (in the triggerer).

One module per vendor. Everything here is transport-free and imports no Airflow operator or trigger class:
the sensor and the trigger only read with their hook (sync or async) and act on the decisions made here.
"""
