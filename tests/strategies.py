"""Hypothesis strategies and settings shared by the hostile-input property tests of several modules.

The property tests feed exotic text (control characters, lone surrogates, emoji, very long strings), wrong
types and odd bytes to one utility each, and check that it either returns a correct value or raises the
package's documented ``ValueError`` subclass. What more than one module's tests draw from lives here, once.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Settings of the hostile-input properties: enough examples to find edge cases, no per-example deadline,
#: and function-scoped fixtures (``tmp_path``, a counter) allowed because each example uses its own file.
HOSTILE_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Any code point, lone surrogates included (what ``json.loads('"\\ud800"')`` can produce).
ANY_CHAR = st.characters(codec=None, categories=None)

#: Random text plus hand-picked troublemakers: NUL, lone surrogates, spreadsheet formulas, header injection,
#: a 70,000-character line, an over-long domain, a BOM and a Unicode line separator.
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=80),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",
            "a\ud83d@x.com",
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "😀@exemplo.com.br",
            "ana@exemplo.com.br\nBcc: x@y.com",
            "a" * 70_000,
            "ana@" + "x" * 300 + ".com",
            "\ufeffana@exemplo.com.br",
            "ana@exemplo.com.br\u2028",
        ]
    ),
)

#: Values of the wrong type for a text parameter, as a DAG author or a foreign file may pass them.
WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def is_utf8_encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (false when it holds a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
