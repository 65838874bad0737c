"""The shared base of the three e-mail notifiers: templated fields, sync and async delivery.

A notifier renders its template fields with the callback's context (Airflow does it before calling
:meth:`~EmailBRNotifier.notify` or awaiting :meth:`~EmailBRNotifier.async_notify`), builds one
:class:`~airflow_provider_emailbr.sending.model.SimpleEmail`, and delivers it with the sending layer's
one-shot delivery (:mod:`airflow_provider_emailbr.sending.delivery`): the vendor's adapter plans the calls and
reads the answers exactly as for the send operators, and the one classifier decides each outcome.
``notify`` sends with the hook's blocking ``call`` (task callbacks run in the worker); ``async_notify``
reads the connection and sends with ``acall`` without blocking the event loop (deadline alerts run in the
triggerer). Both build exactly the same requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseNotifier

from airflow_provider_emailbr.sending.addresses import split_addresses
from airflow_provider_emailbr.sending.base import VendorAdapter
from airflow_provider_emailbr.sending.delivery import DeliveryReport, adapters, adeliver, deliver
from airflow_provider_emailbr.sending.model import Attachment, SimpleEmail

if TYPE_CHECKING:
    from typing import TypedDict

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_emailbr.hooks.base import EmailBRHook

    class _Recipients(TypedDict):
        to: str | Iterable[str]

    class NotifierOptions(_Recipients, total=False):
        """The keyword arguments every notifier takes (see :class:`EmailBRNotifier`), for type checkers."""

        subject: str | None
        html_content: str | None
        text_content: str | None
        from_email: str | None
        from_name: str | None
        cc: str | Iterable[str] | None
        bcc: str | Iterable[str] | None
        reply_to: str | None
        files: Iterable[str | Path | ObjectStoragePath] | None
        context: Context | None


#: The adapter of each supported connection type (the notifiers' platforms).
PLATFORMS: dict[str, VendorAdapter] = adapters()
#: Default subject: works for task callbacks (``ti``) and deadline alerts (``deadline``, ``dag_run`` dict).
DEFAULT_SUBJECT = (
    "[Airflow] {{ dag_run.dag_id }}"
    "{% if ti is defined %} / {{ ti.task_id }}: {{ ti.state.value | default(ti.state) }}"
    "{% elif deadline is defined %}: deadline missed{% endif %}"
)
#: Default HTML body (values escaped).
DEFAULT_HTML = (
    "<p>DAG <b>{{ dag_run.dag_id | e }}</b>, run <code>{{ dag_run.run_id | e }}</code>"
    "{% if ti is defined %}, task <b>{{ ti.task_id | e }}</b> (try {{ ti.try_number }}): "
    "<b>{{ ti.state.value | default(ti.state) }}</b>{% endif %}.</p>"
    "{% if deadline is defined %}<p>Deadline {{ deadline.deadline_time | e }} was missed.</p>{% endif %}"
    "{% if exception is defined and exception %}<pre>{{ exception | string | e }}</pre>{% endif %}"
    '{% if ti is defined and ti.log_url is defined %}<p><a href="{{ ti.log_url }}">Task log</a></p>'
    "{% endif %}"
)


class EmailBRNotifier(BaseNotifier):
    """Send an e-mail alert through one platform; subclasses only choose the platform and connection.

    :param to: recipient(s): an address, a comma/semicolon-separated string or a list (templated).
    :param subject: subject (templated); defaults to DAG, task and state.
    :param html_content: HTML body (templated); defaults to a short report with the exception and log link.
    :param text_content: plain-text body (templated); sent as the text alternative (or alone when
        ``html_content=""``).
    :param from_email: sender address, may be ``Name <addr>`` (templated); default: the connection's
        ``from_email`` extra.
    :param from_name: sender name (templated); default: the connection's ``from_name`` extra.
    :param cc: copies (templated).
    :param bcc: blind copies (templated).
    :param reply_to: reply-to address (templated).
    :param files: attachments: local paths, URIs or ``ObjectStoragePath`` objects (templated).
    :param context: the context, when a deadline alert builds the notifier with it (Airflow passes it).
    """

    template_fields: tuple[str, ...] = (
        "to",
        "subject",
        "html_content",
        "text_content",
        "from_email",
        "from_name",
        "cc",
        "bcc",
        "reply_to",
        "files",
    )
    #: The connection type of the platform (a key of :data:`PLATFORMS`).
    conn_type: ClassVar[str]
    #: The attribute (and keyword) holding the connection id, named like the hook's.
    conn_id_attr: ClassVar[str]

    def __init__(
        self,
        *,
        to: str | Iterable[str],
        subject: str | None = None,
        html_content: str | None = None,
        text_content: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        reply_to: str | None = None,
        files: Iterable[str | Path | ObjectStoragePath] | None = None,
        conn_id: str | None = None,
        context: Context | None = None,
    ) -> None:
        super().__init__(context=context)
        self.to = to
        self.subject = DEFAULT_SUBJECT if subject is None else subject
        self.html_content = DEFAULT_HTML if html_content is None else html_content
        self.text_content = text_content
        self.from_email = from_email
        self.from_name = from_name
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.files = list(files) if files else []
        setattr(self, self.conn_id_attr, conn_id or self.platform.default_conn_id)

    @property
    def platform(self) -> VendorAdapter:
        """How this notifier's vendor sends an e-mail."""
        return PLATFORMS[self.conn_type]

    @cached_property
    def hook(self) -> EmailBRHook:
        """The platform hook, built on first use (constructing the notifier touches nothing)."""
        return self.platform.hook(getattr(self, self.conn_id_attr))

    def build_email(self, attachments: list[Attachment]) -> SimpleEmail:
        """The e-mail from the (rendered) fields; validated."""
        return SimpleEmail(
            to=split_addresses(self.to, field="to"),
            cc=split_addresses(self.cc, field="cc"),
            bcc=split_addresses(self.bcc, field="bcc"),
            subject=self.subject,
            html=self.html_content or None,
            text=self.text_content or None,
            from_email=self.from_email or None,
            from_name=self.from_name or None,
            reply_to=self.reply_to or None,
            attachments=attachments,
            **self.message_options(),
        )

    def message_options(self) -> dict[str, Any]:
        """Platform-only :class:`SimpleEmail` fields (emailManager's ``headers`` and ``tag``)."""
        return {}

    def read_files(self) -> list[Attachment]:
        """Read the attachments (local files or object storage)."""
        return [Attachment.read(f) for f in self.files]

    def notify(self, context: Context) -> None:
        """Send the alert (blocking): task callbacks in the worker, sync deadline callbacks."""
        report = deliver(self.hook, self.build_email(self.read_files()), self.platform)
        self._log_sent(report)

    async def async_notify(self, context: Context) -> None:
        """Send the alert without blocking the event loop (deadline alerts in the triggerer)."""
        attachments = await asyncio.to_thread(self.read_files) if self.files else []
        report = await adeliver(self.hook, self.build_email(attachments), self.platform)
        self._log_sent(report)

    def _log_sent(self, report: DeliveryReport) -> None:
        self.log.info("%s alert %r sent to %d recipient(s)", report.platform, self.subject, len(report.sent))
