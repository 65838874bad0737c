"""Hostile input for the contact import operators: every input row is imported or reported, never a crash.

Rows come as an XCom list, a CSV file (any delimiter, BOM, Latin-1, mixed line endings, formula cells, extra
or missing cells, one gigantic cell) or a JSON Lines file (non-JSON lines, deep nesting, wrong types). The
property: the task either fails with an ``EmailBRInputError`` naming what is wrong, or it accounts for every
row — ``valid + rejected at validation == received``, the rejected report holds exactly the rejected rows
(by row number), and the e-mails sent to the platform are exactly the valid ones.
"""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.contacts import (
    CriaEnvioImportContactsOperator,
    IAgenteImportContactsOperator,
)
from airflow_provider_emailbr.utils.emails import InvalidEmail, normalise_email
from tests.conftest import Reply

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ANY_CHAR = st.characters(codec=None, categories=None)

GOOD_EMAILS = st.sampled_from(
    ["ana@exemplo.com.br", "Bruno.Lima+news@Exemplo.COM.br", "  carla@exemplo.com.br ", "joão@exemplo.com.br"]
)
BAD_EMAILS = st.sampled_from(
    [
        "",
        "   ",
        "sem-arroba",
        "a@b",
        "a..b@exemplo.com.br",
        "ana@exemplo.com.br\nBcc: x@y.com",
        "a\x00b@exemplo.com.br",
        "\ud800@exemplo.com.br",
        '=HYPERLINK("http://x")@exemplo.com.br',
        "x" * 5000 + "@exemplo.com.br",
        "😀@exemplo.com.br",
    ]
)
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=30),
    st.sampled_from(
        ["=1+1", "+55 11 9999", "-x", "@SUM(A1)", "\t=cmd", "\ud83d", "a" * 3000, "M", "feminino"]
    ),
)
VALUE = st.one_of(
    HOSTILE_TEXT,
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.dates().map(date.isoformat),
    st.sampled_from(["31/02/1990", "1990-02-31", "0000-01-01", "1990-01-01T10:00:00", "2000-13-01T00:00"]),
)
EMAIL_VALUE = st.one_of(GOOD_EMAILS, BAD_EMAILS, st.text(ANY_CHAR, max_size=20), st.integers(), st.none())


def _row(columns: list[str]) -> st.SearchStrategy[dict]:
    email_column = st.sampled_from(["email", "E-mail", "mail", "EMAIL"])
    return st.fixed_dictionaries(
        {},
        optional={
            "email": EMAIL_VALUE,
            **{c: VALUE for c in columns},
            "coluna_extra": VALUE,
        },
    ).flatmap(
        lambda row: email_column.map(lambda name: {(name if k == "email" else k): v for k, v in row.items()})
    )


IAGENTE_ROWS = st.lists(_row(["name", "birthday", "field1", "nome"]), max_size=12)
CRIAENVIO_ROWS = st.lists(_row(["nome", "sexo", "data_de_nascimento", "cidade"]), max_size=12)


