"""Hostile input for the operators: strategies, and the property every operator test checks with them.

Values are what templating can produce: wrong types (numbers, lists, dicts, ``None``), text with control
characters or lone surrogates, formula cells, very long strings — set directly and also rendered through a
DAG with ``render_template_as_native_obj=True``. The property (:func:`run_hostile`): ``execute()`` either
raises an ``EmailBRInputError`` and the recording server received no write, or what it sent is well-formed;
never a ``TypeError``/``KeyError``/``UnicodeEncodeError`` escaping. The vendors' connections pointing at the
recording server are the ``conns`` fixture of this folder's ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from tests.helpers import context
from tests.strategies import ANY_CHAR

#: Fewer examples than ``tests.strategies.HOSTILE_SETTINGS``: each example runs an operator end to end.
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: The task instance the hostile-input tests run as.
HOSTILE_TI = {"dag_id": "hostile", "task_id": "op", "run_id": "manual__1"}

TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=20),
    st.sampled_from(["", "  ", "=1+1", "\ud800", "x" * 10_000, "ok", "<p>Olá 😀</p>", "a\x00b", "{{ x }}"]),
)
WRONG = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=2),
)
ADDRESS = st.one_of(
    st.sampled_from(
        [
            "ana@exemplo.com.br",
            "Bia <bia@exemplo.com.br>",
            "c@x.co",
            "sem-arroba",
            "a@b\nBcc: x@y.com",
            "\ud800@x.com",
            "a\x00@x.com",
            " ; ,",
            "a@x.com, b@x.com; c@x.com",
        ]
    ),
    TEXT,
)
RECIPIENTS = st.one_of(ADDRESS, WRONG, st.lists(st.one_of(ADDRESS, WRONG), max_size=4))
ANY_VALUE = st.one_of(TEXT, WRONG)
#: Campaign start and resume times: words, past, far future and malformed values.
START_AT = st.one_of(
    TEXT,
    WRONG,
    st.sampled_from(
        ["agora", "now", "2000-01-01T00:00:00", "2999-01-01T10:00:00-03:00", "9999-12-31T23:59:59-12:00"]
    ),
)


def hostile_context(**extra: Any) -> dict[str, Any]:
    """The execution context of the hostile-input tests: the ``HOSTILE_TI`` task instance plus ``extra`` keys."""
    return {**context(**HOSTILE_TI), **extra}


def run_hostile(server: Any, op: Any, context: dict[str, Any] | None = None) -> Any:
    """Execute ``op``: only package errors may escape, and an input error leaves nothing written.

    Input checkable locally fails before any request; a value only the vendor can check (does list ``L9``
    exist?) may fail after reads, never after a write.
    """
    server.requests.clear()
    try:
        result = op.execute(context or hostile_context())
    except EmailBRInputError as err:
        writes = [r for r in server.requests if r.method != "GET"]
        assert writes == [], f"{err} raised after {len(writes)} write(s)"
        assert str(err) and len(str(err)) < 20_000
        return err
    except EmailBRError:
        assert server.requests, "a non-input error before any request"
        return None
    return result


def assert_printable_addresses(values: list[str]) -> None:
    """Every sent address has an ``@``, is printable and encodes as UTF-8."""
    for value in values:
        assert "@" in value and value.isprintable(), value
        value.encode("utf-8")
