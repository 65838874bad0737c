"""Shared runtime context of the sandbox: clock, deterministic ids, settings and background tasks.

Every vendor emulation receives one :class:`SandboxContext`. Nothing in it is thread-safe on purpose: the
whole sandbox runs on one asyncio event loop and state is only mutated there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import string
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo
from typing import Any

from .constants import DEFAULT_TIMEZONE, VENDORS

log = logging.getLogger("emailbr_sandbox")

ALNUM = string.digits + string.ascii_letters
LOWER_ALNUM = string.digits + string.ascii_lowercase
ALL_VENDORS = "*"


def load_timezone(name: str) -> tzinfo:
    """Return the tzinfo called ``name`` (IANA name) from :mod:`zoneinfo`.

    Without a system time-zone database, :mod:`zoneinfo` reads the ``tzdata`` package (a dependency of the
    sandbox). An unknown name raises :class:`zoneinfo.ZoneInfoNotFoundError` (a ``KeyError``).
    """
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class Clock:
    """The sandbox's notion of "now", its time zone and the schedule acceleration.

    ``now()`` is the wall clock plus an offset that the admin API can move forward (``advance``), so tests
    can jump ahead without sleeping. ``speed`` divides waits until *scheduled* times (``--clock-speed``):
    a CriaEnvio campaign scheduled 10 hours ahead with speed 3600 starts 10 seconds after its creation.
    """

    def __init__(self, timezone: str = DEFAULT_TIMEZONE, speed: float = 1.0) -> None:
        self.timezone_name = timezone
        self.tz = load_timezone(timezone)
        self.speed = speed
        self.offset = 0.0

    def now(self) -> float:
        """Return the current sandbox time as POSIX seconds."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset += seconds

    def local(self, ts: float) -> datetime:
        """Return ``ts`` as an aware datetime in the sandbox time zone."""
        return datetime.fromtimestamp(ts, self.tz)

    def from_local(self, naive: datetime) -> float:
        """Return the POSIX time of a naive wall-clock datetime in the sandbox time zone."""
        return naive.replace(tzinfo=self.tz).timestamp()

    def fmt(self, ts: float | None, pattern: str) -> str | None:
        """Format ``ts`` in local time with ``strftime`` ``pattern`` (``None`` stays ``None``)."""
        if ts is None:
            return None
        return self.local(ts).strftime(pattern)

    def effective_time(self, target: float, now: float | None = None) -> float:
        """Return when a schedule for ``target`` fires: the wait from now is divided by ``speed``."""
        current = self.now() if now is None else now
        wait = max(0.0, target - current)
        return current + wait / self.speed if self.speed > 0 else target

    def describe(self) -> dict[str, Any]:
        """Return a JSON view of the clock for the admin API."""
        now = self.now()
        return {
            "now": self.local(now).isoformat(),
            "epoch": now,
            "offset_seconds": self.offset,
            "clock_speed": self.speed,
            "timezone": self.timezone_name,
        }


