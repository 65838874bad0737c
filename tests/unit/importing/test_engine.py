"""The import engine's phases, with a platform part that sends nowhere and records what it was asked.

read and validate -> staged (duplicates collapsed, compared with the last snapshot) -> batches of new or
changed contacts -> units sent with a bound in flight -> outcomes applied in order -> each batch confirmed
once it and everything before it is settled -> removals (mirror) -> the next snapshot stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_emailbr.exceptions import EmailBRInputError, EmailBRRefusedError
from airflow_provider_emailbr.importing.engine import BaseImportContactsOperator, ContactOutcome, ImportBatch
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, RowRejected
from airflow_provider_emailbr.importing.staging import Gone
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
        self.removed: list[str] = []

    @property
    def max_in_flight(self) -> int:
        return 3

    def prepare_target(self) -> dict[str, Any]:
        return {"target": "lista"}

    def target_identity(self) -> dict[str, Any]:
        return {"target": "lista"}

    def remove_contact(self, gone: Gone) -> bool:
        self.removed.append(gone.email)
        return True

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
    data = [*rows(3), {"email": "ruim"}, *rows(2, 3)]  # 6 rows, 5 valid: sent in batches of 2
    op = RecordingImport(
        contacts=data,
        batch_size=2,
        refuse=("c4@exemplo.com.br",),
        rejected_path=str(report),
        max_rejected_ratio=1,
    )
    summary = op.execute({})
    # the whole source is staged (row 4 rejected) before the first batch goes: (batch, last row, settled)
    assert op.confirmed == [(0, 2, 3), (1, 5, 5), (2, 6, 6)]
    assert {k: summary[k] for k in ("received", "valid", "sent", "created", "rejected", "new")} == {
        "received": 6,
        "valid": 5,
        "sent": 4,
        "created": 4,
        "rejected": 2,
        "new": 5,
    }
    assert [(r["row"], r["reason"]) for r in read_jsonl(report)] == [
        (4, "invalid_email"),
        (6, "refused_by_platform"),
    ]
    assert summary["target"] == "lista"


def test_only_contacts_to_send_make_batches():
    op = RecordingImport(
        contacts=[{"email": "x"}, {"email": "y"}, *rows(1)], batch_size=2, max_rejected_ratio=1
    )
    op.execute({})
    assert op.confirmed == [(0, 3, 3)]
    assert op.units == [["c0@exemplo.com.br"]]


def test_each_contact_is_sent_once_per_run_with_its_last_row_under_its_first_spelling():
    data = [
        {"email": "Ana@Exemplo.com.br", "nome": "1"},
        {"email": "ana@exemplo.com.br", "nome": "2"},  # same read batch: replaces row 1
        {"email": "bia@exemplo.com.br", "nome": "3"},
        {"email": "ANA@exemplo.com.br", "nome": "4"},  # a later read batch: replaces row 2, not sent twice
    ]
    sent: list[Contact] = []

    class Keeping(RecordingImport):
        def send_unit(self, unit: list[Contact]) -> list[ContactOutcome]:
            sent.extend(unit)
            return super().send_unit(unit)

    summary = Keeping(contacts=data, batch_size=3).execute({})
    assert [(c.email, c.fields["nome"], c.row) for c in sent] == [
        ("Ana@exemplo.com.br", "4", 4),
        ("bia@exemplo.com.br", "3", 3),
    ]
    assert (summary["duplicates"], summary["sent"], summary["new"]) == (2, 2, 2)


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


# ------------------------------------------------------------------------------------------ daily sync


def test_a_run_failing_midway_stores_exactly_what_was_confirmed(tmp_path):
    state = str(tmp_path / "state.sqlite")
    data = rows(12)
    failing = RecordingImport(
        contacts=data, batch_size=4, fail_on="c6@exemplo.com.br", state_path=state, max_rejected_ratio=1
    )
    with pytest.raises(EmailBRRefusedError):
        failing.execute({})
    confirmed = {email for unit in failing.units[:3] for email in unit}  # units of 2 before c6's unit
    rerun = RecordingImport(contacts=data, batch_size=4, state_path=state)
    summary = rerun.execute({})
    resent = {email for unit in rerun.units for email in unit}
    assert resent == {r["email"] for r in data} - confirmed  # nothing lost, nothing confirmed sent again
    assert (summary["unchanged"], summary["new"]) == (len(confirmed), 12 - len(confirmed))
    again = RecordingImport(contacts=data, state_path=state)
    assert again.execute({})["sent"] == 0 and again.units == []


def test_mirror_removes_the_gone_and_the_guard_stops_before_any_request(tmp_path):
    state = str(tmp_path / "state.sqlite")
    RecordingImport(contacts=rows(20), state_path=state).execute({})
    guarded = RecordingImport(contacts=rows(10), state_path=state, mirror=True)
    with pytest.raises(
        EmailBRInputError, match=r"10 of the 20 contacts .* \(50.0%\) .* max_removed_ratio=10.0%"
    ):
        guarded.execute({})
    assert guarded.units == [] and guarded.removed == []
    allowed = RecordingImport(contacts=rows(18), state_path=state, mirror=True)
    summary = allowed.execute({})
    assert sorted(allowed.removed) == ["c18@exemplo.com.br", "c19@exemplo.com.br"]
    assert (summary["removed"], summary["unchanged"], summary["sent"]) == (2, 18, 0)
    back = RecordingImport(contacts=rows(19), state_path=state, mirror=True)
    assert back.execute({})["new"] == 1 and back.removed == []  # the removed are out of the snapshot


def test_dry_run_compares_but_stores_nothing(tmp_path):
    state = tmp_path / "state.sqlite"
    RecordingImport(contacts=rows(5), state_path=str(state)).execute({})
    before = state.read_bytes()
    op = RecordingImport(
        contacts=rows(4, start=1), state_path=str(state), mirror=True, max_removed_ratio=0.5, dry_run=True
    )
    summary = op.execute({})
    assert (summary["new"], summary["unchanged"], summary["removed"], summary["sent"]) == (0, 4, 1, 0)
    assert op.units == [] and op.removed == [] and state.read_bytes() == before


def test_mirror_needs_state_path_and_a_ratio_between_0_and_1():
    with pytest.raises(EmailBRInputError, match="mirror: needs state_path"):
        RecordingImport(contacts=[], mirror=True)
    with pytest.raises(EmailBRInputError, match="max_removed_ratio: 2 must be between 0 and 1"):
        RecordingImport(contacts=[], state_path="s.sqlite", max_removed_ratio=2)
    with pytest.raises(EmailBRInputError, match="state_path: expected a local path, a URI or an Object"):
        RecordingImport(contacts=rows(1), state_path=["a.sqlite"]).execute({})


def test_suppressed_rows_are_rejected_and_do_not_count_towards_the_ratio(tmp_path):
    op = RecordingImport(contacts=rows(4), suppress=["C1@exemplo.com.br", "c2@exemplo.com.br"])
    summary = op.execute({})
    assert summary["rejected_reasons"] == {"suppressed": 2}  # 50 % rejected, yet the task succeeds
    assert [e for unit in op.units for e in unit] == ["c0@exemplo.com.br", "c3@exemplo.com.br"]
