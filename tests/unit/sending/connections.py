"""Connections of the three sending vendors pointed at the recording server (retries fast, as FAST_RETRIES).

Used by the sending-layer tests (``vendor_connection`` fixture of this folder's conftest) and the send
operator tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import RecordingServer
from tests.helpers import FAST_RETRIES

SENDER = "loja@exemplo.com.br"
#: Per vendor: connection id, type, base path on the server, credentials and extras.
SENDING_CONNECTIONS: dict[str, dict[str, Any]] = {
    "mailgrid": {
        "conn_id": "mailgrid_default",
        "conn_type": "mailgrid",
        "path": "/mailgrid/api/",
        "login": "smtp-user",
        "extra": {"smtp_host": "grid0001.mailgrid.com.br"},
    },
    "emailmanager": {
        "conn_id": "emailmanager_default",
        "conn_type": "emailmanager",
        "path": "/emailmanager/",
    },
    "envie": {"conn_id": "envie_default", "conn_type": "envie_email", "path": "/envie/", "login": "pub"},
}


def connection_definer(server: RecordingServer, set_connection: Callable[..., None]) -> Callable[..., str]:
    """A function defining ``vendor``'s default connection against ``server`` and returning its id."""

    def define(vendor: str, **extra: Any) -> str:
        spec = SENDING_CONNECTIONS[vendor]
        set_connection(
            spec["conn_id"],
            conn_type=spec["conn_type"],
            host=f"{server.url}{spec['path']}",
            login=spec.get("login"),
            password="secret-token",
            extra={
                "max_retries": FAST_RETRIES.max_retries,
                "retry_backoff": FAST_RETRIES.backoff_base,
                "from_email": SENDER,
                "from_name": "Loja",
                **spec.get("extra", {}),
                **extra,
            },
        )
        return spec["conn_id"]

    return define
