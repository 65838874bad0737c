"""Fault-injection suite: seeded sandboxes, fast connections, the fault matrix and the summary table.

Every scenario runs against a sandbox whose fault RNG is seeded: the sandbox re-seeds its RNG from its start-up
``--seed`` on every reset, so each seed of the matrix gets its own sandbox process (started on first use,
shared by every test of that seed). The five default connections point at it with short timeouts and fast
retries (connection extras ``timeout``, ``max_retries``, ``retry_backoff``), so that a fault costs
milliseconds, not the production defaults' seconds.

Each test records what happened through the ``chaos`` fixture (outcome, tries, faults fired, requests);
``pytest_terminal_summary`` prints the table at the end of the run and, when ``EMAILBR_RELIABILITY_REPORT``
names a file, writes it there as Markdown.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from emailbr_sandbox.client import SandboxClient

#: Seeds of the sandbox's fault RNG.
SEEDS = (1, 2, 3)
#: Probability that a fault fires on a matching request.
RATES = (0.05, 0.2, 0.5)
#: Read timeout of the test connections (seconds).
CLIENT_TIMEOUT = 0.15
#: Latency of the ``timeout`` fault: above the client timeout, so the client gives up while the server still
#: processes the request once the delay is over.
LATENCY_MS = 400
#: Retries of the test connections (the production default is 5, with 1 s backoff).
MAX_RETRIES = 6
RETRY_BACKOFF = 0.01
#: Retry-After sent with the 429 storm (seconds).
RETRY_AFTER = 0.02

#: The fault kinds of the matrix, as sandbox fault rules (``rate`` and the matchers are added per test).
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"kind": "status", "status": 429, "retry_after": RETRY_AFTER},
    "503": {"kind": "status", "status": 503},
    "500": {"kind": "status", "status": 500},
    "timeout": {"kind": "latency", "latency_ms": LATENCY_MS},
    "drop": {"kind": "drop"},
}

REPORT_ENV = "EMAILBR_RELIABILITY_REPORT"


def matrix(*, faults: tuple[str, ...] = tuple(FAULTS), rates: tuple[float, ...] = RATES) -> Any:
    """Parametrise a test over fault kind × rate × seed."""
    cases = [(f, r, s) for f in faults for r in rates for s in SEEDS]
    return pytest.mark.parametrize(
        ("fault", "rate", "seed"), cases, ids=[f"{f}-{r}-seed{s}" for f, r, s in cases]
    )


# ------------------------------------------------------------------------------------------ recording


@dataclass
class Row:
    """What one test case did and whether its invariants held."""

    scenario: str
    fault: str
    rate: float
    seed: int
    outcome: str
    held: bool
    tries: int
    fired: int
    requests: int


_ROWS: list[Row] = []
_REPORT_KEY = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    """Keep the call phase's report on the item, so the ``chaos`` fixture knows whether the test held."""
    report = yield
    if report.when == "call":
        item.stash[_REPORT_KEY] = report
    return report


@dataclass
class Chaos:
    """One test case's fault injection and bookkeeping against a seeded sandbox."""

    sandbox: SandboxClient
    fault: str
    rate: float
    seed: int
    scenario: str = "?"
    outcome: str = "not recorded"
    tries: int = 0
    fired: int = 0
    rules: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def inject(self, vendor: str, *, path: str | None = None, method: str | None = None) -> None:
        """Install this case's fault on ``vendor`` (optionally only some paths or methods)."""
        spec = {**FAULTS[self.fault], "vendor": vendor, "rate": self.rate}
        if path is not None:
            spec["path"] = path
        if method is not None:
            spec["method"] = method
        for rule in self.sandbox.add_faults([spec]):
            self.rules.append(rule["id"])

    def calm(self) -> None:
        """Count the faults fired so far, remove them, and let delayed requests land."""
        self.fired += self.hits()
        self.sandbox.clear_faults()
        self.rules.clear()
        self.settle()

    def hits(self) -> int:
        """Firings of the rules installed by :meth:`inject` that are still active."""
        return sum(r["hits"] for r in self.sandbox.faults() if r["id"] in self.rules)

    def settle(self) -> None:
        """Wait until every request held back by a latency fault has been processed (Airflow's retry delay is
        far longer than the vendor's latency: a retry never overtakes its own earlier request)."""
        if self.fault != "timeout":
            return
        deadline = time.monotonic() + 5 * LATENCY_MS / 1000
        while time.monotonic() < deadline:
            fired = self.fired + self.hits()
            landed = sum(1 for r in self.sandbox.requests() if r.get("fault") == "latency")
            if landed >= fired:
                return
            time.sleep(0.05)
        raise AssertionError("requests delayed by the latency fault never reached the sandbox's journal")

    def note(self, outcome: str) -> None:
        """Record how the case ended (e.g. ``succeeded``, ``failed cleanly: SendIncompleteError``)."""
        self.outcome = outcome


