"""The command line (ready line, export lines, flags) and ``--state-file`` persistence across restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from emailbr_sandbox import SandboxServer, connection_env
from emailbr_sandbox.constants import (
    CRIAENVIO_KEY,
    EMAILMANAGER_TOKEN,
    EXPORT_RE,
    IAGENTE_KEY,
    READY_RE,
)
from emailbr_sandbox.server import PACKAGE_ROOT

CONN_TYPES = {
    "AIRFLOW_CONN_IAGENTE_DEFAULT": "iagente_email",
    "AIRFLOW_CONN_ENVIE_DEFAULT": "envie_email",
    "AIRFLOW_CONN_CRIAENVIO_DEFAULT": "criaenvio",
    "AIRFLOW_CONN_MAILGRID_DEFAULT": "mailgrid",
    "AIRFLOW_CONN_EMAILMANAGER_DEFAULT": "emailmanager",
}


@pytest.fixture(scope="module")
def flagged() -> SandboxServer:
    """A second sandbox started with non-default flags (module-scoped: one start for these tests)."""
    fault = json.dumps({"kind": "status", "status": 503, "vendor": "envie", "path": "lists/show", "count": 1})
    server = SandboxServer(
        seed=3,
        credits=5,
        timezone="America/Manaus",
        latency_ms={"emailmanager": 50},
        extra_args=["--fault", fault, "--max-message-kb", "1"],
        keep_log=True,
    )
    server.start()
    yield server
    server.stop()


def test_ready_line_then_export_lines(flagged):
    lines = flagged.read_log().splitlines()
    ready = READY_RE.match(lines[0])
    assert ready and ready.group("url") == flagged.url == f"http://127.0.0.1:{flagged.port}"
    exports = {}
    for line in lines[1:6]:
        found = EXPORT_RE.match(line)
        assert found, line
        exports[found.group("name")] = json.loads(found.group("value"))
    assert {name: conn["conn_type"] for name, conn in exports.items()} == CONN_TYPES
    assert exports["AIRFLOW_CONN_CRIAENVIO_DEFAULT"]["extra"] == {"timezone": "America/Manaus"}
    assert exports["AIRFLOW_CONN_MAILGRID_DEFAULT"]["extra"]["smtp_host"] == "grid-sandbox.mailgrid.example"
    for conn in exports.values():
        assert conn["host"].startswith(flagged.url + "/") and conn["host"].endswith("/")
    assert {k: json.loads(v) for k, v in flagged.conn_env.items()} == exports


def test_export_lines_are_shell_copy_pastable(flagged):
    script = "\n".join(flagged.read_log().splitlines()[1:6]) + '\nprintf %s "$AIRFLOW_CONN_MAILGRID_DEFAULT"'
    output = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(output)["password"] == "sandbox-mailgrid-password"
    assert output == flagged.conn_env["AIRFLOW_CONN_MAILGRID_DEFAULT"]


def test_airflow_parses_the_connections(sb):
    """Airflow reads the connections the sandbox prints (needs the ``dagrun`` extra, i.e. Airflow)."""
    Connection = pytest.importorskip("airflow.models.connection").Connection

    for name, value in connection_env(sb.url).items():
        conn = Connection.from_json(value, conn_id=name.removeprefix("AIRFLOW_CONN_").lower())
        assert conn.conn_type == CONN_TYPES[name]
        assert conn.host.startswith("http://127.0.0.1:") and conn.host.endswith("/")
        assert conn.password


def test_flags_take_effect_and_startup_faults_survive_reset(flagged):
    client = flagged.client
    assert client.config()["credits"] == 5
    assert client.config()["latency_ms"] == {"*": 0.0, "emailmanager": 50.0}
    assert client.clock()["timezone"] == "America/Manaus"
    headers = {"public-key": "sandbox-envie-public-key", "private-key": "sandbox-envie-private-key"}
    for _ in range(2):
        client.reset()
        assert [f["path"] for f in client.faults()] == ["lists/show"]
        statuses = [
            requests.get(client.envie_url + "lists/show", headers=headers).status_code for _ in range(2)
        ]
        assert statuses == [503, 200]
    message = requests.post(
        client.criaenvio_url + "mensagens",
        params={"chave": CRIAENVIO_KEY},
        json={"assunto": "a", "html": "x" * 1025},
    )
    assert message.json()["error"]["message"] == "Tamanho de mensagem excedido."
    started = time.perf_counter()
    requests.get(
        client.emailmanager_url + "deliverystats",
        headers={"X-Emailmanager-Server-Token": EMAILMANAGER_TOKEN, "Accept": "application/json"},
    )
    assert time.perf_counter() - started >= 0.05


def test_seed_changes_ids(flagged, sb):
    other = [s["id"] for s in flagged.client.state("criaenvio")["senders"]]
    ours = [s["id"] for s in sb.state("criaenvio")["senders"]]
    assert other != ours


def test_help_and_bad_flags():
    run = [sys.executable, "-m", "emailbr_sandbox"]
    env = {"PYTHONPATH": PACKAGE_ROOT}
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, env=env, check=True)
    for flag in (
        "--port",
        "--clock-speed",
        "--campaign-seconds",
        "--report-lag-seconds",
        "--state-file",
        "--webhook-url",
        "--credits",
        "--fault",
        "--rate-limit",
        "--error-rate",
        "--latency-ms",
    ):
        assert flag in helped.stdout
    bad = subprocess.run([*run, "--error-rate", "gmail=0.5"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown vendor" in bad.stderr


def test_state_file_persists_across_restarts(tmp_path):
    state_file = tmp_path / "sandbox-state.json"
    with SandboxServer(state_file=state_file, campaign_seconds=1) as first:
        client = first.client
        group = requests.post(
            client.iagente_url + "group/create",
            data={"name": "Persistente"},
            headers={"IAGENTE-KEY": IAGENTE_KEY},
        ).json()["group_id"]
        contact = requests.post(
            client.criaenvio_url + "contatos",
            params={"chave": CRIAENVIO_KEY},
            json={"email": "fica@exemplo.com.br"},
        ).json()["data"]["id"]
        client.advance(30)
        before = client.state()
        deadline = time.monotonic() + 5  # the file is also saved every second while running
        while "fica@exemplo.com.br" not in (state_file.read_text() if state_file.exists() else ""):
            assert time.monotonic() < deadline, "state file not written while running"
            time.sleep(0.1)
        process = first.process
    assert process is not None and process.returncode == 0  # graceful exit on stdin EOF, state saved

    with SandboxServer(state_file=state_file) as second:
        after = second.client.state()
        assert after["vendors"] == before["vendors"]
        assert after["clock"]["offset_seconds"] == 30
        assert group in [g["group_id"] for g in after["vendors"]["iagente"]["groups"]]
        view = requests.get(
            second.client.criaenvio_url + f"contatos/{contact}", params={"chave": CRIAENVIO_KEY}
        )
        assert view.json()["data"]["email"] == "fica@exemplo.com.br"
        second.client.reset()
        assert second.client.save() == str(state_file)
    assert "fica@exemplo.com.br" not in state_file.read_text()


def test_unreadable_state_file_fails_start(tmp_path):
    state_file = tmp_path / "broken.json"
    state_file.write_text("{not json")
    with pytest.raises(RuntimeError, match="cannot load state file"):
        SandboxServer(state_file=state_file, startup_timeout=30).start()
