"""Former home of the MailGrid delivery sensor, kept so that DAGs written for 0.1.0 still import.

The sensor lives in :mod:`airflow_provider_emailbr.sensors.mailgrid`; import it from there.
"""

from __future__ import annotations

from airflow_provider_emailbr.sensors.mailgrid import (
    DEFAULT_MAX_WINDOW,
    DEFAULT_PER_ID_QUERY_LIMIT,
    DEFAULT_TIMEOUT,
    SENT_AFTER_MARGIN,
    MailGridDeliverySensor,
    parse_message_ids,
)

__all__ = [
    "DEFAULT_MAX_WINDOW",
    "DEFAULT_PER_ID_QUERY_LIMIT",
    "DEFAULT_TIMEOUT",
    "SENT_AFTER_MARGIN",
    "MailGridDeliverySensor",
    "parse_message_ids",
]
