"""Fixed names, credentials and connection definitions of the sandbox.

Everything here is plain data and stdlib-only, so the CLI, the subprocess manager, the admin client and the
pytest plugin can import it without pulling in the web server. The credentials are deliberately recognisable
(``sandbox-…``) so that leak tests can grep logs and journals for them.
"""

from __future__ import annotations

import json
import re

#: Vendor keys, in the order used everywhere (journal filters, state, faults).
VENDORS: tuple[str, ...] = ("iagente", "envie", "criaenvio", "mailgrid", "emailmanager")

#: URL path prefix of each vendor inside the single sandbox server.
VENDOR_PREFIXES: dict[str, str] = {
    "iagente": "/iagente/v1/",
    "envie": "/envie/",
    "criaenvio": "/criaenvio/v1/",
    "mailgrid": "/mailgrid/api/",
    "emailmanager": "/emailmanager/",
}

#: Path prefix of the admin API (never journaled, never subject to faults).
ADMIN_PREFIX = "/_sandbox"

IAGENTE_KEY = "sandbox-iagente-key"
ENVIE_PUBLIC_KEY = "sandbox-envie-public-key"
ENVIE_PRIVATE_KEY = "sandbox-envie-private-key"
CRIAENVIO_KEY = "sandbox-criaenvio-key"
MAILGRID_USER = "sandbox@mailgrid.example"
MAILGRID_PASSWORD = "sandbox-mailgrid-password"
MAILGRID_HOST = "grid-sandbox.mailgrid.example"
EMAILMANAGER_TOKEN = "sandbox-emailmanager-token"

#: Values the journal always masks, wherever they appear.
SECRET_VALUES: tuple[str, ...] = (
    IAGENTE_KEY,
    ENVIE_PUBLIC_KEY,
    ENVIE_PRIVATE_KEY,
    CRIAENVIO_KEY,
    MAILGRID_PASSWORD,
    EMAILMANAGER_TOKEN,
)

SENDER_NAME = "Sandbox"
SENDER_EMAIL = "remetente@exemplo.com.br"
PENDING_SENDER_NAME = "Pendente"
PENDING_SENDER_EMAIL = "pendente@exemplo.com.br"

#: Recipients at this domain are accepted at send time and reported as failed deliveries (all vendors).
BOUNCE_DOMAIN = "bounce.example"
#: envie.email reports recipients here ``MessageDelayed`` (first attempt failed), then ``MessageSent``.
DELAYED_DOMAIN = "delayed.example"
#: envie.email reports recipients at this domain ``MessageHeld`` (refused for now, queued for retries).
HELD_DOMAIN = "held.example"
#: envie.email refuses recipients at this domain with HTTP 409 (blacklist).
BLACKLIST_DOMAIN = "blacklist.example"
#: emailManager refuses recipients at this domain with ErrorCode 406 (inactive recipient).
INACTIVE_DOMAIN = "inactive.example"

DEFAULT_TIMEZONE = "America/Sao_Paulo"
DEFAULT_PORT = 8765

#: The line printed (and flushed) once the server accepts connections.
READY_PREFIX = "emailbr-sandbox ready on "
READY_RE = re.compile(r"^emailbr-sandbox ready on (?P<url>https?://\S+?)/?\s*$")

#: Airflow connection id of each vendor's default connection.
CONN_IDS: dict[str, str] = {
    "iagente": "iagente_default",
    "envie": "envie_default",
    "criaenvio": "criaenvio_default",
    "mailgrid": "mailgrid_default",
    "emailmanager": "emailmanager_default",
}

#: Credentials of every vendor, as the admin client and fixture expose them.
CREDENTIALS: dict[str, dict[str, str]] = {
    "iagente": {"key": IAGENTE_KEY},
    "envie": {"public_key": ENVIE_PUBLIC_KEY, "private_key": ENVIE_PRIVATE_KEY},
    "criaenvio": {"key": CRIAENVIO_KEY},
    "mailgrid": {"usuario_smtp": MAILGRID_USER, "senha_smtp": MAILGRID_PASSWORD, "host_smtp": MAILGRID_HOST},
    "emailmanager": {"token": EMAILMANAGER_TOKEN},
}


def vendor_urls(base_url: str) -> dict[str, str]:
    """Return the base URL (ending with ``/``) of each vendor for a sandbox running at ``base_url``."""
    root = base_url.rstrip("/")
    return {vendor: root + prefix for vendor, prefix in VENDOR_PREFIXES.items()}


def connection_definitions(base_url: str, timezone: str = DEFAULT_TIMEZONE) -> dict[str, dict[str, object]]:
    """Return the Airflow connection (JSON form) of each vendor, pointing at the sandbox at ``base_url``."""
    urls = vendor_urls(base_url)
    return {
        "iagente": {"conn_type": "iagente_email", "host": urls["iagente"], "password": IAGENTE_KEY},
        "envie": {
            "conn_type": "envie_email",
            "host": urls["envie"],
            "login": ENVIE_PUBLIC_KEY,
            "password": ENVIE_PRIVATE_KEY,
            "extra": {"from_email": SENDER_EMAIL, "from_name": SENDER_NAME},
        },
        "criaenvio": {
            "conn_type": "criaenvio",
            "host": urls["criaenvio"],
            "password": CRIAENVIO_KEY,
            "extra": {"timezone": timezone},
        },
        "mailgrid": {
            "conn_type": "mailgrid",
            "host": urls["mailgrid"],
            "login": MAILGRID_USER,
            "password": MAILGRID_PASSWORD,
            "extra": {
                "smtp_host": MAILGRID_HOST,
                "timezone": timezone,
                "from_email": SENDER_EMAIL,
                "from_name": SENDER_NAME,
            },
        },
        "emailmanager": {
            "conn_type": "emailmanager",
            "host": urls["emailmanager"],
            "password": EMAILMANAGER_TOKEN,
            "extra": {"from_email": SENDER_EMAIL},
        },
    }


def conn_env_var(vendor: str) -> str:
    """Return the ``AIRFLOW_CONN_*`` variable name of a vendor's default connection."""
    return "AIRFLOW_CONN_" + CONN_IDS[vendor].upper()


def connection_env(base_url: str, timezone: str = DEFAULT_TIMEZONE) -> dict[str, str]:
    """Return ``{AIRFLOW_CONN_X: json}`` for the five default connections."""
    return {
        conn_env_var(vendor): json.dumps(definition, separators=(", ", ": "))
        for vendor, definition in connection_definitions(base_url, timezone).items()
    }


def export_lines(base_url: str, timezone: str = DEFAULT_TIMEZONE) -> list[str]:
    """Return the ``export AIRFLOW_CONN_X='{...}'`` lines printed after the ready line.

    The JSON never contains a single quote, so each line is safe to paste into a POSIX shell or to ``eval``.
    """
    return [f"export {name}='{value}'" for name, value in connection_env(base_url, timezone).items()]


EXPORT_RE = re.compile(r"^export (?P<name>AIRFLOW_CONN_[A-Z0-9_]+)='(?P<value>[^']*)'\s*$")
