"""IAgenteImportContactsOperator against a scripted server: the mass-add request, and every answer
reconciled row by row (``imports``/``invalids`` against ``details``): a row is reported imported only when the
answer accounts for it."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.iagente import MassAddAnswer
from airflow_provider_emailbr.operators.iagente import UNCONFIRMED, IAgenteImportContactsOperator
from tests.conftest import Reply
from tests.helpers import FakeTaskStateStore, context, read_jsonl

ROWS = [
    {"email": "ana@exemplo.com.br", "nome": "Ana", "nascimento": "31/01/1990"},
    {"email": "bia@exemplo.com.br", "nome": "Bia"},
    {"email": "caio@exemplo.com.br", "nome": "Caio"},
    {"email": "duda@exemplo.com.br", "nome": "Duda"},
]


@pytest.fixture
def iagente(server, set_connection):
    set_connection(
        "iagente_default",
        conn_type="iagente_email",
        host=f"{server.url}/v1/",
        password="chave-iagente",
        extra={"max_retries": 0},
    )
    return server


def answer(imports, invalids, details=()) -> Reply:
    body = {"status": "success", "message": "Operação concluída!", "invalids": invalids, "imports": imports}
    return Reply(body={**body, "details": list(details)})


def run_import(tmp_path, rows=ROWS, **kwargs):
    report = tmp_path / "rejected.jsonl"
    op = IAgenteImportContactsOperator(
        task_id="imp", contacts=rows, group_id=42, rejected_path=str(report), max_rejected_ratio=1, **kwargs
    )
    summary = op.execute({})
    return summary, {r["email"]: r for r in read_jsonl(report)}


def test_the_mass_add_request_is_the_documented_form(iagente, tmp_path):
    iagente.reply(answer(4, 0))
    summary, rejected = run_import(tmp_path)
    (request,) = iagente.requests
    assert (request.method, request.path) == ("POST", "/v1/contact/mass/add")
    assert request.headers["IAGENTE-KEY"] == "chave-iagente"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(request.body.decode("ascii")) == [
        ("group_id", "42"),
        ("contacts[0][email]", "ana@exemplo.com.br"),
        ("contacts[0][name]", "Ana"),
        ("contacts[0][birthday]", "1990-01-31"),
        ("contacts[1][email]", "bia@exemplo.com.br"),
        ("contacts[1][name]", "Bia"),
        ("contacts[2][email]", "caio@exemplo.com.br"),
        ("contacts[2][name]", "Caio"),
        ("contacts[3][email]", "duda@exemplo.com.br"),
        ("contacts[3][name]", "Duda"),
    ]
    assert (summary["sent"], summary["rejected"], rejected) == (4, 0, {})


def test_rows_named_in_details_are_refused_and_the_rest_imported_when_the_counts_add_up(iagente, tmp_path):
    iagente.reply(
        answer(
            2,
            2,
            [
                {"index": 1, "email": "bia@exemplo.com.br", "message": "E-mail inválido"},
                "caio@exemplo.com.br: bloqueado",
            ],
        )
    )
    summary, rejected = run_import(tmp_path)
    assert (summary["sent"], summary["rejected"]) == (2, 2)
    assert {e: r["reason"] for e, r in rejected.items()} == {
        "bia@exemplo.com.br": "refused_by_platform",
        "caio@exemplo.com.br": "refused_by_platform",
    }
    assert rejected["bia@exemplo.com.br"]["vendor_message"] == "E-mail inválido"
    assert rejected["caio@exemplo.com.br"]["vendor_message"] == "caio@exemplo.com.br: bloqueado"


def test_more_invalids_than_details_name_leaves_the_unnamed_rows_unconfirmed(iagente, tmp_path):
    iagente.reply(answer(2, 2, [{"index": 0, "message": "E-mail inválido"}]))
    summary, rejected = run_import(tmp_path)
    assert (summary["sent"], summary["rejected"]) == (0, 4)
    assert summary["rejected_reasons"] == {"refused_by_platform": 1, UNCONFIRMED: 3}
    assert rejected["ana@exemplo.com.br"]["reason"] == "refused_by_platform"
    message = rejected["bia@exemplo.com.br"]["message"]
    assert (
        "4 row(s) sent; the answer says imports=2, invalids=2 and its details name 1 refused row(s)"
        in message
    )
    assert "the 3 row(s) it does not name cannot be told apart" in message
    assert "bia@exemplo.com.br" not in message  # addresses are masked in messages


@pytest.mark.parametrize(
    "reply",
    [
        answer(1, 0),  # fewer imports than rows, nothing refused
        answer(4, 1),  # more than the chunk in all
        answer(3, 0, ["a row was refused"]),  # a text detail naming no row of the chunk
        Reply(body={"status": "success", "message": "Operação concluída!"}),  # no counts at all
        Reply(body={"status": "success", "imports": "muitos", "invalids": 0, "details": []}),
        Reply(body=[]),
    ],
    ids=[
        "too-few-imports",
        "too-many-in-all",
        "unmatched-text-detail",
        "no-counts",
        "imports-not-a-count",
        "list",
    ],
)
def test_answers_whose_counts_do_not_add_up_never_report_a_row_imported(iagente, tmp_path, reply):
    iagente.reply(reply)
    summary, rejected = run_import(tmp_path)
    assert summary["sent"] == 0
    assert {r["reason"] for r in rejected.values()} == {UNCONFIRMED}
    assert len(rejected) == 4


def test_counts_given_as_digit_strings_are_read_as_counts(iagente, tmp_path):
    iagente.reply(
        Reply(body={"status": "success", "imports": "3", "invalids": "1", "details": [{"index": "2"}]})
    )
    summary, rejected = run_import(tmp_path)
    assert (summary["sent"], list(rejected)) == (3, ["caio@exemplo.com.br"])


def test_each_chunk_is_reconciled_on_its_own(iagente, tmp_path):
    iagente.reply(answer(2, 0), answer(1, 0))  # one chunk's answer misses a row (chunks are concurrent)
    summary, rejected = run_import(tmp_path, chunk_size=2, rows=ROWS)
    assert len(iagente.requests) == 2
    assert summary["sent"] == 2
    assert set(rejected) in (
        {"ana@exemplo.com.br", "bia@exemplo.com.br"},
        {"caio@exemplo.com.br", "duda@exemplo.com.br"},
    )


def test_a_chunk_refused_as_a_whole_is_split_until_the_bad_row_is_isolated(iagente, tmp_path):
    refused = Reply(body={"status": "error", "message": "E-mail inválido"})
    iagente.reply(refused, refused, answer(1, 0), refused, answer(2, 0))
    summary, rejected = run_import(tmp_path)
    sent = [[v.split("@")[0] for k, v in r.form if k.endswith("[email]")] for r in iagente.requests]
    assert sent == [["ana", "bia", "caio", "duda"], ["ana", "bia"], ["ana"], ["bia"], ["caio", "duda"]]
    assert (summary["sent"], list(rejected)) == (3, ["bia@exemplo.com.br"])
    assert rejected["bia@exemplo.com.br"]["reason"] == "refused_by_platform"
    assert rejected["bia@exemplo.com.br"]["vendor_message"] == "E-mail inválido"


def test_mass_add_answer_matches_details_by_index_email_or_address_in_text():
    emails = ["ana@x.com.br", "Bia@x.com.br", "caio@x.com.br"]
    read = MassAddAnswer.read(
        {
            "imports": 0,
            "invalids": 3,
            "details": [{"index": 0}, {"email": "bia@X.com.br"}, "(caio@x.com.br)."],
        },
        emails,
    )
    assert read.refused == {0: "refused", 1: "refused", 2: "(caio@x.com.br)."}
    assert read.confirmed
    assert read.describe() == (
        "3 row(s) sent; the answer says imports=0, invalids=3 and its details name 3 refused row(s)"
    )


def test_a_retry_resends_only_the_chunks_not_recorded_for_the_same_chunk_size(iagente, tmp_path):
    def import_op(chunk_size, in_flight=1):
        return IAgenteImportContactsOperator(
            task_id="imp", contacts=ROWS, group_id=42, chunk_size=chunk_size, max_chunks_in_flight=in_flight
        )

    store = FakeTaskStateStore()
    iagente.reply(answer(2, 0), Reply(status=401, body={"status": "error", "message": "Chave inválida"}))
    with pytest.raises(Exception, match="401"):
        import_op(2).execute(context(task_state_store=store))
    assert len(iagente.requests) == 2  # chunk 0 answered and recorded; chunk 1 refused

    iagente.reply(answer(2, 0))
    summary = import_op(2).execute(context(2, task_state_store=store))
    sent = [dict(parse_qsl(r.body.decode("ascii")))["contacts[0][email]"] for r in iagente.requests[2:]]
    assert sent == ["caio@exemplo.com.br"] and summary["sent"] == 2  # only chunk 1 (caio, duda)

    iagente.reply(answer(2, 0), Reply(status=401, body={"status": "error", "message": "Chave inválida"}))
    with pytest.raises(Exception, match="401"):
        import_op(2).execute(context(3, task_state_store=store))
    iagente.reply(*[answer(1, 0)] * 4)
    summary = import_op(1).execute(context(4, task_state_store=store))  # another split: every row again
    assert len(iagente.requests) == 3 + 2 + 4 and summary["sent"] == 4

    assert import_op(2, in_flight=3).max_in_flight == 3 == import_op(2, in_flight=3).max_in_doubt
    assert import_op(2, in_flight=None).max_in_flight == 2  # the default
    for wrong in (0, True, "2"):
        with pytest.raises(EmailBRInputError, match="max_chunks_in_flight"):
            import_op(2, in_flight=wrong)
