"""Contact imports against a misbehaving vendor (loopback server, real transports): rows are rejected, or the
import fails clearly, and a mass add is never repeated after an unreadable answer.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRResponseError,
)
from tests.conftest import Reply
from tests.helpers import read_jsonl
from tests.integration.misbehaving_vendors import (
    BY_NAME,
    HTML,
    SECRET,
    assert_clear,
    connect,
)

pytestmark = pytest.mark.integration


def test_criaenvio_import_rejects_rows_when_create_answers_an_empty_200(server, set_connection, tmp_path):
    from airflow_provider_emailbr.operators.contacts import CriaEnvioImportContactsOperator

    connect(set_connection, BY_NAME["criaenvio"], server.url)
    server.default = Reply(status=200, body={})  # not the documented {"data": {"id": ...}}
    report = tmp_path / "rejected.jsonl"
    op = CriaEnvioImportContactsOperator(
        task_id="op",
        contacts=[{"email": "ana@exemplo.com.br"}, {"email": "bia@exemplo.com.br"}],
        list_ids="L1",
        rejected_path=str(report),
        max_rejected_ratio=1,
        max_concurrency=1,
    )
    summary = op.execute({})
    assert (summary["received"], summary["sent"], summary["rejected"]) == (2, 0, 2)
    rows = read_jsonl(report)
    assert {r["reason"] for r in rows} == {"request_failed"}
    assert all("the answer to a create has no data.id: {}" in r["message"] for r in rows)
    assert all(SECRET not in json.dumps(r) for r in rows)


def test_iagente_import_fails_clearly_on_an_html_answer(server, set_connection, tmp_path):
    from airflow_provider_emailbr.operators.contacts import IAgenteImportContactsOperator

    connect(set_connection, BY_NAME["iagente"], server.url)
    server.default = Reply(status=200, body=HTML)
    op = IAgenteImportContactsOperator(
        task_id="op",
        contacts=[{"email": "ana@exemplo.com.br"}],
        group_id=7,
        rejected_path=str(tmp_path / "r.csv"),
    )
    with pytest.raises(EmailBRResponseError) as err:
        op.execute({})
    assert_clear(err.value, must_contain="answer is not JSON: '<html>")
    assert len(server.requests) == 1  # a mass add is not repeated after an unreadable answer
