"""Transactional sends, never twice to the same person: the shared base and the vendor-agnostic operator.

:class:`SendEmailOperator` sends one e-mail through MailGrid, emailManager or envie.email, chosen by the
connection's type, so a DAG moves between vendors by changing a connection. The vendor operators
(:mod:`.mailgrid`, :mod:`.emailmanager`, :mod:`.envie`) take each vendor's own options. All of them are
thin: they validate their parameters into a send plan of the sending layer
(:mod:`airflow_provider_emailbr.sending`), whose engine sends it under the same rules:

- **Everything is validated before the first request** (recipients, limits, attachments, sizes).
- **Every item has a stable key** that identifies it across tries: the recipient for MailGrid
  (``to:``/``cc:``/``bcc:`` + address) and envie.email (the address), the input position plus a hash of the
  message for emailManager (``3:9f2c…``).
- **The HTTP core never repeats a send after an ambiguous failure** (the request went out, the answer was
  lost). Each item ends a try as ``sent`` (confirmed by the vendor), ``refused`` (certainly not sent: the
  vendor said no, or the request never left), ``unknown`` (it may have been delivered) or ``not_sent`` (not
  attempted: the try stopped sending after a lost answer, an authentication failure or an unreachable
  platform). One classifier decides (:mod:`airflow_provider_emailbr.sending.outcomes`), for the operators,
  the notifiers and the e-mail backend alike.
- **Durable ledger** (Airflow >= 3.3, ``durable=True``, the default): attempts and outcomes are recorded in
  the task state store, which every try of the task instance shares, on any worker, and which a clear
  keeps. One intent covers a window of requests and is written before the first of them goes out; outcomes
  are carried along with the next write (a lost outcome only turns ``sent`` into ``unknown``), and request
  ``q`` waits until the outcomes of every request before ``q - L`` are durable (the lag rule), so a retry
  infers that later requests never left and a killed worker leaves at most ``L + 1`` requests ``unknown``.
  A retry or a cleared task skips what was confirmed sent, re-sends what certainly was not and does **not**
  re-send ``unknown`` items, with or without ``results_path``, until a person resolves them through the task
  state store key ``emailbr.send.resolution`` (read once by the next try). A store that cannot be read or
  written, or a corrupt or foreign entry, fails the task before anything (more) is sent.
- **Results file** (``results_path``, JSON Lines, local or object storage): on Airflow 3.2 (or with
  ``durable=False``) it is the ledger; with the durable ledger it is an export written alongside it, whose
  manual marks (:func:`mark_send_results`) are honoured. As the ledger, an ``attempt`` line is written
  before each request and the outcome lines as answers arrive. A retried try reads it and skips what was
  confirmed sent, re-sends what was certainly not sent, and does **not** re-send ``unknown`` items (an
  ``attempt`` without an outcome, e.g. a worker killed mid-request, counts as ``unknown``), unless
  ``resend_unknown=True``. Lines carry the DAG, task, run and map index, so another run never skips.
  Without the durable ledger and without ``results_path`` nothing tells a retry what went out, so a retry
  (try 2+) refuses to send unless ``resend_unknown=True`` (everything is then sent again).
- **Failure policy**: refusals fail the task after everything else was sent, with a summary, unless
  ``fail_on_partial=False`` (the task then succeeds when at least one item was sent). Unknown and
  not-attempted items always fail the task, naming what was sent, refused and unknown, and saying how to
  resolve: check the vendor's report, then either :func:`mark_send_results` (``sent`` or ``not_sent``) or
  run again with ``resend_unknown=True``. The results are also pushed to XCom under ``send_results``
  before failing.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_emailbr.exceptions import EmailBRInputError, EmailBRSendError
from airflow_provider_emailbr.sending.engine import PROGRESS_EVERY, SendEngine, SendResult
from airflow_provider_emailbr.sending.ledger import (
    ResultsLog,
    RunIdentity,
    SendLedger,
    effective_outcome,
    mark_send_results,
    open_ledger,
)
from airflow_provider_emailbr.sending.model import (
    ATTEMPT,
    NOT_SENT,
    OUTCOMES,
    REFUSED,
    SENT,
    UNKNOWN,
    SendItem,
    SimpleEmail,
    read_attachments,
)
from airflow_provider_emailbr.utils.text import as_bool

if TYPE_CHECKING:
    from pathlib import Path

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_emailbr.hooks.base import EmailBRHook
    from airflow_provider_emailbr.sending.base import SendPlan, VendorAdapter

__all__ = [
    "ATTEMPT",
    "NOT_SENT",
    "OUTCOMES",
    "PROGRESS_EVERY",
    "REFUSED",
    "SENT",
    "UNKNOWN",
    "EmailBRSendOperator",
    "ResultsLog",
    "RunIdentity",
    "SendEmailOperator",
    "SendIncompleteError",
    "SendItem",
    "SendLedger",
    "effective_outcome",
    "mark_send_results",
]

#: Names that moved to the vendor modules, re-exported here lazily (the vendor modules import this one, so
#: importing them here eagerly would be circular; they are left out of ``__all__`` for the same reason).
_MOVED = {
    "MailGridSendEmailOperator": "airflow_provider_emailbr.operators.mailgrid",
    "EmailManagerSendEmailOperator": "airflow_provider_emailbr.operators.emailmanager",
    "EmailManagerBatchSendOperator": "airflow_provider_emailbr.operators.emailmanager",
    "EnvieEmailSendOperator": "airflow_provider_emailbr.operators.envie",
    "MAX_RECIPIENTS": "airflow_provider_emailbr.hooks.mailgrid",
    "MAX_MESSAGE_BYTES": "airflow_provider_emailbr.hooks.mailgrid",
    "MAX_BATCH_MESSAGES": "airflow_provider_emailbr.hooks.emailmanager",
}


def __getattr__(name: str) -> Any:
    """The names that moved to the vendor modules (imported on first use)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SendIncompleteError(EmailBRSendError):
    """A send operator could not confirm every item: some were refused, unknown or not attempted."""


