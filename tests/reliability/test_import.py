"""Contact imports under faults: nothing lost, nothing duplicated, the rejected report complete.

Each case runs the import with the fault active, as Airflow would run it: up to three tries (``execute`` again
with the next ``try_number``); a try either succeeds or fails with a precise message. Every try must leave
each valid contact in the target (exactly once) or in that try's rejected report. When no try under faults
converged, the faults stop and one more run must converge to the right state.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_emailbr.operators.contacts import (
    CriaEnvioImportContactsOperator,
    IAgenteImportContactsOperator,
)
from tests.helpers import context
from tests.reliability.conftest import Chaos, matrix
from tests.reliability.helpers import RELIABILITY_TI, assert_precise, failure

pytestmark = pytest.mark.integration

TRIES = 3
INVALID = {"not-an-email", ""}


def source(n: int) -> tuple[list[dict[str, Any]], dict[str, str], set[int]]:
    """Rows with ``n`` valid contacts, two invalid rows and a duplicate (the last spelling wins).

    Returns the rows, ``{email: expected name}`` and the 1-based numbers of the invalid rows.
    """
    rows = [{"email": f"cliente{i:03d}@exemplo.com.br", "nome": f"Cliente {i}"} for i in range(n)]
    rows.insert(5, {"email": "not-an-email", "nome": "Inválido"})
    rows.insert(9, {"email": "", "nome": "Sem e-mail"})
    rows.append({"email": " CLIENTE002@exemplo.com.br ", "nome": "Cliente 2 (novo)"})
    expected = {f"cliente{i:03d}@exemplo.com.br": f"Cliente {i}" for i in range(n)}
    expected["cliente002@exemplo.com.br"] = "Cliente 2 (novo)"
    invalid = {number for number, row in enumerate(rows, start=1) if row["email"].strip() in INVALID}
    return rows, expected, invalid


def rejected_rows(path: Path) -> dict[int, str]:
    """``{row number: reason}`` of a rejected-rows report."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {int(r["row"]): r["reason"] for r in csv.DictReader(handle)}


def run_tries(
    chaos: Chaos,
    make: Callable[[], Any],
    check: Callable[[dict[str, Any] | None], None],
) -> dict[str, Any]:
    """Run up to :data:`TRIES` tries under the fault, checking the invariants after each; then, if none
    succeeded cleanly, one more run without faults. Return the summary of the run that succeeded."""
    failures: list[str] = []
    summary = None
    for try_number in range(1, TRIES + 1):
        chaos.tries += 1
        try:
            summary = make().execute(context(try_number, **RELIABILITY_TI))
        except Exception as err:  # every failure must be precise; checked below
            assert_precise(err)
            failures.append(failure(err))
            chaos.settle()
            check(None)
            continue
        chaos.settle()
        check(summary)
        break
    if summary is not None and summary["rejected"] == summary["received"] - summary["valid"]:
        chaos.note("succeeded" if not failures else f"succeeded after a retry ({failures[0]})")
        return summary
    partial = summary is not None
    chaos.calm()
    chaos.tries += 1
    summary = make().execute(context(TRIES + 1, **RELIABILITY_TI))
    check(summary)
    if not partial:
        chaos.note(f"every try {failures[0]}; re-run converged once the fault stopped")
    else:
        chaos.note("succeeded, failed requests' rows in the report; re-run converged")
    return summary


def check_rows(
    members: Counter[str],
    names: dict[str, str],
    expected: dict[str, str],
    invalid: set[int],
    report: Path,
    rows: list[dict[str, Any]],
    summary: dict[str, Any] | None,
) -> None:
    """The invariants of one try, on the platform's state and the try's report."""
    duplicated = [e for e, n in members.items() if n > 1]
    assert not duplicated, f"contacts present more than once: {duplicated}"
    assert set(members) <= set(expected), f"unexpected contacts: {set(members) - set(expected)}"
    if not report.exists():  # the try failed before reading the source
        return
    reported = rejected_rows(report)
    assert invalid <= set(reported), "an invalid row is missing from the rejected report"
    assert {reported[n] for n in invalid} <= {"invalid_email", "missing_email"}
    failed_emails = {
        rows[n - 1]["email"].strip().lower() for n, reason in reported.items() if reason == "request_failed"
    }
    if summary is not None:
        lost = set(expected) - set(members) - failed_emails
        assert not lost, f"valid contacts neither imported nor reported: {sorted(lost)[:5]}"
        assert summary["rejected"] == len(reported)
        assert summary["sent"] + summary["rejected"] - len(invalid) == len(expected)
        wrong = {e: names[e] for e in members if e not in failed_emails and names[e] != expected[e]}
        assert not wrong, f"contacts with the wrong name (not the last row's): {wrong}"


@matrix()
def test_iagente_import(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "import: IAGENTEmail mass add"
    rows, expected, invalid = source(48)
    report = tmp_path / "rejected.csv"
    chaos.inject("iagente")

    def make() -> IAgenteImportContactsOperator:
        return IAgenteImportContactsOperator(
            task_id="import",
            contacts=rows,
            group_name="Clientes",
            create_group=True,
            chunk_size=8,
            rejected_path=str(report),
            max_rejected_ratio=0.1,
        )

    def check(summary: dict[str, Any] | None) -> None:
        state = chaos.sandbox.state("iagente")
        groups = [g for g in state["groups"] if g["name"] == "Clientes"]
        assert len(groups) <= 1, "the group was created twice"
        gid = groups[0]["group_id"] if groups else None
        members = Counter(c["email"] for c in state["contacts"] if gid in c.get("groups", []))
        names = {c["email"]: c.get("name") for c in state["contacts"]}
        check_rows(members, names, expected, invalid, report, rows, summary)
        if summary is not None:
            assert set(members) == set(expected), "a valid contact is missing from the group"

    summary = run_tries(chaos, make, check)
    assert summary["sent"] == len(expected) and summary["duplicates"] == 1
    assert rejected_rows(report) == {n: r for n, r in rejected_rows(report).items() if n in invalid}


@matrix()
def test_criaenvio_import(chaos: Chaos, fault: str, rate: float, seed: int, tmp_path: Path) -> None:
    chaos.scenario = "import: CriaEnvio upsert"
    rows, expected, invalid = source(12)
    report = tmp_path / "rejected.csv"
    chaos.inject("criaenvio")

    def make() -> CriaEnvioImportContactsOperator:
        return CriaEnvioImportContactsOperator(
            task_id="import",
            contacts=rows,
            list_names=["Clientes"],
            create_lists=True,
            max_concurrency=8,
            rejected_path=str(report),
            max_rejected_ratio=0.2,
        )

    def check(summary: dict[str, Any] | None) -> None:
        state = chaos.sandbox.state("criaenvio")
        lists = [g for g in state["lists"] if g["nome"] == "Clientes"]
        assert len(lists) <= 1, "the list was created twice"
        everyone = Counter(c["email"].lower() for c in state["contacts"])
        assert not [e for e, n in everyone.items() if n > 1], "a contact exists twice"
        by_id = {c["id"]: c for c in state["contacts"]}
        ids = lists[0]["contatos"] if lists else []
        assert len(ids) == len(set(ids)), "a contact is subscribed twice"
        members = Counter(by_id[i]["email"].lower() for i in ids)
        names = {c["email"].lower(): c.get("nome") for c in state["contacts"]}
        check_rows(members, names, expected, invalid, report, rows, summary)

    summary = run_tries(chaos, make, check)
    assert summary["sent"] == len(expected)
    assert set(rejected_rows(report)) == invalid
