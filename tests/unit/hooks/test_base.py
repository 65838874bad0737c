"""The shared HTTP core: connections, retries, error mapping, pagination and encodings."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import (
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRRateLimitError,
    EmailBRRefusedError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.encoding import php_form_encode, php_form_pairs
from airflow_provider_emailbr.utils.retry import RetryPolicy, parse_retry_after
from tests.conftest import Reply


class SleepRecorder:
    """Stands in for time.sleep so retry waits are observable and instant."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def criaenvio(server, set_connection, sleeps):
    set_connection("criaenvio_default", conn_type="criaenvio", host=f"{server.url}/v1/", password="ck")
    return CriaEnvioHook(retry_policy=RetryPolicy(max_retries=3, backoff_base=0.01, sleep=sleeps))


# ------------------------------------------------------------------------------------------ connections


def test_constructing_a_hook_reads_nothing(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("connection read at construction")

    monkeypatch.setattr(CriaEnvioHook, "get_connection", boom)
    hook = CriaEnvioHook(criaenvio_conn_id="whatever")
    assert hook.criaenvio_conn_id == "whatever"
    assert "session" not in hook.__dict__


@pytest.mark.parametrize(
    ("hook_class", "conn_type", "fields", "message"),
    [
        (CriaEnvioHook, "criaenvio", {}, "has no API key (Password)"),
        (IAgenteEmailHook, "iagente_email", {}, "has no integration key (Password)"),
        (EnvieEmailHook, "envie_email", {"login": "p", "password": "q"}, "has no API base URL (Host)"),
        (EnvieEmailHook, "envie_email", {"host": "http://x/", "password": "q"}, "has no public-key (Login)"),
        (MailGridHook, "mailgrid", {"password": "q"}, "has no SMTP user (Login)"),
        (EmailManagerHook, "emailmanager", {}, "has no server token (Password)"),
    ],
)
def test_missing_required_field_names_connection_and_field(
    set_connection, hook_class, conn_type, fields, message
):
    set_connection("my_conn", conn_type=conn_type, **fields)
    with pytest.raises(EmailBRConfigError, match=re.escape(message)) as err:
        hook_class("my_conn").settings
    assert "'my_conn'" in str(err.value)


def test_default_base_url_and_host_forms(set_connection):
    set_connection("a", conn_type="criaenvio", password="k")
    assert CriaEnvioHook("a").settings.base_url == "https://api.criaenvio.com/v1/"
    set_connection("b", conn_type="criaenvio", password="k", host="http://127.0.0.1:8765/criaenvio/v1")
    assert CriaEnvioHook("b").settings.base_url == "http://127.0.0.1:8765/criaenvio/v1/"
    set_connection("c", conn_type="criaenvio", password="k", host="proxy.example", port=8443)
    assert CriaEnvioHook("c").settings.base_url == "https://proxy.example:8443/v1/"
    set_connection("d", conn_type="criaenvio", password="k", host="ftp://x/")
    with pytest.raises(EmailBRConfigError, match="not an http"):
        CriaEnvioHook("d").settings


def test_uri_form_connection_round_trips_a_full_url_host(monkeypatch):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="x", conn_type="criaenvio", host="http://127.0.0.1:8765/criaenvio/v1/", password="k/+="
    )
    monkeypatch.setenv("AIRFLOW_CONN_URI_CONN", conn.get_uri())
    settings = CriaEnvioHook("uri_conn").settings
    assert settings.base_url == "http://127.0.0.1:8765/criaenvio/v1/"
    assert settings.password == "k/+="


def test_extras_from_the_ui_may_be_strings(set_connection):
    set_connection("s", conn_type="criaenvio", password="k", extra={"timeout": "12.5", "max_retries": "2"})
    hook = CriaEnvioHook("s")
    assert hook.timeout == (10.0, 12.5)
    assert hook.retry_policy.max_retries == 2
    set_connection("t", conn_type="criaenvio", password="k", extra={"timeout": "soon"})
    with pytest.raises(EmailBRConfigError, match="extra 'timeout' must be a number, got 'soon'"):
        CriaEnvioHook("t").settings