class EmailBRSendOperator(BaseOperator):
    """Base of the send operators: results file, sent/refused/unknown accounting, failure policy, summary.

    A subclass gives its :attr:`hook` and :meth:`plan` (validate the rendered input into a
    :class:`~airflow_provider_emailbr.sending.base.SendPlan`, sending nothing); the engine
    (:class:`~airflow_provider_emailbr.sending.engine.SendEngine`) does the rest.

    :param durable: on Airflow >= 3.3, record attempts and outcomes in the task state store (default), so
        that retries and clears on any worker never send twice, without ``results_path``. ``False``: the
        Airflow 3.2 behaviour (``results_path`` only).
    :param results_path: JSON Lines file (local path, URI or ``ObjectStoragePath``) where results are
        appended as they arrive (templated). With the durable ledger, an export; without it (Airflow 3.2 or
        ``durable=False``) the ledger a retry reads back, and strongly recommended with retries: without it
        a retried try refuses to send (unless ``resend_unknown=True``).
    :param results_conn_id: connection of the object store holding ``results_path``.
    :param fail_on_partial: fail the task when some items were refused (after sending everything else).
        With ``False`` the task succeeds if at least one item was sent; unknown items always fail it.
    :param resend_unknown: send again the items a previous try left ``unknown`` — without
        ``results_path``, everything (templated; only after checking the vendor's report that they were
        not delivered).
    :param concurrency: requests in flight at once (they share one back-off when the vendor says 429).
    :param return_results: return the per-item results (``True``) or only counts (``False``, for very
        large sends whose results live in ``results_path``).
    """

    template_fields: Sequence[str] = ("results_path", "resend_unknown")
    ui_color = "#e8f4ea"

    #: The platform's name in messages.
    platform: ClassVar[str] = "e-mail"
    #: Most requests in flight the vendor allows.
    max_concurrency: ClassVar[int] = 20

    def __init__(
        self,
        *,
        results_path: str | ObjectStoragePath | None = None,
        results_conn_id: str | None = None,
        fail_on_partial: bool = True,
        resend_unknown: bool | str = False,
        concurrency: int = 1,
        return_results: bool = True,
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(durable, bool):
            raise EmailBRInputError(f"durable: {durable!r} must be True or False")
        if not isinstance(concurrency, int) or not 1 <= concurrency <= self.max_concurrency:
            raise EmailBRInputError(
                f"concurrency: {concurrency!r} must be an integer from 1 to {self.max_concurrency}"
            )
        self.results_path = results_path
        self.results_conn_id = results_conn_id
        self.fail_on_partial = fail_on_partial
        self.resend_unknown = resend_unknown
        self.concurrency = concurrency
        self.return_results = return_results
        self.durable = durable

    @property
    @abstractmethod
    def hook(self) -> EmailBRHook:
        """The platform hook (subclasses build it lazily)."""

    @abstractmethod
    def plan(self, context: Context) -> SendPlan:
        """Validate the rendered input into a send plan, in output order. No request is sent."""

    def vendor_name(self) -> str:
        """The platform's name in messages (the connection decides it for :class:`SendEmailOperator`)."""
        return self.platform

    def open_ledger(self, context: Context | None = None) -> SendLedger | None:
        """Where this send records attempts and outcomes: the task state store (Airflow >= 3.3 and
        ``durable``), the results file, both, or ``None``."""
        from airflow_provider_emailbr.sending.ledger import STATE_NAMESPACE
        from airflow_provider_emailbr.utils.state_store import TaskState

        state = TaskState.from_context(context, namespace=STATE_NAMESPACE, durable=self.durable)
        return open_ledger(self.results_path, conn_id=self.results_conn_id, state=state)

    def execute(self, context: Context) -> Any:
        """Plan, skip what earlier tries settled, send the rest, then succeed or fail with a summary."""
        identity = RunIdentity.from_context(context)
        resend_unknown = as_bool(self.resend_unknown, field="resend_unknown")
        ledger = self.open_ledger(context)
        if ledger is None and identity.try_number > 1 and not resend_unknown:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"{self.vendor_name()} send, try {identity.try_number}: an earlier try may have sent e-mail "
                "and no results_path records what went out, so this try sends nothing (it could send some "
                "messages twice). Set results_path on the operator; or, after checking the platform's "
                "report, run again with resend_unknown=True to send everything again."
            )
        if ledger is not None:
            self.log.info(
                "%s send: attempts and outcomes are recorded in %s", self.vendor_name(), ledger.location
            )
        engine = SendEngine(
            self.plan(context),
            self.hook,
            identity=identity,
            ledger=ledger,
            resend_unknown=resend_unknown,
            concurrency=self.concurrency,
            logger=self.log,
        )
        return self.finish(context, engine.run())

    def finish(self, context: Context, result: SendResult) -> Any:
        """Return the results, or push them to XCom and fail with the summary."""
        failed = result.failed(fail_on_partial=self.fail_on_partial)
        where = str(self.results_path) if self.results_path else None
        summary = result.summary(failed=failed, results_location=where, markable=bool(self.results_path))
        if failed:
            context["ti"].xcom_push(key="send_results", value=result.ordered)
            tally = result.tally
            raise SendIncompleteError(
                summary,
                sent=[i.label for i in tally.sent_before + tally.sent_now],
                refused=[i.label for i, _ in tally.refused],
                unknown=[i.label for i, _ in tally.unknown],
            )
        if result.tally.refused:
            self.log.warning("%s (fail_on_partial=False: the task succeeds)", summary)
        else:
            self.log.info("%s", summary)
        return result.ordered if self.return_results else result.counts()


