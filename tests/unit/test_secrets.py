"""No key, token or password may appear in logs, exception messages, tracebacks or reprs.

Each hook gets a recognisable secret; every failure path is forced (connection refused, lost answer, HTTP
errors with the secret echoed in the body, vendor errors inside HTTP 200, redirects carrying the key); the
test then searches everything a user could see.
"""

from __future__ import annotations

import traceback

import pytest
from structlog.testing import capture_logs

from airflow_provider_emailbr.exceptions import EmailBRError
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.retry import RetryPolicy
from tests.conftest import Reply

SECRETS = {
    "iagente": "IAG-SECRET-7f3a9c",
    "envie_public": "ENVIE-PUBLIC-5b1d77",
    "envie_private": "ENVIE-PRIVATE-a0c4e2",
    "criaenvio": "CRIA-SECRET-91be04",
    "mailgrid": "MAILGRID-SECRET-3d8f61",
    "emailmanager": "EMAILMGR-SECRET-c27e55",
}

FAST = RetryPolicy(max_retries=1, backoff_base=0.001)


def _hooks(base_url: str, set_connection):
    set_connection("s_iagente", conn_type="iagente_email", host=base_url, password=SECRETS["iagente"])
    set_connection(
        "s_envie",
        conn_type="envie_email",
        host=base_url,
        login=SECRETS["envie_public"],
        password=SECRETS["envie_private"],
        extra={"from_email": "r@x.com"},
    )
    set_connection("s_cria", conn_type="criaenvio", host=base_url, password=SECRETS["criaenvio"])
    set_connection(
        "s_mailgrid",
        conn_type="mailgrid",
        host=base_url,
        login="user@x.com",
        password=SECRETS["mailgrid"],
        extra={"smtp_host": "h", "from_email": "r@x.com"},
    )
    set_connection(
        "s_em",
        conn_type="emailmanager",
        host=base_url,
        password=SECRETS["emailmanager"],
        extra={"from_email": "r@x.com"},
    )
    return [
        (IAgenteEmailHook("s_iagente", retry_policy=FAST), lambda h: h.create_group(name="g")),
        (IAgenteEmailHook("s_iagente", retry_policy=FAST), lambda h: h.list_groups()),
        (
            EnvieEmailHook("s_envie", retry_policy=FAST),
            lambda h: h.send(to_email="a@x.com", subject="s", body="b"),
        ),
        (EnvieEmailHook("s_envie", retry_policy=FAST), lambda h: h.show_lists()),
        (CriaEnvioHook("s_cria", retry_policy=FAST), lambda h: h.create_list(nome="l")),
        (CriaEnvioHook("s_cria", retry_policy=FAST), lambda h: h.get_campaign("x")),
        (
            MailGridHook("s_mailgrid", retry_policy=FAST),
            lambda h: h.send(to="a@x.com", subject="s", message="m"),
        ),
        (
            MailGridHook("s_mailgrid", retry_policy=FAST),
            lambda h: h.report(start="2026-01-01T00:00", end="2026-01-01T00:01"),
        ),
        (EmailManagerHook("s_em", retry_policy=FAST), lambda h: h.delivery_stats()),
        (
            EmailManagerHook("s_em", retry_policy=FAST),
            lambda h: h.send_email({"From": "r@x.com", "To": "a@x.com", "Subject": "s", "TextBody": "t"}),
        ),
    ]


def _echo(secret_blob: str) -> list[Reply]:
    """Failure answers that echo the secrets back, as a careless proxy or vendor might."""
    return [
        Reply(status=500, body=f"<html>proxy error for chave={secret_blob}</html>"),
        Reply(
            status=400,
            body={
                "error": {"code": "02", "message": f"bad key {secret_blob}"},
                "status": "error",
                "message": f"bad key {secret_blob}",
            },
        ),
        Reply(
            status=200, body={"status": "error", "message": f"Chave {secret_blob} inválida", "codigo": "207"}
        ),
        Reply(status=401, body={"ErrorCode": 0, "Message": f"token {secret_blob}"}),
        Reply(status=302, body="", headers={"Location": f"http://other.example/?chave={secret_blob}&x=1"}),
        Reply(status=200, body=f"not json {secret_blob}"),
        Reply(drop=True),
        Reply(status=429, body=f"slow down {secret_blob}", headers={"Retry-After": "0"}),
    ]


