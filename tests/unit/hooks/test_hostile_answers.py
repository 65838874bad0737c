"""Hostile answers and request values at the HTTP core, for each of the five vendors' error envelopes.

Whatever a vendor (or something in between) answers — any status, random bytes, HTML, truncated or deeply
nested JSON, an error envelope with wrong types, the secret echoed back — the core returns the parsed JSON
or raises an ``EmailBRApiError`` with a short, secret-free message. A value that cannot be put on the wire
(a lone surrogate, an object JSON cannot represent) is an ``EmailBRInputError`` before anything is sent.
Hooks come from the ``make_hook`` factory (``tests/unit/hooks/conftest.py``); envie.email's webhook parser
gets the same hostile bodies.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import (
    MAX_EXCERPT_CHARS,
    EmailBRApiError,
    EmailBRInputError,
    EmailBRResponseError,
)
from airflow_provider_emailbr.hooks.base import Endpoint
from airflow_provider_emailbr.hooks.envie import parse_webhook_event
from airflow_provider_emailbr.utils.retry import RetryPolicy
from tests.unit.hooks.conftest import VENDOR_CONNECTIONS

SECRET = "S3cr3t-Hostile-Key-0042"
PUBLIC = "pub-Hostile-Key-0042"
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NO_RETRY = RetryPolicy(max_retries=0)
VENDORS = sorted(VENDOR_CONNECTIONS)


@pytest.fixture
def hooks(make_hook):
    """One hook per vendor, all pointed at the recording server, all with the same recognisable secret."""
    built = {
        vendor: make_hook(
            vendor, retry_policy=NO_RETRY, password=SECRET, **({"login": PUBLIC} if vendor == "envie" else {})
        )
        for vendor in VENDORS
    }
    for hook in built.values():
        _ = hook.settings  # reads the connection and registers its secrets for redaction
    return built


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
ENVELOPE_KEYS = st.sampled_from(
    ["status", "message", "error", "codigo", "ErrorCode", "Message", "code", "http_code", "data", "details"]
)
ENVELOPE_VALUES = st.one_of(
    JSON,
    st.sampled_from(["error", "success", "200", "204", "207", "208", 0, 300, 401, "x", SECRET]),
    st.fixed_dictionaries(
        {"code": st.one_of(JSON, st.just("03-NAO-AUTORIZADO")), "message": st.one_of(JSON, st.just(SECRET))}
    ),
)
ENVELOPE = st.dictionaries(ENVELOPE_KEYS, ENVELOPE_VALUES, max_size=4)
BODY = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda v: json.dumps(v).encode()),
    ENVELOPE.map(lambda v: json.dumps(v).encode()),
    ENVELOPE.map(lambda v: json.dumps(v).encode()[: max(1, len(json.dumps(v)) // 2)]),  # truncated
    st.sampled_from(
        [
            b"",
            b"   \r\n",
            b"<html><body><h1>502 Bad Gateway</h1>" + b"x" * 10_000 + b"</body></html>",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            b"\xef\xbb\xbf{}",
            b"\xff\xfe\x00{",
            f'{{"status": "error", "message": "invalid key {SECRET}"}}'.encode(),
            f"<html>token={SECRET}</html>".encode(),
            b"null",
            b"123",
            b'"just a string"',
        ]
    ),
)
STATUS = st.one_of(st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 409, 422, 429, 500, 503]))


@FAST
@given(
    vendor=st.sampled_from(VENDORS),
    status=STATUS,
    body=BODY,
    content_type=st.sampled_from(["application/json", "text/html", ""]),
)
def test_any_answer_is_parsed_json_or_a_short_secret_free_api_error(
    hooks, vendor, status, body, content_type
):
    hook = hooks[vendor]
    call = hook.prepare(Endpoint("POST", "hostile/path"), json_body={"a": 1} if vendor != "iagente" else None)
    headers = {"Content-Type": content_type, "Location": f"http://elsewhere.example/?chave={SECRET}"}
    try:
        payload = hook.handle_response(call, status, headers, body)
    except EmailBRApiError as err:
        message = str(err)
        assert SECRET not in message and SECRET not in repr(err.__dict__)
        assert err.platform == hook.platform and err.endpoint == "hostile/path" and err.status == status
        assert len(message) <= 200 + 2 * MAX_EXCERPT_CHARS  # prefix, vendor message and one excerpt
        assert err.__cause__ is None  # the body is never chained into the traceback
        return
    assert 200 <= status < 300
    assert payload is None or payload == json.loads(body)


@pytest.mark.parametrize(
    ("vendor", "invoke"),
    [
        ("criaenvio", lambda h: h.create_list(nome="lista \ud800")),
        ("criaenvio", lambda h: h.get_campaign("c\udcff1")),  # a path parameter
        ("criaenvio", lambda h: h.search_contacts(email="a\ud800@x.com")),  # a query parameter
        ("criaenvio", lambda h: h.create_list(nome={1, 2})),  # a set: JSON cannot say it
        ("iagente", lambda h: h.create_group(name="grupo \ud83d")),
        ("envie", lambda h: h.create_list(name="\udc80", description="d")),
        (
            "emailmanager",
            lambda h: h.send_email(
                {"From": "loja@exemplo.com.br", "To": "a@x.com", "Subject": "\ud800", "TextBody": "t"}
            ),
        ),
        ("mailgrid", lambda h: h.send(to=["a@x.com"], subject="s", message="\ud800", message_type="text")),
    ],
)
def test_values_that_cannot_go_on_the_wire_are_refused_before_sending(hooks, server, vendor, invoke):
    with pytest.raises(EmailBRInputError, match="nothing was sent|a lone surrogate") as err:
        invoke(hooks[vendor])
    assert server.requests == []
    assert SECRET not in str(err.value) and err.value.__cause__ is None


def test_deeply_nested_request_body_is_refused_before_sending(hooks, server):
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(EmailBRInputError, match="JSON cannot represent"):
        hooks["criaenvio"].create_list(nome=nested)
    assert server.requests == []


def test_redirect_answers_name_the_target_without_its_secret(hooks):
    hook = hooks["criaenvio"]
    call = hook.prepare(Endpoint("GET", "x"))
    with pytest.raises(EmailBRResponseError, match="not followed") as err:
        hook.handle_response(call, 307, {"Location": f"https://other.example/x?chave={SECRET}"}, b"")
    assert SECRET not in str(err.value)


# ------------------------------------------------------------------------------------------ webhooks

WEBHOOK = st.one_of(
    BODY,
    BODY.map(lambda b: b.decode("utf-8", "replace")),
    st.fixed_dictionaries(
        {
            "event": st.one_of(
                JSON, st.sampled_from(["open", "click", "delivered", "bounce", "spam", "unsub"])
            ),
            "timestamp": st.one_of(JSON, st.floats(allow_nan=True), st.integers(min_value=-(10**30))),
            "payload": st.one_of(
                JSON,
                st.fixed_dictionaries(
                    {
                        "message": st.one_of(
                            JSON, st.dictionaries(st.sampled_from(["id", "timestamp", "to"]), JSON)
                        )
                    }
                ),
            ),
        }
    ),
)


@FAST
@given(WEBHOOK)
def test_envie_webhook_parser_gives_an_event_or_a_clear_error(payload):
    try:
        event = parse_webhook_event(payload)
    except EmailBRInputError as err:
        assert str(err).startswith("webhook ") and len(str(err)) < 1000
        return
    assert event.event.value in {"open", "click", "delivered", "bounce", "spam", "unsub"} or event.event
    assert event.occurred_at is None or isinstance(event.occurred_at, datetime)
