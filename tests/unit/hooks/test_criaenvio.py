"""CriaEnvio hook: every documented endpoint's method, path, query, headers and body encoding.

Each case calls one hook method against the recording server on loopback and compares what crossed the
wire with the vendor's page (``shared/api-docs``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pendulum
import pytest

from tests.conftest import Reply

CRIAENVIO_CASES: list[tuple[str, Any, str, str, dict[str, str], Any]] = [
    (
        "contact view",
        lambda h: h.get_contact("ioddw4", embeds=["grupos"]),
        "GET",
        "contatos/ioddw4",
        {"embeds": "grupos"},
        None,
    ),
    (
        "contact update",
        lambda h: h.update_contact("ioddw4", nome="novo nome", sexo="m", data_de_nascimento=date(2012, 2, 2)),
        "PUT",
        "contatos/ioddw4",
        {},
        {"nome": "novo nome", "sexo": "m", "data_de_nascimento": "02/02/2012"},
    ),
    (
        "contact create",
        lambda h: h.create_contact(
            email="n@x.com.br", nome="novo contato", sexo="f", data_de_nascimento="2012-02-02"
        ),
        "POST",
        "contatos",
        {},
        {"email": "n@x.com.br", "nome": "novo contato", "sexo": "f", "data_de_nascimento": "02/02/2012"},
    ),
    (
        "contact search",
        lambda h: h.search_contacts(
            email="@yahoo.com", status="todos", id=["io4", "sd0"], page=2, number=100
        ),
        "GET",
        "contatos",
        {"email": "@yahoo.com", "status": "todos", "id": "io4,sd0", "page": "2", "number": "100"},
        None,
    ),
    ("contact activate", lambda h: h.activate_contact("io4"), "PUT", "contatos/io4/ativar", {}, {}),
    ("contact deactivate", lambda h: h.deactivate_contact("io4"), "PUT", "contatos/io4/desativar", {}, {}),
    (
        "contact subscribe",
        lambda h: h.subscribe_contact("io4", ["io4", "lis2", "jj"]),
        "POST",
        "contatos/io4/inscrever",
        {},
        {"idGrupos": "io4,lis2,jj"},
    ),
    (
        "contact unsubscribe",
        lambda h: h.unsubscribe_contact("io4", "io4, lis2"),
        "POST",
        "contatos/io4/desinscrever",
        {},
        {"idGrupos": "io4,lis2"},
    ),
    (
        "contact fields",
        lambda h: h.set_contact_fields("io4", {"iof": "valor para o campo", "io4k": 7}),
        "PUT",
        "contatos/io4/campos",
        {},
        {"campos": {"iof": "valor para o campo", "io4k": "7"}},
    ),
    (
        "list view",
        lambda h: h.get_list("io4", embeds="contatos", status="todos"),
        "GET",
        "grupos/io4",
        {"embeds": "contatos", "status": "todos"},
        None,
    ),
    (
        "list update",
        lambda h: h.update_list("io4", nome="Novo nome da lista"),
        "PUT",
        "grupos/io4",
        {},
        {"nome": "Novo nome da lista"},
    ),
    (
        "list create",
        lambda h: h.create_list(nome="Nome da nova lista"),
        "POST",
        "grupos",
        {},
        {"nome": "Nome da nova lista"},
    ),
    (
        "list search",
        lambda h: h.search_lists(nome="Campo de teste", ativo=True),
        "GET",
        "grupos",
        {"nome": "Campo de teste", "ativo": "true", "page": "1"},
        None,
    ),
    (
        "lists activate",
        lambda h: h.activate_lists(["io4", "sd0"]),
        "PUT",
        "grupos/ativar",
        {"id": "io4,sd0"},
        None,
    ),
    (
        "lists deactivate",
        lambda h: h.deactivate_lists("io4,sd0"),
        "PUT",
        "grupos/desativar",
        {"id": "io4,sd0"},
        None,
    ),
    ("field view", lambda h: h.get_field("d12I4"), "GET", "campos/d12I4", {}, None),
    (
        "field update",
        lambda h: h.update_field("d12I4", nome="Novo nome"),
        "PUT",
        "campos/d12I4",
        {},
        {"nome": "Novo nome"},
    ),
    ("field remove", lambda h: h.delete_field("d12I4"), "DELETE", "campos/d12I4", {}, None),
    (
        "field create",
        lambda h: h.create_field(nome="Nome do campo"),
        "POST",
        "campos",
        {},
        {"nome": "Nome do campo"},
    ),
    (
        "field search",
        lambda h: h.search_fields(nome="Campo de teste"),
        "GET",
        "campos",
        {"nome": "Campo de teste", "page": "1"},
        None,
    ),
    (
        "sender search",
        lambda h: h.search_senders(email="r@x.com.br", number=1),
        "GET",
        "remetentes",
        {"email": "r@x.com.br", "page": "1", "number": "1"},
        None,
    ),
    ("message view", lambda h: h.get_message("-q"), "GET", "mensagens/-q", {}, None),
    (
        "message update",
        lambda h: h.update_message("-j", assunto="Assunto", nome="Nome"),
        "PUT",
        "mensagens/-j",
        {},
        {"assunto": "Assunto", "nome": "Nome"},
    ),
    ("message remove", lambda h: h.delete_message("sd"), "DELETE", "mensagens/sd", {}, None),
    (
        "message create",
        lambda h: h.create_message(
            assunto="Assunto da mensagem",
            html="<html><body>x</body></html>",
            nome="sec",
            email_resposta="r@x.com.br",
            mensagem_descadastro="Deseja sair?",
        ),
        "POST",
        "mensagens",
        {},
        {
            "assunto": "Assunto da mensagem",
            "html": "<html><body>x</body></html>",
            "nome": "sec",
            "email_resposta": "r@x.com.br",
            "mensagem_descadastro": "Deseja sair?",
        },
    ),
    (
        "message search",
        lambda h: h.search_messages(nome="emailbr:abc"),
        "GET",
        "mensagens",
        {"nome": "emailbr:abc", "page": "1"},
        None,
    ),
    ("message test list", lambda h: h.send_test_message("-X"), "GET", "mensagens/-X/lista_teste", {}, None),
    (
        "campaign view",
        lambda h: h.get_campaign("Lz", embeds=["listas", "mensagem"]),
        "GET",
        "envios/Lz",
        {"embeds": "listas,mensagem"},
        None,
    ),
    (
        "campaign create now",
        lambda h: h.create_campaign(message_id="Tk", list_ids=["Lk", "3s", "r4"], start_at=None),
        "POST",
        "envios",
        {},
        {"mensagem": "Tk", "listas": "Lk,3s,r4", "data_de_inicio": "agora"},
    ),
    (
        "campaign search",
        lambda h: h.search_campaigns(status=["Concluído", 3], codigo="92"),
        "GET",
        "envios",
        {"status": "2,3", "codigo": "92", "page": "1"},
        None,
    ),
    ("campaign pause", lambda h: h.pause_campaign("io4"), "GET", "envios/io4/pausar", {}, None),
    ("campaign cancel", lambda h: h.cancel_campaign("io4"), "GET", "envios/io4/cancelar", {}, None),
    (
        "campaign resume",
        lambda h: h.resume_campaign("io4", start_at="agora"),
        "POST",
        "envios/io4/retomar",
        {},
        {"data": "agora"},
    ),
]


@pytest.mark.parametrize(
    ("name", "invoke", "method", "path", "query", "body"),
    CRIAENVIO_CASES,
    ids=[c[0] for c in CRIAENVIO_CASES],
)
def test_criaenvio_endpoint(criaenvio, server, name, invoke, method, path, query, body):
    server.reply(Reply(body={"data": {"OK": "OK"}}))
    invoke(criaenvio)
    req = server.last
    assert req.method == method
    assert req.path == f"/criaenvio/v1/{path}"
    assert dict(req.query) == {**query, "chave": "ck"}
    if body is None:
        assert req.body == b""
    else:
        assert req.headers["Content-Type"] == "application/json"
        assert req.json == body
    assert len(server.requests) == 1


def test_criaenvio_schedule_converts_to_sao_paulo_local_time(criaenvio, server):
    server.reply(Reply(body={"data": {"id": "JW"}}))
    start = pendulum.now("UTC").add(days=3).replace(hour=15, minute=30, second=0, microsecond=0)
    criaenvio.create_campaign(message_id="Tk", list_ids="Lk", start_at=start, sender_id="Sf")
    expected = start.in_timezone("America/Sao_Paulo").strftime("%d/%m/%Y %H:%M")
    assert server.last.json == {
        "mensagem": "Tk",
        "listas": "Lk",
        "data_de_inicio": expected,
        "remetente": "Sf",
    }
    assert expected.endswith("12:30")  # São Paulo is UTC-3 all year since 2019


def test_criaenvio_naive_schedule_is_local_and_iso_strings_keep_their_offset(criaenvio, server):
    server.reply(Reply(body={"data": {}}), Reply(body={"data": {}}))
    naive = datetime.now() + timedelta(days=400)
    criaenvio.resume_campaign("io4", start_at=naive.replace(hour=8, minute=5))
    assert server.requests[0].json == {"data": naive.strftime("%d/%m/%Y") + " 08:05"}
    year = datetime.now().year + 1
    criaenvio.resume_campaign("io4", start_at=f"{year}-12-31T23:30:00+00:00")
    assert server.requests[1].json == {"data": f"31/12/{year} 20:30"}


# ---------------------------------------------------------------------------------------------- date filters


def _raw_queries(hook: Any) -> list[bytes]:
    """Swap the hook's HTTP client for one that records each request's query string exactly as encoded."""
    import httpx

    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.query)
        return httpx.Response(200, json={"data": [], "pagination": {"current_page": 1, "total_pages": 1}})

    hook.__dict__["session"] = httpx.Client(transport=httpx.MockTransport(answer))
    return seen


def test_contact_date_filters_go_out_as_documented_dd_mm_yyyy(criaenvio):
    """``datadecadastroinicio`` … take ``10/01/2010``; ``aniversarioinicio``/``termino`` take ``31/01``."""
    queries = _raw_queries(criaenvio)
    criaenvio.search_contacts(
        datadecadastroinicio=date(2010, 1, 10),
        datadecadastrotermino=datetime(2014, 1, 10, 23, 59),
        datadenascimentoinicio="1986-01-10",
        datadenascimentotermino="10/01/1999",
        aniversarioinicio=date(2000, 1, 31),
        aniversariotermino="31/12",
    )
    assert queries == [
        b"datadecadastroinicio=10%2F01%2F2010&datadecadastrotermino=10%2F01%2F2014"
        b"&datadenascimentoinicio=10%2F01%2F1986&datadenascimentotermino=10%2F01%2F1999"
        b"&aniversarioinicio=31%2F01&aniversariotermino=31%2F12&page=1&chave=ck"
    ]


def test_aware_datetime_filter_is_the_accounts_local_day(criaenvio):
    queries = _raw_queries(criaenvio)
    # 02:00 UTC on the 11th is still the 10th in São Paulo (UTC-3 all year since 2019)
    criaenvio.search_messages(datadecadastroinicio=pendulum.datetime(2026, 1, 11, 2, 0, tz="UTC"))
    assert queries == [b"datadecadastroinicio=10%2F01%2F2026&page=1&chave=ck"]


def test_date_filters_also_apply_to_iterators(criaenvio):
    queries = _raw_queries(criaenvio)
    assert list(criaenvio.iter_messages(datadecadastrotermino=date(2015, 1, 10))) == []
    assert queries == [b"datadecadastrotermino=10%2F01%2F2015&page=1&number=100&chave=ck"]


def test_unreadable_date_filter_is_refused_before_any_request(criaenvio, server):
    from airflow_provider_emailbr.exceptions import EmailBRInputError

    with pytest.raises(EmailBRInputError, match=r"datadecadastroinicio: '2010-13-45' is not a date"):
        criaenvio.search_contacts(datadecadastroinicio="2010-13-45")
    assert server.requests == []


# ---------------------------------------------------------------------------------------------- 401 refusals

#: The 401 / ``03-NAO-AUTORIZADO`` messages of the vendor page that refuse an operation, not the key.
DOCUMENTED_REFUSALS = [
    "O envio não pode exceder a quantidade de créditos que você possui. Reduza o número de destinatários ou "
    "adquira mais créditos e tente novamente.",
    "Não é possível ativar um contato descadastrado.",
    "Não é possível remover uma mensagem que já foi enviada.",
]
#: 401 messages that stay authentication errors: about the key, or unknown.
AUTH_MESSAGES = [
    "Chave de acesso inválida.",
    "Chave inválida: não é possível autenticar.",
    "Acesso negado.",
    "",
]


@pytest.mark.parametrize("message", DOCUMENTED_REFUSALS)
def test_documented_business_refusal_is_a_refused_error(criaenvio, server, message):
    from airflow_provider_emailbr.exceptions import EmailBRAuthError, EmailBRRefusedError

    server.reply(
        Reply(status=401, body={"error": {"code": "03-NAO-AUTORIZADO", "http_code": 401, "message": message}})
    )
    with pytest.raises(EmailBRRefusedError) as caught:
        criaenvio.activate_contact("io4")
    assert not isinstance(caught.value, EmailBRAuthError)
    assert (caught.value.status, caught.value.vendor_code, caught.value.vendor_message) == (
        401,
        "03-NAO-AUTORIZADO",
        message,
    )
    assert len(server.requests) == 1


@pytest.mark.parametrize("message", AUTH_MESSAGES)
def test_other_401_stays_an_authentication_error(criaenvio, server, message):
    from airflow_provider_emailbr.exceptions import EmailBRAuthError, EmailBRRefusedError

    server.reply(Reply(status=401, body={"error": {"code": "03-NAO-AUTORIZADO", "message": message}}))
    with pytest.raises(EmailBRAuthError) as caught:
        criaenvio.get_campaign("x")
    assert not isinstance(caught.value, EmailBRRefusedError)


def test_refusal_inside_http_200_is_also_a_refused_error(criaenvio, server):
    from airflow_provider_emailbr.exceptions import EmailBRRefusedError

    server.reply(Reply(body={"error": {"code": "03-NAO-AUTORIZADO", "message": DOCUMENTED_REFUSALS[2]}}))
    with pytest.raises(EmailBRRefusedError, match="já foi enviada"):
        criaenvio.delete_message("m1")


@pytest.mark.parametrize(
    ("message", "one_contact"),
    [
        ("Não é possível ativar um contato descadastrado.", True),
        ("NAO E POSSIVEL ATIVAR UM CONTATO DESCADASTRADO", True),
        (DOCUMENTED_REFUSALS[0], False),  # not enough credits: the whole account
        (DOCUMENTED_REFUSALS[2], False),
        ("", False),
    ],
)
def test_a_refusal_concerns_one_contact_only_when_the_contact_unsubscribed(message, one_contact):
    from airflow_provider_emailbr.hooks.criaenvio import concerns_one_contact

    assert concerns_one_contact(message) is one_contact


def test_created_record_reads_data_and_refuses_an_answer_without_an_id():
    from airflow_provider_emailbr.exceptions import EmailBRResponseError
    from airflow_provider_emailbr.hooks.criaenvio import created_id_of, created_record

    assert created_record({"data": {"id": 7, "nome": "x"}}, "envios") == {"id": 7, "nome": "x"}
    assert created_id_of({"data": {"id": 7}}, "grupos") == "7"
    for answer in ({}, {"data": {"id": ""}}, {"data": []}, None):
        with pytest.raises(EmailBRResponseError, match="the answer to a create has no data.id") as caught:
            created_record(answer, "envios")
        assert (caught.value.platform, caught.value.endpoint) == ("CriaEnvio", "envios")


def _campaign_page(page: int, total: int, ids: list[str]) -> Reply:
    return Reply(
        body={"data": [{"id": i} for i in ids], "pagination": {"current_page": page, "total_pages": total}}
    )


def test_campaigns_newest_first_read_the_last_page_first_at_the_largest_page_size(criaenvio, server):
    server.reply(_campaign_page(1, 3, ["c1", "c2"]))
    server.reply(_campaign_page(3, 3, ["c5"]))
    server.reply(_campaign_page(2, 3, ["c3", "c4"]))
    ids = [c["id"] for c in criaenvio.iter_campaigns_newest_first()]
    assert ids == ["c5", "c4", "c3", "c2", "c1"]
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/criaenvio/v1/envios")] * 3
    assert [dict(r.query)["page"] for r in server.requests] == ["1", "3", "2"]
    assert {dict(r.query)["number"] for r in server.requests} == {"100"}


def test_campaigns_newest_first_stop_when_a_page_does_not_advance(criaenvio, server):
    from airflow_provider_emailbr.exceptions import EmailBRResponseError

    server.reply(_campaign_page(1, 3, ["c1"]))
    server.reply(_campaign_page(1, 3, ["c1"]))  # a server that ignores 'page'
    with pytest.raises(EmailBRResponseError, match="asked for page 3, but the answer says it is page 1"):
        list(criaenvio.iter_campaigns_newest_first())
    assert len(server.requests) == 2


def test_unsubscribed_contacts_are_the_documented_status_search_read_page_by_page(criaenvio, server):
    # the documented record of GET /contatos, as the search answers it
    first = {
        "id": "k",
        "nome": "Editado",
        "email": "saiu@exemplo.com.br",
        "qualidade": "2",
        "ativo": False,
        "descadastrado": True,
        "sexo": "m",
        "dataNascimento": "2012-02-02",
        "dataCadastro": "2013-01-20 09:27:05",
    }
    second = {**first, "id": "E", "email": "tambem@exemplo.com.br", "dataCadastro": "2014-02-18 18:58:10"}
    server.reply(
        Reply(body={"data": [first], "pagination": {"current_page": 1, "total_pages": 2}}),
        Reply(body={"data": [second], "pagination": {"current_page": 2, "total_pages": 2}}),
    )
    assert list(criaenvio.iter_unsubscribed_contacts()) == [first, second]
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/criaenvio/v1/contatos")] * 2
    assert [dict(r.query) for r in server.requests] == [
        {"status": "descadastros", "page": str(page), "number": "100", "chave": "ck"} for page in (1, 2)
    ]
