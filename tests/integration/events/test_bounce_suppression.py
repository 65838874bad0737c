"""The example DAG ``emailbr_bounce_suppression`` under ``dag.test()``, fed with real asset events.

``dag.test()`` makes a manual run, which consumes no asset event; :func:`run_on_asset_events` records the
given asset events in the metadata DB (as the receiver or an event trigger would) and attaches them to the
run as its consumed events, the way the scheduler does for an asset-triggered run. The tasks then read
them from ``triggering_asset_events`` through the Execution API, as in production.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_emailbr.events.envie import delivery_event
from airflow_provider_emailbr.events.mailgrid import delivery_events
from airflow_provider_emailbr.importing.suppression import load_suppression
from tests.dagrun import DagRunResult, run_dag

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parents[3] / "example_dags" / "emailbr_bounce_suppression.py"
DAG_ID = "emailbr_bounce_suppression"
ENVIE = "emailbr://events/envie_default"
MAILGRID = "emailbr://events/mailgrid_default"
RECEIVED = datetime(2026, 12, 5, 15, 0, tzinfo=timezone.utc)


def envie(event: str, message_id: int, to: str, **payload: Any) -> dict[str, Any]:
    """An envie.email webhook body in its documented shape (``MessageSent`` has no top-level time)."""
    body: dict[str, Any] = {
        "event": event,
        "payload": {
            **payload,
            "message": {"id": message_id, "to": to, "timestamp": 1764946800, "tag": "pedido"},
        },
    }
    if event != "MessageSent":
        body["timestamp"] = 1764947000
    return body


BOUNCE = delivery_event(
    envie("MessageDeliveryFailed", 1, "Ana@Exemplo.com.br", details="550 5.1.1 no such user", output="550"),
    received_at=RECEIVED,
)
OPEN = delivery_event(
    {**envie("MessageLoaded", 2, "bia@exemplo.com.br", ip_address="10.0.0.1", user_agent="Mail")},
    received_at=RECEIVED,
)
DELAY = delivery_event(
    envie("MessageDelayed", 3, "caio@exemplo.com.br", details="4.2.2", output="452"), received_at=RECEIVED
)
[MAILGRID_FAILURE] = delivery_events(
    {
        "msgid": "ABCDEF-123456-AA",
        "email_de": "loja@exemplo.com.br",
        "email_para": "dani@exemplo.com.br",
        "data": "05/12/2026",
        "hora": "11:40:00",
        "status": "Caixa postal inexistente",
    },
    zone=ZoneInfo("America/Sao_Paulo"),
    received_at=RECEIVED,
)


@pytest.fixture
def outputs(tmp_path, monkeypatch) -> dict[str, Path]:
    warehouse, suppression = tmp_path / "warehouse.db", tmp_path / "out" / "suppress.csv"
    monkeypatch.setenv(
        "AIRFLOW_CONN_EMAILBR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    )
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_SUPPRESSION_FILE", str(suppression))
    return {"warehouse": warehouse, "suppression": suppression}


def run_on_asset_events(events: dict[str, list[dict[str, Any]]]) -> DagRunResult:
    """``dag.test()`` of the example whose run consumed asset events with these ``extra``s, per asset URI."""
    from airflow.models import dagrun as dagrun_module
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    create_run = dagrun_module.get_or_create_dagrun

    def create_run_with_events(**kwargs: Any) -> Any:
        run = create_run(**kwargs)
        session = kwargs["session"]
        for uri, extras in events.items():
            asset = session.scalar(select(AssetModel).where(AssetModel.uri == uri))
            for extra in extras:
                asset_event = AssetEvent(asset_id=asset.id, extra=extra)
                session.add(asset_event)
                run.consumed_asset_events.append(asset_event)
        session.commit()
        return run

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", create_run_with_events):
        return run_dag(DAG_FILE, DAG_ID)


def table(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT event_id, event_type, vendor, recipient, message_id FROM email_events ORDER BY occurred_at, event_id"
        ).fetchall()


def test_events_reach_the_warehouse_and_the_suppression_file_once(outputs):
    first = run_on_asset_events(
        {
            ENVIE: [{"event": BOUNCE.to_dict()}, {"events": [OPEN.to_dict(), DELAY.to_dict()]}],
            MAILGRID: [{"from_trigger": True, "payload": {"event": MAILGRID_FAILURE.to_dict()}}],
        }
    )
    assert first.state == "success", first.task_states
    assert first.xcom("append_to_warehouse") == {"events": 4, "added": 4}
    assert first.xcom("update_suppression_file") == {"added": 2, "already": 0, "invalid": 0}
    rows = table(outputs["warehouse"])
    assert sorted(rows) == sorted(
        (e.event_id, e.event_type, e.vendor, e.recipient, e.message_id)
        for e in (BOUNCE, OPEN, DELAY, MAILGRID_FAILURE)
    )
    with outputs["suppression"].open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [(r["email"], r["event_type"], r["vendor"]) for r in written] == [
        ("ana@exemplo.com.br", "bounced", "envie"),
        ("dani@exemplo.com.br", "bounced", "mailgrid"),
    ]
    with load_suppression(str(outputs["suppression"]), conn_id=None) as suppression:
        assert len(suppression) == 2

    # the vendor posts the bounce again (its retry), and the MailGrid failure also arrives by webhook
    again = run_on_asset_events(
        {ENVIE: [{"event": BOUNCE.to_dict()}], MAILGRID: [{"events": [MAILGRID_FAILURE.to_dict()]}]}
    )
    assert again.state == "success", again.task_states
    assert again.xcom("append_to_warehouse") == {"events": 2, "added": 0}
    assert again.xcom("update_suppression_file") == {"added": 0, "already": 2, "invalid": 0}
    assert len(table(outputs["warehouse"])) == 4
    assert len(outputs["suppression"].read_text().splitlines()) == 3


def test_an_asset_event_without_delivery_events_fails_the_run_before_writing(outputs):
    result = run_on_asset_events({ENVIE: [{"note": "pushed by hand"}]})
    assert result.state == "failed"
    assert result.task_states == {"append_to_warehouse": "failed", "update_suppression_file": "failed"}
    assert not outputs["suppression"].exists()
