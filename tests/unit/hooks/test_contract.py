"""The contract every platform hook keeps, checked the same way for all five.

- **credential placement**: each credential travels where the vendor documents it (a header, the query
  string, the JSON body) and nowhere else;
- **error envelopes**: each vendor's documented error answer becomes the right ``EmailBR*`` class, carrying
  the vendor's own code and message;
- **redaction**: a credential the server echoes back never appears in the exception, its repr, the hook's
  repr or the logs;
- **test_connection**: one cheap, side-effect-free read; ``(False, message)`` without the secret on failure;
- **paging guard** (hooks that page): a server that ignores ``page`` stops the iteration with a clear error,
  and no page past the announced total is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRError,
    EmailBRNotFoundError,
    EmailBRRefusedError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRValidationError,
)
from tests.conftest import Recorded, Reply

#: Recognisable credentials, one per field, so a leak names itself.
SECRETS = {
    "iagente": {"password": "IAG-CONTRACT-SECRET-71c2"},
    "criaenvio": {"password": "CRIA-CONTRACT-SECRET-93d0"},
    "envie": {"login": "ENVIE-CONTRACT-PUBLIC-5e11", "password": "ENVIE-CONTRACT-PRIVATE-0b7a"},
    "mailgrid": {"password": "MAILGRID-CONTRACT-SECRET-4f20"},
    "emailmanager": {"password": "EMAILMGR-CONTRACT-SECRET-a8e3"},
}


@dataclass(frozen=True)
class ErrorCase:
    """A documented error answer and what it must become."""

    name: str
    reply: Reply
    error_class: type[EmailBRApiError]
    vendor_code: str | None
    vendor_message: str


@dataclass(frozen=True)
class Contract:
    """What one vendor documents: where credentials go, its cheap read, its error answers, how it pages."""

    vendor: str
    #: ``(where, name)`` of each credential field: where is ``header``, ``query`` or ``json``.
    placement: dict[str, tuple[str, str]]
    #: the connection test's read: method and path (relative to the connection's base path).
    probe: tuple[str, str]
    #: a successful answer to that read.
    probe_answer: Any
    #: the public hook method that makes that read.
    read: Callable[[Any], Any]
    errors: list[ErrorCase]
    #: for hooks that page: the public iterator, and a builder of one page's answer.
    iterate: Callable[[Any], Any] | None = None
    page: Callable[[int | None, int, list[Any]], Any] | None = None
    error_ids: list[str] = field(default_factory=list)


def _envie_page(current: int | None, total: int, items: list[Any]) -> Any:
    data: dict[str, Any] = {"total_pages": total, "records": items}
    if current is not None:
        data["current_page"] = current
    return {"status": "success", "data": data}


def _iagente_page(current: int | None, total: int, items: list[Any]) -> Any:
    answer: dict[str, Any] = {"status": "success", "last_page": total, "total": 99, "data": items}
    if current is not None:
        answer["current_page"] = current
    return answer


def _criaenvio_page(current: int | None, total: int, items: list[Any]) -> Any:
    pagination: dict[str, Any] = {"total": 99, "per_page": 100, "total_pages": total}
    if current is not None:
        pagination["current_page"] = current
    return {"data": items, "pagination": pagination}


CONTRACTS = [
    Contract(
        vendor="iagente",
        placement={"password": ("header", "IAGENTE-KEY")},
        probe=("POST", "group/list"),
        probe_answer=_iagente_page(1, 1, [{"group_id": 1}]),
        read=lambda h: h.list_groups(),
        errors=[
            ErrorCase(
                "documented error in HTTP 200",
                Reply(body={"status": "error", "message": "Não foi possível listar o grupo"}),
                EmailBRValidationError,
                "error",
                "Não foi possível listar o grupo",
            ),
            ErrorCase(
                "wrong key",
                Reply(status=401, body={"status": "error", "message": "Chave de integração inválida"}),
                EmailBRAuthError,
                "error",
                "Chave de integração inválida",
            ),
        ],
        iterate=lambda h: h.iter_groups(),
        page=_iagente_page,
    ),
    Contract(
        vendor="criaenvio",
        placement={"password": ("query", "chave")},
        probe=("GET", "remetentes"),
        probe_answer=_criaenvio_page(1, 1, [{"id": "r1", "confirmado": True}]),
        read=lambda h: h.search_senders(),
        errors=[
            ErrorCase(
                "not found",
                Reply(
                    status=404,
                    body={
                        "error": {"code": "01-NAO-ENCONTRADO", "http_code": 404, "message": "Não encontrado."}
                    },
                ),
                EmailBRNotFoundError,
                "01-NAO-ENCONTRADO",
                "Não encontrado.",
            ),
            ErrorCase(
                "refusal answered as 401",
                Reply(
                    status=401,
                    body={
                        "error": {
                            "code": "03-NAO-AUTORIZADO",
                            "http_code": 401,
                            "message": "O envio não pode exceder a quantidade de créditos que você possui.",
                        }
                    },
                ),
                EmailBRRefusedError,
                "03-NAO-AUTORIZADO",
                "O envio não pode exceder a quantidade de créditos que você possui.",
            ),
            ErrorCase(
                "wrong key",
                Reply(
                    status=401,
                    body={"error": {"code": "03-NAO-AUTORIZADO", "message": "Chave de acesso inválida."}},
                ),
                EmailBRAuthError,
                "03-NAO-AUTORIZADO",
                "Chave de acesso inválida.",
            ),
        ],
        iterate=lambda h: h.iter_senders(),
        page=_criaenvio_page,
    ),
    Contract(
        vendor="envie",
        placement={"login": ("header", "public-key"), "password": ("header", "private-key")},
        probe=("GET", "lists/show"),
        probe_answer=_envie_page(1, 1, [{"general": {"list_uid": "a"}}]),
        read=lambda h: h.show_lists(),
        errors=[
            ErrorCase(
                "wrong key",
                Reply(status=401, body={"status": "error", "error": "Invalid API key"}),
                EmailBRAuthError,
                "error",
                "Invalid API key",
            ),
            ErrorCase(
                "not found",
                Reply(status=404, body={"status": "error", "error": "The list does not exist."}),
                EmailBRNotFoundError,
                "error",
                "The list does not exist.",
            ),
        ],
        iterate=lambda h: h.iter_lists(),
        page=_envie_page,
    ),
    Contract(
        vendor="mailgrid",
        placement={"login": ("json", "usuario_smtp"), "password": ("json", "senha_smtp")},
        probe=("POST", "report/"),
        probe_answer={"0": {"msgid": "a", "status": "sucesso"}},
        read=lambda h: h.report(start="2026-01-01T00:00", end="2026-01-01T00:01"),
        errors=[
            ErrorCase(
                "wrong credentials (code 207 in HTTP 200)",
                Reply(body={"status": "ERRO: FALHA DE AUTENTICACAO", "codigo": "207"}),
                EmailBRAuthError,
                "207",
                "ERRO: FALHA DE AUTENTICACAO",
            ),
            ErrorCase(
                "bad date (code 210 in HTTP 200)",
                Reply(body={"status": "ERRO: DATA COM FORMATO INCORRETO", "codigo": "210"}),
                EmailBRValidationError,
                "210",
                "ERRO: DATA COM FORMATO INCORRETO",
            ),
        ],
    ),
    Contract(
        vendor="emailmanager",
        placement={"password": ("header", "X-Emailmanager-Server-Token")},
        probe=("GET", "deliverystats"),
        probe_answer={"InactiveMails": 0, "Bounces": []},
        read=lambda h: h.delivery_stats(),
        errors=[
            ErrorCase(
                "wrong token",
                Reply(status=401, body={"ErrorCode": 0, "Message": "Bad or missing server token"}),
                EmailBRAuthError,
                "0",
                "Bad or missing server token",
            ),
            ErrorCase(
                "invalid request",
                Reply(status=422, body={"ErrorCode": 300, "Message": "Invalid request"}),
                EmailBRValidationError,
                "300",
                "Invalid request",
            ),
            ErrorCase(
                "server failure",
                Reply(status=500, body={"ErrorCode": 500, "Message": "Internal error"}),
                EmailBRServerError,
                "500",
                "Internal error",
            ),
        ],
    ),
]
BY_VENDOR = {c.vendor: c for c in CONTRACTS}
PAGED = [c for c in CONTRACTS if c.iterate is not None]
ERROR_CASES = [(c, e) for c in CONTRACTS for e in c.errors]


@pytest.fixture
def hook_for(make_hook):
    """Build ``contract.vendor``'s hook with the recognisable :data:`SECRETS` as its credentials."""

    def _build(contract: Contract) -> Any:
        return make_hook(contract.vendor, **SECRETS[contract.vendor])

    return _build


