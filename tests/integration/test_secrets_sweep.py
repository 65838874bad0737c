"""Secrets never leak from hooks, operators, sensors, triggers, notifiers or the e-mail backend, on their error
paths.

Every connection gets a recognisable wrong secret (the sandbox refuses it with the vendor's own error) or points
at a closed port; each component is run until it fails; then logs (stdlib and structlog), stdout/stderr,
exception messages and whole exception chains, return values, reprs and trigger ``serialize()`` output are
searched for the secrets.
"""

from __future__ import annotations

import asyncio
import traceback

import pytest
from structlog.testing import capture_logs

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier
from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier
from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier
from airflow_provider_emailbr.operators.campaigns import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCreateCampaignOperator,
)
from airflow_provider_emailbr.operators.contacts import (
    CriaEnvioImportContactsOperator,
    IAgenteImportContactsOperator,
)
from airflow_provider_emailbr.operators.reports import MailGridReportOperator
from airflow_provider_emailbr.operators.send import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
    EnvieEmailSendOperator,
    MailGridSendEmailOperator,
)
from airflow_provider_emailbr.sensors.campaigns import CriaEnvioCampaignSensor
from airflow_provider_emailbr.sensors.reports import MailGridDeliverySensor
from airflow_provider_emailbr.triggers.campaigns import CriaEnvioCampaignTrigger
from airflow_provider_emailbr.triggers.reports import MailGridDeliveryTrigger
from airflow_provider_emailbr.utils.emailer import send_email

pytestmark = pytest.mark.integration

SECRETS = {
    "iagente": "SWEEP-IAGENTE-4f1c",
    "envie_public": "SWEEP-ENVIE-PUB-9a2e",
    "envie_private": "SWEEP-ENVIE-PRIV-7b3d",
    "criaenvio": "SWEEP-CRIA-KEY-2c8f",
    "mailgrid": "SWEEP-MAILGRID-PASS-6e0a",
    "emailmanager": "SWEEP-EM-TOKEN-1d5b",
}


def _wrong_connections(sandbox, set_connection, *, base: str | None = None) -> None:
    """The sandbox's five default connections with recognisable wrong secrets (or another base URL)."""
    wrong = {
        "iagente": {"password": SECRETS["iagente"]},
        "envie": {"login": SECRETS["envie_public"], "password": SECRETS["envie_private"]},
        "criaenvio": {"password": SECRETS["criaenvio"]},
        "mailgrid": {"password": SECRETS["mailgrid"]},
        "emailmanager": {"password": SECRETS["emailmanager"]},
    }
    for vendor, fields in wrong.items():
        conn = {**sandbox.connections[vendor], **fields}
        extra = {**conn.get("extra", {}), "max_retries": 1, "retry_backoff": 0.01}
        if base is not None:
            conn["host"] = base
        set_connection(f"{vendor}_default", **{**conn, "extra": extra})


MESSAGE_ID = "AAAAAA-BBBBBB-CC"
SENT_AFTER = "2026-01-01T00:00:00-03:00"
HOOKS = (IAgenteEmailHook, EnvieEmailHook, CriaEnvioHook, MailGridHook, EmailManagerHook)


def _delivery_trigger() -> MailGridDeliveryTrigger:
    return MailGridDeliveryTrigger(message_ids=[MESSAGE_ID], sent_after=SENT_AFTER, poll_interval=0.01)


