"""The CriaEnvio campaign operators on Airflow 3.3's task state store (an in-memory double), against the
recording server: ids stored right after each create, a retry that reattaches without creating, the name-key
fallback after a lost answer, fail-closed reads and writes; the two halves (``schedule=False``,
``message_id=``) and the send-test operator's wire format and once-only send.
"""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRInputError,
    EmailBRStateCorruptError,
    EmailBRStateStoreError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCreateCampaignOperator,
    CriaEnvioSendTestOperator,
    idempotency_key,
)
from tests.conftest import Reply
from tests.helpers import FakeTaskStateStore, context
from tests.unit.criaenvio_campaign_doubles import (
    CAMPAIGN_TI,
    KEY,
    connect_criaenvio,
    create_op,
    page,
    script_create,
)

MESSAGE_KEY = "emailbr.campaign.message"
CAMPAIGN_KEY = "emailbr.campaign.campaign"
CAMPAIGN = {
    "id": "c1",
    "codigo": "7",
    "id_mensagem": "m1",
    "status": "Agendado",
    "data_de_inicio": "2030-01-01 10:00:00",
    "total_de_contatos": "42",
}
SUMMARY = {
    "campaign_id": "c1",
    "codigo": "7",
    "message_id": "m1",
    "status": "Agendado",
    "scheduled_for": "2030-01-01T10:00:00-03:00",
    "total_contacts": 42,
}


@pytest.fixture
def criaenvio(server, set_connection):
    return connect_criaenvio(server, set_connection)


def ctx(store: FakeTaskStateStore | None, try_number: int = 1, **ti: object) -> dict:
    return context(try_number, task_state_store=store, **{**CAMPAIGN_TI, **ti})


def calls(server) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/criaenvio/v1/")) for r in server.requests]


