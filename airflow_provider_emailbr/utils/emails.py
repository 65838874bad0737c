"""E-mail address validation and normalisation (syntax only, no DNS), with ``email-validator`` as authority.

``email-validator`` (shipped with Airflow) decides what is valid. Importing a million contacts calls it a
million times, so the common case — a plain ASCII address such as ``ana.silva+news@exemplo.com.br`` — is
recognised first by a strict pattern that accepts only a subset of what the library accepts, and normalised
the same way (domain lower-cased). Everything else (Unicode, IDNA, quoted or unusual forms, reserved names)
goes to the library. A property test checks that the fast path never accepts what the library refuses and
never normalises differently.
"""

from __future__ import annotations

import re
from functools import cache

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: The common address shape, checked without email_validator (compiled on first use, not at import).
_FAST = rf"({_LOCAL})@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})"

MAX_ADDRESS = 254
MAX_LOCAL = 64


class InvalidEmail(ValueError):
    """The value is not a valid e-mail address; the message says why."""


@cache
def _fast_pattern() -> re.Pattern[str]:
    """:data:`_FAST`, compiled once (``re.fullmatch`` with a text pattern looks its cache up every call)."""
    return re.compile(_FAST)


@cache
def _special_use() -> frozenset[str]:
    import email_validator

    return frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def normalise_email(value: str) -> str:
    """Return the address trimmed, with its domain lower-cased, or raise :class:`InvalidEmail`."""
    if not isinstance(value, str):
        raise InvalidEmail(f"expected text, got {type(value).__name__}")
    text = value.strip()
    match = _fast_pattern().fullmatch(text)
    if match is not None and len(text) <= MAX_ADDRESS and len(match.group(1)) <= MAX_LOCAL:
        domain = match.group(2).lower()
        if "--" not in domain and domain.rsplit(".", 1)[-1] not in _special_use():
            return f"{match.group(1)}@{domain}"
    return _library_normalise(text)


def _library_normalise(text: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise InvalidEmail(str(err)) from None
