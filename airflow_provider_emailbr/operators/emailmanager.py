"""emailManager operators: one message (``POST /email``) or many (``POST /email/batch``), never sent twice.

Both are thin: they turn their parameters into messages in the vendor's (Postmark v1) format, validated
before anything is sent, and hand them to the sending layer
(:mod:`airflow_provider_emailbr.sending.emailmanager`), whose engine applies the retry rules described in
:mod:`airflow_provider_emailbr.operators.send`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.emailmanager import (
    MAX_BATCH_MESSAGES,
    EmailManagerHook,
    attachment_from_bytes,
)
from airflow_provider_emailbr.operators.send import EmailBRSendOperator
from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter, EmailManagerPlan, plan_batch
from airflow_provider_emailbr.sending.model import read_attachments

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


class _EmailManagerSendBase(EmailBRSendOperator):
    """emailManager sends: one item per message, keyed by input position + message hash."""

    platform = EmailManagerAdapter.name

    emailmanager_conn_id: str

    @cached_property
    def hook(self) -> EmailManagerHook:
        """The emailManager hook (built on first use)."""
        return EmailManagerHook(emailmanager_conn_id=self.emailmanager_conn_id)


class EmailManagerSendEmailOperator(_EmailManagerSendBase):
    """Send one message through emailManager (``POST /email``), in the vendor's (Postmark v1) format.

    To + Cc + Bcc ≤ 20 recipients, checked before sending. Returns ``{"index": 0, "To", "MessageID",
    "ErrorCode", "Message", "SubmittedAt", "outcome"}``. See :mod:`airflow_provider_emailbr.operators.send`
    for the retry rules (the message's key is ``0:<hash>``).

    :param to: recipients (templated): a string (``a@x, "Silva, Ana" <b@y>``), a list, or an XComArg.
    :param subject: ``Subject`` (templated).
    :param html_body: ``HtmlBody`` (templated).
    :param text_body: ``TextBody`` (templated); both make a multipart message.
    :param from_email: ``From``, may be ``"Name" <addr>`` (default: the connection's ``from_email``).
    :param cc: ``Cc`` (templated).
    :param bcc: ``Bcc`` (templated).
    :param reply_to: ``ReplyTo`` (templated).
    :param tag: ``Tag`` (templated).
    :param headers: ``Headers`` as ``{name: value}`` (templated).
    :param attachments: paths, ``ObjectStoragePath`` objects or ready ``{"Name", "Content",
        "ContentType"}`` mappings (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    :param emailmanager_conn_id: the emailManager connection.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "to",
        "cc",
        "bcc",
        "subject",
        "html_body",
        "text_body",
        "from_email",
        "reply_to",
        "tag",
        "headers",
        "attachments",
        "emailmanager_conn_id",
    )
    template_fields_renderers = {"html_body": "html", "headers": "json"}

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str,
        html_body: str | None = None,
        text_body: str | None = None,
        from_email: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | None = None,
        tag: str | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[str | ObjectStoragePath | Mapping[str, Any]] | None = None,
        attachments_conn_id: str | None = None,
        emailmanager_conn_id: str = EmailManagerHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_body = html_body
        self.text_body = text_body
        self.from_email = from_email
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.tag = tag
        self.headers = headers
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id
        self.emailmanager_conn_id = emailmanager_conn_id

    def plan(self, context: Context) -> EmailManagerPlan:
        """Build and validate the one message."""
        attachments = []
        for entry in self.attachments or ():
            if isinstance(entry, Mapping):
                attachments.append(dict(entry))
            else:
                (file,) = read_attachments([entry], self.attachments_conn_id)
                attachments.append(attachment_from_bytes(file.name, file.content))
        message = self.hook.build_message(
            to=self.to,
            subject=self.subject,
            html_body=self.html_body,
            text_body=self.text_body,
            from_email=self.from_email,
            cc=self.cc,
            bcc=self.bcc,
            reply_to=self.reply_to,
            tag=self.tag,
            headers=self.headers,
            attachments=attachments,
        )
        return EmailManagerPlan([message])

    def execute(self, context: Context) -> Any:
        """Send the message; return its record (see the class docstring)."""
        result = super().execute(context)
        return result[0] if self.return_results else result


class EmailManagerBatchSendOperator(_EmailManagerSendBase):
    """Send many messages through emailManager's batch endpoint (``POST /email/batch``, ≤ 500 per call).

    Messages are in the vendor's (Postmark v1) format — ``From``, ``To``, ``Cc``, ``Bcc``, ``Subject``,
    ``HtmlBody``, ``TextBody``, ``ReplyTo``, ``Tag``, ``Headers`` ``[{Name, Value}]``, ``Attachments``
    ``[{Name, Content, ContentType}]`` — from a list or an XComArg (``messages``) or a JSON Lines file
    (``messages_path``, read whole). All are validated first (fields, ≤ 20 recipients each). A message
    without ``From`` gets ``from_email`` or the connection's ``from_email``.

    Returns one record per input message, aligned with the input: ``{"index", "To", "MessageID",
    "ErrorCode", "Message", "SubmittedAt", "outcome"}`` (+ ``"error"``). A message's key is its index plus
    a hash of its content; if an earlier try recorded another message at the same index as sent or
    unknown, the task fails before sending (the input changed). See
    :mod:`airflow_provider_emailbr.operators.send`.

    :param messages: list of messages, or an XComArg resolving to one (templated).
    :param messages_path: JSON Lines file of messages, local path, URI or ``ObjectStoragePath`` (templated).
    :param messages_conn_id: object-store connection for ``messages_path``.
    :param from_email: sender for messages without ``From`` (templated).
    :param batch_size: messages per call, 1–500 (default 500).
    :param emailmanager_conn_id: the emailManager connection.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "messages",
        "messages_path",
        "from_email",
        "emailmanager_conn_id",
    )

    def __init__(
        self,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        messages_path: str | ObjectStoragePath | None = None,
        messages_conn_id: str | None = None,
        from_email: str | None = None,
        batch_size: int = MAX_BATCH_MESSAGES,
        emailmanager_conn_id: str = EmailManagerHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (messages is None) == (messages_path is None):
            raise EmailBRInputError("messages/messages_path: give exactly one of them")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_MESSAGES:
            raise EmailBRInputError(
                f"batch_size: {batch_size!r} must be an integer from 1 to {MAX_BATCH_MESSAGES}"
            )
        self.messages = messages
        self.messages_path = messages_path
        self.messages_conn_id = messages_conn_id
        self.from_email = from_email
        self.batch_size = batch_size
        self.emailmanager_conn_id = emailmanager_conn_id

    def _load(self) -> list[Any]:
        if self.messages_path is not None:
            from airflow_provider_emailbr.utils.storage import iter_jsonl

            return list(iter_jsonl(self.messages_path, conn_id=self.messages_conn_id))
        if isinstance(self.messages, (str, bytes)) or not isinstance(self.messages, Iterable):
            raise EmailBRInputError(
                f"messages: expected a list of messages, got {type(self.messages).__name__}"
            )
        return list(self.messages)

    def plan(self, context: Context) -> EmailManagerPlan:
        """Load and validate every message (default ``From`` filled in)."""
        plan = plan_batch(self.hook, self._load(), from_email=self.from_email, batch_size=self.batch_size)
        self.log.info(
            "emailManager: %d message(s) in batches of ≤ %d (%d call(s))",
            len(plan.items),
            self.batch_size,
            math.ceil(len(plan.items) / self.batch_size),
        )
        return plan
