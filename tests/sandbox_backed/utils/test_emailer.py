"""The e-mail backend, called the way Airflow calls it, against the sandbox."""

from __future__ import annotations

import base64
import logging

import pytest

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRInputError
from airflow_provider_emailbr.utils.emailer import EmailBRSendError, send_email
from emailbr_sandbox.constants import SENDER_EMAIL, SENDER_NAME

BACKEND = "airflow_provider_emailbr.utils.emailer.send_email"


@pytest.fixture
def configured(sandbox, monkeypatch):
    """``[email] email_backend`` pointing at this backend; the connection id is set per test."""
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", BACKEND)
    monkeypatch.delenv("AIRFLOW__EMAIL__FROM_EMAIL", raising=False)

    def use(conn_id: str) -> None:
        monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", conn_id)

    return use


def test_airflow_utils_send_email_goes_through_mailgrid(sandbox, configured, tmp_path):
    configured("mailgrid_default")
    from airflow.utils.email import send_email as airflow_send_email

    attachment = tmp_path / "relatorio.csv"
    attachment.write_text("a;b\n1;2\n")
    airflow_send_email(
        to=["a@exemplo.com.br", "b@exemplo.com.br"],
        subject="Relatório diário",
        html_content="<p>Segue</p>",
        files=[str(attachment)],
        cc="c@exemplo.com.br",
        bcc=["d@exemplo.com.br"],
    )
    (call,) = sandbox.requests("mailgrid")
    body = call["body"]
    assert body["emailDestino"] == ["a@exemplo.com.br", "b@exemplo.com.br"]
    assert body["emailDestinoCopia"] == ["c@exemplo.com.br"]
    assert body["emailDestinoCopiaOculta"] == ["d@exemplo.com.br"]
    assert (body["assunto"], body["mensagem"], body["mensagemTipo"]) == (
        "Relatório diário",
        "<p>Segue</p>",
        "html",
    )
    assert (body["emailRemetente"], body["nomeRemetente"]) == (SENDER_EMAIL, SENDER_NAME)
    assert body["mensagemAnexos"] == {
        "file1": {
            "name": "relatorio.csv",
            "type": "text/csv",
            "content": base64.b64encode(b"a;b\n1;2\n").decode(),
        }
    }
    assert len(sandbox.state("mailgrid")["rows"]) == 4


def test_the_task_runner_call_with_airflow_placeholder_sender(sandbox, configured):
    """Failure alerts: ``backend(to, subject, html, conn_id=…, from_email="airflow@airflow")``."""
    configured("emailmanager_default")
    send_email(
        ["oncall@exemplo.com.br"],
        "Airflow alert: <TaskInstance: d.t manual__1 [failed]>",
        "Try 1 out of 1<br>Exception:<br>boom",
        conn_id="emailmanager_default",
        from_email="airflow@airflow",
    )
    (message,) = sandbox.state("emailmanager")["messages"]
    assert message["From"] == SENDER_EMAIL  # the placeholder gave way to the connection's sender
    assert message["Subject"] == "Airflow alert: <TaskInstance: d.t manual__1 [failed]>"


def test_emailmanager_headers_named_sender_and_more_than_20_recipients(sandbox, configured):
    configured("emailmanager_default")
    to = [f"p{i:02d}@exemplo.com.br" for i in range(25)]
    send_email(
        to,
        "Aviso",
        "<p>oi</p>",
        cc=["c1@exemplo.com.br", "c2@exemplo.com.br"],
        from_email=f"Equipe Dados <{SENDER_EMAIL}>",
        custom_headers={"X-Origem": "airflow"},
        mime_subtype="alternative",
        mime_charset="utf-8",
    )
    bodies = [c["body"] for c in sandbox.requests("emailmanager")]
    assert [c["path"] for c in sandbox.requests("emailmanager")] == ["/emailmanager/email"] * 2
    assert bodies[0]["To"] == ", ".join(to[:18]) and bodies[0]["Cc"] == "c1@exemplo.com.br, c2@exemplo.com.br"
    assert bodies[1]["To"] == ", ".join(to[18:]) and "Cc" not in bodies[1]
    # the vendor's documented form: 'From ... aceitam "Nome da Conta" <remetente@dominio.com.br>'
    assert all(b["From"] == f'"Equipe Dados" <{SENDER_EMAIL}>' for b in bodies)
    assert all(b["Headers"] == [{"Name": "X-Origem", "Value": "airflow"}] for b in bodies)
    assert sum(len(m["Recipients"]) for m in sandbox.state("emailmanager")["messages"]) == 27


