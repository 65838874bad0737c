"""Fixtures of every unit test, and the rule that keeps ``tests/unit`` free of the sandbox: a unit test that
asks for the ``sandbox`` fixture fails collection.

Tests that run against the live emulator live under ``tests/sandbox_backed/`` at the same sub-path and module
name (``tests/unit/operators/test_mailgrid.py`` → ``tests/sandbox_backed/operators/test_mailgrid.py``); unit
tests use the loopback ``server`` fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

UNIT_TESTS = Path(__file__).parent
SANDBOX_FIXTURES = frozenset({"sandbox", "sandbox_session"})


@pytest.fixture
def counter() -> Iterator[int]:
    """Distinct numbers for the files of one test's hypothesis examples (each example writes its own file)."""
    return itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse the run when a test under ``tests/unit`` requests a sandbox fixture, directly or through others."""
    offenders = [
        item.nodeid
        for item in items
        if item.path.is_relative_to(UNIT_TESTS) and SANDBOX_FIXTURES & set(getattr(item, "fixturenames", ()))
    ]
    if offenders:
        listing = "\n  ".join(offenders)
        raise pytest.UsageError(
            "tests under tests/unit must not use the sandbox (they start a live emulator, so they are not unit "
            "tests); move each to tests/sandbox_backed/ at the same sub-path and module name, or use the "
            f"loopback `server` fixture instead:\n  {listing}"
        )
