"""MailGrid emulation: SMTP-relay send and delivery reports (``/mailgrid/api/…``).

Every call is a ``POST`` with a JSON body that carries the credentials (``usuario_smtp``, ``senha_smtp``,
plus ``host_smtp`` for sends). Outcomes travel as ``{"status", "codigo"}`` inside an HTTP 200, as the vendor
does. Each accepted recipient becomes a report row, visible after ``report_lag_seconds`` (the real service
lags about 10 minutes; the sandbox default is 0). Recipients at ``bounce.example`` are accepted at send time
("MSG ENVIADA") and reported as ``Falha na entrega``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NoReturn

from ..constants import BOUNCE_DOMAIN, MAILGRID_HOST, MAILGRID_PASSWORD, MAILGRID_USER
from ..context import ALNUM
from ..wire import BodyError, Failure, Request, Response, email_domain, is_email, json_response
from .base import Vendor, status_text

MAX_RECIPIENTS = 100
DELIVERED = "Entregue com sucesso"
FAILED = "Falha na entrega"
CODE_TEXT = {
    200: "MSG ENVIADA",
    204: "ERRO DE ENVIO",
    207: "ERRO: FALHA DE AUTENTICACAO",
    208: "ERRO: FALTAM PARAMETROS",
    210: "ERRO: DATA COM FORMATO INCORRETO",
    212: "ERRO: TIPO INVALIDO",
    215: "ERRO: TAMANHO EXCEDIDO",
    230: "ERRO: HOST INVALIDO",
}
ENCODING_INVALID = "ERRO: ENCODING INVALIDO"  # 211 on send
TIME_INVALID = "ERRO: HORA COM FORMATO INCORRETO"  # 211 on reports
#: Recipient arrays: (field, code when over 100, code when not an array).
RECIPIENT_FIELDS = (
    ("emailDestino", 221, 227),
    ("emailDestinoCopia", 222, 228),
    ("emailDestinoCopiaOculta", 223, 229),
)
ATTACHMENT_KEYS = ("name", "type", "content")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}$")


class MailgridVendor(Vendor):
    """State: the report ``rows`` (one per delivered or failed recipient) and counters."""

    name = "mailgrid"

    def routes(self) -> None:
        """``send/``, ``report/`` and ``consolidate/`` (the trailing slash is optional).

        Also the older paths of MailGrid's own examples (``mailgridbr/api-json``), which post a send to the
        API root (``…/api/``) and a report to ``…/api/report.php``.
        """
        self.router.add("POST", "send", self.send)
        self.router.add("POST", "", self.send)
        self.router.add("POST", "report", self.report)
        self.router.add("POST", "report.php", self.report)
        self.router.add("POST", "consolidate", self.consolidate)

    # -- state --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start with no report rows."""
        self.rows: list[dict[str, Any]] = []
        self.sends = 0
        self.next_message = 1

    def dump(self) -> dict[str, Any]:
        """Return report rows and counters."""
        return {"rows": self.rows, "sends": self.sends, "next_message": self.next_message}

    def load(self, data: dict[str, Any]) -> None:
        """Restore a :meth:`dump`."""
        self.rows = data["rows"]
        self.sends = data["sends"]
        self.next_message = data["next_message"]

    # -- envelope -----------------------------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        """Transport-level errors (faults, unknown paths): ``{"status", "codigo"}`` with that HTTP status."""
        return json_response({"status": message, "codigo": str(status)}, status)

    def fault_response(self, status: int) -> Response:
        """Injected faults keep the vendor's ``{"status", "codigo"}`` shape."""
        return self.error(status, "ERRO: " + status_text(status))

    def method_not_allowed(self, request: Request) -> Response:
        """A GET carries no JSON parameters: the vendor answers "missing parameters"."""
        return self.outcome(208)

    @staticmethod
    def outcome(code: int, text: str | None = None) -> Response:
        """Return ``{"status": text, "codigo": "code"}`` inside an HTTP 200."""
        return json_response({"status": text or CODE_TEXT[code], "codigo": str(code)})

    def refuse(self, code: int, text: str | None = None) -> NoReturn:
        """Abort with a body code (HTTP 200)."""
        raise Failure(self.outcome(code, text))

    def params(self, request: Request, with_host: bool) -> dict[str, Any]:
        """Parse the JSON body and check the credentials: 208 missing/not JSON, 207 wrong, 230 bad host."""
        try:
            body = request.json()
        except BodyError:
            self.refuse(208)
        if not isinstance(body, dict) or not body.get("usuario_smtp") or not body.get("senha_smtp"):
            self.refuse(208)
        if body["usuario_smtp"] != MAILGRID_USER or body["senha_smtp"] != MAILGRID_PASSWORD:
            self.refuse(207)
        if with_host:
            if not body.get("host_smtp"):
                self.refuse(208)
            if body["host_smtp"] != MAILGRID_HOST:
                self.refuse(230)
        return body

    # -- send ---------------------------------------------------------------------------------------------
    def send(self, request: Request) -> Response:
        """``POST send/``: one ``{"status": "MSG ENVIADA", "codigo": "200", "id", "criptokey", "to"}`` per
        ``emailDestino`` address, keyed ``"0"``, ``"1"``…; an invalid address gets a ``204`` entry.

        Copies (``emailDestinoCopia``/``…Oculta``) are delivered with the first recipient's message and appear
        in the reports under its id.
        """
        body = self.params(request, with_host=True)
        if not all(isinstance(body.get(k), str) and body[k].strip() for k in ("emailRemetente", "assunto")):
            self.refuse(208)
        if not isinstance(body.get("mensagem"), str) or not body["mensagem"] or "emailDestino" not in body:
            self.refuse(208)
        recipients = {}
        for field, too_many, not_array in RECIPIENT_FIELDS:
            value = body.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.refuse(not_array, f"ERRO: {field} DEVE SER UM ARRAY")
            if len(value) > MAX_RECIPIENTS:
                self.refuse(too_many, f"ERRO: LIMITE DE {MAX_RECIPIENTS} DESTINATARIOS EXCEDIDO EM {field}")
            recipients[field] = [v.strip() for v in value]
        if not recipients["emailDestino"]:
            self.refuse(208)
        if body.get("mensagemTipo", "html") not in ("html", "text"):
            self.refuse(212)
        if body.get("mensagemEncoding", "base64") not in ("base64", "quoted-printable"):
            self.refuse(211, ENCODING_INVALID)
        if self._size(body) > self.ctx.settings.mailgrid_max_message_bytes:
            self.refuse(215)
        return json_response(self._deliver(body, recipients))

    def _size(self, body: dict[str, Any]) -> int:
        """Approximate message size: texts plus encoded attachments (208 for malformed attachments)."""
        size = sum(
            len(str(body.get(k) or "").encode("utf-8")) for k in ("assunto", "mensagem", "mensagemAlt")
        )
        attachments = body.get("mensagemAnexos") or {}
        if isinstance(attachments, dict):
            items = list(attachments.values())
        elif isinstance(attachments, list):
            items = attachments
        else:
            self.refuse(208)
        for item in items:
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ATTACHMENT_KEYS):
                self.refuse(208)
            size += len(item["content"])
        return size

    def _deliver(self, body: dict[str, Any], recipients: dict[str, list[str]]) -> dict[str, Any]:
        ids = self.ctx.ids
        now = self.ctx.clock.now()
        visible_at = now + self.ctx.settings.report_lag_seconds
        sender = body["emailRemetente"].strip()
        self.sends += 1
        result: dict[str, Any] = {}
        first_id: str | None = None
        for index, address in enumerate(recipients["emailDestino"]):
            number = self.next_message
            self.next_message += 1
            criptokey = ids.hex("mailgrid-criptokey", number)
            if not is_email(address):
                result[str(index)] = {"status": CODE_TEXT[204], "codigo": "204", "criptokey": criptokey}
            else:
                msgid = self._message_id(number)
                first_id = first_id or msgid
                self._row(msgid, sender, address, now, visible_at)
                result[str(index)] = {
                    "status": CODE_TEXT[200],
                    "codigo": "200",
                    "id": msgid,
                    "criptokey": criptokey,
                }
            result[str(index)]["to"] = address
        if first_id is not None:
            for address in recipients["emailDestinoCopia"] + recipients["emailDestinoCopiaOculta"]:
                if is_email(address):
                    self._row(first_id, sender, address, now, visible_at)
        return result

    def _message_id(self, number: int) -> str:
        token = self.ctx.ids.token("mailgrid-msgid", number, 14, ALNUM)
        return f"{token[:6]}-{token[6:12]}-{token[12:]}"

    def _row(self, msgid: str, sender: str, address: str, sent_at: float, visible_at: float) -> None:
        """Record one delivery; a failure is also posted at once to the failure webhook (when one is set),
        as one row in the report's shape, with the ``X-Webhook-Token`` header."""
        delivered = email_domain(address) != BOUNCE_DOMAIN
        row = {
            "msgid": msgid,
            "email_de": sender,
            "email_para": address,
            "sent_at": sent_at,
            "visible_at": visible_at,
            "delivered": delivered,
            "status": DELIVERED if delivered else FAILED,
        }
        self.rows.append(row)
        if not delivered:
            self.webhooks.emit(self._public_row(row), vendor="mailgrid")

    def _public_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row as the report answers it (and as the failure webhook posts it): local ``data`` and
        ``hora``."""
        clock = self.ctx.clock
        return {
            "msgid": row["msgid"],
            "email_de": row["email_de"],
            "email_para": row["email_para"],
            "data": clock.fmt(row["sent_at"], "%d/%m/%Y"),
            "hora": clock.fmt(row["sent_at"], "%H:%M:%S"),
            "status": row["status"],
        }

    # -- reports ------------------------------------------------------------------------------------------
    def _window(self, body: dict[str, Any]) -> tuple[float, float]:
        """Validate the local-time window; return ``[start, end)`` where ``end`` includes the whole minute."""
        keys = ("dataini", "horaini", "datafim", "horafim")
        if not all(isinstance(body.get(k), str) and body[k] for k in keys):
            self.refuse(208)
        edges = []
        for day_key, time_key in (("dataini", "horaini"), ("datafim", "horafim")):
            if not _DATE_RE.match(body[day_key]):
                self.refuse(210)
            try:
                day = datetime.strptime(body[day_key], "%Y-%m-%d")
            except ValueError:
                self.refuse(210)
            hours, _, minutes = body[time_key].partition(":")
            if not _TIME_RE.match(body[time_key]) or int(hours) > 23 or int(minutes) > 59:
                self.refuse(211, TIME_INVALID)
            edges.append(self.ctx.clock.from_local(day.replace(hour=int(hours), minute=int(minutes))))
        return edges[0], edges[1] + 60

    def _rows(self, body: dict[str, Any], by_message: bool) -> dict[str, Any]:
        start, end = self._window(body)
        status = body.get("status") or ""
        if status not in ("", "sucesso", "erro"):
            self.refuse(208)
        recipient = str(body.get("emaildestino") or "").strip().lower()
        sender = str(body.get("remetente") or "").strip().lower()
        message = str(body.get("idMensagem") or "").strip() if by_message else ""
        now = self.ctx.clock.now()
        selected = [
            row
            for row in self.rows
            if row["visible_at"] <= now
            and start <= row["sent_at"] < end
            and (not status or row["delivered"] == (status == "sucesso"))
            and (not recipient or row["email_para"].lower() == recipient)
            and (not sender or row["email_de"].lower() == sender)
            and (not message or row["msgid"] == message)
        ]
        return {
            str(index): self._public_row(row)
            for index, row in enumerate(sorted(selected, key=lambda r: r["sent_at"]))
        }

    def report(self, request: Request) -> Response:
        """``POST report/``: rows; filters ``status``, ``emaildestino``, ``remetente``, ``idMensagem``."""
        return json_response(self._rows(self.params(request, with_host=False), by_message=True))

    def consolidate(self, request: Request) -> Response:
        """``POST consolidate/``: the same rows as ``report/`` (as the vendor shows), no ``idMensagem``."""
        return json_response(self._rows(self.params(request, with_host=False), by_message=False))
