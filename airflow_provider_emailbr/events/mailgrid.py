"""MailGrid's failure webhook and its report rows, normalised into a DeliveryEvent.

MailGrid posts failures to the customer's webhook with an ``X-Webhook-Token`` header. Its documentation does
not show the body, so it is read in the shape of the detailed report's rows, which carry the same facts
(``msgid``, ``email_de``, ``email_para``, ``data`` ``DD/MM/YYYY``, ``hora`` ``HH:MM[:SS]``, ``status``): one
row, a list of rows, or the report's numbered object (``{"0": {…}, "1": {…}}``). Times without a zone are
local to the account (the connection's ``timezone`` extra, ``America/Sao_Paulo`` by default).

A webhook post and the report row of the same failure give the same :attr:`DeliveryEvent.event_id`, so a
pipeline fed by both (the receiver and a report-polling trigger) sees one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from airflow_provider_emailbr.events.model import DeliveryEvent, stable_event_id
from airflow_provider_emailbr.events.payloads import load_json_body
from airflow_provider_emailbr.exceptions import EmailBRInputError

if TYPE_CHECKING:
    from airflow_provider_emailbr.hooks.mailgrid import MailGridReportRow

VENDOR = "mailgrid"
"""The ``vendor`` of MailGrid's delivery events."""

TOKEN_HEADER = "X-Webhook-Token"
"""The header in which MailGrid sends the webhook's token."""

ROW_FIELDS = ("msgid", "email_de", "email_para", "data", "hora", "status")
"""The fields of one report row (and of one failure in a webhook body)."""


def event_from_report_row(row: MailGridReportRow, *, received_at: datetime) -> DeliveryEvent:
    """One report row (:class:`~airflow_provider_emailbr.hooks.mailgrid.MailGridReportRow`) as a
    :class:`DeliveryEvent`.

    A delivered status is ``delivered``; any other status is a failure, ``bounced``, described by the
    vendor's status text. ``timestamp`` is the row's own time, else ``received_at`` (when the row was read
    or posted; aware). ``event_id`` comes from the message id, the recipient and the status, so reading the
    same row again, or receiving it by webhook, gives the same id.
    """
    if received_at.tzinfo is None:
        raise EmailBRInputError(f"received_at {received_at.isoformat()!r} must be aware")
    moment = row.sent_at or received_at
    identity: list[Any] = [row.message_id, row.recipient.strip().lower(), row.status]
    if not row.message_id:
        # No vendor id: the time is what tells two failures to one address apart.
        identity.append(None if row.sent_at is None else row.sent_at.astimezone(timezone.utc).isoformat())
    return DeliveryEvent(
        event_type="delivered" if row.delivered else "bounced",
        event_id=stable_event_id(VENDOR, *identity),
        vendor=VENDOR,
        timestamp=moment.astimezone(timezone.utc),
        recipient=row.recipient or None,
        message_id=row.message_id or None,
        tag=None,
        url=None,
        description=row.status or None,
        raw=dict(row.raw),
    )


def parse_webhook_rows(body: Mapping[str, Any] | list[Any] | str | bytes) -> list[Mapping[str, Any]]:
    """The failure rows of one webhook body (a row, a list of rows or the report's numbered object).

    Every row must be a JSON object with ``msgid`` or ``email_para``; an empty body is refused.
    """
    value = load_json_body(body)
    if isinstance(value, Mapping) and not any(field in value for field in ROW_FIELDS):
        numbered = [(key, item) for key, item in value.items() if str(key).isdigit()]
        if numbered and len(numbered) == len(value):
            value = [item for _, item in sorted(numbered, key=lambda pair: int(pair[0]))]
    rows = value if isinstance(value, list) else [value]
    if not rows:
        raise EmailBRInputError("MailGrid webhook body holds no row")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EmailBRInputError(
                f"MailGrid webhook row {index} must be a JSON object, got {type(row).__name__}"
            )
        if not (row.get("msgid") or row.get("email_para")):
            raise EmailBRInputError(
                f"MailGrid webhook row {index} has neither msgid nor email_para; expected fields: "
                f"{', '.join(ROW_FIELDS)}"
            )
    return rows


def delivery_events(
    body: Mapping[str, Any] | list[Any] | str | bytes, *, zone: tzinfo, received_at: datetime
) -> list[DeliveryEvent]:
    """Every failure of one MailGrid webhook body as a :class:`DeliveryEvent` (times local to ``zone``)."""
    from airflow_provider_emailbr.hooks.mailgrid import parse_report_row

    return [
        event_from_report_row(parse_report_row(row, zone), received_at=received_at)
        for row in parse_webhook_rows(body)
    ]
