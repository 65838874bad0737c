"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

The connection forms are declarative (``hook-name``, ``ui-field-behaviour``, ``conn-fields``): the Airflow
3 UI builds the "add connection" form from this dict without importing the hooks. Keep it cheap to build
and valid against Airflow's ``provider_info.schema.json``: an invalid dict breaks every ``airflow`` command.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "airflow_provider_emailbr"

_TIMEOUT_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Read timeout (seconds)",
        "description": "Seconds to wait for an answer once connected. Default 30.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "connect_timeout": {
        "label": "Connect timeout (seconds)",
        "description": "Seconds to wait for a connection. Default 10.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Repeats after a failed attempt, only where repeating is safe. Default 5; 0 disables.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
    },
    "retry_backoff": {
        "label": "Retry backoff (seconds)",
        "description": "First wait between attempts; doubles each time, with jitter. Retry-After wins. "
        "Default 1.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
}

_TIMEZONE_FIELD: dict[str, Any] = {
    "timezone": {
        "label": "Account time zone",
        "description": "Zone of the platform's dates, which carry none. Default America/Sao_Paulo.",
        "schema": {"type": ["string", "null"], "default": "America/Sao_Paulo"},
    },
}


def _webhook_fields(where: str) -> dict[str, Any]:
    """The receiver's fields (see docs/events.md): the token is a password field, never shown again."""
    return {
        "webhook_token": {
            "label": "Webhook token",
            "description": f"Secret the vendor sends with each webhook ({where}); enables "
            "POST /emailbr/webhooks/<conn_id> on the API server. Use a long random value.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "webhook_events": {
            "label": "Webhook events kept",
            "description": "Event types the receiver keeps (sent, delivered, deferred, bounced, rejected, "
            "opened, clicked, complained, unsubscribed, unknown); empty keeps all.",
            "schema": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    }


def _sender_fields(what: str) -> dict[str, Any]:
    return {
        "from_email": {
            "label": "Default sender e-mail",
            "description": f"Sender address used when a task gives none ({what}).",
            "schema": {"type": ["string", "null"], "format": "email"},
        },
        "from_name": {
            "label": "Default sender name",
            "description": "Sender name used when a task gives none.",
            "schema": {"type": ["string", "null"]},
        },
    }


def _host_placeholder(default_url: str) -> dict[str, str]:
    return {"host": default_url}


CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": "iagente_email",
        "hook-class-name": f"{PACKAGE}.hooks.iagente.IAgenteEmailHook",
        "hook-name": "IAGENTEmail",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"password": "Integration key", "host": "API base URL (optional)"},
            "placeholders": {
                **_host_placeholder("https://api.iagentemail.com/v1/"),
                "password": "IAGENTE-KEY integration hash",
            },
        },
        "conn-fields": {**_TIMEOUT_FIELDS},
    },
    {
        "connection-type": "envie_email",
        "hook-class-name": f"{PACKAGE}.hooks.envie.EnvieEmailHook",
        "hook-name": "envie.email",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "API base URL", "login": "Public key", "password": "Private key"},
            "placeholders": {
                "host": "https://<your envie.email API address>/ (required)",
                "login": "public-key",
                "password": "private-key",
            },
        },
        "conn-fields": {
            **_sender_fields("envie.email transactional sends"),
            "allowed_mime_types": {
                "label": "Allowed attachment MIME types",
                "description": "Comma-separated; only when envie.email support enabled more than the default "
                "pdf, zip, txt, xlsx, xls, jpeg and png.",
                "schema": {"type": ["string", "null"]},
            },
            **_webhook_fields("the token query parameter of the URL pasted in envie.email's panel"),
            **_TIMEOUT_FIELDS,
        },
    },
    {
        "connection-type": "criaenvio",
        "hook-class-name": f"{PACKAGE}.hooks.criaenvio.CriaEnvioHook",
        "hook-name": "CriaEnvio",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"password": "API key", "host": "API base URL (optional)"},
            "placeholders": {
                **_host_placeholder("https://api.criaenvio.com/v1/"),
                "password": "Key from 'Chaves da API'",
            },
        },
        "conn-fields": {**_TIMEZONE_FIELD, **_TIMEOUT_FIELDS},
    },
    {
        "connection-type": "mailgrid",
        "hook-class-name": f"{PACKAGE}.hooks.mailgrid.MailGridHook",
        "hook-name": "MailGrid",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {
                "login": "SMTP user",
                "password": "SMTP password",
                "host": "API base URL (optional)",
            },
            "placeholders": {
                **_host_placeholder("https://painel.mailgrid.com.br/api/"),
                "login": "usuario_smtp",
                "password": "senha_smtp",
            },
        },
        "conn-fields": {
            "smtp_host": {
                "label": "SMTP host",
                "description": "The account's SMTP relay (host_smtp, e.g. gridxxxx.mailgrid.com.br); "
                "required to send.",
                "schema": {"type": ["string", "null"]},
            },
            **_sender_fields("MailGrid sends"),
            **_TIMEZONE_FIELD,
            **_webhook_fields("MailGrid sends it in the X-Webhook-Token header"),
            **_TIMEOUT_FIELDS,
        },
    },
    {
        "connection-type": "emailmanager",
        "hook-class-name": f"{PACKAGE}.hooks.emailmanager.EmailManagerHook",
        "hook-name": "emailManager",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"password": "Server token", "host": "API base URL (optional)"},
            "placeholders": {
                **_host_placeholder("https://trans.emailmanager.com/"),
                "password": "X-Emailmanager-Server-Token",
            },
        },
        "conn-fields": {**_sender_fields("emailManager sends"), **_TIMEOUT_FIELDS},
    },
]

