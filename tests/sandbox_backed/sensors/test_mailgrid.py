"""MailGridDeliverySensor against the sandbox: message lookups, queries, timeouts and deferral."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.sensors.mailgrid import MailGridDeliverySensor
from tests.sandbox_backed.support import MISSING, recent, send_two
from tests.unit.mailgrid_delivery_doubles import UTC


def test_poke_looks_each_id_up_and_returns_final_statuses(sandbox):
    ids = send_two()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    sensor = MailGridDeliverySensor(task_id="s", message_ids=ids, sent_after=start.isoformat())
    result = sensor.poke({})
    assert result.is_done
    assert list(result.xcom_value) == ids
    delivered, failed = (result.xcom_value[i] for i in ids)
    assert delivered["status"] == "Entregue com sucesso" and delivered["delivered"] is True
    assert delivered["recipient"] == "ana@exemplo.com.br"
    assert datetime.fromisoformat(delivered["sent_at"]) >= start
    assert failed == {
        **failed,
        "status": "Falha na entrega",
        "delivered": False,
        "recipient": "bob@bounce.example",
    }
    requests = sandbox.requests("mailgrid", path="report")
    assert [r["body"]["idMensagem"] for r in requests] == ids
    local_start = start.astimezone(pendulum.timezone(MailGridHook().timezone))
    assert requests[0]["body"]["dataini"] == f"{local_start:%Y-%m-%d}"
    assert requests[0]["body"]["horaini"] == f"{local_start:%H:%M}"
    assert set(requests[0]["body"]) == {
        "usuario_smtp",
        "senha_smtp",
        "dataini",
        "horaini",
        "datafim",
        "horafim",
        "idMensagem",
    }


def test_many_ids_scan_the_window_once(sandbox):
    ids = send_two()
    sensor = MailGridDeliverySensor(task_id="s", message_ids=ids, sent_after=recent(), per_id_query_limit=1)
    result = sensor.poke({})
    assert result.is_done and [v["delivered"] for v in result.xcom_value.values()] == [True, False]
    (request,) = sandbox.requests("mailgrid", path="report")
    assert "idMensagem" not in request["body"]


def test_found_ids_are_not_queried_again(sandbox):
    ids = send_two()
    sensor = MailGridDeliverySensor(task_id="s", message_ids=[*ids, MISSING], sent_after=recent())
    assert sensor.poke({}) is False
    sandbox.clear_requests()
    assert sensor.poke({}) is False
    assert [r["body"]["idMensagem"] for r in sandbox.requests("mailgrid", path="report")] == [MISSING]


def test_default_window_starts_before_the_dag_run(sandbox):
    run_start = pendulum.datetime(2026, 5, 1, 12, 30, tz="UTC")
    sensor = MailGridDeliverySensor(task_id="s", message_ids=[MISSING])
    assert sensor.poke({"dag_run": SimpleNamespace(start_date=run_start)}) is False
    (request,) = sandbox.requests("mailgrid", path="report")
    assert (request["body"]["dataini"], request["body"]["horaini"]) == ("2026-05-01", "09:20")


def test_sent_after_in_the_future_is_refused(sandbox):
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with pytest.raises(EmailBRInputError, match="sent_after: .* is in the future"):
        MailGridDeliverySensor(task_id="s", message_ids=[MISSING], sent_after=future).poke({})
    assert sandbox.requests("mailgrid") == []


def test_poke_mode_times_out(sandbox):
    sensor = MailGridDeliverySensor(
        task_id="s", message_ids=[MISSING], sent_after=recent(), timeout=0.5, poke_interval=0.2
    )
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute({})


def test_deferrable_pokes_once_then_defers_with_what_it_found(sandbox):
    ids = send_two()
    sandbox.config(report_lag_seconds=600)
    late = send_two()  # not in the report for 10 minutes
    sensor = MailGridDeliverySensor(
        task_id="s", message_ids=[*ids, late[0]], sent_after=recent(), deferrable=True, timeout=900
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=900)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_emailbr.triggers.mailgrid.MailGridDeliveryTrigger"
    assert kwargs["message_ids"] == [*ids, late[0]]
    assert set(kwargs["found"]) == set(ids)
    assert kwargs["mailgrid_conn_id"] == "mailgrid_default"
    deadline = datetime.fromisoformat(kwargs["deadline"])
    assert timedelta(seconds=890) < deadline - datetime.now(UTC) <= timedelta(seconds=900)
    assert "sandbox-mailgrid-password" not in repr(kwargs)


def test_deferrable_returns_at_once_when_everything_is_there(sandbox):
    ids = send_two()
    sensor = MailGridDeliverySensor(task_id="s", message_ids=ids, sent_after=recent(), deferrable=True)
    assert list(sensor.execute({})) == ids
