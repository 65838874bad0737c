"""emailManager send operators on the recording server: the exact wire format of batches. The runs against
the sandbox are in ``tests/sandbox_backed/operators/test_emailmanager.py``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.emailmanager import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
)
from tests.conftest import Reply
from tests.unit.operators.hostile import (
    ADDRESS,
    ANY_VALUE,
    RECIPIENTS,
    SETTINGS,
    TEXT,
    WRONG,
    run_hostile,
)
from tests.unit.sending.support import batch_messages, run


def test_emailmanager_batches_of_exactly_500_aligned_results(server, set_connection):
    """The exact wire format of batches, on a recording server (the sandbox journal truncates big bodies)."""
    set_connection(
        "emailmanager_default",
        conn_type="emailmanager",
        host=f"{server.url}/em/",
        password="tok",
        extra={"from_email": "r@exemplo.com.br"},
    )

    def answer(n: int, start: int) -> Reply:
        return Reply(
            body=[
                {
                    "ErrorCode": 0,
                    "Message": "OK",
                    "MessageID": f"id-{start + i}",
                    "SubmittedAt": "2026-01-01T10:00:00",
                    "To": f"pessoa{start + i:04d}@exemplo.com.br",
                }
                for i in range(n)
            ]
        )

    server.reply(answer(500, 0), answer(500, 500), answer(1, 1000))
    messages = batch_messages(1001)
    messages[7]["From"] = '"Loja" <loja@exemplo.com.br>'
    op = EmailManagerBatchSendOperator(task_id="send", messages=messages)
    results, _ = run(op)
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/em/email/batch")] * 3
    sent = [r.json for r in server.requests]
    assert [len(batch) for batch in sent] == [500, 500, 1]
    flat = [m for batch in sent for m in batch]
    assert flat[0] == {
        "From": "r@exemplo.com.br",
        "To": "pessoa0000@exemplo.com.br",
        "Subject": "Olá 0",
        "HtmlBody": "<p>0</p>",
    }
    assert flat[7]["From"] == '"Loja" <loja@exemplo.com.br>'
    assert [m["To"] for m in flat] == [m["To"] for m in messages]
    assert server.requests[0].headers["X-Emailmanager-Server-Token"] == "tok"
    assert [r["index"] for r in results] == list(range(1001))
    assert [r["MessageID"] for r in results] == [f"id-{i}" for i in range(1001)]


# ------------------------------------------------------------------------------------------ hostile input
# (the property and strategies: tests/unit/operators/hostile.py)

MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "From": st.one_of(ADDRESS, WRONG),
        "To": RECIPIENTS,
        "Cc": RECIPIENTS,
        "Subject": ANY_VALUE,
        "HtmlBody": ANY_VALUE,
        "TextBody": ANY_VALUE,
        "Tag": ANY_VALUE,
        "Headers": st.one_of(WRONG, st.lists(st.fixed_dictionaries({"Name": ANY_VALUE, "Value": ANY_VALUE}))),
        "Attachments": st.one_of(
            WRONG, st.lists(st.dictionaries(st.sampled_from(["Name", "Content"]), TEXT))
        ),
        "Unknown": TEXT,
    },
)


@SETTINGS
@given(messages=st.one_of(WRONG, TEXT, st.lists(st.one_of(MESSAGE, WRONG), max_size=3)))
def test_emailmanager_batch_validates_every_message_first(conns, tmp_path, counter, messages):
    conns.default = Reply(body=[])
    if messages is None:
        with pytest.raises(EmailBRInputError, match="give exactly one of them"):
            EmailManagerBatchSendOperator(task_id="op", messages=messages)
        return
    op = EmailManagerBatchSendOperator(
        task_id="op", messages=messages, results_path=str(tmp_path / f"r{next(counter)}.jsonl")
    )
    run_hostile(conns, op)
    for request in conns.requests:
        assert request.path == "/email/batch"
        for message in request.json:
            assert isinstance(message["Subject"], str) and message["Subject"].strip()
            for key in ("HtmlBody", "TextBody", "Tag", "From"):
                assert key not in message or isinstance(message[key], str), (key, message)
            for key in ("To", "Cc", "Bcc"):
                if key in message:
                    assert isinstance(message[key], str), (key, message)


@SETTINGS
@given(
    lines=st.lists(st.one_of(MESSAGE.map(lambda m: json.dumps(m, default=str)), TEXT), max_size=4),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff"]),
)
def test_emailmanager_batch_from_jsonl_bytes(conns, tmp_path, counter, lines, prefix):
    conns.default = Reply(body=[])
    source = tmp_path / f"m{next(counter)}.jsonl"
    source.write_bytes(prefix + "\n".join(lines).encode("utf-8", "surrogatepass"))
    op = EmailManagerBatchSendOperator(
        task_id="op", messages_path=str(source), results_path=str(tmp_path / f"r{next(counter)}.jsonl")
    )
    run_hostile(conns, op)


@SETTINGS
@given(
    to=RECIPIENTS,
    subject=ANY_VALUE,
    html=ANY_VALUE,
    headers=st.one_of(WRONG, st.dictionaries(TEXT, ANY_VALUE)),
)
def test_emailmanager_single_send_validates_first(conns, tmp_path, counter, to, subject, html, headers):
    conns.default = Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "m1"})
    op = EmailManagerSendEmailOperator(
        task_id="op",
        to=to,
        subject=subject,
        html_body=html,
        headers=headers,
        results_path=str(tmp_path / f"r{next(counter)}.jsonl"),
    )
    run_hostile(conns, op)
    for request in conns.requests:
        message = request.json
        assert isinstance(message["To"], str) and isinstance(message["Subject"], str)
        assert isinstance(message.get("Headers", []), list)
