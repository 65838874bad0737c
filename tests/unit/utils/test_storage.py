"""Row files: format detection, CSV formula neutralisation, JSON Lines, local and object-storage paths.

The properties at the end feed hostile cells (formulas, lone surrogates, odd line separators) and hostile
bytes (non-UTF-8, BOM, mixed line endings, one gigantic line, deep nesting) through the writer and reader.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.storage import (
    BadJsonLine,
    RowWriter,
    detect_format,
    iter_jsonl,
    neutralise_formula,
    open_text,
    parse_jsonl_lines,
)
from tests.strategies import ANY_CHAR, HOSTILE_SETTINGS, HOSTILE_TEXT, is_utf8_encodable


def test_detect_format():
    assert detect_format("a/b.CSV") == "csv"
    assert detect_format("s3://b/k.jsonl") == "jsonl"
    assert detect_format("x.txt", "JSONL") == "jsonl"
    with pytest.raises(EmailBRInputError, match="cannot tell the format of 'x.txt'"):
        detect_format("x.txt")
    with pytest.raises(EmailBRInputError, match="'xml' is not supported"):
        detect_format("x.csv", "xml")


def test_csv_neutralises_formulas_and_appends_without_second_header(tmp_path):
    out = tmp_path / "sub" / "r.csv"
    with RowWriter(out, columns=["email", "reason"]) as w:
        w.write({"email": '=HYPERLINK("http://x")', "reason": "+1", "extra": "ignored"})
        w.write({"email": "ok@x.com", "reason": "@SUM(A1)"})
    with RowWriter(out, columns=["email", "reason"], append=True) as w:
        w.write({"email": "-2", "reason": "fine"})
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows == [
        {"email": '\'=HYPERLINK("http://x")', "reason": "'+1"},
        {"email": "ok@x.com", "reason": "'@SUM(A1)"},
        {"email": "'-2", "reason": "fine"},
    ]


def test_jsonl_round_trip_through_object_storage_uri(tmp_path):
    uri = f"file://{tmp_path}/out/results.jsonl"
    with RowWriter(uri) as w:
        w.write({"to": "ã@x.com", "n": 1})
    with RowWriter(uri, append=True) as w:
        w.write({"to": "b@x.com", "n": 2})
    assert list(iter_jsonl(uri)) == [{"to": "ã@x.com", "n": 1}, {"to": "b@x.com", "n": 2}]
    assert list(iter_jsonl(tmp_path / "missing.jsonl")) == []
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n[1]\n')
    with pytest.raises(EmailBRInputError, match="line 2 is not a JSON object"):
        list(iter_jsonl(tmp_path / "bad.jsonl"))


def test_open_text_strips_bom_and_reads_latin1(tmp_path):
    utf = tmp_path / "u.csv"
    utf.write_bytes("\ufeffemail;nome\na@x.com;João\n".encode())
    assert open_text(utf).readline() == "email;nome\n"
    latin = tmp_path / "l.csv"
    latin.write_bytes("email;nome\na@x.com;João\n".encode("latin-1"))
    handle = open_text(latin, encoding="latin-1")
    handle.readline()
    assert handle.readline() == "a@x.com;João\n"
    with pytest.raises(EmailBRInputError, match="does not exist"):
        open_text(tmp_path / "nope.csv")


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_atomic_writer_replaces_the_file_only_when_the_block_succeeds(tmp_path, uri):
    target = tmp_path / "relatorio.csv"
    where = f"file://{target}" if uri else target
    with RowWriter(where, columns=["a"], atomic=True) as writer:
        writer.write({"a": 1})
        assert not target.exists()  # nothing where the complete file is expected until the end
    assert target.read_bytes() == b"a\r\n1\r\n"
    with pytest.raises(RuntimeError), RowWriter(where, columns=["a"], atomic=True) as writer:
        writer.write({"a": 2})
        raise RuntimeError("the export failed half-way")
    assert target.read_bytes() == b"a\r\n1\r\n"  # the earlier complete file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relatorio.csv"]  # no partial file left


def test_atomic_writer_cannot_append():
    with pytest.raises(EmailBRInputError, match="append"):
        RowWriter("x.jsonl", append=True, atomic=True)


def test_one_jsonl_parser_strict_for_files_lenient_for_contact_sources(tmp_path):
    lines = ['{"a": 1}\n', "   \n", "{quebrado\n", '"texto"\n']
    parsed = list(parse_jsonl_lines(lines))
    assert parsed[0] == (1, {"a": 1})
    assert parsed[1][0] == 3 and isinstance(parsed[1][1], BadJsonLine) and parsed[1][1].line == 3
    assert parsed[2] == (4, "texto")
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n{quebrado\r\n')
    with pytest.raises(EmailBRInputError, match=r"line 3 is not valid JSON \(Expecting property name"):
        list(iter_jsonl(path))
    path.write_bytes(b'{"a": 1}\n{"b": "\xe3"}\n')
    with pytest.raises(EmailBRInputError, match="line 2 is not UTF-8 text"):
        list(iter_jsonl(path))


# ------------------------------------------------------------------------------------------ hostile input

CELL = st.one_of(HOSTILE_TEXT, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans())
COLUMNS = ["email", "nome", "data", "motivo"]
ROWS = st.lists(st.fixed_dictionaries({c: CELL for c in COLUMNS}), max_size=6)
LINE_ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@HOSTILE_SETTINGS
@given(rows=ROWS)
def test_csv_writer_round_trips_every_row_with_formulas_neutralised(tmp_path, counter, rows):
    path = tmp_path / f"out{next(counter)}.csv"
    with RowWriter(path, columns=COLUMNS) as writer:
        writer.write_all(rows)
    assert writer.rows == len(rows)
    with path.open(encoding="utf-8", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == len(rows)
    for written, back in zip(rows, read, strict=True):
        for column in COLUMNS:
            value = written[column]
            expected = "" if value is None else str(value)
            if not is_utf8_encodable(expected):
                expected = expected.encode("utf-8", "backslashreplace").decode("utf-8")
            cell = back[column]
            if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
                assert cell == "'" + expected
            else:
                assert cell == expected
            assert not cell.startswith(("=", "+", "-", "@")) or not isinstance(value, str)


@HOSTILE_SETTINGS
@given(rows=st.lists(st.dictionaries(st.text(ANY_CHAR, max_size=5), CELL, max_size=4), max_size=6))
def test_jsonl_writer_and_reader_round_trip_exotic_text(tmp_path, counter, rows):
    path = tmp_path / f"out{next(counter)}.jsonl"
    with RowWriter(path) as writer:
        writer.write_all(rows)
    assert list(iter_jsonl(path)) == rows  # lone surrogates come back from their \uXXXX escapes
    # one record per line for any reader, also those that split on U+0085, U+2028 and U+2029
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    assert [json.loads(line) for line in text.splitlines()] == rows


def test_neutralise_formula_leaves_other_values_alone():
    assert neutralise_formula(5) == 5
    assert neutralise_formula(None) is None
    assert neutralise_formula("ok=1") == "ok=1"
    assert neutralise_formula("\r=1") == "'\r=1"


@HOSTILE_SETTINGS
@given(
    objects=st.lists(st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=5)), max_size=5),
    endings=st.lists(LINE_ENDINGS, min_size=5, max_size=5),
    bom=st.booleans(),
)
def test_jsonl_reader_accepts_a_bom_and_mixed_line_endings(tmp_path, counter, objects, endings, bom):
    text = "".join(json.dumps(o, ensure_ascii=False) + e for o, e in zip(objects, endings, strict=False))
    path = tmp_path / f"in{next(counter)}.jsonl"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    assert list(iter_jsonl(path)) == objects


@HOSTILE_SETTINGS
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [
                b"",
                b"\xef\xbb\xbf",
                b"\xff\xfe{}",
                b'{"a": "\xe9"}\n',
                b"[" * 50_000 + b"]" * 50_000,
                b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                b'{"a": 1}\r\n[1]\r\n',
                b'{"a": 1',
                b"null\n",
                b'"text"\n',
                b"{}" + b" " * 300_000 + b"\n",
            ]
        ),
    )
)
def test_jsonl_reader_gives_objects_or_an_error_naming_the_line(tmp_path, counter, data):
    path = tmp_path / f"in{next(counter)}.jsonl"
    path.write_bytes(data)
    try:
        objects = list(iter_jsonl(path))
    except EmailBRInputError as err:
        assert f"{path}: line " in str(err) and len(str(err)) < 600
        return
    assert all(isinstance(o, dict) for o in objects)


@HOSTILE_SETTINGS
@given(st.one_of(st.text(ANY_CHAR, max_size=40), st.sampled_from(["a.CSV", "b.jsonl.gz", "c.ndjson", ""])))
def test_detect_format_names_what_is_supported(name):
    try:
        fmt = detect_format(name)
    except EmailBRInputError as err:
        assert "name it .csv or .jsonl" in str(err)
        return
    assert fmt in ("csv", "jsonl")


def test_datetimes_in_rows_are_written_as_text(tmp_path):
    with RowWriter(tmp_path / "x.jsonl") as writer:
        writer.write({"at": datetime(2030, 1, 1, tzinfo=timezone.utc), "d": timedelta(seconds=1)})
    assert json.loads((tmp_path / "x.jsonl").read_text()) == {
        "at": "2030-01-01 00:00:00+00:00",
        "d": "0:00:01",
    }
