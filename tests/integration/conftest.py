"""Fixtures of the integration tests beyond ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RecordingServer


@pytest.fixture
def other_host() -> Iterator[RecordingServer]:
    """A second recording server: the "other host" a vendor's redirect points to, which must receive nothing."""
    srv = RecordingServer()
    yield srv
    srv.close()
