"""MailGrid operators against the sandbox: the send operator's wire format, chunking, limits, partial
failures and retries."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator
from airflow_provider_emailbr.operators.send import SendIncompleteError
from airflow_provider_emailbr.sending.ledger import mark_send_results
from emailbr_sandbox.constants import MAILGRID_HOST, SENDER_EMAIL, SENDER_NAME
from tests.helpers import read_jsonl
from tests.sandbox_backed.support import mailgrid_rows
from tests.unit.sending.support import addresses, run


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
    lines = read_jsonl(results_path)
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


def test_mailgrid_concurrent_calls_send_everyone_once(sandbox, tmp_path):
    to = addresses(1000)
    op = MailGridSendEmailOperator(
        task_id="send", to=to, subject="s", html="x", concurrency=5, results_path=str(tmp_path / "r.jsonl")
    )
    results, _ = run(op)
    assert [r["to"] for r in results] == to
    assert len(sandbox.requests("mailgrid")) == 10
    assert sorted(r["email_para"] for r in mailgrid_rows(sandbox)) == to


def test_mailgrid_http_500_is_unknown(sandbox, tmp_path):
    sandbox.set_fault("status", vendor="mailgrid", path="/send", status=500, count=1)
    op = MailGridSendEmailOperator(
        task_id="send", to=addresses(1), subject="s", html="x", results_path=str(tmp_path / "r.jsonl")
    )
    with pytest.raises(SendIncompleteError, match="0 refused, 1 unknown"):
        run(op)
