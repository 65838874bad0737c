"""The staged source and its difference with the previous snapshot, on SQLite files in a temp dir."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from airflow_provider_emailbr.importing.engine import ContactOutcome
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, RowRejected
from airflow_provider_emailbr.importing.snapshot import SnapshotStore
from airflow_provider_emailbr.importing.staging import Gone, Staging, SyncState, digest, encode_values
from airflow_provider_emailbr.utils.privacy import mask_email

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


@pytest.mark.parametrize("hashed", [True, False])
def test_both_ways_of_staging_keep_the_same_contacts(hashed):
    """Without a snapshot (``hashed=False``) batches go in as one JSON array on the staging thread: the
    contacts that come back are the same, text that JSON escapes included."""
    odd = 'Zé "Aspas" \\ barra\ttab \u2028 ü 𝄞'
    with Staging(SPEC, hashed=hashed) as staging:
        staging.stage([contact(1, "Ana@x.com", "um", cidade="Recife"), contact(2, "bia@x.com", odd)])
        staging.stage([])
        staging.stage([contact(3, "ANA@x.com", "três"), contact(4, "ção@x.com", "quatro", cidade=odd)])
        assert (staging.staged_rows, staging.distinct()) == (4, 3)
        assert staging.diff()[:3] == (3, 3, 0)  # staged, new, changed
        hashes = {key: f + c for key, f, c in staging.db.execute("SELECT key, fhash, chash FROM staged")}
        [batch] = list(staging.to_send(10))
    assert [(c.email, c.row, c.fields, c.custom) for c in batch] == [
        ("Ana@x.com", 3, {"nome": "três", "nascimento": date(1990, 1, 3)}, {}),
        ("bia@x.com", 2, {"nome": odd, "nascimento": date(1990, 1, 2)}, {}),
        ("ção@x.com", 4, {"nome": "quatro", "nascimento": date(1990, 1, 4)}, {"cidade": odd}),
    ]
    # a snapshot compares these: the hash of the encoded fields, and of the custom fields when there are any
    expected = {
        c.email.lower(): digest(encode_values(c.fields))
        + (digest(encode_values(c.custom, sort=True)) if c.custom else b"")
        for c in batch
    }
    assert hashes == (expected if hashed else dict.fromkeys(expected, b""))


def test_a_batch_that_fails_on_the_staging_thread_fails_the_next_step():
    with Staging(SPEC, hashed=False) as staging:
        with pytest.raises(
            TypeError, match=r"cannot stage a contact's values: .*'object' object"
        ):  # encoded in the caller's thread
            staging.stage([Contact(row=1, email="a@x.com", fields={"nome": object()})])
        staging.stage([contact(1, "a@x.com", "A")])
        staging.db.execute("DROP TABLE staged")
        staging.stage([contact(2, "b@x.com", "B")])  # fails on the staging thread
        with pytest.raises(sqlite3.OperationalError, match="no such table: staged"):
            staging.distinct()


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


def test_reprs_of_contacts_removals_and_outcomes_mask_the_address():
    person = Contact(
        row=7, email="Maria.Silva@Exemplo.com.br", fields={"nome": "Maria"}, sync=SyncState("9", frozenset())
    )
    gone = Gone("maria.silva@exemplo.com.br", "Maria.Silva@Exemplo.com.br", "9")
    outcomes = [
        ContactOutcome(person, result="updated", platform_id="9"),
        ContactOutcome(person, rejection=RowRejected("refused_by_platform", "refused m***@exemplo.com.br")),
    ]
    for record in (person, gone, *outcomes):
        shown = repr(record)
        assert "maria.silva" not in shown.lower(), shown
        assert "exemplo.com.br" in shown.lower()  # masked, not dropped
    assert repr(gone) == (
        f"Gone(key={mask_email(gone.key)!r}, email={mask_email(gone.email)!r}, platform_id='9')"
    )
    assert "row=7" in repr(person) and "'nome': 'Maria'" in repr(person)


@pytest.mark.parametrize("hashed", [True, False])
def test_stored_batches_round_trip_duplicates_across_batches_last_row_wins(hashed):
    """Each batch is stored once; the staged table keeps one row per address pointing at its winning
    row, and the address's first spelling only when it differs from the key."""
    with Staging(SPEC, hashed=hashed) as staging:
        staging.stage([contact(1, "ana@x.com", "um"), contact(2, "Bia@X.com", "dois", cidade="Recife")])
        staging.stage([contact(3, "ANA@x.com", "três"), contact(4, "cris@x.com", "quatro")])
        staging.stage([contact(5, "bia@x.com", "cinco"), contact(6, "cris@x.com", "seis", cidade="Olinda")])
        stored = staging.db.execute("SELECT id, size FROM batches ORDER BY id").fetchall()
        staged = staging.db.execute("SELECT key, email, batch, pos FROM staged ORDER BY seq").fetchall()
        [batch] = list(staging.to_send(10))
    assert stored == [(0, 2), (1, 2), (2, 2)]
    assert staged == [
        ("ana@x.com", None, 1, 0),  # spelt as its key: no spelling kept; its last row is in batch 1
        ("bia@x.com", "Bia@X.com", 2, 0),  # the first spelling stays, the values are the last row's
        ("cris@x.com", None, 2, 1),
    ]
    assert [(c.email, c.row, c.fields, c.custom) for c in batch] == [
        ("ana@x.com", 3, {"nome": "três", "nascimento": date(1990, 1, 3)}, {}),
        ("Bia@X.com", 5, {"nome": "cinco", "nascimento": date(1990, 1, 5)}, {}),
        ("cris@x.com", 6, {"nome": "seis", "nascimento": date(1990, 1, 6)}, {"cidade": "Olinda"}),
    ]