class StoreWatcher(FakeTaskStateStore):
    """A store that notes, at each write, how many requests the server had received."""

    def __init__(self, server, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.server = server
        self.written_after: dict[str, int] = {}

    def set(self, key, value, *, retention=None):
        super().set(key, value, retention=retention)
        self.written_after[key] = len(self.server.requests)


# ------------------------------------------------------------------------------------------ durable ids


def test_each_id_is_stored_right_after_its_create(server, criaenvio):
    store = StoreWatcher(server)
    script_create(server)
    result = create_op(start_at="2030-01-01T13:00:00+00:00").execute(ctx(store))
    assert calls(server)[3:] == [("POST", "mensagens"), ("POST", "envios")]
    # the message id is written before the campaign request, the campaign id right after its answer
    assert store.written_after == {MESSAGE_KEY: 4, CAMPAIGN_KEY: 5}
    assert store.get(MESSAGE_KEY) == {"emailbr": "criaenvio.message", "v": 1, "data": {"id": "m1"}}
    assert store.get(CAMPAIGN_KEY) == {
        "emailbr": "criaenvio.campaign",
        "v": 1,
        "data": {"id": "c1", "message_id": "m1"},
    }
    assert result["campaign_id"] == "c1" and result["message_id"] == "m1"


def test_a_retry_reattaches_to_the_stored_campaign_with_no_create_and_no_search(server, criaenvio):
    store = FakeTaskStateStore()
    store.set(
        CAMPAIGN_KEY, {"emailbr": "criaenvio.campaign", "v": 1, "data": {"id": "c1", "message_id": "m1"}}
    )
    server.reply(Reply(body={"data": CAMPAIGN}))
    result = create_op(start_at="2030-01-01T13:00:00+00:00").execute(ctx(store, try_number=2))
    assert calls(server) == [("GET", "envios/c1")]
    assert result == SUMMARY


def test_a_retry_with_a_stored_message_schedules_it_without_creating_another(server, criaenvio):
    store = FakeTaskStateStore()
    store.set(MESSAGE_KEY, {"emailbr": "criaenvio.message", "v": 1, "data": {"id": "m1"}})
    server.reply(
        Reply(body=page([])),  # no campaign of m1 yet
        Reply(body=page([{"id": "s1", "email": "a@b.com.br", "principal": True, "confirmado": True}])),
        Reply(body=page([{"id": "L1", "nome": "Clientes", "ativo": True}])),
        Reply(body={"data": {"OK": "OK"}}),  # the message brought up to date
        Reply(body={"data": CAMPAIGN}),
    )
    result = create_op(start_at="2030-01-01T13:00:00+00:00").execute(ctx(store, try_number=2))
    assert calls(server) == [
        ("GET", "envios"),
        ("GET", "remetentes"),
        ("GET", "grupos"),
        ("PUT", "mensagens/m1"),
        ("POST", "envios"),
    ]
    assert result == SUMMARY
    assert store.get(CAMPAIGN_KEY)["data"] == {"id": "c1", "message_id": "m1"}


def test_a_lost_create_answer_falls_back_to_the_name_key_and_stores_what_it_finds(server, criaenvio):
    store = FakeTaskStateStore()
    key = idempotency_key(CAMPAIGN_TI["dag_id"], CAMPAIGN_TI["task_id"], CAMPAIGN_TI["run_id"], -1)
    # the earlier try's message create was processed but its answer lost: nothing was stored
    server.reply(
        Reply(body=page([{"id": "m1", "nome": f"x [{key}]", "contador": "1"}])),
        Reply(body=page([CAMPAIGN])),
    )
    result = create_op(start_at="2030-01-01T13:00:00+00:00").execute(ctx(store, try_number=2))
    assert calls(server) == [("GET", "mensagens"), ("GET", "envios")]
    assert result == SUMMARY
    assert store.get(CAMPAIGN_KEY)["data"] == {"id": "c1", "message_id": "m1"}


@pytest.mark.parametrize("operation", ["get", "set"])
def test_an_unreachable_store_fails_before_anything_is_created(server, criaenvio, operation):
    store = FakeTaskStateStore(fail_on=(operation,))
    script_create(server)
    with pytest.raises(EmailBRStateStoreError, match="task state store could not be"):
        create_op(start_at="2030-01-01T13:00:00+00:00").execute(ctx(store))
    assert ("POST", "envios") not in calls(server)
    if operation == "get":
        assert calls(server) == []  # read before any request
    else:
        assert calls(server)[-1] == ("POST", "mensagens")  # stopped at the first write, before the campaign


@pytest.mark.parametrize(
    "stored",
    [
        {"emailbr": "criaenvio.campaign", "v": 2, "data": {"id": "c1", "message_id": "m1"}},
        {"emailbr": "send", "v": 1, "data": {}},
        {"emailbr": "criaenvio.campaign", "v": 1, "data": {"id": 5}},
        "c1",
    ],
)
def test_a_corrupt_entry_is_a_clear_error_and_nothing_is_requested(server, criaenvio, stored):
    store = FakeTaskStateStore()
    store.set(CAMPAIGN_KEY, stored)
    with pytest.raises(EmailBRStateCorruptError, match="emailbr.campaign.campaign"):
        create_op().execute(ctx(store, try_number=2))
    assert server.requests == []


def test_durable_false_ignores_the_store(server, criaenvio):
    store = FakeTaskStateStore()
    script_create(server)
    create_op(durable=False, start_at="2030-01-01T13:00:00+00:00").execute(ctx(store))
    assert store.values == {} and store.writes == 0


# ------------------------------------------------------------------------------------------ the two halves


def test_schedule_false_creates_only_the_message_and_returns_its_id(server, criaenvio):
    store = FakeTaskStateStore()
    server.reply(Reply(body=page([])), Reply(body={"data": {"id": "m9", "contador": "1"}}))
    op = CriaEnvioCreateCampaignOperator(
        task_id="create_message", subject="Oi", html="<p>Oi</p>", schedule=False
    )
    assert op.execute(ctx(store)) == "m9"
    assert calls(server) == [("GET", "mensagens"), ("POST", "mensagens")]
    assert store.get(MESSAGE_KEY)["data"] == {"id": "m9"}
    # a retry reuses it: no second message
    server.requests.clear()
    server.reply(Reply(body={"data": {"OK": "OK"}}))
    assert op.execute(ctx(store, try_number=2)) == "m9"
    assert calls(server) == [("PUT", "mensagens/m9")]


def test_message_id_schedules_the_existing_message_once(server, criaenvio):
    op = CriaEnvioCreateCampaignOperator(
        task_id="schedule", message_id="m1", list_ids=["L1"], start_at="2030-01-01T13:00:00+00:00"
    )
    server.reply(
        Reply(body=page([])),
        Reply(body=page([{"id": "s1", "email": "a@b.com.br", "principal": True, "confirmado": True}])),
        Reply(body=page([{"id": "L1", "nome": "Clientes", "ativo": True}])),
        Reply(body={"data": CAMPAIGN}),
    )
    assert op.execute(ctx(None)) == SUMMARY
    assert calls(server) == [("GET", "envios"), ("GET", "remetentes"), ("GET", "grupos"), ("POST", "envios")]
    assert server.requests[-1].json == {
        "mensagem": "m1",
        "listas": "L1",
        "data_de_inicio": "01/01/2030 10:00",
    }
    # run again (3.2, no store): the message's campaign is found, nothing is created
    server.requests.clear()
    server.reply(Reply(body=page([CAMPAIGN])))
    assert op.execute(ctx(None, try_number=2)) == SUMMARY
    assert calls(server) == [("GET", "envios")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": False, "list_ids": ["L1"]}, "list_ids=\\['L1'\\] would not be used"),
        ({"schedule": False, "message_id": "m1"}, "message_id would not be used"),
        ({"message_id": "m1", "subject": "Oi", "list_ids": "L1"}, "subject would not be used"),
        ({"message_id": "m1", "send_test": True, "list_ids": "L1"}, "send_test would not be used"),
        ({"schedule": "no", "list_ids": "L1"}, "schedule must be True or False"),
    ],
)
def test_the_halves_refuse_arguments_they_would_not_use(kwargs, message):
    with pytest.raises(EmailBRInputError, match=message):
        CriaEnvioCreateCampaignOperator(task_id="t", **kwargs)


# ------------------------------------------------------------------------------------------ send test

