"""CriaEnvio campaign operators against the recording server: wire format and date conversion, validation
before any request, templating, control transitions, and the reading of campaign status and statistics.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pendulum
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from airflow_provider_emailbr.hooks.criaenvio import campaign_progress, campaign_stats, campaign_status
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCampaignStateError,
    CriaEnvioCreateCampaignOperator,
    idempotency_key,
    outcome_unknown,
)
from airflow_provider_emailbr.sensors.criaenvio import (
    CriaEnvioCampaignSensor,
)
from airflow_provider_emailbr.triggers.criaenvio import CriaEnvioCampaignTrigger
from tests.conftest import Reply
from tests.unit.criaenvio_campaign_doubles import (
    KEY,
    connect_criaenvio,
    create_op,
    ctx,
    page,
    script_create,
    view,
)
from tests.unit.operators.hostile import (
    ANY_VALUE,
    SETTINGS,
    START_AT,
    TEXT,
    WRONG,
    run_hostile,
)


@pytest.fixture
def criaenvio(server, set_connection):
    """``criaenvio_default`` on the recording server; call the fixture's value to change its zone."""
    return connect_criaenvio(server, set_connection)


# ------------------------------------------------------------------------------------------ idempotency key


def test_idempotency_key_is_stable_and_distinguishes_every_component():
    base = idempotency_key("d", "t", "r", -1)
    assert base == idempotency_key("d", "t", "r", -1) == idempotency_key("d", "t", "r", None)
    assert base.startswith("airflow-key:") and len(base) == len("airflow-key:") + 24
    others = {
        idempotency_key("d2", "t", "r", -1),
        idempotency_key("d", "t2", "r", -1),
        idempotency_key("d", "t", "r2", -1),
        idempotency_key("d", "t", "r", 0),
        idempotency_key("d", "t", "r", 1),
        idempotency_key("dt", "", "r", -1),
    }
    assert base not in others and len(others) == 6


# ------------------------------------------------------------------------------------------ create: wire format


def test_create_sends_documented_requests_in_order(server, criaenvio):
    script_create(server)
    result = create_op(
        name="Newsletter",
        reply_to="resposta@exemplo.com.br",
        unsubscribe_message="Sair",
        sender="LOJA@exemplo.com.br",
        start_at="2030-01-01T13:00:00+00:00",
    ).execute(ctx())
    key = idempotency_key("newsletter", "create_campaign", "manual__2030-01-01T00:00:00+00:00", -1)
    calls = [(r.method, r.path) for r in server.requests]
    assert calls == [
        ("GET", "/criaenvio/v1/mensagens"),
        ("GET", "/criaenvio/v1/remetentes"),
        ("GET", "/criaenvio/v1/grupos"),
        ("POST", "/criaenvio/v1/mensagens"),
        ("POST", "/criaenvio/v1/envios"),
    ]
    lookup, _, lists, message, campaign = server.requests
    assert dict(lookup.query) == {"nome": key, "page": "1", "number": "100", "chave": KEY}
    assert dict(lists.query)["id"] == "L1"
    assert message.headers["Content-Type"] == "application/json"
    assert message.json == {
        "assunto": "Ofertas",
        "html": "<p>Olá</p>",
        "nome": f"Newsletter [{key}]",
        "email_resposta": "resposta@exemplo.com.br",
        "mensagem_descadastro": "Sair",
    }
    assert campaign.json == {
        "mensagem": "m1",
        "listas": "L1",
        "data_de_inicio": "01/01/2030 10:00",
        "remetente": "s1",
    }
    assert result == {
        "campaign_id": "c1",
        "codigo": "7",
        "message_id": "m1",
        "status": "Em criação",
        "scheduled_for": "2030-01-01T10:00:00-03:00",
        "total_contacts": 42,
    }


@pytest.mark.parametrize("start_at", [None, "now", "agora", " NOW "])
def test_create_now_sends_agora_and_default_name(server, criaenvio, start_at):
    script_create(server)
    create_op(start_at=start_at).execute(ctx())
    message, campaign = server.requests[-2:]
    assert campaign.json == {"mensagem": "m1", "listas": "L1", "data_de_inicio": "agora"}
    assert message.json["nome"].startswith("newsletter.create_campaign [airflow-key:")
    assert set(message.json) == {"assunto", "html", "nome"}


SP, NY, LX = "America/Sao_Paulo", "America/New_York", "Europe/Lisbon"


