"""MailGrid send operator on the recording server: hostile input is refused before the first call, or sent
well-formed. Runs against the sandbox are in ``tests/sandbox_backed/operators/test_mailgrid.py``; the report
operator's tests are in ``test_mailgrid_reports.py``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.operators.mailgrid import (
    MailGridSendEmailOperator,
)
from tests.unit.operators.hostile import (
    ANY_VALUE,
    RECIPIENTS,
    SETTINGS,
    assert_printable_addresses,
    run_hostile,
)


@SETTINGS
@given(to=RECIPIENTS, cc=st.one_of(st.none(), RECIPIENTS), subject=ANY_VALUE, html=ANY_VALUE, text=ANY_VALUE)
def test_mailgrid_send_validates_before_the_first_call(conns, tmp_path, counter, to, cc, subject, html, text):
    op = MailGridSendEmailOperator(
        task_id="op",
        to=to,
        cc=cc,
        subject=subject,
        html=html,
        text=text if html in (None, "") else None,
        results_path=str(tmp_path / f"r{next(counter)}.jsonl"),
    )
    run_hostile(conns, op)
    for request in conns.requests:
        body = request.json
        assert request.path == "/mailgrid/api/send/"
        assert_printable_addresses(body["emailDestino"] + body.get("emailDestinoCopia", []))
        assert isinstance(body["assunto"], str) and body["assunto"].strip()
        assert isinstance(body["mensagem"], str) and body["mensagem"].strip()
