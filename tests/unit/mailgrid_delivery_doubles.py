"""Test doubles for the MailGrid delivery trigger (unit tests and sandbox-backed ones)."""

from __future__ import annotations

import asyncio
from datetime import timezone

from airflow.triggers.base import TriggerEvent

from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger

UTC = timezone.utc


def first_event(trigger: MailGridDeliveryTrigger, within: float | None = None) -> TriggerEvent:
    """The first event the trigger fires (failing after ``within`` seconds when given)."""

    async def first() -> TriggerEvent:
        return await asyncio.wait_for(anext(trigger.run()), within)

    return asyncio.run(first())
