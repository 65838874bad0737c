"""The emailManager notifier against a misbehaving vendor (loopback server, real transports), sync and async:
a clear error, no secret, and the send never repeated.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRError,
)
from tests.conftest import Reply
from tests.helpers import FakeTI
from tests.integration.misbehaving_vendors import (
    BY_NAME,
    HTML,
    MISBEHAVIOUR_TI,
    MODES,
    SECRET,
    connect,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=200, body=HTML),
        Reply(status=502, body=HTML),
        Reply(body={"ErrorCode": 405, "Message": "Sem créditos"}),
    ],
    ids=["html-200", "html-502", "envelope-200"],
)
@pytest.mark.parametrize("mode", MODES)
def test_notifier_fails_with_a_clear_error_on_a_misbehaving_vendor(server, set_connection, reply, mode):
    from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier

    connect(set_connection, BY_NAME["emailmanager"], server.url, from_email="loja@exemplo.com.br")
    server.default = reply
    notifier = EmailManagerNotifier(to="oncall@exemplo.com.br", subject="Falhou {{ ti.task_id }}")
    context = {"ti": FakeTI(**MISBEHAVIOUR_TI), "dag_run": None}
    with pytest.raises(EmailBRError) as err:
        if mode == "sync":
            notifier.notify(context)
        else:
            asyncio.run(notifier.async_notify(context))
    assert SECRET not in str(err.value) and len(str(err.value)) < 1200
    assert len(server.requests) == 1  # a send is never repeated after an unreadable answer
