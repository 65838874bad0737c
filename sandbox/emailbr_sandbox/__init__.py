"""Local sandbox emulating the HTTP APIs of IAGENTEmail, envie.email, CriaEnvio, MailGrid and emailManager.

The distribution ``airflow-provider-emailbr-sandbox`` (``pip install airflow-provider-emailbr-sandbox``, or
the provider's ``test`` extra). It is an independent reading of the vendors' documentation: it imports
nothing from the provider, so the provider's tests check it against a second interpretation, not itself.

Run it with ``python -m emailbr_sandbox`` (or ``emailbr-sandbox``), or from Python::

    from emailbr_sandbox import SandboxServer

    with SandboxServer(campaign_seconds=2) as server:
        os.environ.update(server.conn_env)
        server.client.set_fault("status", vendor="criaenvio", status=503, count=1)

Tests get the ``sandbox`` fixture from :mod:`emailbr_sandbox.pytest_plugin`. Importing this package is cheap:
the web server modules are only imported by the server process itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import CREDENTIALS, VENDOR_PREFIXES, VENDORS, connection_definitions, connection_env

if TYPE_CHECKING:
    from .client import SandboxClient, SandboxError
    from .server import SandboxServer

#: Released in step with ``airflow-provider-emailbr``: the same version number as the provider.
__version__ = "0.1.0"

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
