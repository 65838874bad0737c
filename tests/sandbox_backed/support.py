"""Doubles of the sandbox-backed tests only: what the emulator recorded, and messages sent through it.

The doubles both these tests and the unit tests need stay in ``tests/helpers.py``,
``tests/unit/sending/support.py`` and ``tests/unit/mailgrid_delivery_doubles.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_emailbr.hooks.mailgrid import MailGridHook

#: A MailGrid message id the sandbox never answered.
MISSING = "AAAAAA-BBBBBB-CC"


def mailgrid_rows(sandbox: Any) -> list[dict[str, Any]]:
    """The rows the MailGrid emulator recorded as sent."""
    return sandbox.state("mailgrid")["rows"]


def send_two() -> list[str]:
    """Send one message to a deliverable and a bouncing address through the sandbox; return their ids."""
    results = MailGridHook().send(
        to=["ana@exemplo.com.br", "bob@bounce.example"], subject="Pedido", message="<p>Oi</p>"
    )
    return [r["id"] for r in results]


def recent() -> str:
    """Five minutes ago, ISO-8601: a ``sent_after`` that covers what a test just sent."""
    return (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