@pytest.fixture(scope="session")
def seeded_sandboxes() -> Iterator[Callable[[int], SandboxClient]]:
    """One sandbox process per seed, started on first use and stopped at the end of the session."""
    from emailbr_sandbox.server import SandboxServer

    servers: dict[int, SandboxServer] = {}

    def get(seed: int) -> SandboxClient:
        if seed not in servers:
            server = SandboxServer(
                seed=seed,
                campaign_seconds=0.3,
                report_lag_seconds=0,
                extra_args=["--journal-size", "20000", "--journal-body-bytes", "65536"],
            )
            server.start()
            servers[seed] = server
        return servers[seed].client

    yield get
    for server in servers.values():
        server.stop()


def fast_connections(client: SandboxClient) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` of the five default connections with short timeouts and fast retries."""
    fast = {
        "timeout": CLIENT_TIMEOUT,
        "connect_timeout": 2,
        "max_retries": MAX_RETRIES,
        "retry_backoff": RETRY_BACKOFF,
    }
    env = {}
    for vendor, definition in client.connections.items():
        conn = {**definition, "extra": {**dict(definition.get("extra") or {}), **fast}}
        env[f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT"] = json.dumps(conn)
    return env


@pytest.fixture
def chaos(
    request: pytest.FixtureRequest,
    seeded_sandboxes: Callable[[int], SandboxClient],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Chaos]:
    """The seeded sandbox of this case (reset, fast connections set), with the case's fault parameters."""
    params = request.node.callspec.params
    client = seeded_sandboxes(params["seed"])
    client.reset()
    for name, value in fast_connections(client).items():
        monkeypatch.setenv(name, value)
    case = Chaos(sandbox=client, fault=params["fault"], rate=params["rate"], seed=params["seed"])
    yield case
    case.settle()
    case.fired += case.hits()
    report = request.node.stash.get(_REPORT_KEY, None)
    held = report is not None and report.passed
    outcome = case.outcome if held else f"VIOLATED ({case.outcome})"
    requests = len(client.requests())
    _ROWS.append(
        Row(case.scenario, case.fault, case.rate, case.seed, outcome, held, case.tries, case.fired, requests)
    )


# ------------------------------------------------------------------------------------------ the table


def summary_rows() -> list[tuple[str, str, str, str, str, str, str]]:
    """One line per scenario × fault × rate: seeds held, outcomes, tries, faults fired, requests."""
    groups: dict[tuple[str, str, float], list[Row]] = defaultdict(list)
    for row in _ROWS:
        groups[(row.scenario, row.fault, row.rate)].append(row)
    lines = []
    for (scenario, fault, rate), rows in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])
    ):
        held = sum(r.held for r in rows)
        outcomes = Counter(r.outcome for r in rows)
        text = "; ".join(f"{o} ×{n}" if n > 1 else o for o, n in sorted(outcomes.items()))
        verdict = (
            f"held {held}/{len(rows)}" if held == len(rows) else f"VIOLATED {len(rows) - held}/{len(rows)}"
        )
        lines.append(
            (
                scenario,
                fault,
                f"{rate:g}",
                verdict,
                text,
                str(sum(r.tries for r in rows)),
                f"{sum(r.fired for r in rows)}/{sum(r.requests for r in rows)}",
            )
        )
    return lines


HEADER = ("scenario", "fault", "rate", "invariants", "outcomes (over seeds)", "tries", "faults/requests")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the reliability table; write it as Markdown to ``$EMAILBR_RELIABILITY_REPORT`` if set."""
    if not _ROWS:
        return
    lines = summary_rows()
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(HEADER)]
    terminalreporter.section("emailbr reliability: scenario × fault × rate")
    terminalreporter.write_line("  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)))
    for line in lines:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    held = sum(r.held for r in _ROWS)
    terminalreporter.write_line(
        f"{held}/{len(_ROWS)} cases held their invariants; seeds {', '.join(map(str, SEEDS))}; client timeout "
        f"{CLIENT_TIMEOUT:g} s, latency fault {LATENCY_MS} ms, {MAX_RETRIES} retries, 429 Retry-After "
        f"{RETRY_AFTER:g} s"
    )
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("| " + " | ".join(HEADER) + " |\n")
            handle.write("|" + "|".join("---" for _ in HEADER) + "|\n")
            for line in lines:
                handle.write("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |\n")
            handle.write(f"\n{held}/{len(_ROWS)} cases held their invariants.\n")
        terminalreporter.write_line(f"reliability table written to {path}")