INTEGRATIONS: list[dict[str, Any]] = [
    {
        "integration-name": "IAGENTEmail",
        "external-doc-url": "https://www.iagente.com.br/",
        "tags": ["service"],
    },
    {"integration-name": "envie.email", "external-doc-url": "https://envie.email/", "tags": ["service"]},
    {"integration-name": "CriaEnvio", "external-doc-url": "https://www.criaenvio.com/", "tags": ["service"]},
    {
        "integration-name": "MailGrid",
        "external-doc-url": "https://www.mailgrid.com.br/api",
        "tags": ["service"],
    },
    {
        "integration-name": "emailManager",
        "external-doc-url": "https://www.emailmanager.com/",
        "tags": ["service"],
    },
]

HOOK_MODULES = {
    "IAGENTEmail": "hooks.iagente",
    "envie.email": "hooks.envie",
    "CriaEnvio": "hooks.criaenvio",
    "MailGrid": "hooks.mailgrid",
    "emailManager": "hooks.emailmanager",
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager."""
    return {
        "package-name": "airflow-provider-emailbr",
        "name": "Brazilian e-mail platforms (emailbr)",
        "description": "Hooks, operators, sensors, triggers and notifiers for the Brazilian e-mail platforms "
        "IAGENTEmail, envie.email, CriaEnvio, MailGrid and emailManager, with a local sandbox of their APIs.",
        "integrations": INTEGRATIONS,
        "hooks": [
            {"integration-name": name, "python-modules": [f"{PACKAGE}.{module}"]}
            for name, module in HOOK_MODULES.items()
        ],
        "connection-types": CONNECTION_TYPES,
        "operators": [
            {"integration-name": "IAGENTEmail", "python-modules": [f"{PACKAGE}.operators.iagente"]},
            {"integration-name": "CriaEnvio", "python-modules": [f"{PACKAGE}.operators.criaenvio"]},
            # operators.send holds SendEmailOperator, which sends through any of the three sending platforms
            # (chosen by the connection's type), so it is listed under each of them.
            {
                "integration-name": "MailGrid",
                "python-modules": [f"{PACKAGE}.operators.mailgrid", f"{PACKAGE}.operators.send"],
            },
            {
                "integration-name": "emailManager",
                "python-modules": [f"{PACKAGE}.operators.emailmanager", f"{PACKAGE}.operators.send"],
            },
            {
                "integration-name": "envie.email",
                "python-modules": [f"{PACKAGE}.operators.envie", f"{PACKAGE}.operators.send"],
            },
        ],
        "sensors": [
            {"integration-name": "CriaEnvio", "python-modules": [f"{PACKAGE}.sensors.criaenvio"]},
            {"integration-name": "MailGrid", "python-modules": [f"{PACKAGE}.sensors.mailgrid"]},
        ],
        "triggers": [
            {"integration-name": "CriaEnvio", "python-modules": [f"{PACKAGE}.triggers.criaenvio"]},
            {"integration-name": "MailGrid", "python-modules": [f"{PACKAGE}.triggers.mailgrid"]},
        ],
        "notifications": [
            f"{PACKAGE}.notifications.mailgrid.MailGridNotifier",
            f"{PACKAGE}.notifications.emailmanager.EmailManagerNotifier",
            f"{PACKAGE}.notifications.envie.EnvieEmailNotifier",
        ],
        "email-backends": [f"{PACKAGE}.utils.emailer.send_email"],
    }