def test_timeout_per_call_via_with_options(criaenvio, server):
    server.reply(Reply(body={"data": {"OK": "OK"}}, delay=0.5))
    with pytest.raises(EmailBRTransportError, match="no answer within 0.2 s") as err:
        criaenvio.with_options(timeout=0.2).pause_campaign("x")
    assert err.value.request_sent is True
    assert len(server.requests) == 1  # a state-changing GET is never repeated after a lost answer


# ------------------------------------------------------------------------------------------ retries


def test_read_is_retried_after_503_429_and_lost_answer(criaenvio, server, sleeps):
    server.reply(
        Reply(status=503, body="<html>down</html>"),
        Reply(status=429, body={"error": {"code": "x", "message": "slow"}}, headers={"Retry-After": "7"}),
        Reply(drop=True),
        Reply(body={"data": [{"id": "a"}], "pagination": {"current_page": 1, "total_pages": 1}}),
    )
    assert criaenvio.search_senders()["data"] == [{"id": "a"}]
    assert len(server.requests) == 4
    assert sleeps.waits[1] == 7.0  # Retry-After honoured
    assert 0 < sleeps.waits[0] < 1 and 0 < sleeps.waits[2] < 1


def test_non_idempotent_call_not_retried_after_lost_answer(criaenvio, server):
    server.reply(Reply(drop=True))
    with pytest.raises(EmailBRTransportError, match="may have been processed") as err:
        criaenvio.create_list(nome="Clientes")
    assert err.value.request_sent is True
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_non_idempotent_call_retried_when_certainly_not_processed(criaenvio, server, status):
    server.reply(Reply(status=status, body={}), Reply(body={"data": {"id": "L1"}}))
    assert criaenvio.create_list(nome="Clientes")["data"]["id"] == "L1"
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_non_idempotent_call_not_retried_on_other_5xx(criaenvio, server, status):
    server.reply(
        Reply(status=status, body={"error": {"code": "04-ERRO-INTERNO", "message": "Internal Error"}})
    )
    with pytest.raises(EmailBRServerError, match=f"HTTP {status}, code 04-ERRO-INTERNO: Internal Error"):
        criaenvio.create_list(nome="Clientes")
    assert len(server.requests) == 1


def test_connection_refused_is_retried_even_for_sends(set_connection, free_port, sleeps):
    set_connection(
        "mg",
        conn_type="mailgrid",
        host=f"http://127.0.0.1:{free_port}/",
        login="u",
        password="p",
        extra={"smtp_host": "h", "from_email": "r@x.com"},
    )
    hook = MailGridHook("mg", retry_policy=RetryPolicy(max_retries=2, backoff_base=0.01, sleep=sleeps))
    with pytest.raises(EmailBRTransportError, match="connection refused") as err:
        hook.send(to="a@x.com", subject="s", message="m")
    assert err.value.request_sent is False
    assert len(sleeps.waits) == 2


def test_retries_are_bounded_and_logged(criaenvio, server):
    from structlog.testing import capture_logs

    server.default = Reply(status=503, body={})
    with capture_logs() as events, pytest.raises(EmailBRServerError, match="HTTP 503"):
        criaenvio.get_campaign("x")
    assert len(server.requests) == 4  # first attempt + max_retries=3
    retries = [e["event"] for e in events if e["log_level"] == "warning"]
    assert len(retries) == 3
    assert "service unavailable (HTTP 503); retry 1 of 3" in retries[0]


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == 30.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_retry_after_is_capped():
    policy = RetryPolicy(max_retry_after=5)
    exc = EmailBRRateLimitError(platform="p", endpoint="e", status=429, retry_after=3600)
    assert policy.wait_seconds(exc, 1) == 5


# ------------------------------------------------------------------------------------------ error mapping


