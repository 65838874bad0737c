"""envie.email: lists, transactional send and webhook events.

The documentation gives no base URL, so the connection's Host must hold it. Both keys go in headers
(``public-key`` and ``private-key``); bodies are JSON. Errors are plain HTTP statuses (400, 401, 403, 404,
405, 406 not JSON, 409 blacklisted address, 429, 500, 503). Decisions where the docs are silent: list pages
are asked with the query parameters ``page`` and ``per_page``; a list's subscribers are read with
``POST /lists/show`` and the list's ``UID`` in the body (the page shows only "POST parameter UID" beside
``/lists/show``).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

# The webhook parser lives in events.envie (one place for its rules); re-exported here for existing imports.
from airflow_provider_emailbr.events.envie import EnvieEventType as EnvieEventType
from airflow_provider_emailbr.events.envie import EnvieWebhookEvent as EnvieWebhookEvent
from airflow_provider_emailbr.events.envie import parse_webhook_event as parse_webhook_event
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.base import EmailBRHook, Endpoint, PreparedCall
from airflow_provider_emailbr.utils.encoding import unsendable_text
from airflow_provider_emailbr.utils.pagination import ENVIE_PAGES
from airflow_provider_emailbr.utils.text import required, split_list

if TYPE_CHECKING:
    from typing_extensions import Required, Unpack

    from airflow_provider_emailbr.hooks.base import HookOptions

#: MIME types the vendor accepts by default; support can enable others (connection extra
#: ``allowed_mime_types``, comma-separated, replaces this list).
DEFAULT_ALLOWED_MIME_TYPES = (
    "application/pdf",
    "application/zip",
    "text/plain",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/excel",
    "image/jpeg",
    "image/png",
)
SEND_REQUIRED = (
    "to_name",
    "to_email",
    "from_name",
    "from_email",
    "reply_to_name",
    "reply_to_email",
    "subject",
    "body",
)
# Patterns compiled on first use by the ``re`` module (and kept in its cache), not at import.
_EXTENSION = r"\.[A-Za-z0-9]{1,5}$"
_HTML_OPEN = r"(?i)<html(?:\s[^>]*)?>"
_BODY_OPEN = r"(?i)<body(?:\s[^>]*)?>"

ENDPOINTS = {
    "list_create": Endpoint("POST", "lists/create", idempotent=False),
    "list_get": Endpoint("POST", "lists/get", idempotent=True),
    "lists_show": Endpoint("GET", "lists/show"),
    "list_subscribers": Endpoint("POST", "lists/show", idempotent=True),
    "send": Endpoint("POST", "singlesending/create", idempotent=False),
}


class EnvieAttachment(NamedTuple):
    """One attachment: ``name`` without extension (unique in the message), MIME type and raw content."""

    name: str
    content: bytes
    mime: str

    @classmethod
    def from_path(cls, path: str | Path, *, mime: str | None = None) -> EnvieAttachment:
        """Read a local file; the name loses its extension and the MIME type comes from it."""
        file = Path(path)
        guessed = mime or mimetypes.guess_type(file.name)[0]
        if not guessed:
            raise EmailBRInputError(f"attachment {file.name!r}: cannot tell its MIME type; pass mime=")
        return cls(name=file.stem, content=file.read_bytes(), mime=guessed)


class EnvieMessage(TypedDict, total=False):
    """One transactional e-mail: the keyword arguments of :meth:`EnvieEmailHook.send` and
    :meth:`EnvieEmailHook.build_send_body` (which writes them out with their defaults; a test keeps the two
    equal). ``to_email``, ``subject`` and ``body`` are required.
    """

    to_email: Required[str]
    """The recipient's address."""
    subject: Required[str]
    """The subject."""
    body: Required[str]
    """The HTML body, sent as a full HTML document (see :func:`html_document`)."""

    to_name: str | None
    """The recipient's name; defaults to the address's local part."""
    from_email: str | None
    """Sender address; defaults to the connection's ``from_email`` extra."""
    from_name: str | None
    """Sender name; defaults to the connection's ``from_name`` extra, then the sender address."""
    reply_to_email: str | None
    """Reply-to address; defaults to the sender."""
    reply_to_name: str | None
    """Reply-to name; defaults to the sender's name."""
    plain_text: str | None
    """The plain-text alternative."""
    attachments: Iterable[EnvieAttachment | str | Path] | None
    """Files to attach: :class:`EnvieAttachment` objects or local paths (MIME types must be allowed)."""


