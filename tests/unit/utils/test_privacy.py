"""Masking e-mail addresses for logs: never raises, never shows more than one character of the local part."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.utils.privacy import mask_email
from tests.strategies import HOSTILE_SETTINGS, HOSTILE_TEXT, WRONG_TYPES


@HOSTILE_SETTINGS
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
