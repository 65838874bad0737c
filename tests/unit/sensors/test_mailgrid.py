"""MailGridDeliverySensor without a server: message-id parsing, construction and ``execute_complete``.
Pokes and deferral against the sandbox are in ``tests/sandbox_backed/sensors/test_mailgrid.py``."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from airflow_provider_emailbr.sensors.mailgrid import MailGridDeliverySensor, parse_message_ids


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (["a-1", "b-2", "a-1"], ["a-1", "b-2"]),
        ("a-1, b-2;c-3  d-4", ["a-1", "b-2", "c-3", "d-4"]),
        ('["a-1", "b-2"]', ["a-1", "b-2"]),
        ("['a-1', 'b-2']", ["a-1", "b-2"]),  # a list rendered by Jinja without native rendering
        (("a-1",), ["a-1"]),
    ],
)
def test_parse_message_ids(value, ids):
    assert parse_message_ids(value) == ids


@pytest.mark.parametrize("value", ["", [], ["  "], None, [{"id": "x"}], "[1, oops"])
def test_parse_message_ids_refuses(value):
    with pytest.raises(EmailBRInputError, match="message_ids"):
        parse_message_ids(value)


def test_constructor_validates_and_defaults():
    sensor = MailGridDeliverySensor(task_id="s", message_ids="x")
    assert sensor.timeout == 7200 and sensor.poke_interval == 60
    with pytest.raises(EmailBRInputError, match="per_id_query_limit"):
        MailGridDeliverySensor(task_id="s", message_ids="x", per_id_query_limit=-1)


def test_execute_complete_outcomes():
    sensor = MailGridDeliverySensor(task_id="s", message_ids="x", timeout=30)
    results = {
        "x": {"status": "Entregue com sucesso", "delivered": True, "recipient": "a@b.c", "sent_at": "t"}
    }
    assert sensor.execute_complete({}, event={"status": "success", "results": results}) == results
    with pytest.raises(AirflowSensorTimeout, match="never appeared in the report: x"):
        sensor.execute_complete({}, event={"status": "timeout", "results": {}, "pending": ["x"]})
    with pytest.raises(EmailBRError, match="code 207"):
        sensor.execute_complete({}, event={"status": "error", "message": "MailGrid report/ failed, code 207"})
    soft = MailGridDeliverySensor(task_id="soft", message_ids="x", soft_fail=True)
    with pytest.raises(AirflowSkipException):
        soft.resume_execution(
            "execute_complete", {"event": {"status": "timeout", "results": {}, "pending": ["x"]}}, {}
        )