TEST_LIST = {"id": "T1", "nome": "Lista Teste", "ativo": True, "contatos_ativos": "2"}


def script_send_test(server) -> None:
    server.reply(
        Reply(body={"data": {"id": "m1", "assunto": "Ofertas de dezembro"}}),
        Reply(body=page([TEST_LIST])),
        Reply(
            body={
                "data": {
                    **TEST_LIST,
                    "contatos": {
                        "data": [
                            {"id": "a", "email": "ana.souza@exemplo.com.br"},
                            {"id": "b", "email": "bo@x.com"},
                        ]
                    },
                }
            }
        ),
        Reply(body=page([{"id": "L1", "nome": "Clientes", "ativo": True, "contatos_ativos": "1200"}])),
        Reply(body={"data": {"OK": "OK"}}),
    )


def test_send_test_reads_then_sends_once_and_reports_for_the_approver(server, criaenvio):
    store = FakeTaskStateStore()
    script_send_test(server)
    op = CriaEnvioSendTestOperator(task_id="preview", message_id="m1", list_names=["Clientes"])
    result = op.execute(ctx(store))
    assert calls(server) == [
        ("GET", "mensagens/m1"),
        ("GET", "grupos"),
        ("GET", "grupos/T1"),
        ("GET", "grupos"),
        ("GET", "mensagens/m1/lista_teste"),
    ]
    assert dict(server.requests[1].query) == {
        "nome": "Lista Teste",
        "page": "1",
        "number": "100",
        "chave": KEY,
    }
    assert dict(server.requests[2].query) == {"embeds": "contatos", "status": "ativos", "chave": KEY}
    assert result == {
        "message_id": "m1",
        "subject": "Ofertas de dezembro",
        "test_send": "sent",
        "test_list": {"id": "T1", "name": "Lista Teste", "active_contacts": 2},
        "test_recipients": [result["test_recipients"][0], result["test_recipients"][1]],
        "lists": [{"id": "L1", "name": "Clientes", "active_contacts": 1200}],
        "audience_contacts": 1200,
    }
    assert all("ana.souza" not in r and "@" in r for r in result["test_recipients"])
    assert store.get("emailbr.send_test.test_send")["data"] == "sent"
    # a retry reads again but does not send again
    server.requests.clear()
    script_send_test(server)
    assert op.execute(ctx(store, try_number=2))["test_send"] == "sent_earlier"
    assert ("GET", "mensagens/m1/lista_teste") not in calls(server)


def test_send_test_after_a_lost_answer_is_not_repeated(server, criaenvio):
    store = FakeTaskStateStore()
    script_send_test(server)
    server.replies[-1] = Reply(drop=True)
    op = CriaEnvioSendTestOperator(task_id="preview", message_id="m1", list_ids=["L1"])
    with pytest.raises(EmailBRTransportError):
        op.execute(ctx(store))
    assert store.get("emailbr.send_test.test_send")["data"] == "requested"
    server.requests.clear()
    script_send_test(server)
    assert op.execute(ctx(store, try_number=2))["test_send"] == "unknown"
    assert ("GET", "mensagens/m1/lista_teste") not in calls(server)


def test_send_test_refuses_an_empty_test_list_before_sending(server, criaenvio):
    server.reply(
        Reply(body={"data": {"id": "m1", "assunto": "Oi"}}),
        Reply(body=page([{**TEST_LIST, "contatos_ativos": "0"}])),
        Reply(body={"data": {**TEST_LIST, "contatos_ativos": "0", "contatos": {"data": []}}}),
    )
    with pytest.raises(EmailBRInputError, match="'Lista Teste' has no active contacts"):
        CriaEnvioSendTestOperator(task_id="preview", message_id="m1").execute(ctx(None))
    assert ("GET", "mensagens/m1/lista_teste") not in calls(server)


def test_a_stored_campaign_that_no_longer_exists_is_a_clear_error_and_nothing_is_created(server, criaenvio):
    store = FakeTaskStateStore()
    store.set(
        CAMPAIGN_KEY, {"emailbr": "criaenvio.campaign", "v": 1, "data": {"id": "c1", "message_id": "m1"}}
    )
    not_found = {
        "error": {"code": "01-NAO-ENCONTRADO", "http_code": 404, "message": "Registro não encontrado."}
    }
    server.reply(Reply(status=404, body=not_found))
    with pytest.raises(EmailBRInputError, match="campaign c1 .*no longer has it"):
        create_op().execute(ctx(store, try_number=2))
    assert calls(server) == [("GET", "envios/c1")]


def test_send_test_of_an_unknown_message_fails_before_sending(server, criaenvio):
    not_found = {
        "error": {"code": "01-NAO-ENCONTRADO", "http_code": 404, "message": "Mensagem não encontrada."}
    }
    server.reply(Reply(status=404, body=not_found))
    with pytest.raises(EmailBRInputError, match="message_id: CriaEnvio has no message 'zz'"):
        CriaEnvioSendTestOperator(task_id="preview", message_id="zz").execute(ctx(FakeTaskStateStore()))
    assert calls(server) == [("GET", "mensagens/zz")]
