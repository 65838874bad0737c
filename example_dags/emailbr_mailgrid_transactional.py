"""MailGrid transactional sends, then the delivery report, with failure alerts through MailGrid itself.

1. ``recipients`` — who to write to today (here a fixed list; in real life a query or an upstream export).
2. ``send_statement`` — one message to every recipient, in calls of at most 100, with a results file so that
   a retried try never sends twice to someone already confirmed.
3. ``wait_for_delivery`` — waits (deferrable, in the triggerer) until MailGrid's report shows every message
   as delivered or failed.
4. ``daily_report`` — yesterday's full delivery report to CSV (MailGrid reports lag about 10 minutes; the
   operator waits for the window to be complete without holding a worker).

Any task failure e-mails the on-call address through ``MailGridNotifier``. Connection: ``mailgrid_default``
(extras ``smtp_host`` and ``from_email``). Files go under the Variable ``emailbr_output_dir``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier
from airflow_provider_emailbr.operators.mailgrid import MailGridReportOperator, MailGridSendEmailOperator
from airflow_provider_emailbr.sensors.mailgrid import MailGridDeliverySensor

OUTPUT_DIR = "{{ var.value.get('emailbr_output_dir', '/tmp/emailbr-output') }}/{{ ds }}"

alert_on_call = MailGridNotifier(
    to="{{ var.value.get('emailbr_oncall', 'plantao@exemplo.com.br') }}",
    subject="[Airflow] {{ ti.dag_id }}.{{ ti.task_id }} falhou ({{ ds }})",
    html_content="<p>A tarefa <b>{{ ti.task_id }}</b> falhou na execução {{ run_id }}.</p>",
)


@dag(
    schedule="0 7 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    default_args={"retries": 2, "on_failure_callback": alert_on_call},
    tags=["emailbr", "mailgrid", "example"],
)
def emailbr_mailgrid_transactional() -> None:
    @task
    def recipients() -> list[str]:
        """Today's recipients (a list of addresses of any length)."""
        return [f"cliente{i}@exemplo.com.br" for i in range(150)] + ["devolvido@bounce.example"]

    send_statement = MailGridSendEmailOperator(
        task_id="send_statement",
        to=recipients(),
        subject="Seu extrato de {{ ds }}",
        html="<p>Olá! Seu extrato do dia {{ ds }} está disponível.</p>",
        results_path=f"{OUTPUT_DIR}/mailgrid_send_results.jsonl",
    )

    wait_for_delivery = MailGridDeliverySensor(
        task_id="wait_for_delivery",
        message_ids="{{ ti.xcom_pull(task_ids='send_statement') | map(attribute='id') | select | list }}",
        deferrable=True,
        poke_interval=60,
        timeout=2 * 60 * 60,
    )

    daily_report = MailGridReportOperator(
        task_id="daily_report",
        start="{{ logical_date.in_timezone('America/Sao_Paulo').subtract(days=1).start_of('day') }}",
        end="{{ logical_date.in_timezone('America/Sao_Paulo').start_of('day') }}",
        output_path=f"{OUTPUT_DIR}/mailgrid_report.csv",
    )

    send_statement >> wait_for_delivery >> daily_report


emailbr_mailgrid_transactional()
