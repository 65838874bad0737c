"""Send operators against the sandbox (no DAG): wire format, chunking, limits, partial failures, retries.

Each operator is executed with a minimal task-instance stand-in (identity, try number, ``xcom_push``), so
a "retry" is the same operator executed again with ``try_number + 1``. Assertions are on what the sandbox
received (journal) and holds (state), and on the results file.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.send import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
    EnvieEmailSendOperator,
    MailGridSendEmailOperator,
    ResultsLog,
    RunIdentity,
    SendIncompleteError,
    mark_send_results,
)
from airflow_provider_emailbr.sandbox.constants import MAILGRID_HOST, SENDER_EMAIL, SENDER_NAME
from airflow_provider_emailbr.utils.retry import RetryPolicy
from tests.conftest import Reply

FAST = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05)


@dataclass
class FakeTI:
    """What the operators read from ``context["ti"]``."""

    try_number: int = 1
    dag_id: str = "send_dag"
    task_id: str = "send"
    run_id: str = "manual__1"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def run(op: Any, try_number: int = 1, **ti: Any) -> tuple[Any, FakeTI]:
    instance = FakeTI(try_number=try_number, **ti)
    return op.execute({"ti": instance}), instance


def fast(op: Any) -> Any:
    """Shorten the hook's retry waits (503/429 tests)."""
    op.hook._retry_policy_override = FAST
    return op


def addresses(n: int, prefix: str = "cliente") -> list[str]:
    return [f"{prefix}{i:04d}@exemplo.com.br" for i in range(n)]


def ledger(path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mailgrid_rows(sandbox) -> list[dict[str, Any]]:
    return sandbox.state("mailgrid")["rows"]


# ------------------------------------------------------------------------------------------- MailGrid


def test_mailgrid_chunks_of_exactly_100_copies_once_and_attachments_on_every_call(sandbox, tmp_path):
    report = tmp_path / "relatório.pdf"
    report.write_bytes(b"%PDF-1.4 fake")
    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG fake")
    to = addresses(250)
    op = MailGridSendEmailOperator(
        task_id="send",
        to=to,
        cc="copia@exemplo.com.br",
        bcc=["oculta1@exemplo.com.br", "oculta2@exemplo.com.br"],
        subject="Sua fatura",
        html="<p>Olá</p>",
        alt_text="Olá",
        reply_to="resposta@exemplo.com.br",
        attachments=[str(report), image],
    )
    results, _ = run(op)

    calls = sandbox.requests("mailgrid", path="/mailgrid/api/send")
    assert [c["method"] for c in calls] == ["POST"] * 3
    bodies = [c["body"] for c in calls]
    assert [len(b["emailDestino"]) for b in bodies] == [100, 100, 50]
    assert [a for b in bodies for a in b["emailDestino"]] == to
    assert bodies[0]["emailDestinoCopia"] == ["copia@exemplo.com.br"]
    assert bodies[0]["emailDestinoCopiaOculta"] == ["oculta1@exemplo.com.br", "oculta2@exemplo.com.br"]
    assert all("emailDestinoCopia" not in b and "emailDestinoCopiaOculta" not in b for b in bodies[1:])
    for body in bodies:
        assert body["host_smtp"] == MAILGRID_HOST
        assert body["usuario_smtp"] and body["senha_smtp"] == "***"  # the journal masks the password
        assert body["emailRemetente"] == SENDER_EMAIL and body["nomeRemetente"] == SENDER_NAME
        assert (body["assunto"], body["mensagem"], body["mensagemAlt"]) == ("Sua fatura", "<p>Olá</p>", "Olá")
        assert (body["mensagemTipo"], body["mensagemEncoding"]) == ("html", "base64")
        assert body["emailReply"] == "resposta@exemplo.com.br"
        assert body["mensagemAnexos"] == {
            "file1": {
                "name": "relatório.pdf",
                "type": "application/pdf",
                "content": base64.b64encode(b"%PDF-1.4 fake").decode(),
            },
            "file2": {
                "name": "logo.png",
                "type": "image/png",
                "content": base64.b64encode(b"\x89PNG fake").decode(),
            },
        }

    assert len(results) == 253
    assert [r["to"] for r in results] == [
        *to,
        "copia@exemplo.com.br",
        "oculta1@exemplo.com.br",
        "oculta2@exemplo.com.br",
    ]
    assert results[0].keys() == {"to", "role", "id", "status", "codigo", "outcome"}
    assert all(r["outcome"] == "sent" for r in results)
    assert all(r["status"] == "MSG ENVIADA" and r["codigo"] == "200" for r in results[:250])
    assert [r["role"] for r in results[250:]] == ["cc", "bcc", "bcc"]
    assert results[250]["id"] == results[0]["id"]  # copies ride with the first call
    delivered = sorted(r["email_para"] for r in mailgrid_rows(sandbox))
    assert delivered == sorted(
        [*to, "copia@exemplo.com.br", "oculta1@exemplo.com.br", "oculta2@exemplo.com.br"]
    )


def test_mailgrid_text_body_and_encoding_and_duplicates_dropped(sandbox):
    op = MailGridSendEmailOperator(
        task_id="send",
        to="a@exemplo.com.br; A@EXEMPLO.com.br, b@exemplo.com.br",
        subject="Texto",
        text="linha 1\nlinha 2",
        encoding="quoted-printable",
        from_email="outro@exemplo.com.br",
        from_name="Outro",
    )
    results, _ = run(op)
    (call,) = sandbox.requests("mailgrid")
    body = call["body"]
    assert body["emailDestino"] == ["a@exemplo.com.br", "b@exemplo.com.br"]
    assert (body["mensagemTipo"], body["mensagemEncoding"]) == ("text", "quoted-printable")
    assert (body["emailRemetente"], body["nomeRemetente"]) == ("outro@exemplo.com.br", "Outro")
    assert "mensagemAlt" not in body and "mensagemAnexos" not in body
    assert [r["to"] for r in results] == ["a@exemplo.com.br", "b@exemplo.com.br"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"html": "<p>x</p>", "text": "x"}, "give exactly one body"),
        ({}, "give exactly one body"),
        ({"text": "x", "alt_text": "y"}, "alt_text: only meaningful with an html body"),
        ({"html": "x", "cc": addresses(101, "cc")}, "cc: 101 recipients exceed MailGrid's limit of 100"),
        ({"html": "x", "to": "sem-arroba"}, r"to: '\*\*\*' is not an e-mail address"),
        ({"html": "x", "encoding": "utf7"}, "encoding: 'utf7' is not allowed"),
    ],
)
def test_mailgrid_input_checked_before_any_request(sandbox, kwargs, message):
    params = {"to": addresses(3), "subject": "s", **kwargs}
    op = MailGridSendEmailOperator(task_id="send", **params)
    with pytest.raises(EmailBRInputError, match=message):
        run(op)
    assert sandbox.requests("mailgrid") == []


