"""MailGrid: SMTP-relay send and delivery reports (``https://painel.mailgrid.com.br/api/``).

Credentials travel inside the JSON body (``usuario_smtp``, ``senha_smtp``; a send also needs the account's
``host_smtp``). Outcomes are codes inside the body (``codigo``), usually with HTTP 200: ``200`` sent,
``207`` authentication failed, ``208`` missing parameters, and so on. Report dates are local time of the
account without a zone, like CriaEnvio's. Reports lag about 10 minutes behind sends.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

import pendulum

from airflow_provider_emailbr.exceptions import (
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRInputError,
    EmailBRServerError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.base import EmailBRHook, Endpoint, PreparedCall
from airflow_provider_emailbr.utils.dates import DEFAULT_TIMEZONE, parse_wall_time, to_local
from airflow_provider_emailbr.utils.encoding import unsendable_text
from airflow_provider_emailbr.utils.records import ValueRecord
from airflow_provider_emailbr.utils.text import fold, required

if TYPE_CHECKING:
    from typing_extensions import Required, Unpack

    from airflow_provider_emailbr.hooks.base import HookOptions

#: Recipients per list (To, Cc, Bcc) in one call.
MAX_RECIPIENTS = 100
#: Whole message, attachments included.
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
MESSAGE_TYPES = ("html", "text")
ENCODINGS = ("base64", "quoted-printable")
REPORT_STATUS = ("sucesso", "erro")
#: Report status texts (compared folded: no case, accents or repeated spaces) that mean "delivered". The
#: vendor's page and the sandbox show ``Entregue com sucesso``; any other text is a failure, kept as it came.
DELIVERED_TEXTS: frozenset[str] = frozenset({"entregue com sucesso", "entregue", "sucesso"})

#: Vendor codes and what they mean; every code but 200 is an error.
CODES = {
    "200": "MSG ENVIADA",
    "204": "ERRO DE ENVIO (SMTP connection failed)",
    "207": "FALHA DE AUTENTICACAO",
    "208": "FALTAM PARAMETROS",
    "210": "DATA COM FORMATO INCORRETO",
    "211": "ENCODING/HORA INVALIDO",
    "212": "TIPO INVALIDO",
    "215": "TAMANHO EXCEDIDO",
    "221": "too many recipients",
    "222": "too many recipients",
    "223": "too many recipients",
    "227": "field must be an array",
    "228": "field must be an array",
    "229": "field must be an array",
    "230": "invalid SMTP host",
}

ENDPOINTS = {
    "send": Endpoint("POST", "send/", idempotent=False),
    "report": Endpoint("POST", "report/", idempotent=True),
    "consolidate": Endpoint("POST", "consolidate/", idempotent=True),
}


class MailGridAttachment(NamedTuple):
    """One attachment: file name with extension, MIME type and raw content."""

    name: str
    content: bytes
    mime_type: str | None = None

    @classmethod
    def from_path(cls, path: str | Path) -> MailGridAttachment:
        """Read a local file; the MIME type is guessed from its name."""
        file = Path(path)
        return cls(name=file.name, content=file.read_bytes())

    @property
    def type(self) -> str:
        """The MIME type, guessed from the name when not given."""
        return self.mime_type or mimetypes.guess_type(self.name)[0] or "application/octet-stream"


class MailGridMessage(TypedDict, total=False):
    """One message to send: the keyword arguments of :meth:`MailGridHook.send` and
    :meth:`MailGridHook.build_send_body` (which writes them out with their defaults; a test keeps the two
    equal). ``to``, ``subject`` and ``message`` are required.
    """

    to: Required[Sequence[str] | str]
    """Recipient address(es), at most :data:`MAX_RECIPIENTS`."""
    subject: Required[str]
    """The subject."""
    message: Required[str]
    """The body, HTML or text as ``message_type`` says."""

    from_email: str | None
    """Sender address; defaults to the connection's ``from_email`` extra."""
    from_name: str | None
    """Sender name; defaults to the connection's ``from_name`` extra."""
    reply_to: str | None
    """Reply-to address."""
    to_name: str | None
    """Recipient name."""
    cc: Sequence[str] | None
    """Copy recipients, at most :data:`MAX_RECIPIENTS`."""
    bcc: Sequence[str] | None
    """Blind-copy recipients, at most :data:`MAX_RECIPIENTS`."""
    alt_message: str | None
    """The plain-text alternative."""
    message_type: str
    """One of :data:`MESSAGE_TYPES` (default ``html``)."""
    encoding: str
    """One of :data:`ENCODINGS` (default ``base64``)."""
    attachments: Iterable[MailGridAttachment | str | Path] | None
    """Files to attach: :class:`MailGridAttachment` objects or local paths."""


