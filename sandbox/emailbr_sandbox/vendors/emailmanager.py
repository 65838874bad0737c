"""emailManager emulation: Postmark-v1-compatible transactional send (``/emailmanager/…``).

The token travels in ``X-Emailmanager-Server-Token`` (HTTP 401 when wrong). Requests need
``Accept: application/json`` (and ``Content-Type: application/json`` when they carry a body), otherwise
HTTP 422 ``{"ErrorCode": 409}``. Input errors are HTTP 422 ``{"ErrorCode", "Message"}``; a batch answers
one entry per message (HTTP 200), so one bad message does not fail the others. A recipient at
``bounce.example`` is accepted, then hard-bounces: it shows in ``/bounces`` and becomes inactive (406).
"""

from __future__ import annotations

import base64
import binascii
from email.utils import getaddresses
from typing import Any, NoReturn

from ..constants import (
    BOUNCE_DOMAIN,
    EMAILMANAGER_TOKEN,
    INACTIVE_DOMAIN,
    PENDING_SENDER_EMAIL,
    SENDER_EMAIL,
)
from ..context import ALNUM
from ..wire import BodyError, Failure, Request, Response, email_domain, is_email, json_response
from .base import Vendor, status_text

MAX_BATCH = 500
MAX_RECIPIENTS = 20
MAX_BOUNCE_PAGE = 500
MESSAGES = {
    0: "Sua requisição não possui o Token de acesso correto no cabeçalho X-Emailmanager-Server-Token.",
    300: "Falha na validação dos dados de requisição que foram passados, em JSON.",
    400: (
        "Você está tentando enviar um e-mail com um endereço From que não "
        "possui uma conta de envio cadastrada."
    ),
    401: (
        "Você está tentando enviar e-mail com um endereço From que possui uma conta de envio não confirmada."
    ),
    402: "Os dados da requisição em JSON são sintaticamente incorretos.",
    403: (
        "Os dados da requisição em JSON são sintaticamente corretos, mas não "
        "correspondem à uma requisição válida."
    ),
    406: "Você tentou enviar um e-mail para um destinatário marcado como inativo.",
    408: "Você forneceu um parâmetro incorreto para a filtragem dos bounces.",
    409: "Sua requisição HTTP não tem os cabeçalhos Accept ou Content-Type definidos como application/json.",
}
TOO_MANY_MESSAGES = "Sua requisição contém mais de 500 mensagens a serem processadas."
TOO_MANY_RECIPIENTS = "Sua requisição contém uma mensagem com mais de 20 destinatários."
BOUNCE_DESCRIPTION = "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
SUBMITTED_FORMAT = "%Y-%m-%dT%H:%M:%S"


class MessageError(Exception):
    """One message is invalid: carries the API ``ErrorCode`` and ``Message``."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES[code]

    def entry(self) -> dict[str, Any]:
        """The ``{"ErrorCode", "Message"}`` body or batch entry."""
        return {"ErrorCode": self.code, "Message": self.message}


def parse_addresses(value: Any, field: str) -> list[str]:
    """Split ``"A" <a@x>, b@y; c@z`` into bare addresses; raise :class:`MessageError` 300 when malformed."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise MessageError(300, f"{MESSAGES[300]} {field} deve ser um texto.")
    addresses = [addr.strip() for _, addr in getaddresses([value.replace(";", ",")]) if addr.strip()]
    if not addresses or not all(is_email(a) for a in addresses):
        raise MessageError(300, f"{MESSAGES[300]} Endereço inválido em {field}.")
    return addresses