def _places(request: Recorded) -> dict[tuple[str, str], str]:
    """Every value of a request by where it travels: headers, query parameters, top-level JSON fields."""
    places = {("header", k.lower()): v for k, v in request.headers.items()}
    places.update({("query", k): v for k, v in request.query})
    if request.body and request.headers.get("Content-Type") == "application/json":
        body = request.json
        if isinstance(body, dict):
            places.update(
                {("json", k): json.dumps(v) if not isinstance(v, str) else v for k, v in body.items()}
            )
    return places


def _path_of(contract: Contract, request: Recorded) -> str:
    from tests.unit.hooks.conftest import VENDOR_CONNECTIONS

    prefix = VENDOR_CONNECTIONS[contract.vendor].path
    assert request.path.startswith(prefix), request.path
    return request.path[len(prefix) :]


# ------------------------------------------------------------------------------------ credential placement


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.vendor)
def test_credentials_travel_only_where_the_vendor_documents(contract, hook_for, server):
    server.reply(Reply(body=contract.probe_answer))
    hook = hook_for(contract)
    contract.read(hook)
    request = server.last
    places = _places(request)
    for fieldname, (where, name) in contract.placement.items():
        secret = getattr(hook.settings, fieldname)
        key = (where, name.lower() if where == "header" else name)
        assert places.get(key) == secret, f"{fieldname} not in {where} {name!r}"
        elsewhere = [k for k, v in places.items() if secret in v and k != key]
        assert elsewhere == [], f"{fieldname} also sent in {elsewhere}"
        if where != "json":
            assert secret.encode() not in request.body
    assert len(server.requests) == 1