def _everything_visible(err: BaseException, hook) -> str:
    chain = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    parts = [chain, str(err), repr(err), repr(hook), repr(hook.settings), str(vars(err))]
    cause = err
    while cause is not None:  # walk __cause__ and __context__ even where printing would hide them
        parts.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def test_no_secret_leaks_on_any_failure_path(server, set_connection, free_port, log_records, capsys):
    seen: list[str] = []
    failures = 0
    with capture_logs() as structlog_events:
        for hook, invoke in _hooks(server.url + "/", set_connection):
            own = hook.settings  # the hook's own credentials, echoed back by the "server"
            blob = " ".join(filter(None, [own.password, own.login if hook.secret_login() else None]))
            for reply in _echo(blob):
                server.replies[:] = [reply, reply]
                try:
                    invoke(hook)
                except EmailBRError as err:
                    seen.append(_everything_visible(err, hook))
                    failures += 1
            _ok, message = hook.test_connection()
            seen.append(message)
        # connection refused: requests puts the full URL (with CriaEnvio's key) in its message
        for hook, invoke in _hooks(f"http://127.0.0.1:{free_port}/", set_connection):
            with pytest.raises(EmailBRError) as err:
                invoke(hook)
            seen.append(_everything_visible(err.value, hook))
            assert "chave=" not in str(err.value) or "chave=***" in str(err.value)
    assert failures >= 60  # most echo answers are errors for every vendor; the rest were parsed as success
    seen.extend(str(e) for e in structlog_events)
    seen.extend(r.getMessage() for r in log_records)
    captured = capsys.readouterr()
    seen.extend([captured.out, captured.err])
    everything = "\n".join(seen)
    assert "***" in everything  # redaction happened (the test would be blind otherwise)
    for name, secret in SECRETS.items():
        assert secret not in everything, f"{name} secret leaked"


def test_http_client_debug_log_does_not_show_criaenvio_key(server, set_connection, log_records):
    """httpx logs the request line (URL with ``chave``); httpcore logs the answer's headers at DEBUG."""
    import logging

    set_connection("c", conn_type="criaenvio", host=server.url, password=SECRETS["criaenvio"])
    server.reply(Reply(body={"data": []}, headers={"X-Echo": f"chave={SECRETS['criaenvio']}"}))
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.DEBUG)  # Airflow's logging config may quiet it; a user may not
    try:
        CriaEnvioHook("c").search_senders()
    finally:
        httpx_logger.setLevel(level)
    lines = [r.getMessage() for r in log_records if r.name.startswith(("httpx", "httpcore"))]
    assert any("remetentes" in line for line in lines), lines  # the request line was logged …
    assert any("X-Echo" in line for line in lines), lines  # … and the answer's headers …
    assert all(SECRETS["criaenvio"] not in line for line in lines)  # … without the key
    assert server.last.query[-1] == ("chave", SECRETS["criaenvio"])  # while the vendor still got it


def test_sensitive_extras_are_registered_for_masking(set_connection):
    from airflow_provider_emailbr.utils.redaction import redact

    set_connection(
        "c",
        conn_type="criaenvio",
        password="k-long-enough",
        extra={"proxy_api_key": "EXTRA-SECRET-123", "timezone": "America/Sao_Paulo"},
    )
    CriaEnvioHook("c").settings
    assert redact("x EXTRA-SECRET-123 y") == "x *** y"
    assert redact("America/Sao_Paulo") == "America/Sao_Paulo"


def test_hook_and_settings_repr_hide_secrets(set_connection):
    set_connection("c", conn_type="criaenvio", password=SECRETS["criaenvio"])
    hook = CriaEnvioHook("c")
    assert SECRETS["criaenvio"] not in repr(hook.settings)
    assert SECRETS["criaenvio"] not in repr(hook)
