"""Vendor misbehaviour across components: hooks (sync and async), test_connection(), operators, triggers.

Each of the five vendors answers, through the recording ``server`` or a small loopback server of this module,
with: an HTML error page (with 200 and with 5xx), truncated JSON, its own error envelope inside an HTTP 200,
an empty body, a 50 MB body, a redirect to another host, and a TLS certificate that does not verify. The
expected result is always a clear ``EmailBR*`` error with a short excerpt of the answer, no secret, no
credential sent to the other host, no pointless retry of the TLS failure, and the huge body never read
whole. Operators keep their guarantees on top: a send whose answer cannot be read is ``unknown`` (never
re-sent), an import rejects the rows instead of crashing, a trigger ends with an error event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import (
    MAX_EXCERPT_CHARS,
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks import criaenvio, emailmanager, envie, iagente, mailgrid
from airflow_provider_emailbr.hooks.base import MAX_RESPONSE_BYTES, EmailBRHook
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.retry import RetryPolicy
from tests.conftest import RecordingServer, Reply

pytestmark = pytest.mark.integration

SECRET = "Hostile-Vendor-Secret-7731"
LOGIN_SECRET = "Hostile-Public-Key-7731"
HUGE = 50 * 1024 * 1024
QUICK = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)


@dataclass(frozen=True)
class Vendor:
    """How to reach one vendor's hook and one representative read, and what its error envelope is."""

    name: str
    hook_class: type[EmailBRHook]
    conn_type: str
    path: str  # the base path under the server
    endpoint: Any
    kwargs: dict[str, Any]
    envelope: Any  # the vendor's error envelope, as it may arrive inside an HTTP 200
    envelope_error: type[EmailBRApiError]
    envelope_text: str
    login: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    where: str = "header"  # where the credential travels (redirect scenario)


VENDORS = [
    Vendor(
        "iagente",
        IAgenteEmailHook,
        "iagente",
        "/iagente/",
        iagente.ENDPOINTS["group_list"],
        {"form": {"page": 1}},
        {"status": "error", "message": "Parâmetro group_id inválido"},
        EmailBRValidationError,
        "Parâmetro group_id inválido",
    ),
    Vendor(
        "envie",
        EnvieEmailHook,
        "envie",
        "/envie/",
        envie.ENDPOINTS["lists_show"],
        {"params": {"page": 1}},
        {"status": "error", "error": "Lista não encontrada"},
        EmailBRResponseError,
        "Lista não encontrada",
        login=LOGIN_SECRET,
    ),
    Vendor(
        "criaenvio",
        CriaEnvioHook,
        "criaenvio",
        "/criaenvio/v1/",
        criaenvio.ENDPOINTS["sender_search"],
        {"params": {"page": 1}},
        {"error": {"code": "02-ARGUMENTOS-INVALIDOS", "http_code": 400, "message": "Argumento inválido"}},
        EmailBRValidationError,
        "Argumento inválido",
        where="query",
    ),
    Vendor(
        "mailgrid",
        MailGridHook,
        "mailgrid",
        "/mailgrid/api/",
        mailgrid.ENDPOINTS["report"],
        {
            "json_body": {
                "dataini": "01/01/2030",
                "horaini": "00:00",
                "datafim": "01/01/2030",
                "horafim": "01:00",
            }
        },
        {"codigo": "207", "status": "Falha de autenticação"},
        EmailBRAuthError,
        "Falha de autenticação",
        login="user@mailgrid.example",
        extra={"smtp_host": "grid1.mailgrid.example"},
        where="body",
    ),
    Vendor(
        "emailmanager",
        EmailManagerHook,
        "emailmanager",
        "/emailmanager/",
        emailmanager.ENDPOINTS["delivery_stats"],
        {},
        {"ErrorCode": 300, "Message": "Invalid request"},
        EmailBRValidationError,
        "Invalid request",
    ),
]
BY_NAME = {v.name: v for v in VENDORS}


def connect(set_connection: Callable[..., None], vendor: Vendor, base: str, **extra: Any) -> None:
    set_connection(
        f"{vendor.name}_default",
        conn_type=vendor.conn_type,
        host=f"{base}{vendor.path}",
        login=vendor.login,
        password=SECRET,
        extra={"max_retries": 2, "retry_backoff": 0.01, **vendor.extra, **extra},
    )


def hook_for(vendor: Vendor) -> EmailBRHook:
    return vendor.hook_class(retry_policy=QUICK)


def call(hook: EmailBRHook, vendor: Vendor, mode: str) -> Any:
    """One call of the vendor's representative endpoint, through the sync (requests) or async (httpx) path."""
    if mode == "sync":
        return hook.call(vendor.endpoint, **vendor.kwargs)

    async def run() -> Any:
        return await hook.acall(vendor.endpoint, **vendor.kwargs)

    return asyncio.run(run())


