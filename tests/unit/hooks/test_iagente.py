"""IAGENTEmail hook: every documented endpoint's method, path, query, headers and body encoding.

Each case calls one hook method against the recording server on loopback and compares what crossed the
wire with the vendor's page (``shared/api-docs``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import Reply

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
