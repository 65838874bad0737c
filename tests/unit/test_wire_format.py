"""Every documented endpoint: method, path, query, headers and body encoding, as the vendor docs say.

Each case calls one hook method against a recording HTTP server on loopback and compares what crossed the
wire with the vendor's page (``shared/api-docs``).
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from typing import Any

import pendulum
import pytest

from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.retry import RetryPolicy
from tests.conftest import Reply

FAST = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05)


@pytest.fixture
def iagente(server, set_connection):
    set_connection(
        "iagente_default", conn_type="iagente_email", host=f"{server.url}/iagente/v1/", password="ik"
    )
    return IAgenteEmailHook(retry_policy=FAST)


@pytest.fixture
def criaenvio(server, set_connection):
    set_connection(
        "criaenvio_default", conn_type="criaenvio", host=f"{server.url}/criaenvio/v1/", password="ck"
    )
    return CriaEnvioHook(retry_policy=FAST)


@pytest.fixture
def envie(server, set_connection):
    set_connection(
        "envie_default",
        conn_type="envie_email",
        host=f"{server.url}/envie/",
        login="pub",
        password="priv",
        extra={"from_email": "remetente@exemplo.com.br", "from_name": "Loja"},
    )
    return EnvieEmailHook(retry_policy=FAST)


@pytest.fixture
def mailgrid(server, set_connection):
    set_connection(
        "mailgrid_default",
        conn_type="mailgrid",
        host=f"{server.url}/mailgrid/api/",
        login="user@mailgrid.example",
        password="mgpass",
        extra={"smtp_host": "grid1.mailgrid.example", "from_email": "remetente@exemplo.com.br"},
    )
    return MailGridHook(retry_policy=FAST)


@pytest.fixture
def emailmanager(server, set_connection):
    set_connection(
        "emailmanager_default",
        conn_type="emailmanager",
        host=f"{server.url}/emailmanager/",
        password="tok",
        extra={"from_email": "remetente@exemplo.com.br"},
    )
    return EmailManagerHook(retry_policy=FAST)


# ---------------------------------------------------------------------------------------------- IAGENTEmail

IAGENTE_CASES: list[tuple[str, Any, str, list[tuple[str, str]]]] = [
    (
        "contact/create",
        lambda h: h.create_contact(email="a@b.com.br", group_id=12, name="Ana", birthday=date(1991, 4, 29)),
        "contact/create",
        [("email", "a@b.com.br"), ("group_id", "12"), ("name", "Ana"), ("birthday", "1991-04-29")],
    ),
    (
        "contact/edit",
        lambda h: h.edit_contact(email="a@b.com.br", field1="Rua A", field2="Castelo Branco"),
        "contact/edit",
        [("email", "a@b.com.br"), ("field1", "Rua A"), ("field2", "Castelo Branco")],
    ),
    (
        "contact/remove",
        lambda h: h.remove_contact(email="a@b.com.br"),
        "contact/remove",
        [("email", "a@b.com.br")],
    ),
    (
        "contact/list",
        lambda h: h.list_contacts(order="email", orientation="desc", search="terra", page=3),
        "contact/list",
        [("order", "email"), ("orientation", "DESC"), ("search", "terra"), ("page", "3")],
    ),
    (
        "contact/mass/add",
        lambda h: h.mass_add_contacts(
            group_id=1234,
            contacts=[
                {"email": "teste@iagente.com.br", "name": "nome do contato"},
                {"email": "t1@iagente.com.br"},
            ],
        ),
        "contact/mass/add",
        [
            ("group_id", "1234"),
            ("contacts[0][email]", "teste@iagente.com.br"),
            ("contacts[0][name]", "nome do contato"),
            ("contacts[1][email]", "t1@iagente.com.br"),
        ],
    ),
    (
        "group/create",
        lambda h: h.create_group(name="nome do grupo"),
        "group/create",
        [("name", "nome do grupo")],
    ),
    (
        "group/edit",
        lambda h: h.edit_group(group_id=123, name="Grupo B"),
        "group/edit",
        [("group_id", "123"), ("name", "Grupo B")],
    ),
    ("group/remove", lambda h: h.remove_group(group_id=123), "group/remove", [("group_id", "123")]),
    (
        "group/list",
        lambda h: h.list_groups(order="name", search="terra", page=3),
        "group/list",
        [("order", "name"), ("search", "terra"), ("page", "3")],
    ),
    (
        "group/contact/list",
        lambda h: h.list_group_contacts(group_id=123, order="name", search="terra", page=3),
        "group/contact/list",
        [("group_id", "123"), ("order", "name"), ("search", "terra"), ("page", "3")],
    ),
    (
        "group/contact/remove",
        lambda h: h.remove_group_contact(email="teste@contato.com", group_id=123),
        "group/contact/remove",
        [("email", "teste@contato.com"), ("group_id", "123")],
    ),
]


@pytest.mark.parametrize(("name", "invoke", "path", "form"), IAGENTE_CASES, ids=[c[0] for c in IAGENTE_CASES])
def test_iagente_endpoint(iagente, server, name, invoke, path, form):
    server.reply(Reply(body={"status": "success", "message": "ok"}))
    answer = invoke(iagente)
    assert answer["status"] == "success"
    req = server.last
    assert req.method == "POST"
    assert req.path == f"/iagente/v1/{path}"
    assert req.query == []
    assert req.headers["IAGENTE-KEY"] == "ik"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.form == form
    assert len(server.requests) == 1


def test_iagente_form_encodes_non_ascii_in_utf8(iagente, server):
    server.reply(Reply(body={"status": "success"}))
    iagente.mass_add_contacts(
        group_id=1, contacts=[{"email": "joão@exemplo.com.br", "name": "José & Cia = 1"}]
    )
    assert b"contacts[0][email]=jo%C3%A3o%40exemplo.com.br" in server.last.body
    assert ("contacts[0][name]", "José & Cia = 1") in server.last.form


# ---------------------------------------------------------------------------------------------- CriaEnvio

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


# ---------------------------------------------------------------------------------------------- envie.email


def test_envie_list_endpoints(envie, server):
    server.reply(
        Reply(body={"status": "success", "list_uid": "ab12"}),
        Reply(body={"status": "success", "data": {"record": {}}}),
        Reply(body={"status": "success", "data": {"records": [], "total_pages": 0}}),
        Reply(body={"status": "success", "data": {"records": []}}),
    )
    envie.create_list(name="Clientes", description="Clientes ativos")
    envie.get_list("ab12")
    envie.show_lists(page=2, per_page=50)
    envie.list_subscribers("ab12", page=3)
    create, get, show, subs = server.requests
    assert (create.method, create.path, create.json) == (
        "POST",
        "/envie/lists/create",
        {"general": {"name": "Clientes", "description": "Clientes ativos"}},
    )
    assert (get.method, get.path, get.json) == ("POST", "/envie/lists/get", {"list": "ab12"})
    assert (show.method, show.path, show.query, show.body) == (
        "GET",
        "/envie/lists/show",
        [("page", "2"), ("per_page", "50")],
        b"",
    )
    assert (subs.method, subs.path, subs.query, subs.json) == (
        "POST",
        "/envie/lists/show",
        [("page", "3")],
        {"UID": "ab12"},
    )
    for req in server.requests:
        assert req.headers["public-key"] == "pub"
        assert req.headers["private-key"] == "priv"


def test_envie_send_body_with_defaults_and_attachment(envie, server, tmp_path):
    pdf = tmp_path / "boleto.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    server.reply(Reply(body={"status": "success"}))
    envie.send(
        to_email="cliente@exemplo.com.br",
        to_name="Cliente",
        subject="Olá",
        body="<p>Oi</p>",
        plain_text="Oi",
        attachments=[pdf],
    )
    req = server.last
    assert (req.method, req.path) == ("POST", "/envie/singlesending/create")
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "to_name": "Cliente",
        "to_email": "cliente@exemplo.com.br",
        "from_name": "Loja",
        "from_email": "remetente@exemplo.com.br",
        "reply_to_name": "Loja",
        "reply_to_email": "remetente@exemplo.com.br",
        "subject": "Olá",
        "body": "<p>Oi</p>",
        "plain_text": "Oi",
        "attachments": [
            {"data": base64.b64encode(b"%PDF-1.4 test").decode(), "name": "boleto", "mime": "application/pdf"}
        ],
    }


# ---------------------------------------------------------------------------------------------- MailGrid


def test_mailgrid_send_body(mailgrid, server):
    server.reply(
        Reply(
            body={
                "0": {
                    "status": "MSG ENVIADA",
                    "codigo": "200",
                    "id": "1rD",
                    "criptokey": "k",
                    "to": "a@x.com",
                },
                "1": {
                    "status": "MSG ENVIADA",
                    "codigo": "200",
                    "id": "1rE",
                    "criptokey": "k",
                    "to": "b@x.com",
                },
            }
        )
    )
    results = mailgrid.send(
        to=["a@x.com", "b@x.com"],
        subject="Teste",
        message="<p>Oi</p>",
        from_name="MailGrid",
        cc=["c@x.com"],
        bcc=["d@x.com"],
        alt_message="Oi",
        reply_to="r@x.com",
        attachments=[],
    )
    assert [r["id"] for r in results] == ["1rD", "1rE"]
    req = server.last
    assert (req.method, req.path, req.query) == ("POST", "/mailgrid/api/send/", [])
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "host_smtp": "grid1.mailgrid.example",
        "usuario_smtp": "user@mailgrid.example",
        "senha_smtp": "mgpass",
        "emailRemetente": "remetente@exemplo.com.br",
        "nomeRemetente": "MailGrid",
        "emailReply": "r@x.com",
        "emailDestino": ["a@x.com", "b@x.com"],
        "emailDestinoCopia": ["c@x.com"],
        "emailDestinoCopiaOculta": ["d@x.com"],
        "assunto": "Teste",
        "mensagem": "<p>Oi</p>",
        "mensagemAlt": "Oi",
        "mensagemTipo": "html",
        "mensagemEncoding": "base64",
    }


def test_mailgrid_attachments_are_keyed_file1_file2(mailgrid, server, tmp_path):
    img = tmp_path / "pixel.jpg"
    img.write_bytes(b"\xff\xd8\xff")
    server.reply(Reply(body={"0": {"status": "MSG ENVIADA", "codigo": "200", "id": "x", "to": "a@x.com"}}))
    mailgrid.send(to="a@x.com", subject="s", message="m", attachments=[img, img])
    anexos = server.last.json["mensagemAnexos"]
    assert anexos == {
        "file1": {
            "name": "pixel.jpg",
            "type": "image/jpeg",
            "content": base64.b64encode(b"\xff\xd8\xff").decode(),
        },
        "file2": {
            "name": "pixel.jpg",
            "type": "image/jpeg",
            "content": base64.b64encode(b"\xff\xd8\xff").decode(),
        },
    }


@pytest.mark.parametrize(("consolidated", "path"), [(False, "report/"), (True, "consolidate/")])
def test_mailgrid_report_body_uses_local_time(mailgrid, server, consolidated, path):
    server.reply(Reply(body={"1": {"msgid": "b"}, "0": {"msgid": "a"}}))
    rows = mailgrid.report(
        start=pendulum.datetime(2026, 2, 1, 3, 1, tz="UTC"),
        end=pendulum.datetime(2026, 8, 30, 3, 1, tz="UTC"),
        status="sucesso",
        recipient="a@x.com",
        sender="r@x.com",
        consolidated=consolidated,
    )
    assert [r["msgid"] for r in rows] == ["a", "b"]
    req = server.last
    assert (req.method, req.path) == ("POST", f"/mailgrid/api/{path}")
    assert req.json == {
        "usuario_smtp": "user@mailgrid.example",
        "senha_smtp": "mgpass",
        "dataini": "2026-02-01",
        "horaini": "00:01",
        "datafim": "2026-08-30",
        "horafim": "00:01",
        "status": "sucesso",
        "emaildestino": "a@x.com",
        "remetente": "r@x.com",
    }


def test_mailgrid_report_message_id_filter(mailgrid, server):
    server.reply(Reply(body={}))
    assert mailgrid.report(start="2026-01-01T00:00", end="2026-01-01T01:00", message_id="1htNLA") == []
    assert server.last.json["idMensagem"] == "1htNLA"


# ---------------------------------------------------------------------------------------------- emailManager


def test_emailmanager_single_send(emailmanager, server):
    server.reply(Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "nC7", "To": "d@x.com"}))
    message = emailmanager.build_message(
        to="d@x.com",
        subject="Teste",
        html_body="<b>Olá</b>",
        text_body="Olá",
        reply_to="retorno@x.com",
        tag="boas-vindas",
        headers={"X-Id": "1"},
    )
    answer = emailmanager.send_email(message)
    assert answer["MessageID"] == "nC7"
    req = server.last
    assert (req.method, req.path, req.query) == ("POST", "/emailmanager/email", [])
    assert req.headers["X-Emailmanager-Server-Token"] == "tok"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "From": "remetente@exemplo.com.br",
        "To": "d@x.com",
        "Subject": "Teste",
        "HtmlBody": "<b>Olá</b>",
        "TextBody": "Olá",
        "ReplyTo": "retorno@x.com",
        "Tag": "boas-vindas",
        "Headers": [{"Name": "X-Id", "Value": "1"}],
    }


def test_emailmanager_batch_and_reads(emailmanager, server):
    server.reply(
        Reply(body=[{"ErrorCode": 0, "MessageID": "1"}, {"ErrorCode": 406, "Message": "Inactive recipient"}]),
        Reply(body={"InactiveMails": 0}),
        Reply(body={"TotalCount": 0, "Bounces": []}),
    )
    messages = [
        {"From": "r@x.com", "To": "a@x.com", "Subject": "1", "HtmlBody": "<p>1</p>"},
        {"From": "r@x.com", "To": "b@x.com", "Subject": "2", "TextBody": "2"},
    ]
    results = emailmanager.send_batch(messages)
    assert [r["ErrorCode"] for r in results] == [0, 406]
    emailmanager.delivery_stats()
    emailmanager.bounces(count=10, offset=20)
    batch, stats, bounces = server.requests
    assert (batch.method, batch.path, batch.json) == ("POST", "/emailmanager/email/batch", messages)
    assert (stats.method, stats.path, stats.body) == ("GET", "/emailmanager/deliverystats", b"")
    assert (bounces.method, bounces.path, bounces.query) == (
        "GET",
        "/emailmanager/bounces",
        [("count", "10"), ("offset", "20")],
    )
    assert all(r.headers["X-Emailmanager-Server-Token"] == "tok" for r in server.requests)