def test_mailgrid_50_mb_limit_checked_before_reading_or_sending(sandbox, tmp_path):
    big = tmp_path / "grande.zip"
    with big.open("wb") as handle:  # sparse: 38 MiB on disk, 53 MB once base64-encoded
        handle.truncate(38 * 1024 * 1024)
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(2), subject="s", html="x", attachments=[str(big)]
    )
    with pytest.raises(EmailBRInputError, match=r"exceed the 52,428,800-byte message limit \(50 MB"):
        run(op)
    assert sandbox.requests("mailgrid") == []


def test_mailgrid_partial_failure_fails_after_sending_everything(sandbox, tmp_path):
    to = [*addresses(150), "nome sobrenome@exemplo.com.br"]  # MailGrid refuses the malformed one (204)
    results_path = tmp_path / "r.jsonl"
    op = MailGridSendEmailOperator(
        task_id="send", to=to, subject="s", html="x", results_path=str(results_path)
    )
    with pytest.raises(SendIncompleteError) as info:
        run(op)
    err = info.value
    assert "150 sent (0 by earlier tries), 1 refused, 0 unknown, 0 not attempted" in str(err)
    assert "[code 204: ERRO DE ENVIO] n***@exemplo.com.br" in str(err)
    assert "nome sobrenome" not in str(err)  # addresses are masked in messages
    assert len(err.sent) == 150 and len(err.refused) == 1 and not err.unknown
    assert len(mailgrid_rows(sandbox)) == 150
    assert len(sandbox.requests("mailgrid")) == 2
    lines = ledger(results_path)
    refused = [line for line in lines if line["outcome"] == "refused"]
    assert refused == [
        {
            "key": "to:nome sobrenome@exemplo.com.br",
            "dag_id": "send_dag",
            "task_id": "send",
            "run_id": "manual__1",
            "map_index": -1,
            "try_number": 1,
            "at": refused[0]["at"],
            "to": "nome sobrenome@exemplo.com.br",
            "role": "to",
            "id": None,
            "status": "ERRO DE ENVIO",
            "codigo": "204",
            "outcome": "refused",
            "error": "code 204: ERRO DE ENVIO",
        }
    ]


