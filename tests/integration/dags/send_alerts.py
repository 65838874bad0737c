"""Test DAG: failure, success and retry callbacks through the three notifiers, and Airflow's own failure
e-mail through the e-mail backend (the test sets ``[email] email_backend`` and ``email_conn_id``)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_emailbr.notifications.emailmanager import EmailManagerNotifier
from airflow_provider_emailbr.notifications.envie import EnvieEmailNotifier
from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier

SUBJECT = "{{ ti.task_id }} falhou em {{ dag_run.dag_id }} (try {{ ti.try_number }}): {{ exception }}"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def send_alerts():
    @task(on_failure_callback=MailGridNotifier(to="oncall@exemplo.com.br", subject=SUBJECT))
    def fails_mailgrid() -> None:
        raise ValueError("saldo negativo")

    @task(
        on_failure_callback=EmailManagerNotifier(to="oncall@exemplo.com.br", subject=SUBJECT, tag="alertas")
    )
    def fails_emailmanager() -> None:
        raise ValueError("arquivo vazio")

    @task(on_failure_callback=[EnvieEmailNotifier(to="oncall@exemplo.com.br", subject=SUBJECT)])
    def fails_envie() -> None:
        raise ValueError("timeout do banco")

    @task(on_success_callback=MailGridNotifier(to="dados@exemplo.com.br", subject="{{ ti.task_id }} ok"))
    def succeeds() -> int:
        return 42

    @task(
        retries=1,
        retry_delay=timedelta(seconds=0),
        on_retry_callback=EmailManagerNotifier(
            to="oncall@exemplo.com.br",
            subject="nova tentativa de {{ ti.task_id }} após try {{ ti.try_number }}",
        ),
        on_failure_callback=EmailManagerNotifier(to="oncall@exemplo.com.br", subject=SUBJECT),
    )
    def retries_then_fails() -> None:
        raise RuntimeError("sempre falha")

    @task(email=["plantao@exemplo.com.br"], email_on_failure=True, email_on_retry=False)
    def airflow_failure_email() -> None:
        raise RuntimeError("falha com e-mail do Airflow")

    fails_mailgrid()
    fails_emailmanager()
    fails_envie()
    succeeds()
    retries_then_fails()
    airflow_failure_email()


the_dag = send_alerts()
