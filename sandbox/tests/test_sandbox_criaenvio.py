"""CriaEnvio emulation against criaenvio.txt: envelope, wording, pagination, embeds and campaign lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

PAST = (
    "A data/hora de agendamento escolhida pertence ao passado. Favor preencher com uma data futura ou a opção "
    '"agora" para iniciar o envio imediatamente.'
)
NO_CREDITS = (
    "O envio não pode exceder a quantidade de créditos que você possui. Reduza o número de destinatários ou "
    "adquira mais créditos e tente novamente."
)


def error_of(answer):
    body = answer.json()
    assert set(body) == {"error"}, body
    assert body["error"]["http_code"] == answer.status_code
    return body["error"]["code"], body["error"]["message"]


def local_now(sb) -> datetime:
    return datetime.fromisoformat(sb.clock()["now"]).replace(tzinfo=None)


def new_list(api, name="Clientes", emails=()):
    list_id = api.cria("POST", "grupos", {"nome": name}).json()["data"]["id"]
    for email in emails:
        contact_id = api.cria("POST", "contatos", {"email": email, "nome": email.split("@")[0]}).json()[
            "data"
        ]["id"]
        assert api.cria("POST", f"contatos/{contact_id}/inscrever", {"idGrupos": list_id}).status_code == 200
    return list_id


def new_message(api, nome="Newsletter"):
    answer = api.cria("POST", "mensagens", {"assunto": "Oferta", "html": "<p>Oi</p>", "nome": nome})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["id"]


def view(api, campaign_id, **params):
    return api.cria("GET", f"envios/{campaign_id}", params=params).json()["data"]


# -- auth and encodings ------------------------------------------------------------------------------------
def test_key_in_query_is_required(api):
    answer = api.http.get(api.urls["criaenvio"] + "contatos", params={"chave": "wrong"})
    assert answer.status_code == 401
    assert error_of(answer)[0] == "03-NAO-AUTORIZADO"
    assert api.http.get(api.urls["criaenvio"] + "contatos").status_code == 401


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "email=a@b.com"),  # neither JSON nor a form
        ("application/json", "{not json"),  # invalid JSON
        ("application/json", '["email", "a@b.com"]'),  # JSON, but not an object
    ],
)
def test_bodies_must_be_a_json_object_or_a_form(api, content_type, body):
    """Form bodies are accepted since the vendor's own clients send them (test_sandbox_criaenvio_clients.py);
    every other body is still refused with the 400 envelope."""
    answer = api.cria("POST", "contatos", data=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400
    code, message = error_of(answer)
    assert code == "02-ARGUMENTOS-INVALIDOS" and message.startswith(
        "Erro ao processar requisição. Detalhe(s):"
    )
    assert api.cria("GET", "contatos", params={"email": "a@b.com"}).json()["data"] == []


def test_methods_follow_the_php_library(api):
    contact_id = api.cria("POST", "contatos", {"email": "m@exemplo.com.br"}).json()["data"]["id"]
    assert api.cria("POST", f"contatos/{contact_id}/ativar").status_code == 405
    assert api.cria("PUT", f"contatos/{contact_id}/ativar").status_code == 200
    assert api.cria("GET", "nada").status_code == 404


# -- contacts ----------------------------------------------------------------------------------------------
def test_contact_create_duplicate_and_view(api):
    created = api.cria(
        "POST",
        "contatos",
        {"nome": "Ana", "email": "ana@exemplo.com.br", "sexo": "f", "data_de_nascimento": "02/02/2012"},
    )
    data = created.json()["data"]
    assert (
        data["email"] == "ana@exemplo.com.br"
        and data["sexo"] == "f"
        and data["data_de_nascimento"] == "02/02/2012"
    )
    duplicate = api.cria("POST", "contatos", {"email": "ANA@exemplo.com.br"})
    assert duplicate.status_code == 400
    assert error_of(duplicate) == (
        "02-ARGUMENTOS-INVALIDOS",
        "Já existe um contato com este email. Tente atualizá-lo.",
    )

    shown = api.cria("GET", f"contatos/{data['id']}").json()["data"]
    assert (
        shown["dataNascimento"] == "2012-02-02" and shown["ativo"] is True and shown["descadastrado"] is False
    )
    assert len(shown["dataCadastro"]) == 19
    missing = api.cria("GET", "contatos/zzzz")
    assert missing.status_code == 404 and error_of(missing) == (
        "01-NAO-ENCONTRADO",
        "Registro não encontrado.",
    )
    for bad in (
        {"email": "sem-arroba"},
        {"email": "x@exemplo.com.br", "sexo": "x"},
        {"email": "y@exemplo.com.br", "data_de_nascimento": "2012-02-02"},
    ):
        assert api.cria("POST", "contatos", bad).status_code == 400


def test_contact_search_filters_and_status(api):
    for email in ("joao@gmail.example", "maria@yahoo.example", "jose@yahoo.example"):
        api.cria("POST", "contatos", {"email": email, "nome": email.split("@")[0].title()})
    by_domain = api.cria("GET", "contatos", params={"email": "@yahoo.example"}).json()
    assert sorted(r["email"] for r in by_domain["data"]) == ["jose@yahoo.example", "maria@yahoo.example"]
    exact = api.cria("GET", "contatos", params={"email": "maria@yahoo.example"}).json()["data"]
    assert [r["email"] for r in exact] == ["maria@yahoo.example"]
    assert [r["nome"] for r in api.cria("GET", "contatos", params={"nome": "jo"}).json()["data"]] == [
        "Joao",
        "Jose",
    ]

    default = {r["email"] for r in api.cria("GET", "contatos").json()["data"]}
    assert "descadastrado@exemplo.com.br" not in default and "teste@exemplo.com.br" in default
    unsubscribed = api.cria("GET", "contatos", params={"status": "descadastros"}).json()["data"]
    assert [r["email"] for r in unsubscribed] == ["descadastrado@exemplo.com.br"]
    assert len(api.cria("GET", "contatos", params={"status": "todos"}).json()["data"]) == 5
    ids = ",".join(r["id"] for r in by_domain["data"])
    assert len(api.cria("GET", "contatos", params={"id": ids}).json()["data"]) == 2
    assert api.cria("GET", "contatos", params={"status": "bogus"}).status_code == 400


def test_pagination_30_by_default_number_up_to_100(api):
    for i in range(70):
        api.cria("POST", "contatos", {"email": f"p{i:02d}@exemplo.com.br"})
    first = api.cria("GET", "contatos").json()
    assert len(first["data"]) == 30
    pagination = first["pagination"]
    assert {k: pagination[k] for k in ("total", "count", "per_page", "current_page", "total_pages")} == {
        "total": 71,
        "count": 30,
        "per_page": 30,
        "current_page": 1,
        "total_pages": 3,
    }
    assert "page=2" in pagination["links"]["next"] and "chave" not in pagination["links"]["next"]
    last = api.cria("GET", "contatos", params={"page": 3}).json()["pagination"]
    assert last["count"] == 11 and "next" not in last["links"] and "page=2" in last["links"]["previous"]
    big = api.cria("GET", "contatos", params={"number": 500}).json()["pagination"]
    assert big["per_page"] == 100 and big["total_pages"] == 1 and big["links"] == []


def test_contact_update_activation_lists_and_fields(api, sb):
    contact_id = api.cria("POST", "contatos", {"email": "c@exemplo.com.br"}).json()["data"]["id"]
    api.cria("POST", "contatos", {"email": "other@exemplo.com.br"})
    taken = api.cria("PUT", f"contatos/{contact_id}", {"email": "other@exemplo.com.br"})
    assert error_of(taken)[1] == "Já existe um contato com este email. Tente atualizá-lo."
    assert api.cria("PUT", f"contatos/{contact_id}", {"nome": "Carla"}).json() == {"data": {"OK": "OK"}}

    unsubscribed = next(c for c in sb.state("criaenvio")["contacts"] if c["descadastrado"])
    refused = api.cria("PUT", f"contatos/{unsubscribed['id']}/ativar")
    assert refused.status_code == 401
    assert error_of(refused) == ("03-NAO-AUTORIZADO", "Não é possível ativar um contato descadastrado.")

    list_id = new_list(api, "Lista A")
    assert error_of(api.cria("POST", f"contatos/{contact_id}/inscrever", {"idGrupos": f"{list_id}, nope"}))[
        1
    ] == ("Não foram encontrado os ids de grupos.")
    assert (
        api.cria("POST", f"contatos/{contact_id}/inscrever", {"idGrupos": f" {list_id} "}).status_code == 200
    )
    field_id = api.cria("POST", "campos", {"nome": "Plano"}).json()["data"]["id"]
    assert error_of(api.cria("PUT", f"contatos/{contact_id}/campos", {"campos": {}}))[1] == (
        "É necessário informar ao menos um campo para realizar a atualização."
    )
    assert api.cria("PUT", f"contatos/{contact_id}/campos", {"campos": {field_id: "Ouro"}}).status_code == 200

    shown = api.cria("GET", f"contatos/{contact_id}", params={"embeds": "grupos,campos"}).json()
    assert shown["data"]["nome"] == "Carla"
    assert [g["id"] for g in shown["data"]["grupos"]["data"]] == [list_id]
    assert "pagination" in shown["data"]["grupos"]
    assert shown["data"]["campos"]["data"] == [{"id": field_id, "nome": "Plano", "valor": "Ouro"}]
    assert api.cria("GET", "contatos", params={"campo": "ouro"}).json()["pagination"]["total"] == 1

    assert api.cria("PUT", f"contatos/{contact_id}/desativar").status_code == 200
    assert api.cria("GET", f"grupos/{list_id}").json()["data"]["contatos_ativos"] == "0"
    assert api.cria("POST", f"contatos/{contact_id}/desinscrever", {"idGrupos": list_id}).status_code == 200


# -- lists, fields, senders ---------------------------------------------------------------------------------
def test_lists_search_activation_and_embedded_contacts(api):
    list_id = new_list(api, "Promo", ["a@exemplo.com.br", "b@exemplo.com.br"])
    row = api.cria("GET", f"grupos/{list_id}").json()["data"]
    assert row == {"id": list_id, "nome": "Promo", "ativo": True, "contatos_ativos": "2"}
    embedded = api.cria("GET", f"grupos/{list_id}", params={"embeds": "contatos"}).json()["data"]["contatos"]
    assert [c["email"] for c in embedded["data"]] == ["a@exemplo.com.br", "b@exemplo.com.br"]
    assert embedded["pagination"]["total"] == 2

    assert api.cria("PUT", "grupos/desativar", params={"id": list_id}).json() == {"data": {"OK": "OK"}}
    assert [g["nome"] for g in api.cria("GET", "grupos").json()["data"]] == ["Lista Teste"]
    assert [g["nome"] for g in api.cria("GET", "grupos", params={"ativo": "false"}).json()["data"]] == [
        "Promo"
    ]
    assert error_of(api.cria("PUT", "grupos/ativar"))[1] == "Argumentos inválidos."
    assert api.cria("PUT", "grupos/ativar", params={"id": f"{list_id},zz"}).status_code == 404
    assert api.cria("PUT", "grupos/ativar", params={"id": list_id}).status_code == 200
    assert api.cria("PUT", f"grupos/{list_id}", {"nome": "Promo 2"}).status_code == 200
    assert api.cria("GET", "grupos", params={"nome": "promo"}).json()["data"][0]["nome"] == "Promo 2"


def test_custom_fields_crud(api):
    field_id = api.cria("POST", "campos", {"nome": "Cor"}).json()["data"]["id"]
    assert api.cria("GET", f"campos/{field_id}").json() == {"data": {"id": field_id, "nome": "Cor"}}
    assert (
        error_of(api.cria("PUT", f"campos/{field_id}", {"nome": ""}))[1]
        == "O nome do campo deve ser informado."
    )
    assert api.cria("PUT", f"campos/{field_id}", {"nome": "Cor favorita"}).status_code == 200
    assert [f["nome"] for f in api.cria("GET", "campos", params={"nome": "favorita"}).json()["data"]] == [
        "Cor favorita"
    ]
    assert api.cria("DELETE", f"campos/{field_id}").status_code == 200
    gone = api.cria("GET", f"campos/{field_id}")
    assert gone.status_code == 404 and error_of(gone)[1] == "Campo personalizado não encontrado."


def test_senders(api):
    rows = api.cria("GET", "remetentes").json()["data"]
    assert [(r["nome"], r["email"], r["principal"], r["confirmado"]) for r in rows] == [
        ("Sandbox", "remetente@exemplo.com.br", True, True),
        ("Pendente", "pendente@exemplo.com.br", False, False),
    ]
    assert len(api.cria("GET", "remetentes", params={"email": "pendente"}).json()["data"]) == 1


# -- messages ----------------------------------------------------------------------------------------------
def test_messages_create_search_size_limit(api, sb):
    assert (
        error_of(api.cria("POST", "mensagens", {"assunto": "Sem html"}))[1]
        == "Campo assunto/html não preenchido."
    )
    created = api.cria(
        "POST", "mensagens", {"assunto": "A", "html": "<p>x</p>", "nome": "emailbr:abc123"}
    ).json()["data"]
    assert created["jaEnviada"] is False and created["contador"] == "1" and created["html"] == "<p>x</p>"
    new_message(api, "outra")
    found = api.cria("GET", "mensagens", params={"nome": "emailbr:abc123"}).json()["data"]
    assert [m["id"] for m in found] == [created["id"]] and "html" not in found[0]
    assert len(api.cria("GET", "mensagens", params={"nome": "emailbr:"}).json()["data"]) == 1

    sb.config(criaenvio_max_message_bytes=1000)
    too_big = api.cria("POST", "mensagens", {"assunto": "B", "html": "x" * 1001})
    assert error_of(too_big) == ("02-ARGUMENTOS-INVALIDOS", "Tamanho de mensagem excedido.")
    assert (
        error_of(api.cria("PUT", f"mensagens/{created['id']}", {"html": "y" * 1001}))[1]
        == "Tamanho de mensagem excedido."
    )


def test_test_list_send(api, sb):
    message_id = new_message(api)
    assert api.cria("GET", f"mensagens/{message_id}/lista_teste").json() == {"data": {"OK": "OK"}}
    assert sb.state("criaenvio")["test_sends"][0]["emails"] == ["teste@exemplo.com.br"]
    assert error_of(api.cria("GET", "mensagens/zz/lista_teste"))[1] == "Mensagem não encontrada."
    tester = api.cria("GET", "contatos", params={"email": "teste@exemplo.com.br"}).json()["data"][0]["id"]
    api.cria("PUT", f"contatos/{tester}/desativar")
    assert error_of(api.cria("GET", f"mensagens/{message_id}/lista_teste"))[1] == (
        "Não existem contatos válidos na Lista Teste."
    )


def test_sent_messages_cannot_be_removed_and_updates_fork(api, sb):
    message_id = new_message(api)
    list_id = new_list(api, "L", ["z@exemplo.com.br"])
    api.cria("POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"})
    sb.advance(1)
    assert api.cria("GET", f"mensagens/{message_id}").json()["data"]["jaEnviada"] is True
    refused = api.cria("DELETE", f"mensagens/{message_id}")
    assert refused.status_code == 401
    assert error_of(refused)[1] == "Não é possível remover uma mensagem que já foi enviada."
    updated = api.cria("PUT", f"mensagens/{message_id}", {"assunto": "Nova"}).json()["data"]
    assert updated["OK"] == "OK" and updated["registro"]["id"] != message_id
    assert updated["registro"]["assunto"] == "Nova" and updated["registro"]["jaEnviada"] is False
    unsent = new_message(api, "rascunho")
    assert api.cria("DELETE", f"mensagens/{unsent}").json() == {"data": {"OK": "OK"}}


# -- campaigns ---------------------------------------------------------------------------------------------
def test_campaign_lifecycle_now(api, sb):
    message_id = new_message(api)
    list_id = new_list(api, "Base", [f"u{i}@exemplo.com.br" for i in range(4)])
    created = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"}
    )
    data = created.json()["data"]
    assert data["status"] == "Em criação" and data["porcentagem_de_conclusao"] == "0.00"
    assert (
        data["total_de_contatos"] == 4
        and data["id_mensagem"] == message_id
        and data["data_de_termino"] is None
    )
    assert set(data) == {
        "id",
        "codigo",
        "id_mensagem",
        "status",
        "data_de_criacao",
        "data_de_inicio",
        "data_de_termino",
        "total_de_contatos",
        "porcentagem_de_conclusao",
    }

    sb.advance(0.7)  # creation lasts min(1 s, campaign_seconds / 10) = 0.2 s; 2 s to send everything
    sending = view(api, data["id"])
    assert sending["status"] == "Enviando"
    assert 0 < sending["porcentagem_de_conclusao"] < 100
    sb.advance(2)
    done = view(api, data["id"], embeds="listas,mensagem,remetente")
    assert done["status"] == "Concluído" and done["porcentagem_de_conclusao"] == 100
    assert done["total_enviado"] == 4
    assert done["nao_rejeitados"] == done["total_enviado"] - done["rejeitados"]
    assert done["data_de_termino"] is not None
    for key in (
        "descadastros",
        "visualizacoes_totais",
        "visualizacoes_unicas",
        "cliques_totais",
        "cliques_unicos",
        "taxa_de_abertura",
        "taxa_de_clique",
        "taxa_de_rejeicao",
    ):
        assert key in done
    assert done["mensagem"]["data"][0]["id"] == message_id
    assert done["listas"]["data"][0]["id"] == list_id
    assert done["remetente"]["data"][0]["email"] == "remetente@exemplo.com.br"
    finished = api.cria("GET", "envios", params={"status": "2,3"}).json()["data"]
    assert [c["id"] for c in finished] == [data["id"]] and finished[0]["porcentagem_de_conclusao"] == "100.00"
    assert api.cria("GET", "envios", params={"status": "1"}).json()["data"] == []
    assert error_of(api.cria("GET", f"envios/{data['id']}/pausar"))[1] == (
        "Não é possível pausar o envio devido ao seu status atual."
    )
    assert error_of(api.cria("GET", f"envios/{data['id']}/cancelar"))[1] == (
        "Não é possível cancelar o envio devido ao seu status atual."
    )


def test_totals_are_deterministic_and_consistent(api, sb):
    def run():
        message_id = new_message(api)
        emails = [f"d{i}@exemplo.com.br" for i in range(200)] + ["x@bounce.example", "y@bounce.example"]
        list_id = new_list(api, "Grande", emails)
        campaign_id = api.cria(
            "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"}
        )
        sb.advance(5)
        return view(api, campaign_id.json()["data"]["id"])

    first = run()
    sb.reset()
    second = run()
    keys = (
        "total_enviado",
        "rejeitados",
        "nao_rejeitados",
        "descadastros",
        "visualizacoes_totais",
        "visualizacoes_unicas",
        "cliques_totais",
        "cliques_unicos",
        "taxa_de_abertura",
        "taxa_de_clique",
        "taxa_de_rejeicao",
    )
    assert {k: first[k] for k in keys} == {k: second[k] for k in keys}
    assert first["total_enviado"] == 202 and first["rejeitados"] >= 2
    assert first["taxa_de_rejeicao"] == round(100 * first["rejeitados"] / 202, 2)
    assert first["taxa_de_abertura"] == round(
        100 * first["visualizacoes_unicas"] / first["nao_rejeitados"], 2
    )
    assert first["visualizacoes_totais"] >= first["visualizacoes_unicas"] > 0


def test_scheduled_campaign_with_clock_speed(api, sb):
    message_id = new_message(api)
    list_id = new_list(api, "Agendada", ["s@exemplo.com.br"])
    start = (local_now(sb) + timedelta(hours=2)).strftime("%d/%m/%Y %H:%M")
    sb.config(clock_speed=3600)  # two hours ahead start in about two seconds
    data = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": start}
    ).json()["data"]
    assert data["data_de_inicio"] == datetime.strptime(start, "%d/%m/%Y %H:%M").strftime("%Y-%m-%d %H:%M:%S")
    sb.advance(0.5)
    assert view(api, data["id"])["status"] == "Agendado"
    assert [c["id"] for c in api.cria("GET", "envios", params={"status": "4"}).json()["data"]] == [data["id"]]
    sb.advance(2.5)
    assert view(api, data["id"])["status"] in ("Enviando", "Concluído")


def test_schedule_in_the_past_and_bad_dates_are_refused(api, sb):
    message_id = new_message(api)
    list_id = new_list(api, "P", ["p@exemplo.com.br"])
    past = (local_now(sb) - timedelta(minutes=5)).strftime("%d/%m/%Y %H:%M")
    answer = api.cria("POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": past})
    assert error_of(answer) == ("02-ARGUMENTOS-INVALIDOS", PAST)
    bad = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "2030-01-01 10:00"}
    )
    assert error_of(bad)[1] == 'Parâmetro "data_de_inicio" não preenchido corretamente.'
    assert error_of(
        api.cria("POST", "envios", {"mensagem": "zz", "listas": list_id, "data_de_inicio": "agora"})
    )[1] == ('Parâmetro "mensagem" não preenchido corretamente.')
    assert error_of(
        api.cria("POST", "envios", {"mensagem": message_id, "listas": "zz", "data_de_inicio": "agora"})
    )[1] == ('Parâmetro "listas" não preenchido corretamente.')


def test_unconfirmed_sender_and_credits(api, sb):
    message_id = new_message(api)
    list_id = new_list(api, "C", ["c1@exemplo.com.br", "c2@exemplo.com.br"])
    pending = api.cria("GET", "remetentes", params={"email": "pendente"}).json()["data"][0]["id"]
    answer = api.cria(
        "POST",
        "envios",
        {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora", "remetente": pending},
    )
    assert error_of(answer)[1] == "Somente remetentes confirmados podem ser utilizados."

    sb.config(credits=1)
    refused = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"}
    )
    assert refused.status_code == 401
    assert error_of(refused) == ("03-NAO-AUTORIZADO", NO_CREDITS)
    sb.config(credits=10)
    created = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"}
    )
    assert sb.state("criaenvio")["credits"] == 8
    api.cria("GET", f"envios/{created.json()['data']['id']}/cancelar")
    assert sb.state("criaenvio")["credits"] == 10  # nothing was sent yet: all credits come back


def test_total_counts_distinct_active_contacts(api):
    message_id = new_message(api)
    first = new_list(api, "A", ["a@exemplo.com.br", "b@exemplo.com.br"])
    second = new_list(api, "B", [])
    contacts = api.cria("GET", "contatos", params={"email": "exemplo.com.br"}).json()["data"]
    for contact in contacts:
        if contact["email"] in ("a@exemplo.com.br", "teste@exemplo.com.br"):
            api.cria("POST", f"contatos/{contact['id']}/inscrever", {"idGrupos": second})
    inactive = next(c["id"] for c in contacts if c["email"] == "b@exemplo.com.br")
    api.cria("PUT", f"contatos/{inactive}/desativar")
    data = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": f"{first},{second}", "data_de_inicio": "agora"}
    ).json()["data"]
    assert data["total_de_contatos"] == 2  # a (in both lists) + teste; b is inactive


def test_pause_resume_cancel(api, sb):
    message_id = new_message(api)
    list_id = new_list(api, "R", [f"r{i}@exemplo.com.br" for i in range(10)])
    campaign_id = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"}
    ).json()["data"]["id"]
    sb.advance(0.6)
    assert api.cria("GET", f"envios/{campaign_id}/pausar").json() == {"data": {"OK": "OK"}}
    paused = view(api, campaign_id)
    assert paused["status"] == "Suspenso"
    sb.advance(10)
    assert view(api, campaign_id)["porcentagem_de_conclusao"] == paused["porcentagem_de_conclusao"]
    assert error_of(api.cria("GET", f"envios/{campaign_id}/pausar"))[1] == (
        "Não é possível pausar o envio devido ao seu status atual."
    )
    assert error_of(api.cria("POST", f"envios/{campaign_id}/retomar", {}))[1] == (
        'Parâmetro "data" não preenchido corretamente.'
    )
    later = (local_now(sb) + timedelta(days=1)).strftime("%d/%m/%Y %H:%M")
    assert api.cria("POST", f"envios/{campaign_id}/retomar", {"data": later}).status_code == 200
    assert view(api, campaign_id)["status"] == "Agendado"
    assert api.cria("POST", f"envios/{campaign_id}/retomar", {"data": "agora"}).status_code == 200
    sb.advance(0.1)
    assert view(api, campaign_id)["status"] == "Enviando"
    assert (
        error_of(api.cria("POST", f"envios/{campaign_id}/retomar", {"data": "agora"}))[0]
        == "02-ARGUMENTOS-INVALIDOS"
    )
    assert api.cria("GET", f"envios/{campaign_id}/cancelar").json() == {"data": {"OK": "OK"}}
    cancelled = view(api, campaign_id)
    assert cancelled["status"] == "Cancelado" and cancelled["data_de_termino"] is not None
    assert 0 < cancelled["total_enviado"] < 10
    assert error_of(api.cria("GET", "envios/zz/pausar")) == ("01-NAO-ENCONTRADO", "Envio não encontrado.")


@pytest.mark.parametrize("timezone_name", ["America/Sao_Paulo"])
def test_campaign_dates_are_local_time(api, sb, timezone_name):
    assert sb.clock()["timezone"] == timezone_name
    message_id = new_message(api)
    list_id = new_list(api, "T", ["t@exemplo.com.br"])
    data = api.cria(
        "POST", "envios", {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora"}
    ).json()
    created = datetime.strptime(data["data"]["data_de_criacao"], "%Y-%m-%d %H:%M:%S.%f")
    assert abs((created - local_now(sb)).total_seconds()) < 60
