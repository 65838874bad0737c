"""What a vendor adapter is: it plans a message into the vendor's calls, sends them and reads the answers.

A :class:`SendPlan` is one validated send, ready to go out: its items (each with a stable key), how pending
items are packed into calls (:meth:`~SendPlan.groups`), the body of a call, the call itself (sync
:meth:`~SendPlan.call` and async :meth:`~SendPlan.acall`, each one line around the hook) and how the
vendor's answer becomes one record per item (:meth:`~SendPlan.read`). :meth:`~SendPlan.send` and
:meth:`~SendPlan.asend` are the thin twins every sender uses: they never raise, a failed call becomes one
record per item through the one classifier (:mod:`~airflow_provider_emailbr.sending.outcomes`).

A :class:`VendorAdapter` names the vendor (connection type, limits, the statuses it documents as "not
processed") and plans a vendor-neutral :class:`~airflow_provider_emailbr.sending.model.SimpleEmail`.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from airflow_provider_emailbr.sending.model import UNKNOWN, SendItem, SimpleEmail
from airflow_provider_emailbr.sending.outcomes import classify
from airflow_provider_emailbr.utils.records import Record
from airflow_provider_emailbr.utils.retry import NOT_PROCESSED_STATUSES

if TYPE_CHECKING:
    from airflow_provider_emailbr.hooks.base import EmailBRHook

log = logging.getLogger(__name__)

#: ``(records, stop_reason)``: one record per item of a call, and why sending more should stop.
CallResult = tuple[list[dict[str, Any]], str | None]


class PlannedRequest(Record):
    """One call of a plan: the body to send and the addresses it reaches (for dry runs and logs)."""

    __slots__ = ("body", "recipients")

    def __init__(self, body: Any, recipients: list[str]) -> None:
        self.body = body
        self.recipients = recipients


class SendPlan(ABC):
    """One validated send of one vendor: items, how they are packed into calls, sent and read back."""

    #: The vendor's name in messages.
    vendor: ClassVar[str]
    #: HTTP statuses after which the vendor certainly did not process a send (so: refused, not unknown).
    not_processed_statuses: ClassVar[frozenset[int]] = NOT_PROCESSED_STATUSES

    items: list[SendItem]

    @abstractmethod
    def groups(self, pending: list[SendItem]) -> Iterator[list[SendItem]]:
        """Pack pending items into calls; items left out are reported as not attempted."""

    @abstractmethod
    def body(self, group: list[SendItem]) -> Any:
        """The request body of the call carrying ``group``."""

    @abstractmethod
    def call(self, hook: Any, body: Any) -> Any:
        """Send one body with the hook's blocking ``call``; the vendor's (decoded) answer."""

    @abstractmethod
    async def acall(self, hook: Any, body: Any) -> Any:
        """Send one body with the hook's ``acall``, without blocking the event loop."""

    @abstractmethod
    def read(self, group: list[SendItem], answer: Any) -> list[dict[str, Any]]:
        """One record per item of ``group`` (same order) with ``outcome`` and the vendor's fields."""

    @abstractmethod
    def blank(self, item: SendItem) -> dict[str, Any]:
        """The public fields of an item without a vendor answer (e.g. ``{"to": address}``)."""

    # ------------------------------------------------------------------ shared by every sender

    def send(self, hook: Any, group: list[SendItem]) -> CallResult:
        """Send ``group`` in one call (sync); never raises."""
        try:
            records = self.read(group, self.call(hook, self.body(group)))
        except Exception as err:
            return self.failed(group, err)
        return self.checked(group, records)

    async def asend(self, hook: Any, group: list[SendItem]) -> CallResult:
        """The asynchronous twin of :meth:`send`."""
        try:
            records = self.read(group, await self.acall(hook, self.body(group)))
        except Exception as err:
            return self.failed(group, err)
        return self.checked(group, records)

    def failed(self, group: list[SendItem], err: Exception) -> CallResult:
        """Records for a call that failed as a whole, classified once for every sender."""
        verdict = classify(err, not_processed_statuses=self.not_processed_statuses)
        if not isinstance(err, EmailBRError):
            log.exception("%s: unexpected error while sending", self.vendor)
        message = str(err) if isinstance(err, EmailBRError) else f"{type(err).__name__}: {err}"
        records = [{**self.blank(i), "outcome": verdict.outcome, "error": message} for i in group]
        return records, verdict.stop

    def checked(self, group: list[SendItem], records: list[dict[str, Any]]) -> CallResult:
        """``records`` when they account for ``group``; otherwise (a bug, not the vendor) all unknown."""
        if len(records) == len(group):
            return records, None
        error = f"{len(records)} results for {len(group)} items"
        return [{**self.blank(i), "outcome": UNKNOWN, "error": error} for i in group], error

    def requests(self) -> list[PlannedRequest]:
        """Every call of the whole plan (nothing sent): for dry runs and logs."""
        return [
            PlannedRequest(self.body(group), [r for item in group for r in item.recipients])
            for group in self.groups(list(self.items))
        ]


class VendorAdapter(ABC):
    """One vendor's side of the sending layer: its hook, limits and how it plans a :class:`SimpleEmail`."""

    #: The vendor's name in messages.
    name: ClassVar[str]
    #: The Airflow connection type that selects this adapter.
    conn_type: ClassVar[str]
    #: The hook's default connection id.
    default_conn_id: ClassVar[str]
    #: The vendor's hook class as ``module:Class``, imported on first use (DAG files stay light).
    hook_class: ClassVar[str]
    #: Most calls in flight the vendor allows.
    max_concurrency: ClassVar[int] = 20
    #: Largest message the vendor takes, attachments base64-encoded (``None``: no documented limit).
    max_message_bytes: int | None = None

    def hook(self, conn_id: str | None) -> EmailBRHook:
        """A hook of this vendor for ``conn_id`` (or the hook's default connection)."""
        module, _, name = self.hook_class.partition(":")
        hook_type = getattr(importlib.import_module(module), name)
        return hook_type(**{hook_type.conn_name_attr: conn_id or hook_type.default_conn_name})

    @abstractmethod
    def plan(self, hook: Any, email: SimpleEmail) -> SendPlan:
        """Validate ``email`` and plan it into calls; nothing is sent. Needs the hook's settings loaded."""

    def unsupported(self, email: SimpleEmail) -> dict[str, str]:
        """Features ``email`` asks for that this vendor cannot deliver: ``{feature: what to do instead}``."""
        out = {}
        if email.headers:
            out["custom headers"] = "only emailManager sends them"
        if email.tag:
            out["tag"] = "only emailManager tags messages"
        return out

    def require_supported(self, email: SimpleEmail) -> None:
        """Raise a clear error naming the vendor and each feature it cannot deliver (nothing is sent)."""
        missing = self.unsupported(email)
        if missing:
            details = "; ".join(f"{feature} ({advice})" for feature, advice in missing.items())
            raise EmailBRInputError(f"{self.name} cannot send {details}; nothing was sent")
