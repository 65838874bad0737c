"""A campaign that a person approves before it is scheduled: preview to the test list, then a human decision.

1. ``import_contacts`` — the newsletter's contacts into the CriaEnvio list "Clientes Newsletter".
2. ``create_message`` — the message only (``schedule=False``); idempotent, the task returns its id.
3. ``preview`` — the message to the account's test list ("Lista Teste"); returns the subject, the sizes of
   the audience's lists and the test list's recipients (masked).
4. ``approve`` — the standard provider's ``ApprovalOperator``: the approvers get an e-mail through MailGrid
   with the subject, the audience's size and a link to the approval page; the task then waits (on Airflow
   3.3 in the ``awaiting_input`` state, holding no worker slot) until someone answers in the Airflow UI or
   through the REST API, or ``response_timeout`` passes.
5. ``schedule_campaign`` — the approved message scheduled to the list (``message_id=``); idempotent.
6. ``wait_for_campaign`` — waits in the triggerer (deferrable) until the campaign is done.
7. ``write_statistics`` — the campaign's totals and rates to ``campaign_stats.json``.

"Reject" skips steps 5–7 and a timeout fails ``approve`` (so they never run): in both cases no campaign
exists. Connections: ``criaenvio_default`` and ``mailgrid_default``. Variables: ``emailbr_contacts_csv``
(default: the sample file shipped here), ``emailbr_approvers`` (who approves; default
``marketing@exemplo.com.br``), ``emailbr_output_dir`` (default ``/tmp/emailbr-output``) and
``emailbr_airflow_url``, the Airflow UI's address for the link in the e-mail (default
``http://localhost:8080``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag, task

from airflow_provider_emailbr.notifications.mailgrid import MailGridNotifier
from airflow_provider_emailbr.operators.criaenvio import (
    CriaEnvioCreateCampaignOperator,
    CriaEnvioImportContactsOperator,
    CriaEnvioSendTestOperator,
)
from airflow_provider_emailbr.sensors.criaenvio import CriaEnvioCampaignSensor

SAMPLE_CONTACTS = str(Path(__file__).parent / "data" / "clientes_newsletter.csv")
OUTPUT_DIR = "{{ var.value.get('emailbr_output_dir', '/tmp/emailbr-output') }}/{{ ds }}"
AUDIENCE = ["Clientes Newsletter"]
PREVIEW = "ti.xcom_pull(task_ids='preview')"

NEWSLETTER = """<html><body>
<h1>Novidades de {{ data_interval_end.in_timezone('America/Sao_Paulo').format('DD/MM/YYYY') }}</h1>
<p>Olá! Confira as ofertas da semana.</p>
</body></html>"""

#: What the approver reads on the approval page (Markdown).
APPROVAL_BODY = (
    "**Assunto:** {{ " + PREVIEW + "['subject'] }}\n\n"
    "**Público:** {{ " + PREVIEW + "['audience_contacts'] }} contato(s) nas listas "
    "{% for l in "
    + PREVIEW
    + "['lists'] %}{{ l['name'] }} ({{ l['active_contacts'] }}){% if not loop.last %}, "
    "{% endif %}{% endfor %}\n\n"
    "**Prévia enviada à lista de teste** ({{ " + PREVIEW + "['test_list']['active_contacts'] }} contato(s)): "
    "{{ " + PREVIEW + "['test_recipients'] | join(', ') }}\n\n"
    "Aprovar agenda a campanha; rejeitar não cria campanha nenhuma."
)

#: The e-mail the approvers get: subject, audience size and the link to the approval page.
APPROVERS_EMAIL = (
    "<p>A campanha <b>{{ " + PREVIEW + "['subject'] | e }}</b> aguarda aprovação.</p>"
    "<p>Público: <b>{{ " + PREVIEW + "['audience_contacts'] }}</b> contato(s). A prévia foi enviada à lista "
    "de teste.</p>"
    '<p><a href="{{ task.generate_link_to_ui(task_instance=ti, '
    "base_url=var.value.get('emailbr_airflow_url', 'http://localhost:8080')) }}\">"
    "Aprovar ou rejeitar no Airflow</a></p>"
)


@dag(
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["emailbr", "criaenvio", "approval", "example"],
)
def emailbr_campaign_with_approval() -> None:
    import_contacts = CriaEnvioImportContactsOperator(
        task_id="import_contacts",
        source_path=f"{{{{ var.value.get('emailbr_contacts_csv', '{SAMPLE_CONTACTS}') }}}}",
        list_names=AUDIENCE,
        create_lists=True,
        rejected_path=f"{OUTPUT_DIR}/rejected.csv",
        max_rejected_ratio=0.1,
    )

    create_message = CriaEnvioCreateCampaignOperator(
        task_id="create_message",
        name="Newsletter {{ ds }}",
        subject="Novidades da semana",
        html=NEWSLETTER,
        schedule=False,
    )

    preview = CriaEnvioSendTestOperator(
        task_id="preview",
        message_id="{{ ti.xcom_pull(task_ids='create_message') }}",
        list_names=AUDIENCE,
    )

    approve = ApprovalOperator(
        task_id="approve",
        subject='Agendar a campanha "{{ ' + PREVIEW + "['subject'] }}\"?",
        body=APPROVAL_BODY,
        response_timeout=timedelta(days=2),
        retries=0,
        notifiers=[
            MailGridNotifier(
                to="{{ var.value.get('emailbr_approvers', 'marketing@exemplo.com.br') }}",
                subject="[Aprovação] {{ " + PREVIEW + "['subject'] }}: "
                "{{ " + PREVIEW + "['audience_contacts'] }} contato(s)",
                html_content=APPROVERS_EMAIL,
            )
        ],
    )

    schedule_campaign = CriaEnvioCreateCampaignOperator(
        task_id="schedule_campaign",
        message_id="{{ ti.xcom_pull(task_ids='create_message') }}",
        list_names=AUDIENCE,
        sender="remetente@exemplo.com.br",
        start_at="agora",
    )

    wait_for_campaign = CriaEnvioCampaignSensor(
        task_id="wait_for_campaign",
        campaign_id="{{ ti.xcom_pull(task_ids='schedule_campaign')['campaign_id'] }}",
        deferrable=True,
        poke_interval=30,
        timeout=int(timedelta(days=1).total_seconds()),
    )

    @task
    def write_statistics(stats: dict, output_dir: str) -> str:
        """Write the final campaign statistics."""
        path = Path(output_dir) / "campaign_stats.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stats, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)

    statistics = write_statistics(wait_for_campaign.output, OUTPUT_DIR)
    import_contacts >> create_message >> preview >> approve >> schedule_campaign >> wait_for_campaign
    wait_for_campaign >> statistics


emailbr_campaign_with_approval()
