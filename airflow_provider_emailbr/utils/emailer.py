"""Airflow's ``[email] email_backend`` for MailGrid, emailManager and envie.email.

:func:`send_email` routes Airflow's own e-mails (failure and retry alerts, ``EmailOperator``,
``airflow.utils.email.send_email``) through the vendor of a connection, with the sending layer's one-shot
delivery (:mod:`airflow_provider_emailbr.sending.delivery`): the same adapters, requests and outcome rules as
the send operators and the notifiers. Configure it with::

    [email]
    email_backend = airflow_provider_emailbr.utils.emailer.send_email
    email_conn_id = mailgrid_default   # a mailgrid, emailmanager or envie_email connection

The message model, the adapters and the delivery used to live here; their names are re-exported below so
existing imports keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRInputError, EmailBRSendError
from airflow_provider_emailbr.sending.addresses import split_addresses
from airflow_provider_emailbr.sending.base import PlannedRequest, VendorAdapter
from airflow_provider_emailbr.sending.delivery import DeliveryReport, adapter_for, adapters, adeliver, deliver
from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter
from airflow_provider_emailbr.sending.envie import EnvieAdapter
from airflow_provider_emailbr.sending.mailgrid import MailGridAdapter
from airflow_provider_emailbr.sending.model import (
    AIRFLOW_PLACEHOLDER_SENDER,
    MAX_NAMED,
    Attachment,
    SimpleEmail,
    name_some,
)
from airflow_provider_emailbr.utils.privacy import mask_email

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "AIRFLOW_PLACEHOLDER_SENDER",
    "MAX_NAMED",
    "PLATFORMS",
    "Attachment",
    "DeliveryReport",
    "EmailBRSendError",
    "EmailManagerPlatform",
    "EnvieEmailPlatform",
    "MailGridPlatform",
    "PlannedRequest",
    "Platform",
    "SimpleEmail",
    "adeliver",
    "deliver",
    "name_some",
    "platform_for",
    "send_email",
    "split_addresses",
]

log = logging.getLogger(__name__)

#: The vendor adapters under their former names.
Platform = VendorAdapter
MailGridPlatform = MailGridAdapter
EmailManagerPlatform = EmailManagerAdapter
EnvieEmailPlatform = EnvieAdapter
#: The adapter of each supported connection type.
PLATFORMS: dict[str, VendorAdapter] = adapters()
#: Charsets the platforms' JSON (always UTF-8) can carry without loss.
_UTF8_COMPATIBLE = {"utf-8", "utf8", "us-ascii", "ascii"}


def platform_for(conn_id: str) -> VendorAdapter:
    """The adapter of connection ``conn_id``, from its connection type."""
    return adapter_for(conn_id, hint="; point [email] email_conn_id at one of them")


def send_email(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: Iterable[str | Path | ObjectStoragePath] | None = None,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    conn_id: str | None = None,
    from_email: str | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Airflow e-mail backend: send through the platform of connection ``conn_id``.

    Set ``[email] email_backend = airflow_provider_emailbr.utils.emailer.send_email`` and ``[email]
    email_conn_id`` to a ``mailgrid``, ``emailmanager`` or ``envie_email`` connection. Airflow calls it as
    ``send_email(to, subject, html_content, files=…, dryrun=…, cc=…, bcc=…, mime_subtype=…,
    mime_charset=…, conn_id=…, from_email=…, custom_headers=…)``.

    - ``to``/``cc``/``bcc``: an address, a comma/semicolon-separated string, or a list. MailGrid sends To in
      calls of ≤ 100 with the copies on the first call; emailManager puts ≤ 20 recipients in a message;
      envie.email has no copies, so every recipient gets an individual message.
    - ``files``: paths or ``ObjectStoragePath`` objects attached with a MIME type from their names
      (envie.email drops the extension and accepts only its MIME whitelist).
    - ``from_email`` (Airflow's ``[email] from_email``, may be ``Name <addr>``) overrides the connection's
      ``from_email`` extra, except Airflow's ``airflow@airflow`` placeholder, which is ignored.
    - ``dryrun=True`` validates and reads everything and sends nothing.
    - ``custom_headers`` are sent by emailManager only; the other platforms refuse them (error).
    - ``mime_subtype`` is ignored (each platform builds the MIME structure); ``mime_charset`` other than
      UTF-8 is ignored with a warning (the APIs take UTF-8 JSON).

    Outcomes follow the one classifier (:mod:`airflow_provider_emailbr.sending.outcomes`), as for the send
    operators. Raises :class:`EmailBRSendError` (or another
    :class:`~airflow_provider_emailbr.exceptions.EmailBRError`) when anything was not sent; returns one
    record per sent item otherwise (``[]`` on a dry run).
    """
    dryrun = bool(kwargs.pop("dryrun", False))
    custom_headers = kwargs.pop("custom_headers", None) or {}
    charset = str(kwargs.pop("mime_charset", None) or "utf-8")
    kwargs.pop("mime_subtype", None)
    if kwargs:
        log.debug("emailer.send_email ignores arguments %s", sorted(kwargs))
    if charset.lower() not in _UTF8_COMPATIBLE:
        log.warning("mime_charset %r ignored: the platforms' APIs carry UTF-8 text", charset)
    if conn_id is None:
        from airflow.sdk import conf

        conn_id = conf.get("email", "email_conn_id", fallback=None)
    if not conn_id:
        raise EmailBRConfigError(
            "conn_id: none given; set [email] email_conn_id to a mailgrid, emailmanager or envie_email "
            "connection"
        )
    platform = platform_for(conn_id)
    if custom_headers and platform.conn_type != "emailmanager":
        raise EmailBRInputError(
            f"custom_headers: {platform.name} cannot send custom headers ({', '.join(custom_headers)}); "
            "only emailManager can"
        )
    email = SimpleEmail(
        to=split_addresses(to, field="to"),
        cc=split_addresses(cc, field="cc"),
        bcc=split_addresses(bcc, field="bcc"),
        subject=subject,
        html=html_content,
        from_email=from_email,
        attachments=[Attachment.read(f) for f in files or ()],
        headers={str(k): str(v) for k, v in custom_headers.items()},
    )
    hook = platform.hook(conn_id)
    if dryrun:
        planned = platform.plan(hook, email).requests()
        log.info(
            "Dry run: %s e-mail %r to %d recipient(s) in %d request(s) not sent",
            platform.name,
            subject,
            len(email.recipients),
            len(planned),
        )
        return []
    report = deliver(hook, email, platform)
    log.info(
        "%s e-mail %r sent to %s", platform.name, subject, name_some([mask_email(a) for a in report.sent])
    )
    return report.answers
