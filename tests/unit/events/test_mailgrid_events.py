"""MailGrid's failure webhook bodies and report rows, read into the normalised event."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_emailbr.events.mailgrid import (
    delivery_events,
    event_from_report_row,
    parse_webhook_rows,
)
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import parse_report_row

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
RECEIVED = datetime(2026, 1, 2, 0, 0, tzinfo=timezone.utc)
#: One row as the report documents it (``{"0": {"msgid", "email_de", "email_para", "data", "hora", "status"}}``).
FAILED = {
    "msgid": "a1b2c3",
    "email_de": "loja@exemplo.com.br",
    "email_para": "joao@exemplo.com.br",
    "data": "01/01/2026",
    "hora": "07:00:00",
    "status": "Caixa postal inexistente",
}
DELIVERED = {**FAILED, "msgid": "d4e5f6", "status": "Entregue com sucesso"}


def test_report_row_maps_into_the_model():
    event = event_from_report_row(parse_report_row(FAILED, SAO_PAULO), received_at=RECEIVED)
    assert event.event_type == "bounced"
    assert event.vendor == "mailgrid"
    assert event.message_id == "a1b2c3"
    assert event.recipient == "joao@exemplo.com.br"
    assert event.description == "Caixa postal inexistente"
    assert event.timestamp == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)  # 07:00 in São Paulo
    assert event.raw == FAILED
    delivered = event_from_report_row(parse_report_row(DELIVERED, SAO_PAULO), received_at=RECEIVED)
    assert delivered.event_type == "delivered"


def test_row_without_a_time_takes_received_at_and_naive_received_at_is_refused():
    row = parse_report_row({**FAILED, "data": "", "hora": ""}, SAO_PAULO)
    assert event_from_report_row(row, received_at=RECEIVED).timestamp == RECEIVED
    with pytest.raises(EmailBRInputError, match="received_at .* must be aware"):
        event_from_report_row(row, received_at=datetime(2026, 1, 2))


def test_same_failure_by_webhook_or_report_has_one_event_id():
    from_report = event_from_report_row(parse_report_row(FAILED, SAO_PAULO), received_at=RECEIVED)
    from_webhook = delivery_events(json.dumps(FAILED), zone=SAO_PAULO, received_at=datetime.now(timezone.utc))
    assert [e.event_id for e in from_webhook] == [from_report.event_id]
    other = delivery_events(
        {**FAILED, "email_para": "ana@exemplo.com.br"}, zone=SAO_PAULO, received_at=RECEIVED
    )
    assert other[0].event_id != from_report.event_id


@pytest.mark.parametrize(
    "body",
    [
        [FAILED, DELIVERED],
        {"0": FAILED, "1": DELIVERED},
        {"1": DELIVERED, "0": FAILED},
    ],
    ids=["list", "numbered-object", "numbered-out-of-order"],
)
def test_webhook_body_with_several_rows(body):
    events = delivery_events(json.dumps(body).encode(), zone=SAO_PAULO, received_at=RECEIVED)
    assert [(e.message_id, e.event_type) for e in events] == [("a1b2c3", "bounced"), ("d4e5f6", "delivered")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "holds no row"),
        (b"[1]", "row 0 must be a JSON object, got int"),
        (b'{"status": "x"}', "row 0 has neither msgid nor email_para"),
        (b"nope", "not JSON"),
    ],
)
def test_bad_webhook_bodies_are_clear_errors(body, message):
    with pytest.raises(EmailBRInputError, match=message):
        parse_webhook_rows(body)
