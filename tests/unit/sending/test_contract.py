"""One contract for every sender: the same vendor answer means the same outcome everywhere.

The send operators (the vendor's own and :class:`SendEmailOperator`), the notifiers (sync and async) and the
``[email] email_backend`` all go through the sending layer's adapters and its one classifier. Each scripted
answer below is fed to each of them, for each vendor, and each must report the same outcome for the one
recipient. The expectations follow the vendors' docs (../shared/api-docs/):

- a documented success is ``sent``; a documented refusal is ``refused``;
- HTTP 429 and 503, repeated until the HTTP core's retries are exhausted, were certainly not processed:
  ``refused``;
- HTTP 500 may have been processed: ``unknown``, except for emailManager, whose doc says "Ocorreu algum erro
  interno durante o envio da mensagem e o mesmo não finalizado. Nestes casos, você deve tentar efetuar um
  novo envio": ``refused``;
- an unreadable 2xx answer, or a connection dropped after the request went out: ``unknown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRSendError
from tests.conftest import RecordingServer, Reply
from tests.helpers import FAST_RETRIES, run

RECIPIENT = "ana@exemplo.com.br"
#: Requests made when an answer is repeated until the retries are exhausted.
EXHAUSTED = 1 + FAST_RETRIES.max_retries

SUCCESS = {
    # mailgrid.txt: one result per recipient, "200 MSG ENVIADA"
    "mailgrid": Reply(body=[{"status": "MSG ENVIADA", "codigo": "200", "id": "mg-1", "to": RECIPIENT}]),
    # emailmanager.txt: {"ErrorCode": 0, "Message": "OK", "MessageID", "SubmittedAt", "To"}
    "emailmanager": Reply(
        body={
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": "nC7kJ3-ri5lN9-f21E3b-k5hT6D",
            "SubmittedAt": "2010-11-26T12:01:05",
            "To": RECIPIENT,
        }
    ),
    # envie-email.txt: {"status": "success", "message_id"}
    "envie": Reply(body={"status": "success", "message_id": "env-1"}),
}
DOCUMENTED_REFUSAL = {
    # mailgrid.txt: "215 ERRO: TAMANHO EXCEDIDO", in an HTTP 200
    "mailgrid": Reply(body={"status": "ERRO: TAMANHO EXCEDIDO", "codigo": "215"}),
    # emailmanager.txt: HTTP 422 with {ErrorCode, Message}; "300 – Invalid email request"
    "emailmanager": Reply(status=422, body={"ErrorCode": 300, "Message": "Invalid email request"}),
    # envie-email.txt: "409 Conflict -- Email em blacklist."
    "envie": Reply(status=409, body={"status": "error", "error": "Email em blacklist."}),
}

#: answer name -> (replies per vendor, expected outcome per vendor, requests made)
ANSWERS: dict[str, tuple[Callable[[str], list[Reply]], dict[str, str], int]] = {
    "2xx": (lambda v: [SUCCESS[v]], dict.fromkeys(SUCCESS, "sent"), 1),
    "documented-error": (lambda v: [DOCUMENTED_REFUSAL[v]], dict.fromkeys(SUCCESS, "refused"), 1),
    "429": (
        lambda v: [Reply(status=429, body={"error": "Too Many Requests"})] * EXHAUSTED,
        dict.fromkeys(SUCCESS, "refused"),
        EXHAUSTED,
    ),
    "503": (
        lambda v: [Reply(status=503, body="<html>Service Unavailable</html>")] * EXHAUSTED,
        dict.fromkeys(SUCCESS, "refused"),
        EXHAUSTED,
    ),
    "500": (
        lambda v: [Reply(status=500, body="<html>Internal Server Error</html>")],
        {"mailgrid": "unknown", "envie": "unknown", "emailmanager": "refused"},
        1,
    ),
    "unreadable-2xx": (
        lambda v: [Reply(status=200, body="<html><body>Bem-vindo</body></html>")],
        dict.fromkeys(SUCCESS, "unknown"),
        1,
    ),
    "dropped": (lambda v: [Reply(drop=True)], dict.fromkeys(SUCCESS, "unknown"), 1),
}


def _vendor_operator(vendor: str, conn_id: str, tmp_path: Any) -> Any:
    from airflow_provider_emailbr.operators.emailmanager import EmailManagerSendEmailOperator
    from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
    from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator

    common = {
        "task_id": "send",
        "to": RECIPIENT,
        "subject": "Pedido",
        "results_path": str(tmp_path / "r.jsonl"),
    }
    if vendor == "mailgrid":
        return MailGridSendEmailOperator(html="<p>x</p>", mailgrid_conn_id=conn_id, **common)
    if vendor == "emailmanager":
        return EmailManagerSendEmailOperator(html_body="<p>x</p>", emailmanager_conn_id=conn_id, **common)
    return EnvieEmailSendOperator(html="<p>x</p>", envie_conn_id=conn_id, **common)


def _operator_outcome(op: Any) -> str:
    from airflow_provider_emailbr.operators.send import SendIncompleteError

    try:
        result, _ = run(op)
    except SendIncompleteError:
        return _last_ti_outcome(op)
    records = result if isinstance(result, list) else [result]
    assert len(records) == 1
    return records[0]["outcome"]


def _last_ti_outcome(op: Any) -> str:
    from tests.helpers import read_jsonl

    lines = [r for r in read_jsonl(op.results_path) if r["outcome"] != "attempt"]
    return lines[-1]["outcome"]


def _delivery_outcome(send: Callable[[], Any]) -> str:
    try:
        send()
    except EmailBRSendError as err:
        assert [*err.sent, *err.refused, *err.unknown] == [RECIPIENT]
        return "refused" if err.refused else "unknown"
    return "sent"


def _notifier(vendor: str, conn_id: str) -> Any:
    from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier
    from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier
    from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier

    cls = {"mailgrid": MailGridNotifier, "emailmanager": EmailManagerNotifier, "envie": EnvieEmailNotifier}[
        vendor
    ]
    return cls(to=RECIPIENT, subject="Falhou", html_content="<p>x</p>", **{cls.conn_id_attr: conn_id})


def _sender(path: str, vendor: str, conn_id: str, tmp_path: Any) -> Callable[[], str]:
    if path == "vendor-operator":
        return lambda: _operator_outcome(_vendor_operator(vendor, conn_id, tmp_path))
    if path == "send-email-operator":
        from airflow_provider_emailbr.operators.send import SendEmailOperator

        return lambda: _operator_outcome(
            SendEmailOperator(
                task_id="send",
                conn_id=conn_id,
                to=RECIPIENT,
                subject="Pedido",
                html="<p>x</p>",
                results_path=str(tmp_path / "r.jsonl"),
            )
        )
    if path == "notifier":
        return lambda: _delivery_outcome(lambda: _notifier(vendor, conn_id).notify({}))
    if path == "async-notifier":
        return lambda: _delivery_outcome(lambda: asyncio.run(_notifier(vendor, conn_id).async_notify({})))
    from airflow_provider_emailbr.utils.emailer import send_email

    return lambda: _delivery_outcome(lambda: send_email(RECIPIENT, "Pedido", "<p>x</p>", conn_id=conn_id))


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("vendor", ["mailgrid", "emailmanager", "envie"])
@pytest.mark.parametrize(
    "path", ["vendor-operator", "send-email-operator", "notifier", "async-notifier", "email-backend"]
)
def test_the_same_answer_gives_the_same_outcome_through_every_sender(
    server: RecordingServer,
    vendor_connection: Callable[..., str],
    tmp_path: Any,
    path: str,
    vendor: str,
    answer: str,
) -> None:
    replies, expected, requests = ANSWERS[answer]
    conn_id = vendor_connection(vendor)
    server.reply(*replies(vendor))

    outcome = _sender(path, vendor, conn_id, tmp_path)()

    assert outcome == expected[vendor]
    assert len(server.requests) == requests  # a send is never repeated after it may have been processed
    assert all(r.method == "POST" for r in server.requests)