class Ids:
    """Deterministic identifiers derived from the seed, a kind and a counter.

    Ids never depend on the order of requests to *other* vendors, only on the seed and on how many objects
    of the same kind were created before, so a replayed scenario yields the same ids.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._alphabets: dict[str, str] = {}

    def _alphabet(self, kind: str) -> str:
        alphabet = self._alphabets.get(kind)
        if alphabet is None:
            chars = list(ALNUM)
            random.Random(f"{self.seed}:{kind}").shuffle(chars)
            alphabet = self._alphabets[kind] = "".join(chars)
        return alphabet

    def short(self, kind: str, n: int) -> str:
        """Return a short, unique (per kind) alphanumeric id for the ``n``-th object, like ``"Lz"``."""
        alphabet = self._alphabet(kind)
        value = n + len(alphabet)  # at least two characters
        out = []
        while value:
            value, rem = divmod(value, len(alphabet))
            out.append(alphabet[rem])
        return "".join(reversed(out))

    def token(self, kind: str, n: int, length: int, alphabet: str = ALNUM) -> str:
        """Return a pseudo-random token of ``length`` characters for the ``n``-th object of ``kind``."""
        digest = hashlib.blake2b(f"{self.seed}:{kind}:{n}".encode(), digest_size=32).digest()
        while len(digest) < length:
            digest += hashlib.blake2b(digest, digest_size=32).digest()
        return "".join(alphabet[b % len(alphabet)] for b in digest[:length])

    def hex(self, kind: str, n: int, length: int = 32) -> str:
        """Return a hexadecimal token (e.g. an md5-looking key) for the ``n``-th object of ``kind``."""
        return hashlib.blake2b(f"{self.seed}:{kind}:{n}".encode(), digest_size=32).hexdigest()[:length]

    def rng(self, kind: str, n: int | str) -> random.Random:
        """Return a private RNG for one object (e.g. a campaign's statistics)."""
        return random.Random(f"{self.seed}:{kind}:{n}")


def _per_vendor(value: float = 0.0) -> dict[str, float]:
    return {ALL_VENDORS: value}


DEFAULT_ENVIE_MIME_TYPES: tuple[str, ...] = (
    "application/pdf",
    "application/zip",
    "text/plain",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/excel",
    "image/jpeg",
    "image/png",
)


@dataclass
class Settings:
    """Run-time settings, changeable through ``POST /_sandbox/config``.

    ``latency_ms``, ``error_rate`` and ``rate_limit`` map a vendor key (or ``"*"`` for all) to a value.
    ``reset`` restores the settings the server was started with.
    """

    latency_ms: dict[str, float] = field(default_factory=_per_vendor)
    error_rate: dict[str, float] = field(default_factory=_per_vendor)
    rate_limit: dict[str, float] = field(default_factory=_per_vendor)
    campaign_seconds: float = 30.0
    report_lag_seconds: float = 0.0
    clock_speed: float = 1.0
    webhook_url: str | None = None
    mailgrid_webhook_url: str | None = None
    mailgrid_webhook_token: str | None = None
    webhook_retry_seconds: float = 1.0
    webhook_timeout_seconds: float = 5.0
    credits: int = 100_000
    criaenvio_max_message_bytes: int = 512 * 1024
    mailgrid_max_message_bytes: int = 50 * 1024 * 1024
    envie_mime_types: list[str] = field(default_factory=lambda: list(DEFAULT_ENVIE_MIME_TYPES))

    PER_VENDOR = ("latency_ms", "error_rate", "rate_limit")

    def for_vendor(self, name: str, vendor: str | None) -> float:
        """Return the per-vendor setting ``name`` for ``vendor`` (falling back to ``"*"``)."""
        values: dict[str, float] = getattr(self, name)
        if vendor is not None and vendor in values:
            return values[vendor]
        return values.get(ALL_VENDORS, 0.0)

    def to_json(self) -> dict[str, Any]:
        """Return the settings as JSON-compatible data."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def copy(self) -> Settings:
        """Return a deep-enough copy (the dicts and lists are copied)."""
        data = {
            k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
            for k, v in self.to_json().items()
        }
        return Settings(**data)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (admin API or CLI), validating names and types; raise ``ValueError``."""
        known = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(known))}")
            if key in self.PER_VENDOR:
                self._update_per_vendor(key, value)
            elif key in ("webhook_url", "mailgrid_webhook_url"):
                if value is not None and not (
                    isinstance(value, str) and value.startswith(("http://", "https://"))
                ):
                    raise ValueError(f"{key} must be an http(s) URL or null")
                setattr(self, key, value or None)
            elif key == "mailgrid_webhook_token":
                if value is not None and not (isinstance(value, str) and value.isprintable()):
                    raise ValueError("mailgrid_webhook_token must be a printable string or null")
                self.mailgrid_webhook_token = value or None
            elif key == "envie_mime_types":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError("envie_mime_types must be a list of strings")
                self.envie_mime_types = list(value)
            elif key in ("credits", "criaenvio_max_message_bytes", "mailgrid_max_message_bytes"):
                setattr(self, key, _non_negative(key, value, int))
            else:
                number = _non_negative(key, value, float)
                if key == "clock_speed" and number <= 0:
                    raise ValueError("clock_speed must be > 0")
                setattr(self, key, number)

    def _update_per_vendor(self, key: str, value: Any) -> None:
        current: dict[str, float] = getattr(self, key)
        items: Iterable[tuple[str, Any]]
        items = value.items() if isinstance(value, dict) else [(ALL_VENDORS, value)]
        for vendor, number in items:
            if vendor != ALL_VENDORS and vendor not in VENDORS:
                raise ValueError(f"unknown vendor {vendor!r} in {key}")
            checked = _non_negative(key, number, float)
            if key == "error_rate" and checked > 1:
                raise ValueError("error_rate is a probability between 0 and 1")
            current[vendor] = checked


def _non_negative(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number")
    if value < 0:
        raise ValueError(f"{key} must be >= 0")
    return kind(value)


class SandboxContext:
    """What every vendor emulation shares: clock, ids, settings, the seeded RNG and background tasks."""

    def __init__(self, *, seed: int, timezone: str, settings: Settings) -> None:
        self.seed = seed
        self.initial_settings = settings.copy()
        self.settings = settings
        self.clock = Clock(timezone, settings.clock_speed)
        self.ids = Ids(seed)
        self.rng = random.Random(seed)
        self._tasks: set[asyncio.Task[Any]] = set()

    def apply_settings(self, changes: dict[str, Any]) -> None:
        """Update settings and keep derived values (the clock speed) in sync."""
        self.settings.update(changes)
        self.clock.speed = self.settings.clock_speed

    def reset(self) -> None:
        """Restore start-up settings, clock offset and RNG, and cancel background tasks."""
        self.settings = self.initial_settings.copy()
        self.clock.speed = self.settings.clock_speed
        self.clock.offset = 0.0
        self.rng = random.Random(self.seed)
        self.cancel_tasks()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background on the running loop, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox background task failed", exc_info=task.exception())

    def cancel_tasks(self) -> None:
        """Cancel every background task still running (reset and shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