class _RequestsByThread(list):
    """The server's request list, also remembering the last request each server thread received."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def append(self, request) -> None:
        self.local.last = request
        super().append(request)


@dataclass
class _MassAddInFull(Reply):
    """The documented ``contact/mass/add`` answer importing every row of the request it answers."""

    requests: _RequestsByThread | None = None

    def encoded(self) -> bytes:
        form = self.requests.local.last.form
        rows = {key.split("]")[0] for key, _ in form if key.startswith("contacts[")}
        answer = {"status": "success", "message": "Operação concluída!", "invalids": 0}
        return json.dumps({**answer, "imports": len(rows), "details": []}).encode()


@pytest.fixture
def iagente(server, set_connection):
    """The server answering every mass add as the documentation shows: all rows imported."""
    set_connection(
        "iagente_default", conn_type="iagente", host=f"{server.url}/", password="ik", extra={"max_retries": 0}
    )
    server.requests = _RequestsByThread()
    server.default = _MassAddInFull(requests=server.requests)
    return server


def _expected_email(value) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return normalise_email(value)
    except InvalidEmail:
        return None


def _sent_emails(server) -> list[str]:
    sent = []
    for request in server.requests:
        for key, value in parse_qsl(request.body.decode("ascii"), keep_blank_values=True):
            if key.endswith("[email]"):
                sent.append(value)
    return sent


def _rejected(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _email_of(row: dict):
    return next((v for k, v in row.items() if k.lower() in ("email", "e-mail", "mail")), None)


def _check_accounting(summary: dict, rejected: list[dict], rows: list[dict], sent: list[str]) -> None:
    """Every row is either rejected (once, in the report) or valid and sent, with the right e-mail."""
    assert summary["received"] == len(rows)
    assert summary["rejected"] == len(rejected)
    numbers = [int(r["row"]) for r in rejected]
    assert len(set(numbers)) == len(numbers) and all(1 <= n <= len(rows) for n in numbers)
    assert summary["valid"] + len(rejected) == len(rows)  # the platform refused nothing here
    kept = [row for number, row in enumerate(rows, start=1) if number not in set(numbers)]
    expected = {_expected_email(_email_of(row)) for row in kept}
    assert None not in expected  # a row with an invalid e-mail is never kept
    assert {e.lower() for e in sent} == {e.lower() for e in expected}
    assert summary["sent"] == len(sent)
    for record in rejected:
        if _expected_email(_email_of(rows[int(record["row"]) - 1])) is None:
            assert record["reason"] in ("missing_email", "invalid_email"), record
        for cell in record.values():  # every cell of the report is formula-safe
            assert not str(cell).startswith(("=", "+", "-", "@")), record


@SETTINGS
@given(rows=IAGENTE_ROWS, batch=st.sampled_from([1, 3, 1000]))
def test_iagente_import_from_a_list_accounts_for_every_row(iagente, tmp_path, counter, rows, batch):
    server = iagente
    server.requests.clear()
    report = tmp_path / f"rejected{next(counter)}.csv"
    op = IAgenteImportContactsOperator(
        task_id="imp",
        contacts=rows,
        group_id=7,
        chunk_size=batch,
        batch_size=max(batch, 1),
        rejected_path=str(report),
        max_rejected_ratio=1,
    )
    summary = op.execute({})
    _check_accounting(summary, _rejected(report), rows, _sent_emails(server))
    for request in server.requests:  # what went out is exactly the documented form, all text encodable
        assert request.method == "POST" and request.path == "/contact/mass/add"
        pairs = parse_qsl(request.body.decode("ascii"), keep_blank_values=True)
        assert pairs[0] == ("group_id", "7")
        assert all(k.startswith("contacts[") for k, _ in pairs[1:])


# ------------------------------------------------------------------------------------------ CSV bytes

CELL = st.one_of(
    st.text(st.characters(codec="latin-1", exclude_characters="\x00"), max_size=12),
    st.sampled_from(["=1+1", "ana@exemplo.com.br", "João", "a;b", 'a"b', "l1\nl2", "x\r\ny"]),
)


@SETTINGS
@given(
    header=st.lists(
        st.sampled_from(["email", "nome", "name", "birthday", "field1", "extra", "E-mail", ""]),
        min_size=1,
        max_size=5,
    ),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=7), max_size=8),
    delimiter=st.sampled_from([";", ",", "\t", "|"]),
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=10, max_size=10),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
    bom=st.booleans(),
    corrupt=st.one_of(st.none(), st.binary(min_size=1, max_size=4)),
)
def test_iagente_import_from_csv_bytes_accounts_or_fails_clearly(
    iagente, tmp_path, counter, header, rows, delimiter, endings, encoding, bom, corrupt
):
    server = iagente
    server.requests.clear()
    buffer = []
    for number, cells in enumerate([header, *rows]):
        line = []
        for cell in cells:
            quoted = any(c in cell for c in (delimiter, '"', "\n", "\r"))
            line.append('"' + cell.replace('"', '""') + '"' if quoted else cell)
        buffer.append(delimiter.join(line) + endings[number % len(endings)])
    data = "".join(buffer).encode(encoding)
    if bom and encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    if corrupt is not None:
        data = data[: len(data) // 2] + corrupt + data[len(data) // 2 :]
    n = next(counter)
    source = tmp_path / f"src{n}.csv"
    source.write_bytes(data)
    report = tmp_path / f"rej{n}.csv"
    op = IAgenteImportContactsOperator(
        task_id="imp",
        source_path=str(source),
        encoding=encoding,
        group_id=7,
        rejected_path=str(report),
        max_rejected_ratio=1,
    )
    try:
        summary = op.execute({})
    except EmailBRInputError as err:
        message = str(err)
        assert any(
            word in message
            for word in ("CSV", "e-mail column", "is not valid", "source_path", "field_mapping")
        ), message
        assert server.requests == [] or "line" in message or "not valid" in message
        return
    rejected = _rejected(report)
    assert summary["valid"] + len(rejected) == summary["received"]
    assert summary["sent"] == len(_sent_emails(server)) <= summary["valid"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "the CSV source is empty"),
        (b"\xef\xbb\xbf", "the CSV source is empty"),
        (b"\r\n\r\n", "the CSV source is empty"),
        (b"email;email\na@x.com;b@x.com\n", "repeats column"),
        (b"nome;cidade\nAna;SP\n", "no e-mail column"),
        (b"email;nome\nana@exemplo.com.br;Jo\xe3o\n", "is not valid utf-8 text"),
        (b"email;nome\nana@exemplo.com.br;" + b"x" * 200_000 + b"\n", "cannot be read at line 2"),
    ],
)
def test_unusable_csv_files_fail_before_anything_is_sent(iagente, tmp_path, data, match):
    source = tmp_path / "src.csv"
    source.write_bytes(data)
    op = IAgenteImportContactsOperator(task_id="imp", source_path=str(source), group_id=7)
    with pytest.raises(EmailBRInputError, match=match):
        op.execute({})
    assert iagente.requests == []


def test_a_gigantic_single_line_names_its_line(iagente, tmp_path):
    source = tmp_path / "src.csv"
    source.write_bytes(b"email\n" + b"a@exemplo.com.br\n" * 3 + b'"' + b"y" * 300_000)
    op = IAgenteImportContactsOperator(task_id="imp", source_path=str(source), group_id=7)
    with pytest.raises(EmailBRInputError, match=r"line 5 \(field larger than field limit"):
        op.execute({})


# ------------------------------------------------------------------------------------------ JSON Lines


JSONL_LINE = st.one_of(
    _row(["name", "birthday"]).map(lambda r: json.dumps(r, default=str)),
    st.sampled_from(["[1, 2]", "null", '"texto"', "{", '{"email": ', "[" * 5000 + "]" * 5000, "   "]),
    st.text(ANY_CHAR.filter(lambda c: c not in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=10),
)


@SETTINGS
@given(
    lines=st.lists(JSONL_LINE, max_size=10),
    endings=st.lists(st.sampled_from(["\n", "\r\n"]), min_size=10, max_size=10),
    bom=st.booleans(),
)
def test_iagente_import_from_jsonl_reports_bad_lines_as_rejected_rows(
    iagente, tmp_path, counter, lines, endings, bom
):
    server = iagente
    server.requests.clear()
    n = next(counter)
    source = tmp_path / f"src{n}.jsonl"
    text = "".join(line + endings[i] for i, line in enumerate(lines))
    source.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
    report = tmp_path / f"rej{n}.csv"
    op = IAgenteImportContactsOperator(
        task_id="imp", source_path=str(source), group_id=7, rejected_path=str(report), max_rejected_ratio=1
    )
    try:
        summary = op.execute({})
    except EmailBRInputError as err:
        assert "is not valid utf-8" in str(err) or "e-mail column" in str(err)
        assert server.requests == []
        return
    received = sum(1 for line in lines if line.strip())
    rejected = _rejected(report)
    assert summary["received"] == received
    assert summary["valid"] + len(rejected) == received
    assert summary["sent"] == len(_sent_emails(server))


# ------------------------------------------------------------------------------------------ CriaEnvio


@pytest.fixture
def criaenvio(server, set_connection):
    set_connection(
        "criaenvio_default",
        conn_type="criaenvio",
        host=f"{server.url}/v1/",
        password="ck",
        extra={"max_retries": 0},
    )
    server.default = Reply(
        body={
            "data": [{"id": "f1", "nome": "cidade"}],
            "pagination": {"total": 1, "count": 1, "per_page": 100, "current_page": 1, "total_pages": 1},
        }
    )
    return server


@SETTINGS
@given(rows=CRIAENVIO_ROWS)
def test_criaenvio_dry_run_validates_sexo_dates_and_custom_fields_for_every_row(
    criaenvio, tmp_path, counter, rows
):
    report = tmp_path / f"rej{next(counter)}.jsonl"
    op = CriaEnvioImportContactsOperator(
        task_id="imp",
        contacts=rows,
        list_ids="L1",
        custom_fields={"cidade": "cidade"},
        rejected_path=str(report),
        max_rejected_ratio=1,
        dry_run=True,
    )
    summary = op.execute({})
    rejected = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines() if line]
    assert summary["received"] == len(rows)
    assert summary["valid"] + len(rejected) == len(rows)
    assert summary["sent"] == 0
    for record in rejected:
        assert record["reason"] in {
            "missing_email",
            "invalid_email",
            "invalid_sexo",
            "invalid_date",
            "invalid_value",
            "not_a_mapping",
        }
        assert record["message"]
    assert all(r.method == "GET" for r in criaenvio.requests)  # only the custom-field lookup


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"contacts": "[{'email': 'a@x.com'}]"}, "contacts: expected an iterable of dicts"),
        ({"contacts": {"email": "a@x.com"}}, "contacts: expected an iterable of dicts"),
        ({"contacts": 5}, "contacts: expected an iterable of dicts"),
        ({"contacts": [], "field_mapping": "email=mail"}, "field_mapping: expected a dict"),
        ({"contacts": [], "field_mapping": {"telefone": "fone"}}, "unknown CriaEnvio field"),
        ({"contacts": [], "field_mapping": {"email": ["a", "b"]}}, r"field_mapping\['email'\]: expected a"),
        ({"contacts": [], "field_mapping": {"email": 3}}, r"field_mapping\['email'\]: expected a"),
        ({"contacts": [], "custom_fields": ["cidade"]}, "custom_fields: expected a dict"),
    ],
)
def test_templated_fields_of_the_wrong_type_fail_before_any_request(criaenvio, kwargs, match):
    op = CriaEnvioImportContactsOperator(task_id="imp", list_ids="L1", **kwargs)
    with pytest.raises(EmailBRInputError, match=match):
        op.execute({})
    assert criaenvio.requests == []


def test_rows_with_unencodable_text_are_rejected_not_sent(iagente, tmp_path):
    report = tmp_path / "rej.jsonl"
    rows = [
        {"email": "ana@exemplo.com.br", "name": "Ana \ud800"},
        {"email": "bia@exemplo.com.br", "field1": "ok 😀"},
    ]
    op = IAgenteImportContactsOperator(
        task_id="imp", contacts=rows, group_id=7, rejected_path=str(report), max_rejected_ratio=1
    )
    summary = op.execute({})
    assert (summary["valid"], summary["rejected"], summary["sent"]) == (1, 1, 1)
    (record,) = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert record["row"] == 1 and record["reason"] == "invalid_value"
    assert "name: holds '\\ud800'" in record["message"]
    assert _sent_emails(iagente) == ["bia@exemplo.com.br"]
