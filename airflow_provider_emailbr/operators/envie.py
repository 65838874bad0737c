"""envie.email operators: a transactional e-mail sent to each recipient individually, never twice.

The operator is thin: it turns its parameters into a validated message and hands it to the sending layer
(:mod:`airflow_provider_emailbr.sending.envie`), whose engine applies the retry rules described in
:mod:`airflow_provider_emailbr.operators.send`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.operators.send import EmailBRSendOperator
from airflow_provider_emailbr.sending.addresses import Address, parse_addresses
from airflow_provider_emailbr.sending.envie import EnvieAdapter, EnviePlan, plan_message
from airflow_provider_emailbr.sending.model import read_attachments, shorten

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


class EnvieEmailSendOperator(EmailBRSendOperator):
    """Send a transactional e-mail through envie.email (``POST /singlesending/create``), one per recipient.

    ``to`` is an address, a list of addresses or ``{"email", "name"}`` mappings, or an XComArg; each
    recipient gets an individual message (the key of the results file is the address). The body goes out
    inside ``<html><body>…</body></html>`` (added when missing), which envie.email needs to track opens and
    clicks. The optional plain text (``plain_text``) and attachments (paths or ``ObjectStoragePath``; name
    sent without extension, unique within the message; MIME type from the name, checked against the
    connection's whitelist) are validated and encoded once, before the first call.

    Returns one record per recipient: ``{"to", "message_id", "status", "outcome"}`` (+ ``"error"``).
    See :mod:`airflow_provider_emailbr.operators.send` for the retry rules.

    :param to: recipients (templated).
    :param subject: subject (templated).
    :param html: the body, HTML accepted (``body``; templated).
    :param text: the plain-text version (``plain_text``; templated); envie.email derives it when unset.
    :param from_email: sender (default: the connection's ``from_email``; templated).
    :param from_name: sender name (default: the connection's ``from_name``; templated).
    :param reply_to_email: reply-to address (default: the sender; templated).
    :param reply_to_name: reply-to name (default: the sender's name; templated).
    :param attachments: paths or ``ObjectStoragePath`` objects (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    :param envie_conn_id: the envie.email connection.
    :param concurrency: calls in flight at once (default 4).
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "to",
        "subject",
        "html",
        "text",
        "from_email",
        "from_name",
        "reply_to_email",
        "reply_to_name",
        "attachments",
        "envie_conn_id",
    )
    template_fields_renderers = {"html": "html"}
    platform = EnvieAdapter.name

    def __init__(
        self,
        *,
        to: str | Sequence[str | Mapping[str, str]],
        subject: str,
        html: str,
        text: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to_email: str | None = None,
        reply_to_name: str | None = None,
        attachments: Sequence[str | ObjectStoragePath] | None = None,
        attachments_conn_id: str | None = None,
        envie_conn_id: str = EnvieEmailHook.default_conn_name,
        concurrency: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(concurrency=concurrency, **kwargs)
        self.to = to
        self.subject = subject
        self.html = html
        self.text = text
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to_email = reply_to_email
        self.reply_to_name = reply_to_name
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id
        self.envie_conn_id = envie_conn_id

    @cached_property
    def hook(self) -> EnvieEmailHook:
        """The envie.email hook (built on first use)."""
        return EnvieEmailHook(envie_conn_id=self.envie_conn_id)

    def _recipients(self) -> list[Address]:
        value = self.to
        if isinstance(value, str) or value is None:
            return parse_addresses(value, field="to")
        if isinstance(value, Mapping) or not isinstance(value, Iterable):
            value = [value]  # one {"email", "name"} mapping; anything else is refused below
        out: list[Address] = []
        seen: set[str] = set()
        for entry in value:
            if isinstance(entry, Mapping):
                address, name = entry.get("email"), entry.get("name")
                found = parse_addresses([address], field="to") if isinstance(address, str) else []
                if len(found) != 1 or (name is not None and not isinstance(name, str)):
                    raise EmailBRInputError(
                        f"to: {shorten(repr(entry), 80)} needs a valid 'email' (one address) and, "
                        "optionally, a text 'name'"
                    )
                recipient = Address(found[0].email, str(name) if name else found[0].name)
            else:
                found = parse_addresses([entry], field="to")
                if not found:
                    continue
                recipient = found[0]
            if recipient.email.lower() not in seen:
                seen.add(recipient.email.lower())
                out.append(recipient)
        return out

    def plan(self, context: Context) -> EnviePlan:
        """Validate the message (required fields, attachments) once; one item per recipient."""
        recipients = self._recipients()
        if not recipients:
            raise EmailBRInputError(f"to: at least one recipient is required, got {self.to!r}")
        return plan_message(
            self.hook,
            to=recipients,
            subject=self.subject,
            html=self.html,
            text=self.text,
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to_email=self.reply_to_email,
            reply_to_name=self.reply_to_name,
            attachments=read_attachments(self.attachments, self.attachments_conn_id),
        )
