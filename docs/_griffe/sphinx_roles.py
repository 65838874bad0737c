"""A griffe extension that turns the Sphinx roles of our docstrings into mkdocstrings cross-references.

The package's docstrings use Sphinx roles (``:class:`~pkg.mod.Name```, ``:meth:`call```), which Markdown
would show literally. This extension rewrites each one, when the docs are built, into an *optional* autorefs
link: a link when the target is rendered in the reference pages, plain code otherwise (never a warning).
Short names are resolved like Sphinx does: the object's own members, its class's members, then its module's
names (including imported ones). ``~`` shows only the last component, as in Sphinx.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE_RE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj|const):`(?P<target>[^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, seen=set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = ROLE_RE.sub(lambda m: self._link(obj, m["target"]), obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)

    def _link(self, obj: griffe.Object, target: str) -> str:
        shown_short = target.startswith("~")
        target = target.lstrip("~").removesuffix("()")
        display = target.rsplit(".", 1)[-1] if shown_short else target.lstrip(".")
        if target.startswith("."):  # relative to the current package (``:mod:`.base```)
            package = obj.module.path if obj.module.is_init_module else obj.module.path.rsplit(".", 1)[0]
            path = package + target
        else:
            path = self._resolve(obj, target) or target
        code = f"<code>{html.escape(display)}</code>"
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    @staticmethod
    def _resolve(obj: griffe.Object, target: str) -> str | None:
        """The full path of ``target`` as seen from ``obj``, or ``None`` when it is not found."""
        head, _, rest = target.partition(".")
        scopes: list[griffe.Object] = []
        node: griffe.Object | None = obj
        while node is not None:
            if node.is_class or node.is_module:
                scopes.append(node)
            node = node.parent
        for scope in scopes:
            member = scope.members.get(head)
            if member is None:
                continue
            base = member.target_path if member.is_alias else member.path
            return f"{base}.{rest}" if rest else base
        return None