class EnvieEmailHook(EmailBRHook):
    """Call the envie.email API: lists, subscribers and transactional sends; parse its webhooks.

    Connection type ``envie_email``: Host = API base URL (required), Login = ``public-key``,
    Password = ``private-key``; extras ``from_email``/``from_name`` (sender defaults) and
    ``allowed_mime_types`` (comma-separated, when support enabled more types).

    :param envie_conn_id: Airflow connection id.
    :param options: the :class:`~airflow_provider_emailbr.hooks.base.HookOptions` (``timeout``,
        ``retry_policy``), passed on to :class:`~airflow_provider_emailbr.hooks.base.EmailBRHook`.
    """

    conn_name_attr = "envie_conn_id"
    default_conn_name = "envie_default"
    conn_type = "envie_email"
    hook_name = "envie.email"
    platform = hook_name
    default_base_url = None
    required_fields = {
        "host": "API base URL (Host)",
        "login": "public-key (Login)",
        "password": "private-key (Password)",
    }
    page_scheme = ENVIE_PAGES

    def __init__(self, envie_conn_id: str = default_conn_name, **options: Unpack[HookOptions]) -> None:
        super().__init__(conn_id=envie_conn_id, **options)

    @classmethod
    def secret_login(cls) -> bool:
        return True

    def _authorize(self, call: PreparedCall) -> None:
        call.headers["public-key"] = self.settings.login or ""
        call.headers["private-key"] = self.settings.password or ""
        call.headers["Accept"] = "application/json"

    def _check_payload(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], payload: Any, body: bytes
    ) -> None:
        if not isinstance(payload, Mapping) or (status < 400 and payload.get("status") != "error"):
            return
        message = payload.get("error") or payload.get("message")
        if isinstance(message, Mapping):
            message = json.dumps(message, ensure_ascii=False)
        raise self.api_error(
            call,
            status,
            headers=headers,
            vendor_code=str(payload.get("status") or "") or None,
            vendor_message=str(message) if message else None,
        )

    @property
    def allowed_mime_types(self) -> tuple[str, ...]:
        """The attachment MIME whitelist: the connection's ``allowed_mime_types`` or the vendor default."""
        configured = self.extra("allowed_mime_types")
        if not configured:
            return DEFAULT_ALLOWED_MIME_TYPES
        return tuple(split_list("allowed_mime_types", configured))

    # ------------------------------------------------------------------ lists

    def create_list(self, *, name: str, description: str) -> dict[str, Any]:
        """Create a list (``POST /lists/create``); returns ``{"status", "list_uid"}``."""
        for key, value in (("name", name), ("description", description)):
            required(key, value)
        return self.call(
            ENDPOINTS["list_create"], json_body={"general": {"name": name, "description": description}}
        )

    def get_list(self, list_uid: str) -> dict[str, Any]:
        """One list's data (``POST /lists/get`` with ``{"list": uid}``)."""
        return self.call(ENDPOINTS["list_get"], json_body={"list": list_uid}) or {}

    def show_lists(self, *, page: int = 1, per_page: int | None = None) -> dict[str, Any]:
        """One page of lists (``GET /lists/show?page=&per_page=``)."""
        return self.call(ENDPOINTS["lists_show"], params=_page_params(page, per_page)) or {}

    def iter_lists(self, *, per_page: int | None = None) -> Iterator[dict[str, Any]]:
        """Every list, page by page, lazily."""
        return self.paginate(lambda page: self.show_lists(page=page, per_page=per_page))

    def list_subscribers(
        self, list_uid: str, *, page: int = 1, per_page: int | None = None
    ) -> dict[str, Any]:
        """One page of a list's subscribers (``POST /lists/show`` with ``{"UID": uid}``)."""
        return (
            self.call(
                ENDPOINTS["list_subscribers"],
                params=_page_params(page, per_page),
                json_body={"UID": list_uid},
            )
            or {}
        )

    def iter_subscribers(self, list_uid: str, *, per_page: int | None = None) -> Iterator[dict[str, Any]]:
        """Every subscriber of a list (``subscriber_uid``, ``EMAIL``, ``FNAME``, ``LNAME``, ``status`` …)."""
        return self.paginate(lambda page: self.list_subscribers(list_uid, page=page, per_page=per_page))

    # ------------------------------------------------------------------ transactional send

    def build_send_body(
        self,
        *,
        to_email: str,
        subject: str,
        body: str,
        to_name: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to_email: str | None = None,
        reply_to_name: str | None = None,
        plain_text: str | None = None,
        attachments: Iterable[EnvieAttachment | str | Path] | None = None,
    ) -> dict[str, Any]:
        """The ``singlesending/create`` body, validated: required fields, MIME whitelist, attachment names.

        Defaults: ``to_name`` = the address's local part; sender from the connection's ``from_email``/
        ``from_name``; reply-to = the sender. ``body`` goes out as an HTML document (see
        :func:`html_document`), which envie.email needs to track opens and clicks. The keywords are those of
        :class:`EnvieMessage`, which documents each one.
        """
        sender = from_email or self.extra("from_email")
        sender_name = from_name or self.extra("from_name") or sender
        payload: dict[str, Any] = {
            "to_name": to_name or (to_email.split("@")[0] if to_email else None),
            "to_email": to_email,
            "from_name": sender_name,
            "from_email": sender,
            "reply_to_name": reply_to_name or sender_name,
            "reply_to_email": reply_to_email or sender,
            "subject": subject,
            "body": html_document(body) if isinstance(body, str) and body.strip() else body,
        }
        payload["plain_text"] = plain_text
        not_text = [k for k, v in payload.items() if v is not None and not isinstance(v, str)]
        if not_text:
            raise EmailBRInputError(
                f"envie.email send: {', '.join(not_text)} must be text, got "
                f"{', '.join(type(payload[k]).__name__ for k in not_text)}"
            )
        if not plain_text:
            del payload["plain_text"]
        for key, value in payload.items():
            bad = unsendable_text(value)
            if bad is not None:
                raise EmailBRInputError(
                    f"envie.email send: {key} holds {bad!r}, a lone surrogate, not a character"
                )
        missing = [k for k in SEND_REQUIRED if not str(payload.get(k) or "").strip()]
        if missing:
            raise EmailBRInputError(
                f"envie.email send: missing {', '.join(missing)} (from_* default to the connection's extras)"
            )
        files = [
            a if isinstance(a, EnvieAttachment) else EnvieAttachment.from_path(a) for a in attachments or ()
        ]
        if files:
            payload["attachments"] = self._attachments(files)
        return payload

    def _attachments(self, files: Sequence[EnvieAttachment]) -> list[dict[str, str]]:
        allowed = self.allowed_mime_types
        seen: set[str] = set()
        out = []
        for file in files:
            name = file.name.strip()
            if not name or "/" in name or "\\" in name:
                raise EmailBRInputError(f"attachment name {file.name!r}: give a plain file name")
            if re.search(_EXTENSION, name):
                raise EmailBRInputError(
                    f"attachment name {name!r}: envie.email wants the name without its extension "
                    "(it adds the "
                    "extension from the MIME type); use EnvieAttachment.from_path() or drop the extension"
                )
            if name.lower() in seen:
                raise EmailBRInputError(
                    f"attachment name {name!r}: used twice in one message; names must be unique"
                )
            seen.add(name.lower())
            if file.mime not in allowed:
                raise EmailBRInputError(
                    f"attachment {name!r}: MIME type {file.mime!r} is not accepted by envie.email; allowed: "
                    f"{', '.join(allowed)} (support can enable more: then set the connection's "
                    "'allowed_mime_types' extra)"
                )
            out.append(
                {"data": base64.b64encode(file.content).decode("ascii"), "name": name, "mime": file.mime}
            )
        return out

    def send(self, **message: Unpack[EnvieMessage]) -> dict[str, Any]:
        """Send one transactional e-mail (``POST /singlesending/create``); never retried after a lost answer.

        Takes the :class:`EnvieMessage` keywords (those of :meth:`build_send_body`): ``to_email``,
        ``subject``, ``body``, ``to_name``, ``from_email``, ``from_name``, ``reply_to_email``,
        ``reply_to_name``, ``plain_text``, ``attachments``.
        """
        return self.call(ENDPOINTS["send"], json_body=self.build_send_body(**message)) or {}

    def send_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Send a payload made by :meth:`build_send_body` (``POST /singlesending/create``); never repeated
        after a lost answer. Returns ``{"status": "success", "message_id"}``.

        Lets a caller encode attachments once and send the same message to several recipients by swapping
        ``to_email``/``to_name``.
        """
        return self.call(ENDPOINTS["send"], json_body=dict(payload)) or {}

    async def asend_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The asynchronous twin of :meth:`send_body` (notifiers in the triggerer); same no-repeat rule.

        Build ``payload`` after ``await hook.aget_settings()``, so that reading the connection's extras does
        not block the event loop.
        """
        return await self.acall(ENDPOINTS["send"], json_body=dict(payload)) or {}

    # ------------------------------------------------------------------ webhooks

    @staticmethod
    def parse_webhook_event(payload: Mapping[str, Any] | str | bytes) -> EnvieWebhookEvent:
        """Parse one webhook POST body into an :class:`EnvieWebhookEvent`; unknown events are refused."""
        return parse_webhook_event(payload)

    def _probe(self) -> str:
        self._probe_answer(self.show_lists(page=1, per_page=1), "lists/show")
        return "envie.email keys accepted: GET /lists/show answered."


