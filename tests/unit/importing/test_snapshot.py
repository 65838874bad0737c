"""The stored snapshot: identity checks, unreadable files, object storage, atomic replacement."""

from __future__ import annotations

import sqlite3

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec
from airflow_provider_emailbr.importing.snapshot import SnapshotStore
from airflow_provider_emailbr.importing.staging import Staging

SPEC = (FieldSpec("email", "email"), FieldSpec("nome"))
IDENTITY = {"vendor": "Teste", "conn_id": "teste_default", "group_id": "1", "field_mapping": {}}


def write(path, identity=IDENTITY, target=None, conn_id=None) -> None:
    store = SnapshotStore(path, conn_id=conn_id, identity=identity)
    with store, Staging(SPEC) as staging:
        staging.stage([Contact(1, "a@x.com", {"nome": "A"})])
        staging.confirm([("a@x.com", None)])
        local = store.new_file()
        staging.write_snapshot(local, store.meta(target or {"group_id": 1}))
        store.store(local)


def load(path, identity=IDENTITY) -> str | None:
    """Load the snapshot at ``path`` as a run with ``identity`` would (the local copy is removed after)."""
    with SnapshotStore(path, conn_id=None, identity=identity) as store:
        return store.load()


def test_missing_snapshot_is_a_first_sync(tmp_path):
    with SnapshotStore(tmp_path / "none.sqlite", conn_id=None, identity=IDENTITY) as store:
        assert store.load() is None


def test_round_trip_and_no_partial_file_left(tmp_path):
    path = tmp_path / "deep" / "state.sqlite"
    write(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.sqlite"]
    with SnapshotStore(path, conn_id=None, identity=IDENTITY) as store:
        local = store.load()
        assert local is not None
        with sqlite3.connect(local) as db:
            assert db.execute("SELECT key FROM contacts").fetchall() == [("a@x.com",)]
        store.check_target({"group_id": 1})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"conn_id": "outra"}, 'conn_id: stored "teste_default", now "outra"'),
        ({"group_id": "2"}, "group_id"),
        ({"field_mapping": {"nome": "NOME"}}, "field_mapping"),
        ({"vendor": "Outro"}, "vendor"),
    ],
)
def test_a_snapshot_of_another_target_is_refused_naming_the_file_and_the_fix(tmp_path, change, named):
    path = tmp_path / "state.sqlite"
    write(path)
    with pytest.raises(EmailBRInputError) as err:
        load(path, {**IDENTITY, **change})
    message = str(err.value)
    assert str(path) in message and "belongs to another target" in message
    assert named in message and "full_refresh=True" in message


def test_a_target_that_now_resolves_elsewhere_is_refused(tmp_path):
    path = tmp_path / "state.sqlite"
    write(path, target={"group_id": 1})
    with SnapshotStore(path, conn_id=None, identity=IDENTITY) as store:
        store.load()
        with pytest.raises(EmailBRInputError, match=r"was synced to .*\"group_id\":1.* now resolves to"):
            store.check_target({"group_id": 5})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not a database at all, just text", "is not a readable contact snapshot"),
        (b"", "is not a readable contact snapshot"),
    ],
)
def test_an_unreadable_snapshot_is_never_read_as_empty(tmp_path, content, why):
    path = tmp_path / "state.sqlite"
    path.write_bytes(content)
    with pytest.raises(EmailBRInputError, match=why) as err:
        load(path, IDENTITY)
    assert "full_refresh=True" in str(err.value)


def test_a_sqlite_file_that_is_not_a_snapshot_or_of_another_version_is_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(EmailBRInputError, match="is not a readable contact snapshot"):
        load(other, IDENTITY)
    path = tmp_path / "state.sqlite"
    write(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'version'")
    with pytest.raises(EmailBRInputError, match="has version '99'; this release reads version 1"):
        load(path, IDENTITY)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(EmailBRInputError, match="is a directory"):
        load(tmp_path, IDENTITY)


def test_object_storage_round_trip(tmp_path):
    uri = "file://" + str(tmp_path / "bucket" / "state.sqlite")
    write(uri)
    with SnapshotStore(uri, conn_id=None, identity=IDENTITY) as store:
        assert store.load() is not None
    with pytest.raises(EmailBRInputError, match="state.sqlite' belongs to another target"):
        load(uri, {**IDENTITY, "group_id": "9"})


def test_ids_compare_as_text(tmp_path):
    path = tmp_path / "state.sqlite"
    write(path, target={"group_id": 7})
    with SnapshotStore(path, conn_id=None, identity=IDENTITY) as store:
        store.load()
        store.check_target({"group_id": "7"})
