"""Test doubles for the CriaEnvio campaign operators, sensor and trigger against the recording server.

``connect_criaenvio`` points ``criaenvio_default`` at the loopback server (test modules wrap it in a
``criaenvio`` fixture); ``script_create`` queues the answers of a first create try; ``view`` is a campaign view answer.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_emailbr.operators.criaenvio import CriaEnvioCreateCampaignOperator
from tests.conftest import Reply
from tests.helpers import context

KEY = "sekret-criaenvio-key"
#: The task instance the campaign tests run as (its identity makes the idempotency key).
CAMPAIGN_TI: dict[str, Any] = {
    "dag_id": "newsletter",
    "task_id": "create_campaign",
    "run_id": "manual__2030-01-01T00:00:00+00:00",
}


def ctx(**ti: Any) -> dict[str, Any]:
    """An execution context whose ``ti`` is :data:`CAMPAIGN_TI` with ``ti``'s overrides."""
    return context(**{**CAMPAIGN_TI, **ti})


def page(items: list[dict]) -> dict:
    return {
        "data": items,
        "pagination": {
            "total": len(items),
            "count": len(items),
            "per_page": 100,
            "current_page": 1,
            "total_pages": 1,
            "links": [],
        },
    }


def connect_criaenvio(server: Any, set_connection: Any) -> Any:
    """Point ``criaenvio_default`` at the recording server (no retries); return a setter that redefines it
    with a time-zone extra or under another connection id. Test modules wrap it in a ``criaenvio`` fixture."""

    def configure(tz: str | None = None, conn_id: str = "criaenvio_default") -> None:
        extra: dict[str, Any] = {"max_retries": 0}
        if tz:
            extra["timezone"] = tz
        set_connection(
            conn_id, conn_type="criaenvio", host=f"{server.url}/criaenvio/v1/", password=KEY, extra=extra
        )

    configure()
    return configure


def script_create(
    server,
    *,
    data_de_inicio: str = "2030-01-01 10:00:00",
    senders: list[dict] | None = None,
    lists: list[dict] | None = None,
) -> None:
    """The answers of a first try: no keyed message, the senders, the lists, the message, the campaign."""
    server.reply(
        Reply(body=page([])),
        Reply(
            body=page(
                senders
                if senders is not None
                else [
                    {
                        "id": "s1",
                        "nome": "Loja",
                        "email": "loja@exemplo.com.br",
                        "principal": True,
                        "confirmado": True,
                    },
                    {
                        "id": "s2",
                        "nome": "Pend",
                        "email": "pend@exemplo.com.br",
                        "principal": False,
                        "confirmado": False,
                    },
                ]
            )
        ),
        Reply(body=page(lists if lists is not None else [{"id": "L1", "nome": "Clientes", "ativo": True}])),
        Reply(body={"data": {"id": "m1", "contador": "1"}}),
        Reply(
            body={
                "data": {
                    "id": "c1",
                    "codigo": "7",
                    "id_mensagem": "m1",
                    "status": "Em criação",
                    "data_de_inicio": data_de_inicio,
                    "total_de_contatos": "42",
                }
            }
        ),
    )


def create_op(**kwargs) -> CriaEnvioCreateCampaignOperator:
    defaults = {"task_id": "create_campaign", "subject": "Ofertas", "html": "<p>Olá</p>", "list_ids": ["L1"]}
    return CriaEnvioCreateCampaignOperator(**{**defaults, **kwargs})


def view(status: str, **extra: object) -> dict:
    return {"data": {"id": "c1", "codigo": "7", "status": status, "total_de_contatos": 10, **extra}}
