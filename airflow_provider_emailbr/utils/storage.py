"""Row files in and out: local paths or any ``ObjectStoragePath`` (``file://``, ``s3://``, ``gs://`` …).

Operators read contacts and write reports, rejected rows and send results as CSV or JSON Lines, streamed
one row at a time (never a whole file in memory). CSV output neutralises spreadsheet formulas: a cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe, so opening a report
in a spreadsheet never runs anything (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from airflow_provider_emailbr.exceptions import EmailBRInputError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

FORMATS = ("csv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_path(path: str | Path | ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath | Path:
    """A local ``Path`` for plain paths; an ``ObjectStoragePath`` (with ``conn_id``) for URIs."""
    if isinstance(path, Path):
        return path
    text = str(path)
    if "://" not in text:
        return Path(text)
    from airflow.sdk import ObjectStoragePath

    if not isinstance(path, ObjectStoragePath) or conn_id:
        return ObjectStoragePath(text, conn_id=conn_id)
    return path


def detect_format(
    path: str | Path | ObjectStoragePath, given: str | None = None, *, field: str = "format"
) -> str:
    """``csv`` or ``jsonl``: ``given`` when set, else from the file name's extension."""
    if given:
        fmt = given.lower().replace("json_lines", "jsonl").replace("ndjson", "jsonl")
        if fmt not in FORMATS:
            raise EmailBRInputError(f"{field}: {given!r} is not supported; use csv or jsonl")
        return fmt
    name = str(path).lower()
    for ext, fmt in _EXTENSIONS.items():
        if name.endswith(ext) or name.endswith(ext + ".gz"):
            return fmt
    raise EmailBRInputError(
        f"{field}: cannot tell the format of {str(path)!r} from its extension; name it .csv or .jsonl, "
        "or pass the format explicitly"
    )


def neutralise_formula(value: Any) -> Any:
    """Prefix a string that a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class RowWriter:
    """Write dict rows to CSV (header from ``columns``) or JSON Lines, one row at a time.

    Use as a context manager; ``append=True`` adds to an existing file (a CSV header is then written only
    when the file was empty). Counts rows written in :attr:`rows`. ``atomic=True`` writes to a sibling
    ``<name>.partial`` and moves it over ``path`` only when the block ends without an error, so a failed
    task never leaves a partial file where a complete one is expected (an earlier complete file stays).
    """

    def __init__(
        self,
        path: str | Path | ObjectStoragePath,
        *,
        columns: Sequence[str] | None = None,
        fmt: str | None = None,
        conn_id: str | None = None,
        append: bool = False,
        atomic: bool = False,
    ) -> None:
        if atomic and append:
            raise EmailBRInputError("a RowWriter cannot both append and replace atomically")
        self.path = as_path(path, conn_id)
        self.format = detect_format(path, fmt, field="output format")
        if self.format == "csv" and not columns:
            raise EmailBRInputError("CSV output needs its columns")
        self.columns = list(columns or [])
        self.append = append
        self.atomic = atomic
        self._target = self.path.with_name(self.path.name + ".partial") if atomic else self.path
        self.rows = 0
        self._handle: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> RowWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        had_content = self.append and self.path.exists() and self.path.stat().st_size > 0
        # text that UTF-8 cannot encode (a lone surrogate, from a JSON escape such as \ud800) is written
        # backslash-escaped: never a crash halfway through a report
        self._handle = self._target.open(
            "a" if self.append else "w", encoding="utf-8", errors="backslashreplace", newline=""
        )
        if self.format == "csv":
            self._csv = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="ignore")
            if not had_content:
                self._csv.writeheader()
        return self

    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row (CSV cells neutralised; JSON Lines as compact UTF-8 JSON)."""
        assert self._handle is not None, "use RowWriter as a context manager"
        if self.format == "csv":
            self._csv.writerow({k: neutralise_formula(_cell(row.get(k))) for k in self.columns})
        else:
            self._handle.write(json_line(row) + "\n")
        self.rows += 1

    def flush(self) -> None:
        """Push written rows to the file (results files are read back by a retried task)."""
        if self._handle is not None:
            self._handle.flush()

    def write_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write every row of ``rows``."""
        for row in rows:
            self.write(row)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.atomic:
            if exc_type is None:
                self._target.replace(self.path)
            else:
                self._target.unlink(missing_ok=True)


#: Characters JSON leaves unescaped that many line readers (Python's ``str.splitlines``, some editors and
#: log shippers) take for line ends; escaping them keeps one record per line for every reader.
_LINE_BREAKING = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(record: Mapping[str, Any]) -> str:
    """One JSON Lines record: compact UTF-8 JSON with no character any reader could split the line on."""
    return json.dumps(dict(record), ensure_ascii=False, default=str).translate(_LINE_BREAKING)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


class BadJsonLine(NamedTuple):
    """A JSON Lines line that could not be parsed: its line number and why (for a report, not a crash)."""

    line: int
    error: str


def parse_jsonl_lines(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """The one JSON Lines parser: ``(line number, parsed value)`` for every non-blank line of ``lines``.

    A line that is not JSON (or is nested too deeply to parse) gives a :class:`BadJsonLine` in place of the
    value, so each caller decides: :func:`iter_jsonl` stops with an error, a contact source reports the row.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except (ValueError, RecursionError) as err:
            reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)[:200]
            yield number, BadJsonLine(number, reason)


def iter_jsonl(
    path: str | Path | ObjectStoragePath, *, conn_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSON Lines file; a missing file yields nothing; a bad line is an error.

    A leading UTF-8 BOM is ignored. Bytes that are not UTF-8, a line that is not JSON (or nested too deeply
    to parse) and a value that is not an object raise :class:`EmailBRInputError` naming the line.
    """
    target = as_path(path, conn_id)
    if not target.exists():
        return
    with target.open("rb") as raw:
        for number, value in parse_jsonl_lines(_utf8_lines(target, raw)):
            if isinstance(value, BadJsonLine):
                raise EmailBRInputError(f"{target}: line {number} is not valid JSON ({value.error})")
            if not isinstance(value, dict):
                raise EmailBRInputError(
                    f"{target}: line {number} is not a JSON object (got {type(value).__name__})"
                )
            yield value


def _utf8_lines(target: Any, raw: IO[bytes]) -> Iterator[str]:
    """The text lines of a UTF-8 byte stream, split on ``\\n``, ``\\r\\n`` and ``\\r`` only (as JSON Lines
    readers do; JSON escapes every other line break inside a text); a leading BOM is dropped."""
    number = 0
    for data in raw:  # bytes up to each \n; a raw \r (never inside a JSON text) also ends a line
        try:
            text = data.decode("utf-8-sig" if number == 0 else "utf-8")
        except UnicodeDecodeError as err:
            raise EmailBRInputError(
                f"{target}: line {number + 1} is not UTF-8 text (byte {err.start} of the line); write "
                "the file as UTF-8"
            ) from None
        for line in text.replace("\r\n", "\n").split("\r"):
            number += 1
            yield line


def open_text(
    path: str | Path | ObjectStoragePath, *, encoding: str = "utf-8", conn_id: str | None = None
) -> IO[str]:
    """Open a file for streaming text reads; ``utf-8`` also strips a leading BOM."""
    target = as_path(path, conn_id)
    if not target.exists():
        raise EmailBRInputError(f"source file {str(path)!r} does not exist")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    raw = target.open("rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")
