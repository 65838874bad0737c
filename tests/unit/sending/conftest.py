"""Fixtures of the sending-layer tests: the three vendors' connections against the recording server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import RecordingServer
from tests.unit.sending.connections import connection_definer


@pytest.fixture
def vendor_connection(server: RecordingServer, set_connection: Callable[..., None]) -> Callable[..., str]:
    """Define a vendor's default connection against ``server``: ``vendor_connection("envie")`` -> its id."""
    return connection_definer(server, set_connection)
