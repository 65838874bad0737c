"""Fixtures for the hook tests: one factory that builds any vendor's hook against the recording server.

Each vendor's connection is described once in :data:`VENDOR_CONNECTIONS` (connection id, type, host path on
the loopback server, credentials and extras); the per-vendor fixtures (``iagente``, ``criaenvio``, ``envie``,
``mailgrid``, ``emailmanager``) are thin calls to :func:`make_hook`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_emailbr.hooks.base import EmailBRHook
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.retry import RetryPolicy
from tests.helpers import FAST_RETRIES


@dataclass(frozen=True)
class VendorConnection:
    """How a vendor's test connection is defined: the hook class and the connection's fields."""

    hook_class: type[EmailBRHook]
    conn_id: str
    conn_type: str
    path: str
    fields: dict[str, Any] = field(default_factory=dict)


VENDOR_CONNECTIONS: dict[str, VendorConnection] = {
    "iagente": VendorConnection(
        IAgenteEmailHook, "iagente_default", "iagente_email", "/iagente/v1/", {"password": "ik"}
    ),
    "criaenvio": VendorConnection(
        CriaEnvioHook, "criaenvio_default", "criaenvio", "/criaenvio/v1/", {"password": "ck"}
    ),
    "envie": VendorConnection(
        EnvieEmailHook,
        "envie_default",
        "envie_email",
        "/envie/",
        {
            "login": "pub",
            "password": "priv",
            "extra": {"from_email": "remetente@exemplo.com.br", "from_name": "Loja"},
        },
    ),
    "mailgrid": VendorConnection(
        MailGridHook,
        "mailgrid_default",
        "mailgrid",
        "/mailgrid/api/",
        {
            "login": "user@mailgrid.example",
            "password": "mgpass",
            "extra": {"smtp_host": "grid1.mailgrid.example", "from_email": "remetente@exemplo.com.br"},
        },
    ),
    "emailmanager": VendorConnection(
        EmailManagerHook,
        "emailmanager_default",
        "emailmanager",
        "/emailmanager/",
        {"password": "tok", "extra": {"from_email": "remetente@exemplo.com.br"}},
    ),
}


@pytest.fixture
def make_hook(server, set_connection) -> Callable[..., EmailBRHook]:
    """Build ``vendor``'s hook on its default connection, pointed at the recording server.

    ``retry_policy`` defaults to :data:`tests.helpers.FAST_RETRIES`; ``fields`` override connection fields.
    """

    def _make(vendor: str, retry_policy: RetryPolicy = FAST_RETRIES, **fields: Any) -> EmailBRHook:
        spec = VENDOR_CONNECTIONS[vendor]
        connection = {"host": f"{server.url}{spec.path}", **spec.fields, **fields}
        set_connection(spec.conn_id, conn_type=spec.conn_type, **connection)
        return spec.hook_class(retry_policy=retry_policy)

    return _make


@pytest.fixture
def iagente(make_hook) -> IAgenteEmailHook:
    return make_hook("iagente")


@pytest.fixture
def criaenvio(make_hook) -> CriaEnvioHook:
    return make_hook("criaenvio")


@pytest.fixture
def envie(make_hook) -> EnvieEmailHook:
    return make_hook("envie")


@pytest.fixture
def mailgrid(make_hook) -> MailGridHook:
    return make_hook("mailgrid")


@pytest.fixture
def emailmanager(make_hook) -> EmailManagerHook:
    return make_hook("emailmanager")