def test_criaenvio_errors_trust_the_real_status(criaenvio, server):
    server.reply(
        Reply(
            status=400,
            body={
                "error": {
                    "code": "02-ARGUMENTOS-INVALIDOS",
                    "http_code": 404,
                    "message": "Já existe um contato com este email. Tente atualizá-lo.",
                }
            },
        )
    )
    with pytest.raises(EmailBRValidationError) as err:
        criaenvio.create_contact(email="a@x.com")
    e = err.value
    assert (e.platform, e.endpoint, e.status, e.vendor_code) == (
        "CriaEnvio",
        "contatos",
        400,
        "02-ARGUMENTOS-INVALIDOS",
    )
    assert e.vendor_message == "Já existe um contato com este email. Tente atualizá-lo."
    server.reply(
        Reply(status=404, body={"error": {"code": "01-NAO-ENCONTRADO", "message": "Envio não encontrado."}})
    )
    with pytest.raises(EmailBRNotFoundError, match="Envio não encontrado"):
        criaenvio.get_campaign("zz")
    # a 401 about credits is a business refusal (EmailBRRefusedError), not an authentication failure
    server.reply(Reply(status=401, body={"error": {"code": "03-NAO-AUTORIZADO", "message": "créditos"}}))
    with pytest.raises(EmailBRRefusedError, match="code 03-NAO-AUTORIZADO: créditos") as refused:
        criaenvio.create_campaign(message_id="m", list_ids="l")
    assert not isinstance(refused.value, EmailBRAuthError)
    server.reply(
        Reply(status=401, body={"error": {"code": "03-NAO-AUTORIZADO", "message": "Chave inválida."}})
    )
    with pytest.raises(EmailBRAuthError, match="code 03-NAO-AUTORIZADO: Chave inválida"):
        criaenvio.get_campaign("zz")


def test_iagente_error_inside_http_200(set_connection, server):
    set_connection("i", conn_type="iagente_email", host=server.url, password="k")
    hook = IAgenteEmailHook("i", retry_policy=RetryPolicy(max_retries=0))
    server.reply(Reply(body={"status": "error", "message": "Não foi possível adicionar o grupo"}))
    with pytest.raises(
        EmailBRValidationError, match="group/create failed, HTTP 200, code error: Não foi possível"
    ):
        hook.create_group(name="x")
    server.reply(Reply(body={"status": "error", "message": "Chave de integração inválida"}))
    with pytest.raises(EmailBRAuthError):
        hook.list_groups()


def test_mailgrid_codes_inside_http_200(set_connection, server):
    set_connection("m", conn_type="mailgrid", host=server.url, login="u", password="p")
    hook = MailGridHook("m", retry_policy=RetryPolicy(max_retries=0))
    server.reply(Reply(body={"status": "ERRO: FALHA DE AUTENTICACAO", "codigo": "207"}))
    with pytest.raises(EmailBRAuthError, match="code 207: ERRO: FALHA DE AUTENTICACAO"):
        hook.report(start="2026-01-01T00:00", end="2026-01-01T00:01")
    server.reply(Reply(body={"status": "ERRO: DATA COM FORMATO INCORRETO", "codigo": "210"}))
    with pytest.raises(EmailBRValidationError, match="code 210"):
        hook.report(start="2026-01-01T00:00", end="2026-01-01T00:01")


def test_emailmanager_422_error_code(set_connection, server):
    set_connection("e", conn_type="emailmanager", host=server.url, password="t")
    hook = EmailManagerHook("e", retry_policy=RetryPolicy(max_retries=0))
    server.reply(Reply(status=422, body={"ErrorCode": 401, "Message": "Sender signature not confirmed"}))
    message = {"From": "p@x.com", "To": "a@x.com", "Subject": "s", "TextBody": "t"}
    with pytest.raises(EmailBRValidationError, match="HTTP 422, code 401: Sender signature not confirmed"):
        hook.send_email(message)
    server.reply(Reply(status=401, body=""))
    with pytest.raises(EmailBRAuthError, match="HTTP 401"):
        hook.delivery_stats()