def test_mailgrid_partial_failure_tolerated_with_fail_on_partial_false(sandbox):
    op = MailGridSendEmailOperator(
        task_id="send",
        to=["ok@exemplo.com.br", "x y@exemplo.com.br"],
        subject="s",
        html="x",
        fail_on_partial=False,
    )
    results, ti = run(op)
    assert [r["outcome"] for r in results] == ["sent", "refused"]
    assert "send_results" not in ti.xcoms


def test_all_refused_fails_even_with_fail_on_partial_false(sandbox):
    op = MailGridSendEmailOperator(
        task_id="send", to=["x y@exemplo.com.br"], subject="s", html="x", fail_on_partial=False
    )
    with pytest.raises(SendIncompleteError, match="0 sent"):
        run(op)


def test_mailgrid_drop_after_processing_is_never_resent_and_each_recipient_gets_one_message(
    sandbox, tmp_path
):
    """The no-double-send rule across retries, with the sandbox's "drop after processing" fault."""
    to = addresses(250)
    results_path = tmp_path / "send.jsonl"
    sandbox.set_fault("drop", vendor="mailgrid", path="/send", count=1)  # the 1st call is processed, then cut

    def make() -> MailGridSendEmailOperator:
        return MailGridSendEmailOperator(
            task_id="send",
            to=to,
            cc="copia@exemplo.com.br",
            subject="s",
            html="x",
            results_path=str(results_path),
        )

    with pytest.raises(SendIncompleteError) as first:
        run(make(), try_number=1)
    message = str(first.value)
    assert "0 sent (0 by earlier tries), 0 refused, 101 unknown, 150 not attempted" in message
    assert "NOT re-sent automatically" in message and "mark_send_results" in message
    assert "resend_unknown=True" in message
    assert len(first.value.unknown) == 101
    assert len(sandbox.requests("mailgrid")) == 1
    assert sandbox.requests("mailgrid")[0]["dropped"] is True

    with pytest.raises(SendIncompleteError) as second:
        run(make(), try_number=2)  # the retry: sends the 150 never attempted, not the 101 unknown
    assert "150 sent (0 by earlier tries), 0 refused, 101 unknown, 0 not attempted" in str(second.value)
    assert [len(c["body"]["emailDestino"]) for c in sandbox.requests("mailgrid")] == [100, 100, 50]
    assert (
        "emailDestinoCopia" not in sandbox.requests("mailgrid")[1]["body"]
    )  # the cc was in the dropped call

    with pytest.raises(
        SendIncompleteError, match="150 sent \\(150 by earlier tries\\), 0 refused, 101 unknown"
    ):
        run(make(), try_number=3)
    assert len(sandbox.requests("mailgrid")) == 3  # try 3 sent nothing

    delivered = [r["email_para"] for r in mailgrid_rows(sandbox)]
    assert sorted(delivered) == sorted([*to, "copia@exemplo.com.br"])  # everyone exactly once

    # After checking MailGrid's report, the operator marks the unknown ones as delivered: the next try succeeds.
    marked = mark_send_results(
        results_path, dag_id="send_dag", task_id="send", run_id="manual__1", outcome="sent"
    )
    assert (
        len(marked) == 101
        and "to:cliente0000@exemplo.com.br" in marked
        and "cc:copia@exemplo.com.br" in marked
    )
    results, _ = run(make(), try_number=4)
    assert len(sandbox.requests("mailgrid")) == 3
    assert len(results) == 251 and all(r["outcome"] == "sent" for r in results)
    assert results[0]["id"] is None and results[100]["id"]  # the dropped call's ids were never seen


def test_resend_unknown_sends_only_the_unknown_again(sandbox, tmp_path):
    results_path = tmp_path / "send.jsonl"
    sandbox.set_fault("drop", vendor="mailgrid", path="/send", count=1)
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(3), subject="s", html="x", results_path=str(results_path)
    )
    with pytest.raises(SendIncompleteError):
        run(op)
    op = MailGridSendEmailOperator(
        task_id="send",
        to=addresses(3),
        subject="s",
        html="x",
        results_path=str(results_path),
        resend_unknown="True",  # as a template such as "{{ params.resend_unknown }}" renders
    )
    results, _ = run(op, try_number=2)
    assert [r["outcome"] for r in results] == ["sent"] * 3
    assert len(sandbox.requests("mailgrid")) == 2


