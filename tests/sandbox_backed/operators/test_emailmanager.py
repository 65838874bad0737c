"""emailManager send operators against the sandbox: wire format, limits, batches, partial failures and retries."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.emailmanager import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
)
from airflow_provider_emailbr.operators.send import SendIncompleteError
from emailbr_sandbox.constants import SENDER_EMAIL
from tests.helpers import read_jsonl
from tests.unit.sending.support import addresses, batch_messages, run


def test_emailmanager_single_message_wire_format(sandbox, tmp_path):
    invoice = tmp_path / "nota.pdf"
    invoice.write_bytes(b"%PDF nota")
    op = EmailManagerSendEmailOperator(
        task_id="send",
        to=["a@exemplo.com.br", '"Bea" <b@exemplo.com.br>'],
        cc="c@exemplo.com.br",
        bcc=["d@exemplo.com.br"],
        subject="Pedido 42",
        html_body="<b>ok</b>",
        text_body="ok",
        reply_to="sac@exemplo.com.br",
        tag="pedidos",
        headers={"X-Pedido": "42"},
        attachments=[
            str(invoice),
            {"Name": "a.txt", "Content": base64.b64encode(b"oi").decode(), "ContentType": "text/plain"},
        ],
    )
    result, _ = run(op)
    (call,) = sandbox.requests("emailmanager")
    assert (call["method"], call["path"]) == ("POST", "/emailmanager/email")
    assert call["headers"]["accept"] == "application/json"
    assert call["headers"]["content-type"] == "application/json"
    assert call["headers"]["x-emailmanager-server-token"] == "***"
    assert call["body"] == {
        "From": SENDER_EMAIL,
        "To": 'a@exemplo.com.br, "Bea" <b@exemplo.com.br>',
        "Cc": "c@exemplo.com.br",
        "Bcc": "d@exemplo.com.br",
        "Subject": "Pedido 42",
        "HtmlBody": "<b>ok</b>",
        "TextBody": "ok",
        "ReplyTo": "sac@exemplo.com.br",
        "Tag": "pedidos",
        "Headers": [{"Name": "X-Pedido", "Value": "42"}],
        "Attachments": [  # in the order given
            {
                "Name": "nota.pdf",
                "Content": base64.b64encode(b"%PDF nota").decode(),
                "ContentType": "application/pdf",
            },
            {"Name": "a.txt", "Content": base64.b64encode(b"oi").decode(), "ContentType": "text/plain"},
        ],
    }
    (stored,) = sandbox.state("emailmanager")["messages"]
    assert result == {
        "index": 0,
        "To": 'a@exemplo.com.br, "Bea" <b@exemplo.com.br>',
        "MessageID": stored["MessageID"],
        "ErrorCode": 0,
        "Message": "OK",
        "SubmittedAt": stored["SubmittedAt"],
        "outcome": "sent",
    }


def test_emailmanager_20_recipients_per_message_checked_before_sending(sandbox):
    op = EmailManagerSendEmailOperator(
        task_id="send",
        to=addresses(18),
        cc=addresses(2, "cc"),
        bcc="x@exemplo.com.br",
        subject="s",
        html_body="x",
    )
    with pytest.raises(
        EmailBRInputError, match="21 recipients \\(To \\+ Cc \\+ Bcc\\) exceed emailManager's limit of 20"
    ):
        run(op)
    op = EmailManagerSendEmailOperator(
        task_id="send", to=addresses(18), cc=addresses(2, "cc"), subject="s", html_body="x"
    )
    result, _ = run(op)
    assert result["outcome"] == "sent"
    assert len(sandbox.state("emailmanager")["messages"][0]["Recipients"]) == 20


def test_emailmanager_refusal_of_the_single_message_fails_the_task(sandbox):
    op = EmailManagerSendEmailOperator(task_id="send", to="z@inactive.example", subject="s", html_body="x")
    with pytest.raises(SendIncompleteError, match="1 refused") as info:
        run(op)
    assert "ErrorCode 406" in str(info.value) or "code 406" in str(info.value)
    assert sandbox.state("emailmanager")["messages"] == []


def test_emailmanager_batch_from_json_lines_with_partial_failure(sandbox, tmp_path):
    source = tmp_path / "mensagens.jsonl"
    messages = batch_messages(4)
    messages[2]["To"] = "alguem@inactive.example"
    source.write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    op = EmailManagerBatchSendOperator(
        task_id="send", messages_path=str(source), results_path=str(tmp_path / "r.jsonl")
    )
    with pytest.raises(SendIncompleteError, match="3 sent .* 1 refused") as info:
        run(op)
    assert "ErrorCode 406: " in str(info.value) and "] message 2 to a***@inactive.example" in str(info.value)
    assert len(sandbox.state("emailmanager")["messages"]) == 3
    op = EmailManagerBatchSendOperator(task_id="send", messages_path=str(source), fail_on_partial=False)
    results, _ = run(op, run_id="other")
    assert [r["outcome"] for r in results] == ["sent", "sent", "refused", "sent"]
    assert results[2]["ErrorCode"] == 406


def test_emailmanager_batch_validates_every_message_first(sandbox):
    messages = batch_messages(600)
    messages[550]["To"] = ", ".join(addresses(21))
    op = EmailManagerBatchSendOperator(task_id="send", messages=messages)
    with pytest.raises(EmailBRInputError, match=r"messages\[550\]: 21 recipients"):
        run(op)
    messages[550] = {"To": "a@exemplo.com.br", "Subject": "s"}
    with pytest.raises(EmailBRInputError, match=r"messages\[550\]: give HtmlBody, TextBody or both"):
        run(EmailManagerBatchSendOperator(task_id="send", messages=messages))
    assert sandbox.requests("emailmanager") == []
    with pytest.raises(EmailBRInputError, match="give exactly one of them"):
        EmailManagerBatchSendOperator(task_id="send")
    with pytest.raises(EmailBRInputError, match="batch_size: 501"):
        EmailManagerBatchSendOperator(task_id="send", messages=[], batch_size=501)


def test_emailmanager_batch_drop_and_retry_sends_each_message_once(sandbox, tmp_path):
    results_path = tmp_path / "r.jsonl"
    messages = batch_messages(12)
    sandbox.set_fault("drop", vendor="emailmanager", path="/email/batch", count=1)

    def make() -> EmailManagerBatchSendOperator:
        return EmailManagerBatchSendOperator(
            task_id="send", messages=messages, batch_size=5, results_path=str(results_path)
        )

    with pytest.raises(SendIncompleteError, match="0 sent .* 5 unknown, 7 not attempted"):
        run(make())
    with pytest.raises(SendIncompleteError, match="7 sent .* 5 unknown, 0 not attempted"):
        run(make(), try_number=2)
    stored = sorted(m["To"] for m in sandbox.state("emailmanager")["messages"])
    assert stored == sorted(m["To"] for m in messages)
    keys = [line["key"] for line in read_jsonl(results_path) if line["outcome"] == "unknown"]
    assert [k.split(":")[0] for k in keys] == ["0", "1", "2", "3", "4"]
    assert all(len(k.split(":")[1]) == 16 for k in keys)


def test_emailmanager_changed_input_after_a_send_is_refused(sandbox, tmp_path):
    results_path = tmp_path / "r.jsonl"
    messages = batch_messages(3)
    run(EmailManagerBatchSendOperator(task_id="send", messages=messages, results_path=str(results_path)))
    changed = [messages[1], messages[0], messages[2]]
    with pytest.raises(EmailBRInputError, match="the input changed since an earlier try"):
        run(
            EmailManagerBatchSendOperator(task_id="send", messages=changed, results_path=str(results_path)),
            try_number=2,
        )
    assert len(sandbox.state("emailmanager")["messages"]) == 3
    results, _ = run(
        EmailManagerBatchSendOperator(task_id="send", messages=messages, results_path=str(results_path)),
        try_number=3,
    )
    assert len(sandbox.requests("emailmanager")) == 1  # the unchanged input is recognised as sent
    assert [r["outcome"] for r in results] == ["sent"] * 3


def test_emailmanager_http_500_is_not_sent_per_vendor_docs(sandbox, tmp_path):
    """emailManager documents HTTP 500 as "not finished, send again": refused, and the retry sends it."""
    results_path = tmp_path / "r.jsonl"
    sandbox.set_fault("status", vendor="emailmanager", path="/email", status=500, count=1)
    op = EmailManagerSendEmailOperator(
        task_id="send", to="a@exemplo.com.br", subject="s", html_body="x", results_path=str(results_path)
    )
    with pytest.raises(SendIncompleteError, match="1 refused, 0 unknown"):
        run(op)
    result, _ = run(
        EmailManagerSendEmailOperator(
            task_id="send", to="a@exemplo.com.br", subject="s", html_body="x", results_path=str(results_path)
        ),
        try_number=2,
    )
    assert result["outcome"] == "sent"
    assert len(sandbox.state("emailmanager")["messages"]) == 1
