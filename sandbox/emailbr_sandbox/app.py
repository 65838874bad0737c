"""The sandbox ASGI application: vendor dispatch, fault injection, rate limiting, journal and persistence.

:class:`SandboxApp` is the outermost, pure-ASGI layer run by uvicorn. For each request it reads the whole
body, hands admin paths (``/_sandbox/…``) to :class:`~.admin.AdminApi` (no journal, no faults), and for
vendor paths applies, in order: the per-vendor rate limit (429 + ``Retry-After``), the fault rules and the
configured latency / error rate, then the vendor emulation, then the journal. A ``drop`` fault aborts the TCP
transport after the emulation ran, so the client sees a connection error although the state changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .admin import AdminApi
from .constants import ADMIN_PREFIX, DEFAULT_TIMEZONE, VENDOR_PREFIXES
from .context import SandboxContext, Settings
from .faults import Fault, FaultSet
from .journal import Journal
from .vendors import VENDOR_CLASSES, Vendor
from .webhooks import WebhookDispatcher
from .wire import Request, Response, json_response

log = logging.getLogger("emailbr_sandbox")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STATE_FORMAT = "emailbr-sandbox-state"
STATE_VERSION = 1


class Decision(NamedTuple):
    """What to do with one vendor request before (or instead of) running the emulation."""

    delay: float
    response: Response | None
    fault: str | None
    drop: bool
    process: bool


@dataclass
class SandboxOptions:
    """Start-up configuration of one sandbox (the CLI flags, minus host and port)."""

    seed: int = 0
    timezone: str = DEFAULT_TIMEZONE
    settings: Settings = field(default_factory=Settings)
    faults: list[dict[str, Any]] = field(default_factory=list)
    state_file: str | None = None
    state_save_interval: float = 1.0
    journal_size: int = 2000
    journal_body_bytes: int = 16384


class SandboxApp:
    """One server, five vendors under their path prefixes, plus the admin API."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self.ctx = SandboxContext(
            seed=self.options.seed, timezone=self.options.timezone, settings=self.options.settings
        )
        self.webhooks = WebhookDispatcher(self.ctx)
        self.vendors: dict[str, Vendor] = {
            name: cls(self.ctx, self.webhooks) for name, cls in VENDOR_CLASSES.items()
        }
        self._prefixes = [(VENDOR_PREFIXES[name], name, vendor) for name, vendor in self.vendors.items()]
        self.journal = Journal(self.options.journal_size, self.options.journal_body_bytes)
        self.faults = FaultSet()
        self._install_startup_faults()
        self._windows: dict[str | None, list[int]] = {}
        self.admin = AdminApi(self)
        self.base_url: str | None = None
        self.dirty = False
        self._saver: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _install_startup_faults(self) -> None:
        for spec in self.options.faults:
            self.faults.add(spec)

    def reset(self) -> None:
        """Back to the seeded initial state: vendors, settings, clock; journal, webhooks and faults cleared
        (faults given with ``--fault`` at start-up are installed again)."""
        self.ctx.reset()
        for vendor in self.vendors.values():
            vendor.reset()
        self.webhooks.reset()
        self.journal.clear()
        self.faults.clear()
        self._install_startup_faults()
        self._windows.clear()
        self.dirty = True

    def dump_state(self) -> dict[str, Any]:
        """Return the persistent state (vendors' data and the clock offset)."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "seed": self.ctx.seed,
            "saved_at": time.time(),
            "clock_offset": self.ctx.clock.offset,
            "vendors": {name: vendor.dump() for name, vendor in self.vendors.items()},
        }

    def load_state_file(self) -> bool:
        """Load ``--state-file`` if it exists; return whether something was loaded (raise on a bad file)."""
        path = self.options.state_file
        if not path or not Path(path).exists():
            return False
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != STATE_FORMAT or data.get("version") != STATE_VERSION:
            raise ValueError(f"{path} is not an emailbr-sandbox state file (format/version mismatch)")
        for name, vendor in self.vendors.items():
            if name in data["vendors"]:
                vendor.load(data["vendors"][name])
        self.ctx.clock.offset = float(data.get("clock_offset", 0.0))
        return True

    def save_state_file(self) -> str | None:
        """Write the state file now (atomically); return its path, or ``None`` without ``--state-file``."""
        path = self.options.state_file
        if not path:
            return None
        _write_atomic(path, json.dumps(self.dump_state(), ensure_ascii=False))
        self.dirty = False
        return path

    async def _save_periodically(self) -> None:
        path = self.options.state_file
        assert path is not None
        while True:
            await asyncio.sleep(self.options.state_save_interval)
            if self.dirty:
                self.dirty = False
                text = json.dumps(self.dump_state(), ensure_ascii=False)
                await asyncio.to_thread(_write_atomic, path, text)

    async def startup(self) -> None:
        """Lifespan start: begin periodic saving when a state file is configured."""
        if self.options.state_file:
            self._saver = asyncio.get_running_loop().create_task(self._save_periodically())

    async def shutdown(self) -> None:
        """Lifespan end: stop background work and save the state file."""
        if self._saver is not None:
            self._saver.cancel()
        self.ctx.cancel_tasks()
        self.save_state_file()

    # -- ASGI ---------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(ADMIN_PREFIX) and (
            len(path) == len(ADMIN_PREFIX) or path[len(ADMIN_PREFIX)] == "/"
        ):
            await _respond(
                send, self.admin.handle(method, path[len(ADMIN_PREFIX) :], scope["query_string"], body)
            )
            return
        started = time.perf_counter()
        name: str | None = None
        vendor: Vendor | None = None
        sub = ""
        for prefix, candidate_name, candidate in self._prefixes:
            if path.startswith(prefix) or path == prefix[:-1]:
                name, vendor = candidate_name, candidate
                sub = path[len(prefix) :].strip("/")
                break
        decision = self._decide(name, vendor, method, path)
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        response = decision.response
        handled: int | None = None
        if decision.process:
            if vendor is None:
                response = json_response(
                    {"detail": "Not Found", "prefixes": list(VENDOR_PREFIXES.values())}, 404
                )
            else:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                request = Request(
                    method, path, sub, scope["query_string"], headers, body, headers.get("host", "")
                )
                response = self._process(vendor, request)
            handled = response.status
            self.dirty = True
        dropped = decision.drop and await _abort(send)
        if not dropped and response is None:  # a drop was asked but the server offers no transport
            response = json_response({"detail": "the connection could not be dropped"}, 500)
        status = None if dropped or response is None else response.status
        self.journal.record(
            name,
            method,
            path,
            scope["query_string"],
            scope["headers"],
            body,
            status,
            decision.fault,
            time.perf_counter() - started,
            handled,
        )
        if response is not None and not dropped:
            await _respond(send, response)

    def _decide(self, name: str | None, vendor: Vendor | None, method: str, path: str) -> Decision:
        """Apply the rate limit, fault rules, latency and error rate to a request."""
        settings = self.ctx.settings
        limit = settings.for_vendor("rate_limit", name)
        if limit and self._over_limit(name, limit):
            return Decision(0.0, self._fault_reply(vendor, 429, 1), "rate_limit", False, False)
        latency = settings.for_vendor("latency_ms", name)
        terminal: Fault | None = None
        if self.faults:
            extra, terminal = self.faults.select(name, method, path, self.ctx.rng)
            latency += extra
        delay = latency / 1000.0
        if terminal is not None:
            if terminal.kind == "status":
                reply = self._fault_reply(vendor, terminal.status, terminal.retry_after)
                return Decision(delay, reply, "status", False, False)
            return Decision(delay, None, terminal.kind, True, terminal.kind == "drop")
        rate = settings.for_vendor("error_rate", name)
        if rate and self.ctx.rng.random() < rate:
            return Decision(delay, self._fault_reply(vendor, 503, None), "error_rate", False, False)
        return Decision(delay, None, "latency" if latency else None, False, True)

    def _over_limit(self, name: str | None, limit: float) -> bool:
        second = int(time.monotonic())
        window = self._windows.get(name)
        if window is None or window[0] != second:
            self._windows[name] = [second, 1]
            return False
        window[1] += 1
        return window[1] > limit

    @staticmethod
    def _fault_reply(vendor: Vendor | None, status: int, retry_after: float | None) -> Response:
        if vendor is None:
            response = json_response({"detail": "injected fault"}, status)
        else:
            response = vendor.fault_response(status)
        if retry_after is not None:
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            response.headers.append((b"retry-after", str(value).encode("latin-1")))
        return response

    @staticmethod
    def _process(vendor: Vendor, request: Request) -> Response:
        try:
            return vendor.handle(request)
        except Exception:
            log.exception(
                "sandbox %s emulation failed on %s %s", vendor.name, request.method, request.full_path
            )
            return vendor.fault_response(500)


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def _respond(send: Send, response: Response) -> None:
    headers = [*response.headers, (b"content-length", str(len(response.body)).encode("latin-1"))]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _abort(send: Send) -> bool:
    """Abort the TCP connection behind ``send`` without answering; return ``False`` if unreachable.

    uvicorn's ``send`` is a bound method of its request/response cycle, which holds the asyncio transport.
    ``abort()`` closes the socket at once (unsent data discarded); waiting a few loop turns lets uvicorn see
    the disconnection, so it does not try to write a 500 response on the dead connection.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        log.error("cannot drop the connection: the ASGI server does not expose its transport")
        return False
    transport.abort()
    for _ in range(20):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
    return True


def _write_atomic(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
