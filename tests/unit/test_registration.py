"""Registration with Airflow: the provider-info dict, the connection forms the UI receives, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_emailbr.get_provider_info import get_provider_info

CONN_TYPES = {
    "iagente_email": ("IAgenteEmailHook", "hooks.iagente", "iagente_default", "IAGENTEmail"),
    "envie_email": ("EnvieEmailHook", "hooks.envie", "envie_default", "envie.email"),
    "criaenvio": ("CriaEnvioHook", "hooks.criaenvio", "criaenvio_default", "CriaEnvio"),
    "mailgrid": ("MailGridHook", "hooks.mailgrid", "mailgrid_default", "MailGrid"),
    "emailmanager": ("EmailManagerHook", "hooks.emailmanager", "emailmanager_default", "emailManager"),
}


def _schema(name: str) -> dict:
    return json.loads((Path(airflow.__file__).parent / name).read_text())


def test_provider_info_is_valid_against_airflows_schemas():
    info = get_provider_info()
    jsonschema.validate(info, _schema("provider_info.schema.json"))
    yaml_schema = _schema("provider.yaml.schema.json")
    conn_types_schema = yaml_schema["properties"]["connection-types"]
    jsonschema.validate(info["connection-types"], conn_types_schema)
    # every conn-fields schema must itself be a valid JSON schema (the UI renders from it)
    for conn in info["connection-types"]:
        for key, spec in conn["conn-fields"].items():
            jsonschema.Draft7Validator.check_schema(spec["schema"])
            assert spec["label"], key


def test_package_name_matches_distribution_and_entry_point():
    info = get_provider_info()
    dist = metadata.distribution("airflow-provider-emailbr")
    assert info["package-name"] == dist.metadata["Name"]
    entry_points = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert [ep.value for ep in entry_points] == [
        "airflow_provider_emailbr.get_provider_info:get_provider_info"
    ]
    assert any(url.startswith("Documentation, ") for url in dist.metadata.get_all("Project-URL"))


def test_connection_types_match_hook_classes():
    import importlib

    info = get_provider_info()
    by_type = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(by_type) == set(CONN_TYPES)
    for conn_type, (class_name, module, default_conn, hook_name) in CONN_TYPES.items():
        entry = by_type[conn_type]
        assert entry["hook-class-name"] == f"airflow_provider_emailbr.{module}.{class_name}"
        hook_class = getattr(importlib.import_module(f"airflow_provider_emailbr.{module}"), class_name)
        assert hook_class.conn_type == conn_type
        assert hook_class.default_conn_name == default_conn
        assert hook_class.hook_name == entry["hook-name"] == hook_name
        assert callable(hook_class.test_connection)


def test_sensors_and_triggers_are_registered_by_vendor_module():
    import importlib

    info = get_provider_info()
    for kind, classes in (
        ("sensors", {"CriaEnvio": "CriaEnvioCampaignSensor", "MailGrid": "MailGridDeliverySensor"}),
        ("triggers", {"CriaEnvio": "CriaEnvioCampaignTrigger", "MailGrid": "MailGridDeliveryTrigger"}),
    ):
        modules = {entry["integration-name"]: entry["python-modules"] for entry in info[kind]}
        assert modules == {
            "CriaEnvio": [f"airflow_provider_emailbr.{kind}.criaenvio"],
            "MailGrid": [f"airflow_provider_emailbr.{kind}.mailgrid"],
        }
        for vendor, class_name in classes.items():
            cls = getattr(importlib.import_module(modules[vendor][0]), class_name)
            assert cls.__module__ == modules[vendor][0]


def test_hook_metadata_the_ui_receives():
    """What ``GET /ui/connections/hook_meta`` serves to the React connection form, for all five types."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    HookMetaService.hook_meta_data.cache_clear()
    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data() if m.connection_type in CONN_TYPES}
    assert set(meta) == set(CONN_TYPES)

    def std(conn_type):
        return meta[conn_type].standard_fields

    for conn_type, (_, _, _, hook_name) in CONN_TYPES.items():
        assert meta[conn_type].hook_name == hook_name
        assert std(conn_type).url_schema.hidden is True
        assert std(conn_type).port.hidden is True
        extras = meta[conn_type].extra_fields
        for key in ("timeout", "connect_timeout", "max_retries", "retry_backoff"):
            assert key in extras, (conn_type, key)
        assert extras["max_retries"]["schema"]["type"] == ["integer", "null"]

    iagente = std("iagente_email")
    assert iagente.password.title == "Integration key"
    assert iagente.login.hidden is True
    assert iagente.host.placeholder == "https://api.iagentemail.com/v1/"

    envie = std("envie_email")
    assert (envie.login.title, envie.password.title, envie.host.title) == (
        "Public key",
        "Private key",
        "API base URL",
    )
    assert envie.host.hidden is False
    assert set(meta["envie_email"].extra_fields) >= {"from_email", "from_name", "allowed_mime_types"}

    cria = std("criaenvio")
    assert cria.password.title == "API key"
    assert cria.host.placeholder == "https://api.criaenvio.com/v1/"
    assert meta["criaenvio"].extra_fields["timezone"]["value"] == "America/Sao_Paulo"

    mailgrid = std("mailgrid")
    assert (mailgrid.login.title, mailgrid.password.title) == ("SMTP user", "SMTP password")
    assert mailgrid.login.placeholder == "usuario_smtp"
    assert set(meta["mailgrid"].extra_fields) >= {"smtp_host", "from_email", "from_name", "timezone"}

    em = std("emailmanager")
    assert em.password.title == "Server token"
    assert em.login.hidden is True
    assert meta["emailmanager"].extra_fields["from_email"]["schema"]["format"] == "email"


def _airflow_cli(*args: str) -> str:
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.integration
def test_cli_lists_provider_and_its_five_hooks():
    providers = _airflow_cli("providers", "list", "--output", "json")
    names = [p["package_name"] for p in json.loads(providers)]
    assert "airflow-provider-emailbr" in names
    hooks = json.loads(_airflow_cli("providers", "hooks", "--output", "json"))
    ours = {h["connection_type"]: h for h in hooks if h["package_name"] == "airflow-provider-emailbr"}
    assert set(ours) == set(CONN_TYPES)
    for conn_type, (class_name, module, _, _) in CONN_TYPES.items():
        assert ours[conn_type]["class"] == f"airflow_provider_emailbr.{module}.{class_name}"
