"""The e-mail fast path agrees with email-validator, the authority, on every input."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.utils.emails import InvalidEmail, _library_normalise, normalise_email

ATOM = st.text(alphabet="abcXYZ019.-_+'!#&*=?`{}|~/^%$", min_size=1, max_size=70)
LABEL = st.text(alphabet="abcXYZ019-", min_size=1, max_size=65)
TLD = st.sampled_from(["com", "br", "BR", "test", "local", "c", "co", "x1", "example", "invalid", "Com"])


def _library(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@settings(max_examples=3000, deadline=None)
@given(local=ATOM, labels=st.lists(LABEL, min_size=1, max_size=3), tld=TLD, pad=st.sampled_from(["", " ", "\t"]))
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