def test_not_processed_failures_are_refused_and_resent_by_the_retry(sandbox, tmp_path):
    """HTTP 503 means MailGrid did not process the call: nothing is unknown, the retry sends it."""
    results_path = tmp_path / "send.jsonl"
    sandbox.set_fault("status", vendor="mailgrid", path="/send", status=503, count=3)  # outlasts 2 retries
    op = fast(
        MailGridSendEmailOperator(
            task_id="send", to=addresses(120), subject="s", html="x", results_path=str(results_path)
        )
    )
    with pytest.raises(SendIncompleteError, match="0 sent .* 100 refused, 0 unknown, 20 not attempted"):
        run(op)
    assert [c["status"] for c in sandbox.requests("mailgrid")] == [503, 503, 503]  # the core retried it
    results, _ = run(
        fast(
            MailGridSendEmailOperator(
                task_id="send", to=addresses(120), subject="s", html="x", results_path=str(results_path)
            )
        ),
        try_number=2,
    )
    assert all(r["outcome"] == "sent" for r in results)
    assert [c["status"] for c in sandbox.requests("mailgrid")] == [503, 503, 503, 200, 200]
    assert sorted(r["email_para"] for r in mailgrid_rows(sandbox)) == addresses(120)


def test_retry_without_results_path_refuses_to_send(sandbox):
    op = MailGridSendEmailOperator(task_id="send", to=addresses(2), subject="s", html="x")
    with pytest.raises(AirflowFailException, match="no results_path records what went out"):
        run(op, try_number=2)
    assert sandbox.requests("mailgrid") == []
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(2), subject="s", html="x", resend_unknown=True
    )
    results, _ = run(op, try_number=2)  # the operator checked the report: everything is sent again
    assert [r["outcome"] for r in results] == ["sent", "sent"]


def test_attempt_without_outcome_counts_as_unknown_and_truncated_last_line_is_ignored(sandbox, tmp_path):
    """A worker killed mid-request leaves an ``attempt`` line (and maybe half a line): nothing is re-sent."""
    results_path = tmp_path / "send.jsonl"
    stamp = {"dag_id": "send_dag", "task_id": "send", "run_id": "manual__1", "map_index": -1, "try_number": 1}
    results_path.write_text(
        json.dumps({"key": "to:cliente0000@exemplo.com.br", **stamp, "outcome": "attempt"})
        + "\n"
        + json.dumps({"key": "to:cliente0001@exemplo.com.br", **stamp, "outcome": "sent", "id": "X1"})
        + '\n{"key": "to:cliente0002@exem'
    )
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(3), subject="s", html="x", results_path=str(results_path)
    )
    with pytest.raises(SendIncompleteError, match="2 sent \\(1 by earlier tries\\), 0 refused, 1 unknown"):
        run(op, try_number=2)
    (call,) = sandbox.requests("mailgrid")
    assert call["body"]["emailDestino"] == ["cliente0002@exemplo.com.br"]
    # the new lines were not glued onto the cut-short one: the file reads back whole
    outcomes = [line["outcome"] for line in ResultsLog(results_path).read()]
    assert outcomes == ["attempt", "sent", "attempt", "sent"]
    with pytest.raises(SendIncompleteError, match="2 sent \\(2 by earlier tries\\), 0 refused, 1 unknown"):
        run(
            MailGridSendEmailOperator(
                task_id="send", to=addresses(3), subject="s", html="x", results_path=str(results_path)
            ),
            try_number=3,
        )
    assert len(sandbox.requests("mailgrid")) == 1


def test_unreadable_lines_in_the_middle_are_skipped_safely(tmp_path):
    results_path = tmp_path / "r.jsonl"
    results_path.write_text('{"key": "a", "outcome": "attempt"}\n{"key": "a", "outc\n[1, 2]\n{"key": "b"}\n')
    assert ResultsLog(results_path).read() == [{"key": "a", "outcome": "attempt"}, {"key": "b"}]


def test_results_of_another_run_never_skip_a_send(sandbox, tmp_path):
    results_path = tmp_path / "shared.jsonl"
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(2), subject="s", html="x", results_path=str(results_path)
    )
    run(op, run_id="scheduled__1")
    run(op, run_id="scheduled__2")
    run(op, run_id="scheduled__2", map_index=3)
    assert len(sandbox.requests("mailgrid")) == 3
    assert len(mailgrid_rows(sandbox)) == 6


