"""IAGENTEmail emulation against iagentemail.txt: form bodies, errors inside HTTP 200, pagination by 50."""

from __future__ import annotations

import pytest


def test_wrong_key_is_an_error_inside_http_200(api):
    answer = api.iagente("group/list", {}, key="wrong")
    assert answer.status_code == 200
    assert answer.json() == {"status": "error", "message": "Chave de integração inválida."}
    missing = api.http.post(api.urls["iagente"] + "group/list")
    assert missing.status_code == 200 and missing.json()["status"] == "error"


def test_only_post_and_known_endpoints(api):
    assert (
        api.http.get(
            api.urls["iagente"] + "group/list", headers={"IAGENTE-KEY": "sandbox-iagente-key"}
        ).status_code
        == 405
    )
    unknown = api.iagente("contact/nope", {})
    assert unknown.status_code == 404 and unknown.json()["status"] == "error"


def test_contact_create_edit_remove_with_documented_messages(api):
    created = api.iagente(
        "contact/create", {"email": "ana@exemplo.com.br", "group_id": 1, "name": "Ana"}
    ).json()
    assert created["status"] == "success"
    assert created["message"] == "Contato inserido com sucesso"
    assert isinstance(created["contact_id"], int)

    edited = api.iagente(
        "contact/edit", {"email": "ana@exemplo.com.br", "field1": "Rua A", "birthday": "1991-04-29"}
    )
    assert edited.json() == {"status": "success", "message": "Contato atualizado com sucesso"}
    row = api.iagente("contact/list", {"search": "ana"}).json()["data"][0]
    assert row["field1"] == "Rua A" and row["birthday"] == "1991-04-29" and row["name"] == "Ana"
    assert row["groups"][0]["group_id"] == 1 and row["groups"][0]["nome"] == "Grupo Sandbox"
    assert len(row["created_at"]) == 19 and row["created_at"][2] == "/"  # DD/MM/YYYY HH:MM:SS
    assert row["groups"][0]["created_at"][4] == "-"  # YYYY-MM-DD HH:MM:SS inside groups

    assert api.iagente("contact/remove", {"email": "ana@exemplo.com.br"}).json()["message"] == (
        "Contato removido da conta com sucesso"
    )
    assert api.iagente("contact/remove", {"email": "ana@exemplo.com.br"}).json() == {
        "status": "error",
        "message": "Não foi possível remover o contato",
    }


@pytest.mark.parametrize(
    "form",
    [
        {"email": "not-an-email", "group_id": 1},
        {"email": "ok@exemplo.com.br", "group_id": 999},
        {"email": "ok@exemplo.com.br"},
        {"email": "ok@exemplo.com.br", "group_id": 1, "birthday": "29/04/1991"},
    ],
)
def test_contact_create_refusals(api, form):
    answer = api.iagente("contact/create", form)
    assert answer.status_code == 200
    assert answer.json() == {"status": "error", "message": "Não foi possível adicionar o contato"}


def test_json_bodies_are_ignored_like_php_post(api):
    answer = api.http.post(
        api.urls["iagente"] + "group/create",
        json={"name": "X"},
        headers={"IAGENTE-KEY": "sandbox-iagente-key"},
    )
    assert answer.json() == {"status": "error", "message": "Não foi possível adicionar o grupo"}


def test_multipart_bodies_are_accepted(api):
    answer = api.iagente("group/create", files={"name": (None, "Multipart")})
    assert answer.json()["status"] == "success"
    names = [g["name"] for g in api.iagente("group/list", {}).json()["data"]]
    assert "Multipart" in names


def test_mass_add_php_brackets_upsert_and_details(api):
    body = (
        "group_id=1&contacts[0][email]=a%40b.com&contacts[0][name]=X"
        "&contacts[1][email]=bad&contacts[1][name]=Y"
        "&contacts%5B2%5D%5Bemail%5D=c%40d.com&contacts%5B2%5D%5Bfield3%5D=Z"
        "&contacts[3][name]=no-email"
    )
    answer = api.iagente(
        "contact/mass/add", body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ).json()
    assert answer["status"] == "success" and answer["message"] == "Operação concluída!"
    assert answer["imports"] == 2 and answer["invalids"] == 2
    assert answer["details"] == [
        {"index": 1, "email": "bad", "message": "E-mail inválido."},
        {"index": 3, "email": "", "message": "E-mail não informado."},
    ]
    again = api.iagente(
        "contact/mass/add", {"group_id": 1, "contacts[0][email]": "a@b.com", "contacts[0][name]": "New"}
    )
    assert again.json()["imports"] == 1
    rows = api.iagente("contact/list", {}).json()
    assert rows["total"] == 2
    assert {r["email"]: r["name"] for r in rows["data"]} == {"a@b.com": "New", "c@d.com": ""}


