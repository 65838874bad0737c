"""emailManager's adapter: one message per ``POST /email``, or up to 500 per ``POST /email/batch``.

Planning: every message is an item, keyed by its input position plus a hash of its content (``3:9f2c…``),
so a retry recognises it and notices when the input changed. A :class:`~.model.SimpleEmail` becomes one
message carrying To + Cc + Bcc ≤ 20; more To recipients go in further messages (the copies ride with the
first). Display names travel as ``"Name" <addr>`` in UTF-8, as the vendor documents.

Reading: each answer entry's ``ErrorCode`` 0 means sent, any other code refused (with the vendor's
``Message``); an entry without ``ErrorCode`` (e.g. an empty HTTP 200) or a missing entry is ``unknown``.
The vendor documents HTTP 500 as "not finished, send again shortly", so 500 joins 429/503 as "not processed".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.emailmanager import validate_message
from airflow_provider_emailbr.sending.addresses import format_address, parse_addresses
from airflow_provider_emailbr.sending.base import SendPlan, VendorAdapter
from airflow_provider_emailbr.sending.model import REFUSED, SENT, UNKNOWN, SendItem, SimpleEmail, shorten
from airflow_provider_emailbr.utils.privacy import mask_email


def content_digest(value: Any) -> str:
    """A short, stable hash of a JSON-able value (key order and spacing do not matter)."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


#: The vendor's name in messages: its plans', its adapter's and its send operators'.
VENDOR = "emailManager"


class EmailManagerPlan(SendPlan):
    """Messages in the vendor's (Postmark v1) format, sent one per call or in batches.

    :param messages: validated messages, in input order.
    :param batch_size: ``None`` sends each message with ``POST /email``; a number packs that many per
        ``POST /email/batch``.
    """

    vendor = VENDOR
    not_processed_statuses = frozenset({429, 500, 503})

    def __init__(self, messages: Sequence[Mapping[str, Any]], *, batch_size: int | None = None) -> None:
        self.batch_size = batch_size
        self.items = []
        for index, message in enumerate(messages):
            addresses = [
                a.email for key in ("To", "Cc", "Bcc") for a in parse_addresses(message.get(key), field=key)
            ]
            self.items.append(
                SendItem(
                    key=f"{index}:{content_digest(message)}",
                    label=f"message {index} to {mask_email(addresses[0] if addresses else '?')}",
                    data=(index, dict(message)),
                    slot=str(index),
                    recipients=tuple(addresses),
                )
            )

    def groups(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        size = self.batch_size or 1
        for start in range(0, len(pending), size):
            yield pending[start : start + size]

    def body(self, group: list[SendItem]) -> Any:
        if self.batch_size is None:
            return group[0].data[1]
        return [item.data[1] for item in group]

    def call(self, hook: Any, body: Any) -> Any:
        return hook.send_email(body) if self.batch_size is None else hook.send_batch(body)

    async def acall(self, hook: Any, body: Any) -> Any:
        return await (hook.asend_email(body) if self.batch_size is None else hook.asend_batch(body))

    def read(self, group: list[SendItem], answer: Any) -> list[dict[str, Any]]:
        """Answers aligned with the group by position (a missing answer is ``unknown``)."""
        answers = [answer] if self.batch_size is None else list(answer or [])
        return [
            self._record_for(item, answers[n] if n < len(answers) else None) for n, item in enumerate(group)
        ]

    def _record_for(self, item: SendItem, answer: Any) -> dict[str, Any]:
        record = self.blank(item)
        if answer is None:
            return {**record, "outcome": UNKNOWN, "error": "emailManager's answer has no entry for it"}
        if not isinstance(answer, Mapping) or "ErrorCode" not in answer:  # e.g. an empty HTTP 200
            return {
                **record,
                "outcome": UNKNOWN,
                "error": f"emailManager's answer has no ErrorCode for it: {shorten(answer, 120)}",
            }
        code = answer.get("ErrorCode")
        record.update(
            {
                "MessageID": answer.get("MessageID"),
                "ErrorCode": code,
                "Message": answer.get("Message"),
                "SubmittedAt": answer.get("SubmittedAt"),
                "To": answer.get("To") or record["To"],
                "outcome": SENT if code in (0, "0") else REFUSED,
            }
        )
        if code not in (0, "0"):
            record["error"] = f"ErrorCode {code}: {answer.get('Message')}"
        return record

    def blank(self, item: SendItem) -> dict[str, Any]:
        index, message = item.data
        return {
            "index": index,
            "To": message.get("To"),
            "MessageID": None,
            "ErrorCode": None,
            "Message": None,
            "SubmittedAt": None,
        }


def plan_batch(
    hook: Any, messages: Sequence[Any], *, from_email: str | None = None, batch_size: int
) -> EmailManagerPlan:
    """Validate messages given in the vendor's format (``From`` defaulted to ``from_email`` or the
    connection's sender) and plan them in batches of ``batch_size``."""
    if not messages:
        raise EmailBRInputError("messages: no message to send")
    sender = from_email or hook.default_sender()
    planned = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise EmailBRInputError(f"messages[{index}]: {type(message).__name__} is not a message object")
        message = dict(message)
        if not message.get("From") and sender:
            message["From"] = sender
        validate_message(message, where=f"messages[{index}]")
        planned.append(message)
    return EmailManagerPlan(planned, batch_size=batch_size)


def sender_of(hook: Any, name: str | None, address: str | None) -> str | None:
    """``From``: the given sender (named ``"Name" <addr>``), else the connection's default sender."""
    if address is None and name is None:
        return hook.default_sender()
    address = address or hook.extra("from_email")
    return format_address(address, name) if address else None


class EmailManagerAdapter(VendorAdapter):
    """emailManager: one message carries To + Cc + Bcc ≤ 20; more To go in further messages."""

    name = VENDOR
    conn_type = "emailmanager"
    default_conn_id = "emailmanager_default"
    hook_class = "airflow_provider_emailbr.hooks.emailmanager:EmailManagerHook"

    def unsupported(self, email: SimpleEmail) -> dict[str, str]:
        return {}

    def plan(self, hook: Any, email: SimpleEmail) -> EmailManagerPlan:
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
        sender = sender_of(hook, *email.sender)
        attachments = [attachment_from_bytes(a.name, a.content, a.mime) for a in email.attachments]
        groups = [email.to[:room]] + [
            email.to[i : i + MAX_RECIPIENTS_PER_MESSAGE]
            for i in range(room, len(email.to), MAX_RECIPIENTS_PER_MESSAGE)
        ]
        messages = [
            hook.build_message(
                to=group,
                subject=email.subject,
                html_body=email.html,
                text_body=email.text,
                from_email=sender,
                cc=email.cc if index == 0 else None,
                bcc=email.bcc if index == 0 else None,
                reply_to=email.reply_to,
                tag=email.tag,
                headers=email.headers or None,
                attachments=attachments or None,
            )
            for index, group in enumerate(groups)
        ]
        return EmailManagerPlan(messages)
