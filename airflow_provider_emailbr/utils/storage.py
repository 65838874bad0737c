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
from typing import IO, TYPE_CHECKING, Any

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
    when the file was empty). Counts rows written in :attr:`rows`.
    """

    def __init__(
        self,
        path: str | Path | ObjectStoragePath,
        *,
        columns: Sequence[str] | None = None,
        fmt: str | None = None,
        conn_id: str | None = None,
        append: bool = False,
    ) -> None:
        self.path = as_path(path, conn_id)
        self.format = detect_format(path, fmt, field="output format")
        if self.format == "csv" and not columns:
            raise EmailBRInputError("CSV output needs its columns")
        self.columns = list(columns or [])
        self.append = append
        self.rows = 0
        self._handle: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> RowWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        had_content = self.append and self.path.exists() and self.path.stat().st_size > 0
        self._handle = self.path.open("a" if self.append else "w", encoding="utf-8", newline="")
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
            self._handle.write(json.dumps(dict(row), ensure_ascii=False, default=str) + "\n")
        self.rows += 1

    def flush(self) -> None:
        """Push written rows to the file (results files are read back by a retried task)."""
        if self._handle is not None:
            self._handle.flush()

    def write_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write every row of ``rows``."""
        for row in rows:
            self.write(row)

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def iter_jsonl(
    path: str | Path | ObjectStoragePath, *, conn_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSON Lines file; a missing file yields nothing; a bad line is an error."""
    target = as_path(path, conn_id)
    if not target.exists():
        return
    with target.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as err:
                raise EmailBRInputError(f"{target}: line {number} is not valid JSON ({err})") from None
            if not isinstance(value, dict):
                raise EmailBRInputError(f"{target}: line {number} is not a JSON object")
            yield value


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
