"""The CriaEnvio campaign trigger against a misbehaving vendor (loopback servers, real transports): an HTML page,
an error envelope, a redirect, a failed TLS handshake or a 50 MB answer each end the wait with one clear error
event that carries no secret.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Reply
from tests.integration.misbehaving_vendors import (
    BY_NAME,
    HTML,
    SECRET,
    HugeBodyServer,
    TLSServer,
    connect,
    run_trigger,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("html", "answer is not JSON"),
        ("envelope", "Argumento inválido"),
        ("redirect", "not followed"),
        ("tls", "TLS handshake failed"),
        ("huge", "-byte limit"),
    ],
)
def test_campaign_trigger_ends_with_one_clear_error_event(
    server, other_host, set_connection, tmp_path, scenario, expected
):
    from airflow_provider_emailbr.triggers.campaigns import CriaEnvioCampaignTrigger

    vendor = BY_NAME["criaenvio"]
    extra_server: Any = None
    if scenario == "tls":
        extra_server = TLSServer(tmp_path)
    elif scenario == "huge":
        extra_server = HugeBodyServer(declare_length=False)
    connect(set_connection, vendor, extra_server.url if extra_server else server.url)
    server.default = {
        "html": Reply(body=HTML),
        "envelope": Reply(body=vendor.envelope),
        "redirect": Reply(status=302, body="", headers={"Location": f"{other_host.url}/x?chave={SECRET}"}),
    }.get(scenario, Reply())
    try:
        events = run_trigger(CriaEnvioCampaignTrigger(campaign_id="c1", poll_interval=0.05))
    finally:
        if extra_server is not None:
            extra_server.close()
    assert len(events) == 1 and events[0].payload["status"] == "error"
    message = events[0].payload["message"]
    assert expected in message and SECRET not in message and len(message) < 1000
    assert other_host.requests == []
    assert SECRET not in json.dumps(CriaEnvioCampaignTrigger(campaign_id="c1").serialize())
