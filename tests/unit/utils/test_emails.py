"""E-mail address validation: the fast path agrees with email-validator, hostile input gets a clear error.

:func:`normalise_email` is checked against the authority (``email-validator``) on address-shaped and on any
text, and against hostile values (control characters, lone surrogates, wrong types). The address-list
splitter the send paths use (:func:`split_addresses`) gets the same hostile values.
"""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.emailer import split_addresses
from airflow_provider_emailbr.utils.emails import InvalidEmail, _library_normalise, normalise_email
from tests.strategies import HOSTILE_SETTINGS, HOSTILE_TEXT, WRONG_TYPES, is_utf8_encodable

ATOM = st.text(alphabet="abcXYZ019.-_+'!#&*=?`{}|~/^%$", min_size=1, max_size=70)
LABEL = st.text(alphabet="abcXYZ019-", min_size=1, max_size=65)
TLD = st.sampled_from(["com", "br", "BR", "test", "local", "c", "co", "x1", "example", "invalid", "Com"])


def _library(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@settings(max_examples=3000, deadline=None)
@given(
    local=ATOM, labels=st.lists(LABEL, min_size=1, max_size=3), tld=TLD, pad=st.sampled_from(["", " ", "\t"])
)
def test_fast_path_agrees_with_library_on_address_shaped_input(local, labels, tld, pad):
    value = f"{pad}{local}@{'.'.join(labels)}.{tld}{pad}"
    expected = _library(value)
    if expected is None:
        with pytest.raises(InvalidEmail):
            normalise_email(value)
    else:
        assert normalise_email(value) == expected


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_the_library_verdict(value):
    expected = _library(value)
    if expected is None:
        with pytest.raises(InvalidEmail):
            normalise_email(value)
    else:
        assert normalise_email(value) == expected


def test_examples():
    assert normalise_email("  Ana.Silva+news@EXEMPLO.com.BR ") == "Ana.Silva+news@exemplo.com.br"
    assert normalise_email("joão@exemplo.com.br") == _library_normalise("joão@exemplo.com.br")
    for bad in ("a@b", "a..b@x.com", "a@x.test", "a@-x.com", "", "@x.com"):
        with pytest.raises(InvalidEmail):
            normalise_email(bad)


@HOSTILE_SETTINGS
@given(st.one_of(HOSTILE_TEXT, WRONG_TYPES))
def test_normalise_email_accepts_only_clean_addresses(value):
    try:
        result = normalise_email(value)
    except InvalidEmail as err:
        assert isinstance(err, ValueError) and str(err)
        return
    assert isinstance(value, str)
    assert isinstance(result, str) and is_utf8_encodable(result)
    assert result.isprintable() and not any(c.isspace() for c in result)
    local, _, domain = result.rpartition("@")
    assert local and domain and len(result) <= 254
    assert result.casefold() == value.strip().casefold() or "xn--" in domain or not value.isascii()


@HOSTILE_SETTINGS
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
        assert address.isprintable() and is_utf8_encodable(address) and address == address.strip()
    assert len({a.lower() for a in addresses}) == len(addresses)
