"""Row sources: CSV delimiter detection and bad records, JSON Lines through the one parser, SQL via common-sql."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.sources import (
    EXTRA_CELLS,
    FileSource,
    IterableSource,
    SqlSource,
    db_hook,
    iter_csv,
    iter_jsonl_rows,
)
from airflow_provider_emailbr.utils.storage import BadJsonLine


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_csv_delimiter_is_detected_from_the_header(delimiter):
    text = delimiter.join(["email", "nome"]) + "\n" + delimiter.join(["ana@exemplo.com.br", "Ana"]) + "\n"
    assert list(iter_csv(io.StringIO(text), None)) == [{"email": "ana@exemplo.com.br", "nome": "Ana"}]


def test_csv_keeps_extra_cells_and_skips_blank_lines():
    text = "email;nome\na@x.com.br;A;sobra\n\n;\nb@x.com.br\n"
    assert list(iter_csv(io.StringIO(text), ";")) == [
        {"email": "a@x.com.br", "nome": "A", EXTRA_CELLS: ["sobra"]},
        {"email": "b@x.com.br"},
    ]


def test_jsonl_rows_give_bad_lines_as_markers_and_other_values_as_they_are():
    lines = ['{"email": "a@x.com.br"}\n', "\n", "{quebrado\n", "[1, 2]\n", "[" * 5000 + "]" * 5000 + "\n"]
    rows = list(iter_jsonl_rows(lines))
    assert rows[0] == {"email": "a@x.com.br"}
    assert isinstance(rows[1], BadJsonLine) and rows[1].line == 3
    assert rows[2] == [1, 2]
    assert rows[3] == BadJsonLine(5, "nested too deeply")
    assert len(rows) == 4  # the blank line is not a row


def test_file_source_reads_latin1_csv_and_names_the_encoding_fix(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("email;nome\nana@exemplo.com.br;João\n".encode("latin-1"))
    assert list(FileSource(str(path), encoding="latin-1").rows()) == [
        {"email": "ana@exemplo.com.br", "nome": "João"}
    ]
    with pytest.raises(EmailBRInputError, match="is not valid utf-8 text near byte .* encoding='latin-1'"):
        list(FileSource(str(path)).rows())


def test_file_source_reads_jsonl_with_a_bom(tmp_path):
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"email": "a@x.com.br"}).encode() + b"\r\n")
    assert list(FileSource(str(path)).rows()) == [{"email": "a@x.com.br"}]


def test_iterable_source_knows_its_size_only_for_sequences():
    assert IterableSource([{"email": "a"}]).size_hint() == 1
    assert IterableSource(iter([{"email": "a"}])).size_hint() is None
    assert IterableSource([]).fixed_columns is False


def test_sql_source_streams_rows_of_a_common_sql_connection(tmp_path, monkeypatch):
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE c (email TEXT, nome TEXT)")
        conn.executemany("INSERT INTO c VALUES (?, ?)", [(f"c{i}@x.com.br", f"C {i}") for i in range(5)])
    monkeypatch.setenv("AIRFLOW_CONN_CRM_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    source = SqlSource("SELECT email, nome FROM c WHERE nome <> ? ORDER BY rowid", "crm_db", ["C 2"], 2)
    assert list(source.rows()) == [{"email": f"c{i}@x.com.br", "nome": f"C {i}"} for i in (0, 1, 3, 4)]


def test_sql_source_refuses_a_connection_that_is_not_a_database(set_connection):
    set_connection("iagente_default", conn_type="iagente_email", password="ik")
    with pytest.raises(
        EmailBRInputError, match="the hook of 'iagente_default' is IAgenteEmailHook, not a database hook"
    ):
        db_hook("iagente_default")
