"""Fixtures of the operator unit tests: every vendor's default connection on the recording server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import RecordingServer


@pytest.fixture
def conns(server: RecordingServer, set_connection: Callable[..., None]) -> RecordingServer:
    """Every vendor's default connection points at the recording server (no retries, quick)."""
    extra = {"max_retries": 0, "from_email": "loja@exemplo.com.br", "from_name": "Loja"}
    set_connection(
        "mailgrid_default",
        conn_type="mailgrid",
        host=f"{server.url}/mailgrid/api/",
        login="user@mailgrid.example",
        password="mgpass",
        extra={**extra, "smtp_host": "grid1.mailgrid.example"},
    )
    set_connection(
        "envie_default", conn_type="envie", host=f"{server.url}/", login="pub", password="priv", extra=extra
    )
    set_connection(
        "emailmanager_default", conn_type="emailmanager", host=f"{server.url}/", password="tok", extra=extra
    )
    set_connection(
        "criaenvio_default", conn_type="criaenvio", host=f"{server.url}/v1/", password="ck", extra=extra
    )
    return server
