"""One raw row into one contact: column mapping, validation and normalisation, or a precise rejection.

A platform describes its fields as :class:`FieldSpec` (name, kind, well-known source column names); a
:class:`RowNormaliser` finds, per set of row columns, where each field is read from, and turns a raw row
into a :class:`Contact` (the e-mail normalised, dates as ``date``, ``sexo`` as ``m``/``f``, text stripped)
or raises :class:`RowRejected` with a short reason code and a message saying what is wrong.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.sources import EXTRA_CELLS
from airflow_provider_emailbr.utils.dates import parse_birth_date
from airflow_provider_emailbr.utils.emails import InvalidEmail, normalise_email
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.records import Record
from airflow_provider_emailbr.utils.storage import BadJsonLine

if TYPE_CHECKING:
    from airflow_provider_emailbr.importing.staging import SyncState

#: Column names read as the e-mail when reporting a row that could not be normalised.
_EMAIL_COLUMNS = ("email", "e-mail", "e_mail", "mail")
#: Accepted spellings of ``sexo``, by the platform value.
_SEXO = {
    "m": "m",
    "masculino": "m",
    "male": "m",
    "homem": "m",
    "h": "m",
    "f": "f",
    "feminino": "f",
    "female": "f",
    "mulher": "f",
}


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block, then restore it as it was.

    For the hot loops of an import (reading, validating, encoding and decoding a batch): a batch creates
    thousands of small dicts and lists, none of them in a reference cycle, yet their allocations set off
    one generation-0, 1 or 2 collection after another, each scanning every object still alive. Re-entrant
    (an inner block leaves the collector paused for the outer one) and exception-safe. Keep the block to
    work done in the calling thread: the collector is paused for every thread meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RowRejected(Exception):
    """A row that cannot be imported: ``reason`` is a short code, ``message`` says what is wrong."""

    def __init__(self, reason: str, message: str, vendor_message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.vendor_message = vendor_message


class FieldSpec(NamedTuple):
    """One platform field: its kind (``email``, ``text``, ``date``, ``sexo``) and the source columns that
    feed it by default (compared case-insensitively)."""

    name: str
    kind: str = "text"
    aliases: tuple[str, ...] = ()


class Contact(Record):
    """One validated contact ready to send: its source row number, e-mail and platform fields.

    ``sync`` is what the previous snapshot knows of it (platform id, changed parts); ``None`` when the
    contact is new or the run keeps no snapshot.
    """

    __slots__ = ("custom", "email", "fields", "row", "sync")
    _masked = frozenset({"email"})

    def __init__(
        self,
        row: int,
        email: str,
        fields: dict[str, Any],
        custom: dict[str, Any] | None = None,
        sync: SyncState | None = None,
    ) -> None:
        self.row = row
        self.email = email
        self.fields = fields
        self.custom = custom if custom is not None else {}
        self.sync = sync


#: Where the fields of rows with a given set of columns are read from: the e-mail column (``None`` when
#: the rows have none), ``[(field, column)]`` and ``[(custom field, column)]``.
ColumnPlan = tuple[Any, list[tuple[FieldSpec, Any]], list[tuple[str, Any]]]


class RowNormaliser:
    """Turn raw rows into :class:`Contact` objects for one platform, or reject them.

    :param fields_spec: the platform's fields, the e-mail first.
    :param platform: the platform's name, for messages.
    :param field_mapping: ``{platform field: source column}``; unmapped fields are read from a same-named or
        well-known column (:attr:`FieldSpec.aliases`).
    :param custom_columns: ``{custom field: source column}`` (platforms with custom fields).
    """

    def __init__(
        self,
        fields_spec: tuple[FieldSpec, ...],
        *,
        platform: str,
        field_mapping: Mapping[str, str] | None = None,
        custom_columns: Mapping[str, str] | None = None,
    ) -> None:
        self.fields_spec = fields_spec
        self.platform = platform
        self.field_mapping = dict(field_mapping or {})
        self.custom_columns = dict(custom_columns or {})
        self._plans: dict[tuple[Any, ...], ColumnPlan] = {}  # CSV rows all share one

    def column_map(self, columns: Iterable[str]) -> dict[str, str]:
        """``{platform field: source column}`` from ``field_mapping`` and the well-known column names."""
        by_lower = {str(c).strip().lower(): c for c in columns}
        mapping: dict[str, str] = {}
        for spec in self.fields_spec:
            if spec.name in self.field_mapping:
                mapping[spec.name] = self.field_mapping[spec.name]
                continue
            for alias in (spec.name, *spec.aliases):
                if alias.lower() in by_lower:
                    mapping[spec.name] = by_lower[alias.lower()]
                    break
        return mapping

    def check_columns(self, first_row: Any) -> None:
        """Files and queries have fixed columns: without an e-mail column, stop before sending anything."""
        if not isinstance(first_row, Mapping):
            return
        columns = [str(c) for c in first_row if c != EXTRA_CELLS]
        if self.column_map(columns).get("email") not in columns:
            aliases = ", ".join((self.fields_spec[0].name, *self.fields_spec[0].aliases))
            raise EmailBRInputError(
                f"the source has no e-mail column (looked for {aliases}); its columns are {columns}; "
                "map one with field_mapping={'email': '<column>'}"
            )

    def normalise(self, number: int, raw: Any) -> Contact:
        """The contact of row ``number``, or :class:`RowRejected` saying why the row cannot be imported."""
        if isinstance(raw, BadJsonLine):
            raise RowRejected("malformed_line", f"line is not valid JSON ({raw.error})")
        if not isinstance(raw, Mapping):
            raise RowRejected(
                "not_a_mapping", f"expected a mapping of column to value, got {type(raw).__name__}"
            )
        if EXTRA_CELLS in raw:
            raise RowRejected("extra_cells", f"row has {len(raw[EXTRA_CELLS])} more cell(s) than the header")
        keys = tuple(raw)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = self._plan(keys)
        email_column, field_columns, custom_columns = plan
        if email_column is None:
            missing = self.field_mapping.get("email", "email")
            raise RowRejected(
                "missing_email", f"no e-mail column {missing!r} (row columns: {sorted(map(str, raw))})"
            )
        email = _email(raw[email_column])
        fields: dict[str, Any] = {}
        for spec, column in field_columns:
            value = raw[column]
            if type(value) is str and spec.kind == "text":  # the common case, kept cheap
                value = value.strip()
                if value:
                    fields[spec.name] = value if value.isascii() else _unicode(spec.name, value)
                continue
            value = _normalise_value(spec, value)
            if value is not None:
                fields[spec.name] = value
        custom = {}
        for name, column in custom_columns:
            if raw[column] not in (None, ""):
                custom[name] = _text(name, raw[column])
        return Contact(row=number, email=email, fields=fields, custom=custom)

    def _plan(self, keys: tuple[Any, ...]) -> ColumnPlan:
        mapping = self.column_map(keys)
        present = set(keys)
        email_column = mapping.get("email")
        fields = [
            (spec, mapping[spec.name]) for spec in self.fields_spec[1:] if mapping.get(spec.name) in present
        ]
        custom = [(name, column) for name, column in self.custom_columns.items() if column in present]
        return (email_column if email_column in present else None), fields, custom


def raw_email(raw: Any) -> str:
    """The e-mail cell of a raw row as given (cut to 320 characters), for the rejected-rows report."""
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            if str(key).strip().lower() in _EMAIL_COLUMNS:
                return str(value)[:320] if value is not None else ""
    return ""


def safe_row(raw: Any) -> dict[str, Any] | None:
    """A raw row as text cells cut to 500 characters, for the rejected-rows report."""
    if isinstance(raw, Mapping):
        return {str(k): (str(v)[:500] if v is not None else None) for k, v in raw.items()}
    return None


def _email(value: Any) -> str:
    if value is None or not str(value).strip():
        raise RowRejected("missing_email", "email: empty")
    if not isinstance(value, str):
        raise RowRejected("invalid_email", f"email: expected text, got {type(value).__name__}")
    try:
        return normalise_email(value)
    except InvalidEmail as err:
        raise RowRejected("invalid_email", f"email: {mask_email(value)} is not valid ({err})") from None


def _normalise_value(spec: FieldSpec, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if spec.kind == "date":
        if isinstance(value, str) and "T" in value:
            try:
                return datetime.fromisoformat(value.strip()).date()
            except ValueError:
                pass
        if not isinstance(value, (str, date)):
            raise RowRejected("invalid_date", f"{spec.name}: expected a date, got {type(value).__name__}")
        try:
            return parse_birth_date(value, field=spec.name)
        except EmailBRInputError as err:
            raise RowRejected("invalid_date", str(err)) from None
    if spec.kind == "sexo":
        normalised = _SEXO.get(str(value).strip().lower())
        if normalised is None:
            raise RowRejected(
                "invalid_sexo", f"{spec.name}: {str(value)[:40]!r} is not m/f (masculino/feminino)"
            )
        return normalised
    return _text(spec.name, value)


def _text(name: str, value: Any) -> str:
    if isinstance(value, (dict, list, tuple, set)):
        raise RowRejected("invalid_value", f"{name}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text if text.isascii() else _unicode(name, text)


def _unicode(name: str, text: str) -> str:
    """``text`` if UTF-8 can encode it; a lone surrogate (a JSON ``\\ud800`` escape) rejects the row."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RowRejected(
            "invalid_value",
            f"{name}: holds {text[err.start : err.end]!r} at position {err.start}, a lone surrogate that is "
            "not a character; only valid Unicode text can be sent",
        ) from None
    return text


__all__ = [
    "Contact",
    "FieldSpec",
    "RowNormaliser",
    "RowRejected",
    "collection_paused",
    "raw_email",
    "safe_row",
]
