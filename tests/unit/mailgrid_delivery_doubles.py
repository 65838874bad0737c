"""Test doubles for the MailGrid delivery sensor and trigger against the sandbox."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from airflow.triggers.base import TriggerEvent

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger

UTC = timezone.utc
#: A message id the sandbox never answered.
MISSING = "AAAAAA-BBBBBB-CC"


def send_two() -> list[str]:
    """Send one message to a deliverable and a bouncing address through the sandbox; return their ids."""
    results = MailGridHook().send(
        to=["ana@exemplo.com.br", "bob@bounce.example"], subject="Pedido", message="<p>Oi</p>"
    )
    return [r["id"] for r in results]


def recent() -> str:
    """Five minutes ago, ISO-8601: a ``sent_after`` that covers what a test just sent."""
    return (datetime.now(UTC) - timedelta(minutes=5)).isoformat()


def first_event(trigger: MailGridDeliveryTrigger, within: float | None = None) -> TriggerEvent:
    """The first event the trigger fires (failing after ``within`` seconds when given)."""

    async def first() -> TriggerEvent:
        return await asyncio.wait_for(anext(trigger.run()), within)

    return asyncio.run(first())
