"""Send operators under faults: no message sent twice because of a retry by us, unknown ones named.

Each case runs the operator with a ``results_path`` for up to three tries under the fault (``execute`` again
with the next ``try_number``, after the previous try's requests have landed). After every try:

- no recipient was processed twice by the platform (journal) nor holds two messages (state);
- a try never sends to a recipient an earlier try confirmed;
- when the try fails, the recipients it names as unknown are exactly those of the requests whose outcome the
  client could not know (answer lost, or a 5xx that may have been processed), and nothing else is unknown.

Then, as the operator's docs prescribe, the unknown items are resolved against the platform's state
(``mark_send_results``: ``sent`` if delivered, else ``not_sent``), the fault stops, and one more try must
succeed with every recipient holding exactly one message.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_emailbr.operators.send import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
    EnvieEmailSendOperator,
    MailGridSendEmailOperator,
    ResultsLog,
    RunIdentity,
    SendIncompleteError,
    mark_send_results,
)
from tests.helpers import context
from tests.reliability.conftest import Chaos, matrix
from tests.reliability.helpers import RELIABILITY_TI, assert_precise, failure, processed

pytestmark = pytest.mark.integration

TRIES = 3


@dataclass
class Platform:
    """How to read one platform's sends from the sandbox."""

    vendor: str
    #: recipients of one journal entry (a send request)
    recipients: Callable[[dict[str, Any]], list[str]]
    #: recipient of every message the platform holds
    delivered: Callable[[dict[str, Any]], list[str]]
    #: address of an item from its results-file record
    address: Callable[[str, dict[str, Any]], str]
    #: HTTP statuses after which the platform certainly did not process a send
    not_processed: frozenset[int] = frozenset({429, 503})

    def ambiguous(self, entry: dict[str, Any]) -> bool:
        """Whether the client could not know the outcome of a journal entry."""
        status = entry.get("status")
        return (
            bool(entry.get("dropped"))
            or entry.get("fault") == "latency"
            or (status is not None and status >= 500 and status not in self.not_processed)
        )


MAILGRID = Platform(
    "mailgrid",
    recipients=lambda e: [a.lower() for a in e["body"].get("emailDestino") or []],
    delivered=lambda s: [r["email_para"].lower() for r in s["rows"]],
    address=lambda key, r: key.split(":", 1)[1],
)
EMAILMANAGER = Platform(
    "emailmanager",
    recipients=lambda e: [
        str(m["To"]).lower() for m in (e["body"] if isinstance(e["body"], list) else [e["body"]])
    ],
    delivered=lambda s: [str(m["To"]).lower() for m in s["messages"]],
    address=lambda key, r: str(r["To"]).lower(),
    not_processed=frozenset({429, 500, 503}),  # the vendor documents 500 as "not done, send again"
)
ENVIE = Platform(
    "envie",
    recipients=lambda e: [str(e["body"]["to_email"]).lower()],
    delivered=lambda s: [m["to_email"].lower() for m in s["sent"]],
    address=lambda key, r: key,
)


def journal(chaos: Chaos, platform: Platform, since: int | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in chaos.sandbox.requests(platform.vendor, since=since)
        if e["method"] == "POST" and isinstance(e.get("body"), (dict, list))
    ]


def last_id(chaos: Chaos) -> int:
    entries = chaos.sandbox.requests(limit=1)
    return entries[-1]["id"] if entries else 0


def send_tries(
    chaos: Chaos,
    platform: Platform,
    make: Callable[[str], Any],
    expected: list[str],
    results: Path,
    task_id: str,
) -> None:
    """Run the tries, check the invariants after each, resolve unknowns, converge."""
    identity = RunIdentity(dag_id=RELIABILITY_TI["dag_id"], task_id=task_id, run_id=RELIABILITY_TI["run_id"])
    confirmed: set[str] = set()
    failures: list[str] = []
    succeeded = False
    for try_number in range(1, TRIES + 1):
        mark = last_id(chaos)
        ctx = context(try_number, task_id=task_id, **RELIABILITY_TI)
        chaos.tries += 1
        error: BaseException | None = None
        try:
            make(str(results)).execute(ctx)
        except Exception as err:  # checked below
            error = err
        chaos.settle()
        this_try = journal(chaos, platform, since=mark)
        resent = confirmed & {a for e in this_try for a in platform.recipients(e)}
        assert not resent, f"try {try_number} sent again to confirmed recipients: {sorted(resent)[:5]}"
        check_no_double(chaos, platform, expected)
        latest = ResultsLog(results).latest(identity)
        confirmed |= {platform.address(k, r) for k, r in latest.items() if r.get("outcome") == "sent"}
        if error is None:
            succeeded = True
            break
        assert_precise(error)
        failures.append(failure(error))
        assert isinstance(error, SendIncompleteError), f"a send failed without its summary: {error!r}"
        check_unknown_named(chaos, platform, error, ctx["ti"].xcoms["send_results"], latest, expected)
    if succeeded:
        chaos.note("succeeded" if not failures else f"succeeded after a retry ({failures[0]})")
    else:
        resolve_unknown(chaos, platform, results, identity)
        chaos.calm()
        chaos.tries += 1
        make(str(results)).execute(context(TRIES + 1, task_id=task_id, **RELIABILITY_TI))
        chaos.note(f"every try {failures[0]}, unknown named; resolved and converged")
    counts = Counter(platform.delivered(chaos.sandbox.state(platform.vendor)))
    assert {a: counts[a] for a in expected} == dict.fromkeys(expected, 1), (
        "not every recipient got one message"
    )


