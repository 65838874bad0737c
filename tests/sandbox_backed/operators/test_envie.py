"""envie.email send operator against the sandbox: wire format, attachment rules, refusals, concurrent sends
and retries."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from airflow_provider_emailbr.operators.send import SendIncompleteError
from emailbr_sandbox.constants import SENDER_EMAIL, SENDER_NAME
from tests.unit.sending.support import addresses, run


def test_envie_wire_format_attachments_and_plain_text(sandbox, tmp_path):
    pdf = tmp_path / "boleto.pdf"
    pdf.write_bytes(b"%PDF boleto")
    png = tmp_path / "logo.png"
    png.write_bytes(b"PNG")
    op = EnvieEmailSendOperator(
        task_id="send",
        to=["a@exemplo.com.br", {"email": "b@exemplo.com.br", "name": "Beatriz"}],
        subject="Boleto",
        html="<p>Segue</p>",
        text="Segue",
        reply_to_email="sac@exemplo.com.br",
        attachments=[str(pdf), png],
        concurrency=1,
    )
    results, _ = run(op)
    calls = sandbox.requests("envie")
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "/envie/singlesending/create")] * 2
    assert calls[0]["headers"]["public-key"] == "***" and calls[0]["headers"]["private-key"] == "***"
    first = calls[0]["body"]
    assert first == {
        "to_name": "a",
        "to_email": "a@exemplo.com.br",
        "from_name": SENDER_NAME,
        "from_email": SENDER_EMAIL,
        "reply_to_name": SENDER_NAME,
        "reply_to_email": "sac@exemplo.com.br",
        "subject": "Boleto",
        # envie.email tracks opens/clicks only "entre as devidas tags <html><body></body></html>"
        "body": "<html><body><p>Segue</p></body></html>",
        "plain_text": "Segue",
        "attachments": [
            {"data": base64.b64encode(b"%PDF boleto").decode(), "name": "boleto", "mime": "application/pdf"},
            {"data": base64.b64encode(b"PNG").decode(), "name": "logo", "mime": "image/png"},
        ],
    }
    assert (calls[1]["body"]["to_email"], calls[1]["body"]["to_name"]) == ("b@exemplo.com.br", "Beatriz")
    sent = sandbox.state("envie")["sent"]
    assert [r["message_id"] for r in results] == [m["message_id"] for m in sent]
    assert results[0] == {
        "to": "a@exemplo.com.br",
        "message_id": sent[0]["message_id"],
        "status": "success",
        "outcome": "sent",
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["planilha.csv"], "MIME type 'text/csv' is not accepted by envie.email"),
        (["a.pdf", "a.png"], "attachment name 'a': used twice in one message"),
    ],
)
def test_envie_attachment_rules_checked_before_sending(sandbox, tmp_path, files, message):
    paths = []
    for name in files:
        (tmp_path / name).write_bytes(b"x")
        paths.append(str(tmp_path / name))
    op = EnvieEmailSendOperator(task_id="send", to=addresses(2), subject="s", html="x", attachments=paths)
    with pytest.raises(EmailBRInputError, match=message):
        run(op)
    assert sandbox.requests("envie") == []


def test_envie_blacklisted_recipient_is_refused_others_sent(sandbox):
    to = [*addresses(3), "bloqueado@blacklist.example"]
    op = EnvieEmailSendOperator(task_id="send", to=to, subject="s", html="x")
    with pytest.raises(SendIncompleteError, match="3 sent .* 1 refused") as info:
        run(op)
    assert "b***@blacklist.example" in str(info.value) and "HTTP 409" in str(info.value)
    assert sorted(m["to_email"] for m in sandbox.state("envie")["sent"]) == addresses(3)


def test_envie_concurrent_sends_with_a_drop_then_retry(sandbox, tmp_path):
    to = addresses(40)
    results_path = tmp_path / "r.jsonl"
    sandbox.set_fault("drop", vendor="envie", path="/singlesending", count=1)

    def make() -> EnvieEmailSendOperator:
        return EnvieEmailSendOperator(
            task_id="send", to=to, subject="s", html="x", concurrency=4, results_path=str(results_path)
        )

    with pytest.raises(SendIncompleteError) as first:
        run(make())
    assert len(first.value.unknown) == 1
    with pytest.raises(SendIncompleteError, match="39 sent .* 1 unknown, 0 not attempted"):
        run(make(), try_number=2)
    sent = [m["to_email"] for m in sandbox.state("envie")["sent"]]
    assert sorted(sent) == to  # the dropped one was processed once and never re-sent