@pytest.mark.parametrize(
    ("tz", "start_at", "wire"),
    [
        # New York: DST starts 2030-03-10 02:00 EST (07:00Z) and ends 2030-11-03 02:00 EDT (06:00Z)
        (NY, "2030-03-10T06:59:00Z", "10/03/2030 01:59"),
        (NY, "2030-03-10T07:00:00Z", "10/03/2030 03:00"),
        (NY, datetime(2030, 11, 3, 5, 30, tzinfo=timezone.utc), "03/11/2030 01:30"),  # first 01:30 (EDT)
        (NY, datetime(2030, 11, 3, 6, 30, tzinfo=timezone.utc), "03/11/2030 01:30"),  # second 01:30 (EST)
        (NY, pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC"), "01/07/2030 08:00"),
        (NY, pendulum.datetime(2030, 1, 1, 12, 0, tz="UTC"), "01/01/2030 07:00"),
        # Lisbon: DST from 2030-03-31 01:00Z to 2030-10-27 01:00Z
        (LX, "2030-03-31T00:30:00+00:00", "31/03/2030 00:30"),
        (LX, "2030-03-31T01:30:00+00:00", "31/03/2030 02:30"),
        (LX, "2030-10-27T00:30:00+00:00", "27/10/2030 01:30"),
        (LX, "2030-10-27T01:30:00+00:00", "27/10/2030 01:30"),
        # year boundary: the UTC new year is still the old year in Brazil, and the reverse from Asia
        (SP, "2031-01-01T01:30:00Z", "31/12/2030 22:30"),
        (SP, "2030-12-31T23:30:00-03:00", "31/12/2030 23:30"),
        (SP, "2031-01-01T08:00:00+09:00", "31/12/2030 20:00"),
        (SP, pendulum.datetime(2031, 1, 1, 0, 0, tz="Asia/Tokyo"), "31/12/2030 12:00"),
        # naive datetimes and offset-less strings are already local to the connection's zone
        (SP, datetime(2030, 12, 31, 23, 59), "31/12/2030 23:59"),
        (NY, "2030-03-10T01:59:00", "10/03/2030 01:59"),
        (LX, datetime(2030, 6, 1, 9, 15), "01/06/2030 09:15"),
    ],
)
def test_create_converts_start_at_to_the_connection_zone(server, criaenvio, tz, start_at, wire):
    criaenvio(tz)
    script_create(server)
    create_op(start_at=start_at).execute(ctx())
    assert server.requests[-1].json["data_de_inicio"] == wire


def test_scheduled_for_carries_the_zone_offset_across_dst(server, criaenvio):
    criaenvio(NY)
    script_create(server, data_de_inicio="2030-07-01 08:00:00")
    summer = create_op(start_at="2030-07-01T12:00:00Z").execute(ctx())
    script_create(server, data_de_inicio="2030-01-01 07:00:00")
    winter = create_op(start_at="2030-01-01T12:00:00Z").execute(ctx(run_id="r2"))
    assert summer["scheduled_for"] == "2030-07-01T08:00:00-04:00"
    assert winter["scheduled_for"] == "2030-01-01T07:00:00-05:00"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_at": "2021-06-01T10:00:00-03:00"}, "start_at: 2021-06-01T10:00:00-03:00 is in the past"),
        ({"start_at": pendulum.now("UTC").subtract(minutes=2)}, "is in the past"),
        ({"start_at": "next tuesday"}, "start_at: 'next tuesday' is not a date-time"),
        ({"start_at": 12345}, "start_at: expected a datetime"),
        ({"subject": "  "}, "subject: a non-empty text is required"),
        ({"html": ""}, "html: a non-empty text is required"),
        ({"reply_to": "not an address"}, "reply_to: '***' is not an e-mail address"),
    ],
)
def test_create_refuses_invalid_input_before_any_request(server, criaenvio, kwargs, message):
    with pytest.raises(EmailBRInputError, match=re.escape(message)):
        create_op(**kwargs).execute(ctx())
    assert server.requests == []


def test_create_requires_exactly_one_audience_at_construction():
    with pytest.raises(EmailBRInputError, match="give exactly one of list_ids"):
        CriaEnvioCreateCampaignOperator(task_id="x", subject="s", html="h")
    with pytest.raises(EmailBRInputError, match="give exactly one of list_ids"):
        CriaEnvioCreateCampaignOperator(task_id="x", subject="s", html="h", list_ids="a", list_names="b")


def test_unconfirmed_sender_is_refused_before_anything_is_created(server, criaenvio):
    script_create(server)
    with pytest.raises(EmailBRInputError, match=r"sender: p\*\*\*@exemplo.com.br \(id s2\) is not confirmed"):
        create_op(sender="pend@exemplo.com.br").execute(ctx())
    assert [r.method for r in server.requests] == ["GET", "GET"]


