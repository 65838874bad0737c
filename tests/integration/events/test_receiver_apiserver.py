"""The webhook receiver inside a real ``airflow api-server``: a post becomes an asset event, read back through
the REST API, once, without the token anywhere in the server's log."""

from __future__ import annotations

import json
import os

import pytest

from tests.apiserver import api_server, plugin_installed, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not plugin_installed(),
        reason="the provider is not installed here (pip install -e .): its airflow.plugins entry point is missing",
    ),
    # the floor job sets this: Airflow 3.2.x's processes (dag.test()'s in-process execution API, and its
    # api-server's pydantic models) do not start with today's uncapped fastapi/cadwyn/pydantic
    pytest.mark.skipif(
        bool(os.environ.get("EMAILBR_SKIP_DAG_RUNS")),
        reason=f"Airflow processes disabled here: {os.environ.get('EMAILBR_SKIP_DAG_RUNS')}",
    ),
]

TOKEN = "it-" + "T0k" * 12
CONSUMER_DAG = """
from airflow.sdk import DAG, Asset, task

with DAG("emailbr_events_consumer", schedule=[Asset("emailbr://events/envie_hooks")]):

    @task
    def consume(triggering_asset_events=None):
        return None

    consume()
"""
FAILED = {
    "event": "MessageDeliveryFailed",
    "timestamp": 1767265200,
    "payload": {
        "details": "User unknown",
        "output": "550 5.1.1",
        "message": {"id": 4711, "to": "maria@exemplo.com.br", "timestamp": 1767261600, "tag": "boas-vindas"},
    },
}


def test_a_posted_event_becomes_one_asset_event(tmp_path):
    connection = {
        "conn_type": "envie_email",
        "host": "https://envie.invalid",
        "extra": {"webhook_token": TOKEN},
    }
    with api_server(
        tmp_path,
        dags={"consumer.py": CONSUMER_DAG},
        connections={"envie_hooks": connection},
        extra_env={"EMAILBR_WEBHOOK_STORE": str(tmp_path / "store" / "events.db")},
    ) as server:
        body = json.dumps(FAILED).encode()
        url = f"/emailbr/webhooks/envie_hooks?token={TOKEN}"
        assert (
            server.request("POST", "/emailbr/webhooks/envie_hooks?token=n0pe", body=body, auth=False)[0]
            == 401
        )
        assert server.request("POST", url, body=body, auth=False) == (
            200,
            {"stored": 1, "duplicates": 0, "filtered": 0},
        )
        assert server.request("POST", url, body=body, auth=False) == (  # the vendor's retry
            200,
            {"stored": 0, "duplicates": 1, "filtered": 0},
        )
        assert server.request("POST", "/emailbr/webhooks/unknown?token=x", body=body, auth=False)[0] == 404

        _, assets = server.request("GET", "/api/v2/assets?uri_pattern=emailbr")
        [asset] = assets["assets"]
        assert asset["uri"] == "emailbr://events/envie_hooks"

        def asset_events() -> list:
            return server.request("GET", f"/api/v2/assets/events?asset_id={asset['id']}")[1]["asset_events"]

        [asset_event] = wait_until(asset_events, timeout=60)
        [event] = asset_event["extra"]["events"]
        assert event["event_type"] == "bounced"
        assert event["vendor"] == "envie"
        assert event["recipient"] == "maria@exemplo.com.br"
        assert event["message_id"] == "4711"
        assert event["timestamp"] == "2026-01-01T11:00:00+00:00"
        assert event["raw"] == FAILED
        assert asset_event["extra"]["count"] == 1
        assert TOKEN not in json.dumps(asset_event)
        assert asset_events() == [asset_event]  # published once
        log = server.log_text()
        assert TOKEN not in log
        assert "refused a post to 'envie_hooks' with a wrong token" in log


def test_an_event_answered_200_survives_a_crash_and_is_published_after_restart(tmp_path):
    """Killed right after its 200, before any asset event (no DAG uses the asset yet): the event is on
    disk, and the restarted server publishes it with no new post once a DAG scheduled on the asset exists."""
    import sqlite3

    store = tmp_path / "store" / "events.db"
    connection = {
        "conn_type": "envie_email",
        "host": "https://envie.invalid",
        "extra": {"webhook_token": TOKEN},
    }
    env = {"EMAILBR_WEBHOOK_STORE": str(store)}
    with api_server(tmp_path, connections={"envie_hooks": connection}, extra_env=env) as server:
        url = f"/emailbr/webhooks/envie_hooks?token={TOKEN}"
        assert server.request("POST", url, body=json.dumps(FAILED).encode(), auth=False)[0] == 200
        server.crash()
    rows = sqlite3.connect(store).execute("SELECT event_id, published_at FROM webhook_event").fetchall()
    assert len(rows) == 1 and rows[0][1] is None

    with api_server(
        tmp_path, dags={"consumer.py": CONSUMER_DAG}, connections={"envie_hooks": connection}, extra_env=env
    ) as server:
        _, assets = server.request("GET", "/api/v2/assets?uri_pattern=emailbr")
        [asset] = assets["assets"]

        def asset_events() -> list:
            return server.request("GET", f"/api/v2/assets/events?asset_id={asset['id']}")[1]["asset_events"]

        [asset_event] = wait_until(asset_events, timeout=60)
        assert [e["event_id"] for e in asset_event["extra"]["events"]] == [rows[0][0]]
