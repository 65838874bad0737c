"""MailGrid operators against a misbehaving vendor (loopback server, real transports): the report operator
refuses a 50 MB answer without reading it whole.
"""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRResponseError,
)
from tests.helpers import context
from tests.integration.misbehaving_vendors import (
    BY_NAME,
    MISBEHAVIOUR_TI,
    HugeBodyServer,
    assert_clear,
    connect,
)

pytestmark = pytest.mark.integration


def test_report_operator_refuses_a_50_mb_answer(set_connection, tmp_path):
    from airflow_provider_emailbr.operators.reports import MailGridReportOperator

    huge = HugeBodyServer(declare_length=False)
    try:
        connect(set_connection, BY_NAME["mailgrid"], huge.url)
        op = MailGridReportOperator(
            task_id="op",
            start="2025-01-01T00:00:00",
            end="2025-01-01T01:00:00",
            output_path=str(tmp_path / "out.csv"),
            deferrable=False,
            report_lag=0,
        )
        with pytest.raises(EmailBRResponseError) as err:
            op.execute(context(**MISBEHAVIOUR_TI))
    finally:
        huge.close()
    assert_clear(err.value, must_contain="-byte limit")
