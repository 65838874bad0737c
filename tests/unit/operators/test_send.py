"""SendEmailOperator: one DAG task, three vendors, chosen by the connection's type when the task runs."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRInputError
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCreateCampaignOperator,
)
from airflow_provider_emailbr.operators.emailmanager import (
    EmailManagerBatchSendOperator,
)
from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from airflow_provider_emailbr.operators.mailgrid import (
    MailGridReportOperator,
    MailGridSendEmailOperator,
)
from airflow_provider_emailbr.operators.send import SendEmailOperator
from tests.conftest import Reply
from tests.helpers import read_jsonl, run
from tests.unit.operators.hostile import (
    SETTINGS,
    hostile_context,
    run_hostile,
)
from tests.unit.sending.connections import SENDER, connection_definer


@pytest.fixture
def vendor_connection(server, set_connection):
    """Define a vendor's default connection against ``server``: ``vendor_connection("envie")`` -> its id."""
    return connection_definer(server, set_connection)


TO = ['"Silva, Ana" <ana@exemplo.com.br>', "bia@exemplo.com.br"]


def make(conn_id: str, **overrides) -> SendEmailOperator:
    params = {
        "task_id": "send",
        "conn_id": conn_id,
        "to": TO,
        "subject": "Pedido 42",
        "html": "<p>Seu pedido saiu</p>",
        "text": "Seu pedido saiu",
        "reply_to": "sac@exemplo.com.br",
        **overrides,
    }
    return SendEmailOperator(**params)


def test_mailgrid_connection_sends_through_mailgrid(server, vendor_connection, tmp_path):
    conn_id = vendor_connection("mailgrid")
    pdf = tmp_path / "nota.pdf"
    pdf.write_bytes(b"%PDF")
    server.reply(
        Reply(
            body=[
                {"status": "MSG ENVIADA", "codigo": "200", "id": "1", "to": "ana@exemplo.com.br"},
                {"status": "MSG ENVIADA", "codigo": "200", "id": "2", "to": "bia@exemplo.com.br"},
            ]
        )
    )
    results, _ = run(make(conn_id, cc="chefe@exemplo.com.br", attachments=[str(pdf)]))
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/mailgrid/api/send/")
    assert request.json == {
        "usuario_smtp": "smtp-user",
        "senha_smtp": "secret-token",
        "host_smtp": "grid0001.mailgrid.com.br",
        "emailRemetente": SENDER,
        "nomeRemetente": "Loja",
        "emailDestino": ["ana@exemplo.com.br", "bia@exemplo.com.br"],  # MailGrid takes bare addresses
        "emailDestinoCopia": ["chefe@exemplo.com.br"],
        "emailReply": "sac@exemplo.com.br",
        "assunto": "Pedido 42",
        "mensagem": "<p>Seu pedido saiu</p>",
        "mensagemTipo": "html",
        "mensagemEncoding": "base64",
        "mensagemAlt": "Seu pedido saiu",
        "mensagemAnexos": {
            "file1": {
                "name": "nota.pdf",
                "type": "application/pdf",
                "content": base64.b64encode(b"%PDF").decode(),
            }
        },
    }
    assert [(r["to"], r["role"], r["outcome"]) for r in results] == [
        ("ana@exemplo.com.br", "to", "sent"),
        ("bia@exemplo.com.br", "to", "sent"),
        ("chefe@exemplo.com.br", "cc", "sent"),
    ]


def test_emailmanager_connection_sends_one_message_with_names_kept(server, vendor_connection):
    conn_id = vendor_connection("emailmanager")
    server.reply(
        Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "m-1", "To": "ana@exemplo.com.br"})
    )
    results, _ = run(make(conn_id, bcc="auditoria@exemplo.com.br"))
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/emailmanager/email")
    assert request.headers["X-Emailmanager-Server-Token"] == "secret-token"
    assert request.json == {
        "From": f'"Loja" <{SENDER}>',
        "To": '"Silva, Ana" <ana@exemplo.com.br>, bia@exemplo.com.br',
        "Bcc": "auditoria@exemplo.com.br",
        "Subject": "Pedido 42",
        "HtmlBody": "<p>Seu pedido saiu</p>",
        "TextBody": "Seu pedido saiu",
        "ReplyTo": "sac@exemplo.com.br",
    }
    assert [(r["index"], r["MessageID"], r["outcome"]) for r in results] == [(0, "m-1", "sent")]


def test_envie_connection_sends_one_message_per_recipient_as_an_html_document(server, vendor_connection):
    conn_id = vendor_connection("envie")
    server.reply(
        Reply(body={"status": "success", "message_id": "e1"}),
        Reply(body={"status": "success", "message_id": "e2"}),
    )
    results, _ = run(make(conn_id, reply_to='"SAC Loja" <sac@exemplo.com.br>'))
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/envie/singlesending/create")] * 2
    first, second = (r.json for r in server.requests)
    assert first == {
        "to_name": "Silva, Ana",
        "to_email": "ana@exemplo.com.br",
        "from_name": "Loja",
        "from_email": SENDER,
        "reply_to_name": "SAC Loja",
        "reply_to_email": "sac@exemplo.com.br",
        "subject": "Pedido 42",
        "body": "<html><body><p>Seu pedido saiu</p></body></html>",
        "plain_text": "Seu pedido saiu",
    }
    assert (second["to_email"], second["to_name"]) == ("bia@exemplo.com.br", "bia")
    assert [(r["to"], r["message_id"], r["outcome"]) for r in results] == [
        ("ana@exemplo.com.br", "e1", "sent"),
        ("bia@exemplo.com.br", "e2", "sent"),
    ]


