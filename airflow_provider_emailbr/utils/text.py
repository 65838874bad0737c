"""Small readings of user input and vendor text, written once for the whole provider.

- :func:`fold`: compare texts without case, accents or repeated spaces (``Concluído`` = ``concluido``).
- :func:`as_bool`: a flag given as ``True``/``"true"``/``1``/``"sim"`` …, refusing anything else by name.
- :func:`required`: a value that must be given (not ``None``, not blank text).
- :func:`split_list`: ids or names given as ``"a,b"`` or as a list, stripped, without empties or duplicates.
- :func:`read_int`: a whole number a vendor sent as a number or as text, or ``None``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from airflow_provider_emailbr.exceptions import EmailBRInputError

T = TypeVar("T")

#: Words read as true and as false by :func:`as_bool`, folded (English and the vendors' Portuguese).
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "sim", "s"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "nao", "", "none", "null"})


@lru_cache(maxsize=512)
def fold(text: str) -> str:
    """``text`` lower-cased (``casefold``), without accents, with runs of white space made one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def as_bool(value: Any, *, field: str) -> bool:
    """``value`` as a boolean: a ``bool``, ``0``/``1``, ``None`` (false), or a word of :data:`TRUE_WORDS` /
    :data:`FALSE_WORDS` in any case. Anything else is an :class:`EmailBRInputError` naming ``field``."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = fold(value)
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise EmailBRInputError(f"{field}: {value!r} is not a boolean; use true or false (1/0, yes/no, sim/não)")


def required(field: str, value: T, *, text: bool = False) -> T:
    """``value`` when it is given: not ``None`` and not blank text (with ``text=True``, also text at all).

    Raises :class:`EmailBRInputError` naming ``field`` and showing the value otherwise.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EmailBRInputError(
            f"{field}: a non-empty {'text' if text else 'value'} is required, got {value!r}"
        )
    if text and not isinstance(value, str):
        raise EmailBRInputError(f"{field}: text is required, got {type(value).__name__} {value!r}")
    return value


def read_int(value: Any) -> int | None:
    """A whole number a vendor sent as a number or as text (``7``, ``"7"``, ``7.0``, ``"7.0"``), or ``None``
    when there is none (``None``, ``""``, ``"abc"``, ``"7.5"``, infinity)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def split_list(field: str, value: Any, *, separators: str = ",") -> list[str]:
    """Ids or names from one string split at any of the characters of ``separators`` (a space there stands
    for any white space), or from a list/tuple/set of texts or integers.

    Items are stripped; empty items and repeats are dropped (first occurrence kept). An empty result, a
    value of another type, or an item that is neither text nor an integer raises :class:`EmailBRInputError`
    naming ``field``.
    """
    if isinstance(value, str):
        chars = re.escape(separators.replace(" ", "")) + (r"\s" if " " in separators else "")
        items: list[Any] = re.split(f"[{chars}]+", value) if chars else [value]
    elif isinstance(value, Iterable) and not isinstance(value, (Mapping, bytes, bytearray)):
        items = list(value)
        bad = [v for v in items if not isinstance(v, (str, int)) or isinstance(v, bool)]
        if bad:
            raise EmailBRInputError(f"{field}: {bad[0]!r} is not an id or a name (text or an integer)")
    else:
        raise EmailBRInputError(
            f"{field}: expected a list or a string separated by {separators!r}, got "
            f"{type(value).__name__} {value!r}"
        )
    out = list(dict.fromkeys(text for text in (str(i).strip() for i in items) if text))
    if not out:
        raise EmailBRInputError(f"{field}: give at least one value, got {value!r}")
    return out
