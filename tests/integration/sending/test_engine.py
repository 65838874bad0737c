"""The send engine against a misbehaving vendor (loopback server, real transports): a send whose answer
cannot be read is ``unknown`` and never re-sent, for MailGrid, envie.email and emailManager.
"""

from __future__ import annotations

import pytest

from tests.conftest import Reply
from tests.helpers import context, read_jsonl
from tests.integration.misbehaving_vendors import (
    BY_NAME,
    HTML,
    MISBEHAVIOUR_TI,
    SECRET,
    assert_clear,
    connect,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "reply",
    [Reply(body=HTML), Reply(body='[{"to": "a@exemplo.com.br", "codigo": "2'), Reply(body=b"")],
    ids=["html-200", "truncated", "empty"],
)
@pytest.mark.parametrize("vendor", ["mailgrid", "envie", "emailmanager"])
def test_a_send_whose_answer_cannot_be_read_is_unknown_and_never_resent(
    server, set_connection, tmp_path, vendor, reply
):
    from airflow_provider_emailbr.operators.send import (
        EmailManagerSendEmailOperator,
        EnvieEmailSendOperator,
        MailGridSendEmailOperator,
        SendIncompleteError,
    )

    connect(set_connection, BY_NAME[vendor], server.url, from_email="loja@exemplo.com.br", from_name="Loja")
    results = tmp_path / "results.jsonl"
    common = {"task_id": "op", "results_path": str(results), "subject": "Pedido", "to": "ana@exemplo.com.br"}
    op = {
        "mailgrid": lambda: MailGridSendEmailOperator(html="<p>x</p>", **common),
        "envie": lambda: EnvieEmailSendOperator(html="<p>x</p>", **common),
        "emailmanager": lambda: EmailManagerSendEmailOperator(html_body="<p>x</p>", **common),
    }[vendor]
    server.default = reply
    with pytest.raises(SendIncompleteError) as err:
        op().execute(context(**MISBEHAVIOUR_TI))
    assert_clear(err.value) if len(str(err.value)) < 800 else None
    assert SECRET not in str(err.value)
    assert err.value.unknown and not err.value.sent
    assert len(server.requests) == 1
    outcomes = [r.get("outcome") for r in read_jsonl(results) if r.get("outcome")]
    assert outcomes[-1] == "unknown"
    with pytest.raises(SendIncompleteError):  # a retried try sends nothing again
        op().execute(context(2, **MISBEHAVIOUR_TI))
    assert len(server.requests) == 1