def test_scattered_winners_are_cut_out_of_their_batches_like_whole_batches_are_decoded():
    """Contacts read from a batch decoded whole, copied out of a later batch (sending) and cut out by
    SQLite (dropping) come back alike."""
    firsts = [contact(row, f"p{row}@x.com", f"first {row}", cidade=f"c{row}") for row in range(1, 21)]
    with Staging(SPEC) as staging:
        staging.stage(firsts)  # 20 contacts in one batch
        staging.stage([contact(21, "P7@x.com", "again", cidade="nova")])  # one winner in a batch of 1
        staging.stage([contact(row, f"z{row}@x.com", "z") for row in range(22, 30)] + [firsts[2]])
        [sent] = list(staging.to_send(30))
        assert staging.distinct() == 28
        dropped = staging.drop(["p7@x.com", "p3@x.com"])
    by_email = {c.email: c for c in sent}
    assert (by_email["p7@x.com"].row, by_email["p7@x.com"].fields["nome"]) == (21, "again")
    assert by_email["p7@x.com"].custom == {"cidade": "nova"}
    assert by_email["p3@x.com"].fields == {"nome": "first 3", "nascimento": date(1990, 1, 3)}
    assert [c.email for c in sent[:3]] == ["p1@x.com", "p2@x.com", "p3@x.com"]  # first appearance
    assert [(c.email, c.row, c.fields["nascimento"], c.custom) for c in dropped] == [
        ("p3@x.com", 3, date(1990, 1, 3), {"cidade": "c3"}),
        ("p7@x.com", 21, date(1990, 1, 21), {"cidade": "nova"}),
    ]


@pytest.mark.parametrize("hashed", [True, False])
def test_addresses_back_in_later_batches_are_copied_out_once_and_sent_in_first_appearance_order(hashed):
    """Addresses whose last row came batches after their first have their winning rows copied out of those
    batches before the pass (one ``moved`` row each; a duplicate within its first batch is not moved), and
    every contact goes out once, in order of first appearance, with its last row's values."""

    def person(row: int, email: str, nome: str, **custom: str) -> Contact:
        return Contact(row, email, {"nome": nome, "nascimento": date(2000, 1 + row % 12, 1)}, custom)

    firsts = [person(row, f"p{row}@x.com", f"first {row}") for row in range(30)]
    with Staging(SPEC, hashed=hashed) as staging:
        for start in range(0, 30, 10):
            staging.stage(firsts[start : start + 10])
        staging.stage([person(100, "P29@x.com", "last 29", cidade="a"), person(101, "p3@x.com", "last 3")])
        staging.stage([person(102, "p17@x.com", "last 17"), person(103, "p3@X.com", "later 3", cidade="b")])
        staging.stage([person(104, "novo@x.com", "novo"), person(105, "novo@x.com", "novo again")])
        sent = [c for batch in staging.to_send(7) for c in batch]
        moved = staging.db.execute("SELECT COUNT(*) FROM moved").fetchone()[0]
    assert moved == 3  # p29, p3 and p17; novo's second row is in its first batch
    assert [c.email for c in sent] == [f"p{row}@x.com" for row in range(30)] + ["novo@x.com"]
    values = {c.email: (c.row, c.fields, c.custom) for c in sent}
    assert values["p29@x.com"] == (100, {"nome": "last 29", "nascimento": date(2000, 5, 1)}, {"cidade": "a"})
    assert values["p3@x.com"] == (103, {"nome": "later 3", "nascimento": date(2000, 8, 1)}, {"cidade": "b"})
    assert values["p17@x.com"] == (102, {"nome": "last 17", "nascimento": date(2000, 7, 1)}, {})
    assert values["p4@x.com"] == (4, {"nome": "first 4", "nascimento": date(2000, 5, 1)}, {})
    assert values["novo@x.com"][:2] == (105, {"nome": "novo again", "nascimento": date(2000, 10, 1)})
