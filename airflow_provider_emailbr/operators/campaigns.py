"""Former home of the CriaEnvio campaign operators, kept so that DAGs written for 0.1.0 still import.

The operators live in :mod:`airflow_provider_emailbr.operators.criaenvio`; import them from there.
"""

from __future__ import annotations

from airflow_provider_emailbr.hooks.criaenvio import MAX_PAGE_SIZE
from airflow_provider_emailbr.operators.criaenvio import (
    ACTION_SOURCES,
    ACTION_TARGETS,
    CONTROL_ACTIONS,
    KEY_PREFIX,
    NOW_VALUES,
    CriaEnvioCampaignControlOperator,
    CriaEnvioCampaignStateError,
    CriaEnvioCreateCampaignOperator,
    find_campaign_of,
    find_keyed_messages,
    idempotency_key,
    iter_campaigns_newest_first,
    outcome_unknown,
)
from airflow_provider_emailbr.utils.retry import NOT_PROCESSED_STATUSES

__all__ = [
    "ACTION_SOURCES",
    "ACTION_TARGETS",
    "CONTROL_ACTIONS",
    "KEY_PREFIX",
    "MAX_PAGE_SIZE",
    "NOT_PROCESSED_STATUSES",
    "NOW_VALUES",
    "CriaEnvioCampaignControlOperator",
    "CriaEnvioCampaignStateError",
    "CriaEnvioCreateCampaignOperator",
    "find_campaign_of",
    "find_keyed_messages",
    "idempotency_key",
    "iter_campaigns_newest_first",
    "outcome_unknown",
]
