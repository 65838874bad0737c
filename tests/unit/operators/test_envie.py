"""envie.email send operator on the recording server: hostile input is refused before the first call, or sent
well-formed. Runs against the sandbox are in ``tests/sandbox_backed/operators/test_envie.py``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from tests.conftest import Reply
from tests.unit.operators.hostile import (
    ANY_VALUE,
    RECIPIENTS,
    SETTINGS,
    assert_printable_addresses,
    run_hostile,
)


@SETTINGS
@given(
    to=st.one_of(RECIPIENTS, st.lists(st.fixed_dictionaries({"email": ANY_VALUE, "name": ANY_VALUE}))),
    subject=ANY_VALUE,
    html=ANY_VALUE,
    text=ANY_VALUE,
)
def test_envie_send_validates_before_the_first_call(conns, tmp_path, counter, to, subject, html, text):
    conns.default = Reply(body={"status": "success", "message_id": 1})
    op = EnvieEmailSendOperator(
        task_id="op",
        to=to,
        subject=subject,
        html=html,
        text=text,
        results_path=str(tmp_path / f"r{next(counter)}.jsonl"),
        concurrency=1,
    )
    run_hostile(conns, op)
    for request in conns.requests:
        body = request.json
        assert request.path == "/singlesending/create"
        assert_printable_addresses([body["to_email"]])
        assert all(isinstance(body[k], str) for k in ("subject", "body", "to_name", "from_email"))
