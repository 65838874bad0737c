"""CriaEnvio opt-out export against the sandbox: recipients who unsubscribed from a campaign, read with the
documented ``status=descadastros`` search page by page, written to CSV or JSON Lines, and usable as another
import's ``suppress`` list."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook, created_id_of
from airflow_provider_emailbr.importing.suppression import load_suppression
from airflow_provider_emailbr.operators.criaenvio import CriaEnvioExportUnsubscribesOperator
from emailbr_sandbox.vendors.criaenvio import OPTOUT_DOMAIN
from tests.helpers import run

#: The contact the sandbox seeds as already unsubscribed.
SEEDED_OPTOUT = "descadastrado@exemplo.com.br"


def _campaign_to(addresses: list[str]) -> None:
    """Put ``addresses`` in a new list through the API and send it a campaign that starts now."""
    hook = CriaEnvioHook()
    list_id = created_id_of(hook.create_list(nome="Clientes"), "grupos")
    for address in addresses:
        hook.subscribe_contact(created_id_of(hook.create_contact(email=address), "contatos"), [list_id])
    message = created_id_of(hook.create_message(assunto="Ofertas", html="<p>Oi</p>"), "mensagens")
    hook.create_campaign(message_id=message, list_ids=[list_id], start_at="agora")


def _campaign_with_optouts(sandbox, optouts: int, stays: int) -> set[str]:
    """Send a campaign to ``optouts`` recipients who unsubscribe and ``stays`` who do not, let it finish;
    return every unsubscribed address the sandbox then holds."""
    _campaign_to(
        [f"Saiu{i}@{OPTOUT_DOMAIN}" for i in range(optouts)]
        + [f"fica{i}@exemplo.com.br" for i in range(stays)]
    )
    sandbox.advance(3600)
    unsubscribed = {c["email"] for c in sandbox.state("criaenvio")["contacts"] if c["descadastrado"]}
    assert len(unsubscribed) == optouts + 1  # the campaign's opt-outs and the seeded one
    return unsubscribed


def test_export_writes_every_unsubscribed_contact_to_csv_reading_every_page(sandbox, tmp_path):
    unsubscribed = _campaign_with_optouts(sandbox, optouts=130, stays=3)
    sandbox.clear_requests()
    target = tmp_path / "saida" / "descadastros.csv"
    summary, _ = run(CriaEnvioExportUnsubscribesOperator(task_id="export", output_path=str(target)))

    assert summary == {"count": 131, "path": str(target), "format": "csv"}
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["email"] for r in rows} == unsubscribed
    state = {c["email"]: c for c in sandbox.state("criaenvio")["contacts"]}
    assert all(r["id"] == state[r["email"]]["id"] for r in rows)
    registered = datetime.fromisoformat(rows[0]["registered_at"])
    assert registered.utcoffset() is not None  # the account's local time, with its offset
    assert not (tmp_path / "saida" / "descadastros.csv.partial").exists()
    calls = sandbox.requests(vendor="criaenvio")
    assert [(c["method"], c["path"]) for c in calls] == [("GET", "/criaenvio/v1/contatos")] * 2
    assert [(c["query"]["status"], c["query"]["page"], c["query"]["number"]) for c in calls] == [
        ("descadastros", "1", "100"),
        ("descadastros", "2", "100"),
    ]

    # the file is a suppression list as it is: nobody in it is subscribed again by the next import
    with load_suppression(str(target), conn_id=None) as suppressed:
        assert len(suppressed) == 131
        assert f"saiu7@{OPTOUT_DOMAIN}" in suppressed and "fica0@exemplo.com.br" not in suppressed


def test_export_to_json_lines_through_an_object_storage_uri(sandbox, tmp_path):
    _campaign_with_optouts(sandbox, optouts=2, stays=1)
    uri = f"file://{tmp_path}/descadastros.out"
    summary, _ = run(
        CriaEnvioExportUnsubscribesOperator(task_id="export", output_path=uri, output_format="jsonl")
    )
    assert (summary["count"], summary["format"]) == (3, "jsonl")
    records = [json.loads(line) for line in (tmp_path / "descadastros.out").read_text("utf-8").splitlines()]
    assert sorted(r["email"] for r in records) == sorted(
        [SEEDED_OPTOUT, f"Saiu0@{OPTOUT_DOMAIN}", f"Saiu1@{OPTOUT_DOMAIN}"]
    )
    assert set(records[0]) == {"email", "id", "registered_at"}


def test_a_campaign_that_has_not_finished_unsubscribes_nobody(sandbox):
    _campaign_to([f"x@{OPTOUT_DOMAIN}"])
    assert [c["email"] for c in CriaEnvioHook().iter_unsubscribed_contacts()] == [SEEDED_OPTOUT]


@pytest.mark.parametrize(
    ("path", "fmt", "message"),
    [
        ("descadastros.xlsx", None, "cannot tell the format"),
        ("descadastros.csv", "xml", "'xml' is not supported; use csv or jsonl"),
        ("", None, "output_path: give the file to write"),
    ],
)
def test_bad_output_is_refused_before_any_request(sandbox, tmp_path, path, fmt, message):
    output = str(tmp_path / path) if path else ""
    op = CriaEnvioExportUnsubscribesOperator(task_id="export", output_path=output, output_format=fmt)
    with pytest.raises(EmailBRInputError, match=message):
        run(op)
    assert sandbox.requests(vendor="criaenvio") == []
