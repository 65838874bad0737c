"""Command line of the sandbox: ``python -m emailbr_sandbox`` / ``emailbr-sandbox``.

Once the server accepts connections it prints, and flushes, one ready line::

    emailbr-sandbox ready on http://127.0.0.1:8765

followed by five ``export AIRFLOW_CONN_…='{json}'`` lines (copy them into a shell, or ``eval`` them) that
point the default connections of the five vendors at the sandbox. See ``docs/sandbox.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .constants import DEFAULT_PORT, DEFAULT_TIMEZONE, READY_PREFIX, VENDORS, export_lines
from .context import ALL_VENDORS, Settings, load_timezone

if TYPE_CHECKING:
    from .app import SandboxOptions


def _per_vendor(kind: type) -> Callable[[str], tuple[str, Any]]:
    """Argument type for ``VALUE`` or ``VENDOR=VALUE``."""

    def parse(text: str) -> tuple[str, Any]:
        vendor, sep, value = text.rpartition("=")
        vendor = vendor if sep else ALL_VENDORS
        if vendor not in (ALL_VENDORS, *VENDORS):
            raise argparse.ArgumentTypeError(f"unknown vendor {vendor!r} (use one of {', '.join(VENDORS)})")
        try:
            return vendor, kind(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"invalid value {value!r}") from exc

    return parse


def _fault(text: str) -> dict[str, Any]:
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--fault expects a JSON object: {exc}") from exc
    if not isinstance(spec, dict):
        raise argparse.ArgumentTypeError("--fault expects a JSON object")
    return spec


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (every flag is documented in ``docs/sandbox.md``)."""
    parser = argparse.ArgumentParser(
        prog="emailbr-sandbox",
        description="Local emulator of the IAGENTEmail, envie.email, CriaEnvio, MailGrid and emailManager "
        "APIs.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    add(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port; 0 picks a free one (default {DEFAULT_PORT})",
    )
    add("--seed", type=int, default=0, help="seed of ids, campaign statistics and random faults (default 0)")
    add(
        "--latency-ms",
        type=_per_vendor(float),
        action="append",
        default=[],
        metavar="[VENDOR=]MS",
        help="latency added to every request, globally or for one vendor (repeatable)",
    )
    add(
        "--error-rate",
        type=_per_vendor(float),
        action="append",
        default=[],
        metavar="[VENDOR=]P",
        help="probability (0-1) of answering HTTP 503, globally or per vendor (repeatable)",
    )
    add(
        "--rate-limit",
        type=_per_vendor(float),
        action="append",
        default=[],
        metavar="[VENDOR=]N",
        help="requests per second per vendor before HTTP 429 + Retry-After (0 = off; repeatable)",
    )
    add(
        "--campaign-seconds",
        type=float,
        default=30.0,
        help="real seconds a CriaEnvio campaign takes from start to Concluído (default 30)",
    )
    add(
        "--report-lag-seconds",
        type=float,
        default=0.0,
        help="delay before a MailGrid send shows in report/consolidate (default 0; the real service ~600)",
    )
    add(
        "--clock-speed",
        type=float,
        default=1.0,
        help="divide waits until scheduled times by this factor (e.g. 3600: 1 hour ahead starts in 1 s)",
    )
    add(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"local time zone of the vendors (default {DEFAULT_TIMEZONE})",
    )
    add("--credits", type=int, default=100_000, help="CriaEnvio credit balance (default 100000)")
    add(
        "--webhook-url",
        default=None,
        help="envie.email webhook receiver (all six events; put its token in the URL's query)",
    )
    add("--mailgrid-webhook-url", default=None, help="MailGrid failure webhook receiver")
    add(
        "--mailgrid-webhook-token",
        default=None,
        help="token MailGrid sends in the X-Webhook-Token header of its failure webhooks",
    )
    add("--webhook-retry-seconds", type=float, default=1.0, help="pause between webhook attempts (default 1)")
    add(
        "--state-file", default=None, help="JSON file to load at start and save to (every second and at exit)"
    )
    add("--max-message-kb", type=int, default=512, help="CriaEnvio html size limit in KiB (default 512)")
    add("--mailgrid-max-mb", type=float, default=50.0, help="MailGrid message size limit in MB (default 50)")
    add(
        "--envie-mime-types",
        default=None,
        metavar="TYPE,TYPE",
        help="override envie.email's attachment MIME whitelist (comma-separated)",
    )
    add(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="JSON",
        help='start-up fault rule, e.g. \'{"kind":"status","status":503,"vendor":"criaenvio","count":2}\'',
    )
    add("--journal-size", type=int, default=2000, help="requests kept in the journal (default 2000)")
    add(
        "--journal-body-bytes",
        type=int,
        default=16384,
        help="body bytes kept per journal entry (default 16384)",
    )
    add(
        "--exit-on-stdin-eof",
        action="store_true",
        help="shut down when stdin closes (used by SandboxServer so the sandbox never outlives its parent)",
    )
    add(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default warning)",
    )
    return parser


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    """Build :class:`~.app.SandboxOptions` from parsed arguments (``ValueError`` on bad values)."""
    from .app import SandboxOptions
    from .faults import parse_fault

    settings = Settings()
    changes: dict[str, Any] = {
        "campaign_seconds": args.campaign_seconds,
        "report_lag_seconds": args.report_lag_seconds,
        "clock_speed": args.clock_speed,
        "credits": args.credits,
        "webhook_url": args.webhook_url,
        "mailgrid_webhook_url": args.mailgrid_webhook_url,
        "mailgrid_webhook_token": args.mailgrid_webhook_token,
        "webhook_retry_seconds": args.webhook_retry_seconds,
        "criaenvio_max_message_bytes": args.max_message_kb * 1024,
        "mailgrid_max_message_bytes": int(args.mailgrid_max_mb * 1024 * 1024),
        "latency_ms": dict(args.latency_ms),
        "error_rate": dict(args.error_rate),
        "rate_limit": dict(args.rate_limit),
    }
    if args.envie_mime_types:
        changes["envie_mime_types"] = [t.strip() for t in args.envie_mime_types.split(",") if t.strip()]
    settings.update(changes)
    for index, spec in enumerate(args.fault, start=1):
        parse_fault(spec, index)
    load_timezone(args.timezone)
    return SandboxOptions(
        seed=args.seed,
        timezone=args.timezone,
        settings=settings,
        faults=list(args.fault),
        state_file=args.state_file,
        journal_size=args.journal_size,
        journal_body_bytes=args.journal_body_bytes,
    )


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (port 0 = a free port) before uvicorn starts serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def public_url(host: str, port: int) -> str:
    """URL clients should use: wildcard addresses are replaced by the loopback address."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until interrupted; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except (ValueError, KeyError) as exc:
        parser.error(str(exc))

    import uvicorn

    from .app import SandboxApp

    app = SandboxApp(options)
    try:
        app.load_state_file()
    except (OSError, ValueError, KeyError) as exc:
        print(f"emailbr-sandbox: cannot load state file {options.state_file}: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"emailbr-sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    url = public_url(args.host, sock.getsockname()[1])
    app.base_url = url
    config = uvicorn.Config(
        app,
        http=_fastest("httptools", "h11"),
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        backlog=2048,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(READY_PREFIX + url, flush=True)
            print("\n".join(export_lines(url, options.timezone)), flush=True)
        await task

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    if args.exit_on_stdin_eof:
        _exit_on_stdin_eof(loop, server)
    try:
        loop.run_until_complete(serve())
    except KeyboardInterrupt:
        return 130
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        sock.close()
    return 0 if server.started else 1


def _exit_on_stdin_eof(loop: asyncio.AbstractEventLoop, server: Any) -> None:
    """Ask uvicorn to shut down gracefully once stdin reaches end-of-file (the parent closed or died)."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # a closed loop means the server is gone anyway
            loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    threading.Thread(target=watch, name="emailbr-sandbox-stdin", daemon=True).start()


def _fastest(preferred: str, fallback: str) -> str:
    try:
        __import__(preferred)
    except ImportError:
        return fallback
    return preferred


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    sys.exit(main())