def test_unconfirmed_main_sender_is_refused_when_no_sender_is_given(server, criaenvio):
    script_create(
        server, senders=[{"id": "s9", "email": "main@exemplo.com.br", "principal": "1", "confirmado": "0"}]
    )
    with pytest.raises(
        EmailBRInputError, match=r"main sender m\*\*\*@exemplo.com.br \(id s9\) is not confirmed"
    ):
        create_op().execute(ctx())
    assert all(r.method == "GET" for r in server.requests)


def test_unknown_sender_names_the_known_ones_masked(server, criaenvio):
    script_create(server)
    with pytest.raises(EmailBRInputError) as info:
        create_op(sender="outro@exemplo.com.br").execute(ctx())
    assert "o***@exemplo.com.br is neither the id nor the e-mail" in str(info.value)
    assert "s1 (l***@exemplo.com.br)" in str(info.value) and "loja@" not in str(info.value)


def test_list_names_resolve_exactly_then_case_insensitively(server, criaenvio):
    script_create(server, lists=[{"id": "L1", "nome": "Clientes"}, {"id": "L2", "nome": "VIP"}])
    create_op(list_ids=None, list_names="Clientes, vip").execute(ctx())
    assert server.requests[-1].json["listas"] == "L1,L2"


@pytest.mark.parametrize(
    ("lists", "names", "message"),
    [
        (
            [{"id": "L1", "nome": "Clientes"}],
            ["Leads"],
            "list_names: no active list is named 'Leads'; active lists: 'Clientes'",
        ),
        (
            [{"id": "L1", "nome": "A"}, {"id": "L2", "nome": "A"}],
            ["A"],
            "2 active lists are named 'A' \\(ids L1, L2\\)",
        ),
    ],
)
def test_unknown_or_ambiguous_list_name_is_an_error_before_any_write(
    server, criaenvio, lists, names, message
):
    script_create(server, lists=lists)
    with pytest.raises(EmailBRInputError, match=message):
        create_op(list_ids=None, list_names=names).execute(ctx())
    assert all(r.method == "GET" for r in server.requests)


def test_unknown_list_id_is_an_error_before_any_write(server, criaenvio):
    script_create(server, lists=[{"id": "L1", "nome": "Clientes"}])
    with pytest.raises(EmailBRInputError, match=r"list_ids: \['L9'\] are not active lists"):
        create_op(list_ids="L1,L9").execute(ctx())
    assert all(r.method == "GET" for r in server.requests)


def test_oversized_message_raises_the_vendor_reason_and_schedules_nothing(server, criaenvio):
    server.reply(
        Reply(body=page([])),
        Reply(body=page([{"id": "s1", "email": "a@b.com", "principal": True, "confirmado": True}])),
        Reply(body=page([{"id": "L1", "nome": "Clientes"}])),
        Reply(
            status=400,
            body={
                "error": {
                    "code": "02-ARGUMENTOS-INVALIDOS",
                    "http_code": 400,
                    "message": "Tamanho de mensagem excedido.",
                }
            },
        ),
    )
    with pytest.raises(EmailBRError, match="Tamanho de mensagem excedido"):
        create_op(html="x" * 10_000).execute(ctx())
    assert [r.path for r in server.requests][-1] == "/criaenvio/v1/mensagens"


# ------------------------------------------------------------------------------------------ templating


def test_html_file_and_start_at_are_rendered(tmp_path, server, criaenvio):
    (tmp_path / "oferta.html").write_text("<h1>Oferta de {{ ds }}</h1>", encoding="utf-8")
    with DAG("tpl", schedule=None, template_searchpath=[str(tmp_path)]):
        op = create_op(
            html="oferta.html",
            subject="Oferta {{ ds }}",
            start_at="{{ data_interval_end.add(hours=2) }}",
            list_ids="{{ params.lista }}",
        )
    end = pendulum.datetime(2030, 12, 31, 23, 30, tz="UTC")
    op.render_template_fields({"ds": "2030-12-31", "data_interval_end": end, "params": {"lista": "L1"}})
    assert op.html == "<h1>Oferta de 2030-12-31</h1>"
    assert op.subject == "Oferta 2030-12-31"
    script_create(server)
    op.execute(ctx())
    message, campaign = server.requests[-2:]
    assert message.json["html"] == "<h1>Oferta de 2030-12-31</h1>"
    assert campaign.json["data_de_inicio"] == "31/12/2030 22:30"  # 2031-01-01T01:30Z in São Paulo


