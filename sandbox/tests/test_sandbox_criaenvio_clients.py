"""CriaEnvio requests shaped exactly like the vendor's published clients send them (issue 12, item 6).

The docs ask for JSON bodies, but CriaEnvio's own PHP library and the Python client on PyPI send form fields;
the real service takes them, so the sandbox must too. Each test says which client it imitates and what that
client puts on the wire. The error cases at the end check that what the docs refuse is still refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import pytest
import requests

from emailbr_sandbox.constants import CRIAENVIO_KEY

OK = {"data": {"OK": "OK"}}


def http_build_query(params: dict[str, Any], prefix: str = "") -> str:
    """PHP's ``http_build_query`` (RFC 1738: spaces as ``+``): nested arrays as ``name[key]=value``."""
    pairs: list[str] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs.append(http_build_query(value, name))
        elif value is not None:  # PHP leaves null out
            pairs.append(f"{quote_plus(name)}={quote_plus(str(value))}")
    return "&".join(p for p in pairs if p)


class PhpLibrary:
    """What ``criaenvio/biblioteca_criaenvio`` sends (``Criaenvio\\ConexaoCurl`` over PHP cURL).

    URL: ``<api>/<path>?chave=<key>`` (``Utils::montaURl``). POST: ``CURLOPT_POST`` with
    ``CURLOPT_POSTFIELDS = http_build_query($parametros)``; PUT: ``CURLOPT_CUSTOMREQUEST 'PUT'`` with the same
    fields when there are any. A string in ``CURLOPT_POSTFIELDS`` makes cURL send
    ``Content-Type: application/x-www-form-urlencoded``; without fields there is no body at all.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        headers = {"Accept": "*/*"}
        body = None
        if params:
            body = http_build_query(params).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = f"{self.base_url}{path}?chave={CRIAENVIO_KEY}"
        return requests.request(method, url, data=body, headers=headers)


@pytest.fixture
def php(sb) -> PhpLibrary:
    return PhpLibrary(sb.urls["criaenvio"])


def pypi_url(sb, path: str = "") -> str:
    """``APIClienteCriaEnvio._montar_url`` of ``py-criaenvio``: ``<api>/<recurso>/<parametros>?chave=<key>``
    (note the slash before ``?`` when ``parametros`` is empty)."""
    return f"{sb.urls['criaenvio']}{path}?chave={CRIAENVIO_KEY}"


def contact_view(api, contact_id: str) -> dict[str, Any]:
    return api.cria("GET", f"contatos/{contact_id}", params={"embeds": "grupos,campos"}).json()["data"]


def field_id_named(api, name: str) -> str:
    return next(f["id"] for f in api.cria("GET", "campos").json()["data"] if f["nome"] == name)


def test_php_library_contact_life(php, api):
    """``Contato::criar``, ``editar``, ``atualizarCamposPersonalizados``, ``inscrever``, ``desinscrever``,
    ``desativar`` and ``ativar``: POST/PUT form bodies, custom fields as ``campos[<id>]=valor``, lists as
    ``idGrupos=a,b``, and activation PUTs without a body."""
    created = php.call("POST", "contatos", {"nome": "nóme do contato", "email": "contatinho@exemplo.com.br"})
    assert created.status_code == 200, created.text
    contact = created.json()["data"]
    assert (contact["nome"], contact["email"]) == ("nóme do contato", "contatinho@exemplo.com.br")

    edited = php.call(
        "PUT",
        f"contatos/{contact['id']}",
        {"nome": "editado Nóvamente", "sexo": "f", "data_de_nascimento": "01/01/2000"},
    )
    assert edited.json() == OK

    city = field_id_named(api, "Cidade")
    plan = api.cria("POST", "campos", {"nome": "Plano"}).json()["data"]["id"]
    sent = php.call("PUT", f"contatos/{contact['id']}/campos", {"campos": {city: "São Paulo", plan: "Ouro"}})
    assert sent.request.body == (
        f"campos%5B{city}%5D=S%C3%A3o+Paulo&campos%5B{plan}%5D=Ouro".encode()
    )  # the exact PHP encoding
    assert sent.json() == OK

    first = api.cria("POST", "grupos", {"nome": "Grupo 1"}).json()["data"]["id"]
    second = api.cria("POST", "grupos", {"nome": "Grupo 2"}).json()["data"]["id"]
    assert (
        php.call("POST", f"contatos/{contact['id']}/inscrever", {"idGrupos": f"{first},{second}"}).json()
        == OK
    )
    assert php.call("POST", f"contatos/{contact['id']}/desinscrever", {"idGrupos": second}).json() == OK

    shown = contact_view(api, contact["id"])
    assert (shown["nome"], shown["sexo"]) == ("editado Nóvamente", "f")
    assert shown["dataNascimento"] == "2000-01-01"
    assert {c["nome"]: c["valor"] for c in shown["campos"]["data"]} == {
        "Cidade": "São Paulo",
        "Plano": "Ouro",
    }
    assert [g["id"] for g in shown["grupos"]["data"]] == [first]

    assert php.call("PUT", f"contatos/{contact['id']}/desativar").json() == OK
    assert api.cria("GET", f"grupos/{first}").json()["data"]["contatos_ativos"] == "0"
    assert php.call("PUT", f"contatos/{contact['id']}/ativar").json() == OK
    assert api.cria("GET", f"grupos/{first}").json()["data"]["contatos_ativos"] == "1"


def test_php_library_bulk_list_activation_puts_the_ids_in_the_body(php, api):
    """``Grupo::desativarGrupos`` / ``ativarGrupos``: ``PUT grupos/desativar?chave=…`` with body ``id=a,b``
    (the docs show ``?id=`` in the query, which keeps working: see test_sandbox_criaenvio.py)."""
    created = [php.call("POST", "grupos", {"nome": f"Promo {n}"}).json()["data"]["id"] for n in (1, 2)]
    answer = php.call("PUT", "grupos/desativar", {"id": ",".join(created)})
    assert answer.request.body == f"id={created[0]}%2C{created[1]}".encode()
    assert answer.json() == OK
    assert [g["nome"] for g in api.cria("GET", "grupos").json()["data"]] == ["Lista Teste"]
    assert php.call("PUT", "grupos/ativar", {"id": created[1]}).json() == OK
    assert [g["nome"] for g in api.cria("GET", "grupos").json()["data"]] == ["Lista Teste", "Promo 2"]
    missing = php.call("PUT", "grupos/ativar", {"id": ""})  # http_build_query keeps an empty string
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Argumentos inválidos."


def test_php_library_message_campaign_and_resume(php, api, sb):
    """``Mensagem::criar``, ``Envio::criar`` (``listas=a,b``, ``data_de_inicio=agora``, ``remetente``),
    ``Envio::pausar`` (a GET) and ``Envio::retomar`` (POST ``data=agora``), all form-encoded."""
    message = php.call("POST", "mensagens", {"assunto": "Oferta de verão", "html": "<p>Olá & até</p>"})
    assert message.status_code == 200, message.text
    message_id = message.json()["data"]["id"]
    assert api.cria("GET", f"mensagens/{message_id}").json()["data"]["html"] == "<p>Olá & até</p>"

    list_id = php.call("POST", "grupos", {"nome": "Clientes"}).json()["data"]["id"]
    contact_id = php.call("POST", "contatos", {"email": "cliente@exemplo.com.br"}).json()["data"]["id"]
    php.call("POST", f"contatos/{contact_id}/inscrever", {"idGrupos": list_id})
    sender_id = next(s["id"] for s in api.cria("GET", "remetentes").json()["data"] if s["confirmado"])

    campaign = php.call(
        "POST",
        "envios",
        {"mensagem": message_id, "listas": list_id, "data_de_inicio": "agora", "remetente": sender_id},
    )
    assert campaign.status_code == 200, campaign.text
    campaign_id = campaign.json()["data"]["id"]
    assert php.call("GET", f"envios/{campaign_id}/pausar").json() == OK
    assert api.cria("GET", f"envios/{campaign_id}").json()["data"]["status"] == "Suspenso"
    assert php.call("POST", f"envios/{campaign_id}/retomar", {"data": "agora"}).json() == OK
    assert api.cria("GET", f"envios/{campaign_id}").json()["data"]["status"] != "Suspenso"


def test_pypi_client_create_update_and_subscribe(sb, api):
    """``py-criaenvio`` (``ContatoCriaEnvioAPI``): ``requests.post(url, data=corpo)`` /
    ``requests.put(url, data=corpo)``, so form-urlencoded bodies in which ``requests`` drops the ``None``
    values (``sexo``, ``data_de_nascimento`` when not given); ``criar`` posts to ``contatos/?chave=…``."""
    created = requests.post(
        pypi_url(sb, "contatos/"),
        data={"nome": "Maria", "email": "maria@exemplo.com.br", "sexo": None, "data_de_nascimento": None},
    )
    assert created.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert created.request.body == "nome=Maria&email=maria%40exemplo.com.br"
    assert created.status_code == 200, created.text
    contact_id = created.json()["data"]["id"]

    updated = requests.put(
        pypi_url(sb, f"contatos/{contact_id}"),
        data={
            "nome": "Maria Silva",
            "email": "maria@exemplo.com.br",
            "sexo": "f",
            "data_de_nascimento": None,
        },
    )
    assert updated.json() == OK

    list_id = api.cria("POST", "grupos", {"nome": "Newsletter"}).json()["data"]["id"]
    subscribed = requests.post(pypi_url(sb, f"contatos/{contact_id}/inscrever"), data={"idGrupos": list_id})
    assert subscribed.json() == OK

    shown = contact_view(api, contact_id)
    assert (shown["nome"], shown["sexo"]) == ("Maria Silva", "f")
    assert [g["id"] for g in shown["grupos"]["data"]] == [list_id]


def test_multipart_form_is_read_like_a_urlencoded_one(sb, api):
    """PHP cURL sends ``multipart/form-data`` when ``CURLOPT_POSTFIELDS`` is an array instead of a string;
    PHP reads both into the same ``$_POST``."""
    created = requests.post(
        pypi_url(sb, "contatos"), files={"email": (None, "multi@exemplo.com.br"), "nome": (None, "Multi")}
    )
    assert created.request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert created.status_code == 200, created.text
    assert created.json()["data"]["nome"] == "Multi"


def test_form_bodies_meet_the_same_rules_as_json(php, api):
    """A form body is validated like a JSON one: the vendor's own refusals keep their envelope and wording."""
    duplicate = php.call("POST", "contatos", {"email": "teste@exemplo.com.br"})
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["message"] == "Já existe um contato com este email. Tente atualizá-lo."

    bad_sex = php.call("POST", "contatos", {"email": "x@exemplo.com.br", "sexo": "x"})
    assert bad_sex.status_code == 400 and "sexo" in bad_sex.json()["error"]["message"]

    message = php.call("POST", "mensagens", {"assunto": "Sem corpo"})
    assert message.json()["error"]["message"] == "Campo assunto/html não preenchido."

    contact_id = php.call("POST", "contatos", {"email": "y@exemplo.com.br"}).json()["data"]["id"]
    unknown = php.call("PUT", f"contatos/{contact_id}/campos", {"campos": {"nao-existe": "1"}})
    assert unknown.status_code == 400 and "nao-existe" in unknown.json()["error"]["message"]
    empty = php.call("PUT", f"contatos/{contact_id}/campos", {"nome": "sem campos"})
    assert empty.json()["error"]["message"] == (
        "É necessário informar ao menos um campo para realizar a atualização."
    )
    assert api.cria("GET", "contatos", params={"email": "x@exemplo.com.br"}).json()["data"] == []
