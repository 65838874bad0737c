"""The shipped pytest plugin, used the way an outside project would, in a separate pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from emailbr_sandbox.server import PACKAGE_ROOT

USER_CONFTEST = """
pytest_plugins = ["emailbr_sandbox.pytest_plugin"]
"""

USER_TESTS = """
import json
import os

import requests


def test_connections_point_at_the_sandbox(sandbox):
    conn = json.loads(os.environ["AIRFLOW_CONN_CRIAENVIO_DEFAULT"])
    assert conn["conn_type"] == "criaenvio"
    assert conn["host"] == sandbox.criaenvio_url == sandbox.urls["criaenvio"]
    assert conn["password"] == sandbox.credentials["criaenvio"]["key"]
    assert set(sandbox.conn_env) == {
        "AIRFLOW_CONN_IAGENTE_DEFAULT", "AIRFLOW_CONN_ENVIE_DEFAULT", "AIRFLOW_CONN_CRIAENVIO_DEFAULT",
        "AIRFLOW_CONN_MAILGRID_DEFAULT", "AIRFLOW_CONN_EMAILMANAGER_DEFAULT",
    }


def test_a_dag_task_changes_state(sandbox):
    key = sandbox.credentials["iagente"]["key"]
    answer = requests.post(sandbox.iagente_url + "group/create", data={"name": "Da DAG"}, headers={"IAGENTE-KEY": key})
    assert answer.json()["status"] == "success"
    assert [g["name"] for g in sandbox.state("iagente")["groups"]] == ["Grupo Sandbox", "Da DAG"]
    assert sandbox.requests(vendor="iagente")[0]["headers"]["iagente-key"] == "***"
    sandbox.set_fault("status", vendor="iagente", status=503, count=1)


def test_each_test_starts_from_a_reset_sandbox(sandbox):
    assert [g["name"] for g in sandbox.state("iagente")["groups"]] == ["Grupo Sandbox"]
    assert sandbox.requests() == []
    assert sandbox.faults() == []
    sandbox.set_fault("status", vendor="envie", status=500)
    sandbox.clear_faults()
    assert sandbox.faults() == []


def test_ini_args_reach_the_server(sandbox):
    assert sandbox.config()["campaign_seconds"] == 3.0
"""

USER_INI = """
[pytest]
emailbr_sandbox_args = --campaign-seconds 3
"""


def test_plugin_in_a_users_project(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(USER_CONFTEST))
    (tmp_path / "test_user_dag.py").write_text(textwrap.dedent(USER_TESTS))
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(USER_INI))
    env = {
        **os.environ,
        # Deterministic whether or not the package (and its pytest11 entry point) is installed.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("EMAILBR_SANDBOX_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_importing_the_plugin_starts_nothing_heavy():
    code = (
        "import sys; import emailbr_sandbox.pytest_plugin; "
        "heavy = [m for m in ('uvicorn', 'starlette', 'fastapi', 'airflow', 'emailbr_sandbox.app', "
        "'emailbr_sandbox.server') if m in sys.modules]; print(heavy)"
    )
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"