def test_constructing_operators_touches_no_connection(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CRIAENVIO_DEFAULT", raising=False)
    create_op(criaenvio_conn_id="does_not_exist")
    CriaEnvioCampaignControlOperator(task_id="c", campaign_id="x", action="pause", criaenvio_conn_id="nope")
    CriaEnvioCampaignSensor(task_id="s", campaign_id="x", criaenvio_conn_id="nope")
    CriaEnvioCampaignTrigger(campaign_id="x", criaenvio_conn_id="nope")


# ------------------------------------------------------------------------------------------ control


@pytest.mark.parametrize(
    ("action", "before", "request_path", "after"),
    [
        ("pause", "Agendado", ("GET", "/criaenvio/v1/envios/c1/pausar"), "Suspenso"),
        ("pause", "Enviando", ("GET", "/criaenvio/v1/envios/c1/pausar"), "Suspenso"),
        ("cancel", "Suspenso", ("GET", "/criaenvio/v1/envios/c1/cancelar"), "Cancelado"),
        ("resume", "Suspenso", ("POST", "/criaenvio/v1/envios/c1/retomar"), "Enviando"),
    ],
)
def test_control_applies_the_transition(server, criaenvio, action, before, request_path, after):
    server.reply(Reply(body=view(before)), Reply(body={"data": {"OK": "OK"}}), Reply(body=view(after)))
    result = CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action=action).execute(ctx())
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/criaenvio/v1/envios/c1"),
        request_path,
        ("GET", "/criaenvio/v1/envios/c1"),
    ]
    if action == "resume":
        assert server.requests[1].json == {"data": "agora"}
    assert result == {
        "campaign_id": "c1",
        "action": action,
        "previous_status": before,
        "status": after,
        "changed": True,
    }


@pytest.mark.parametrize(
    ("action", "status"),
    [("pause", "Suspenso"), ("cancel", "Cancelado"), ("resume", "Enviando"), ("resume", "Agendado")],
)
def test_control_is_a_no_op_when_already_in_the_target_state(server, criaenvio, action, status):
    server.reply(Reply(body=view(status)))
    result = CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action=action).execute(ctx())
    assert len(server.requests) == 1 and server.requests[0].method == "GET"
    assert result["changed"] is False and result["status"] == status


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("pause", "Concluído"),
        ("pause", "Cancelado"),
        ("cancel", "Concluído"),
        ("resume", "Cancelado"),
        ("resume", "Concluído"),
    ],
)
def test_control_refuses_impossible_transitions_without_retries(server, criaenvio, action, status):
    server.reply(Reply(body=view(status)))
    with pytest.raises(
        CriaEnvioCampaignStateError, match=f"Cannot {action} CriaEnvio campaign c1: its status is '{status}'"
    ) as info:
        CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action=action).execute(ctx())
    assert isinstance(info.value, AirflowFailException)
    assert len(server.requests) == 1


def test_resume_at_reschedules_a_scheduled_campaign_in_the_connection_zone(server, criaenvio):
    criaenvio(LX)
    server.reply(
        Reply(body=view("Agendado")), Reply(body={"data": {"OK": "OK"}}), Reply(body=view("Agendado"))
    )
    result = CriaEnvioCampaignControlOperator(
        task_id="c", campaign_id="c1", action="resume", resume_at="2030-10-27T01:30:00Z"
    ).execute(ctx())
    assert server.requests[1].json == {"data": "27/10/2030 01:30"}
    assert result["changed"] is True


def test_control_validates_action_and_resume_at_before_any_request(server, criaenvio):
    with pytest.raises(
        EmailBRInputError, match="action: 'stop' is not allowed; use one of pause, cancel, resume"
    ):
        CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action="stop")
    with pytest.raises(EmailBRInputError, match="resume_at: only the 'resume' action takes a time"):
        CriaEnvioCampaignControlOperator(
            task_id="c", campaign_id="c1", action="pause", resume_at="2030-01-01"
        )
    templated = CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action="{{ params.a }}")
    templated.action = "halt"
    with pytest.raises(EmailBRInputError, match="action: 'halt'"):
        templated.execute(ctx())
    past = CriaEnvioCampaignControlOperator(
        task_id="c", campaign_id="c1", action="resume", resume_at="2001-01-01T00:00:00Z"
    )
    with pytest.raises(EmailBRInputError, match="resume_at: .* is in the past"):
        past.execute(ctx())
    assert server.requests == []