def _components() -> list[tuple[str, object]]:
    return [
        (
            "iagente import",
            lambda: IAgenteImportContactsOperator(
                task_id="t", contacts=[{"email": "a@exemplo.com.br"}], group_id=1
            ).execute({}),
        ),
        (
            "criaenvio import",
            lambda: CriaEnvioImportContactsOperator(
                task_id="t", contacts=[{"email": "a@exemplo.com.br"}], list_ids=["x"]
            ).execute({}),
        ),
        (
            "criaenvio campaign",
            lambda: CriaEnvioCreateCampaignOperator(
                task_id="t", subject="s", html="<p>h</p>", list_ids=["x"]
            ).execute({"ti": None}),
        ),
        (
            "criaenvio campaign control",
            lambda: CriaEnvioCampaignControlOperator(task_id="t", campaign_id="x", action="pause").execute(
                {}
            ),
        ),
        (
            "criaenvio campaign sensor (poke)",
            lambda: CriaEnvioCampaignSensor(task_id="t", campaign_id="x").poke({}),
        ),
        (
            "mailgrid send",
            lambda: MailGridSendEmailOperator(
                task_id="t", to=["a@exemplo.com.br"], subject="s", html="<p>h</p>"
            ).execute({}),
        ),
        (
            "emailmanager single send",
            lambda: EmailManagerSendEmailOperator(
                task_id="t", to=["a@exemplo.com.br"], subject="s", text_body="t"
            ).execute({}),
        ),
        (
            "emailmanager batch",
            lambda: EmailManagerBatchSendOperator(
                task_id="t", messages=[{"To": "a@exemplo.com.br", "Subject": "s", "TextBody": "t"}]
            ).execute({}),
        ),
        (
            "envie send",
            lambda: EnvieEmailSendOperator(
                task_id="t", to=["a@exemplo.com.br"], subject="s", html="<p>h</p>"
            ).execute({}),
        ),
        (
            "mailgrid report",
            lambda: MailGridReportOperator(
                task_id="t",
                start="2026-01-01T00:00:00-03:00",
                end="2026-01-01T01:00:00-03:00",
                wait_for_complete_window=False,
            ).execute({}),
        ),
        (
            "mailgrid delivery sensor (poke)",
            lambda: MailGridDeliverySensor(task_id="t", message_ids=[MESSAGE_ID], sent_after=SENT_AFTER).poke(
                {}
            ),
        ),
        (
            "mailgrid delivery trigger",
            lambda: asyncio.run(_first_event(_delivery_trigger())),
        ),
        *[
            (f"{hook.__name__}.test_connection()", lambda hook=hook: hook().test_connection())
            for hook in HOOKS
        ],
        (
            "mailgrid notifier",
            lambda: MailGridNotifier(to="a@exemplo.com.br", subject="s", html_content="h").notify({}),
        ),
        (
            "emailmanager notifier",
            lambda: EmailManagerNotifier(to="a@exemplo.com.br", subject="s", html_content="h").notify({}),
        ),
        (
            "envie notifier",
            lambda: EnvieEmailNotifier(to="a@exemplo.com.br", subject="s", html_content="h").notify({}),
        ),
        (
            "envie notifier (async)",
            lambda: asyncio.run(
                EnvieEmailNotifier(to="a@exemplo.com.br", subject="s", html_content="h").async_notify({})
            ),
        ),
        (
            "email backend",
            lambda: send_email("a@exemplo.com.br", "s", "<p>h</p>", conn_id="mailgrid_default"),
        ),
        (
            "campaign trigger",
            lambda: asyncio.run(_first_event(CriaEnvioCampaignTrigger(campaign_id="x", poll_interval=0.01))),
        ),
    ]


async def _first_event(trigger) -> object:
    """The trigger's first event, or the timeout: a refused connection is transient, so it keeps waiting."""

    async def first() -> object:
        async for event in trigger.run():
            return event
        return None

    try:
        return await asyncio.wait_for(first(), timeout=3)
    except asyncio.TimeoutError as err:
        return err


def _visible(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        parts = ["".join(traceback.format_exception(type(outcome), outcome, outcome.__traceback__))]
        cause = outcome
        while cause is not None:
            parts.append(repr(cause))
            parts.append(repr(vars(cause)) if hasattr(cause, "__dict__") else "")
            cause = cause.__cause__ or cause.__context__
        return "\n".join(parts)
    return repr(outcome)


@pytest.mark.parametrize("where", ["wrong secrets", "closed port"])
def test_no_secret_in_anything_a_user_can_see(sandbox, set_connection, free_port, log_records, capsys, where):
    _wrong_connections(
        sandbox, set_connection, base=None if where == "wrong secrets" else f"http://127.0.0.1:{free_port}/"
    )
    seen: list[str] = []
    failures = 0
    with capture_logs() as events:
        for name, run in _components():
            try:
                outcome: object = run()
            except Exception as err:  # every failure path is what we want to look at
                outcome = err
                failures += 1
            seen.append(f"== {name}\n{_visible(outcome)}")
    seen.append(repr(CriaEnvioCampaignTrigger(campaign_id="x").serialize()))
    seen.append(repr(_delivery_trigger().serialize()))
    seen.extend(str(e) for e in events)
    seen.extend(r.getMessage() for r in log_records)
    captured = capsys.readouterr()
    seen.extend([captured.out, captured.err])
    everything = "\n".join(seen)
    assert failures >= 10, everything[-3000:]  # the error paths really ran
    for name, secret in SECRETS.items():
        assert secret not in everything, f"{name} secret leaked"
    journal = repr(sandbox.requests())
    for secret in SECRETS.values():
        assert secret not in journal  # the sandbox journal redacts what it received
