"""Former home of the CriaEnvio campaign trigger, kept so that 0.1.0 imports still work.

A trigger serialised by 0.1.0 names ``airflow_provider_emailbr.triggers.campaigns.CriaEnvioCampaignTrigger``;
a triggerer of this release still finds it here (the same class). New triggers serialise with the class path
of :mod:`airflow_provider_emailbr.triggers.criaenvio`.
"""

from __future__ import annotations

from airflow_provider_emailbr.triggers.criaenvio import (
    ENDPOINTS,
    FIRST_READ_SPREAD,
    MAX_CONCURRENT_READS,
    MIN_BACKOFF,
    NO_RETRIES,
    CriaEnvioCampaignTrigger,
    read_slots,
)

__all__ = [
    "ENDPOINTS",
    "FIRST_READ_SPREAD",
    "MAX_CONCURRENT_READS",
    "MIN_BACKOFF",
    "NO_RETRIES",
    "CriaEnvioCampaignTrigger",
    "read_slots",
]
