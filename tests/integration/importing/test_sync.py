"""Daily sync with ``dag.test()`` against the sandbox: only new and changed contacts are sent, removals are
mirrored under a guard, the snapshot lives on disk or in object storage, and a failed run converges.

Every day is one DAG run of ``tests/integration/dags/contacts_import.py`` (the rows reach the import by XCom);
assertions are on the sandbox's state and on the journal of the requests each day made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.iagente import IAgenteImportContactsOperator
from tests.dagrun import DagRunResult, run_dag
from tests.integration.test_contacts import criaenvio_list_contacts, iagente_group_contacts, writes
from tests.unit.importing.test_suppression import memory_store  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).parents[1] / "dags" / "contacts_import.py"


def crm(n: int, start: int = 0, **changes: dict[str, str]) -> list[dict[str, str]]:
    """``n`` CRM rows; ``changes`` maps an e-mail's number (``c3``) to the columns that differ."""
    data = []
    for i in range(start, start + n):
        row = {"email": f"c{i}@exemplo.com.br", "nome": f"Cliente {i}", "cidade": "Recife"}
        data.append({**row, **changes.get(f"c{i}", {})})
    return data


def day(monkeypatch, sandbox, platform: str, rows: list[dict[str, Any]], **kwargs: Any) -> DagRunResult:
    """One day's DAG run, with the journal emptied first (so it holds only this day's requests)."""
    sandbox.clear_requests()
    monkeypatch.setenv(
        "EMAILBR_IMPORT_TEST", json.dumps({"platform": platform, "rows": rows, "operator_kwargs": kwargs})
    )
    return run_dag(DAG_FILE, "contacts_import")


def counts(result: DagRunResult) -> dict[str, int]:
    summary = result.xcom("import_contacts")
    return {k: summary[k] for k in ("new", "changed", "unchanged", "removed", "sent")}


def calls(sandbox, vendor: str) -> list[tuple[str, str]]:
    """The day's write requests as ``(method, path after the vendor's prefix)``."""
    return [(r["method"], r["path"].split("/", 3)[-1]) for r in writes(sandbox, vendor)]