# ------------------------------------------------------------------------------------ error envelopes


@pytest.mark.parametrize(
    ("contract", "case"), ERROR_CASES, ids=[f"{c.vendor}-{e.name}" for c, e in ERROR_CASES]
)
def test_documented_error_answer_maps_to_its_class(contract, case, hook_for, server):
    server.reply(case.reply, case.reply, case.reply)
    with pytest.raises(EmailBRApiError) as caught:
        contract.read(hook_for(contract))
    err = caught.value
    assert type(err) is case.error_class
    assert (err.vendor_code, err.vendor_message) == (case.vendor_code, case.vendor_message)
    assert err.status == case.reply.status
    assert case.vendor_message in str(err)
    retried = issubclass(case.error_class, EmailBRServerError)  # a vendor failure is retried, a refusal not
    assert len(server.requests) == (3 if retried else 1)


# ------------------------------------------------------------------------------------ redaction


def _echoing(contract: Contract) -> list[Reply]:
    """Answers that echo every credential back: a proxy error page, a vendor envelope, a redirect."""
    blob = " ".join(SECRETS[contract.vendor].values())
    return [
        Reply(status=502, body=f"<html>bad gateway for chave={blob}</html>"),
        Reply(
            status=400,
            body={
                "status": "error",
                "error": blob,
                "message": blob,
                "ErrorCode": 300,
                "Message": blob,
                "codigo": "208",
            },
        ),
        Reply(status=302, body="", headers={"Location": f"https://other.example/?chave={blob}"}),
    ]


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.vendor)
def test_echoed_secret_never_reaches_errors_reprs_or_logs(contract, hook_for, server, log_records):
    hook = hook_for(contract)
    seen: list[str] = []
    for reply in _echoing(contract):
        server.replies[:] = [reply, reply, reply]
        with pytest.raises(EmailBRError) as caught:
            contract.read(hook)
        err = caught.value
        seen.extend([str(err), repr(err), repr(vars(err)), repr(err.__cause__), repr(err.__context__)])
    seen.extend([repr(hook), repr(hook.settings)])
    seen.extend(record.getMessage() for record in log_records)
    everything = "\n".join(seen)
    assert "***" in everything  # the echo was there, and masked
    for secret in SECRETS[contract.vendor].values():
        assert secret not in everything


