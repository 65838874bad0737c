"""Alias of the sandbox, which ships as its own distribution: ``airflow-provider-emailbr-sandbox``.

The emulator of the five vendor APIs lives in the package :mod:`emailbr_sandbox`, so that the provider's
runtime wheel carries no test tooling (no web server, no ``pytest11`` plugin in every Airflow deployment).
Where that package is installed, this module keeps the import paths of earlier releases working:

* ``from airflow_provider_emailbr.sandbox import SandboxServer`` and every other public name of
  :mod:`emailbr_sandbox`;
* ``airflow_provider_emailbr.sandbox.<module>`` (``constants``, ``client``, ``server``, ``pytest_plugin``,
  ``dagrun``, ``vendors.criaenvio``, …) is the very module object ``emailbr_sandbox.<module>``, served by a
  meta-path alias: no second copy, so monkeypatching either name patches both;
* ``python -m airflow_provider_emailbr.sandbox`` runs the sandbox's command line, as
  ``python -m emailbr_sandbox`` does.

Where the sandbox is not installed, importing this module raises :class:`ModuleNotFoundError` saying how to
install it. New code should import :mod:`emailbr_sandbox` directly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

SANDBOX_PACKAGE = "emailbr_sandbox"
SANDBOX_DISTRIBUTION = "airflow-provider-emailbr-sandbox"
INSTALL_HINT = (
    f"the emailbr sandbox is not installed. It ships separately: `pip install {SANDBOX_DISTRIBUTION}` "
    '(or the provider\'s test extra: `pip install "airflow-provider-emailbr[test]"`). '
    f"`{__name__}` is an alias of its package, `{SANDBOX_PACKAGE}`."
)


def _import_sandbox() -> ModuleType:
    """Import :mod:`emailbr_sandbox`, or raise :class:`ModuleNotFoundError` with the install hint."""
    try:
        return importlib.import_module(SANDBOX_PACKAGE)
    except ModuleNotFoundError as exc:
        if exc.name != SANDBOX_PACKAGE:  # the sandbox is there but something it imports is not
            raise
        raise ModuleNotFoundError(INSTALL_HINT, name=SANDBOX_PACKAGE) from None


class SubmoduleAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve ``<alias>.<name>`` as the module ``emailbr_sandbox.<name>`` itself (same object in both names).

    ``<alias>.__main__`` is left to the normal finders: it is this package's own ``__main__.py``.
    """

    def __init__(self, alias: str, target: str) -> None:
        self.alias_prefix = alias + "."
        self.target = target

    def _target_name(self, fullname: str) -> str:
        return self.target + fullname[len(self.alias_prefix) - 1 :]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Return an alias spec for ``<alias>.<name>`` when ``emailbr_sandbox.<name>`` exists."""
        if not fullname.startswith(self.alias_prefix) or fullname == self.alias_prefix + "__main__":
            return None
        if importlib.util.find_spec(self._target_name(fullname)) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """Import the real module and hand it to the import system instead of a new one."""
        module = importlib.import_module(self._target_name(spec.name))
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the real module ran already); give it back the spec the import system replaced."""
        module.__spec__ = module.__spec__.loader_state


_sandbox = _import_sandbox()
__all__ = list(_sandbox.__all__)

if not any(getattr(finder, "alias_prefix", None) == __name__ + "." for finder in sys.meta_path):
    sys.meta_path.insert(0, SubmoduleAlias(__name__, SANDBOX_PACKAGE))


def __getattr__(name: str) -> Any:
    """Every public name of :mod:`emailbr_sandbox` (``SandboxServer``, ``SandboxClient``, ``VENDORS``…)."""
    try:
        return getattr(_sandbox, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