def cria_target(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {
        "list_names": ["CRM"],
        "create_lists": True,
        "custom_fields": {"Cidade": "cidade"},
        "create_missing_fields": True,
        "state_path": str(tmp_path / "criaenvio.sqlite"),
        **more,
    }


def iag_target(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {
        "group_name": "CRM",
        "create_group": True,
        "field_mapping": {"field1": "cidade"},
        "state_path": str(tmp_path / "iagente.sqlite"),
        **more,
    }


@pytest.mark.parametrize("platform", ["iagente", "criaenvio"])
def test_the_second_of_two_identical_runs_sends_nothing(sandbox, monkeypatch, tmp_path, platform):
    target = (iag_target if platform == "iagente" else cria_target)(tmp_path)
    first = day(monkeypatch, sandbox, platform, crm(25), **target)
    assert first.state == "success", first.task_states
    assert counts(first) == {"new": 25, "changed": 0, "unchanged": 0, "removed": 0, "sent": 25}
    second = day(monkeypatch, sandbox, platform, crm(25), **target)
    assert second.state == "success", second.task_states
    assert counts(second) == {"new": 0, "changed": 0, "unchanged": 25, "removed": 0, "sent": 0}
    assert calls(sandbox, platform) == []  # not one write request
    members = (
        iagente_group_contacts(sandbox, "CRM")
        if platform == "iagente"
        else criaenvio_list_contacts(sandbox, "CRM")
    )
    assert len(members) == 25


def test_criaenvio_changed_added_and_removed_rows_make_exactly_those_calls(sandbox, monkeypatch, tmp_path):
    target = cria_target(tmp_path, mirror=True, max_removed_ratio=0.2)
    assert day(monkeypatch, sandbox, "criaenvio", crm(10), **target).state == "success"
    ids = {c["email"]: c["id"] for c in sandbox.state("criaenvio")["contacts"]}
    changed = crm(9, c0={"nome": "Nova Cliente 0"}, c1={"cidade": "Olinda"}) + crm(1, start=10)  # c9 left
    result = day(monkeypatch, sandbox, "criaenvio", changed, **target)
    assert result.state == "success", result.task_states
    assert counts(result) == {"new": 1, "changed": 2, "unchanged": 7, "removed": 1, "sent": 3}
    new_id = next(
        c["id"] for c in sandbox.state("criaenvio")["contacts"] if c["email"] == "c10@exemplo.com.br"
    )
    assert sorted(calls(sandbox, "criaenvio")) == sorted(
        [
            ("PUT", f"contatos/{ids['c0@exemplo.com.br']}"),  # the name: one PUT, no look-up
            ("PUT", f"contatos/{ids['c1@exemplo.com.br']}/campos"),  # the custom field only
            ("POST", "contatos"),  # the new contact: created, subscribed, its field set
            ("POST", f"contatos/{new_id}/inscrever"),
            ("PUT", f"contatos/{new_id}/campos"),
            ("POST", f"contatos/{ids['c9@exemplo.com.br']}/desinscrever"),  # out of the list
        ]
    )
    members = criaenvio_list_contacts(sandbox, "CRM")
    assert set(members) == {f"c{i}@exemplo.com.br" for i in (*range(9), 10)}
    assert members["c0@exemplo.com.br"]["nome"] == "Nova Cliente 0"
    field_id = result.xcom("import_contacts")["custom_field_ids"]["Cidade"]
    assert members["c1@exemplo.com.br"]["campos"][field_id] == "Olinda"
    assert "c9@exemplo.com.br" in {c["email"] for c in sandbox.state("criaenvio")["contacts"]}  # not deleted


def test_iagente_changed_added_and_removed_rows_make_exactly_those_calls(sandbox, monkeypatch, tmp_path):
    target = iag_target(tmp_path, mirror=True, max_removed_ratio=0.2)
    assert day(monkeypatch, sandbox, "iagente", crm(10), **target).state == "success"
    changed = crm(9, c0={"nome": "Nova Cliente 0"}, c1={"cidade": "Olinda"}) + crm(1, start=10)
    result = day(monkeypatch, sandbox, "iagente", changed, **target)
    assert result.state == "success", result.task_states
    assert counts(result) == {"new": 1, "changed": 2, "unchanged": 7, "removed": 1, "sent": 3}
    requests = writes(sandbox, "iagente")
    assert [p for _, p in calls(sandbox, "iagente")] == ["contact/mass/add", "group/contact/remove"]
    sent = json.dumps(requests[0]["body"])
    assert all(f"c{i}@exemplo.com.br" in sent for i in (0, 1, 10))
    assert not any(f"c{i}@exemplo.com.br" in sent for i in range(2, 10))
    assert "c9@exemplo.com.br" in json.dumps(requests[1]["body"])
    members = iagente_group_contacts(sandbox, "CRM")
    assert set(members) == {f"c{i}@exemplo.com.br" for i in (*range(9), 10)}
    assert (members["c0@exemplo.com.br"]["name"], members["c1@exemplo.com.br"]["field1"]) == (
        "Nova Cliente 0",
        "Olinda",
    )
    assert "c9@exemplo.com.br" in {c["email"] for c in sandbox.state("iagente")["contacts"]}  # not deleted


def test_the_removal_guard_fails_before_any_request_naming_the_counts(sandbox, monkeypatch, tmp_path):
    target = iag_target(tmp_path, mirror=True)
    assert day(monkeypatch, sandbox, "iagente", crm(20), **target).state == "success"
    stored = Path(target["state_path"]).read_bytes()
    broken_export = crm(3)  # 17 of 20 gone: more than max_removed_ratio=0.1
    result = day(monkeypatch, sandbox, "iagente", broken_export, **target)
    assert result.state == "failed"
    assert sandbox.requests(vendor="iagente") == []  # not even a look-up
    assert len(iagente_group_contacts(sandbox, "CRM")) == 20
    assert Path(target["state_path"]).read_bytes() == stored
    op = IAgenteImportContactsOperator(task_id="t", contacts=broken_export, **target)
    with pytest.raises(EmailBRInputError, match=r"17 of the 20 contacts of the last snapshot \(85.0%\)"):
        op.execute({})


def test_full_refresh_sends_everything_and_stores_a_fresh_snapshot(sandbox, monkeypatch, tmp_path):
    target = cria_target(tmp_path)
    assert day(monkeypatch, sandbox, "criaenvio", crm(6), **target).state == "success"
    Path(target["state_path"]).write_bytes(b"damaged by a disk full")
    refused = day(monkeypatch, sandbox, "criaenvio", crm(6), **target)
    assert refused.state == "failed"
    assert sandbox.requests(vendor="criaenvio") == []  # stopped before any request
    with pytest.raises(EmailBRInputError, match=r"criaenvio.sqlite' is not a readable contact snapshot.*"):
        IAgenteImportContactsOperator(
            task_id="t", contacts=crm(1), **{**iag_target(tmp_path), "state_path": target["state_path"]}
        ).execute({})
    refresh = day(monkeypatch, sandbox, "criaenvio", crm(6), **target, full_refresh=True)
    assert refresh.state == "success", refresh.task_states
    assert counts(refresh) == {"new": 6, "changed": 0, "unchanged": 0, "removed": 0, "sent": 6}
    assert [m for m, p in calls(sandbox, "criaenvio") if p == "contatos"].count("POST") == 6
    after = day(monkeypatch, sandbox, "criaenvio", crm(6), **target)
    assert counts(after)["unchanged"] == 6 and calls(sandbox, "criaenvio") == []


def test_state_in_object_storage(sandbox, monkeypatch, tmp_path):
    bucket = tmp_path / "bucket"
    uri = f"file://{bucket}/{{{{ dag.dag_id }}}}/state.sqlite"  # an ObjectStoragePath URI, templated
    target = iag_target(tmp_path, state_path=uri)
    assert day(monkeypatch, sandbox, "iagente", crm(8), **target).state == "success"
    assert [p.name for p in (bucket / "contacts_import").iterdir()] == ["state.sqlite"]
    second = day(monkeypatch, sandbox, "iagente", crm(8, c2={"nome": "Outra"}), **target)
    assert counts(second) == {"new": 0, "changed": 1, "unchanged": 7, "removed": 0, "sent": 1}
    assert second.xcom("import_contacts")["state_path"] == f"file://{bucket}/contacts_import/state.sqlite"


def test_a_dropped_answer_mid_run_then_a_rerun_converges(sandbox, monkeypatch, set_connection, tmp_path):
    cria = sandbox.connections["criaenvio"]
    fast = {**cria.get("extra", {}), "retry_backoff": 0.01, "max_retries": 1}
    set_connection("criaenvio_default", **{**cria, "extra": fast})
    target = cria_target(tmp_path, max_rejected_ratio=1)
    assert day(monkeypatch, sandbox, "criaenvio", crm(12), **target).state == "success"
    ids = {c["email"]: c["id"] for c in sandbox.state("criaenvio")["contacts"]}
    renamed = {f"c{i}": {"nome": f"Renomeada {i}"} for i in range(4)}
    lost = max(ids[f"c{i}@exemplo.com.br"] for i in range(4))  # no other id has it as a prefix
    sandbox.set_fault("drop", vendor="criaenvio", method="PUT", path=f"/contatos/{lost}", count=5)
    first = day(monkeypatch, sandbox, "criaenvio", crm(12, **renamed), **target)
    assert first.state == "success", first.task_states
    summary = first.xcom("import_contacts")
    assert (summary["changed"], summary["sent"], summary["rejected_reasons"]) == (4, 3, {"request_failed": 1})
    sandbox.clear_faults()
    rerun = day(monkeypatch, sandbox, "criaenvio", crm(12, **renamed), **target)
    assert counts(rerun) == {"new": 0, "changed": 1, "unchanged": 11, "removed": 0, "sent": 1}
    assert calls(sandbox, "criaenvio") == [("PUT", f"contatos/{lost}")]
    members = criaenvio_list_contacts(sandbox, "CRM")
    assert {members[f"c{i}@exemplo.com.br"]["nome"] for i in range(4)} == {f"Renomeada {i}" for i in range(4)}
    third = day(monkeypatch, sandbox, "criaenvio", crm(12, **renamed), **target)
    assert counts(third)["unchanged"] == 12 and calls(sandbox, "criaenvio") == []


def test_a_429_storm_mid_run_then_a_rerun_converges_with_nothing_lost(
    sandbox, monkeypatch, set_connection, tmp_path
):
    cria = sandbox.connections["criaenvio"]
    fast = {**cria.get("extra", {}), "retry_backoff": 0.01, "max_retries": 1}
    set_connection("criaenvio_default", **{**cria, "extra": fast})
    target = cria_target(tmp_path, max_rejected_ratio=1)
    assert day(monkeypatch, sandbox, "criaenvio", crm(10), **target).state == "success"
    renamed = {f"c{i}": {"nome": f"Renomeada {i}", "cidade": "Olinda"} for i in range(10)}
    source = crm(10, **renamed) + crm(10, start=10)  # 10 changed, 10 new
    # every write answers 429 half of the time (seeded): a contact whose two tries both get one is left out
    for method in ("POST", "PUT"):
        sandbox.set_fault("status", vendor="criaenvio", method=method, status=429, retry_after=0, rate=0.5)
    stormy = day(monkeypatch, sandbox, "criaenvio", source, **target)
    assert stormy.state == "success", stormy.task_states
    summary = stormy.xcom("import_contacts")
    failed = summary["rejected_reasons"].get("request_failed", 0)
    assert failed >= 1 and summary["sent"] + failed == 20, summary
    assert any(r["status"] == 429 for r in sandbox.requests(vendor="criaenvio"))
    sandbox.clear_faults()
    rerun = day(monkeypatch, sandbox, "criaenvio", source, **target)
    assert rerun.state == "success", rerun.task_states
    again = rerun.xcom("import_contacts")
    assert again["new"] + again["changed"] == failed == again["sent"]  # only what the storm left out
    assert again["unchanged"] == 20 - failed and again["rejected"] == 0
    members = criaenvio_list_contacts(sandbox, "CRM")
    assert set(members) == {f"c{i}@exemplo.com.br" for i in range(20)}  # nothing lost
    assert {members[f"c{i}@exemplo.com.br"]["nome"] for i in range(10)} == {
        f"Renomeada {i}" for i in range(10)
    }
    field_id = again["custom_field_ids"]["Cidade"]
    assert {m["campos"].get(field_id) for m in members.values()} == {"Olinda", "Recife"}
    assert sum(1 for m in members.values() if m["campos"].get(field_id) == "Olinda") == 10
    third = day(monkeypatch, sandbox, "criaenvio", source, **target)
    assert counts(third)["unchanged"] == 20 and calls(sandbox, "criaenvio") == []


@pytest.mark.usefixtures("memory_store")
def test_state_in_an_fsspec_memory_store(sandbox, monkeypatch, tmp_path):
    from airflow.sdk import ObjectStoragePath

    uri = "memory://emailbr-sync-test/{{ dag.dag_id }}/state.sqlite"
    stored = ObjectStoragePath("memory://emailbr-sync-test/contacts_import/state.sqlite")
    target = iag_target(tmp_path, state_path=uri, mirror=True, max_removed_ratio=0.5)
    assert day(monkeypatch, sandbox, "iagente", crm(6), **target).state == "success"
    first = stored.read_bytes()
    assert first.startswith(b"SQLite format 3")
    second = day(monkeypatch, sandbox, "iagente", crm(5, c1={"nome": "Outra"}), **target)  # c5 left
    assert second.state == "success", second.task_states
    assert counts(second) == {"new": 0, "changed": 1, "unchanged": 4, "removed": 1, "sent": 1}
    assert [p for _, p in calls(sandbox, "iagente")] == ["contact/mass/add", "group/contact/remove"]
    assert stored.read_bytes() != first
    assert set(iagente_group_contacts(sandbox, "CRM")) == {f"c{i}@exemplo.com.br" for i in range(5)}
    third = day(monkeypatch, sandbox, "iagente", crm(5, c1={"nome": "Outra"}), **target)
    assert counts(third)["unchanged"] == 5 and calls(sandbox, "iagente") == []
