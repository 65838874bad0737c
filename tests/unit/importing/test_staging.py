"""The staged source and its difference with the previous snapshot, on SQLite files in a temp dir."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from airflow_provider_emailbr.importing.rows import Contact, FieldSpec
from airflow_provider_emailbr.importing.snapshot import SnapshotStore
from airflow_provider_emailbr.importing.staging import Staging

SPEC = (FieldSpec("email", "email"), FieldSpec("nome"), FieldSpec("nascimento", "date"))


def contact(row: int, email: str, nome: str, **custom: str) -> Contact:
    return Contact(
        row=row, email=email, fields={"nome": nome, "nascimento": date(1990, 1, row)}, custom=custom
    )


def snapshot_of(tmp_path: Path, contacts: list[Contact], ids: dict[str, str] | None = None) -> str:
    """A snapshot file in which every contact of ``contacts`` was confirmed."""
    store = SnapshotStore(tmp_path / "state.sqlite", conn_id=None, identity={"t": 1})
    with Staging(SPEC) as staging:
        staging.stage(contacts)
        staging.confirm((c.email, (ids or {}).get(c.email)) for c in contacts)
        local = store.new_file()
        staging.write_snapshot(local, store.meta({"target": 1}))
    store.store(local)
    store.close()
    return str(tmp_path / "state.sqlite")


def test_duplicates_collapse_case_insensitively_last_row_wins_first_spelling():
    with Staging(SPEC) as staging:
        staging.stage([contact(1, "Ana@x.com", "um"), contact(2, "bia@x.com", "dois")])
        staging.stage([contact(3, "ANA@x.com", "três")])
        assert (staging.staged_rows, staging.distinct()) == (3, 2)
        [batch] = list(staging.to_send(10))
    assert [(c.email, c.fields["nome"], c.row, c.sync) for c in batch] == [
        ("Ana@x.com", "três", 3, None),
        ("bia@x.com", "dois", 2, None),
    ]
    assert batch[0].fields["nascimento"] == date(1990, 1, 3)  # dates come back as dates


def test_diff_new_changed_unchanged_gone(tmp_path):
    previous = snapshot_of(
        tmp_path,
        [contact(1, "a@x.com", "A"), contact(2, "b@x.com", "B"), contact(3, "c@x.com", "C", cidade="Recife")],
        ids={"c@x.com": "77"},
    )
    with Staging(SPEC, previous) as staging:
        staging.stage(
            [
                contact(1, "a@x.com", "A"),  # unchanged
                contact(3, "c@x.com", "C", cidade="Olinda"),  # custom field changed
                contact(4, "d@x.com", "D"),  # new
            ]
        )
        diff = staging.diff()
        assert (diff.new, diff.changed, diff.unchanged, diff.removed, diff.previous) == (1, 1, 1, 1, 3)
        [batch] = list(staging.to_send(10))
        assert [c.email for c in batch] == ["c@x.com", "d@x.com"]
        assert batch[0].sync is not None
        assert (batch[0].sync.platform_id, batch[0].sync.changed) == ("77", frozenset({"custom"}))
        assert batch[1].sync is None
        assert [g.email for chunk in staging.gone(10) for g in chunk] == ["b@x.com"]


def test_next_snapshot_records_exactly_what_was_confirmed(tmp_path):
    previous = snapshot_of(tmp_path, [contact(1, "a@x.com", "A"), contact(2, "b@x.com", "B")])
    store = SnapshotStore(tmp_path / "state.sqlite", conn_id=None, identity={"t": 1})
    with Staging(SPEC, store.load()) as staging:
        staging.stage([contact(1, "a@x.com", "A2"), contact(3, "c@x.com", "C"), contact(4, "d@x.com", "D")])
        staging.confirm([("c@x.com", "9")])  # a@x.com (changed) and d@x.com (new) were not confirmed
        staging.removed(["b@x.com"])
        local = store.new_file()
        assert staging.write_snapshot(local, store.meta({"target": 1})) == 2
    with sqlite3.connect(local) as db:
        rows = db.execute("SELECT key, platform_id FROM contacts ORDER BY key").fetchall()
    assert rows == [("a@x.com", None), ("c@x.com", "9")]  # a@x.com keeps its old hash: sent again
    with Staging(SPEC, local) as staging:
        staging.stage([contact(1, "a@x.com", "A2"), contact(3, "c@x.com", "C"), contact(4, "d@x.com", "D")])
        diff = staging.diff()
    assert (diff.new, diff.changed, diff.unchanged, diff.removed) == (1, 1, 1, 0)
    assert previous  # the fixture's file was the starting point
    store.close()


def test_drop_takes_contacts_out_of_the_staged_source():
    with Staging(SPEC) as staging:
        staging.stage([contact(1, "a@x.com", "A"), contact(2, "B@x.com", "B")])
        dropped = staging.drop(["b@x.com", "zz@x.com"])
        assert [(c.email, c.row) for c in dropped] == [("B@x.com", 2)]
        assert staging.distinct() == 1
        assert list(staging.iter_keys()) == [["a@x.com"]]
