"""Mass contact import against the sandbox: every source, the report, the ratio, dry run, faults.

Assertions are on the sandbox's state and journal (what the platform holds and received), not on logs.
Most cases call the operator's ``execute`` directly (fast); the DAG runs prove the sources work in a real
``dag.test()``.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.contacts import (
    CriaEnvioImportContactsOperator,
    IAgenteImportContactsOperator,
)
from tests.dagrun import run_dag

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).parent / "dags" / "contacts_import.py"


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"email": f"cliente{i}@exemplo.com.br", "nome": f"Cliente {i}"} for i in range(start, start + n)]


def iagente_group_contacts(sandbox, group_name: str) -> dict[str, dict]:
    state = sandbox.state("iagente")
    group_id = next(g["group_id"] for g in state["groups"] if g["name"] == group_name)
    members = [c for c in state["contacts"] if group_id in c["groups"]]
    emails = [c["email"] for c in members]
    assert len(emails) == len(set(emails)), "a contact is present twice"
    return {c["email"]: c for c in members}


def criaenvio_list_contacts(sandbox, list_name: str) -> dict[str, dict]:
    state = sandbox.state("criaenvio")
    lst = next(g for g in state["lists"] if g["nome"] == list_name)
    by_id = {c["id"]: c for c in state["contacts"]}
    emails = [c["email"] for c in state["contacts"]]
    assert len(emails) == len(set(emails)), "a contact is present twice"
    return {by_id[i]["email"]: by_id[i] for i in lst["contatos"]}


def writes(sandbox, vendor: str) -> list[dict]:
    return [
        r
        for r in sandbox.requests(vendor=vendor)
        if r["method"] in ("POST", "PUT", "DELETE")
        and not r["path"].endswith(("/list", "/contact/list", "/group/list"))
    ]


# ------------------------------------------------------------------------------------------ DAG runs


def test_xcom_source_into_iagente_with_rejected_report(sandbox, monkeypatch, tmp_path):
    data = [
        *rows(30),
        {"email": "not-an-email", "nome": "X"},
        {"email": "  Cliente3@EXEMPLO.com.br ", "nome": "Cliente 3 (new)"},  # duplicate: last wins
        {"nome": "no e-mail"},
    ]
    report = tmp_path / "rejected.csv"
    monkeypatch.setenv(
        "EMAILBR_IMPORT_TEST",
        json.dumps(
            {
                "platform": "iagente",
                "rows": data,
                "operator_kwargs": {
                    "group_name": "Clientes",
                    "create_group": True,
                    "rejected_path": str(report),
                    "max_rejected_ratio": 0.1,
                    "chunk_size": 7,
                },
            }
        ),
    )
    result = run_dag(DAG_FILE, "contacts_import")
    assert result.state == "success", result.task_states
    summary = result.xcom("import_contacts")
    assert {k: summary[k] for k in ("received", "valid", "duplicates", "sent", "rejected")} == {
        "received": 33,
        "valid": 31,
        "duplicates": 1,
        "sent": 30,
        "rejected": 2,
    }
    assert summary["rejected_reasons"] == {"invalid_email": 1, "missing_email": 1}
    members = iagente_group_contacts(sandbox, "Clientes")
    assert set(members) == {f"cliente{i}@exemplo.com.br" for i in range(30)}
    assert members["cliente3@exemplo.com.br"]["name"] == "Cliente 3 (new)"
    rejected = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(r["row"], r["reason"]) for r in rejected] == [("31", "invalid_email"), ("33", "missing_email")]
    assert rejected[0]["email"] == "not-an-email"
    mass_adds = [r for r in sandbox.requests(vendor="iagente") if r["path"].endswith("contact/mass/add")]
    assert len(mass_adds) == 5  # 31 valid rows, 30 unique, in chunks of at most 7


def test_latin1_semicolon_csv_into_iagente(sandbox, monkeypatch, tmp_path):
    source = tmp_path / "export.csv"
    lines = ["E-mail;Nome;Nascimento;field1"] + [
        f"pessoa{i}@exemplo.com.br;João Ção {i};0{1 + i % 9}/03/1990;São Paulo" for i in range(12)
    ]
    source.write_bytes("\r\n".join(lines).encode("latin-1"))
    monkeypatch.setenv(
        "EMAILBR_IMPORT_TEST",
        json.dumps(
            {
                "platform": "iagente",
                "operator_kwargs": {
                    "source_path": str(source),
                    "encoding": "latin-1",
                    "group_name": "Export",
                    "create_group": True,
                },
            }
        ),
    )
    result = run_dag(DAG_FILE, "contacts_import")
    assert result.state == "success", result.task_states
    members = iagente_group_contacts(sandbox, "Export")
    assert len(members) == 12
    assert members["pessoa0@exemplo.com.br"]["name"] == "João Ção 0"
    assert members["pessoa0@exemplo.com.br"]["birthday"] == "1990-03-01"
    assert members["pessoa0@exemplo.com.br"]["field1"] == "São Paulo"


def test_sql_source_into_criaenvio_with_custom_fields(sandbox, monkeypatch, tmp_path):
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE clientes (email TEXT, nome TEXT, sexo TEXT, nascimento TEXT, cidade TEXT)")
        conn.executemany(
            "INSERT INTO clientes VALUES (?, ?, ?, ?, ?)",
            [
                (
                    f"c{i}@exemplo.com.br",
                    f"C {i}",
                    "Feminino" if i % 2 else "M",
                    "1985-07-0" + str(1 + i % 9),
                    "Recife",
                )
                for i in range(25)
            ]
            + [("invalido@", "Bad", "F", None, None)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_CRM_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    monkeypatch.setenv(
        "EMAILBR_IMPORT_TEST",
        json.dumps(
            {
                "platform": "criaenvio",
                "operator_kwargs": {
                    "sql": "SELECT email, nome, sexo, nascimento, cidade FROM clientes ORDER BY rowid",
                    "sql_conn_id": "crm_db",
                    "batch_size": 10,
                    "list_names": ["CRM"],
                    "create_lists": True,
                    "custom_fields": {"Cidade": "cidade"},
                    "max_rejected_ratio": 0.1,
                },
            }
        ),
    )
    result = run_dag(DAG_FILE, "contacts_import")
    assert result.state == "success", result.task_states
    summary = result.xcom("import_contacts")
    assert (summary["received"], summary["created"], summary["rejected"]) == (26, 25, 1)
    members = criaenvio_list_contacts(sandbox, "CRM")
    assert len(members) == 25
    c1 = members["c1@exemplo.com.br"]
    assert (c1["sexo"], c1["dataNascimento"]) == ("f", "1985-07-02")
    field_id = summary["custom_field_ids"]["Cidade"]
    assert c1["campos"] == {field_id: "Recife"}
    creates = {
        r["body"]["email"]: r["body"]
        for r in sandbox.requests(vendor="criaenvio")
        if r["method"] == "POST" and r["path"].endswith("/contatos")
    }
    assert creates["c0@exemplo.com.br"] == {  # the vendor's format: DD/MM/YYYY, sexo m/f
        "email": "c0@exemplo.com.br",
        "nome": "C 0",
        "sexo": "m",
        "data_de_nascimento": "01/07/1985",
    }


def test_jsonl_source_and_ratio_failure_still_writes_report(sandbox, monkeypatch, tmp_path):
    source = tmp_path / "contacts.jsonl"
    good = [json.dumps(r) for r in rows(6)]
    source.write_text(
        "\n".join([*good, "{broken", json.dumps({"email": "x@"}), "[1, 2]"]) + "\n", encoding="utf-8"
    )
    report = tmp_path / "rejected.jsonl"
    monkeypatch.setenv(
        "EMAILBR_IMPORT_TEST",
        json.dumps(
            {
                "platform": "iagente",
                "operator_kwargs": {
                    "source_path": str(source),
                    "group_name": "J",
                    "create_group": True,
                    "rejected_path": str(report),
                },
            }
        ),
    )
    result = run_dag(DAG_FILE, "contacts_import")
    assert result.state == "failed"
    assert len(iagente_group_contacts(sandbox, "J")) == 6  # the valid rows went in all the same
    rejected = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["row"], r["reason"]) for r in rejected] == [
        (7, "malformed_line"),
        (8, "invalid_email"),
        (9, "not_a_mapping"),
    ]


# ------------------------------------------------------------------------------------------ direct execute


def test_utf8_bom_comma_csv_and_field_mapping(sandbox, tmp_path):
    source = tmp_path / "bom.csv"
    source.write_bytes("\ufeffCorreio,Nome Completo\nana@exemplo.com.br,Ana\n".encode())
    op = IAgenteImportContactsOperator(
        task_id="t",
        source_path=str(source),
        group_name="BOM",
        create_group=True,
        field_mapping={"email": "Correio", "name": "Nome Completo"},
    )
    assert op.execute({})["sent"] == 1
    assert iagente_group_contacts(sandbox, "BOM")["ana@exemplo.com.br"]["name"] == "Ana"


def test_dry_run_sends_nothing(sandbox):
    op = CriaEnvioImportContactsOperator(
        task_id="t", contacts=rows(20), list_names=["Nova"], create_lists=True, dry_run=True
    )
    summary = op.execute({})
    assert (summary["received"], summary["valid"], summary["sent"], summary["dry_run"]) == (20, 20, 0, True)
    assert writes(sandbox, "criaenvio") == []
    op = IAgenteImportContactsOperator(
        task_id="t", contacts=rows(5), group_name="Nova", create_group=True, dry_run=True
    )
    assert op.execute({})["group_would_be_created"] is True
    assert [r for r in sandbox.requests(vendor="iagente") if not r["path"].endswith("/list")] == []


def test_import_twice_is_idempotent(sandbox):
    for _ in range(2):
        IAgenteImportContactsOperator(
            task_id="t", contacts=rows(40), group_name="G", create_group=True
        ).execute({})
        CriaEnvioImportContactsOperator(
            task_id="t", contacts=rows(40), list_names=["L"], create_lists=True
        ).execute({})
    assert len(iagente_group_contacts(sandbox, "G")) == 40
    assert len(criaenvio_list_contacts(sandbox, "L")) == 40
    state = sandbox.state("criaenvio")
    assert [lst["nome"] for lst in state["lists"]].count("L") == 1
    assert [g["name"] for g in sandbox.state("iagente")["groups"]].count("G") == 1


def test_create_only_keeps_existing_contacts(sandbox):
    CriaEnvioImportContactsOperator(
        task_id="t", contacts=rows(3), list_names=["L"], create_lists=True
    ).execute({})
    changed = [{"email": "cliente0@exemplo.com.br", "nome": "Changed"}, *rows(2, start=10)]
    summary = CriaEnvioImportContactsOperator(
        task_id="t", contacts=changed, list_names=["L"], mode="create_only"
    ).execute({})
    assert (summary["created"], summary["updated"], summary["sent"]) == (2, 0, 3)
    assert criaenvio_list_contacts(sandbox, "L")["cliente0@exemplo.com.br"]["nome"] == "Cliente 0"


@pytest.mark.parametrize("seed", [1, 2])
def test_429_storm_and_503_bursts_lose_and_duplicate_nothing(sandbox, set_connection, seed):
    fast = {"retry_backoff": 0.01, "max_retries": 8}
    cria, iag = sandbox.connections["criaenvio"], sandbox.connections["iagente"]
    set_connection("criaenvio_default", **{**cria, "extra": {**cria.get("extra", {}), **fast}})
    set_connection("iagente_default", **{**iag, "extra": {**iag.get("extra", {}), **fast}})
    sandbox.set_fault("status", vendor="criaenvio", status=429, rate=0.3, retry_after=0.05)
    sandbox.set_fault("status", vendor="iagente", status=503, rate=0.3)
    data = rows(60, start=seed * 100)
    summary = CriaEnvioImportContactsOperator(
        task_id="t", contacts=data, list_names=["S"], create_lists=True, max_concurrency=4
    ).execute({})
    assert summary["rejected"] == 0 and summary["sent"] == 60
    IAgenteImportContactsOperator(
        task_id="t", contacts=data, group_name="S", create_group=True, chunk_size=10
    ).execute({})
    assert set(criaenvio_list_contacts(sandbox, "S")) == {r["email"] for r in data}
    assert set(iagente_group_contacts(sandbox, "S")) == {r["email"] for r in data}
    statuses = [r["status"] for r in sandbox.requests(vendor="criaenvio")]
    assert statuses.count(429) > 0  # the storm really happened


def test_whole_chunk_refusal_is_split_to_isolate_bad_rows(sandbox):
    sandbox.set_fault("status", vendor="iagente", path="contact/mass/add", status=400, count=1)
    summary = IAgenteImportContactsOperator(
        task_id="t", contacts=rows(8), group_name="H", create_group=True, max_rejected_ratio=0.5
    ).execute({})
    assert summary["sent"] + summary["rejected"] == 8
    assert len(iagente_group_contacts(sandbox, "H")) == summary["sent"]


# ------------------------------------------------------------------------------------------ bad input


def test_bad_input_gives_clear_errors_before_any_request(sandbox, tmp_path):
    no_email = tmp_path / "no_email.csv"
    no_email.write_text("nome;cidade\nAna;Recife\n", encoding="utf-8")
    with pytest.raises(EmailBRInputError, match=r"no e-mail column .* its columns are \['nome', 'cidade'\]"):
        IAgenteImportContactsOperator(task_id="t", source_path=str(no_email), group_id=1).execute({})
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(EmailBRInputError, match="the CSV source is empty"):
        IAgenteImportContactsOperator(task_id="t", source_path=str(empty), group_id=1).execute({})
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email;nome\na@x.com;Jo\xe3o\n".encode("latin-1"))
    with pytest.raises(EmailBRInputError, match="not valid utf-8 text .* encoding='latin-1'"):
        IAgenteImportContactsOperator(task_id="t", source_path=str(latin), group_id=1).execute({})
    with pytest.raises(EmailBRInputError, match="contacts: expected an iterable of dicts .* got str"):
        IAgenteImportContactsOperator(task_id="t", contacts="[{'email': 'a@x.com'}]", group_id=1).execute({})
    with pytest.raises(
        EmailBRInputError, match="give exactly one source among contacts, source_path and sql"
    ):
        IAgenteImportContactsOperator(task_id="t", contacts=[], source_path="x.csv", group_id=1)
    with pytest.raises(EmailBRInputError, match=r"field_mapping: unknown IAGENTEmail field\(s\) \['nome'\]"):
        IAgenteImportContactsOperator(
            task_id="t", contacts=[], group_id=1, field_mapping={"nome": "x"}
        ).execute({})
    with pytest.raises(EmailBRInputError, match="no CriaEnvio list named 'Nope'"):
        CriaEnvioImportContactsOperator(task_id="t", contacts=rows(1), list_names=["Nope"]).execute({})
    assert writes(sandbox, "iagente") == [] and writes(sandbox, "criaenvio") == []


def test_wrong_value_types_are_rejected_rows_not_crashes(sandbox, tmp_path):
    data = [
        {"email": 12345, "nome": "n"},
        {"email": "ok@exemplo.com.br", "nome": {"nested": 1}},
        {"email": "ok2@exemplo.com.br", "sexo": "x"},
        {"email": "ok3@exemplo.com.br", "data_de_nascimento": "31/02/1990"},
        {"email": "ok4@exemplo.com.br", "nome": "=HYPERLINK(1)", "sexo": "F"},
    ]
    report = tmp_path / "r.csv"
    summary = CriaEnvioImportContactsOperator(
        task_id="t",
        contacts=data,
        list_names=["T"],
        create_lists=True,
        rejected_path=str(report),
        max_rejected_ratio=1,
    ).execute({})
    assert summary["rejected_reasons"] == {
        "invalid_date": 1,
        "invalid_email": 1,
        "invalid_sexo": 1,
        "invalid_value": 1,
    }
    assert set(criaenvio_list_contacts(sandbox, "T")) == {"ok4@exemplo.com.br"}
    rejected = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [r["row"] for r in rejected] == ["1", "2", "3", "4"]
