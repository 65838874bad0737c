"""The one-shot delivery (notifiers, e-mail backend): stops where the operators' engine stops."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_emailbr.exceptions import EmailBRSendError
from airflow_provider_emailbr.sending.delivery import adeliver, deliver
from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter
from airflow_provider_emailbr.sending.envie import EnvieAdapter
from airflow_provider_emailbr.sending.mailgrid import MailGridAdapter
from airflow_provider_emailbr.sending.model import SimpleEmail
from tests.conftest import Reply


def test_a_lost_answer_leaves_its_recipients_unknown_and_the_rest_not_attempted(server, vendor_connection):
    adapter = MailGridAdapter()
    hook = adapter.hook(vendor_connection("mailgrid"))
    to = [f"p{i:03d}@exemplo.com.br" for i in range(150)]
    server.reply(Reply(drop=True))
    with pytest.raises(
        EmailBRSendError, match="0 recipient\\(s\\) sent; 101 unknown .* 50 not attempted"
    ) as info:
        deliver(hook, SimpleEmail(to=to, cc=["c@exemplo.com.br"], subject="s", html="<p>x</p>"), adapter)
    assert len(server.requests) == 1  # never repeated, nothing sent after it
    assert info.value.unknown == [*to[:100], "c@exemplo.com.br"] and not info.value.refused


def test_a_refusal_goes_on_with_the_next_call_and_an_auth_failure_stops(server, vendor_connection):
    adapter = EnvieAdapter()
    hook = adapter.hook(vendor_connection("envie"))
    to = ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]
    server.reply(
        Reply(status=409, body={"status": "error"}),  # "409 Conflict -- Email em blacklist."
        Reply(body={"status": "success", "message_id": "2"}),
        Reply(status=401, body={"status": "error"}),  # "401 Unauthorized"
    )
    with pytest.raises(
        EmailBRSendError, match="1 recipient\\(s\\) sent; 2 refused .* 1 not attempted"
    ) as info:
        deliver(hook, SimpleEmail(to=to, subject="s", html="<p>x</p>"), adapter)
    assert (info.value.sent, info.value.refused) == (["b@x.com"], ["a@x.com", "c@x.com"])
    assert [r.json["to_email"] for r in server.requests] == to[:3]


def test_the_async_twin_sends_the_same_requests(server, vendor_connection):
    adapter = EmailManagerAdapter()
    conn_id = vendor_connection("emailmanager")
    email = SimpleEmail(to=['"Silva, Ana" <ana@x.com>'], subject="s", html="<p>x</p>", text="x")
    server.reply(*[Reply(body={"ErrorCode": 0, "MessageID": "m"})] * 2)
    sync_report = deliver(adapter.hook(conn_id), email, adapter)
    async_report = asyncio.run(adeliver(adapter.hook(conn_id), email, adapter))
    first, second = server.requests
    assert (first.path, first.json) == (second.path, second.json)
    assert first.json["To"] == '"Silva, Ana" <ana@x.com>'
    assert sync_report.sent == async_report.sent == ["ana@x.com"]
