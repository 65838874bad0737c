"""The connection pages of the docs stay true: their examples parse, and their field tables match the forms.

Every ``export AIRFLOW_CONN_<ID>='…'`` line of ``docs/connections/<platform>.md`` is read back the way
Airflow reads it (an environment variable resolved by ``BaseHook.get_connection``), then validated by the
platform's hook. Within a page, the JSON and URI forms of one conn id must give exactly the same connection.
The page must also show every label, placeholder and extra field that ``get_provider_info()`` declares.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_emailbr.get_provider_info import get_provider_info

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connections"
EXPORT_RE = re.compile(r"^export (AIRFLOW_CONN_[A-Z0-9_]+)='([^']*)'$", re.MULTILINE)
PAGES = {
    "iagente_email": "iagente.md",
    "envie_email": "envie.md",
    "criaenvio": "criaenvio.md",
    "mailgrid": "mailgrid.md",
    "emailmanager": "emailmanager.md",
}
CONNECTION_TYPES = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}


def _hook_class(conn_type: str) -> type:
    module, _, name = CONNECTION_TYPES[conn_type]["hook-class-name"].rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


def _examples(conn_type: str) -> list[tuple[str, str]]:
    return EXPORT_RE.findall((DOCS / PAGES[conn_type]).read_text(encoding="utf-8"))


def _fields(conn) -> dict:
    return {
        "conn_type": conn.conn_type,
        "host": conn.host or None,
        "schema": conn.schema or None,
        "login": conn.login or None,
        "password": conn.password or None,
        "port": conn.port,
        "extra": {k: str(v) for k, v in (conn.extra_dejson or {}).items()},
    }


def test_every_connection_type_has_a_page():
    assert set(PAGES) == set(CONNECTION_TYPES)
    assert {p.name for p in DOCS.glob("*.md")} == {*PAGES.values(), "index.md"}


@pytest.mark.parametrize("conn_type", sorted(PAGES))
def test_examples_parse_into_the_same_connection_in_json_and_uri(conn_type, monkeypatch):
    examples = _examples(conn_type)
    by_var: dict[str, list[str]] = {}
    for var, value in examples:
        by_var.setdefault(var, []).append(value)
    default_var = f"AIRFLOW_CONN_{_hook_class(conn_type).default_conn_name.upper()}"
    assert default_var in by_var, f"{PAGES[conn_type]} has no example for the default conn id"
    for var, values in by_var.items():
        kinds = ["json" if v.lstrip().startswith("{") else "uri" for v in values]
        assert sorted(kinds) == ["json", "uri"], f"{var}: want one JSON and one URI example, got {kinds}"
        parsed = []
        for value in values:
            monkeypatch.setenv(var, value)
            conn = BaseHook.get_connection(var.removeprefix("AIRFLOW_CONN_").lower())
            parsed.append(_fields(conn))
        json_fields, uri_fields = parsed if kinds[0] == "json" else parsed[::-1]
        assert json_fields["conn_type"] == conn_type, var
        assert uri_fields == json_fields, f"{var}: the URI example does not match its JSON twin"


@pytest.mark.parametrize("conn_type", sorted(PAGES))
def test_examples_are_accepted_by_the_hook(conn_type):
    hook_class = _hook_class(conn_type)
    for var, value in _examples(conn_type):
        if not value.lstrip().startswith("{"):
            continue
        data = json.loads(value)
        conn_id = var.removeprefix("AIRFLOW_CONN_").lower()
        conn = Connection(
            conn_id=conn_id,
            conn_type=data["conn_type"],
            host=data.get("host"),
            login=data.get("login"),
            password=data.get("password"),
            extra=json.dumps(data.get("extra", {})),
        )
        settings = hook_class.settings_from_connection(conn)
        expected_url = data.get("host") or hook_class.default_base_url
        assert settings.base_url == expected_url, var
        unknown = set(data.get("extra", {})) - set(CONNECTION_TYPES[conn_type].get("conn-fields", {}))
        assert not unknown, f"{var}: extras {unknown} are not fields of the {conn_type} form"


def test_an_underscore_scheme_is_misparsed_as_the_pages_warn():
    wrong = Connection.from_uri("iagente_email://:key@", conn_id="x")
    right = Connection.from_uri("iagente-email://:key@", conn_id="x")
    assert (wrong.conn_type, wrong.password) != ("iagente_email", "key")
    assert (right.conn_type, right.password) == ("iagente_email", "key")


@pytest.mark.parametrize("conn_type", sorted(PAGES))
def test_page_shows_every_declared_field(conn_type):
    text = (DOCS / PAGES[conn_type]).read_text(encoding="utf-8")
    declared = CONNECTION_TYPES[conn_type]
    behaviour = declared["ui-field-behaviour"]
    for field, label in behaviour["relabeling"].items():
        assert f"| {label} | `{field}` |" in text, f"{conn_type}: row for {field} ({label!r}) missing"
    for field, placeholder in behaviour["placeholders"].items():
        assert f"`{placeholder}`" in text, f"{conn_type}: placeholder of {field} missing"
    hidden = ", ".join(f"`{f}`" for f in behaviour["hidden-fields"])
    for field in behaviour["hidden-fields"]:
        assert f"`{field}`" in text.split("Hidden standard fields:", 1)[1].split("\n\n", 1)[0], (
            f"{conn_type}: hidden field {field} not listed (want {hidden})"
        )
    for key, spec in declared["conn-fields"].items():
        assert f"| `{key}` | {spec['label']} |" in text, (
            f"{conn_type}: extra {key} ({spec['label']!r}) missing"
        )
    for image in (f"{conn_type}.png", f"{conn_type}-extras.png"):
        assert f"](../images/connections/{image})" in text, f"{conn_type}: screenshot {image} not shown"
        assert (DOCS.parent / "images" / "connections" / image).is_file(), f"{image} not committed"