def assert_clear(err: BaseException, *, must_contain: str | None = None) -> str:
    """A package error, with a bounded message, no secret, and nothing chained that could hold the body."""
    message = str(err)
    assert isinstance(err, EmailBRError), repr(err)
    assert SECRET not in message and LOGIN_SECRET not in message
    assert len(message) <= 250 + 2 * MAX_EXCERPT_CHARS, len(message)
    if must_contain is not None:
        assert must_contain in message, message
    return message


MODES = ["sync", "async"]
HTML = "<html><head><title>502 Bad Gateway</title></head><body>" + "nginx " * 3000 + "</body></html>"


# ------------------------------------------------------------------------------------------ hooks, answers


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


# ------------------------------------------------------------------------------------------ huge bodies


class HugeBodyServer:
    """Answers every request with a 50 MB body (streamed, never held whole) and counts what it wrote."""

    def __init__(self, *, declare_length: bool, status: int = 200) -> None:
        self.written = 0
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _handle(self) -> None:
                outer.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if declare_length:
                    self.send_header("Content-Length", str(HUGE))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b'{"data": [' + b'"x",' * 16_000
                try:
                    while outer.written < HUGE:
                        piece = chunk[: HUGE - outer.written]
                        if declare_length:
                            self.wfile.write(piece)
                        else:
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        outer.written += len(piece)
                    if not declare_length:
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client stopped reading: exactly what is expected

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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


# ------------------------------------------------------------------------------------------ redirects


@pytest.fixture
def other_host() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    yield srv
    srv.close()


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


# ------------------------------------------------------------------------------------------ TLS


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 that no trust store knows, generated with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class TLSServer:
    """A loopback HTTPS server with a self-signed certificate; counts connections and requests received."""

    def __init__(self, tmp_path: Path) -> None:
        cert, key = _self_signed(tmp_path)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.connections = 0
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _handle(self) -> None:
                outer.requests.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(server_self) -> tuple[socket.socket, Any]:
                sock, address = server_self.socket.accept()
                outer.connections += 1
                return outer.context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                ), address

            def handle_error(server_self, request: Any, client_address: Any) -> None:
                return  # the client refusing the certificate is the point of the test

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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


# ------------------------------------------------------------------------------------------ operators


@dataclass
class FakeTI:
    try_number: int = 1
    dag_id: str = "misbehaviour"
    task_id: str = "op"
    run_id: str = "manual__1"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "reply",
    [Reply(body=HTML), Reply(body='[{"to": "a@exemplo.com.br", "codigo": "2'), Reply(body=b"")],
    ids=["html-200", "truncated", "empty"],
)
@pytest.mark.parametrize("vendor", ["mailgrid", "envie", "emailmanager"])
def test_a_send_whose_answer_cannot_be_read_is_unknown_and_never_resent(
    server, set_connection, tmp_path, vendor, reply
):
    from airflow_provider_emailbr.operators.send import (
        EmailManagerSendEmailOperator,
        EnvieEmailSendOperator,
        MailGridSendEmailOperator,
        SendIncompleteError,
    )

    connect(set_connection, BY_NAME[vendor], server.url, from_email="loja@exemplo.com.br", from_name="Loja")
    results = tmp_path / "results.jsonl"
    common = {"task_id": "op", "results_path": str(results), "subject": "Pedido", "to": "ana@exemplo.com.br"}
    op = {
        "mailgrid": lambda: MailGridSendEmailOperator(html="<p>x</p>", **common),
        "envie": lambda: EnvieEmailSendOperator(html="<p>x</p>", **common),
        "emailmanager": lambda: EmailManagerSendEmailOperator(html_body="<p>x</p>", **common),
    }[vendor]
    server.default = reply
    with pytest.raises(SendIncompleteError) as err:
        op().execute({"ti": FakeTI()})
    assert_clear(err.value) if len(str(err.value)) < 800 else None
    assert SECRET not in str(err.value)
    assert err.value.unknown and not err.value.sent
    assert len(server.requests) == 1
    outcomes = [r.get("outcome") for r in ledger(results) if r.get("outcome")]
    assert outcomes[-1] == "unknown"
    with pytest.raises(SendIncompleteError):  # a retried try sends nothing again
        op().execute({"ti": FakeTI(try_number=2)})
    assert len(server.requests) == 1


