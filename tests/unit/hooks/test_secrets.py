"""No key, token or password may appear in logs, exception messages, tracebacks or reprs.

Each hook gets a recognisable secret; every failure path is forced (connection refused, lost answer, HTTP
errors with the secret echoed in the body, vendor errors inside HTTP 200, redirects carrying the key); the
test then searches everything a user could see. Hooks come from the ``make_hook`` factory
(``tests/unit/hooks/conftest.py``), given these secrets as their credentials.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_provider_emailbr.exceptions import EmailBRError
from airflow_provider_emailbr.hooks.base import EmailBRHook
from airflow_provider_emailbr.utils.redaction import redact
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

#: Each vendor's credentials: its own recognisable secret (envie.email's public key is secret too).
CREDENTIALS: dict[str, dict[str, str]] = {
    "iagente": {"password": SECRETS["iagente"]},
    "envie": {"login": SECRETS["envie_public"], "password": SECRETS["envie_private"]},
    "criaenvio": {"password": SECRETS["criaenvio"]},
    "mailgrid": {"password": SECRETS["mailgrid"]},
    "emailmanager": {"password": SECRETS["emailmanager"]},
}

#: One retry: each scripted failure answer is given twice, so the retry sees the same answer.
ONE_RETRY = RetryPolicy(max_retries=1, backoff_base=0.001)

#: Two calls per vendor, each reaching the HTTP core by a different endpoint.
CALLS: list[tuple[str, Callable[[Any], object]]] = [
    ("iagente", lambda h: h.create_group(name="g")),
    ("iagente", lambda h: h.list_groups()),
    ("envie", lambda h: h.send(to_email="a@x.com", subject="s", body="b")),
    ("envie", lambda h: h.show_lists()),
    ("criaenvio", lambda h: h.create_list(nome="l")),
    ("criaenvio", lambda h: h.get_campaign("x")),
    ("mailgrid", lambda h: h.send(to="a@x.com", subject="s", message="m")),
    ("mailgrid", lambda h: h.report(start="2026-01-01T00:00", end="2026-01-01T00:01")),
    ("emailmanager", lambda h: h.delivery_stats()),
    (
        "emailmanager",
        lambda h: h.send_email({"From": "r@x.com", "To": "a@x.com", "Subject": "s", "TextBody": "t"}),
    ),
]


def _hooks(make_hook: Callable[..., EmailBRHook], **fields: Any) -> list[tuple[EmailBRHook, Callable]]:
    """Each call of :data:`CALLS` with a fresh hook holding its vendor's secrets (``fields`` override)."""
    return [
        (make_hook(vendor, retry_policy=ONE_RETRY, **CREDENTIALS[vendor], **fields), invoke)
        for vendor, invoke in CALLS
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


def _everything_visible(err: BaseException, hook: EmailBRHook) -> str:
    chain = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    parts = [chain, str(err), repr(err), repr(hook), repr(hook.settings), str(vars(err))]
    cause = err
    while cause is not None:  # walk __cause__ and __context__ even where printing would hide them
        parts.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def test_no_secret_leaks_on_any_failure_path(make_hook, server, free_port, log_records, capsys):
    seen: list[str] = []
    failures = 0
    with capture_logs() as structlog_events:
        for hook, invoke in _hooks(make_hook):
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
        for hook, invoke in _hooks(make_hook, host=f"http://127.0.0.1:{free_port}/"):
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


def test_http_client_debug_log_does_not_show_criaenvio_key(make_hook, server, log_records):
    """httpx logs the request line (URL with ``chave``); httpcore logs the answer's headers at DEBUG."""
    hook = make_hook("criaenvio", **CREDENTIALS["criaenvio"])
    server.reply(Reply(body={"data": []}, headers={"X-Echo": f"chave={SECRETS['criaenvio']}"}))
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.DEBUG)  # Airflow's logging config may quiet it; a user may not
    try:
        hook.search_senders()
    finally:
        httpx_logger.setLevel(level)
    lines = [r.getMessage() for r in log_records if r.name.startswith(("httpx", "httpcore"))]
    assert any("remetentes" in line for line in lines), lines  # the request line was logged …
    assert any("X-Echo" in line for line in lines), lines  # … and the answer's headers …
    assert all(SECRETS["criaenvio"] not in line for line in lines)  # … without the key
    assert server.last.query[-1] == ("chave", SECRETS["criaenvio"])  # while the vendor still got it


def test_sensitive_extras_are_registered_for_masking(make_hook):
    hook = make_hook(
        "criaenvio",
        password="k-long-enough",
        extra={"proxy_api_key": "EXTRA-SECRET-123", "timezone": "America/Sao_Paulo"},
    )
    _ = hook.settings  # reading the connection registers its sensitive extras
    assert redact("x EXTRA-SECRET-123 y") == "x *** y"
    assert redact("America/Sao_Paulo") == "America/Sao_Paulo"


def test_hook_and_settings_repr_hide_secrets(make_hook):
    hook = make_hook("criaenvio", **CREDENTIALS["criaenvio"])
    assert SECRETS["criaenvio"] not in repr(hook.settings)
    assert SECRETS["criaenvio"] not in repr(hook)
