"""The transport-free model of a send: the message, the items a send accounts for, and their outcomes.

An item is what one results line speaks of: a recipient (MailGrid, envie.email) or a message (emailManager).
Its ``key`` identifies it across tries. Each item ends a try with one outcome:

- ``sent``: confirmed by the vendor;
- ``refused``: certainly not sent (the vendor said no, or the request never left);
- ``unknown``: the request went out and the answer was lost or unreadable: it may have been delivered;
- ``not_sent``: not attempted (the try stopped after a lost answer, an authentication failure or an
  unreachable platform), or marked as not delivered by hand; the next try sends it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.records import Record

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

SENT = "sent"
REFUSED = "refused"
UNKNOWN = "unknown"
#: Written before a request; without a later outcome it means "unknown" (the worker stopped mid-request).
ATTEMPT = "attempt"
#: Certainly not sent and nothing refused it: not attempted after a stop (in results), or checked as not
#: delivered by ``mark_send_results`` (in the results file). The next try sends it.
NOT_SENT = "not_sent"
OUTCOMES = (SENT, REFUSED, UNKNOWN)

#: The sender Airflow passes when ``[email] from_email`` is unset: not a deliverable address, so the
#: connection's ``from_email`` extra is used instead.
AIRFLOW_PLACEHOLDER_SENDER = "airflow@airflow"
#: Longest list of addresses quoted in an error message.
MAX_NAMED = 20


def name_some(items: Sequence[str], limit: int = MAX_NAMED) -> str:
    """``a, b, c`` — at most ``limit`` items, then how many more."""
    shown = ", ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


def shorten(text: Any, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters (for reasons quoted in logs and errors)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Attachment(NamedTuple):
    """A file to attach, read into memory: its name (with extension), bytes and MIME type."""

    name: str
    content: bytes
    mime: str

    @classmethod
    def read(cls, path: str | Path | ObjectStoragePath, *, conn_id: str | None = None) -> Attachment:
        """Read a local path or an ``ObjectStoragePath``/URI; the MIME type comes from the file name."""
        from airflow_provider_emailbr.utils.storage import as_path

        target = as_path(path, conn_id)
        if not target.exists():
            raise EmailBRInputError(f"attachment {str(path)!r}: file does not exist")
        name = target.name
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(name=name, content=target.read_bytes(), mime=mime)


class SimpleEmail(Record):
    """One e-mail to a few people, in no vendor's format: what every adapter plans into its calls.

    ``to``/``cc``/``bcc`` hold addresses as ``addr`` or ``"Name" <addr>`` (see
    :mod:`~airflow_provider_emailbr.sending.addresses`). ``html`` and/or ``text`` give the body.
    ``from_email`` may be ``Name <addr>``; unset fields fall back to the connection's ``from_email``/
    ``from_name`` extras. ``headers`` and ``tag`` are emailManager-only.
    """

    __slots__ = (
        "attachments",
        "bcc",
        "cc",
        "from_email",
        "from_name",
        "headers",
        "html",
        "reply_to",
        "subject",
        "tag",
        "text",
        "to",
    )

    def __init__(
        self,
        to: list[str],
        subject: str,
        html: str | None = None,
        text: str | None = None,
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        reply_to: str | None = None,
        attachments: list[Attachment] | None = None,
        headers: dict[str, str] | None = None,
        tag: str | None = None,
    ) -> None:
        self.to = to
        self.subject = subject
        self.html = html
        self.text = text
        self.cc = cc if cc is not None else []
        self.bcc = bcc if bcc is not None else []
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to = reply_to
        self.attachments = attachments if attachments is not None else []
        self.headers = headers if headers is not None else {}
        self.tag = tag
        if not self.to:
            raise EmailBRInputError("to: at least one recipient is required")
        if not isinstance(self.subject, str) or not self.subject.strip():
            raise EmailBRInputError("subject: a non-empty subject is required")
        if not (self.html or self.text):
            raise EmailBRInputError("html/text: give an HTML body, a plain-text body, or both")

    @property
    def sender(self) -> tuple[str | None, str | None]:
        """``(name, address)`` from ``from_email``/``from_name``; Airflow's placeholder sender is ignored."""
        raw = (self.from_email or "").strip()
        name, address = parseaddr(raw) if raw else ("", "")
        if address.lower() == AIRFLOW_PLACEHOLDER_SENDER:
            name, address = "", ""
        return (self.from_name or name or None), (address or None)

    @property
    def recipients(self) -> list[str]:
        """Every address the e-mail goes to: To, then Cc, then Bcc."""
        return [*self.to, *self.cc, *self.bcc]


class SendItem(Record):
    """One thing to send and account for: a recipient (MailGrid, envie.email) or a message (emailManager).

    :param key: stable identity across tries (written to the results file).
    :param label: how logs and errors name it (addresses masked).
    :param data: what the adapter needs to send it.
    :param slot: where it sits in the input, when ``key`` alone does not say (emailManager's index): a
        previous try's line for the same slot with another key means the input changed.
    :param recipients: the addresses it reaches (the one-shot delivery reports per address).
    """

    __slots__ = ("data", "key", "label", "recipients", "slot")

    def __init__(
        self,
        key: str,
        label: str,
        data: Any = None,
        slot: str | None = None,
        recipients: tuple[str, ...] = (),
    ) -> None:
        self.key = key
        self.label = label
        self.data = data
        self.slot = slot
        self.recipients = recipients


def base64_length(size: int) -> int:
    """Bytes of ``size`` bytes once base64-encoded (without line breaks)."""
    return 4 * -(-size // 3)


def read_attachments(
    paths: Iterable[str | Path | ObjectStoragePath] | None,
    conn_id: str | None = None,
    *,
    max_encoded_bytes: int | None = None,
) -> list[Attachment]:
    """Read attachments (local paths, URIs or ``ObjectStoragePath``); MIME types from the file names.

    With ``max_encoded_bytes``, the base64 total of the files is checked against it before any is read.
    """
    from airflow_provider_emailbr.utils.storage import as_path

    targets = []
    for raw in paths or ():
        target = as_path(raw, conn_id)
        if not target.exists():
            raise EmailBRInputError(f"attachments: {str(raw)!r} does not exist")
        targets.append(target)
    if max_encoded_bytes is not None:
        encoded = sum(base64_length(_size(t)) for t in targets)
        if encoded > max_encoded_bytes:
            raise EmailBRInputError(
                f"attachments: {encoded:,} bytes once base64-encoded exceed the {max_encoded_bytes:,}-byte "
                f"message limit ({max_encoded_bytes // (1024 * 1024)} MB, body included); nothing was sent"
            )
    return [
        Attachment(t.name, t.read_bytes(), mimetypes.guess_type(t.name)[0] or "application/octet-stream")
        for t in targets
    ]


def _size(path: Any) -> int:
    info = path.stat()
    return int(info["size"] if isinstance(info, Mapping) else info.st_size)
