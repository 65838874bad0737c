"""Former home of the MailGrid delivery trigger, kept so that 0.1.0 imports still work.

A trigger serialised by 0.1.0 names ``airflow_provider_emailbr.triggers.reports.MailGridDeliveryTrigger``; a
triggerer of this release still finds it here (the same class). New triggers serialise with the class path
of :mod:`airflow_provider_emailbr.triggers.mailgrid`.
"""

from __future__ import annotations

from airflow_provider_emailbr.triggers.mailgrid import TRANSIENT_ERRORS, MailGridDeliveryTrigger

__all__ = ["TRANSIENT_ERRORS", "MailGridDeliveryTrigger"]
