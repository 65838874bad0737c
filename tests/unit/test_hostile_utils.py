"""Hostile input for the shared validators, parsers and encoders: a clear error or a correct result, never a crash.

Each property feeds exotic text (control characters, lone surrogates, emoji, very long strings), wrong types,
odd bytes (non-UTF-8, BOM, mixed line endings, one gigantic line) and deep nesting to one utility, and checks
that it either returns a correct value or raises the package's documented ``ValueError`` subclass.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.dates import parse_birth_date, to_local
from airflow_provider_emailbr.utils.emailer import split_addresses
from airflow_provider_emailbr.utils.emails import InvalidEmail, normalise_email
from airflow_provider_emailbr.utils.encoding import php_form_encode, php_form_pairs
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.storage import (
    RowWriter,
    detect_format,
    iter_jsonl,
    neutralise_formula,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Any code point, lone surrogates included (what ``json.loads('"\\ud800"')`` can produce).
ANY_CHAR = st.characters(codec=None, categories=None)
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=80),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",
            "a\ud83d@x.com",
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "😀@exemplo.com.br",
            "ana@exemplo.com.br\nBcc: x@y.com",
            "a" * 70_000,
            "ana@" + "x" * 300 + ".com",
            "\ufeffana@exemplo.com.br",
            "ana@exemplo.com.br\u2028",
        ]
    ),
)
WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------------------------------------ e-mails


@FAST
@given(st.one_of(HOSTILE_TEXT, WRONG_TYPES))
def test_normalise_email_accepts_only_clean_addresses(value):
    try:
        result = normalise_email(value)
    except InvalidEmail as err:
        assert isinstance(err, ValueError) and str(err)
        return
    assert isinstance(value, str)
    assert isinstance(result, str) and _encodable(result)
    assert result.isprintable() and not any(c.isspace() for c in result)
    local, _, domain = result.rpartition("@")
    assert local and domain and len(result) <= 254
    assert result.casefold() == value.strip().casefold() or "xn--" in domain or not value.isascii()


@FAST
@given(st.one_of(HOSTILE_TEXT, WRONG_TYPES))
def test_mask_email_never_raises_and_never_shows_the_local_part(value):
    masked = mask_email(value)
    assert isinstance(masked, str)
    text = str(value or "").strip()
    local, sep, domain = text.rpartition("@")
    if sep and local and domain:
        assert masked == f"{local[0]}***@{domain}"  # one character of the local part, never more
    else:
        assert masked == "***"


@FAST
@given(
    st.one_of(
        HOSTILE_TEXT,
        WRONG_TYPES,
        st.lists(st.one_of(HOSTILE_TEXT, WRONG_TYPES), max_size=5),
    )
)
def test_split_addresses_gives_clean_strings_or_a_named_error(value):
    try:
        addresses = split_addresses(value, field="to")
    except EmailBRInputError as err:
        assert str(err).startswith("to: ")
        return
    for address in addresses:
        assert isinstance(address, str) and "@" in address
        assert address.isprintable() and _encodable(address) and address == address.strip()
    assert len({a.lower() for a in addresses}) == len(addresses)


# ------------------------------------------------------------------------------------------ dates

ZONES = st.sampled_from(
    ["America/Sao_Paulo", "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"]
)
DATE_TEXT = st.one_of(
    HOSTILE_TEXT,
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.from_regex(r"\A-?\d{1,20}([-/]\d{1,20}){0,2}([T ]\d{1,3}(:\d{1,3}){0,2})?([+-]\d{2}:?\d{2}|Z)?\Z"),
)


@FAST
@given(
    value=st.one_of(
        DATE_TEXT,
        WRONG_TYPES,
        st.datetimes(timezones=st.none() | st.timezones()),
        st.dates(),
    ),
    zone=ZONES,
)
def test_to_local_returns_an_aware_time_in_the_zone_or_a_named_error(value, zone):
    try:
        result = to_local(value, zone, field="start_at")
    except EmailBRInputError as err:
        assert str(err).startswith("start_at: ")
        return
    assert isinstance(result, pendulum.DateTime)
    assert result.tzinfo is not None and result.timezone_name == zone
    if isinstance(value, datetime) and value.tzinfo is not None:
        assert result == value  # the same instant, only shown in another zone


@FAST
@given(value=st.one_of(st.text(max_size=5), WRONG_TYPES), zone=ZONES)
def test_to_local_refuses_an_unknown_zone_clearly(value, zone):
    with pytest.raises(EmailBRInputError, match="is not an IANA zone name"):
        to_local("2030-01-01T00:00:00", f"Mars/{zone}{value!s:.5}", field="start_at")


@FAST
@given(st.one_of(DATE_TEXT, WRONG_TYPES, st.dates(), st.datetimes()))
def test_parse_birth_date_returns_the_written_date_or_a_named_error(value):
    try:
        result = parse_birth_date(value, field="birthday")
    except EmailBRInputError as err:
        assert str(err).startswith("birthday: ")
        return
    assert type(result) is date
    if isinstance(value, str):
        numbers = [int(n) for n in re.findall(r"\d+", value)]
        assert numbers in ([result.year, result.month, result.day], [result.day, result.month, result.year])


@FAST
@given(st.dates())
def test_parse_birth_date_round_trips_both_written_forms(day):
    assert parse_birth_date(day.isoformat(), field="b") == day
    assert parse_birth_date(f"{day.day:02d}/{day.month:02d}/{day.year:04d}", field="b") == day


# ------------------------------------------------------------------------------------------ encoders

FORM_KEY = st.text(ANY_CHAR.filter(lambda c: c not in "[]"), min_size=1, max_size=8)
FORM_SCALAR = st.one_of(
    st.text(ANY_CHAR, max_size=30), st.integers(), st.booleans(), st.none(), st.dates(), st.floats()
)
FORM_VALUE = st.recursive(
    FORM_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(FORM_KEY, inner, max_size=3)),
    max_leaves=12,
)


@FAST
@given(st.dictionaries(FORM_KEY, FORM_VALUE, max_size=4))
def test_php_form_encoding_round_trips_or_refuses_unencodable_text(data):
    pairs = php_form_pairs(data)
    if all(_encodable(k) and _encodable(v) for k, v in pairs):
        body = php_form_encode(data)
        assert body.isascii()
        decoded = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body))
        assert decoded == pairs
    else:
        with pytest.raises(UnicodeEncodeError):  # the core turns this into EmailBRInputError (below)
            php_form_encode(data)


def test_php_form_encoding_of_deeply_nested_data_fails_cleanly():
    nested: list = []
    for _ in range(5000):
        nested = [nested, "x"]
    with pytest.raises(RecursionError):
        php_form_pairs({"a": nested})  # only reachable from code, not from files: documented as is


# ------------------------------------------------------------------------------------------ storage

CELL = st.one_of(HOSTILE_TEXT, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans())
COLUMNS = ["email", "nome", "data", "motivo"]
ROWS = st.lists(st.fixed_dictionaries({c: CELL for c in COLUMNS}), max_size=6)


@pytest.fixture
def counter():
    return itertools.count()


@FAST
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
            if not _encodable(expected):
                expected = expected.encode("utf-8", "backslashreplace").decode("utf-8")
            cell = back[column]
            if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
                assert cell == "'" + expected
            else:
                assert cell == expected
            assert not cell.startswith(("=", "+", "-", "@")) or not isinstance(value, str)


@FAST
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


LINE_ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@FAST
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


@FAST
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


@FAST
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
    assert json.loads(Path(tmp_path / "x.jsonl").read_text()) == {
        "at": "2030-01-01 00:00:00+00:00",
        "d": "0:00:01",
    }


@pytest.mark.parametrize(
    "text", ["1", "12", "123", "01/02/2025", "23/11/2026 09:30", "amanhã", "2026-11-23 9h"]
)
def test_to_local_refuses_what_is_not_iso_instead_of_guessing(text):
    with pytest.raises(EmailBRInputError, match="is not a date-time; use ISO-8601"):
        to_local(text, "America/Sao_Paulo", field="start_at")
