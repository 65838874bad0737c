"""``airflow_provider_emailbr.sandbox``: the thin alias of the separately distributed sandbox (``emailbr_sandbox``).

Nothing is built here: the alias is checked as installed in this environment, and "not installed" is simulated
by hiding ``emailbr_sandbox`` from the import system.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_emailbr
import emailbr_sandbox

ALIAS = "airflow_provider_emailbr.sandbox"
INSTALL_COMMAND = "pip install airflow-provider-emailbr-sandbox"


def test_public_names_are_the_sandbox_objects():
    import airflow_provider_emailbr.sandbox as alias
    from airflow_provider_emailbr.sandbox import (
        CREDENTIALS,
        VENDOR_PREFIXES,
        VENDORS,
        SandboxClient,
        SandboxError,
        SandboxServer,
        connection_definitions,
        connection_env,
    )

    assert alias.__all__ == emailbr_sandbox.__all__
    assert (
        SandboxServer is emailbr_sandbox.SandboxServer
        and SandboxServer.__module__ == "emailbr_sandbox.server"
    )
    assert SandboxClient is emailbr_sandbox.SandboxClient and SandboxError is emailbr_sandbox.SandboxError
    assert (CREDENTIALS, VENDORS, VENDOR_PREFIXES) == (
        emailbr_sandbox.CREDENTIALS,
        emailbr_sandbox.VENDORS,
        emailbr_sandbox.VENDOR_PREFIXES,
    )
    assert connection_env is emailbr_sandbox.connection_env
    assert connection_definitions is emailbr_sandbox.connection_definitions
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        alias.NoSuchThing


@pytest.mark.parametrize(
    "submodule", ["constants", "client", "server", "pytest_plugin", "dagrun", "wire", "vendors.criaenvio"]
)
def test_submodule_paths_are_the_same_module_objects(submodule):
    old = importlib.import_module(f"{ALIAS}.{submodule}")
    new = importlib.import_module(f"emailbr_sandbox.{submodule}")
    assert old is new
    assert (
        new.__name__ == new.__spec__.name == f"emailbr_sandbox.{submodule}"
    )  # its own spec, not the alias's


def test_old_from_imports_of_submodules_keep_working():
    from airflow_provider_emailbr.sandbox.constants import READY_RE, SENDER_EMAIL
    from airflow_provider_emailbr.sandbox.dagrun import run_dag
    from airflow_provider_emailbr.sandbox.vendors.criaenvio import CriaEnvioVendor

    assert SENDER_EMAIL == emailbr_sandbox.constants.SENDER_EMAIL
    assert READY_RE.match("emailbr-sandbox ready on http://127.0.0.1:1").group("url") == "http://127.0.0.1:1"
    assert run_dag is emailbr_sandbox.dagrun.run_dag
    assert CriaEnvioVendor.__module__ == "emailbr_sandbox.vendors.criaenvio"


def test_unknown_submodule_is_an_ordinary_import_error():
    with pytest.raises(ModuleNotFoundError, match=rf"No module named '{ALIAS}\.nothing_here'"):
        importlib.import_module(f"{ALIAS}.nothing_here")


def test_python_dash_m_of_the_old_path_runs_the_sandbox_cli():
    result = subprocess.run(
        [sys.executable, "-m", ALIAS, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("usage: emailbr-sandbox")
    assert "--campaign-seconds" in result.stdout


def hide_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import emailbr_sandbox`` fail as if the distribution were not installed, and forget the alias."""
    monkeypatch.setitem(sys.modules, "emailbr_sandbox", None)
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        monkeypatch.delitem(sys.modules, name)


def test_without_the_sandbox_importing_the_alias_says_how_to_install_it(monkeypatch):
    hide_sandbox(monkeypatch)
    with pytest.raises(ModuleNotFoundError) as raised:
        importlib.import_module(ALIAS)
    assert raised.value.name == "emailbr_sandbox"
    message = str(raised.value)
    assert INSTALL_COMMAND in message and 'pip install "airflow-provider-emailbr[test]"' in message
    with pytest.raises(ModuleNotFoundError, match=INSTALL_COMMAND):
        importlib.import_module(f"{ALIAS}.constants")


def test_a_missing_dependency_of_an_installed_sandbox_is_not_reported_as_a_missing_sandbox(monkeypatch):
    hide_sandbox(monkeypatch)
    monkeypatch.delitem(sys.modules, "emailbr_sandbox")
    monkeypatch.setitem(sys.modules, "emailbr_sandbox.constants", None)  # broken install, not a missing one
    with pytest.raises(ModuleNotFoundError) as raised:
        importlib.import_module(ALIAS)
    assert raised.value.name == "emailbr_sandbox.constants"
    assert INSTALL_COMMAND not in str(raised.value)


def test_without_the_sandbox_python_dash_m_prints_how_to_install_it():
    code = (
        "import runpy, sys; sys.modules['emailbr_sandbox'] = None; "
        f"runpy.run_module({ALIAS!r}, run_name='__main__', alter_sys=True)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert INSTALL_COMMAND in result.stderr


def test_the_provider_package_keeps_only_the_alias():
    alias_dir = Path(airflow_provider_emailbr.__file__).parent / "sandbox"
    assert sorted(p.name for p in alias_dir.iterdir() if p.name != "__pycache__") == [
        "__init__.py",
        "__main__.py",
    ]


def test_sandbox_and_provider_versions_are_in_step():
    version = airflow_provider_emailbr.__version__
    assert emailbr_sandbox.__version__ == version
    assert importlib.metadata.version("airflow-provider-emailbr-sandbox") == version
    requirements = importlib.metadata.requires("airflow-provider-emailbr") or []
    pins = [r for r in requirements if r.startswith("airflow-provider-emailbr-sandbox")]
    assert len(pins) == 1 and re.match(
        rf'airflow-provider-emailbr-sandbox\[fast\]==({re.escape(version)});\s*extra == "test"', pins[0]
    ), pins


def test_the_provider_registers_no_pytest_plugin_and_no_script():
    # the provider itself and the webhook receiver's Airflow plugin; nothing for pytest, no console script
    groups = {ep.group for ep in importlib.metadata.distribution("airflow-provider-emailbr").entry_points}
    assert groups == {"apache_airflow_provider", "airflow.plugins"}
    sandbox_eps = importlib.metadata.distribution("airflow-provider-emailbr-sandbox").entry_points
    assert {(ep.group, ep.name, ep.value) for ep in sandbox_eps} == {
        ("pytest11", "emailbr_sandbox", "emailbr_sandbox.pytest_plugin"),
        ("console_scripts", "emailbr-sandbox", "emailbr_sandbox.__main__:main"),
    }