def test_envie_sends_every_recipient_individually(sandbox, configured, tmp_path):
    configured("envie_default")
    pdf = tmp_path / "nota.pdf"
    pdf.write_bytes(b"%PDF")
    send_email(
        "a@exemplo.com.br, b@exemplo.com.br", "Nota", "<p>nota</p>", files=[pdf], bcc="c@exemplo.com.br"
    )
    bodies = [c["body"] for c in sandbox.requests("envie")]
    assert [b["to_email"] for b in bodies] == ["a@exemplo.com.br", "b@exemplo.com.br", "c@exemplo.com.br"]
    assert bodies[0]["attachments"] == [
        {"data": base64.b64encode(b"%PDF").decode(), "name": "nota", "mime": "application/pdf"}
    ]
    # envie.email tracks opens/clicks only for HTML "entre as devidas tags <html><body></body></html>"
    assert bodies[0]["from_email"] == SENDER_EMAIL
    assert bodies[0]["body"] == "<html><body><p>nota</p></body></html>"


def test_dryrun_validates_and_sends_nothing(sandbox, configured, tmp_path):
    configured("mailgrid_default")
    assert send_email("a@exemplo.com.br", "s", "<p>x</p>", dryrun=True) == []
    with pytest.raises(EmailBRInputError, match="does not exist"):
        send_email("a@exemplo.com.br", "s", "<p>x</p>", files=[str(tmp_path / "nao-existe.pdf")], dryrun=True)
    assert sandbox.requests() == []


def test_a_failed_send_raises(sandbox, configured):
    configured("envie_default")
    with pytest.raises(EmailBRSendError, match="1 refused") as info:
        send_email(["ok@exemplo.com.br", "x@blacklist.example"], "s", "<p>x</p>")
    assert info.value.sent == ["ok@exemplo.com.br"] and info.value.refused == ["x@blacklist.example"]
    sandbox.set_fault("drop", vendor="envie", path="/singlesending", count=1)
    with pytest.raises(EmailBRSendError, match="1 unknown .* 1 not attempted"):
        send_email(["a@exemplo.com.br", "b@exemplo.com.br"], "s", "<p>x</p>")
    assert [m["to_email"] for m in sandbox.state("envie")["sent"]] == [
        "ok@exemplo.com.br",
        "a@exemplo.com.br",
    ]


def test_headers_are_refused_where_the_platform_cannot_send_them(sandbox, configured):
    configured("mailgrid_default")
    with pytest.raises(EmailBRInputError, match="MailGrid cannot send custom headers \\(X-A\\)"):
        send_email("a@exemplo.com.br", "s", "x", custom_headers={"X-A": "1"})
    assert sandbox.requests() == []


def test_other_charsets_are_sent_as_utf8_with_a_warning(sandbox, configured, caplog):
    configured("mailgrid_default")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_emailbr.utils.emailer"):
        send_email("a@exemplo.com.br", "Ação", "<p>ç</p>", mime_charset="iso-8859-1")
    assert "mime_charset 'iso-8859-1' ignored" in caplog.text
    assert sandbox.requests("mailgrid")[0]["body"]["assunto"] == "Ação"


def test_connection_of_another_type_is_a_clear_error(sandbox, configured):
    configured("criaenvio_default")
    with pytest.raises(EmailBRConfigError, match="has type 'criaenvio'.*emailmanager, envie_email, mailgrid"):
        send_email("a@exemplo.com.br", "s", "x")


def test_conn_id_comes_from_airflow_config_when_not_given(sandbox, configured):
    configured("envie_default")
    send_email("a@exemplo.com.br", "s", "x")
    assert len(sandbox.state("envie")["sent"]) == 1


def test_emailmanager_connection_sender_name_is_used_when_the_call_gives_no_sender(
    sandbox, configured, monkeypatch
):
    """The form's "Default sender name" reaches ``From`` as ``"Name" <addr>`` (the vendor's documented form)."""
    import json

    conn = json.loads(sandbox.conn_env["AIRFLOW_CONN_EMAILMANAGER_DEFAULT"])
    conn["extra"] = {"from_email": SENDER_EMAIL, "from_name": "Equipe Dados"}
    monkeypatch.setenv("AIRFLOW_CONN_EMAILMANAGER_NAMED", json.dumps(conn))
    configured("emailmanager_named")
    send_email(["oncall@exemplo.com.br"], "Aviso", "<p>oi</p>", conn_id="emailmanager_named")
    send_email(
        ["oncall@exemplo.com.br"],
        "Aviso",
        "<p>oi</p>",
        conn_id="emailmanager_named",
        from_email=f"Outra Equipe <{SENDER_EMAIL}>",
    )
    first, second = (call["body"]["From"] for call in sandbox.requests("emailmanager"))
    assert first == f'"Equipe Dados" <{SENDER_EMAIL}>'
    assert second == f'"Outra Equipe" <{SENDER_EMAIL}>'
