"""envie.email's adapter: one ``POST /singlesending/create`` per recipient (it has no copies).

Planning: every recipient is an item keyed by its address. The body (validated, attachments encoded once,
HTML inside ``<html><body>…</body></html>`` so that envie.email tracks opens and clicks) is built once and
reused with each recipient's ``to_email``/``to_name`` (the display name, else the address's local part). A
plain-text-only message is sent as escaped ``<pre>`` HTML with the text as ``plain_text``. The one-shot
delivery (notifiers, e-mail backend) sends Cc and Bcc recipients individual messages too; the
vendor-neutral send operator refuses Cc/Bcc for envie.email instead (see :meth:`EnvieAdapter.unsupported`).

Reading: ``{"status": "success", "message_id"}`` is sent; an error status raises in the hook (refused by
the classifier); any other answer (e.g. an empty HTTP 200) is ``unknown``.
"""

from __future__ import annotations

import html as html_lib
import mimetypes
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.addresses import Address, parse_addresses
from airflow_provider_emailbr.sending.base import SendPlan, VendorAdapter
from airflow_provider_emailbr.sending.model import SENT, UNKNOWN, Attachment, SendItem, SimpleEmail, shorten
from airflow_provider_emailbr.utils.privacy import mask_email


def text_as_html(text: str) -> str:
    """A plain-text body as HTML that shows it as written."""
    return "<pre>" + html_lib.escape(text) + "</pre>"


#: The vendor's name in messages: its plans', its adapter's and its send operators'.
VENDOR = "envie.email"


class EnviePlan(SendPlan):
    """One envie.email message, sent to each recipient individually."""

    vendor = VENDOR

    def __init__(self, template: Mapping[str, Any], recipients: Sequence[Address]) -> None:
        self.template = dict(template)
        self.items = [
            SendItem(
                key=a.email.lower(), label=mask_email(a.email), data=(a.email, a.name), recipients=(a.email,)
            )
            for a in recipients
        ]

    def groups(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """One recipient per call."""
        for item in pending:
            yield [item]

    def body(self, group: list[SendItem]) -> dict[str, Any]:
        address, name = group[0].data
        return {**self.template, "to_email": address, "to_name": name or address.split("@")[0]}

    def call(self, hook: Any, body: Any) -> Any:
        return hook.send_body(body)

    async def acall(self, hook: Any, body: Any) -> Any:
        return await hook.asend_body(body)

    def read(self, group: list[SendItem], answer: Any) -> list[dict[str, Any]]:
        item = group[0]
        if not isinstance(answer, Mapping) or answer.get("status") != "success":
            # neither an error (which raises) nor the documented success: it may have been accepted
            return [
                {
                    **self.blank(item),
                    "outcome": UNKNOWN,
                    "error": f"envie.email's answer is not a success: {shorten(answer, 120)}",
                }
            ]
        return [
            {**self.blank(item), "message_id": answer.get("message_id"), "status": "success", "outcome": SENT}
        ]

    def blank(self, item: SendItem) -> dict[str, Any]:
        return {"to": item.data[0], "message_id": None, "status": None}


def plan_message(
    hook: Any,
    *,
    to: Sequence[str | Address],
    subject: str,
    html: str | None = None,
    text: str | None = None,
    from_email: str | None = None,
    from_name: str | None = None,
    reply_to_email: str | None = None,
    reply_to_name: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> EnviePlan:
    """Validate one message (required fields, MIME whitelist, attachment names) and plan it per recipient."""
    from airflow_provider_emailbr.hooks.envie import EnvieAttachment

    recipients = [a if isinstance(a, Address) else parse_address_one(a) for a in to]
    if not recipients:
        raise EmailBRInputError("to: at least one recipient is required")
    for field, value in (("html", html), ("text", text)):
        if value is not None and not isinstance(value, str):
            raise EmailBRInputError(f"{field}: expected text, got {type(value).__name__}")
    if not (html or text):
        raise EmailBRInputError("html/text: give an HTML body, a plain-text body, or both")
    files = []
    for attachment in attachments:
        if attachment.mime == "application/octet-stream" and not mimetypes.guess_type(attachment.name)[0]:
            raise EmailBRInputError(
                f"attachments: cannot tell the MIME type of {attachment.name!r} from its name"
            )
        files.append(
            EnvieAttachment(name=Path(attachment.name).stem, content=attachment.content, mime=attachment.mime)
        )
    template = hook.build_send_body(
        to_email=recipients[0].email,
        to_name=recipients[0].name,
        subject=subject,
        body=html or text_as_html(text or ""),
        plain_text=text,
        from_email=from_email,
        from_name=from_name,
        reply_to_email=reply_to_email,
        reply_to_name=reply_to_name,
        attachments=files,
    )
    return EnviePlan(template, recipients)


def parse_address_one(text: str) -> Address:
    """One recipient address (``addr`` or ``"Name" <addr>``)."""
    found = parse_addresses([text], field="to")
    if len(found) != 1:
        raise EmailBRInputError(f"to: {mask_email(text)!r} must be exactly one e-mail address")
    return found[0]


class EnvieAdapter(VendorAdapter):
    """envie.email: one ``singlesending/create`` per recipient (no copies), attachments encoded once."""

    name = VENDOR
    conn_type = "envie_email"
    default_conn_id = "envie_default"
    hook_class = "airflow_provider_emailbr.hooks.envie:EnvieEmailHook"

    def unsupported(self, email: SimpleEmail) -> dict[str, str]:
        out = super().unsupported(email)
        if email.cc:
            out["cc"] = (
                "it has no copies; put the addresses in 'to': each recipient gets an individual message"
            )
        if email.bcc:
            out["bcc"] = "it has no blind copies; put the addresses in 'to': recipients never see each other"
        return out

    def plan(self, hook: Any, email: SimpleEmail) -> EnviePlan:
        name, address = email.sender
        reply = parse_addresses(email.reply_to, field="reply_to") if email.reply_to else []
        return plan_message(
            hook,
            to=parse_addresses(email.recipients, field="to"),
            subject=email.subject,
            html=email.html,
            text=email.text,
            from_email=address,
            from_name=name,
            reply_to_email=reply[0].email if reply else None,
            reply_to_name=reply[0].name if reply else None,
            attachments=email.attachments,
        )
