"""Test doubles of the event triggers: the asset state store a triggerer hands a watcher, and a run-loop driver."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.triggers.base import TriggerEvent

from tests.helpers import FakeTaskStateStore


class FakeAssetStateStore(FakeTaskStateStore):
    """A watcher's ``asset_state_store`` (Airflow 3.3) in memory: ``aget``/``aset`` with JSON round trips."""

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.set(key, value)


def collect_events(trigger: Any, *, count: int | None = None, within: float = 30.0) -> list[TriggerEvent]:
    """Run ``trigger.run()`` until it fired ``count`` events (or, with ``count`` ``None``, for ``within``
    seconds), then cancel it as the triggerer would; return what it fired.

    With a ``count``, not reaching it within ``within`` seconds fails the test.
    """
    fired: list[TriggerEvent] = []

    async def consume() -> None:
        async for event in trigger.run():
            fired.append(event)
            if count is not None and len(fired) >= count:
                return

    async def main() -> None:
        task = asyncio.ensure_future(consume())
        try:
            await asyncio.wait_for(asyncio.shield(task), within)
        except asyncio.TimeoutError:
            if count is not None:
                raise AssertionError(f"{len(fired)} of {count} event(s) fired within {within} s") from None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    return fired
