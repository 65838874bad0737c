"""Suppression lists: addresses from an iterable, CSV, JSON Lines and object storage, normalised as the import
normalises rows, on disk beyond the memory limit, and bad lists refused with the source and the row."""

from __future__ import annotations

import json
import os

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.rows import FieldSpec, RowNormaliser
from airflow_provider_emailbr.importing.suppression import Suppression, load_suppression, suppression_key


def test_none_is_no_suppression():
    assert load_suppression(None, conn_id=None) is None


def test_iterable_of_texts_and_mappings_is_normalised_and_lower_cased():
    with load_suppression(
        [" Ana@Exemplo.COM.BR ", {"email": "bia@exemplo.com.br"}, {"EMAIL": "ana@exemplo.com.br"}],
        conn_id=None,
    ) as suppressed:
        assert len(suppressed) == 2  # the same address in two spellings counts once
        assert "ana@exemplo.com.br" in suppressed
        assert "bia@exemplo.com.br" in suppressed
        assert "carla@exemplo.com.br" not in suppressed
        assert not suppressed.on_disk


def test_the_key_is_the_one_the_import_compares_rows_by():
    normaliser = RowNormaliser((FieldSpec("email", "email"),), platform="Teste")
    for address in (" João.Silva@EXEMPLO.com.br", "x+news@Sub.Dominio.NET.br", "a@bücher.example.com"):
        contact = normaliser.normalise(1, {"email": address})
        assert suppression_key(address) == contact.email.lower()


def test_csv_file_with_an_email_column_any_delimiter_and_other_columns(tmp_path):
    path = tmp_path / "optouts.csv"
    path.write_text("id;EMAIL;motivo\n1;Ana@Exemplo.com.br;pediu\n\n2;bia@exemplo.com.br;lgpd\n", "utf-8")
    with load_suppression(str(path), conn_id=None) as suppressed:
        assert len(suppressed) == 2
        assert "ana@exemplo.com.br" in suppressed and "bia@exemplo.com.br" in suppressed


def test_csv_with_only_a_header_is_an_empty_list(tmp_path):
    path = tmp_path / "vazio.csv"
    path.write_text("email\n", "utf-8")
    with load_suppression(path, conn_id=None) as suppressed:
        assert len(suppressed) == 0


def test_json_lines_file(tmp_path):
    path = tmp_path / "optouts.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r) for r in [{"email": "ana@exemplo.com.br", "id": "k"}, {"Email": "b@x.com.br"}]
        )
        + "\n\n",
        "utf-8",
    )
    with load_suppression(path, conn_id=None) as suppressed:
        assert len(suppressed) == 2 and "b@x.com.br" in suppressed


@pytest.fixture
def memory_store():
    """Airflow's object storage with fsspec's in-memory file system attached as ``memory://``."""
    from airflow.sdk.io import attach
    from airflow.sdk.io.store import _STORE_CACHE
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    yield
    _STORE_CACHE.pop("memory", None)


