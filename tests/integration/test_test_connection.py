"""``test_connection()`` of the five hooks against the sandbox: accepted credentials, refused ones, no send."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook

pytestmark = pytest.mark.integration

HOOKS = {
    "iagente": (IAgenteEmailHook, "group/list", "IAGENTEmail key accepted"),
    "envie": (EnvieEmailHook, "lists/show", "envie.email keys accepted"),
    "criaenvio": (CriaEnvioHook, "remetentes", "CriaEnvio key accepted"),
    "mailgrid": (MailGridHook, "report/", "MailGrid credentials accepted"),
    "emailmanager": (EmailManagerHook, "deliverystats", "emailManager token accepted"),
}


@pytest.mark.parametrize("vendor", list(HOOKS))
def test_connection_accepted_and_refused(sandbox, set_connection, vendor):
    hook_class, path, accepted = HOOKS[vendor]
    ok, message = hook_class().test_connection()
    assert ok, message
    assert message.startswith(accepted)
    journal = sandbox.requests(vendor=vendor)
    assert len(journal) == 1 and journal[0]["path"].endswith(path)  # one cheap read, nothing sent

    wrong = dict(sandbox.connections[vendor], password="wrong-secret-value")
    set_connection("wrong_conn", **wrong)
    ok, message = hook_class("wrong_conn").test_connection()
    assert not ok
    assert "wrong-secret-value" not in message
    assert any(word in message for word in ("401", "207", "error", "Chave", "inválid")), message
    assert all(r["path"].endswith(path) for r in sandbox.requests(vendor=vendor))  # only the probe, twice