def test_lost_answer_of_pausar_is_checked_by_reading_again(server, criaenvio):
    server.reply(
        Reply(body=view("Enviando")),
        Reply(drop=True),
        Reply(body=view("Suspenso")),
        Reply(body=view("Suspenso")),
    )
    result = CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action="pause").execute(ctx())
    assert [r.path for r in server.requests].count("/criaenvio/v1/envios/c1/pausar") == 1
    assert result["status"] == "Suspenso" and result["changed"] is True


def test_lost_answer_of_cancelar_that_did_not_apply_is_raised(server, criaenvio):
    server.reply(Reply(body=view("Enviando")), Reply(drop=True), Reply(body=view("Enviando")))
    with pytest.raises(EmailBRError, match="connection dropped"):
        CriaEnvioCampaignControlOperator(task_id="c", campaign_id="c1", action="cancel").execute(ctx())
    assert [r.path for r in server.requests].count("/criaenvio/v1/envios/c1/cancelar") == 1


# ------------------------------------------------------------------------------------------ status and stats


def test_campaign_status_and_stats_normalise_the_view():
    assert campaign_status("Concluido") == campaign_status("CONCLUÍDO") == campaign_status(2) == "Concluído"
    assert campaign_status("5") == "Em criação" and campaign_status("???") == "???"
    stats = campaign_stats(
        {
            "id": "c1",
            "codigo": 3,
            "status": "concluido",
            "data_de_inicio": "2030-01-01 10:00:00",
            "data_de_termino": None,
            "total_de_contatos": "10",
            "total_enviado": 10,
            "taxa_de_abertura": "12.50",
            "porcentagem_de_conclusao": "100.00",
        },
        NY,
    )
    assert stats["status"] == "Concluído" and stats["codigo"] == "3"
    assert stats["started_at"] == "2030-01-01T10:00:00-05:00" and stats["finished_at"] is None
    assert stats["total_de_contatos"] == 10 and stats["taxa_de_abertura"] == 12.5
    assert stats["cliques_unicos"] is None
    json.dumps(stats)
    assert campaign_progress(stats) == "status Concluído, 100.00% complete, sent 10 of 10"


def test_outcome_unknown_classification():
    from airflow_provider_emailbr.exceptions import EmailBRServerError, EmailBRTransportError

    def transport(sent: bool, permanent: bool = False) -> EmailBRTransportError:
        return EmailBRTransportError(
            "x", platform="CriaEnvio", endpoint="envios", request_sent=sent, permanent=permanent
        )

    def server_error(status: int) -> EmailBRServerError:
        return EmailBRServerError(platform="CriaEnvio", endpoint="envios", status=status)

    assert outcome_unknown(transport(True)) and not outcome_unknown(transport(False))
    assert not outcome_unknown(transport(True, permanent=True))
    assert outcome_unknown(server_error(500)) and outcome_unknown(server_error(504))
    assert not outcome_unknown(server_error(503)) and not outcome_unknown(EmailBRInputError("x"))


# ------------------------------------------------------------------------------------------ hostile input
# (the property and strategies: tests/unit/operators/hostile.py)

LIST_IDS = st.one_of(TEXT, WRONG, st.lists(st.one_of(TEXT, WRONG), max_size=3))


@SETTINGS
@given(
    subject=ANY_VALUE,
    html=ANY_VALUE,
    list_ids=LIST_IDS,
    name=ANY_VALUE,
    reply_to=ANY_VALUE,
    unsubscribe=ANY_VALUE,
    start_at=START_AT,
)
def test_create_campaign_refuses_bad_parameters_before_any_request(
    conns, subject, html, list_ids, name, reply_to, unsubscribe, start_at
):
    op = CriaEnvioCreateCampaignOperator(
        task_id="op",
        subject=subject,
        html=html,
        list_ids=list_ids if list_ids is not None else "L1",
        name=name,
        reply_to=reply_to,
        unsubscribe_message=unsubscribe,
        start_at=start_at,
    )
    run_hostile(conns, op)
    assert all(r.method == "GET" for r in conns.requests)  # the default answer {} stops before any write


@SETTINGS
@given(campaign_id=ANY_VALUE, action=ANY_VALUE, resume_at=START_AT)
def test_campaign_control_refuses_bad_parameters_before_any_request(conns, campaign_id, action, resume_at):
    try:
        op = CriaEnvioCampaignControlOperator(
            task_id="op", campaign_id=campaign_id, action=action, resume_at=resume_at
        )
    except EmailBRInputError as err:
        assert str(err).startswith(("action: ", "resume_at: "))
        return
    run_hostile(conns, op)
    for request in conns.requests:
        assert request.path.startswith("/v1/envios/")
