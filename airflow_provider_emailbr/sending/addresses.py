"""The provider's one e-mail address parser: lists of addresses, with or without display names.

Users write recipients as one string (``a@x.com.br, "Silva, Ana" <ana@x.com.br>; b@y.com``) or as a list of
such strings. Commas and semicolons separate addresses, except inside a quoted display name, a comment or the
angle brackets, so ``"Silva, Ana" <ana@exemplo.com.br>`` stays one address. Each piece is read by the standard
library (:func:`email.utils.parseaddr`); display names are kept as text (never RFC 2047-encoded: the vendors'
JSON APIs carry UTF-8) and written back as ``"Name" <addr>`` by :func:`format_address`.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import parseaddr
from typing import Any, NamedTuple

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.encoding import unsendable_text
from airflow_provider_emailbr.utils.privacy import mask_email

#: Characters that separate addresses in a list written as one string.
SEPARATORS = ",;"


class Address(NamedTuple):
    """One recipient: the bare address and its display name (``None`` when none was given)."""

    email: str
    name: str | None = None

    def formatted(self) -> str:
        """``"Name" <addr>`` (UTF-8 text), or the bare address without a name."""
        return format_address(self.email, self.name)


def format_address(email: str, name: str | None = None) -> str:
    """``"Name" <addr>`` as the vendors document it, the name quoted and kept as UTF-8 text."""
    if not name:
        return email
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{email}>'


def split_address_list(text: str) -> list[str]:
    """Split one string at the commas/semicolons that separate addresses (not those inside quotes,
    comments or angle brackets); pieces are stripped and empty ones dropped."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth_comment = depth_angle = 0
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth_comment):
            escaped = True
        elif char == '"' and not depth_comment:
            quoted = not quoted
        elif not quoted:
            if char == "(":
                depth_comment += 1
            elif char == ")" and depth_comment:
                depth_comment -= 1
            elif char == "<" and not depth_comment:
                depth_angle += 1
            elif char == ">" and depth_angle and not depth_comment:
                depth_angle -= 1
            elif char in SEPARATORS and not depth_comment and not depth_angle:
                pieces.append("".join(current))
                current = []
                continue
        current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


def parse_address(text: str, *, field: str) -> Address:
    """One address (``addr``, ``Name <addr>`` or ``"Name" <addr>``), checked; a clear error otherwise."""
    bad = unsendable_text(text)
    if bad is not None or not text.isprintable():
        raise EmailBRInputError(f"{field}: {mask_email(text)!r} is not an e-mail address")
    name, email = parseaddr(text)
    email = email.strip()
    name = " ".join(name.split())
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or any(c in '<>"(),;\\' for c in email)
        or not email.isprintable()
        or (name and not name.isprintable())
    ):
        raise EmailBRInputError(f"{field}: {mask_email(text)!r} is not an e-mail address")
    return Address(email, name or None)


def parse_addresses(value: str | Iterable[Any] | None, *, field: str = "to") -> list[Address]:
    """Every address of ``value`` (a string list or an iterable of strings), in order, each once.

    Duplicates (same address, case-insensitive) are dropped: each address receives a message once.
    """
    if value is None:
        return []
    if isinstance(value, str):
        texts: list[Any] = split_address_list(value)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        texts = []
        for item in value:
            if not isinstance(item, str):
                raise EmailBRInputError(f"{field}: {item!r} is not an e-mail address (a string is required)")
            texts.extend(split_address_list(item))
    else:
        raise EmailBRInputError(f"{field}: {value!r} is not an address or a list of addresses")
    seen: set[str] = set()
    out: list[Address] = []
    for text in texts:
        address = parse_address(text, field=field)
        if address.email.lower() not in seen:
            seen.add(address.email.lower())
            out.append(address)
    return out


def split_addresses(value: str | Iterable[Any] | None, *, field: str = "to") -> list[str]:
    """The addresses of ``value`` as strings (``"Name" <addr>`` when named), in order, each once."""
    return [a.formatted() for a in parse_addresses(value, field=field)]