def test_mass_add_needs_an_existing_group(api):
    answer = api.iagente("contact/mass/add", {"group_id": 42, "contacts[0][email]": "a@b.com"})
    assert answer.json() == {"status": "error", "message": "Não foi possível executar esta ação."}


def test_pagination_is_50_per_page_with_current_and_last_page(api):
    form = {"group_id": 1}
    for i in range(120):
        form[f"contacts[{i}][email]"] = f"c{i:03d}@exemplo.com.br"
        form[f"contacts[{i}][name]"] = f"Nome {i:03d}"
    assert api.iagente("contact/mass/add", form).json()["imports"] == 120

    first = api.iagente("group/contact/list", {"group_id": 1}).json()
    assert (first["status"], first["current_page"], first["last_page"], first["total"]) == (
        "success",
        1,
        3,
        120,
    )
    assert len(first["data"]) == 50 and "groups" not in first["data"][0]
    assert first["data"][0]["name"] == "Nome 000"
    last = api.iagente("contact/list", {"page": 3, "order": "email", "orientation": "DESC"}).json()
    assert last["current_page"] == 3 and len(last["data"]) == 20
    assert last["data"][-1]["email"] == "c000@exemplo.com.br"
    beyond = api.iagente("contact/list", {"page": 9}).json()
    assert beyond["data"] == [] and beyond["last_page"] == 3
    assert api.iagente("contact/list", {"order": "bogus"}).json() == {
        "status": "error",
        "message": "Não foi possível listar os contatos",
    }


def test_groups_lifecycle(api):
    group_id = api.iagente("group/create", {"name": "Clientes"}).json()["group_id"]
    assert api.iagente("group/edit", {"group_id": group_id, "name": "Clientes VIP"}).json()["message"] == (
        "Grupo atualizado com sucesso"
    )
    api.iagente("contact/create", {"email": "v@exemplo.com.br", "group_id": group_id})
    listing = api.iagente("group/list", {"search": "vip"}).json()
    assert [g["name"] for g in listing["data"]] == ["Clientes VIP"]
    assert set(listing["data"][0]) == {"group_id", "name", "created_at"}

    removed = api.iagente("group/contact/remove", {"group_id": group_id, "email": "v@exemplo.com.br"})
    assert removed.json()["message"] == "Contato removido do grupo com sucesso"
    assert api.iagente("group/contact/list", {"group_id": group_id}).json()["total"] == 0
    assert api.iagente(
        "group/contact/remove", {"group_id": group_id, "email": "v@exemplo.com.br"}
    ).json() == {
        "status": "error",
        "message": "Não foi possível remover o contato do grupo",
    }
    assert (
        api.iagente("group/remove", {"group_id": group_id}).json()["message"] == "Grupo removido com sucesso"
    )
    assert api.iagente("group/contact/list", {"group_id": group_id}).json() == {
        "status": "error",
        "message": "Não foi possível listar o grupo",
    }


def test_listings_reflect_every_change(api):
    assert api.iagente("contact/list", {}).json()["total"] == 0
    api.iagente("contact/mass/add", {"group_id": 1, "contacts[0][email]": "b@exemplo.com.br"})
    assert api.iagente("contact/list", {}).json()["total"] == 1
    api.iagente("contact/create", {"email": "a@exemplo.com.br", "group_id": 1, "name": "Zé"})
    assert [r["email"] for r in api.iagente("contact/list", {"order": "email"}).json()["data"]] == [
        "a@exemplo.com.br",
        "b@exemplo.com.br",
    ]
    api.iagente("contact/edit", {"email": "b@exemplo.com.br", "name": "Ana"})
    assert [r["name"] for r in api.iagente("group/contact/list", {"group_id": 1}).json()["data"]] == [
        "Ana",
        "Zé",
    ]
    api.iagente("contact/remove", {"email": "a@exemplo.com.br"})
    assert api.iagente("group/contact/list", {"group_id": 1}).json()["total"] == 1