class ReportFilters(TypedDict, total=False):
    """What narrows a delivery report: the keyword arguments of :meth:`MailGridHook.report` and
    :meth:`MailGridHook.report_body` besides the window, written out with their defaults in
    :meth:`MailGridHook.report_query` (a test keeps the two equal). Every key is optional.
    """

    status: str | None
    """One of :data:`REPORT_STATUS` (``sucesso`` or ``erro``)."""
    recipient: str | None
    """Only messages to this address (``emaildestino``)."""
    sender: str | None
    """Only messages from this address (``remetente``)."""
    message_id: str | None
    """Only this message (``idMensagem``); the consolidated report cannot filter by it."""
    consolidated: bool
    """Read the consolidated report (``consolidate/``) instead of the detailed one (default ``False``)."""


class WallClockReport(ReportFilters):
    """A report over the account's wall-clock times: the keyword arguments of
    :meth:`MailGridHook.report_query`, :meth:`MailGridHook.report_wall_clock` and
    :meth:`MailGridHook.areport_wall_clock`. ``wall_start`` and ``wall_end`` are required.
    """

    wall_start: datetime
    """Start of the window, in the connection's zone (minute precision)."""
    wall_end: datetime
    """End of the window, in the connection's zone (minute precision)."""


class MailGridHook(EmailBRHook):
    """Call the MailGrid API: send e-mail and read the detailed or consolidated delivery report.

    Connection type ``mailgrid``: Login = ``usuario_smtp``, Password = ``senha_smtp``, extra ``smtp_host``
    (the account's ``host_smtp``, required to send), ``timezone`` (default ``America/Sao_Paulo``),
    ``from_email`` and ``from_name`` (sender defaults). Host (optional) = full base URL.

    :param mailgrid_conn_id: Airflow connection id.
    :param options: the :class:`~airflow_provider_emailbr.hooks.base.HookOptions` (``timeout``,
        ``retry_policy``), passed on to :class:`~airflow_provider_emailbr.hooks.base.EmailBRHook`.
    """

    conn_name_attr = "mailgrid_conn_id"
    default_conn_name = "mailgrid_default"
    conn_type = "mailgrid"
    hook_name = "MailGrid"
    platform = hook_name
    default_base_url = "https://painel.mailgrid.com.br/api/"
    required_fields = {"login": "SMTP user (Login)", "password": "SMTP password (Password)"}

    def __init__(self, mailgrid_conn_id: str = default_conn_name, **options: Unpack[HookOptions]) -> None:
        super().__init__(conn_id=mailgrid_conn_id, **options)

    @property
    def timezone(self) -> str:
        """The zone of the account's zone-less report dates (extra ``timezone``)."""
        return str(self.extra("timezone", DEFAULT_TIMEZONE))

    def _authorize(self, call: PreparedCall) -> None:
        body = dict(call.json or {})
        body["usuario_smtp"] = self.settings.login or ""
        body["senha_smtp"] = self.settings.password or ""
        call.json = body

    def _check_payload(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], payload: Any, body: bytes
    ) -> None:
        if status >= 400 or not isinstance(payload, Mapping) or "codigo" not in payload:
            return  # an HTTP error status is mapped by the base class (a 503 stays retryable)
        code = str(payload.get("codigo"))
        if code == "200":
            return
        if code == "207":
            error_class: type = EmailBRAuthError
        elif code == "204":
            error_class = EmailBRServerError
        else:
            error_class = EmailBRValidationError
        raise self.api_error(
            call,
            status,
            headers=headers,
            vendor_code=code,
            vendor_message=str(payload.get("status") or CODES.get(code, "")),
            error_class=error_class,
        )

    # ------------------------------------------------------------------ send

    def send(self, **message: Unpack[MailGridMessage]) -> list[dict[str, Any]]:
        """Send one message to up to 100 recipients (``POST send/``); never retried after a lost answer.

        Takes the :class:`MailGridMessage` keywords (those of :meth:`build_send_body`): ``to``, ``subject``,
        ``message``, ``from_email``, ``from_name``, ``reply_to``, ``to_name``, ``cc``, ``bcc``,
        ``alt_message``, ``message_type``, ``encoding``, ``attachments``. Returns one result per
        recipient, in the vendor's order: ``{"status", "codigo", "id", "criptokey", "to"}``; ``codigo``
        ``"200"`` means sent. Limits (100 per recipient list, 50 MB in all) are checked
        before anything is sent. Sender defaults come from the connection's ``from_email``/``from_name``.
        """
        return self.send_body(self.build_send_body(**message))

    def send_body(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Send a body made by :meth:`build_send_body` (``POST send/``); never retried after a lost answer.

        Lets a caller build (and base64-encode attachments) once, then send the same message to several
        recipient chunks by swapping ``emailDestino``. Returns the per-recipient results like :meth:`send`.
        """
        return send_results(self.call(ENDPOINTS["send"], json_body=dict(body)))

    async def asend_body(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The asynchronous twin of :meth:`send_body` (notifiers in the triggerer); same no-repeat rule.

        Build ``body`` after ``await hook.aget_settings()``, so that reading the connection's extras does not
        block the event loop.
        """
        return send_results(await self.acall(ENDPOINTS["send"], json_body=dict(body)))

    def build_send_body(
        self,
        *,
        to: Sequence[str] | str,
        subject: str,
        message: str,
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to: str | None = None,
        to_name: str | None = None,
        cc: Sequence[str] | None = None,
        bcc: Sequence[str] | None = None,
        alt_message: str | None = None,
        message_type: str = "html",
        encoding: str = "base64",
        attachments: Iterable[MailGridAttachment | str | Path] | None = None,
    ) -> dict[str, Any]:
        """The send body without credentials, validated against the documented limits.

        The keywords are those of :class:`MailGridMessage`, which documents each one.
        """
        smtp_host = self.extra("smtp_host")
        if not smtp_host:
            raise EmailBRConfigError(
                f"Connection {self.conn_id!r} (mailgrid) has no 'smtp_host' extra: set it to the account's "
                "SMTP relay host (host_smtp, e.g. gridxxxx.mailgrid.com.br); it is required to send"
            )
        sender = from_email or self.extra("from_email")
        if not sender:
            raise EmailBRInputError("from_email: required (or set the connection's 'from_email' extra)")
        if message_type not in MESSAGE_TYPES:
            raise EmailBRInputError(f"message_type: {message_type!r} is not allowed; use html or text")
        if encoding not in ENCODINGS:
            raise EmailBRInputError(f"encoding: {encoding!r} is not allowed; use base64 or quoted-printable")
        body: dict[str, Any] = {
            "host_smtp": smtp_host,
            "emailRemetente": sender,
            "emailDestino": _recipients("to", to, required=True),
            "assunto": _text("subject", subject),
            "mensagem": _text("message", message),
            "mensagemTipo": message_type,
            "mensagemEncoding": encoding,
        }
        optional = {
            "nomeRemetente": from_name or self.extra("from_name"),
            "emailReply": reply_to,
            "nomeDestino": to_name,
            "mensagemAlt": alt_message,
        }
        body.update({k: v for k, v in optional.items() if v})
        if cc:
            body["emailDestinoCopia"] = _recipients("cc", cc)
        if bcc:
            body["emailDestinoCopiaOculta"] = _recipients("bcc", bcc)
        files = [
            a if isinstance(a, MailGridAttachment) else MailGridAttachment.from_path(a)
            for a in attachments or ()
        ]
        if files:
            body["mensagemAnexos"] = {
                f"file{i}": {
                    "name": f.name,
                    "type": f.type,
                    "content": base64.b64encode(f.content).decode("ascii"),
                }
                for i, f in enumerate(files, start=1)
            }
        size = message_size(body)
        if size > MAX_MESSAGE_BYTES:
            raise EmailBRInputError(
                f"message size: {size:,} bytes (body and base64 attachments) exceeds MailGrid's limit of "
                f"{MAX_MESSAGE_BYTES:,} bytes (50 MB)"
            )
        return body

    # ------------------------------------------------------------------ reports

    def report(
        self, *, start: datetime | date | str, end: datetime | date | str, **filters: Unpack[ReportFilters]
    ) -> list[dict[str, Any]]:
        """Delivery report rows between ``start`` and ``end`` (``POST report/`` or ``consolidate/``).

        Times are converted to the connection's zone and sent as ``dataini``/``horaini``/``datafim``/
        ``horafim`` (minute precision). ``filters`` are the :class:`ReportFilters`: ``status`` (``sucesso`` or
        ``erro``), ``recipient``, ``sender``, ``message_id``, ``consolidated``. Rows come back in the
        vendor's order: ``{"msgid", "email_de", "email_para", "data", "hora", "status"}``. The
        consolidated report has no ``message_id`` filter.
        """
        return self.report_wall_clock(**self._local_window(start, end), **filters)

    def report_body(
        self, *, start: datetime | date | str, end: datetime | date | str, **filters: Unpack[ReportFilters]
    ) -> dict[str, Any]:
        """The report query without credentials, with the window converted to the account's local time.

        ``filters`` are the :class:`ReportFilters`, as in :meth:`report`: ``status``, ``recipient``,
        ``sender``, ``message_id``, ``consolidated``.
        """
        _, body = self.report_query(**self._local_window(start, end), **filters)
        return body

    def _local_window(self, start: datetime | date | str, end: datetime | date | str) -> dict[str, datetime]:
        """``wall_start``/``wall_end`` for :meth:`report_query`: the window in the connection's zone."""
        return {
            "wall_start": to_local(start, self.timezone, field="start"),
            "wall_end": to_local(end, self.timezone, field="end"),
        }

    def report_query(
        self,
        *,
        wall_start: datetime,
        wall_end: datetime,
        status: str | None = None,
        recipient: str | None = None,
        sender: str | None = None,
        message_id: str | None = None,
        consolidated: bool = False,
    ) -> tuple[Endpoint, dict[str, Any]]:
        """The endpoint and body (without credentials) of a report over the account's wall-clock times.

        Unlike :meth:`report_body`, nothing is converted: ``wall_start`` and ``wall_end`` are the local
        times of the connection's zone (their ``tzinfo``, if any, is ignored) and are sent as they are, at
        minute precision (seconds are dropped). Callers that convert instants themselves, e.g. around a
        daylight-saving change, decide the exact ``dataini``/``horaini``/``datafim``/``horafim``. The
        keywords are those of :class:`WallClockReport`, which documents each one.
        """
        if wall_end.replace(tzinfo=None) < wall_start.replace(tzinfo=None):
            raise EmailBRInputError(
                f"wall_end: {wall_end.isoformat()} is before wall_start {wall_start.isoformat()}"
            )
        if status is not None and status not in REPORT_STATUS:
            raise EmailBRInputError(f"status: {status!r} is not allowed; use sucesso or erro")
        if message_id and consolidated:
            raise EmailBRInputError("message_id: the consolidated report cannot filter by message id")
        body: dict[str, Any] = {
            "dataini": wall_start.strftime("%Y-%m-%d"),
            "horaini": wall_start.strftime("%H:%M"),
            "datafim": wall_end.strftime("%Y-%m-%d"),
            "horafim": wall_end.strftime("%H:%M"),
        }
        optional = {
            "status": status,
            "emaildestino": recipient,
            "remetente": sender,
            "idMensagem": message_id,
        }
        body.update({k: v for k, v in optional.items() if v})
        return ENDPOINTS["consolidate" if consolidated else "report"], body

    def report_wall_clock(self, **query: Unpack[WallClockReport]) -> list[dict[str, Any]]:
        """Report rows for a :class:`WallClockReport` (``POST report/`` or ``consolidate/``).

        ``query`` is what :meth:`report_query` takes: ``wall_start``, ``wall_end`` and the
        :class:`ReportFilters` (``status``, ``recipient``, ``sender``, ``message_id``, ``consolidated``).
        """
        endpoint, body = self.report_query(**query)
        return report_rows(self.call(endpoint, json_body=body))

    async def areport_wall_clock(self, **query: Unpack[WallClockReport]) -> list[dict[str, Any]]:
        """The asynchronous twin of :meth:`report_wall_clock` (for triggers); a report is a safe read."""
        endpoint, body = self.report_query(**query)
        return report_rows(await self.acall(endpoint, json_body=body))

    # ------------------------------------------------------------------ test connection

    def _probe(self) -> str:
        end = pendulum.now(self.timezone).replace(second=0, microsecond=0)
        self.report(start=end - timedelta(minutes=1), end=end)
        return "MailGrid credentials accepted: report query over a one-minute window answered."


def send_results(answer: Any) -> list[dict[str, Any]]:
    """Per-recipient results of a send, in order, whether the vendor answered one entry or many."""
    if isinstance(answer, Mapping) and "codigo" in answer:
        return [dict(answer)]
    return _ordered_rows(answer)


def report_rows(answer: Any) -> list[dict[str, Any]]:
    """Report rows in order; an empty answer (``{}``, ``[]`` or nothing) is no rows."""
    return _ordered_rows(answer)


def is_delivered(status: Any) -> bool:
    """Whether a report status text means the message was delivered (see :data:`DELIVERED_TEXTS`)."""
    return fold(str(status or "")) in DELIVERED_TEXTS


class MailGridReportRow(ValueRecord):
    """One row of the detailed report (``POST report/``), read.

    A row appears once a delivery is settled, so every row is final. Cc/Bcc copies share their message's
    ``msgid``.

    :param message_id: ``msgid``: the ``id`` the send answered.
    :param sender: ``email_de``.
    :param recipient: ``email_para``.
    :param status: the vendor's status text, as it came (``Entregue com sucesso`` or a failure reason).
    :param delivered: whether ``status`` means delivered (:func:`is_delivered`).
    :param sent_at: the instant of the row's local ``data`` (``DD/MM/YYYY``, or ISO) and ``hora``
        (``HH:MM[:SS]``) in the account's zone, aware; ``None`` when they cannot be read. A local time
        repeated when clocks fall back is read as its first occurrence (``fold=0``): the row cannot tell.
    :param raw: the row as the vendor answered it.
    """

    __slots__ = ("delivered", "message_id", "raw", "recipient", "sender", "sent_at", "status")
    _masked = frozenset({"sender", "recipient"})
    _hidden = _uncompared = frozenset({"raw"})

    message_id: str
    sender: str
    recipient: str
    status: str
    delivered: bool
    sent_at: datetime | None
    raw: Mapping[str, Any]

    def __init__(
        self,
        message_id: str,
        sender: str,
        recipient: str,
        status: str,
        delivered: bool,
        sent_at: datetime | None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        self._init(
            message_id=message_id,
            sender=sender,
            recipient=recipient,
            status=status,
            delivered=delivered,
            sent_at=sent_at,
            raw=raw if raw is not None else {},
        )


def parse_report_row(raw: Mapping[str, Any], zone: tzinfo) -> MailGridReportRow:
    """Read one report row (``{"msgid", "email_de", "email_para", "data", "hora", "status"}``) whose zone-less
    times are local to ``zone`` (the connection's ``timezone`` extra)."""
    wall = parse_wall_time(str(raw.get("data") or ""), str(raw.get("hora") or ""))
    status = str(raw.get("status") or "")
    return MailGridReportRow(
        message_id=str(raw.get("msgid") or ""),
        sender=str(raw.get("email_de") or ""),
        recipient=str(raw.get("email_para") or ""),
        status=status,
        delivered=is_delivered(status),
        sent_at=None if wall is None else wall.replace(tzinfo=zone, fold=0),
        raw=raw,
    )


def _ordered_rows(answer: Any) -> list[dict[str, Any]]:
    if not answer:
        return []
    if isinstance(answer, list):
        return [dict(r) for r in answer if isinstance(r, Mapping)]
    if isinstance(answer, Mapping):
        keyed = [(k, v) for k, v in answer.items() if isinstance(v, Mapping)]
        keyed.sort(key=lambda kv: (0, int(kv[0])) if str(kv[0]).isdigit() else (1, str(kv[0])))
        return [dict(v) for _, v in keyed]
    return []


def message_size(body: Mapping[str, Any]) -> int:
    """Bytes the message will weigh once encoded, which is what MailGrid's 50 MB limit covers.

    The doc: "O tamanho total da mensagem (incluindo anexos) não deve exceder 50 MB. Isso inclui a mensagem
    em si, os cabeçalhos e o tamanho combinado de quaisquer anexos." So the subject counts as UTF-8, the HTML
    body and its plain alternative in their transfer encoding (``mensagemEncoding``: base64, or
    quoted-printable), and each attachment as MIME base64 (76-character lines ending in CRLF).
    """
    # surrogatepass: measuring never fails; unsendable text is refused when the request is built
    size = len(str(body.get("assunto", "")).encode("utf-8", "surrogatepass"))
    encoding = body.get("mensagemEncoding") or "base64"
    for key in ("mensagem", "mensagemAlt"):
        size += encoded_length(str(body.get(key, "")).encode("utf-8", "surrogatepass"), encoding)
    for attachment in (body.get("mensagemAnexos") or {}).values():
        size += _mime_lines(len(attachment.get("content", "")))
    return size


def encoded_length(data: bytes, encoding: str = "base64") -> int:
    """Bytes of ``data`` once MIME-encoded with ``encoding`` (``base64`` or ``quoted-printable``)."""
    if not data:
        return 0
    if encoding == "quoted-printable":
        import quopri

        return len(quopri.encodestring(data))
    return _mime_lines(4 * -(-len(data) // 3))


def _mime_lines(base64_chars: int) -> int:
    """Base64 text of ``base64_chars`` characters wrapped in MIME lines of 76 characters plus CRLF."""
    return base64_chars + 2 * -(-base64_chars // 76)


def _text(field: str, value: Any) -> str:
    required(field, value, text=True)
    bad = unsendable_text(value)
    if bad is not None:
        raise EmailBRInputError(f"{field}: holds {bad!r}, a lone surrogate that is not a character")
    return value


def _recipients(field: str, value: Sequence[str] | str | None, *, required: bool = False) -> list[str]:
    items = [value] if isinstance(value, str) else list(value or [])
    items = [str(i).strip() for i in items if str(i).strip()]
    if required and not items:
        raise EmailBRInputError(f"{field}: at least one recipient is required")
    if len(items) > MAX_RECIPIENTS:
        raise EmailBRInputError(
            f"{field}: {len(items)} recipients exceed MailGrid's limit of {MAX_RECIPIENTS} per call; "
            "split the list (the send operator does it for you)"
        )
    return items
