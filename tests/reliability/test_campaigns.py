"""CriaEnvio campaign creation and control under faults: never two campaigns for one DAG run.

The create operator runs up to four tries under the fault (``execute`` again with the next ``try_number``,
after the requests of the previous try have landed, as Airflow's retry delay guarantees); if none succeeded,
the fault stops and one more try runs. After every try at most one message and one campaign carry the task
instance's idempotency key; after the successful try exactly one campaign exists and the XCom names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pendulum
import pytest

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCreateCampaignOperator,
    idempotency_key,
)
from tests.helpers import FakeTI, context
from tests.reliability.conftest import Chaos, matrix
from tests.reliability.helpers import RELIABILITY_TI, assert_precise, failure

pytestmark = pytest.mark.integration

TRIES = 4
TI = FakeTI(task_id="create_campaign", **RELIABILITY_TI)
KEY = idempotency_key(TI.dag_id, TI.task_id, TI.run_id, TI.map_index)


def audience() -> str:
    """A list with three active contacts (created before any fault); returns its id."""
    hook = CriaEnvioHook()
    list_id = str(hook.create_list(nome="Clientes")["data"]["id"])
    for i in range(3):
        contact = hook.create_contact(email=f"cliente{i}@exemplo.com.br", nome=f"Cliente {i}")["data"]["id"]
        hook.subscribe_contact(contact, [list_id])
    return list_id


def keyed(chaos: Chaos) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages carrying this task instance's key, and the campaigns sending them."""
    state = chaos.sandbox.state("criaenvio")
    messages = [m for m in state["messages"] if KEY in str(m.get("nome") or "")]
    ids = {m["id"] for m in messages}
    return messages, [c for c in state["campaigns"] if c["mensagem"] in ids]


def tries(chaos: Chaos, run: Callable[[int], dict[str, Any]], check: Callable[[], None]) -> dict[str, Any]:
    """Up to :data:`TRIES` tries under the fault, then one without; ``check`` after every try."""
    failures: list[str] = []
    for try_number in range(1, TRIES + 1):
        chaos.tries += 1
        try:
            result = run(try_number)
        except Exception as err:  # checked to be precise
            assert_precise(err)
            failures.append(failure(err))
            chaos.settle()
            check()
            continue
        chaos.settle()
        check()
        chaos.failures.extend(failures)
        chaos.note("succeeded" if not failures else f"succeeded after a retry ({failures[0]})")
        return result
    chaos.calm()
    chaos.tries += 1
    result = run(TRIES + 1)
    check()
    chaos.failures.extend(failures)
    chaos.note(f"every try {failures[0]}; converged once the fault stopped")
    return result


@matrix()
def test_create_campaign_once_per_dag_run(chaos: Chaos, fault: str, rate: float, seed: int) -> None:
    chaos.scenario = "campaign: create (CriaEnvio)"
    list_id = audience()
    chaos.inject("criaenvio")

    def run(try_number: int) -> dict[str, Any]:
        op = CriaEnvioCreateCampaignOperator(
            task_id=TI.task_id,
            subject="Ofertas",
            html="<p>Olá</p>",
            list_ids=[list_id],
            sender="remetente@exemplo.com.br",
            start_at=pendulum.now("UTC").add(days=1),
        )
        return op.execute(context(try_number, task_id=TI.task_id, **RELIABILITY_TI))

    def check() -> None:
        messages, campaigns = keyed(chaos)
        assert len(messages) <= 1, f"{len(messages)} messages for one task instance"
        assert len(campaigns) <= 1, f"{len(campaigns)} campaigns for one DAG run"

    result = tries(chaos, run, check)
    messages, campaigns = keyed(chaos)
    assert [c["id"] for c in campaigns] == [result["campaign_id"]]
    assert [m["id"] for m in messages] == [result["message_id"]]
    assert result["total_contacts"] == 3
    assert len(chaos.sandbox.state("criaenvio")["campaigns"]) == 1


@matrix()
def test_control_pause_resume_cancel(chaos: Chaos, fault: str, rate: float, seed: int) -> None:
    chaos.scenario = "campaign: pause/resume/cancel (CriaEnvio)"
    list_id = audience()
    hook = CriaEnvioHook()
    message = hook.create_message(assunto="Ofertas", html="<p>Olá</p>")["data"]["id"]
    tomorrow = pendulum.now("America/Sao_Paulo").add(days=1)
    campaign_id = str(
        hook.create_campaign(message_id=message, list_ids=[list_id], start_at=tomorrow)["data"]["id"]
    )
    chaos.inject("criaenvio")
    notes = []
    for action, target, kwargs in (
        ("pause", "Suspenso", {}),
        ("resume", "Agendado", {"resume_at": tomorrow.add(hours=1).isoformat()}),
        ("cancel", "Cancelado", {}),
    ):

        def run(try_number: int, action: str = action, kwargs: dict[str, Any] = kwargs) -> dict[str, Any]:
            op = CriaEnvioCampaignControlOperator(
                task_id=action, campaign_id=campaign_id, action=action, **kwargs
            )
            return op.execute(context(try_number, task_id=action, **RELIABILITY_TI))

        def check() -> None:
            assert len(chaos.sandbox.state("criaenvio")["campaigns"]) == 1

        result = tries(chaos, run, check)
        notes.append(chaos.outcome)
        current = chaos.sandbox.state("criaenvio")["campaigns"][0]["current"]
        assert result["status"] == target == current["status"], (action, result, current["status"])
        if not chaos.rules:  # the fault was stopped to let this action converge: the next one gets it again
            chaos.inject("criaenvio")
    worst = next((n for n in notes if n.startswith("every")), None) or next(
        (n for n in notes if n != "succeeded"), "succeeded"
    )
    chaos.note(worst if worst == "succeeded" else f"{worst} (worst of 3 actions)")
