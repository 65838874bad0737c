"""A small client of the sandbox's admin API, plus the URLs and credentials tests need.

Stdlib-only (``urllib``), so the pytest plugin and users' test suites can use it without extra packages.
Proxies from the environment are ignored: the sandbox is always reached directly.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from .constants import CREDENTIALS, connection_definitions, connection_env, vendor_urls


class SandboxError(RuntimeError):
    """The admin API answered with an error (or could not be reached)."""


class SandboxClient:
    """Admin client of one running sandbox at ``url`` (e.g. ``http://127.0.0.1:8765``).

    ``urls``/``iagente_url``… are the vendors' base URLs, ``credentials`` their fixed credentials and
    ``conn_env`` the ``AIRFLOW_CONN_*`` variables pointing the five default connections at this sandbox.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.urls: dict[str, str] = vendor_urls(self.url)
        self.credentials: dict[str, dict[str, str]] = {k: dict(v) for k, v in CREDENTIALS.items()}
        self._timezone: str | None = None
        self._opener: Any = None

    def __repr__(self) -> str:
        return f"SandboxClient({self.url!r})"

    # -- addresses ----------------------------------------------------------------------------------------
    @property
    def iagente_url(self) -> str:
        """Base URL of the IAGENTEmail emulation (``…/iagente/v1/``)."""
        return self.urls["iagente"]

    @property
    def envie_url(self) -> str:
        """Base URL of the envie.email emulation (``…/envie/``)."""
        return self.urls["envie"]

    @property
    def criaenvio_url(self) -> str:
        """Base URL of the CriaEnvio emulation (``…/criaenvio/v1/``)."""
        return self.urls["criaenvio"]

    @property
    def mailgrid_url(self) -> str:
        """Base URL of the MailGrid emulation (``…/mailgrid/api/``)."""
        return self.urls["mailgrid"]

    @property
    def emailmanager_url(self) -> str:
        """Base URL of the emailManager emulation (``…/emailmanager/``)."""
        return self.urls["emailmanager"]

    @property
    def timezone(self) -> str:
        """The sandbox's local time zone (asked once from the server)."""
        if self._timezone is None:
            self._timezone = str(self.clock()["timezone"])
        return self._timezone

    @property
    def connections(self) -> dict[str, dict[str, Any]]:
        """The five default connections (JSON form), keyed by vendor."""
        return connection_definitions(self.url, self.timezone)

    @property
    def conn_env(self) -> dict[str, str]:
        """``{"AIRFLOW_CONN_IAGENTE_DEFAULT": "{json}", …}`` for the five default connections."""
        return connection_env(self.url, self.timezone)

    # -- transport ----------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        import urllib.error
        import urllib.request

        if self._opener is None:
            self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = f"{self.url}/_sandbox/{path}" + (f"?{urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise SandboxError(f"{method} {url} failed with HTTP {exc.code}: {detail}") from None
        except OSError as exc:
            raise SandboxError(f"{method} {url} failed: {exc}") from exc

    # -- admin API ----------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``GET /_sandbox/health``."""
        return self._call("GET", "health")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``health`` until the sandbox answers (raise :class:`SandboxError` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except SandboxError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def reset(self) -> None:
        """Back to the seeded initial state; clears the journal, faults and webhook history."""
        self._call("POST", "reset")

    def state(self, vendor: str | None = None) -> dict[str, Any]:
        """Everything the sandbox holds, or one vendor's data when ``vendor`` is given."""
        data = self._call("GET", "state", query={"vendor": vendor})
        return data["vendors"][vendor] if vendor else data

    def requests(
        self,
        vendor: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        since: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The journal of vendor requests (oldest first, secrets redacted), optionally filtered."""
        query = {
            "vendor": vendor,
            "method": method,
            "path": path,
            "status": status,
            "since": since,
            "limit": limit,
        }
        return self._call("GET", "requests", query=query)["requests"]

    def clear_requests(self) -> None:
        """Empty the journal."""
        self._call("DELETE", "requests")

    def set_fault(
        self,
        kind: str = "status",
        *,
        vendor: str | None = None,
        path: str | None = None,
        method: str | None = None,
        status: int | None = None,
        count: int | None = None,
        rate: float | None = None,
        retry_after: float | None = None,
        latency_ms: float | None = None,
    ) -> dict[str, Any]:
        """Add one fault rule (see ``docs/sandbox.md``) and return it with its ``id``.

        Example: ``set_fault("status", vendor="criaenvio", status=503, count=2)`` answers the next two
        CriaEnvio requests with HTTP 503; ``set_fault("drop", path="/envios", method="POST", count=1)``
        creates the next campaign but never answers.
        """
        spec = {
            "kind": kind,
            "vendor": vendor,
            "path": path,
            "method": method,
            "status": status,
            "count": count,
            "rate": rate,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
        }
        return self.add_faults([{k: v for k, v in spec.items() if v is not None}])[0]

    def add_faults(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add several fault rules at once (all validated first)."""
        return self._call("POST", "faults", body=specs)["faults"]

    def faults(self) -> list[dict[str, Any]]:
        """The active fault rules."""
        return self._call("GET", "faults")["faults"]

    def remove_fault(self, fault_id: int) -> None:
        """Delete one fault rule."""
        self._call("DELETE", f"faults/{fault_id}")

    def clear_faults(self) -> None:
        """Delete every fault rule."""
        self._call("DELETE", "faults")

    def config(self, **changes: Any) -> dict[str, Any]:
        """Read the run-time settings, or change some (e.g. ``config(campaign_seconds=2)``)."""
        if not changes:
            return self._call("GET", "config")
        return self._call("POST", "config", body=changes)

    def clock(self) -> dict[str, Any]:
        """The sandbox clock: ``now``, ``epoch``, ``offset_seconds``, ``clock_speed``, ``timezone``."""
        return self._call("GET", "clock")

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock forward (campaigns progress, report lags elapse)."""
        return self._call("POST", "clock", body={"advance_seconds": seconds})

    def webhooks(self) -> list[dict[str, Any]]:
        """envie.email and MailGrid webhook deliveries with their attempts."""
        return self._call("GET", "webhooks")["deliveries"]

    def envie_event(self, message_id: int | str, event: str, url: str | None = None) -> dict[str, Any]:
        """Make the recipient of a sent envie.email message open it (``MessageLoaded``) or click ``url``
        (``MessageLinkClicked``); return the webhook body the sandbox posts."""
        return self._call(
            "POST", "envie/events", body={"message_id": message_id, "event": event, "url": url}
        )["body"]

    def save(self) -> str:
        """Write the state file now; return its path."""
        return self._call("POST", "save")["state_file"]
