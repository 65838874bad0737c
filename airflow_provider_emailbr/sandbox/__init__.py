"""Local sandbox emulating the HTTP APIs of IAGENTEmail, envie.email, CriaEnvio, MailGrid and emailManager.

Run it with ``python -m airflow_provider_emailbr.sandbox`` (or ``emailbr-sandbox``), or from Python::

    from airflow_provider_emailbr.sandbox import SandboxServer

    with SandboxServer(campaign_seconds=2) as server:
        os.environ.update(server.conn_env)
        server.client.set_fault("status", vendor="criaenvio", status=503, count=1)

Tests get the ``sandbox`` fixture from :mod:`airflow_provider_emailbr.sandbox.pytest_plugin`. Importing this
package is cheap: the web server modules are only imported by the server process itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import CREDENTIALS, VENDOR_PREFIXES, VENDORS, connection_definitions, connection_env

if TYPE_CHECKING:
    from .client import SandboxClient, SandboxError
    from .server import SandboxServer

__all__ = [
    "CREDENTIALS",
    "VENDORS",
    "VENDOR_PREFIXES",
    "SandboxClient",
    "SandboxError",
    "SandboxServer",
    "connection_definitions",
    "connection_env",
]

_LAZY = {"SandboxClient": "client", "SandboxError": "client", "SandboxServer": "server"}


def __getattr__(name: str) -> Any:
    """Import :class:`SandboxServer`, :class:`SandboxClient` and :class:`SandboxError` on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