# ------------------------------------------------------------------------------------ test_connection


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.vendor)
def test_test_connection_makes_one_cheap_read(contract, hook_for, server):
    server.reply(Reply(body=contract.probe_answer))
    ok, message = hook_for(contract).test_connection()
    assert ok is True, message
    assert len(server.requests) == 1
    assert (server.last.method, _path_of(contract, server.last)) == contract.probe


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.vendor)
def test_test_connection_failure_is_false_with_a_message_without_the_secret(contract, hook_for, server):
    blob = " ".join(SECRETS[contract.vendor].values())
    rejected = contract.errors[0].reply
    echoed = json.loads(
        json.dumps(rejected.body, ensure_ascii=False).replace(
            contract.errors[0].vendor_message, f"bad {blob}"
        )
    )
    server.reply(Reply(status=rejected.status, body=echoed))
    ok, message = hook_for(contract).test_connection()
    assert ok is False
    assert message and "***" in message
    for secret in SECRETS[contract.vendor].values():
        assert secret not in message
    assert len(server.requests) == 1


def test_test_connection_to_nothing_listening_is_false(hook_for, set_connection, free_port):
    contract = BY_VENDOR["criaenvio"]
    set_connection(
        "criaenvio_default",
        conn_type="criaenvio",
        host=f"http://127.0.0.1:{free_port}/v1/",
        password=SECRETS["criaenvio"]["password"],
    )
    from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
    from tests.helpers import FAST_RETRIES

    ok, message = CriaEnvioHook(retry_policy=FAST_RETRIES).test_connection()
    assert ok is False
    assert "connection refused" in message
    assert SECRETS[contract.vendor]["password"] not in message


# ------------------------------------------------------------------------------------ paging guard


@pytest.mark.parametrize("contract", PAGED, ids=lambda c: c.vendor)
def test_server_ignoring_page_stops_with_a_clear_error(contract, hook_for, server):
    assert contract.page is not None and contract.iterate is not None
    first = Reply(body=contract.page(1, 5, [{"id": "a"}]))
    server.reply(first, first, first)
    items = contract.iterate(hook_for(contract))
    assert next(items) == {"id": "a"}
    with pytest.raises(EmailBRResponseError, match="asked for page 2, but the answer says it is page 1"):
        next(items)
    assert len(server.requests) == 2


@pytest.mark.parametrize("contract", PAGED, ids=lambda c: c.vendor)
def test_repeated_page_without_page_number_stops(contract, hook_for, server):
    assert contract.page is not None and contract.iterate is not None
    same = Reply(body=contract.page(None, 5, [{"id": "a"}, {"id": "b"}]))
    server.reply(same, same, same)
    with pytest.raises(EmailBRResponseError, match="repeats page 1 item for item"):
        list(contract.iterate(hook_for(contract)))
    assert len(server.requests) == 2


@pytest.mark.parametrize("contract", PAGED, ids=lambda c: c.vendor)
def test_never_asks_past_the_announced_total(contract, hook_for, server):
    assert contract.page is not None and contract.iterate is not None
    server.reply(
        Reply(body=contract.page(1, 2, [{"id": "a"}])),
        Reply(body=contract.page(2, 2, [{"id": "b"}])),
        Reply(body=contract.page(3, 2, [{"id": "c"}])),
    )
    assert list(contract.iterate(hook_for(contract))) == [{"id": "a"}, {"id": "b"}]
    assert len(server.requests) == 2
