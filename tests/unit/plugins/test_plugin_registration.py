"""The receiver plugin is registered where Airflow 3.3 loads it by default, and costs other processes nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_plugin_is_an_airflow_plugins_entry_point_mounting_the_route():
    # (tomllib is Python 3.11+; the section is read with a pattern)
    section = re.search(
        r'^\[project\.entry-points\."airflow\.plugins"\]\n((?:[^\[\n].*\n)+)',
        (ROOT / "pyproject.toml").read_text(),
        re.MULTILINE,
    )
    assert section is not None
    target = re.search(r'^emailbr_webhooks = "([^"]+)"$', section.group(1), re.MULTILINE).group(1)
    module_name, _, class_name = target.partition(":")
    plugin = getattr(import_module(module_name), class_name)
    from airflow.plugins_manager import is_valid_plugin

    assert is_valid_plugin(plugin)
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == "/emailbr"
    assert plugin.name == "emailbr_webhooks"


def test_loading_the_plugin_does_not_import_fastapi():
    code = (
        "import sys; import airflow_provider_emailbr.plugins.webhooks as m; "
        "print('fastapi' in sys.modules, type(m.EmailBRWebhooksPlugin.fastapi_apps[0]['app']).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "LazyWebhookApp"]


def test_in_the_api_server_the_app_is_a_fastapi_app_so_its_lifespan_runs():
    code = (
        "import fastapi; import airflow_provider_emailbr.plugins.webhooks as m; "
        "print(isinstance(m.EmailBRWebhooksPlugin.fastapi_apps[0]['app'], fastapi.FastAPI))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"


def test_importing_the_module_builds_no_plugin_class_until_airflow_asks_for_it():
    code = (
        "import sys; import airflow.sdk; import airflow_provider_emailbr.plugins.webhooks as m; "
        "print('airflow.plugins_manager' in sys.modules, 'EmailBRWebhooksPlugin' in vars(m)); "
        "m.EmailBRWebhooksPlugin; print('airflow.plugins_manager' in sys.modules, 'EmailBRWebhooksPlugin' in vars(m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False", "True", "True"]
