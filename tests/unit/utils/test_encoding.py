"""PHP form encoding (``http_build_query``): nested data round-trips, unencodable text is refused.

CriaEnvio's published clients send writes form-encoded with nested ``campos[<id>]=valor`` keys; the encoder
must give exactly the pairs a PHP server decodes, for any keys and values.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.utils.encoding import php_form_encode, php_form_pairs
from tests.strategies import ANY_CHAR, HOSTILE_SETTINGS, is_utf8_encodable

FORM_KEY = st.text(ANY_CHAR.filter(lambda c: c not in "[]"), min_size=1, max_size=8)
FORM_SCALAR = st.one_of(
    st.text(ANY_CHAR, max_size=30), st.integers(), st.booleans(), st.none(), st.dates(), st.floats()
)
FORM_VALUE = st.recursive(
    FORM_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(FORM_KEY, inner, max_size=3)),
    max_leaves=12,
)


@HOSTILE_SETTINGS
@given(st.dictionaries(FORM_KEY, FORM_VALUE, max_size=4))
def test_php_form_encoding_round_trips_or_refuses_unencodable_text(data):
    pairs = php_form_pairs(data)
    if all(is_utf8_encodable(k) and is_utf8_encodable(v) for k, v in pairs):
        body = php_form_encode(data)
        assert body.isascii()
        decoded = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body))
        assert decoded == pairs
    else:
        with pytest.raises(UnicodeEncodeError):  # the HTTP core turns this into EmailBRInputError
            php_form_encode(data)


def test_php_form_encoding_of_deeply_nested_data_fails_cleanly():
    nested: list = []
    for _ in range(5000):
        nested = [nested, "x"]
    with pytest.raises(RecursionError):
        php_form_pairs({"a": nested})  # only reachable from code, not from files: documented as is