def check_no_double(chaos: Chaos, platform: Platform, expected: list[str]) -> None:
    counts = Counter(platform.delivered(chaos.sandbox.state(platform.vendor)))
    twice = [a for a, n in counts.items() if n > 1]
    assert not twice, f"recipients holding two messages: {twice[:5]}"
    handled = Counter(a for e in journal(chaos, platform) if processed(e) for a in platform.recipients(e))
    twice = [a for a, n in handled.items() if n > 1]
    assert not twice, f"recipients processed twice by the platform: {twice[:5]}"


def check_unknown_named(
    chaos: Chaos,
    platform: Platform,
    error: SendIncompleteError,
    send_results: list[dict[str, Any]],
    latest: dict[str, dict[str, Any]],
    expected: list[str],
) -> None:
    """The unknown items are exactly the recipients of ambiguous requests, in the error and the XCom."""
    ambiguous = {
        a for e in journal(chaos, platform) if platform.ambiguous(e) for a in platform.recipients(e)
    } & set(expected)
    unknown_results = {
        str(r.get("to") or r.get("To")).lower() for r in send_results if r["outcome"] == "unknown"
    }
    assert unknown_results == ambiguous, (sorted(unknown_results)[:5], sorted(ambiguous)[:5])
    assert len(error.unknown) == len(ambiguous)
    unknown_keys = {k for k, r in latest.items() if r.get("outcome") in ("unknown", "attempt")}
    assert {platform.address(k, latest[k]) for k in unknown_keys} == ambiguous
    if ambiguous:
        assert "Unknown (the request went out, or was about to, and its answer was not recorded" in str(error)


def resolve_unknown(chaos: Chaos, platform: Platform, results: Path, identity: RunIdentity) -> None:
    """What the operator's docs tell the operator to do: check the platform, mark each unknown item."""
    delivered = set(platform.delivered(chaos.sandbox.state(platform.vendor)))
    latest = ResultsLog(results).latest(identity)
    unknown = [k for k, r in latest.items() if r.get("outcome") == "unknown"]
    ids = {"dag_id": identity.dag_id, "task_id": identity.task_id, "run_id": identity.run_id}
    sent = [k for k in unknown if platform.address(k, latest[k]) in delivered]
    not_sent = [k for k in unknown if k not in sent]
    if sent:
        mark_send_results(results, outcome="sent", keys=sent, **ids)
    if not_sent:
        mark_send_results(results, outcome="not_sent", keys=not_sent, **ids)


def addresses(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:03d}@exemplo.com.br" for i in range(n)]


@matrix()
def test_mailgrid_send(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "send: MailGrid (chunks of 100)"
    to = addresses(250, "mg")
    chaos.inject("mailgrid", path="/send")

    def make(results: str) -> MailGridSendEmailOperator:
        return MailGridSendEmailOperator(
            task_id="mailgrid", to=to, subject="Fatura", html="<p>Olá</p>", results_path=results
        )

    send_tries(chaos, MAILGRID, make, to, tmp_path / "results.jsonl", "mailgrid")


@matrix()
def test_emailmanager_batch_send(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "send: emailManager batch"
    to = addresses(60, "em")
    messages = [{"To": a, "Subject": "Pedido", "HtmlBody": "<p>ok</p>"} for a in to]
    chaos.inject("emailmanager", path="/email/batch")

    def make(results: str) -> EmailManagerBatchSendOperator:
        return EmailManagerBatchSendOperator(
            task_id="batch", messages=messages, batch_size=20, results_path=results
        )

    send_tries(chaos, EMAILMANAGER, make, to, tmp_path / "results.jsonl", "batch")


@matrix()
def test_emailmanager_single_send(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "send: emailManager single"
    to = addresses(4, "um")
    chaos.inject("emailmanager", path="/email")
    notes = []
    for address in to:
        task_id = f"single_{address.split('@')[0]}"

        def make(
            results: str, address: str = address, task_id: str = task_id
        ) -> EmailManagerSendEmailOperator:
            return EmailManagerSendEmailOperator(
                task_id=task_id, to=address, subject="Aviso", html_body="<p>ok</p>", results_path=results
            )

        send_tries(chaos, EMAILMANAGER, make, [address], tmp_path / f"{task_id}.jsonl", task_id)
        notes.append(chaos.outcome)
        if not chaos.rules:
            chaos.inject("emailmanager", path="/email")
    chaos.note(next((n for n in notes if n.startswith("every")), None) or max(notes, key=len))


@matrix()
def test_envie_send(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "send: envie.email (one per recipient)"
    to = addresses(12, "ev")
    chaos.inject("envie", path="/singlesending")

    def make(results: str) -> EnvieEmailSendOperator:
        return EnvieEmailSendOperator(
            task_id="envie", to=to, subject="Boas-vindas", html="<p>Olá</p>", results_path=results
        )

    send_tries(chaos, ENVIE, make, to, tmp_path / "results.jsonl", "envie")
    assert json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])["task_id"] == "envie"
