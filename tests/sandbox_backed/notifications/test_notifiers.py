"""The three notifiers against the sandbox: templating with the callback context, sync and async delivery."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from airflow_provider_emailbr.notifications.emailmanager import (
    EmailManagerNotifier,
)
from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier
from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier
from airflow_provider_emailbr.utils.emailer import EmailBRSendError
from emailbr_sandbox.constants import SENDER_EMAIL, SENDER_NAME


def task_context(exception: BaseException | None = None) -> dict:
    """What a task callback receives (the parts the templates use)."""
    ti = SimpleNamespace(
        task_id="carregar",
        try_number=2,
        state="failed",
        log_url="http://airflow.local/log?x=1",
    )
    dag_run = SimpleNamespace(dag_id="vendas", run_id="manual__2026-01-01")
    return {"ti": ti, "dag_run": dag_run, "run_id": dag_run.run_id, "exception": exception}


def deadline_context() -> dict:
    """What a deadline alert receives in the triggerer (a plain dict, no task instance)."""
    return {
        "dag_run": {"dag_id": "vendas", "run_id": "scheduled__2026-01-01"},
        "deadline": {"id": "d-1", "deadline_time": "2026-01-01T06:00:00+00:00"},
    }


def run_async(notifier) -> None:
    async def _await() -> None:
        await notifier

    asyncio.run(_await())


def test_mailgrid_notifier_renders_subject_and_body_from_the_task_context(sandbox):
    notifier = MailGridNotifier(
        to=["oncall@exemplo.com.br", "dados@exemplo.com.br"],
        subject="Falhou {{ ti.task_id }} ({{ dag_run.run_id }})",
        cc="chefe@exemplo.com.br",
    )
    notifier(task_context(ValueError("saldo <negativo>")))  # how Airflow calls a task callback

    (call,) = sandbox.requests("mailgrid", path="/mailgrid/api/send")
    body = call["body"]
    assert body["assunto"] == "Falhou carregar (manual__2026-01-01)"
    assert body["emailDestino"] == ["oncall@exemplo.com.br", "dados@exemplo.com.br"]
    assert body["emailDestinoCopia"] == ["chefe@exemplo.com.br"]
    assert (body["emailRemetente"], body["nomeRemetente"]) == (SENDER_EMAIL, SENDER_NAME)
    assert body["mensagemTipo"] == "html"
    assert "task <b>carregar</b> (try 2): <b>failed</b>" in body["mensagem"]
    assert "<pre>saldo &lt;negativo&gt;</pre>" in body["mensagem"]  # the exception is escaped
    assert '<a href="http://airflow.local/log?x=1">Task log</a>' in body["mensagem"]
    assert len(sandbox.state("mailgrid")["rows"]) == 3


def test_default_subject_for_a_task_callback(sandbox):
    EmailManagerNotifier(to="oncall@exemplo.com.br")(task_context())
    (message,) = sandbox.state("emailmanager")["messages"]
    assert message["Subject"] == "[Airflow] vendas / carregar: failed"


def test_async_notify_uses_the_async_path_with_a_deadline_context(sandbox):
    notifier = EmailManagerNotifier(
        to="oncall@exemplo.com.br",
        tag="alertas",
        headers={"X-Origem": "{{ dag_run.dag_id }}"},
        context=deadline_context(),
    )
    run_async(notifier)  # how the triggerer runs a deadline alert's AsyncCallback

    (call,) = sandbox.requests("emailmanager")
    assert (call["method"], call["path"]) == ("POST", "/emailmanager/email")
    assert call["body"]["Subject"] == "[Airflow] vendas: deadline missed"
    assert "Deadline 2026-01-01T06:00:00+00:00 was missed." in call["body"]["HtmlBody"]
    assert call["body"]["Tag"] == "alertas"
    assert call["body"]["Headers"] == [{"Name": "X-Origem", "Value": "vendas"}]
    assert call["body"]["From"] == SENDER_EMAIL
    assert "session" not in notifier.hook.__dict__  # the blocking requests session was never opened


def test_sync_and_async_build_the_same_requests(sandbox):
    recipients = [f"p{i:03d}@exemplo.com.br" for i in range(130)]
    MailGridNotifier(to=recipients, subject="x", bcc="b@exemplo.com.br")(task_context())
    run_async(MailGridNotifier(to=recipients, subject="x", bcc="b@exemplo.com.br", context=task_context()))
    bodies = [c["body"] for c in sandbox.requests("mailgrid")]
    assert [len(b["emailDestino"]) for b in bodies] == [100, 30, 100, 30]
    assert bodies[:2] == bodies[2:]
    assert "emailDestinoCopiaOculta" in bodies[0] and "emailDestinoCopiaOculta" not in bodies[1]


def test_envie_notifier_sends_each_recipient_and_copy_individually_with_attachments(sandbox, tmp_path):
    log_file = tmp_path / "erro.txt"
    log_file.write_text("Traceback …")
    notifier = EnvieEmailNotifier(
        to="oncall@exemplo.com.br",
        cc=["chefe@exemplo.com.br"],
        subject="{{ dag_run.dag_id }} falhou",
        text_content="veja o anexo",
        files=[str(log_file)],
        context=task_context(),
    )
    run_async(notifier)
    bodies = [c["body"] for c in sandbox.requests("envie")]
    assert [b["to_email"] for b in bodies] == ["oncall@exemplo.com.br", "chefe@exemplo.com.br"]
    assert all(b["subject"] == "vendas falhou" for b in bodies)
    assert bodies[0]["plain_text"] == "veja o anexo"
    assert (
        bodies[0]["attachments"][0]["name"] == "erro" and bodies[0]["attachments"][0]["mime"] == "text/plain"
    )
    assert [m["to_email"] for m in sandbox.state("envie")["sent"]] == [
        "oncall@exemplo.com.br",
        "chefe@exemplo.com.br",
    ]


def test_a_refused_alert_raises(sandbox):
    notifier = EnvieEmailNotifier(to=["ok@exemplo.com.br", "x@blacklist.example"], subject="s")
    with pytest.raises(
        EmailBRSendError, match="1 recipient\\(s\\) sent; 1 refused \\(x\\*\\*\\*@blacklist.example\\)"
    ):
        notifier(task_context())
    assert [m["to_email"] for m in sandbox.state("envie")["sent"]] == ["ok@exemplo.com.br"]


def test_a_lost_answer_is_not_repeated_and_raises_as_unknown(sandbox):
    sandbox.set_fault("drop", vendor="emailmanager", path="/email", count=1)
    notifier = EmailManagerNotifier(to="oncall@exemplo.com.br", subject="s", context=task_context())
    with pytest.raises(EmailBRSendError, match="1 unknown") as info:
        run_async(notifier)
    assert info.value.unknown == ["oncall@exemplo.com.br"]
    assert len(sandbox.requests("emailmanager")) == 1
    assert len(sandbox.state("emailmanager")["messages"]) == 1  # processed once, never repeated


def test_rendered_connection_id_is_used(sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MAILGRID_ALERTAS", sandbox.conn_env["AIRFLOW_CONN_MAILGRID_DEFAULT"])
    notifier = MailGridNotifier(
        to="a@exemplo.com.br", subject="s", mailgrid_conn_id="mailgrid_{{ params.conta }}"
    )
    context = {**task_context(), "params": {"conta": "alertas"}}
    notifier(context)
    assert notifier.hook.conn_id == "mailgrid_alertas"
    assert len(sandbox.requests("mailgrid")) == 1


def test_deadline_alert_runs_in_the_triggerer_callback_trigger(sandbox):
    """A deadline alert's ``AsyncCallback(MailGridNotifier, kwargs=…)`` as Airflow's CallbackTrigger runs it."""
    from airflow.triggers.callback import CallbackTrigger

    trigger = CallbackTrigger(
        callback_path="airflow_provider_emailbr.notifications.mailgrid.MailGridNotifier",
        callback_kwargs={
            "to": "oncall@exemplo.com.br",
            "subject": "Atrasado: {{ dag_run.dag_id }} ({{ deadline.deadline_time }})",
            "context": deadline_context(),
        },
    )

    async def collect() -> list:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(collect())
    assert [e["state"] for e in events] == ["running", "success"]
    (call,) = sandbox.requests("mailgrid")
    assert call["body"]["assunto"] == "Atrasado: vendas (2026-01-01T06:00:00+00:00)"
    assert call["body"]["emailDestino"] == ["oncall@exemplo.com.br"]
