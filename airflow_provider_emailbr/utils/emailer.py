"""Send one simple e-mail through MailGrid, emailManager or envie.email, and Airflow's e-mail backend.

Two users share this module: the notifiers (:mod:`airflow_provider_emailbr.notifications`), which render an
alert and deliver it synchronously (task callbacks) or asynchronously (deadline alerts in the triggerer),
and :func:`send_email`, the ``[email] email_backend`` that routes Airflow's own e-mails (failure and retry
alerts, ``EmailOperator``, ``airflow.utils.email.send_email``) to these platforms.

One :class:`Platform` per vendor turns a :class:`SimpleEmail` into the vendor's requests (validated before
anything is sent) and reads the vendor's answers; :func:`deliver` and :func:`adeliver` send those requests
with the hook's sync ``call`` or async ``acall``, so both paths build exactly the same requests. A send is
never repeated after an ambiguous failure (the HTTP core's rule), and a failed send always raises
:class:`EmailBRSendError`, naming which recipients were sent, refused, or unknown.

Configure Airflow's e-mails to go through a platform::

    [email]
    email_backend = airflow_provider_emailbr.utils.emailer.send_email
    email_conn_id = mailgrid_default   # a mailgrid, emailmanager or envie_email connection
"""

from __future__ import annotations

import logging
import mimetypes
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_emailbr.exceptions import (
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRError,
    EmailBRInputError,
    EmailBRSendError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.utils.encoding import unsendable_text
from airflow_provider_emailbr.utils.privacy import mask_email

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_emailbr.hooks.base import EmailBRHook

log = logging.getLogger(__name__)

#: The sender Airflow passes when ``[email] from_email`` is unset: not a deliverable address, so the
#: connection's ``from_email`` extra is used instead.
AIRFLOW_PLACEHOLDER_SENDER = "airflow@airflow"
#: Charsets the platforms' JSON (always UTF-8) can carry without loss.
_UTF8_COMPATIBLE = {"utf-8", "utf8", "us-ascii", "ascii"}
#: Longest list of addresses quoted in an error message.
MAX_NAMED = 20


def name_some(items: Sequence[str], limit: int = MAX_NAMED) -> str:
    """``a, b, c`` — at most ``limit`` items, then how many more."""
    shown = ", ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


# ---------------------------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Attachment:
    """A file to attach, read into memory: its name (with extension), bytes and MIME type."""

    name: str
    content: bytes
    mime: str

    @classmethod
    def read(cls, path: str | Path | ObjectStoragePath, *, conn_id: str | None = None) -> Attachment:
        """Read a local path or an ``ObjectStoragePath``/URI; the MIME type comes from the file name."""
        from airflow_provider_emailbr.utils.storage import as_path

        target = as_path(path, conn_id)
        if not target.exists():
            raise EmailBRInputError(f"attachment {str(path)!r}: file does not exist")
        name = target.name
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(name=name, content=target.read_bytes(), mime=mime)


def split_addresses(value: str | Iterable[str] | None, *, field: str = "to") -> list[str]:
    """Addresses from a string (separated by commas or semicolons) or an iterable of strings, in order.

    Duplicates (case-insensitive) are dropped: each address receives a message once.
    """
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.replace(";", ",").split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise EmailBRInputError(f"{field}: {value!r} is not an address or a list of addresses")
    seen: set[str] = set()
    out = []
    for item in items:
        if not isinstance(item, str):
            raise EmailBRInputError(f"{field}: {item!r} is not an e-mail address (a string is required)")
        address = item.strip()
        if not address:
            continue
        if "@" not in address or not address.isprintable() or unsendable_text(address):
            raise EmailBRInputError(f"{field}: {mask_email(address)!r} is not an e-mail address")
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


@dataclass(frozen=True)
class SimpleEmail:
    """One e-mail to a few people: what a notifier or Airflow's e-mail backend sends.

    ``html`` and/or ``text`` give the body. ``from_email`` may be ``Name <addr>``; unset fields fall back to
    the connection's ``from_email``/``from_name`` extras. ``headers`` and ``tag`` are emailManager-only.
    """

    to: list[str]
    subject: str
    html: str | None = None
    text: str | None = None
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    tag: str | None = None

    def __post_init__(self) -> None:
        if not self.to:
            raise EmailBRInputError("to: at least one recipient is required")
        if not str(self.subject or "").strip():
            raise EmailBRInputError("subject: a non-empty subject is required")
        if not (self.html or self.text):
            raise EmailBRInputError("html/text: give an HTML body, a plain-text body, or both")

    @property
    def sender(self) -> tuple[str | None, str | None]:
        """``(name, address)`` from ``from_email``/``from_name``; Airflow's placeholder sender is ignored."""
        raw = (self.from_email or "").strip()
        name, address = parseaddr(raw) if raw else ("", "")
        if address.lower() == AIRFLOW_PLACEHOLDER_SENDER:
            name, address = "", ""
        return (self.from_name or name or None), (address or None)

    @property
    def recipients(self) -> list[str]:
        """Every address the e-mail goes to: To, then Cc, then Bcc."""
        return [*self.to, *self.cc, *self.bcc]


# ------------------------------------------------------------------------------------------ platforms


@dataclass
class PlannedRequest:
    """One request of a delivery: the body to send and the addresses it reaches."""

    body: dict[str, Any]
    recipients: list[str]


class Platform(ABC):
    """How one vendor sends a :class:`SimpleEmail`: plan the requests, send one, read its answer."""

    conn_type: ClassVar[str]
    name: ClassVar[str]
    #: The hook's default connection id.
    default_conn_id: ClassVar[str]

    @abstractmethod
    def hook(self, conn_id: str | None) -> EmailBRHook:
        """A hook of this platform for ``conn_id`` (or the hook's default connection)."""

    @abstractmethod
    def plan(self, hook: Any, email: SimpleEmail) -> list[PlannedRequest]:
        """Every request of the delivery, validated; nothing is sent. Needs the hook's settings loaded."""

    @abstractmethod
    def send(self, hook: Any, body: Mapping[str, Any]) -> Any:
        """Send one planned body (sync)."""

    @abstractmethod
    async def asend(self, hook: Any, body: Mapping[str, Any]) -> Any:
        """Send one planned body without blocking the event loop."""

    def refused(self, request: PlannedRequest, answer: Any) -> dict[str, str]:
        """Recipients of ``request`` that the vendor's ``answer`` refused, with the reason."""
        return {}


class MailGridPlatform(Platform):
    """MailGrid: ≤ 100 To per call; Cc/Bcc ride with the first call only; per-recipient answers."""

    conn_type = "mailgrid"
    default_conn_id = "mailgrid_default"
    name = "MailGrid"

    def hook(self, conn_id: str | None) -> EmailBRHook:
        from airflow_provider_emailbr.hooks.mailgrid import MailGridHook

        return MailGridHook(mailgrid_conn_id=conn_id or MailGridHook.default_conn_name)

    def plan(self, hook: Any, email: SimpleEmail) -> list[PlannedRequest]:
        from airflow_provider_emailbr.hooks.mailgrid import MAX_RECIPIENTS, MailGridAttachment

        name, address = email.sender
        chunks = [email.to[i : i + MAX_RECIPIENTS] for i in range(0, len(email.to), MAX_RECIPIENTS)]
        first = hook.build_send_body(
            to=chunks[0],
            subject=email.subject,
            message=email.html or email.text,
            message_type="html" if email.html else "text",
            alt_message=email.text if email.html else None,
            from_email=address,
            from_name=name,
            reply_to=email.reply_to,
            cc=email.cc or None,
            bcc=email.bcc or None,
            attachments=[MailGridAttachment(a.name, a.content, a.mime) for a in email.attachments],
        )
        planned = [PlannedRequest(first, [*chunks[0], *email.cc, *email.bcc])]
        for chunk in chunks[1:]:
            body = {
                k: v for k, v in first.items() if k not in ("emailDestinoCopia", "emailDestinoCopiaOculta")
            }
            body["emailDestino"] = list(chunk)
            planned.append(PlannedRequest(body, list(chunk)))
        return planned

    def send(self, hook: Any, body: Mapping[str, Any]) -> Any:
        return hook.send_body(body)

    async def asend(self, hook: Any, body: Mapping[str, Any]) -> Any:
        return await hook.asend_body(body)

    def refused(self, request: PlannedRequest, answer: Any) -> dict[str, str]:
        to = request.body["emailDestino"]
        results = {str(r.get("to", "")).strip().lower(): r for r in answer or []}
        refused = {}
        for position, address in enumerate(to):
            result = results.get(address.lower())
            if result is None and position < len(answer or []) and not answer[position].get("to"):
                result = answer[position]
            if result is None:
                refused[address] = "not in MailGrid's answer"
            elif str(result.get("codigo")) != "200":
                refused[address] = f"code {result.get('codigo')}: {result.get('status')}"
        if len(refused) == len(to):  # the copies ride with the first accepted recipient
            for address in request.recipients[len(to) :]:
                refused[address] = "no recipient of the call was accepted"
        return refused


class EmailManagerPlatform(Platform):
    """emailManager: one message carries To + Cc + Bcc ≤ 20; more To go in further messages."""

    conn_type = "emailmanager"
    default_conn_id = "emailmanager_default"
    name = "emailManager"

    def hook(self, conn_id: str | None) -> EmailBRHook:
        from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook

        return EmailManagerHook(emailmanager_conn_id=conn_id or EmailManagerHook.default_conn_name)

    def plan(self, hook: Any, email: SimpleEmail) -> list[PlannedRequest]:
        from airflow_provider_emailbr.hooks.emailmanager import (
            MAX_RECIPIENTS_PER_MESSAGE,
            attachment_from_bytes,
        )

        copies = len(email.cc) + len(email.bcc)
        room = MAX_RECIPIENTS_PER_MESSAGE - copies
        if room < 1:
            raise EmailBRInputError(
                f"cc/bcc: {copies} copies leave no room for a To recipient within emailManager's "
                f"{MAX_RECIPIENTS_PER_MESSAGE} recipients per message"
            )
        name, address = email.sender
        if address is None and name is None:
            sender = hook.default_sender()
        else:
            sender = address or hook.extra("from_email")
            sender = formataddr((name, sender)) if name and sender else sender
        attachments = [attachment_from_bytes(a.name, a.content, a.mime) for a in email.attachments]
        groups = [email.to[:room]] + [
            email.to[i : i + MAX_RECIPIENTS_PER_MESSAGE]
            for i in range(room, len(email.to), MAX_RECIPIENTS_PER_MESSAGE)
        ]
        planned = []
        for index, group in enumerate(groups):
            first = index == 0
            message = hook.build_message(
                to=group,
                subject=email.subject,
                html_body=email.html,
                text_body=email.text,
                from_email=sender,
                cc=email.cc if first else None,
                bcc=email.bcc if first else None,
                reply_to=email.reply_to,
                tag=email.tag,
                headers=email.headers or None,
                attachments=attachments or None,
            )
            planned.append(PlannedRequest(message, [*group, *(email.cc + email.bcc if first else [])]))
        return planned

    def send(self, hook: Any, body: Mapping[str, Any]) -> Any:
        return hook.send_email(body)

    async def asend(self, hook: Any, body: Mapping[str, Any]) -> Any:
        return await hook.asend_email(body)


class EnvieEmailPlatform(Platform):
    """envie.email: one ``singlesending/create`` per recipient (it has no copies), attachments once."""

    conn_type = "envie_email"
    default_conn_id = "envie_default"
    name = "envie.email"

    def hook(self, conn_id: str | None) -> EmailBRHook:
        from airflow_provider_emailbr.hooks.envie import EnvieEmailHook

        return EnvieEmailHook(envie_conn_id=conn_id or EnvieEmailHook.default_conn_name)

    def plan(self, hook: Any, email: SimpleEmail) -> list[PlannedRequest]:
        from airflow_provider_emailbr.hooks.envie import EnvieAttachment

        name, address = email.sender
        first = hook.build_send_body(
            to_email=email.recipients[0],
            subject=email.subject,
            body=email.html or _text_as_html(email.text or ""),
            plain_text=email.text,
            from_email=address,
            from_name=name,
            reply_to_email=email.reply_to,
            attachments=[EnvieAttachment(Path(a.name).stem, a.content, a.mime) for a in email.attachments],
        )
        planned = []
        for recipient in email.recipients:
            body = dict(first)
            body["to_email"] = recipient
            body["to_name"] = recipient.split("@")[0]
            planned.append(PlannedRequest(body, [recipient]))
        return planned

    def send(self, hook: Any, body: Mapping[str, Any]) -> Any:
        return hook.send_body(body)

    async def asend(self, hook: Any, body: Mapping[str, Any]) -> Any:
        return await hook.asend_body(body)


PLATFORMS: dict[str, Platform] = {
    p.conn_type: p for p in (MailGridPlatform(), EmailManagerPlatform(), EnvieEmailPlatform())
}


def _text_as_html(text: str) -> str:
    import html

    return "<pre>" + html.escape(text) + "</pre>"


# ------------------------------------------------------------------------------------------- delivery


@dataclass
class DeliveryReport:
    """What a delivery achieved, request by request."""

    platform: str
    answers: list[Any] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    not_attempted: list[str] = field(default_factory=list)

    def record(self, request: PlannedRequest, platform: Platform, answer: Any) -> None:
        """Account for an answered request."""
        self.answers.append(answer)
        refused = platform.refused(request, answer)
        self.refused.update(refused)
        self.sent.extend(r for r in request.recipients if r not in refused)

    def fail(self, request: PlannedRequest, err: EmailBRError) -> bool:
        """Account for a failed request; return whether the delivery must stop here."""
        reason = str(err)
        if isinstance(err, EmailBRTransportError) and err.request_sent:
            self.unknown.update(dict.fromkeys(request.recipients, reason))
            return True
        self.refused.update(dict.fromkeys(request.recipients, reason))
        return isinstance(err, (EmailBRAuthError, EmailBRConfigError, EmailBRTransportError))

    def raise_for_failures(self) -> None:
        """Raise :class:`EmailBRSendError` unless every recipient was confirmed sent."""
        if not (self.refused or self.unknown or self.not_attempted):
            return
        parts = [f"{self.platform} e-mail not fully sent: {len(self.sent)} recipient(s) sent"]
        if self.refused:
            reasons = sorted(set(self.refused.values()))
            parts.append(
                f"{len(self.refused)} refused ({name_some([mask_email(a) for a in self.refused])}): "
                + "; ".join(reasons[:3])
            )
        if self.unknown:
            parts.append(
                f"{len(self.unknown)} unknown — the request went out and the answer was lost, so it was not "
                f"repeated; check the platform's report before sending again "
                f"({name_some([mask_email(a) for a in self.unknown])})"
            )
        if self.not_attempted:
            parts.append(f"{len(self.not_attempted)} not attempted after the failure")
        raise EmailBRSendError(
            "; ".join(parts),
            sent=self.sent,
            refused=list(self.refused),
            unknown=list(self.unknown),
        )


def deliver(hook: Any, email: SimpleEmail, platform: Platform) -> DeliveryReport:
    """Send ``email`` with ``hook`` (sync); raise :class:`EmailBRSendError` if anything was not sent."""
    planned = platform.plan(hook, email)
    report = DeliveryReport(platform.name)
    for position, request in enumerate(planned):
        try:
            answer = platform.send(hook, request.body)
        except EmailBRError as err:
            if report.fail(request, err):
                report.not_attempted = [a for r in planned[position + 1 :] for a in r.recipients]
                break
            continue
        report.record(request, platform, answer)
    report.raise_for_failures()
    return report


async def adeliver(hook: Any, email: SimpleEmail, platform: Platform) -> DeliveryReport:
    """The asynchronous twin of :func:`deliver`: the same requests, sent with the hook's ``acall``."""
    await hook.aget_settings()
    planned = platform.plan(hook, email)
    report = DeliveryReport(platform.name)
    for position, request in enumerate(planned):
        try:
            answer = await platform.asend(hook, request.body)
        except EmailBRError as err:
            if report.fail(request, err):
                report.not_attempted = [a for r in planned[position + 1 :] for a in r.recipients]
                break
            continue
        report.record(request, platform, answer)
    report.raise_for_failures()
    return report


def platform_for(conn_id: str) -> Platform:
    """The platform of connection ``conn_id``, from its connection type."""
    from airflow.sdk import BaseHook

    conn_type = BaseHook.get_connection(conn_id).conn_type
    platform = PLATFORMS.get(conn_type or "")
    if platform is None:
        raise EmailBRConfigError(
            f"Connection {conn_id!r} has type {conn_type!r}: this e-mail backend sends through connections "
            f"of type {', '.join(sorted(PLATFORMS))}; point [email] email_conn_id at one of them"
        )
    return platform


# ----------------------------------------------------------------------------------- e-mail backend


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
) -> list[Any]:
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

    Raises :class:`EmailBRSendError` (or another :class:`~airflow_provider_emailbr.exceptions.EmailBRError`)
    when anything was not sent; returns the vendor's answers otherwise (``[]`` on a dry run).
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
        planned = platform.plan(hook, email)
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
