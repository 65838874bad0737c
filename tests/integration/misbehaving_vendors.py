"""Misbehaving vendors for the integration tests: how to reach each vendor's hook, its error envelope, and
loopback servers that answer a 50 MB body or present a certificate that does not verify.

Shared by ``tests/integration/{hooks,sending,importing,operators,triggers,notifications}``; the connections
carry ``SECRET`` (and envie.email's public key ``LOGIN_SECRET``) so each test can check that neither leaks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from airflow_provider_emailbr.exceptions import (
    MAX_EXCERPT_CHARS,
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRError,
    EmailBRResponseError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks import criaenvio, emailmanager, envie, iagente, mailgrid
from airflow_provider_emailbr.hooks.base import EmailBRHook
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.retry import RetryPolicy

#: The task instance the operators under test run as.
MISBEHAVIOUR_TI = {"dag_id": "misbehaviour", "task_id": "op", "run_id": "manual__1"}
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


def run_trigger(trigger: Any, timeout: float = 20) -> list[Any]:
    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout))
