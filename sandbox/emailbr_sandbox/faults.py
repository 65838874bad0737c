"""Fault injection rules, set at start-up (``--fault``) or at run time (``/_sandbox/faults``).

A fault matches a request by vendor, HTTP method and a substring of the full path, then fires with
probability ``rate`` (drawn from the seeded RNG) until ``count`` firings are used up. Kinds:

``latency``      add ``latency_ms`` before the request is processed (matching latency faults add up);
``status``       answer ``status`` (default 503; 429 carries ``Retry-After``) without processing;
``drop``         process the request (state changes), then abort the TCP connection without answering;
``drop_before``  abort the TCP connection without processing the request.

For a request, every matching ``latency`` fault applies, and at most one other fault (the oldest that
matches and fires).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .constants import VENDORS

FAULT_KINDS = ("latency", "status", "drop", "drop_before")
_FIELDS = {"kind", "vendor", "path", "method", "rate", "count", "status", "retry_after", "latency_ms"}


@dataclass
class Fault:
    """One fault rule. ``count=None`` means unlimited, ``rate=None`` means always."""

    id: int
    kind: str
    vendor: str | None = None
    path: str | None = None
    method: str | None = None
    rate: float | None = None
    count: int | None = None
    status: int = 503
    retry_after: float | None = None
    latency_ms: float = 1000.0
    hits: int = 0

    def matches(self, vendor: str | None, method: str, path: str) -> bool:
        """Return whether the rule selects this request (before rate and count)."""
        if self.vendor is not None and self.vendor != vendor:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path in path

    def to_json(self) -> dict[str, Any]:
        """Return the rule as the admin API shows it."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "vendor": self.vendor,
            "path": self.path,
            "method": self.method,
            "rate": self.rate,
            "count": self.count,
            "hits": self.hits,
        }
        if self.kind == "status":
            data["status"] = self.status
            data["retry_after"] = self.retry_after
        if self.kind == "latency":
            data["latency_ms"] = self.latency_ms
        return data


def parse_fault(spec: dict[str, Any], fault_id: int) -> Fault:
    """Validate a fault specification (admin API / ``--fault`` JSON); raise ``ValueError``."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    unknown = set(spec) - _FIELDS
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    kind = spec.get("kind", "status")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    vendor = spec.get("vendor")
    if vendor in ("*", ""):
        vendor = None
    if vendor is not None and vendor not in VENDORS:
        raise ValueError(f"vendor must be one of {', '.join(VENDORS)} (or null for all)")
    method = spec.get("method")
    if method is not None:
        if not isinstance(method, str) or not method:
            raise ValueError("method must be an HTTP method name")
        method = method.upper()
    path = spec.get("path")
    if path is not None and not isinstance(path, str):
        raise ValueError("path must be a string (matched as a substring of the request path)")
    rate = spec.get("rate")
    if rate is not None and (not _number(rate) or not 0 <= rate <= 1):
        raise ValueError("rate must be a number between 0 and 1")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError("count must be a positive integer (or null for unlimited)")
    status = spec.get("status", 503)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code")
    retry_after = spec.get("retry_after")
    if retry_after is None and status == 429 and kind == "status":
        retry_after = 1
    if retry_after is not None and (not _number(retry_after) or retry_after < 0):
        raise ValueError("retry_after must be a number of seconds")
    latency_ms = spec.get("latency_ms", 1000.0)
    if not _number(latency_ms) or latency_ms < 0:
        raise ValueError("latency_ms must be a non-negative number")
    return Fault(
        id=fault_id,
        kind=kind,
        vendor=vendor,
        path=path or None,
        method=method,
        rate=None if rate is None else float(rate),
        count=count,
        status=status,
        retry_after=retry_after,
        latency_ms=float(latency_ms),
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class FaultSet:
    """The active fault rules, in insertion order."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, spec: dict[str, Any]) -> Fault:
        """Validate and append a rule; return it."""
        fault = parse_fault(spec, self._next_id)
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        """Delete one rule; return whether it existed."""
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        """Delete every rule."""
        self._faults.clear()

    def to_json(self) -> list[dict[str, Any]]:
        """Return the active rules."""
        return [f.to_json() for f in self._faults]

    def select(
        self, vendor: str | None, method: str, path: str, rng: random.Random
    ) -> tuple[float, Fault | None]:
        """Return ``(latency_ms, terminal_fault)`` for a request, consuming counts of the faults that fire."""
        latency = 0.0
        chosen: Fault | None = None
        for fault in self._faults:
            if fault.kind != "latency" and chosen is not None:
                continue
            if not fault.matches(vendor, method, path):
                continue
            if fault.rate is not None and rng.random() >= fault.rate:
                continue
            fault.hits += 1
            if fault.count is not None:
                fault.count -= 1
            if fault.kind == "latency":
                latency += fault.latency_ms
            else:
                chosen = fault
        self._faults = [f for f in self._faults if f.count is None or f.count > 0]
        return latency, chosen
