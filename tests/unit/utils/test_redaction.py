"""Redaction of registered secrets in the text this provider shows: never a secret, not even part of one.

Error messages quote short excerpts of vendor answers; a careless vendor or proxy may echo the key back, and
the excerpt's cut could fall inside it. Registered secrets are masked before the cut.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import MAX_EXCERPT_CHARS, excerpt
from airflow_provider_emailbr.utils.redaction import register_secret

SECRET = "S3cr3t-Hostile-Key-0042"


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(alphabet=" \n\tab<>", max_size=1500),
    after=st.text(alphabet=" \n\tab<>", max_size=50),
    limit=st.sampled_from([20, 80, MAX_EXCERPT_CHARS]),
    as_bytes=st.booleans(),
)
def test_an_excerpt_never_shows_a_secret_even_partly(before, after, limit, as_bytes):
    register_secret(SECRET)
    text = before + SECRET + after
    shown = excerpt(text.encode() if as_bytes else text, limit)
    assert SECRET[:6] not in shown
    assert len(shown) <= limit and "\n" not in shown
