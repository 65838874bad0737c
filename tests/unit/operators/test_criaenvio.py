"""CriaEnvio operators against a scripted server: the requests they make and what each answer does."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRAuthError, EmailBRRefusedError
from airflow_provider_emailbr.operators.criaenvio import UNSUBSCRIBED, CriaEnvioImportContactsOperator
from tests.conftest import Reply
from tests.helpers import read_jsonl

# ------------------------------------------------------------------------------------------ contact import

#: CriaEnvio's 401 answers, as documented (the same status and code for a key and for business refusals).
NO_CREDITS = (
    "O envio não pode exceder a quantidade de créditos que você possui. Reduza o número de destinatários ou "
    "adquira mais créditos e tente novamente."
)
UNSUBSCRIBED_CONTACT = "Não é possível ativar um contato descadastrado."
BAD_KEY = "Chave de acesso inválida."
OK = Reply(body={"data": {"OK": "OK"}})


def not_authorised(message: str) -> Reply:
    return Reply(
        status=401, body={"error": {"code": "03-NAO-AUTORIZADO", "http_code": 401, "message": message}}
    )


#: The answer to the look-up of unsubscribed contacts every import makes first: none.
NO_OPT_OUTS = Reply(
    body={"data": [], "pagination": {"total": 0, "count": 0, "current_page": 1, "total_pages": 1}}
)


def created(contact_id: str) -> Reply:
    return Reply(body={"data": {"id": contact_id}})


@pytest.fixture
def criaenvio(server, set_connection):
    set_connection(
        "criaenvio_default",
        conn_type="criaenvio",
        host=f"{server.url}/v1/",
        password="chave-cria",
        extra={"max_retries": 0},
    )
    return server


def import_op(tmp_path, emails, **kwargs) -> CriaEnvioImportContactsOperator:
    return CriaEnvioImportContactsOperator(
        task_id="imp",
        contacts=[{"email": e, "nome": e.split("@")[0].title()} for e in emails],
        list_ids="L1,L2",
        rejected_path=str(tmp_path / "rejected.jsonl"),
        max_rejected_ratio=1,
        max_concurrency=1,
        **kwargs,
    )


def test_import_creates_then_subscribes_each_contact_as_documented(criaenvio, tmp_path):
    criaenvio.reply(NO_OPT_OUTS, created("c1"), OK)
    summary = import_op(tmp_path, ["ana@exemplo.com.br"]).execute({})
    lookup, create, subscribe = criaenvio.requests
    assert (lookup.method, lookup.path) == ("GET", "/v1/contatos")  # opt-outs first: never re-subscribed
    assert ("status", "descadastros") in lookup.query
    assert (create.method, create.path, create.query) == ("POST", "/v1/contatos", [("chave", "chave-cria")])
    assert create.headers["Content-Type"] == "application/json"
    assert create.json == {"email": "ana@exemplo.com.br", "nome": "Ana"}
    assert (subscribe.method, subscribe.path) == ("POST", "/v1/contatos/c1/inscrever")
    assert subscribe.json == {"idGrupos": "L1,L2"}  # the doc's example separates ids with ", "
    assert (summary["sent"], summary["created"], summary["rejected"]) == (1, 1, 0)


def test_a_refusal_for_one_contact_rejects_only_that_row(criaenvio, tmp_path):
    criaenvio.reply(NO_OPT_OUTS, created("c1"), not_authorised(UNSUBSCRIBED_CONTACT), created("c2"), OK)
    op = import_op(tmp_path, ["ana@exemplo.com.br", "bia@exemplo.com.br"])
    summary = op.execute({})
    assert (summary["sent"], summary["rejected"], summary["rejected_reasons"]) == (1, 1, {UNSUBSCRIBED: 1})
    (row,) = read_jsonl(tmp_path / "rejected.jsonl")
    assert (row["row"], row["reason"], row["vendor_message"]) == (1, UNSUBSCRIBED, UNSUBSCRIBED_CONTACT)
    assert row["message"] == "CriaEnvio refused a***@exemplo.com.br: the contact unsubscribed"
    assert [r.path for r in criaenvio.requests][-2:] == ["/v1/contatos", "/v1/contatos/c2/inscrever"]


def test_a_refusal_for_the_whole_account_fails_the_task_and_sends_nothing_more(criaenvio, tmp_path):
    criaenvio.reply(NO_OPT_OUTS, created("c1"), OK, not_authorised(NO_CREDITS))
    op = import_op(tmp_path, [f"c{i}@exemplo.com.br" for i in range(20)])
    with pytest.raises(EmailBRRefusedError) as err:
        op.execute({})
    assert not isinstance(err.value, EmailBRAuthError)
    assert "code 03-NAO-AUTORIZADO: O envio não pode exceder a quantidade de créditos" in str(err.value)
    assert "a refusal for the whole account, not for one contact: the import stopped" in str(err.value)
    assert len(criaenvio.requests) == 4  # the look-up, the first contact, the refused create: nothing after
    assert read_jsonl(tmp_path / "rejected.jsonl") == []  # no row is blamed for an account-wide refusal


def test_a_wrong_key_fails_the_task_as_an_authentication_error_at_once(criaenvio, tmp_path):
    criaenvio.reply(not_authorised(BAD_KEY))
    op = import_op(tmp_path, [f"c{i}@exemplo.com.br" for i in range(20)])
    with pytest.raises(EmailBRAuthError, match="Chave de acesso inválida") as err:
        op.execute({})
    assert len(criaenvio.requests) == 1
    assert "chave-cria" not in str(err.value)