def test_html_error_page_becomes_a_short_clear_error(criaenvio, server):
    page = "<html><body>" + "Bad gateway " * 5000 + "</body></html>"
    server.reply(Reply(status=400, body=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(EmailBRValidationError) as err:
        criaenvio.create_list(nome="x")
    assert "answer is not JSON: <html><body>Bad gateway" in str(err.value)
    assert len(str(err.value)) < 500


def test_non_json_success_and_truncated_json(criaenvio, server):
    server.reply(Reply(body="OK"), Reply(body='{"data": [1, 2'))
    with pytest.raises(EmailBRResponseError, match="answer is not JSON: 'OK'"):
        criaenvio.create_list(nome="x")
    with pytest.raises(EmailBRResponseError, match="not JSON"):
        criaenvio.create_list(nome="x")


def test_deeply_nested_json_is_an_error_not_a_crash(criaenvio, server):
    server.reply(Reply(body="[" * 100_000 + "]" * 100_000))
    with pytest.raises(EmailBRResponseError):
        criaenvio.create_list(nome="x")


def test_redirect_is_not_followed(criaenvio, server):
    server.reply(Reply(status=302, body="", headers={"Location": "http://evil.example/steal?chave=ck"}))
    with pytest.raises(
        EmailBRResponseError, match="redirect to http://evil.example/steal\\?chave=\\*\\*\\* not followed"
    ):
        criaenvio.get_campaign("x")
    assert len(server.requests) == 1


# ------------------------------------------------------------------------------------------ limits


def test_mailgrid_limits_checked_before_sending(set_connection, server):
    set_connection(
        "m",
        conn_type="mailgrid",
        host=server.url,
        login="u",
        password="p",
        extra={"smtp_host": "h", "from_email": "r@x.com"},
    )
    hook = MailGridHook("m")
    with pytest.raises(EmailBRInputError, match="101 recipients exceed MailGrid's limit of 100"):
        hook.send(to=[f"a{i}@x.com" for i in range(101)], subject="s", message="m")
    with pytest.raises(EmailBRInputError, match="bcc: 101 recipients"):
        hook.send(to="a@x.com", bcc=[f"a{i}@x.com" for i in range(101)], subject="s", message="m")
    from airflow_provider_emailbr.hooks.mailgrid import MailGridAttachment

    big = MailGridAttachment(name="big.bin", content=b"\0" * (38 * 1024 * 1024))
    with pytest.raises(EmailBRInputError, match="exceeds MailGrid's limit of 52,428,800 bytes"):
        hook.send(to="a@x.com", subject="s", message="m", attachments=[big])
    assert server.requests == []
    hook.send.__self__  # the hook is still usable
    set_connection("n", conn_type="mailgrid", host=server.url, login="u", password="p")
    with pytest.raises(EmailBRConfigError, match="no 'smtp_host' extra"):
        MailGridHook("n").send(to="a@x.com", subject="s", message="m", from_email="r@x.com")


def test_exactly_100_recipients_is_allowed(set_connection, server):
    set_connection(
        "m",
        conn_type="mailgrid",
        host=server.url,
        login="u",
        password="p",
        extra={"smtp_host": "h", "from_email": "r@x.com"},
    )
    server.reply(Reply(body={str(i): {"codigo": "200", "to": f"a{i}@x.com"} for i in range(100)}))
    assert (
        len(MailGridHook("m").send(to=[f"a{i}@x.com" for i in range(100)], subject="s", message="m")) == 100
    )


def test_emailmanager_limits_checked_before_sending(set_connection, server):
    set_connection(
        "e", conn_type="emailmanager", host=server.url, password="t", extra={"from_email": "r@x.com"}
    )
    hook = EmailManagerHook("e")
    ok = {"From": "r@x.com", "To": "a@x.com", "Subject": "s", "TextBody": "t"}
    with pytest.raises(EmailBRInputError, match="501 exceed emailManager's limit of 500 per batch"):
        hook.send_batch([ok] * 501)
    many = dict(
        ok, To=";".join(f"a{i}@x.com" for i in range(15)), Cc=", ".join(f"c{i}@x.com" for i in range(6))
    )
    with pytest.raises(EmailBRInputError, match=r"messages\[1\]: 21 recipients \(To \+ Cc \+ Bcc\) exceed"):
        hook.send_batch([ok, many])
    with pytest.raises(EmailBRInputError, match="give HtmlBody, TextBody or both"):
        hook.send_email({"From": "r@x.com", "To": "a@x.com", "Subject": "s"})
    assert server.requests == []
    server.reply(Reply(body=[{"ErrorCode": 0}] * 500))
    assert len(hook.send_batch([ok] * 500)) == 500
    twenty = dict(ok, To=",".join(f"a{i}@x.com" for i in range(20)))
    server.reply(Reply(body={"ErrorCode": 0}))
    hook.send_email(twenty)


def test_envie_attachment_rules(set_connection, server, tmp_path):
    from airflow_provider_emailbr.hooks.envie import EnvieAttachment

    set_connection(
        "v",
        conn_type="envie_email",
        host=server.url,
        login="a",
        password="b",
        extra={"from_email": "r@x.com"},
    )
    hook = EnvieEmailHook("v")
    args = {"to_email": "c@x.com", "subject": "s", "body": "b"}
    exe = EnvieAttachment(name="virus", content=b"x", mime="application/x-msdownload")
    with pytest.raises(EmailBRInputError, match="MIME type 'application/x-msdownload' is not accepted"):
        hook.send(**args, attachments=[exe])
    with pytest.raises(EmailBRInputError, match="without its extension"):
        hook.send(
            **args, attachments=[EnvieAttachment(name="boleto.pdf", content=b"x", mime="application/pdf")]
        )
    dup = EnvieAttachment(name="Boleto", content=b"x", mime="application/pdf")
    with pytest.raises(EmailBRInputError, match="used twice"):
        hook.send(
            **args, attachments=[dup, EnvieAttachment(name="boleto", content=b"y", mime="application/pdf")]
        )
    with pytest.raises(EmailBRInputError, match="missing subject"):
        hook.send(to_email="c@x.com", subject="", body="b")
    assert server.requests == []
    set_connection(
        "w",
        conn_type="envie_email",
        host=server.url,
        login="a",
        password="b",
        extra={"from_email": "r@x.com", "allowed_mime_types": "application/x-msdownload, text/csv"},
    )
    server.reply(Reply(body={"status": "success"}))
    EnvieEmailHook("w").send(**args, attachments=[exe])
    assert server.last.json["attachments"][0]["mime"] == "application/x-msdownload"


def test_input_validation_names_field_and_allowed_values(set_connection):
    set_connection("c", conn_type="criaenvio", password="k")
    hook = CriaEnvioHook("c")
    with pytest.raises(EmailBRInputError, match="sexo: 'x' is not allowed; use one of m, f"):
        hook.create_contact(email="a@x.com", sexo="x")
    with pytest.raises(EmailBRInputError, match="number: 101 must be an integer from 1 to 100"):
        hook.search_contacts(number=101)
    with pytest.raises(EmailBRInputError, match="start_at: .* is in the past"):
        hook.create_campaign(message_id="m", list_ids="l", start_at="2020-01-01T10:00:00-03:00")
    with pytest.raises(EmailBRInputError, match="data_de_nascimento: '31/02/1990' is not a date"):
        hook.create_contact(email="a@x.com", data_de_nascimento="31/02/1990")
    with pytest.raises(EmailBRInputError, match="status: 'Pronto' is not a campaign status"):
        hook.search_campaigns(status="Pronto")
    set_connection("i", conn_type="iagente_email", password="k")
    with pytest.raises(EmailBRInputError, match=r"unknown IAGENTEmail contact field\(s\) \['field11'\]"):
        IAgenteEmailHook("i").create_contact(email="a@x.com", group_id=1, field11="x")


# ------------------------------------------------------------------------------------------ pagination


def test_iter_pages_lazily(set_connection, server):
    set_connection("i", conn_type="iagente_email", host=server.url, password="k")
    hook = IAgenteEmailHook("i")
    server.reply(
        Reply(
            body={
                "status": "success",
                "current_page": 1,
                "last_page": 2,
                "data": [{"group_id": 1}, {"group_id": 2}],
            }
        ),
        Reply(body={"status": "success", "current_page": 2, "last_page": 2, "data": [{"group_id": 3}]}),
    )
    groups = hook.iter_groups(search="x")
    assert next(groups) == {"group_id": 1}
    assert len(server.requests) == 1  # the second page is fetched only when needed
    assert [g["group_id"] for g in groups] == [2, 3]
    assert [dict(r.form)["page"] for r in server.requests] == ["1", "2"]


def test_criaenvio_pagination_uses_number_100(criaenvio, server):
    server.reply(
        Reply(
            body={
                "data": [{"id": str(i)} for i in range(100)],
                "pagination": {"current_page": 1, "total_pages": 2},
            }
        ),
        Reply(body={"data": [{"id": "x"}], "pagination": {"current_page": 2, "total_pages": 2}}),
    )
    assert len(list(criaenvio.iter_contacts(status="todos"))) == 101
    assert [dict(r.query)["number"] for r in server.requests] == ["100", "100"]
    assert [dict(r.query)["page"] for r in server.requests] == ["1", "2"]


def test_envie_pagination(set_connection, server):
    set_connection("v", conn_type="envie_email", host=server.url, login="a", password="b")
    hook = EnvieEmailHook("v")
    server.reply(
        Reply(
            body={
                "status": "success",
                "data": {
                    "total_pages": 2,
                    "current_page": 1,
                    "next_page": 2,
                    "records": [{"general": {"list_uid": "a"}}],
                },
            }
        ),
        Reply(
            body={
                "status": "success",
                "data": {
                    "total_pages": 2,
                    "current_page": 2,
                    "next_page": None,
                    "records": [{"general": {"list_uid": "b"}}],
                },
            }
        ),
    )
    assert [r["general"]["list_uid"] for r in hook.iter_lists()] == ["a", "b"]


# ------------------------------------------------------------------------------------------ encodings


def test_php_bracket_encoding_nested_empty_and_non_ascii():
    data = {
        "group_id": 7,
        "contacts": [
            {"email": "ã@x.com", "name": ""},
            {"email": "b@x.com", "tags": {"a": [1, 2]}, "skip": None},
        ],
        "flag": True,
        "empty": [],
    }
    assert list(php_form_pairs(data)) == [
        ("group_id", "7"),
        ("contacts[0][email]", "ã@x.com"),
        ("contacts[0][name]", ""),
        ("contacts[1][email]", "b@x.com"),
        ("contacts[1][tags][a][0]", "1"),
        ("contacts[1][tags][a][1]", "2"),
        ("flag", "1"),
    ]
    assert php_form_encode({"a": {"b": "ç ñ&="}}) == b"a[b]=%C3%A7+%C3%B1%26%3D"


def test_envie_webhook_parser_all_six_events():
    from airflow_provider_emailbr.hooks.envie import EnvieEventType, parse_webhook_event

    base = {"message": {"id": 42, "to": "a@x.com", "from": "r@x.com", "timestamp": 1700000000, "tag": "t"}}
    for kind in EnvieEventType:
        body = {"event": kind.value, "payload": dict(base, details="d", output="o")}
        if kind is not EnvieEventType.SENT:
            body["timestamp"] = 1700000100
        event = parse_webhook_event(json.dumps(body))
        assert event.event is kind
        assert event.message_id == "42"
        assert event.sent_at.timestamp() == 1700000000
        expected = 1700000000 if kind is EnvieEventType.SENT else 1700000100
        assert event.occurred_at.timestamp() == expected
    clicked = parse_webhook_event(
        {
            "event": "MessageLinkClicked",
            "timestamp": 1,
            "payload": {"url": "https://x", "ip_address": "1.2.3.4", "message": {}},
        }
    )
    assert (clicked.url, clicked.ip_address, clicked.is_failure) == ("https://x", "1.2.3.4", False)
    assert parse_webhook_event({"event": "MessageHeld", "payload": {"message": {}}}).is_failure
    with pytest.raises(EmailBRInputError, match="webhook event 'Nope' is unknown"):
        parse_webhook_event({"event": "Nope"})
    with pytest.raises(EmailBRInputError, match="not JSON"):
        parse_webhook_event(b"\xff")


# ------------------------------------------------------------------------------------------ async path


def test_async_call_same_wire_format_errors_and_retries(criaenvio, server):
    import asyncio

    from airflow_provider_emailbr.hooks.criaenvio import ENDPOINTS

    server.reply(
        Reply(status=503, body={}),
        Reply(body={"data": {"id": "Lz", "status": "Enviando"}}),
        Reply(drop=True),
        Reply(status=404, body={"error": {"code": "01-NAO-ENCONTRADO", "message": "Envio não encontrado."}}),
    )

    async def scenario():
        hook = CriaEnvioHook(criaenvio.conn_id, retry_policy=RetryPolicy(max_retries=2, backoff_base=0.01))
        answer = await hook.acall(
            ENDPOINTS["campaign_view"], path_params={"id": "Lz"}, params={"embeds": "listas"}
        )
        with pytest.raises(EmailBRTransportError) as lost:
            await hook.acall(ENDPOINTS["campaign_pause"], path_params={"id": "Lz"})
        with pytest.raises(EmailBRNotFoundError, match="Envio não encontrado"):
            await hook.acall(ENDPOINTS["campaign_view"], path_params={"id": "zz"})
        return answer, lost.value

    answer, lost = asyncio.run(scenario())
    assert answer["data"]["status"] == "Enviando"
    assert lost.request_sent is True  # the state-changing GET was not repeated
    methods_paths = [(r.method, r.path) for r in server.requests]
    assert methods_paths == [
        ("GET", "/v1/envios/Lz"),
        ("GET", "/v1/envios/Lz"),
        ("GET", "/v1/envios/Lz/pausar"),
        ("GET", "/v1/envios/zz"),
    ]
    assert server.requests[1].query == [("embeds", "listas"), ("chave", "ck")]


def test_async_connection_refused_is_not_sent(set_connection, free_port):
    import asyncio

    from airflow_provider_emailbr.hooks.criaenvio import ENDPOINTS

    set_connection(
        "c", conn_type="criaenvio", host=f"http://127.0.0.1:{free_port}/", password="SECRET-KEY-XYZ"
    )
    hook = CriaEnvioHook("c", retry_policy=RetryPolicy(max_retries=1, backoff_base=0.01))
    with pytest.raises(EmailBRTransportError) as err:
        asyncio.run(hook.acall(ENDPOINTS["campaign_view"], path_params={"id": "x"}))
    assert err.value.request_sent is False
    assert "SECRET-KEY-XYZ" not in str(err.value)


# ------------------------------------------------------------------------------------------ throttle


def test_throttle_spaces_requests_and_pauses_every_worker():
    from airflow_provider_emailbr.utils.throttle import Throttle

    now = [100.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    throttle = Throttle(max_per_second=4, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        throttle.wait()
    assert slept == [0.25, 0.25]  # 4 per second: one slot every 0.25 s
    throttle.pause(2.0)  # one worker got HTTP 429 with Retry-After: 2
    throttle.pause(0.5)  # a shorter pause from another worker does not shorten it
    assert throttle.pauses == 1
    throttle.wait()  # any worker now waits for the common pause
    assert slept[-1] == 2.0


def test_rate_limit_error_pauses_the_shared_throttle(criaenvio, server):
    from airflow_provider_emailbr.utils.throttle import Throttle

    throttle = Throttle()
    hook = criaenvio.with_options(throttle=throttle)
    server.reply(Reply(status=429, body={}, headers={"Retry-After": "0.05"}), Reply(body={"data": []}))
    hook.search_senders()
    assert throttle.pauses == 1
    assert len(server.requests) == 2


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=200))
def test_form_value_quoting_equals_quote_plus(value):
    from urllib.parse import quote_plus

    from airflow_provider_emailbr.utils.encoding import _quote_value

    assert _quote_value(value) == quote_plus(value)


@pytest.mark.parametrize(
    ("naive", "text"),
    [
        ((2030, 3, 10, 2, 30), "2030-03-10T02:30:00"),  # skipped hour in New York (spring forward)
        ((2030, 11, 3, 1, 30), "2030-11-03T01:30:00"),  # repeated hour (fall back)
        ((2030, 7, 1, 12, 0), "2030-07-01T12:00:00"),
    ],
)
def test_naive_datetimes_and_strings_resolve_local_time_the_same_way(naive, text):
    from datetime import datetime

    from airflow_provider_emailbr.utils.dates import to_local

    from_naive = to_local(datetime(*naive), "America/New_York")
    from_text = to_local(text, "America/New_York")
    assert from_naive == from_text
    assert from_naive.utcoffset() == from_text.utcoffset()


# ------------------------------------------------------------------------------------------ one transport


def _httpx_failures() -> list[tuple[str, BaseException, bool, str, bool]]:
    """``(id, exception, request_sent, words of the message, permanent)`` for every httpx failure kind."""
    import ssl

    import httpx

    def caused_by(exc: BaseException, cause: BaseException) -> BaseException:
        exc.__cause__ = cause
        return exc

    return [
        ("refused", httpx.ConnectError("refused"), False, "connection refused", False),
        ("pool full", httpx.PoolTimeout("pool"), False, "connection refused", False),
        ("proxy", httpx.ProxyError("proxy said 502"), False, "connection refused", False),
        (
            "connect timeout",
            httpx.ConnectTimeout("slow"),
            False,
            "timed out before the request was sent",
            False,
        ),
        (
            "tls",
            caused_by(httpx.ConnectError("tls"), ssl.SSLCertVerificationError("bad cert")),
            False,
            "TLS handshake failed",
            True,
        ),
        ("bad scheme", httpx.UnsupportedProtocol("ftp"), False, "could not be built", True),
        ("bad header", httpx.LocalProtocolError("illegal header"), False, "could not be built", True),
        ("bad url", httpx.InvalidURL("bad"), False, "could not be built", True),
        ("read timeout", httpx.ReadTimeout("slow"), True, "no answer within 7 s", False),
        ("write timeout", httpx.WriteTimeout("slow"), True, "no answer within 7 s", False),
        ("dropped", httpx.RemoteProtocolError("disconnected"), True, "connection dropped", False),
        ("reset", httpx.ReadError("reset"), True, "connection dropped", False),
        ("bad gzip", httpx.DecodingError("bad gzip"), True, "could not be decoded", False),
    ]


@pytest.mark.parametrize(
    ("exc", "sent", "words", "permanent"),
    [case[1:] for case in _httpx_failures()],
    ids=[case[0] for case in _httpx_failures()],
)
def test_one_classifier_for_every_transport_failure(exc, sent, words, permanent):
    from airflow_provider_emailbr.hooks.base import classify_transport_error

    request_sent, what, is_permanent = classify_transport_error(exc, read_timeout=7)
    assert (request_sent, is_permanent) == (sent, permanent)
    assert words in what


def test_sync_and_async_paths_classify_alike(criaenvio, server):
    """Both paths go through the same client options, classifier and capped read: same errors, same words."""
    import asyncio

    from airflow_provider_emailbr.hooks.criaenvio import ENDPOINTS

    def failures(hook):
        server.reply(Reply(drop=True), Reply(drop=True))
        with pytest.raises(EmailBRTransportError) as sync_err:
            hook.call(ENDPOINTS["campaign_pause"], path_params={"id": "x"})

        async def run_async():
            with pytest.raises(EmailBRTransportError) as async_err:
                await hook.acall(ENDPOINTS["campaign_pause"], path_params={"id": "x"})
            return async_err.value

        return sync_err.value, asyncio.run(run_async())

    sync_err, async_err = failures(criaenvio)
    assert (
        (sync_err.request_sent, sync_err.permanent)
        == (async_err.request_sent, async_err.permanent)
        == (
            True,
            False,
        )
    )
    assert str(sync_err).split("[")[0] == str(async_err).split("[")[0]
    assert "connection dropped" in str(sync_err)


def test_get_conn_is_an_httpx_client_sending_the_provider_user_agent(criaenvio, server):
    import httpx

    from airflow_provider_emailbr.hooks.base import USER_AGENT

    assert isinstance(criaenvio.get_conn(), httpx.Client)
    server.reply(Reply(body={"data": {}}))
    criaenvio.get_campaign("x")
    assert server.last.headers["User-Agent"] == USER_AGENT
    criaenvio.close()
    assert "session" not in criaenvio.__dict__


@pytest.mark.parametrize(
    ("declared", "chunks", "complete", "head"),
    [
        (None, [b"ab", b"cd"], True, b"ab"),
        (None, [b"abcd", b"ef"], False, b"abcd"),  # grew past the 5-byte limit
        ("6", [b"abcdef"], False, b"abcdef"),  # announced too large: refused on the header
        ("5", [b"abcde"], True, b"abcde"),
        ("junk", [b"abc"], True, b"abc"),
    ],
)
def test_capped_body_is_the_one_size_rule(declared, chunks, complete, head):
    from airflow_provider_emailbr.hooks.base import CappedBody

    body = CappedBody({"Content-Length": declared} if declared else {}, limit=5)
    fed = [body.feed(chunk) for chunk in chunks]
    assert body.complete is complete
    assert fed[-1] is complete
    assert body.head == head
    if complete:
        assert body.data == b"".join(chunks)
