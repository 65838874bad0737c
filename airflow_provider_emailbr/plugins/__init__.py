"""Airflow plugins shipped with the provider (registered as ``airflow.plugins`` entry points)."""
