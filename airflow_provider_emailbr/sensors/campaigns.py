"""Former home of the CriaEnvio campaign sensor, kept so that DAGs written for 0.1.0 still import.

The sensor lives in :mod:`airflow_provider_emailbr.sensors.criaenvio`; import it from there.
"""

from __future__ import annotations

from airflow_provider_emailbr.sensors.criaenvio import (
    CriaEnvioCampaignCancelledError,
    CriaEnvioCampaignPausedError,
    CriaEnvioCampaignSensor,
)

__all__ = ["CriaEnvioCampaignCancelledError", "CriaEnvioCampaignPausedError", "CriaEnvioCampaignSensor"]