class EmailmanagerVendor(Vendor):
    """State: sender signatures, sent messages, bounces and inactive recipients."""

    name = "emailmanager"

    def routes(self) -> None:
        """``POST email``, ``POST email/batch``, ``GET deliverystats``, ``GET bounces``."""
        self.router.add("POST", "email", self.send_one)
        self.router.add("POST", "email/batch", self.send_batch)
        self.router.add("GET", "deliverystats", self.delivery_stats)
        self.router.add("GET", "bounces", self.bounces_list)

    # -- state --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Signatures: ``remetente@exemplo.com.br`` confirmed, ``pendente@exemplo.com.br`` not confirmed."""
        self.signatures: dict[str, bool] = {SENDER_EMAIL: True, PENDING_SENDER_EMAIL: False}
        self.messages: list[dict[str, Any]] = []
        self.bounces: list[dict[str, Any]] = []
        self.inactive: dict[str, str] = {}
        self.next_message = 1

    def dump(self) -> dict[str, Any]:
        """Return signatures, messages (attachment contents dropped), bounces and inactive recipients."""
        return {
            "signatures": self.signatures,
            "messages": self.messages,
            "bounces": self.bounces,
            "inactive": self.inactive,
            "next_message": self.next_message,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore a :meth:`dump`."""
        self.signatures = data["signatures"]
        self.messages = data["messages"]
        self.bounces = data["bounces"]
        self.inactive = data["inactive"]
        self.next_message = data["next_message"]

    # -- envelope -----------------------------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        """``{"ErrorCode": status, "Message": …}`` for transport-level errors (faults, unknown paths)."""
        return json_response({"ErrorCode": status, "Message": message}, status)

    def fault_response(self, status: int) -> Response:
        """Injected faults: HTTP ``status`` with an ``ErrorCode``/``Message`` body."""
        return self.error(status, status_text(status))

    def authenticate(self, request: Request) -> Response | None:
        """Token first (401, ErrorCode 0), then the JSON headers (422, ErrorCode 409)."""
        if request.headers.get("x-emailmanager-server-token") != EMAILMANAGER_TOKEN:
            return json_response(MessageError(0).entry(), 401)
        accept = request.headers.get("accept", "")
        needs_body = request.method in ("POST", "PUT")
        if "application/json" not in accept or (needs_body and request.content_type != "application/json"):
            return json_response(MessageError(409).entry(), 422)
        return None

    def _json(self, request: Request) -> Any:
        try:
            return request.json()
        except BodyError:
            self.fail_entry(MessageError(402))

    def fail_entry(self, error: MessageError) -> NoReturn:
        """Abort with HTTP 422 and the error's body."""
        raise Failure(json_response(error.entry(), 422))

    # -- sending ------------------------------------------------------------------------------------------
    def send_one(self, request: Request) -> Response:
        """``POST /email``: one message → ``{"ErrorCode": 0, "Message": "OK", "MessageID", "SubmittedAt",
        "To"}``."""
        message = self._json(request)
        if not isinstance(message, dict):
            self.fail_entry(MessageError(403))
        try:
            return json_response(self._accept(message))
        except MessageError as error:
            self.fail_entry(error)

    def send_batch(self, request: Request) -> Response:
        """``POST /email/batch``: up to 500 messages → a list aligned with the input."""
        messages = self._json(request)
        if not isinstance(messages, list):
            self.fail_entry(MessageError(403))
        if len(messages) > MAX_BATCH:
            self.fail_entry(MessageError(410, TOO_MANY_MESSAGES))
        results = []
        for message in messages:
            try:
                if not isinstance(message, dict):
                    raise MessageError(403)
                results.append(self._accept(message))
            except MessageError as error:
                results.append(error.entry())
        return json_response(results)

    def _accept(self, message: dict[str, Any]) -> dict[str, Any]:
        """Validate and record one message; return its success entry or raise :class:`MessageError`."""
        for key in ("From", "To", "Subject"):
            if not isinstance(message.get(key), str) or not message[key].strip():
                raise MessageError(300, f"{MESSAGES[300]} Campo {key} obrigatório.")
        if not message.get("HtmlBody") and not message.get("TextBody"):
            raise MessageError(300, f"{MESSAGES[300]} Informe HtmlBody e/ou TextBody.")
        senders = parse_addresses(message["From"], "From")
        if len(senders) != 1:
            raise MessageError(300, f"{MESSAGES[300]} From deve ter um único endereço.")
        confirmed = self.signatures.get(senders[0].lower())
        if confirmed is None:
            raise MessageError(400)
        if not confirmed:
            raise MessageError(401)
        parse_addresses(message.get("ReplyTo"), "ReplyTo")
        recipients = [a for f in ("To", "Cc", "Bcc") for a in parse_addresses(message.get(f), f)]
        if len(recipients) > MAX_RECIPIENTS:
            raise MessageError(410, TOO_MANY_RECIPIENTS)
        if any(email_domain(a) == INACTIVE_DOMAIN or a.lower() in self.inactive for a in recipients):
            raise MessageError(406)
        attachments = self._attachments(message.get("Attachments"))
        headers = message.get("Headers") or []
        if not isinstance(headers, list) or not all(
            isinstance(h, dict) and isinstance(h.get("Name"), str) and "Value" in h for h in headers
        ):
            raise MessageError(300, f"{MESSAGES[300]} Headers deve ser uma lista de {{Name, Value}}.")
        number = self.next_message
        self.next_message += 1
        token = self.ctx.ids.token("emailmanager-message", number, 24, ALNUM)
        message_id = "-".join(token[i : i + 6] for i in range(0, 24, 6))
        now = self.ctx.clock.now()
        submitted = self.ctx.clock.fmt(now, SUBMITTED_FORMAT)
        self.messages.append(
            {
                "MessageID": message_id,
                "From": message["From"],
                "To": message["To"],
                "Cc": message.get("Cc"),
                "Bcc": message.get("Bcc"),
                "Subject": message["Subject"],
                "Tag": message.get("Tag"),
                "Recipients": recipients,
                "Attachments": attachments,
                "SubmittedAt": submitted,
            }
        )
        for address in recipients:
            if email_domain(address) == BOUNCE_DOMAIN:
                self._bounce(address, message_id, message, now)
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": message_id,
            "SubmittedAt": submitted,
            "To": message["To"],
        }

    @staticmethod
    def _attachments(value: Any) -> list[dict[str, Any]]:
        """Check ``Attachments`` ``[{Name, Content (base64), ContentType}]``; return them without content.

        Line breaks inside ``Content`` are allowed: the vendor's own Python client (``trans-python-v1``) sends
        ``MIMEBase.get_payload()``, which is base64 wrapped at 76 characters. Other non-base64 text is a 300.
        """
        if value is None:
            return []
        if not isinstance(value, list):
            raise MessageError(300, f"{MESSAGES[300]} Attachments deve ser uma lista.")
        kept = []
        for item in value:
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("Name", "Content", "ContentType")
            ):
                raise MessageError(300, f"{MESSAGES[300]} Anexos precisam de Name, Content e ContentType.")
            try:
                size = len(base64.b64decode("".join(item["Content"].split()), validate=True))
            except (binascii.Error, ValueError) as exc:
                raise MessageError(300, f"{MESSAGES[300]} Content do anexo não está em base64.") from exc
            kept.append({"Name": item["Name"], "ContentType": item["ContentType"], "Size": size})
        return kept

    def _bounce(self, address: str, message_id: str, message: dict[str, Any], now: float) -> None:
        self.inactive[address.lower()] = message_id
        self.bounces.append(
            {
                "ID": len(self.bounces) + 1,
                "Type": "HardBounce",
                "TypeCode": 1,
                "Name": "Hard bounce",
                "Tag": message.get("Tag"),
                "MessageID": message_id,
                "Description": BOUNCE_DESCRIPTION,
                "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
                "Email": address,
                "BouncedAt": self.ctx.clock.fmt(now, SUBMITTED_FORMAT),
                "DumpAvailable": False,
                "Inactive": True,
                "CanActivate": True,
                "Subject": message.get("Subject"),
            }
        )

    # -- reads --------------------------------------------------------------------------------------------
    def delivery_stats(self, request: Request) -> Response:
        """``GET /deliverystats``: inactive count and bounce counts by type."""
        count = len(self.bounces)
        return json_response(
            {
                "InactiveMails": len(self.inactive),
                "Bounces": [
                    {"Name": "All", "Count": count},
                    {"Type": "HardBounce", "Name": "Hard bounce", "Count": count},
                ],
            }
        )

    def bounces_list(self, request: Request) -> Response:
        """``GET /bounces?count=&offset=``: both required (ErrorCode 408 otherwise), ``count`` ≤ 500."""
        query = request.query
        count, offset = query.get("count", ""), query.get("offset", "")
        if not count.isdigit() or not offset.isdigit() or not 0 < int(count) <= MAX_BOUNCE_PAGE:
            self.fail_entry(MessageError(408))
        window = self.bounces[int(offset) : int(offset) + int(count)]
        return json_response({"TotalCount": len(self.bounces), "Bounces": window})
