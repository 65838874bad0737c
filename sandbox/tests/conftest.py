"""Fixtures of the sandbox's own tests: one sandbox subprocess per session, reset before each test.

These tests deliberately do not use the ``sandbox`` fixture of the shipped pytest plugin (that one is
exercised separately, the way an outside user would, in ``test_sandbox_pytest_plugin.py``), so they run the
same whether or not the package's ``pytest11`` entry point is installed.

Layout: this folder has no ``__init__.py`` and its modules are named ``test_sandbox_*`` so that pytest can
collect it in the same session as the provider's ``tests`` package (two packages named ``tests`` would
collide). The tests import only :mod:`emailbr_sandbox`, never the provider.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from emailbr_sandbox import SandboxClient, SandboxServer
from emailbr_sandbox.constants import (
    CRIAENVIO_KEY,
    EMAILMANAGER_TOKEN,
    ENVIE_PRIVATE_KEY,
    ENVIE_PUBLIC_KEY,
    IAGENTE_KEY,
    MAILGRID_HOST,
    MAILGRID_PASSWORD,
    MAILGRID_USER,
)

# The one test that parses the connections with Airflow must not touch ~/airflow: a throw-away home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="emailbr-sandbox-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

#: Start-up flags of the shared test sandbox (reset restores them before every test).
SESSION_OPTIONS: dict[str, Any] = {"campaign_seconds": 2.0, "seed": 7}


@pytest.fixture(scope="session")
def sb_server() -> Iterator[SandboxServer]:
    """The session's sandbox subprocess."""
    server = SandboxServer(**SESSION_OPTIONS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sb(sb_server: SandboxServer) -> SandboxClient:
    """Admin client of the session sandbox, reset to the seeded initial state."""
    client = sb_server.client
    client.reset()
    return client


class Api:
    """Vendor calls with the right credentials and encodings, through one keep-alive session."""

    def __init__(self, client: SandboxClient) -> None:
        self.urls = client.urls
        self.http = requests.Session()

    def iagente(
        self, endpoint: str, data: Any = None, key: str = IAGENTE_KEY, **kwargs: Any
    ) -> requests.Response:
        """``POST {iagente}{endpoint}`` with a form body."""
        headers = {"IAGENTE-KEY": key, **kwargs.pop("headers", {})}
        return self.http.post(self.urls["iagente"] + endpoint, data=data, headers=headers, **kwargs)

    def envie(self, method: str, endpoint: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """envie.email call with both key headers and a JSON body."""
        headers = {
            "public-key": ENVIE_PUBLIC_KEY,
            "private-key": ENVIE_PRIVATE_KEY,
            **kwargs.pop("headers", {}),
        }
        return self.http.request(method, self.urls["envie"] + endpoint, json=body, headers=headers, **kwargs)

    def cria(
        self,
        method: str,
        endpoint: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """CriaEnvio call with ``chave`` in the query and a JSON body."""
        query = {"chave": CRIAENVIO_KEY, **(params or {})}
        return self.http.request(method, self.urls["criaenvio"] + endpoint, json=body, params=query, **kwargs)

    def mailgrid(
        self, endpoint: str, body: dict[str, Any], *, host: bool = True, **kwargs: Any
    ) -> requests.Response:
        """MailGrid call with the credentials inside the JSON body."""
        auth = {"usuario_smtp": MAILGRID_USER, "senha_smtp": MAILGRID_PASSWORD}
        if host:
            auth["host_smtp"] = MAILGRID_HOST
        return self.http.post(self.urls["mailgrid"] + endpoint, json={**auth, **body}, **kwargs)

    def em(self, method: str, endpoint: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """emailManager call with the token and JSON headers."""
        headers = {"X-Emailmanager-Server-Token": EMAILMANAGER_TOKEN, "Accept": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(
            method, self.urls["emailmanager"] + endpoint, json=body, headers=headers, **kwargs
        )


@pytest.fixture
def api(sb: SandboxClient) -> Api:
    """Vendor API helper bound to the freshly reset session sandbox."""
    return Api(sb)


def _wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(predicate, timeout=10)``: poll until ``predicate()`` is truthy and return its value."""
    return _wait_for
