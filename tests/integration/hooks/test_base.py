"""The hooks' shared HTTP core against misbehaving vendors (loopback servers, real transports), all five
vendors, sync (requests) and async (httpx): an HTML error page (with 200 and with 5xx), truncated JSON, the
vendor's error envelope inside an HTTP 200, an empty body, a 50 MB body, a redirect to another host, and a TLS
certificate that does not verify. The expected result is always a clear ``EmailBR*`` error with a short excerpt
of the answer, no secret, no credential sent to the other host, no pointless retry of the TLS failure, and the
huge body never read whole.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.hooks.base import MAX_RESPONSE_BYTES
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from tests.conftest import Reply
from tests.integration.misbehaving_vendors import (
    BY_NAME,
    HTML,
    HUGE,
    LOGIN_SECRET,
    MODES,
    SECRET,
    VENDORS,
    HugeBodyServer,
    TLSServer,
    assert_clear,
    call,
    connect,
    hook_for,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_html_page_with_200_is_a_response_error_with_a_short_excerpt(server, set_connection, vendor, mode):
    connect(set_connection, vendor, server.url)
    server.reply(Reply(status=200, body=HTML, headers={"Content-Type": "text/html"}))
    with pytest.raises(EmailBRResponseError) as err:
        call(hook_for(vendor), vendor, mode)
    message = assert_clear(err.value, must_contain="answer is not JSON: '<html><head><title>502 Bad Gateway")
    assert message.count("nginx") < 60 and err.value.status == 200
    assert len(server.requests) == 1  # an unreadable answer is not retried


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_html_page_with_5xx_is_a_server_error_after_bounded_retries(server, set_connection, vendor, mode):
    connect(set_connection, vendor, server.url)
    server.default = Reply(status=502, body=HTML, headers={"Content-Type": "text/html"})
    with pytest.raises(EmailBRServerError) as err:
        call(hook_for(vendor), vendor, mode)
    assert_clear(err.value, must_contain="502 Bad Gateway")
    assert err.value.status == 502
    retried = vendor.endpoint.safe_to_repeat
    assert len(server.requests) == (3 if retried else 1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_truncated_json_is_a_response_error(server, set_connection, vendor, mode):
    connect(set_connection, vendor, server.url)
    server.reply(Reply(body='{"data": [{"id": "1", "nome": "Cli'))
    with pytest.raises(EmailBRResponseError) as err:
        call(hook_for(vendor), vendor, mode)
    assert_clear(err.value, must_contain='answer is not JSON: \'{"data": [{"id": "1", "nome": "Cli\'')


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_error_envelope_inside_200_is_raised_with_the_vendor_message(server, set_connection, vendor, mode):
    connect(set_connection, vendor, server.url)
    server.reply(Reply(status=200, body=vendor.envelope))
    with pytest.raises(EmailBRApiError) as err:
        call(hook_for(vendor), vendor, mode)
    assert isinstance(err.value, vendor.envelope_error), type(err.value)
    assert_clear(err.value, must_contain=vendor.envelope_text)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_empty_200_is_no_data_for_a_read_and_fails_the_connection_test(server, set_connection, vendor, mode):
    connect(set_connection, vendor, server.url)
    server.default = Reply(status=200, body=b"")
    assert call(hook_for(vendor), vendor, mode) is None
    ok, message = hook_for(vendor).test_connection()
    if vendor.name == "mailgrid":  # an empty report is the vendor's own way to say "no rows"
        assert ok, message
    else:
        assert not ok and "expected a JSON object" in message and SECRET not in message


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(status=200, body=HTML), "answer is not JSON: '<html>"),
        (Reply(status=503, body=HTML), "HTTP 503"),
        (Reply(status=200, body="{"), "answer is not JSON: '{'"),
    ],
    ids=["html-200", "html-503", "truncated"],
)
def test_connection_test_says_what_went_wrong_in_one_short_line(
    server, set_connection, vendor, reply, expected
):
    connect(set_connection, vendor, server.url)
    server.default = reply
    ok, message = hook_for(vendor).test_connection()
    assert not ok and expected in message
    assert SECRET not in message and LOGIN_SECRET not in message and len(message) < 800


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("vendor", [BY_NAME["criaenvio"], BY_NAME["mailgrid"]], ids=lambda v: v.name)
def test_a_50_mb_answer_is_refused_without_being_read_whole(set_connection, vendor, declare_length, mode):
    huge = HugeBodyServer(declare_length=declare_length)
    try:
        connect(set_connection, vendor, huge.url)
        with pytest.raises(EmailBRResponseError) as err:
            call(hook_for(vendor), vendor, mode)
    finally:
        huge.close()
    message = assert_clear(err.value, must_contain=f"larger than the {MAX_RESPONSE_BYTES:,}-byte limit")
    assert '{"data": ["x","x"' in message  # a short excerpt of its start
    assert huge.requests == 1  # not retried
    if declare_length:
        assert "52428800 bytes announced" in message
        assert huge.written < HUGE  # refused on the announced length, the rest never read
    else:
        assert huge.written <= MAX_RESPONSE_BYTES + 8 * 1024 * 1024  # reading stopped at the limit


def test_a_50_mb_error_page_keeps_its_status_class(set_connection):
    huge = HugeBodyServer(declare_length=True, status=503)
    try:
        connect(set_connection, BY_NAME["emailmanager"], huge.url)
        with pytest.raises(EmailBRServerError) as err:
            call(hook_for(BY_NAME["emailmanager"]), BY_NAME["emailmanager"], "sync")
    finally:
        huge.close()
    assert_clear(err.value, must_contain="HTTP 503")
    assert huge.requests == 3  # a 503 is still retried (bounded), each time without reading the body


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_redirect_to_another_host_is_not_followed_and_carries_no_credential(
    server, other_host, set_connection, vendor, status, mode
):
    connect(set_connection, vendor, server.url)
    target = other_host.url.replace("127.0.0.1", "localhost") + f"/steal?chave={SECRET}"
    server.default = Reply(status=status, body="", headers={"Location": target})
    with pytest.raises(EmailBRResponseError) as err:
        call(hook_for(vendor), vendor, mode)
    message = assert_clear(err.value, must_contain="not followed (credentials never follow a redirect)")
    assert "/steal?chave=***" in message
    assert other_host.requests == []  # the other host received nothing at all
    assert len(server.requests) == 1
    sent = server.requests[0]  # the credential did go to the configured host, where the vendor expects it
    wire = json.dumps([sent.headers, sent.query, sent.body.decode("utf-8", "replace")])
    assert SECRET in wire
    assert {
        "header": SECRET in json.dumps(sent.headers),
        "query": SECRET in json.dumps(sent.query),
        "body": SECRET in sent.body.decode(),
    }[vendor.where]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_tls_verification_failure_is_clear_permanent_and_not_retried(tmp_path, set_connection, vendor, mode):
    tls = TLSServer(tmp_path)
    try:
        connect(set_connection, vendor, tls.url)
        with pytest.raises(EmailBRTransportError) as err:
            call(hook_for(vendor), vendor, mode)
    finally:
        tls.close()
    message = assert_clear(err.value, must_contain="TLS handshake failed")
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
    assert err.value.permanent and not err.value.request_sent
    assert tls.connections == 1  # not retried: repeating cannot fix a certificate
    assert tls.requests == []  # nothing (no credential) went over the unverified connection


def test_tls_failure_in_test_connection_names_the_problem(tmp_path, set_connection):
    tls = TLSServer(tmp_path)
    try:
        connect(set_connection, BY_NAME["criaenvio"], tls.url)
        ok, message = CriaEnvioHook().test_connection()
    finally:
        tls.close()
    assert not ok and "TLS handshake failed" in message and SECRET not in message
    assert tls.connections == 1
