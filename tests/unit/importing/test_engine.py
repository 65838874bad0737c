"""The import engine's phases, with a platform part that sends nowhere and records what it was asked.

read and validate -> batches (duplicates collapsed) -> units sent with a bound in flight -> outcomes applied
in order -> each batch confirmed once it and everything before it is settled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_emailbr.exceptions import EmailBRRefusedError
from airflow_provider_emailbr.importing.engine import BaseImportContactsOperator, ContactOutcome, ImportBatch
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, RowRejected
from tests.helpers import read_jsonl


class RecordingImport(BaseImportContactsOperator):
    """A platform that takes every contact except those in ``refuse``; ``fail_on`` fails the whole task."""

    platform = "Teste"
    fields_spec = (FieldSpec("email", "email"), FieldSpec("nome"))

    def __init__(self, *, refuse: tuple[str, ...] = (), fail_on: str | None = None, **kwargs: Any) -> None:
        super().__init__(task_id="import", **kwargs)
        self.refuse = refuse
        self.fail_on = fail_on
        self.units: list[list[str]] = []
        self.confirmed: list[tuple[int, int, int]] = []

    @property
    def max_in_flight(self) -> int:
        return 3

    def prepare_target(self) -> dict[str, Any]:
        return {"target": "lista"}

    def plan_units(self, contacts: list[Contact]) -> Iterator[list[Contact]]:
        for start in range(0, len(contacts), 2):
            yield contacts[start : start + 2]

    def send_unit(self, unit: list[Contact]) -> list[ContactOutcome]:
        emails = [c.email for c in unit]
        self.units.append(emails)
        if self.fail_on in emails:
            raise EmailBRRefusedError(
                platform="Teste", endpoint="x", status=401, vendor_message="sem créditos"
            )
        return [
            ContactOutcome(c, rejection=RowRejected("refused_by_platform", "não"))
            if c.email in self.refuse
            else ContactOutcome(c, result="created", rejection=None)
            for c in unit
        ]

    def batch_confirmed(self, batch: ImportBatch, stats: Any) -> None:
        self.confirmed.append((batch.number, batch.last_row, stats.sent + stats.rejected))


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"email": f"c{i}@exemplo.com.br", "nome": f"C {i}"} for i in range(start, start + n)]


def test_batches_are_confirmed_in_order_once_everything_before_them_is_settled(tmp_path):
    report = tmp_path / "rej.jsonl"
    data = [*rows(3), {"email": "ruim"}, *rows(2, 3)]  # 6 rows, batches of 2: rows 1-2, 3-4, 5-6
    op = RecordingImport(
        contacts=data,
        batch_size=2,
        refuse=("c4@exemplo.com.br",),
        rejected_path=str(report),
        max_rejected_ratio=1,
    )
    summary = op.execute({})
    assert op.confirmed == [(0, 2, 2), (1, 4, 4), (2, 6, 6)]  # row 4 (invalid) is settled by batch 1
    assert {k: summary[k] for k in ("received", "valid", "sent", "created", "rejected")} == {
        "received": 6,
        "valid": 5,
        "sent": 4,
        "created": 4,
        "rejected": 2,
    }
    assert [(r["row"], r["reason"]) for r in read_jsonl(report)] == [
        (4, "invalid_email"),
        (6, "refused_by_platform"),
    ]
    assert summary["target"] == "lista"


def test_a_batch_with_nothing_to_send_is_still_confirmed():
    op = RecordingImport(
        contacts=[{"email": "x"}, {"email": "y"}, *rows(1)], batch_size=2, max_rejected_ratio=1
    )
    op.execute({})
    assert op.confirmed == [(0, 2, 2), (1, 3, 3)]
    assert op.units == [["c0@exemplo.com.br"]]


def test_duplicates_collapse_last_row_wins_under_the_first_spelling():
    data = [
        {"email": "Ana@Exemplo.com.br", "nome": "1"},
        {"email": "ana@exemplo.com.br", "nome": "2"},  # same batch: replaces row 1
        {"email": "bia@exemplo.com.br", "nome": "3"},
        {"email": "ANA@exemplo.com.br", "nome": "4"},  # later batch: sent again, first spelling
    ]
    op = RecordingImport(contacts=data, batch_size=3)
    summary = op.execute({})
    assert op.units == [["Ana@exemplo.com.br", "bia@exemplo.com.br"], ["Ana@exemplo.com.br"]]
    assert (summary["duplicates"], summary["sent"]) == (2, 3)


def test_a_failing_unit_stops_the_import_after_settling_what_came_before(tmp_path, caplog):
    report = tmp_path / "rej.jsonl"
    op = RecordingImport(
        contacts=rows(40),
        batch_size=4,
        refuse=("c1@exemplo.com.br",),
        fail_on="c10@exemplo.com.br",
        rejected_path=str(report),
        max_rejected_ratio=1,
    )
    with pytest.raises(EmailBRRefusedError, match="sem créditos"):
        op.execute({})
    assert op.confirmed[:2] == [(0, 4, 4), (1, 8, 8)]  # batch 2 holds the failing unit: never confirmed
    assert all(number < 2 for number, _, _ in op.confirmed)
    assert len(op.units) < 20  # the rest of the source was not sent
    assert [r["row"] for r in read_jsonl(report)] == [2]  # the refusal before the failure is reported


def test_dry_run_reads_validates_and_counts_but_sends_nothing():
    op = RecordingImport(contacts=[*rows(3), {"email": "ruim"}], dry_run=True, max_rejected_ratio=1)
    summary = op.execute({})
    assert op.units == [] and op.confirmed == []
    assert (summary["received"], summary["valid"], summary["sent"], summary["dry_run"]) == (4, 3, 0, True)


def test_too_many_rejections_fail_the_task_after_writing_the_report(tmp_path):
    report = tmp_path / "rej.csv"
    op = RecordingImport(contacts=[*rows(8), {"email": "ruim"}, {"email": ""}], rejected_path=str(report))
    with pytest.raises(
        AirflowException, match=r"2 of 10 rows rejected \(20.0%\), more than max_rejected_ratio=5.0%"
    ):
        op.execute({})
    assert report.read_text(encoding="utf-8").count("\n") == 3  # header and two rows
    assert op.units  # the valid rows were sent all the same


def test_the_summary_is_json_serialisable_for_xcom():
    summary = RecordingImport(contacts=rows(2)).execute({})
    assert json.loads(json.dumps(summary))["rejected_reasons"] == {}