class SendEmailOperator(EmailBRSendOperator):
    """Send one e-mail through MailGrid, emailManager or envie.email: the connection's type decides.

    The connection (``conn_id``) is read when the task runs, never when the DAG is parsed: a connection of
    type ``mailgrid``, ``emailmanager`` or ``envie_email`` picks that vendor, any other type is a clear
    error. So a DAG moves between vendors by changing the connection.

    What each vendor does with the message:

    - **MailGrid**: To in calls of ≤ 100 recipients, Cc/Bcc (≤ 100 each) copied once with the first call;
      ``html`` + ``text`` send the text as the HTML's plain alternative; display names are not sent; 50 MB
      per message, counted encoded. One result per recipient.
    - **emailManager**: one message carries To + Cc + Bcc ≤ 20 (names as ``"Name" <addr>``); more To
      recipients go in further messages, the copies in the first. One result per message.
    - **envie.email**: one message per To recipient. It has **no Cc or Bcc**: giving them is an error before
      anything is sent. Attachments must be of its MIME whitelist. One result per recipient.

    Anything a vendor cannot deliver is refused before the first request, naming the vendor and the feature.
    See :mod:`airflow_provider_emailbr.operators.send` for the retry rules, results file and failure policy.

    :param conn_id: a ``mailgrid``, ``emailmanager`` or ``envie_email`` connection (templated).
    :param to: recipients: an address (``a@x``, ``"Name" <a@x>``), a comma/semicolon-separated string, a
        list, or an XComArg (templated).
    :param subject: subject (templated).
    :param html: HTML body (templated). Give ``html``, ``text`` or both.
    :param text: plain-text body, or the plain alternative of ``html`` (templated).
    :param cc: copies (templated).
    :param bcc: blind copies (templated).
    :param reply_to: reply-to address (templated).
    :param from_email: sender, may be ``"Name" <addr>`` (default: the connection's ``from_email``/
        ``from_name`` extras; templated).
    :param attachments: paths, URIs or ``ObjectStoragePath`` objects; MIME type from the name (templated).
    :param attachments_conn_id: object-store connection for attachment URIs.
    """

    template_fields: Sequence[str] = (
        *EmailBRSendOperator.template_fields,
        "conn_id",
        "to",
        "cc",
        "bcc",
        "subject",
        "html",
        "text",
        "reply_to",
        "from_email",
        "attachments",
    )
    template_fields_renderers = {"html": "html"}

    def __init__(
        self,
        *,
        conn_id: str,
        to: str | Sequence[str],
        subject: str,
        html: str | None = None,
        text: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        reply_to: str | None = None,
        from_email: str | None = None,
        attachments: Sequence[str | Path | ObjectStoragePath] | None = None,
        attachments_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.to = to
        self.subject = subject
        self.html = html
        self.text = text
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.from_email = from_email
        self.attachments = attachments
        self.attachments_conn_id = attachments_conn_id

    @cached_property
    def adapter(self) -> VendorAdapter:
        """The vendor of the connection, from its type (read on first use, when the task runs)."""
        from airflow_provider_emailbr.sending.delivery import adapter_for

        return adapter_for(self.conn_id, hint="; SendEmailOperator needs one of them as conn_id")

    @cached_property
    def hook(self) -> EmailBRHook:
        """The vendor's hook for ``conn_id``."""
        return self.adapter.hook(self.conn_id)

    def vendor_name(self) -> str:
        return self.adapter.name

    def plan(self, context: Context) -> SendPlan:
        """Check the message and what the vendor can do with it, read the attachments, plan the calls."""
        from airflow_provider_emailbr.sending.addresses import split_addresses

        for field in ("subject", "html", "text", "reply_to", "from_email"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, str):
                raise EmailBRInputError(f"{field}: expected text, got {type(value).__name__}")
        email = SimpleEmail(
            to=split_addresses(self.to, field="to"),
            cc=split_addresses(self.cc, field="cc"),
            bcc=split_addresses(self.bcc, field="bcc"),
            subject=self.subject,
            html=self.html or None,
            text=self.text or None,
            from_email=self.from_email or None,
            reply_to=self.reply_to or None,
        )
        adapter = self.adapter
        if self.concurrency > adapter.max_concurrency:
            raise EmailBRInputError(
                f"concurrency: {self.concurrency} exceeds {adapter.name}'s limit of {adapter.max_concurrency}"
            )
        adapter.require_supported(email)
        attachments = read_attachments(
            self.attachments, self.attachments_conn_id, max_encoded_bytes=adapter.max_message_bytes
        )
        plan = adapter.plan(self.hook, email.replace(attachments=attachments))
        self.log.info(
            "%s: %d item(s) to send in %d call(s)",
            adapter.name,
            len(plan.items),
            sum(1 for _ in plan.groups(list(plan.items))),
        )
        return plan
