"""Request body encodings that the vendors need and common libraries do not produce.

IAGENTEmail reads its POST bodies the way PHP reads ``$_POST``: nested arrays travel as bracketed keys,
``contacts[0][email]=a%40b.com&contacts[0][name]=Ana``. :func:`php_form_encode` produces exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus


def _scalar(value: Any) -> str:
    if isinstance(value, bool):  # PHP's http_build_query: true -> "1", false -> "0"
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def unsendable_text(value: Any) -> str | None:
    """The first character of ``value`` that no request can carry (a lone surrogate), or ``None``.

    JSON escapes such as ``"\\ud800"`` produce such strings; UTF-8 cannot encode them, so a request holding
    one cannot be built. Validators call this to refuse the value with a message naming its field.
    """
    if not isinstance(value, str) or value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return value[err.start : err.end]
    return None


def php_form_pairs(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested mappings and sequences into PHP bracket keys, in order.

    ``None`` values are left out (PHP has no way to send them); empty strings are kept; lists and tuples
    are indexed from 0; nested mappings use their own keys.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        _flatten(f"{prefix}[{key}]" if prefix else str(key), value, pairs)
    return pairs


def _flatten(name: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Append ``(bracket key, text)`` pairs for ``value`` (no generators: imports flatten millions)."""
    if type(value) is str:
        out.append((name, value))
    elif value is None:
        return
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{name}[{key}]", item, out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _flatten(f"{name}[{index}]", item, out)
    else:
        out.append((name, _scalar(value)))


@lru_cache(maxsize=8192)
def _quoted_key(key: str) -> str:
    """Keys repeat across requests (``contacts[0][email]`` …): quote each once."""
    return quote_plus(key, safe="[]")


#: ASCII characters percent-encoded the way ``quote_plus`` does (space becomes ``+``), for ``str.translate``.
_ASCII_QUOTING = {
    code: ("+" if code == 32 else f"%{code:02X}")
    for code in range(128)
    if not (chr(code).isalnum() or chr(code) in "_.-~")
}


def _quote_value(value: str) -> str:
    """``quote_plus(value)``, with a faster path for ASCII text (the bulk of a contact import)."""
    return value.translate(_ASCII_QUOTING) if value.isascii() else quote_plus(value)


def php_form_encode(data: Mapping[str, Any]) -> bytes:
    """Encode ``data`` as an ``application/x-www-form-urlencoded`` body with PHP bracket keys (UTF-8)."""
    pairs = php_form_pairs(data)
    return "&".join(f"{_quoted_key(k)}={_quote_value(v)}" for k, v in pairs).encode("ascii")