def test_criaenvio_import_rejects_rows_when_create_answers_an_empty_200(server, set_connection, tmp_path):
    from airflow_provider_emailbr.operators.contacts import CriaEnvioImportContactsOperator

    connect(set_connection, BY_NAME["criaenvio"], server.url)
    server.default = Reply(status=200, body={})  # not the documented {"data": {"id": ...}}
    report = tmp_path / "rejected.jsonl"
    op = CriaEnvioImportContactsOperator(
        task_id="op",
        contacts=[{"email": "ana@exemplo.com.br"}, {"email": "bia@exemplo.com.br"}],
        list_ids="L1",
        rejected_path=str(report),
        max_rejected_ratio=1,
        max_concurrency=1,
    )
    summary = op.execute({})
    assert (summary["received"], summary["sent"], summary["rejected"]) == (2, 0, 2)
    rows = ledger(report)
    assert {r["reason"] for r in rows} == {"request_failed"}
    assert all("the answer to a create has no data.id: {}" in r["message"] for r in rows)
    assert all(SECRET not in json.dumps(r) for r in rows)


def test_iagente_import_fails_clearly_on_an_html_answer(server, set_connection, tmp_path):
    from airflow_provider_emailbr.operators.contacts import IAgenteImportContactsOperator

    connect(set_connection, BY_NAME["iagente"], server.url)
    server.default = Reply(status=200, body=HTML)
    op = IAgenteImportContactsOperator(
        task_id="op",
        contacts=[{"email": "ana@exemplo.com.br"}],
        group_id=7,
        rejected_path=str(tmp_path / "r.csv"),
    )
    with pytest.raises(EmailBRResponseError) as err:
        op.execute({})
    assert_clear(err.value, must_contain="answer is not JSON: '<html>")
    assert len(server.requests) == 1  # a mass add is not repeated after an unreadable answer


def test_report_operator_refuses_a_50_mb_answer(set_connection, tmp_path):
    from airflow_provider_emailbr.operators.reports import MailGridReportOperator

    huge = HugeBodyServer(declare_length=False)
    try:
        connect(set_connection, BY_NAME["mailgrid"], huge.url)
        op = MailGridReportOperator(
            task_id="op",
            start="2025-01-01T00:00:00",
            end="2025-01-01T01:00:00",
            output_path=str(tmp_path / "out.csv"),
            deferrable=False,
            report_lag=0,
        )
        with pytest.raises(EmailBRResponseError) as err:
            op.execute({"ti": FakeTI()})
    finally:
        huge.close()
    assert_clear(err.value, must_contain="-byte limit")


# ------------------------------------------------------------------------------------------ triggers, notifiers


def run_trigger(trigger: Any, timeout: float = 20) -> list[Any]:
    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout))


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("html", "answer is not JSON"),
        ("envelope", "Argumento inválido"),
        ("redirect", "not followed"),
        ("tls", "TLS handshake failed"),
        ("huge", "-byte limit"),
    ],
)
def test_campaign_trigger_ends_with_one_clear_error_event(
    server, other_host, set_connection, tmp_path, scenario, expected
):
    from airflow_provider_emailbr.triggers.campaigns import CriaEnvioCampaignTrigger

    vendor = BY_NAME["criaenvio"]
    extra_server: Any = None
    if scenario == "tls":
        extra_server = TLSServer(tmp_path)
    elif scenario == "huge":
        extra_server = HugeBodyServer(declare_length=False)
    connect(set_connection, vendor, extra_server.url if extra_server else server.url)
    server.default = {
        "html": Reply(body=HTML),
        "envelope": Reply(body=vendor.envelope),
        "redirect": Reply(status=302, body="", headers={"Location": f"{other_host.url}/x?chave={SECRET}"}),
    }.get(scenario, Reply())
    try:
        events = run_trigger(CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=0.05))
    finally:
        if extra_server is not None:
            extra_server.close()
    assert len(events) == 1 and events[0].payload["status"] == "error"
    message = events[0].payload["message"]
    assert expected in message and SECRET not in message and len(message) < 1000
    assert other_host.requests == []
    assert SECRET not in json.dumps(CriaEnvioCampaignTrigger(campaign_id="c1").serialize())


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=200, body=HTML),
        Reply(status=502, body=HTML),
        Reply(body={"ErrorCode": 405, "Message": "Sem créditos"}),
    ],
    ids=["html-200", "html-502", "envelope-200"],
)
@pytest.mark.parametrize("mode", MODES)
def test_notifier_fails_with_a_clear_error_on_a_misbehaving_vendor(server, set_connection, reply, mode):
    from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier

    connect(set_connection, BY_NAME["emailmanager"], server.url, from_email="loja@exemplo.com.br")
    server.default = reply
    notifier = EmailManagerNotifier(to="oncall@exemplo.com.br", subject="Falhou {{ ti.task_id }}")
    context = {"ti": FakeTI(), "dag_run": None}
    with pytest.raises(EmailBRError) as err:
        if mode == "sync":
            notifier.notify(context)
        else:
            asyncio.run(notifier.async_notify(context))
    assert SECRET not in str(err.value) and len(str(err.value)) < 1200
    assert len(server.requests) == 1  # a send is never repeated after an unreadable answer
