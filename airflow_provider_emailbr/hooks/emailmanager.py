"""emailManager: transactional send, one message or a batch (``https://trans.emailmanager.com/``).

The API follows Postmark's v1 format: the server token goes in ``X-Emailmanager-Server-Token``, requests
must say ``Accept`` and ``Content-Type: application/json`` (else ErrorCode 409), and refused input comes
back as HTTP 422 ``{"ErrorCode", "Message"}``. At most 500 messages per batch and 20 recipients
(To + Cc + Bcc) per message.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import (
    EmailBRAuthError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRValidationError,
    excerpt,
)
from airflow_provider_emailbr.hooks.base import EmailBRHook, Endpoint, PreparedCall
from airflow_provider_emailbr.sending.addresses import format_address, parse_addresses
from airflow_provider_emailbr.utils.encoding import unsendable_text
from airflow_provider_emailbr.utils.text import read_int, required

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_emailbr.hooks.base import HookOptions

MAX_BATCH_MESSAGES = 500
MAX_RECIPIENTS_PER_MESSAGE = 20
#: Fields of one message in the vendor's (Postmark v1) format.
MESSAGE_FIELDS = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "HtmlBody",
    "TextBody",
    "ReplyTo",
    "Tag",
    "Headers",
    "Attachments",
)

_ERROR_CLASSES = {0: EmailBRAuthError, 405: EmailBRAuthError, 407: EmailBRNotFoundError}

ENDPOINTS = {
    "email": Endpoint("POST", "email", idempotent=False),
    "batch": Endpoint("POST", "email/batch", idempotent=False),
    "delivery_stats": Endpoint("GET", "deliverystats"),
    "bounces": Endpoint("GET", "bounces"),
}


class EmailManagerHook(EmailBRHook):
    """Call the emailManager transactional API: single and batch sends, delivery stats and bounces.

    Connection type ``emailmanager``: Password = server token; extras ``from_email`` (default sender).
    Host (optional) = full base URL.

    :param emailmanager_conn_id: Airflow connection id.
    :param options: the :class:`~airflow_provider_emailbr.hooks.base.HookOptions` (``timeout``,
        ``retry_policy``), passed on to :class:`~airflow_provider_emailbr.hooks.base.EmailBRHook`.
    """

    conn_name_attr = "emailmanager_conn_id"
    default_conn_name = "emailmanager_default"
    conn_type = "emailmanager"
    hook_name = "emailManager"
    platform = hook_name
    default_base_url = "https://trans.emailmanager.com/"
    required_fields = {"password": "server token (Password)"}

    def __init__(self, emailmanager_conn_id: str = default_conn_name, **options: Unpack[HookOptions]) -> None:
        super().__init__(conn_id=emailmanager_conn_id, **options)

    def _authorize(self, call: PreparedCall) -> None:
        call.headers["X-Emailmanager-Server-Token"] = self.settings.password or ""
        call.headers["Accept"] = "application/json"
        call.headers["Content-Type"] = "application/json"

    def _check_payload(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], payload: Any, body: bytes
    ) -> None:
        if not isinstance(payload, Mapping) or "ErrorCode" not in payload:
            return
        code = read_int(payload.get("ErrorCode"))
        if status < 400:
            if code in (0, None):
                return  # the success envelope (ErrorCode 0)
            # the error envelope inside an HTTP 200 (the vendor documents 401/422; a proxy may not)
            error_class = _ERROR_CLASSES.get(code) or EmailBRValidationError
        else:
            error_class = EmailBRAuthError if status == 401 else _ERROR_CLASSES.get(code)
        if error_class is None and status == 422:
            error_class = EmailBRValidationError
        raise self.api_error(
            call,
            status,
            headers=headers,
            vendor_code=str(code) if code is not None else None,
            vendor_message=str(payload.get("Message") or ""),
            error_class=error_class,
        )

    def build_message(
        self,
        *,
        to: Sequence[str] | str,
        subject: str,
        html_body: str | None = None,
        text_body: str | None = None,
        from_email: str | None = None,
        cc: Sequence[str] | str | None = None,
        bcc: Sequence[str] | str | None = None,
        reply_to: str | None = None,
        tag: str | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Iterable[Mapping[str, Any] | str | Path] | None = None,
    ) -> dict[str, Any]:
        """Build one message in the vendor's format from Pythonic arguments (validated).

        ``from_email`` defaults to :meth:`default_sender`; addresses may be ``"Name" <addr>``.
        Attachments are paths (read and base64-encoded, MIME type from the name) or ready mappings
        ``{"Name", "Content", "ContentType"}``.
        """
        message: dict[str, Any] = {
            "From": from_email or self.default_sender(),
            "To": _join(to),
            "Subject": subject,
        }
        optional = {
            "Cc": _join(cc) if cc else None,
            "Bcc": _join(bcc) if bcc else None,
            "HtmlBody": html_body,
            "TextBody": text_body,
            "ReplyTo": reply_to,
            "Tag": tag,
            "Headers": _headers(headers) if headers else None,
            "Attachments": [_attachment(a) for a in attachments] if attachments else None,
        }
        message.update({k: v for k, v in optional.items() if v})
        validate_message(message)
        return message

    def default_sender(self) -> str | None:
        """The connection's default ``From``: ``from_email``, as ``"from_name" <from_email>`` when named.

        The doc: 'From, To e ReplyTo também aceitam "Nome da Conta" <remetente@dominio.com.br>'. The name
        stays UTF-8 text in the JSON (never an RFC 2047 encoded word, which would show as ``=?utf-8?…``).
        """
        address = self.extra("from_email")
        name = self.extra("from_name")
        return format_address(address, name) if address else address

    def send_email(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send one message (``POST /email``); never retried after a lost answer.

        ``message`` is in the vendor's format (see :meth:`build_message`). Returns ``{"ErrorCode": 0,
        "Message": "OK", "MessageID", "SubmittedAt", "To"}``.
        """
        validate_message(message)
        return self.call(ENDPOINTS["email"], json_body=dict(message)) or {}

    async def asend_email(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The asynchronous twin of :meth:`send_email` (notifiers in the triggerer); same no-repeat rule.

        Build ``message`` after ``await hook.aget_settings()`` when it relies on the connection's
        ``from_email``, so that reading the extras does not block the event loop.
        """
        validate_message(message)
        return await self.acall(ENDPOINTS["email"], json_body=dict(message)) or {}

    def send_batch(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Send up to 500 messages in one call (``POST /email/batch``); never retried after a lost answer.

        Returns one result per message, aligned with the input; a refused message has its own
        non-zero ``ErrorCode`` without failing the others.
        """
        answer = self.call(ENDPOINTS["batch"], json_body=_batch_body(messages))
        return list(answer) if isinstance(answer, list) else [answer]

    async def asend_batch(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The asynchronous twin of :meth:`send_batch`; same limits and no-repeat rule."""
        answer = await self.acall(ENDPOINTS["batch"], json_body=_batch_body(messages))
        return list(answer) if isinstance(answer, list) else [answer]

    def delivery_stats(self) -> dict[str, Any]:
        """Delivery statistics of the server (``GET /deliverystats``)."""
        return self.call(ENDPOINTS["delivery_stats"]) or {}

    def bounces(self, *, count: int = 25, offset: int = 0, **filters: Any) -> dict[str, Any]:
        """One page of bounces (``GET /bounces?count=&offset=``)."""
        if not 1 <= count <= 500 or offset < 0:
            raise EmailBRInputError(f"count must be 1-500 and offset ≥ 0, got count={count}, offset={offset}")
        return self.call(ENDPOINTS["bounces"], params={"count": count, "offset": offset, **filters}) or {}

    def _probe(self) -> str:
        self._probe_answer(self.delivery_stats(), "deliverystats")
        return "emailManager token accepted: GET /deliverystats answered."


def _batch_body(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``email/batch`` body: 1 to 500 validated messages."""
    if not messages:
        raise EmailBRInputError("messages: at least one message is required")
    if len(messages) > MAX_BATCH_MESSAGES:
        raise EmailBRInputError(
            f"messages: {len(messages)} exceed emailManager's limit of {MAX_BATCH_MESSAGES} per batch"
        )
    for index, message in enumerate(messages):
        validate_message(message, where=f"messages[{index}]")
    return [dict(m) for m in messages]


def validate_message(message: Mapping[str, Any], *, where: str = "message") -> None:
    """Check one message before it is sent: known fields, sender, recipients (≤ 20 in all), body."""
    unknown = sorted(set(message) - set(MESSAGE_FIELDS))
    if unknown:
        raise EmailBRInputError(f"{where}: unknown field(s) {unknown}; allowed: {', '.join(MESSAGE_FIELDS)}")
    for key in ("From", "Subject", "HtmlBody", "TextBody", "ReplyTo", "Tag"):
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            raise EmailBRInputError(
                f"{where}.{key}: expected text, got {type(value).__name__} {excerpt(repr(value), 80)}"
            )
        bad = unsendable_text(value)
        if bad is not None:
            raise EmailBRInputError(f"{where}.{key}: holds {bad!r}, a lone surrogate that is not a character")
    for key in ("To", "Cc", "Bcc"):
        value = message.get(key)
        if value is None:
            continue
        if not isinstance(value, (str, list, tuple)) or (
            not isinstance(value, str) and not all(isinstance(i, str) for i in value)
        ):
            raise EmailBRInputError(
                f"{where}.{key}: expected addresses as text or a list of texts, got "
                f"{excerpt(repr(value), 80)}"
            )
        parse_addresses(value, field=f"{where}.{key}")  # a clear error for anything that is not one
    for key, fields in (
        ("Headers", ("Name", "Value")),
        ("Attachments", ("Name", "Content", "ContentType")),
    ):
        items = message.get(key)
        if items is None:
            continue
        if not isinstance(items, (list, tuple)) or not all(
            isinstance(i, Mapping) and all(isinstance(i.get(f), str) for f in fields) for i in items
        ):
            raise EmailBRInputError(
                f"{where}.{key}: expected a list of {{{', '.join(fields)}}} objects with text values, got "
                f"{excerpt(repr(items), 80)}"
            )
    if not message.get("From"):
        raise EmailBRInputError(f"{where}.From: required (or set the connection's 'from_email' extra)")
    if not parse_addresses(message.get("To"), field=f"{where}.To"):
        raise EmailBRInputError(f"{where}.To: at least one recipient is required")
    required(f"{where}.Subject", message.get("Subject"))
    if not message.get("HtmlBody") and not message.get("TextBody"):
        raise EmailBRInputError(f"{where}: give HtmlBody, TextBody or both")
    total = sum(len(parse_addresses(message.get(k), field=f"{where}.{k}")) for k in ("To", "Cc", "Bcc"))
    if total > MAX_RECIPIENTS_PER_MESSAGE:
        raise EmailBRInputError(
            f"{where}: {total} recipients (To + Cc + Bcc) exceed emailManager's limit of "
            f"{MAX_RECIPIENTS_PER_MESSAGE} per message"
        )


def _headers(headers: Any) -> list[dict[str, Any]]:
    if not isinstance(headers, Mapping):
        raise EmailBRInputError(
            f"headers: expected a dict of header name to value, got {excerpt(repr(headers), 80)}"
        )
    return [{"Name": k, "Value": v} for k, v in headers.items()]


def split_addresses(value: Any) -> list[str]:
    """Addresses of a To/Cc/Bcc field, separated by commas or semicolons outside quoted names.

    ``"Silva, Ana" <ana@exemplo.com.br>`` is one address (the doc: To "aceita 'Nome da Conta' <addr>").
    """
    if not value:
        return []
    return [a.formatted() for a in parse_addresses(value, field="addresses")]


def _join(value: Sequence[str] | str | None) -> str:
    return ", ".join(split_addresses(value))


def attachment_from_bytes(name: str, content: bytes, content_type: str | None = None) -> dict[str, Any]:
    """One attachment in the vendor's format ``{"Name", "Content" (base64), "ContentType"}``.

    The content type is guessed from ``name`` when not given. For files on object storage, whose bytes the
    caller has already read.
    """
    required("attachment name", name)
    return {
        "Name": name,
        "Content": base64.b64encode(content).decode("ascii"),
        "ContentType": content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
    }


def _attachment(item: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(item, Mapping):
        missing = {"Name", "Content", "ContentType"} - set(item)
        if missing:
            raise EmailBRInputError(f"attachment {item.get('Name')!r}: missing {sorted(missing)}")
        return dict(item)
    path = Path(item)
    return {
        "Name": path.name,
        "Content": base64.b64encode(path.read_bytes()).decode("ascii"),
        "ContentType": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
    }