def test_mailgrid_concurrent_calls_send_everyone_once(sandbox, tmp_path):
    to = addresses(1000)
    op = MailGridSendEmailOperator(
        task_id="send", to=to, subject="s", html="x", concurrency=5, results_path=str(tmp_path / "r.jsonl")
    )
    results, _ = run(op)
    assert [r["to"] for r in results] == to
    assert len(sandbox.requests("mailgrid")) == 10
    assert sorted(r["email_para"] for r in mailgrid_rows(sandbox)) == to


def test_concurrency_bounds_are_checked_at_construction():
    with pytest.raises(EmailBRInputError, match="concurrency: 21 must be an integer from 1 to 20"):
        MailGridSendEmailOperator(task_id="send", to="a@x.com", subject="s", html="x", concurrency=21)


def test_results_on_object_storage_without_append_are_rewritten(sandbox, tmp_path):
    """Object stores that cannot append (S3, GCS) get the whole results object rewritten after each call."""
    import fsspec
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem
    from upath.implementations.memory import MemoryPath
    from upath.registry import register_implementation

    class NoAppendFileSystem(MemoryFileSystem):
        protocol = ("noappend",)

        def _open(self, path, mode="rb", **kwargs):
            if "a" in mode:
                raise NotImplementedError("append is not supported")
            return super()._open(path, mode, **kwargs)

    fsspec.register_implementation("noappend", NoAppendFileSystem, clobber=True)
    register_implementation("noappend", MemoryPath, clobber=True)
    attach("noappend", fs=NoAppendFileSystem())
    uri = "noappend://bucket/run/send.jsonl"
    sandbox.set_fault("drop", vendor="mailgrid", path="/send", count=1)
    op = MailGridSendEmailOperator(task_id="send", to=addresses(150), subject="s", html="x", results_path=uri)
    assert ResultsLog(uri).appendable is False
    with pytest.raises(SendIncompleteError):
        run(op)
    with pytest.raises(SendIncompleteError, match="50 sent"):
        run(
            MailGridSendEmailOperator(
                task_id="send", to=addresses(150), subject="s", html="x", results_path=uri
            ),
            try_number=2,
        )
    lines = ResultsLog(uri).read()
    assert [line["outcome"] for line in lines].count("attempt") == 150
    assert [line["outcome"] for line in lines].count("sent") == 50
    assert [line["outcome"] for line in lines].count("unknown") == 100


def test_mark_send_results_validates(tmp_path):
    with pytest.raises(EmailBRInputError, match="outcome: 'maybe' is not allowed"):
        mark_send_results(tmp_path / "r.jsonl", dag_id="d", task_id="t", run_id="r", outcome="maybe")
    with pytest.raises(EmailBRInputError, match="not found"):
        mark_send_results(
            tmp_path / "r.jsonl", dag_id="d", task_id="t", run_id="r", outcome="sent", keys=["x"]
        )


def test_run_identity_owns_only_its_task_instance():
    identity = RunIdentity("d", "t", "r", map_index=2, try_number=3)
    assert identity.owns({"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": 2})
    assert not identity.owns({"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1})
    assert not identity.owns({"dag_id": "d", "task_id": "t2", "run_id": "r", "map_index": 2})


# --------------------------------------------------------------------------------------- emailManager


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


def batch_messages(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"To": f"pessoa{i:04d}@exemplo.com.br", "Subject": f"Olá {i}", "HtmlBody": f"<p>{i}</p>", **extra}
        for i in range(n)
    ]


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
    keys = [line["key"] for line in ledger(results_path) if line["outcome"] == "unknown"]
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


def test_mailgrid_http_500_is_unknown(sandbox, tmp_path):
    sandbox.set_fault("status", vendor="mailgrid", path="/send", status=500, count=1)
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(1), subject="s", html="x", results_path=str(tmp_path / "r.jsonl")
    )
    with pytest.raises(SendIncompleteError, match="0 refused, 1 unknown"):
        run(op)


# ---------------------------------------------------------------------------------------- envie.email


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
        "body": "<p>Segue</p>",
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


def test_operators_construct_without_network_or_db():
    for op in (
        MailGridSendEmailOperator(
            task_id="a", to="x@y.com", subject="s", html="x", mailgrid_conn_id="missing"
        ),
        EmailManagerBatchSendOperator(task_id="b", messages=[], emailmanager_conn_id="missing"),
        EnvieEmailSendOperator(task_id="c", to="x@y.com", subject="s", html="x", envie_conn_id="missing"),
    ):
        assert "hook" not in op.__dict__
    assert os.environ.get("AIRFLOW_CONN_MISSING") is None
