"""The documentation site stays in sync with the code.

- Every hook, operator, sensor, trigger, notifier and e-mail backend registered in ``get_provider_info()``,
  and every public class of the modules that define them, is rendered by a ``::: …`` (mkdocstrings)
  directive of a reference page, and has a docstring to render.
- Every page under ``docs/`` is in the ``nav`` of ``mkdocs.yml``.
- The changelog page includes ``CHANGELOG.md`` instead of copying it.
- The reliability page's table of state-changing calls matches the hooks' endpoint tables.

The build itself (``mkdocs build --strict``) checks links, anchors and cross-references; these tests catch
what a build does not: something new in the code that no page mentions.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from airflow_provider_emailbr.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
DIRECTIVE_RE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
#: Directories of docs/ that hold no pages (``exclude_docs`` in mkdocs.yml).
NOT_PAGES = ("_griffe", "screenshots")


def _mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def _directives() -> dict[str, str]:
    """``{rendered path: reference page}`` for every ``::: path`` line of the reference pages."""
    found: dict[str, str] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in DIRECTIVE_RE.finditer(text):
            following = text[match.end() :].lstrip("\n")
            # An options block under a directive could restrict its members; these pages use none.
            assert not following.startswith(" "), (
                f"{page.name}: options under ::: {match[1]} are not expected"
            )
            found[match[1]] = page.name
    return found


def _registered() -> dict[str, set[str]]:
    """Module paths and object paths registered in the provider info, by kind."""
    info = get_provider_info()
    modules = lambda key: {m for entry in info[key] for m in entry["python-modules"]}  # noqa: E731
    return {
        "hook classes": {c["hook-class-name"] for c in info["connection-types"]},
        "hook modules": modules("hooks"),
        "operator modules": modules("operators"),
        "sensor modules": modules("sensors"),
        "trigger modules": modules("triggers"),
        "notifier classes": set(info["notifications"]),
        "e-mail backends": set(info["email-backends"]),
    }


def _defining_modules() -> set[str]:
    registered = _registered()
    objects = registered["hook classes"] | registered["notifier classes"] | registered["e-mail backends"]
    found = {path.rpartition(".")[0] for path in objects}
    for kind in ("hook modules", "operator modules", "sensor modules", "trigger modules"):
        found |= registered[kind]
    return found | {"airflow_provider_emailbr.exceptions"}


def _public_classes(module_path: str) -> Iterator[str]:
    """The public classes a module defines or, for a module that defines none (the e-mail backend), its
    public functions."""
    module = importlib.import_module(module_path)
    defined = {
        name: obj
        for name, obj in vars(module).items()
        if (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module_path
        and not name.startswith("_")
    }
    classes = [name for name, obj in defined.items() if inspect.isclass(obj)]
    for name in classes or list(defined):
        yield f"{module_path}.{name}"


def _rendered(path: str, directives: dict[str, str]) -> bool:
    """Whether ``path`` is rendered: named by a directive, or a public member of a rendered module."""
    module, _, _ = path.rpartition(".")
    return path in directives or module in directives


def test_every_registered_object_is_in_the_reference():
    directives = _directives()
    registered = _registered()
    missing = []
    for kind, paths in registered.items():
        for path in sorted(paths):
            if kind.endswith("modules"):
                if path not in directives:
                    missing.append(f"{kind}: {path}")
            elif not _rendered(path, directives):
                missing.append(f"{kind}: {path}")
    assert not missing, "not in docs/reference/*.md:\n" + "\n".join(missing)


@pytest.mark.parametrize("module_path", sorted(_defining_modules()))
def test_every_public_class_is_rendered_with_a_docstring(module_path):
    directives = _directives()
    classes = list(_public_classes(module_path))
    assert classes, f"{module_path} defines no public class"
    for path in classes:
        assert _rendered(path, directives), f"{path} is not rendered by any reference page"
        obj = getattr(importlib.import_module(module_path), path.rpartition(".")[2])
        assert (obj.__doc__ or "").strip(), f"{path} has no docstring to render"


def test_reference_has_one_page_per_concern():
    pages = {p.name for p in REFERENCE.glob("*.md")}
    assert pages == {
        "hooks.md",
        "operators.md",
        "sensors.md",
        "triggers.md",
        "notifications.md",
        "email-backend.md",
        "exceptions.md",
    }
    by_page = {}
    for path, page in _directives().items():
        by_page.setdefault(page, set()).add(path)
    assert by_page["operators.md"] == _registered()["operator modules"]
    assert by_page["sensors.md"] == _registered()["sensor modules"]
    assert by_page["triggers.md"] == _registered()["trigger modules"]
    assert _registered()["hook modules"] <= by_page["hooks.md"]
    assert {p.rpartition(".")[0] for p in _registered()["notifier classes"]} <= by_page["notifications.md"]
    assert {p.rpartition(".")[0] for p in _registered()["e-mail backends"]} <= by_page["email-backend.md"]


def _nav_pages(nav: object) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_pages(value)


def test_every_page_is_in_the_nav():
    nav = set(_nav_pages(_mkdocs_config()["nav"]))
    pages = {
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*.md")
        if p.relative_to(DOCS).parts[0] not in NOT_PAGES
    }
    assert not pages - nav, f"pages missing from the nav of mkdocs.yml: {sorted(pages - nav)}"
    excluded = _mkdocs_config()["exclude_docs"].split()
    assert sorted(excluded) == sorted(f"/{d}/" for d in NOT_PAGES)


def test_strict_build_and_sphinx_roles_extension_are_configured():
    config = _mkdocs_config()
    assert config["strict"] is True
    assert config["validation"]["nav"]["omitted_files"] == "warn"
    python = config["plugins"][2]["mkdocstrings"]["handlers"]["python"]["options"]
    extension = python["extensions"][0].partition(":")[0]
    assert (ROOT / extension).is_file()
    assert python["filters"] == ["!^_"]  # undocumented members are hidden: classes must have docstrings


def test_changelog_page_includes_the_changelog():
    assert (DOCS / "changelog.md").read_text(encoding="utf-8").strip() == '--8<-- "CHANGELOG.md"'
    assert (ROOT / "CHANGELOG.md").is_file()


RELIABILITY_HOOKS = {
    "IAGENTEmail": "airflow_provider_emailbr.hooks.iagente",
    "envie.email": "airflow_provider_emailbr.hooks.envie",
    "CriaEnvio": "airflow_provider_emailbr.hooks.criaenvio",
    "MailGrid": "airflow_provider_emailbr.hooks.mailgrid",
    "emailManager": "airflow_provider_emailbr.hooks.emailmanager",
}


def _paths(cell: str) -> set[str]:
    """Endpoint paths named in a table cell: ``POST envios`` or ``contact/create`` (method optional)."""
    return {item.split()[-1] for item in re.findall(r"`([^`]+)`", cell)}


def test_reliability_table_matches_the_endpoint_tables():
    text = (DOCS / "reliability-security.md").read_text(encoding="utf-8")
    section = text.split("### Which calls are state-changing", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    seen = set()
    for row in rows:
        platform_cell, unsafe_cell, overridden_cell = (c.strip() for c in row.strip("|").split("|"))
        platform = next(name for name in RELIABILITY_HOOKS if platform_cell.startswith(name))
        seen.add(platform)
        endpoints = importlib.import_module(RELIABILITY_HOOKS[platform]).ENDPOINTS.values()
        unsafe = {e.path for e in endpoints if not e.safe_to_repeat}
        overridden = {
            e.path for e in endpoints if e.safe_to_repeat and e.method.upper() not in {"GET", "PUT", "DELETE"}
        }
        assert _paths(unsafe_cell) == unsafe, f"{platform}: state-changing calls differ from the hook"
        assert _paths(overridden_cell) == overridden, f"{platform}: calls made safe to repeat differ"
    assert seen == set(RELIABILITY_HOOKS)