def test_object_storage_uri_and_path(memory_store):
    target = ObjectStoragePath("memory://emailbr-suppress/listas/optouts.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("email\nana@exemplo.com.br\n")
    with load_suppression("memory://emailbr-suppress/listas/optouts.csv", conn_id=None) as by_uri:
        assert "ana@exemplo.com.br" in by_uri
    with load_suppression(target, conn_id=None) as by_path:
        assert len(by_path) == 1


def test_a_long_list_moves_to_disk_and_still_answers(tmp_path):
    keys = [f"c{i}@exemplo.com.br" for i in range(120)]
    suppressed = Suppression("test", memory_limit=50)
    suppressed.add(keys[:40])
    assert not suppressed.on_disk
    suppressed.add(keys[30:])  # overlaps: counted once
    suppressed.add(keys[:10])
    assert suppressed.on_disk and len(suppressed) == 120
    assert "c119@exemplo.com.br" in suppressed and "c120@exemplo.com.br" not in suppressed
    assert 42 not in suppressed
    assert suppressed.matching(["c1@exemplo.com.br", "nao@exemplo.com.br", "c1@exemplo.com.br"]) == {
        "c1@exemplo.com.br"
    }
    database = suppressed._db.execute("PRAGMA database_list").fetchone()[2]
    assert os.path.exists(database)
    suppressed.close()
    assert not os.path.exists(database) and len(suppressed) == 0


def test_a_file_of_many_addresses_is_read_to_disk(tmp_path, monkeypatch):
    from airflow_provider_emailbr.importing import suppression

    monkeypatch.setattr(suppression, "IN_MEMORY_LIMIT", 1_000)  # read when a Suppression is made
    path = tmp_path / "muitos.csv"
    path.write_text("email\n" + "".join(f"Pessoa{i}@Exemplo.com.br\n" for i in range(25_000)), "utf-8")
    with load_suppression(path, conn_id=None) as suppressed:
        assert suppressed.on_disk and len(suppressed) == 25_000
        assert "pessoa24999@exemplo.com.br" in suppressed


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("nome\nAna\n", "a.csv", r"suppress: .*a\.csv has no 'email' column \(its columns are \['nome'\]\)"),
        (
            "email\nana@exemplo.com.br\nnao-e-email\n",
            "b.csv",
            r"b\.csv row 2: '\*\*\*' is not a valid e-mail",
        ),
        ("email;nome\n;Ana\n", "c.csv", r"c\.csv row 1: the e-mail address is empty"),
        ('{"email": "a@x.com.br"}\n{quebrado\n', "d.jsonl", r"d\.jsonl line 2 is not valid JSON"),
        ('{"email": "a@x.com.br"}\n["a@x.com.br"]\n', "e.jsonl", r"e\.jsonl line 2 is not a JSON object"),
        ('{"nome": "Ana"}\n', "f.jsonl", r"f\.jsonl line 1 has no 'email' field"),
        ('{"email": 7}\n', "g.jsonl", r"g\.jsonl line 1: expected an e-mail address, got a int"),
        ("", "h.csv", r"suppress: .*h\.csv: the CSV source is empty"),
    ],
)
def test_bad_files_name_the_source_and_the_row(tmp_path, text, name, message):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(EmailBRInputError, match=message):
        load_suppression(str(path), conn_id=None)


def test_invalid_address_is_masked_in_the_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("email\nana.silva@@exemplo.com.br\n", "utf-8")
    with pytest.raises(EmailBRInputError) as caught:
        load_suppression(path, conn_id=None)
    assert "ana.silva" not in str(caught.value) and "a***@exemplo.com.br" in str(caught.value)


def test_missing_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(EmailBRInputError, match=r"suppress: the file '.*nada\.csv' does not exist"):
        load_suppression(str(tmp_path / "nada.csv"), conn_id=None)
    with pytest.raises(EmailBRInputError, match=r"cannot tell the format of .*lista\.txt.*\.csv or \.jsonl"):
        load_suppression(str(tmp_path / "lista.txt"), conn_id=None)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email\njoão@exemplo.com.br\n".encode("latin-1"))
    with pytest.raises(EmailBRInputError, match=r"suppress: .*latin\.csv.*UTF-8"):
        load_suppression(latin, conn_id=None)
    folder = tmp_path / "pasta.csv"
    folder.mkdir()
    with pytest.raises(EmailBRInputError, match=r"suppress: cannot read .*pasta\.csv"):
        load_suppression(folder, conn_id=None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ana@exemplo.com.br", r"'a\*\*\*@exemplo\.com\.br' looks like one address, not a file"),
        ({"email": "ana@exemplo.com.br"}, "expected a list of addresses .* got dict"),
        (42, "got int"),
        (b"ana@exemplo.com.br", "got bytes"),
        (["ana@exemplo.com.br", None], r"item 2: expected an e-mail address, got empty"),
        (["ana@exemplo.com.br", "sem arroba"], r"item 2: '\*\*\*' is not a valid e-mail address"),
        ([{"nome": "Ana"}], r"item 1 has no 'email' field"),
    ],
)
def test_bad_iterables_and_values_are_refused(spec, message):
    with pytest.raises(EmailBRInputError, match=message):
        load_suppression(spec, conn_id=None)
