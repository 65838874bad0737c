"""MailGrid's adapter: ``POST send/`` with ≤ 100 To per call, copies once, one answer row per recipient.

Planning: every recipient is an item (key ``to:``/``cc:``/``bcc:`` + address). Pending To recipients go in
calls of at most :data:`~airflow_provider_emailbr.hooks.mailgrid.MAX_RECIPIENTS`; the pending copies ride
with the first call only, so each copy receives the message once. The body (and its base64 attachments) is
built and checked against the 50 MB limit once, then reused with each call's ``emailDestino``. MailGrid
takes bare addresses: display names are not sent.

Reading: MailGrid answers one row per To recipient (``codigo`` ``"200"`` = sent), matched by address, or by
position when a row does not say its address. A recipient without a row is ``unknown``. Copies have no rows:
they count as sent with the call's first accepted To recipient (whose ``id`` they carry), and as refused when
no To recipient of the call was accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_emailbr.sending.addresses import parse_addresses
from airflow_provider_emailbr.sending.base import SendPlan, VendorAdapter
from airflow_provider_emailbr.sending.model import REFUSED, SENT, UNKNOWN, Attachment, SendItem, SimpleEmail
from airflow_provider_emailbr.utils.privacy import mask_email

#: The vendor's name in messages: its plans', its adapter's and its send operators'.
VENDOR = "MailGrid"

#: The fields of a call's body that name its recipients, per role.
_RECIPIENT_FIELDS = {"to": "emailDestino", "cc": "emailDestinoCopia", "bcc": "emailDestinoCopiaOculta"}


class MailGridPlan(SendPlan):
    """One MailGrid message to any number of recipients (see the module docstring)."""

    vendor = VENDOR

    def __init__(
        self, template: dict[str, Any], to: Sequence[str], cc: Sequence[str], bcc: Sequence[str]
    ) -> None:
        self.template = {k: v for k, v in template.items() if k not in _RECIPIENT_FIELDS.values()}
        self.items = [
            SendItem(
                key=f"{role}:{address.lower()}",
                label=mask_email(address),
                data=(role, address),
                recipients=(address,),
            )
            for role, addresses in (("to", to), ("cc", cc), ("bcc", bcc))
            for address in addresses
        ]

    def groups(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """Chunks of ≤ 100 ``to``; the pending copies go with the first chunk."""
        from airflow_provider_emailbr.hooks.mailgrid import MAX_RECIPIENTS

        to = [i for i in pending if i.data[0] == "to"]
        copies = [i for i in pending if i.data[0] != "to"]
        for start in range(0, len(to), MAX_RECIPIENTS):
            chunk = to[start : start + MAX_RECIPIENTS]
            yield chunk + copies if start == 0 else chunk

    def body(self, group: list[SendItem]) -> dict[str, Any]:
        body = dict(self.template)
        for role, field in _RECIPIENT_FIELDS.items():
            addresses = [i.data[1] for i in group if i.data[0] == role]
            if addresses:
                body[field] = addresses
        return body

    def call(self, hook: Any, body: Any) -> Any:
        return hook.send_body(body)

    async def acall(self, hook: Any, body: Any) -> Any:
        return await hook.asend_body(body)

    def read(self, group: list[SendItem], answer: Any) -> list[dict[str, Any]]:
        """Per-recipient records matched by address (position as fallback), in the group's order."""
        rows = [r for r in answer or [] if isinstance(r, dict)]
        by_address = {str(r.get("to", "")).strip().lower(): r for r in rows if r.get("to")}
        to = [i for i in group if i.data[0] == "to"]
        records: dict[str, dict[str, Any]] = {}
        first_id = None
        for position, item in enumerate(to):
            row = by_address.get(item.data[1].lower())
            if row is None and len(rows) == len(to) and not rows[position].get("to"):
                row = rows[position]
            records[item.key] = self._record_for(item, row)
            if records[item.key]["outcome"] == SENT and first_id is None:
                first_id = records[item.key]["id"]
        for item in group:
            if item.data[0] == "to":
                continue
            carried = first_id is not None
            records[item.key] = {
                **self.blank(item),
                "id": first_id,
                "outcome": SENT if carried else REFUSED,
                **({} if carried else {"error": "no recipient of its call was accepted"}),
            }
        return [records[i.key] for i in group]

    def _record_for(self, item: SendItem, row: dict[str, Any] | None) -> dict[str, Any]:
        if row is None:
            return {
                **self.blank(item),
                "outcome": UNKNOWN,
                "error": "MailGrid's answer has no result for this recipient",
            }
        code = str(row.get("codigo") or "")
        record = {
            **self.blank(item),
            "id": row.get("id"),
            "status": row.get("status"),
            "codigo": code,
            "outcome": SENT if code == "200" else REFUSED,
        }
        if code != "200":
            record["error"] = f"code {code}: {row.get('status')}"
        return record

    def blank(self, item: SendItem) -> dict[str, Any]:
        role, address = item.data
        return {"to": address, "role": role, "id": None, "status": None, "codigo": None}


def plan_message(
    hook: Any,
    *,
    to: Sequence[str],
    subject: str,
    html: str | None = None,
    text: str | None = None,
    alt_text: str | None = None,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    encoding: str = "base64",
    from_email: str | None = None,
    from_name: str | None = None,
    reply_to: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> MailGridPlan:
    """Validate one message (limits, sender, 50 MB) and plan it; ``html`` or ``text`` is the body.

    Addresses may carry display names; MailGrid receives the bare addresses.
    """
    from airflow_provider_emailbr.hooks.mailgrid import MailGridAttachment

    bare = {
        role: [a.email for a in parse_addresses(list(v), field=role)]
        for role, v in (("to", to), ("cc", cc), ("bcc", bcc))
    }
    reply = parse_addresses(reply_to, field="reply_to") if reply_to else []
    template = hook.build_send_body(
        to=bare["to"][:1],
        subject=subject,
        message=html or text,
        message_type="html" if html else "text",
        encoding=encoding,
        alt_message=alt_text,
        from_email=from_email,
        from_name=from_name,
        reply_to=reply[0].email if reply else None,
        cc=bare["cc"] or None,
        bcc=bare["bcc"] or None,
        attachments=[MailGridAttachment(a.name, a.content, a.mime) for a in attachments],
    )
    return MailGridPlan(template, bare["to"], bare["cc"], bare["bcc"])


class MailGridAdapter(VendorAdapter):
    """MailGrid: ≤ 100 To per call; Cc/Bcc ride with the first call only; per-recipient answers."""

    name = VENDOR
    conn_type = "mailgrid"
    default_conn_id = "mailgrid_default"
    hook_class = "airflow_provider_emailbr.hooks.mailgrid:MailGridHook"
    #: MailGrid's documented limit of simultaneous calls.
    max_concurrency = 20

    @property
    def max_message_bytes(self) -> int:  # type: ignore[override]
        """MailGrid's 50 MB per message, attachments included."""
        from airflow_provider_emailbr.hooks.mailgrid import MAX_MESSAGE_BYTES

        return MAX_MESSAGE_BYTES

    def plan(self, hook: Any, email: SimpleEmail) -> MailGridPlan:
        name, address = email.sender
        return plan_message(
            hook,
            to=email.to,
            cc=email.cc,
            bcc=email.bcc,
            subject=email.subject,
            html=email.html,
            text=None if email.html else email.text,
            alt_text=email.text if email.html else None,
            from_email=address,
            from_name=name,
            reply_to=email.reply_to,
            attachments=email.attachments,
        )
