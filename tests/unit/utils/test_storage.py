"""Row files: format detection, CSV formula neutralisation, JSON Lines, local and object-storage paths."""

from __future__ import annotations

import csv

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.storage import (
    BadJsonLine,
    RowWriter,
    detect_format,
    iter_jsonl,
    open_text,
    parse_jsonl_lines,
)


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
