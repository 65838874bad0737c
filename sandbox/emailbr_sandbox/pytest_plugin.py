"""pytest plugin of the sandbox: the ``sandbox`` fixture for provider tests and users' own DAG tests.

Installed packages register it automatically (entry point ``pytest11`` → ``emailbr_sandbox``); do **not**
also list it in ``pytest_plugins`` then (pytest refuses a module registered under two names). Without the
entry point (e.g. ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``), load it with
``-p emailbr_sandbox.pytest_plugin`` or ``pytest_plugins = [...]`` in a root conftest.

Importing this module starts nothing and imports nothing heavy; the sandbox subprocess is started the first
time a test asks for the fixture, and stopped at the end of the session.

Options:

``--emailbr-sandbox-url URL`` (or env ``EMAILBR_SANDBOX_URL``)
    use an already running sandbox instead of starting one;
``emailbr_sandbox_args`` (ini)
    extra CLI flags for the session's sandbox, e.g. ``--clock-speed 3600 --report-lag-seconds 5``; they
    come after the fixture's own default ``--campaign-seconds 2``, so they can override it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .client import SandboxClient

URL_ENV = "EMAILBR_SANDBOX_URL"
#: Flags the session sandbox starts with before the ini ones (later flags win): campaigns finish in 2 s.
FIXTURE_DEFAULT_ARGS = ("--campaign-seconds", "2")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--emailbr-sandbox-url`` and the ``emailbr_sandbox_args`` ini option."""
    group = parser.getgroup("emailbr-sandbox", "airflow-provider-emailbr sandbox")
    group.addoption(
        "--emailbr-sandbox-url",
        default=None,
        help=f"use the sandbox running at this URL instead of starting one (env {URL_ENV})",
    )
    parser.addini(
        "emailbr_sandbox_args",
        type="args",
        default=[],
        help="extra command-line flags for the session sandbox, e.g. --clock-speed 3600",
    )


@pytest.fixture(scope="session")
def sandbox_session(request: pytest.FixtureRequest) -> Iterator[SandboxClient]:
    """One sandbox for the whole session: started on a free port in a subprocess, stopped at the end."""
    from .client import SandboxClient
    from .server import SandboxServer

    url = request.config.getoption("--emailbr-sandbox-url") or os.environ.get(URL_ENV)
    if url:
        client = SandboxClient(url)
        client.wait_ready(timeout=10)
        yield client
        return
    server = SandboxServer(extra_args=[*FIXTURE_DEFAULT_ARGS, *request.config.getini("emailbr_sandbox_args")])
    server.start()
    try:
        yield server.client
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_session: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> SandboxClient:
    """The session sandbox, reset to its seeded initial state, with ``AIRFLOW_CONN_*`` set for this test.

    Yields a :class:`~emailbr_sandbox.client.SandboxClient`: ``url``, ``urls`` /
    ``iagente_url``…, ``credentials``, ``conn_env``, ``reset()``, ``state()``, ``requests(vendor=None)``,
    ``set_fault(...)``, ``clear_faults()``, ``config(...)``, ``advance(seconds)``, ``webhooks()``.
    """
    sandbox_session.reset()
    for name, value in sandbox_session.conn_env.items():
        monkeypatch.setenv(name, value)
    return sandbox_session
