"""Test DAG: every send operator against the sandbox, with upstream XComs, files, limits and refusals.

The test sets ``EMAILBR_SEND_TEST_DIR`` to a folder holding ``fatura.pdf``, ``grande.zip`` (a sparse file over
MailGrid's 50 MB) and ``mensagens.jsonl`` before the run; without it the file still parses (paths are unused).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.operators.emailmanager import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
)
from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator

FILES = os.environ.get("EMAILBR_SEND_TEST_DIR", "/nonexistent")


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def send_operators():
    @task
    def recipients() -> list[str]:
        return [f"cliente{i:04d}@exemplo.com.br" for i in range(250)]

    @task
    def messages() -> list[dict]:
        return [
            {
                "To": f"pessoa{i:04d}@exemplo.com.br",
                "Subject": f"Pedido {i}",
                "TextBody": f"Pedido {i} enviado",
            }
            for i in range(1001)
        ]

    MailGridSendEmailOperator(
        task_id="mailgrid_chunks",
        to=recipients(),
        cc="copia@exemplo.com.br",
        bcc=["oculta@exemplo.com.br"],
        subject="Fatura de {{ logical_date | ds }}",
        html="<p>Olá, segue a fatura do run {{ run_id }}.</p>",
        attachments=[f"{FILES}/fatura.pdf"],
        results_path=f"{FILES}/{{{{ ti.task_id }}}}.jsonl",
    )
    MailGridSendEmailOperator(
        task_id="mailgrid_partial",
        to=["bom@exemplo.com.br", "nome invalido@exemplo.com.br"],
        subject="Parcial",
        text="texto",
    )
    MailGridSendEmailOperator(
        task_id="mailgrid_partial_tolerated",
        to=["outro@exemplo.com.br", "mais um invalido@exemplo.com.br"],
        subject="Parcial tolerado",
        text="texto",
        fail_on_partial=False,
    )
    MailGridSendEmailOperator(
        task_id="mailgrid_too_big",
        to="grande@exemplo.com.br",
        subject="Grande",
        html="<p>x</p>",
        attachments=[f"{FILES}/grande.zip"],
    )
    EmailManagerSendEmailOperator(
        task_id="emailmanager_single",
        to=["a@exemplo.com.br", "b@exemplo.com.br"],
        subject="Nota {{ run_id }}",
        html_body="<p>nota</p>",
        text_body="nota",
        tag="notas",
        attachments=[f"{FILES}/fatura.pdf"],
    )
    EmailManagerBatchSendOperator(task_id="emailmanager_batch", messages=messages())
    EmailManagerBatchSendOperator(
        task_id="emailmanager_jsonl", messages_path=f"{FILES}/mensagens.jsonl", fail_on_partial=False
    )
    EmailManagerSendEmailOperator(
        task_id="emailmanager_too_many",
        to=[f"x{i:02d}@exemplo.com.br" for i in range(21)],
        subject="Demais",
        text_body="x",
    )
    EnvieEmailSendOperator(
        task_id="envie_send",
        to=["e1@exemplo.com.br", {"email": "e2@exemplo.com.br", "name": "Eva"}],
        subject="Boleto",
        html="<p>boleto</p>",
        text="boleto",
        attachments=[f"{FILES}/fatura.pdf"],
    )
    EnvieEmailSendOperator(
        task_id="envie_partial",
        to=["e3@exemplo.com.br", "bloqueado@blacklist.example"],
        subject="Boleto",
        html="<p>boleto</p>",
    )


the_dag = send_operators()
