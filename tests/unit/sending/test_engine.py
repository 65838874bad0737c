"""The send engine's construction-time bounds. Its retry rules, run against the sandbox, are in
``tests/sandbox_backed/sending/test_engine.py``."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator


def test_concurrency_bounds_are_checked_at_construction():
    with pytest.raises(EmailBRInputError, match="concurrency: 21 must be an integer from 1 to 20"):
        MailGridSendEmailOperator(task_id="send", to="a@x.com", subject="s", html="x", concurrency=21)
