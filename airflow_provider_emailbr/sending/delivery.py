"""The one-shot delivery of a :class:`~.model.SimpleEmail`: what the notifiers and the e-mail backend use.

It sends the adapter's plan call by call with the plan's own :meth:`~.base.SendPlan.send` (sync,
:func:`deliver`) or :meth:`~.base.SendPlan.asend` (async, :func:`adeliver`), so the requests and the
reading of every answer are exactly the send operators'. Outcomes come from the one classifier: a call whose
answer was lost or unreadable, or an HTTP 5xx, leaves its recipients *unknown* (never repeated), and
sending stops there; a refusal goes on with the next call. Anything not confirmed sent raises
:class:`~airflow_provider_emailbr.exceptions.EmailBRSendError` naming who was sent, refused or unknown.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRSendError
from airflow_provider_emailbr.sending.model import SENT, UNKNOWN, SendItem, SimpleEmail, name_some
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.records import Record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_emailbr.sending.base import CallResult, VendorAdapter


class DeliveryReport(Record):
    """What a delivery achieved, per recipient; ``answers`` holds one record per item (vendor fields)."""

    __slots__ = ("answers", "not_attempted", "platform", "refused", "sent", "unknown")

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.answers: list[dict[str, Any]] = []
        self.sent: list[str] = []
        self.refused: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        self.not_attempted: list[str] = []

    def record(self, group: list[SendItem], records: list[dict[str, Any]]) -> None:
        """Account for the records of one call."""
        self.answers.extend(records)
        for item, record in zip(group, records, strict=True):
            reason = str(record.get("error") or "")
            for address in item.recipients:
                if record["outcome"] == SENT:
                    self.sent.append(address)
                elif record["outcome"] == UNKNOWN:
                    self.unknown[address] = reason
                else:
                    self.refused[address] = reason

    def stop(self, remaining: list[list[SendItem]]) -> None:
        """Account for the calls not made after a stop."""
        self.not_attempted.extend(a for group in remaining for item in group for a in item.recipients)

    def raise_for_failures(self) -> None:
        """Raise :class:`EmailBRSendError` unless every recipient was confirmed sent."""
        if not (self.refused or self.unknown or self.not_attempted):
            return
        parts = [f"{self.platform} e-mail not fully sent: {len(self.sent)} recipient(s) sent"]
        if self.refused:
            reasons = sorted(set(self.refused.values()))
            parts.append(
                f"{len(self.refused)} refused ({name_some([mask_email(a) for a in self.refused])}): "
                + "; ".join(reasons[:3])
            )
        if self.unknown:
            parts.append(
                f"{len(self.unknown)} unknown — the request went out and the answer was lost, so it was not "
                f"repeated; check the platform's report before sending again "
                f"({name_some([mask_email(a) for a in self.unknown])})"
            )
        if self.not_attempted:
            parts.append(f"{len(self.not_attempted)} not attempted after the failure")
        raise EmailBRSendError(
            "; ".join(parts),
            sent=self.sent,
            refused=list(self.refused),
            unknown=list(self.unknown),
        )


class _Delivery:
    """One delivery in progress: the plan's calls in order, until a call's answer says to stop."""

    def __init__(self, hook: Any, email: SimpleEmail, platform: VendorAdapter) -> None:
        self.plan = platform.plan(hook, email)
        self.report = DeliveryReport(platform.name)
        self._groups = list(self.plan.groups(list(self.plan.items)))
        self._stopped = False

    def calls(self) -> Iterator[list[SendItem]]:
        """The items of each call to make, one call at a time; none after :meth:`took` records a stop."""
        for position, group in enumerate(self._groups):
            yield group
            if self._stopped:
                self.report.stop(self._groups[position + 1 :])
                return

    def took(self, group: list[SendItem], result: CallResult) -> None:
        """Account for the answer to the call carrying ``group``."""
        records, stop = result
        self.report.record(group, records)
        self._stopped = bool(stop)

    def finish(self) -> DeliveryReport:
        """The report, or :class:`EmailBRSendError` unless every recipient was confirmed sent."""
        self.report.raise_for_failures()
        return self.report


def deliver(hook: Any, email: SimpleEmail, platform: VendorAdapter) -> DeliveryReport:
    """Send ``email`` with ``hook`` (sync); raise :class:`EmailBRSendError` if anything was not sent."""
    delivery = _Delivery(hook, email, platform)
    for group in delivery.calls():
        delivery.took(group, delivery.plan.send(hook, group))
    return delivery.finish()


async def adeliver(hook: Any, email: SimpleEmail, platform: VendorAdapter) -> DeliveryReport:
    """The asynchronous twin of :func:`deliver`: the same requests, sent with the hook's ``acall``."""
    await hook.aget_settings()
    delivery = _Delivery(hook, email, platform)
    for group in delivery.calls():
        delivery.took(group, await delivery.plan.asend(hook, group))
    return delivery.finish()


@cache
def adapters() -> dict[str, VendorAdapter]:
    """The adapter of each supported connection type (one shared instance each)."""
    from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter
    from airflow_provider_emailbr.sending.envie import EnvieAdapter
    from airflow_provider_emailbr.sending.mailgrid import MailGridAdapter

    return {a.conn_type: a for a in (MailGridAdapter(), EmailManagerAdapter(), EnvieAdapter())}


def adapter_for(conn_id: str, *, hint: str = "") -> VendorAdapter:
    """The adapter of connection ``conn_id``, from its connection type (read now, never at parse time).

    Another connection type is a :class:`EmailBRConfigError` naming it and the supported ones (``hint``
    is appended: what to change).
    """
    from airflow.sdk import BaseHook

    conn_type = BaseHook.get_connection(conn_id).conn_type
    known = adapters()
    adapter = known.get(conn_type or "")
    if adapter is None:
        raise EmailBRConfigError(
            f"Connection {conn_id!r} has type {conn_type!r}: e-mail is sent through connections of type "
            f"{', '.join(sorted(known))}{hint}"
        )
    return adapter