def test_envie_text_only_goes_out_as_escaped_preformatted_html(server, vendor_connection):
    conn_id = vendor_connection("envie")
    server.reply(Reply(body={"status": "success", "message_id": "e1"}))
    run(make(conn_id, to="ana@exemplo.com.br", html=None, text="Total < 10"))
    body = server.last.json
    assert (body["body"], body["plain_text"]) == (
        "<html><body><pre>Total &lt; 10</pre></body></html>",
        "Total < 10",
    )


@pytest.mark.parametrize(("field", "value"), [("cc", "chefe@exemplo.com.br"), ("bcc", ["a@exemplo.com.br"])])
def test_envie_has_no_copies_a_clear_error_before_anything_is_sent(server, vendor_connection, field, value):
    conn_id = vendor_connection("envie")
    with pytest.raises(EmailBRInputError, match=rf"envie\.email cannot send {field} \(it has no .*copies"):
        run(make(conn_id, **{field: value}))
    assert server.requests == []


def test_another_connection_type_is_a_clear_error_naming_it_and_the_supported_ones(server, set_connection):
    set_connection("criaenvio_default", conn_type="criaenvio", password="k")
    with pytest.raises(
        EmailBRConfigError,
        match=r"'criaenvio_default' has type 'criaenvio': e-mail is sent through connections of type "
        r"emailmanager, envie_email, mailgrid; SendEmailOperator needs one of them as conn_id",
    ):
        run(make("criaenvio_default"))
    assert server.requests == []


def test_the_connection_is_read_when_the_task_runs_not_when_the_dag_is_parsed(server, vendor_connection):
    op = make("ainda_nao_existe")  # parse time: the connection does not exist yet, nothing is read
    assert "adapter" not in op.__dict__ and "hook" not in op.__dict__
    assert {"conn_id", "to", "cc", "bcc", "subject", "html", "text", "reply_to", "attachments"} <= set(
        op.template_fields
    )
    with pytest.raises(Exception, match="ainda_nao_existe"):
        run(op)
    assert server.requests == []


def test_a_retry_skips_what_was_sent_whatever_the_vendor(server, vendor_connection, tmp_path):
    conn_id = vendor_connection("envie")
    results_path = tmp_path / "r.jsonl"
    server.reply(
        Reply(body={"status": "success", "message_id": "e1"}), Reply(status=409, body={"status": "error"})
    )
    with pytest.raises(Exception, match="1 sent .* 1 refused"):
        run(make(conn_id, results_path=str(results_path)))
    server.reply(Reply(body={"status": "success", "message_id": "e2"}))
    results, _ = run(make(conn_id, results_path=str(results_path)), try_number=2)
    assert [r.json["to_email"] for r in server.requests] == [
        "ana@exemplo.com.br",
        "bia@exemplo.com.br",
        "bia@exemplo.com.br",
    ]
    assert [r["outcome"] for r in results] == ["sent", "sent"]
    assert [line["outcome"] for line in read_jsonl(results_path)][-2:] == ["attempt", "sent"]


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


# ------------------------------------------------------------------------------------------ hostile input
# (the property and strategies: tests/unit/operators/hostile.py)


def render_natively(op, values: dict[str, Any]) -> None:
    """Render ``op``'s template fields the way a DAG with ``render_template_as_native_obj=True`` does."""
    op.render_template_fields(context=hostile_context(**values), jinja_env=op.dag.get_template_env())


NATIVE_VALUES = st.one_of(
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["a@x.com", "5", "[1, 2]", "{'a': 1}", "None", "True", "", "agora", "2999-01-01"]),
    st.none(),
)


@SETTINGS
@given(v=NATIVE_VALUES)
def test_templates_that_render_to_the_wrong_type_give_a_clear_error(conns, tmp_path, counter, v):
    from airflow.sdk import DAG

    n = next(counter)
    with DAG(f"native{n}", schedule=None, render_template_as_native_obj=True):
        ops = [
            MailGridSendEmailOperator(
                task_id="mg",
                to="{{ v }}",
                subject="{{ v }}",
                html="<p>x</p>",
                results_path=str(tmp_path / f"mg{n}.jsonl"),
            ),
            EnvieEmailSendOperator(
                task_id="en",
                to="{{ v }}",
                subject="s",
                html="{{ v }}",
                results_path=str(tmp_path / f"en{n}.jsonl"),
            ),
            EmailManagerBatchSendOperator(
                task_id="eb", messages="{{ v }}", results_path=str(tmp_path / f"eb{n}.jsonl")
            ),
            CriaEnvioCreateCampaignOperator(
                task_id="cc", subject="{{ v }}", html="<p>x</p>", list_ids="{{ v }}", start_at="{{ v }}"
            ),
            MailGridReportOperator(
                task_id="rp",
                start="{{ v }}",
                end="2025-01-02",
                status="{{ v }}",
                deferrable=False,
                report_lag=0,
            ),
        ]
    conns.default = Reply(body=[])
    for op in ops:
        render_natively(op, {"v": v})
        run_hostile(conns, op)