def html_document(body: str) -> str:
    """``body`` inside ``<html><body>…</body></html>``, unless it already is (never wrapped twice).

    The doc, for ``MessageLoaded`` and ``MessageLinkClicked``: "Para o funcionamento, é obrigatório que a
    mensagem esteja em formato HTML entre as devidas tags <html><body></body></html>." A fragment is wrapped
    whole; a ``<body>`` without ``<html>`` gets the ``<html>`` around it; an ``<html>`` without ``<body>``
    gets the ``<body>`` inside it.
    """
    has_html = re.search(_HTML_OPEN, body)
    has_body = re.search(_BODY_OPEN, body)
    if has_html and has_body:
        return body
    if has_body:
        return f"<html>{body}</html>"
    if has_html:
        closing = body.lower().rfind("</html>")
        inner_end = closing if closing > has_html.end() else len(body)
        return f"{body[: has_html.end()]}<body>{body[has_html.end() : inner_end]}</body>{body[inner_end:]}"
    return f"<html><body>{body}</body></html>"


def _page_params(page: int, per_page: int | None) -> dict[str, Any]:
    if not isinstance(page, int) or page < 1:
        raise EmailBRInputError(f"page: {page!r} must be an integer ≥ 1")
    if per_page is not None and (not isinstance(per_page, int) or per_page < 1):
        raise EmailBRInputError(f"per_page: {per_page!r} must be an integer ≥ 1")
    return {"page": page, "per_page": per_page}
