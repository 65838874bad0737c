"""The example DAG ``emailbr_campaign_with_approval`` end to end under ``dag.test()`` against the sandbox:
approved, rejected and timed out.

``dag.test()`` parks the approval task in ``awaiting_input`` and waits for an answer recorded from outside.
A helper thread gives it the way Airflow does: the approval through the REST API's own handler
(``update_hitl_detail``, called with a user and a session), the timeout through the scheduler's own sweep
(``SchedulerJobRunner.check_awaiting_input_timeouts``) once the deadline is moved into the past. The
assertions are on the sandbox: an approved run created exactly one campaign, a rejected or timed-out run
none, and the approvers' e-mail (MailGrid) carried the subject, the audience size and the approval link.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.dagrun import ensure_metadata_db, run_dag, skip_without_dag_runs

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "emailbr_campaign_with_approval.py"
DAG_ID = "emailbr_campaign_with_approval"


class Approver:
    """Answers the approval task of the DAG's latest run once it waits for input."""

    def __init__(self, act: Callable[[Any, Any], None]) -> None:
        self.act = act
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Approver:
        # everything the thread uses is imported here first: two threads importing Airflow at once can
        # deadlock on the import locks
        import airflow.api_fastapi.core_api.routes.public.hitl
        import airflow.jobs.scheduler_job_runner
        import airflow.models.taskinstance
        import airflow.utils.session  # noqa: F401
        import sqlalchemy.exc  # noqa: F401

        self.thread.start()
        return self

    def _run(self) -> None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy.exc import OperationalError

        deadline = time.monotonic() + 240
        busy: OperationalError | None = None
        try:
            while time.monotonic() < deadline:
                try:
                    with create_session() as session:
                        ti = (
                            session.query(TaskInstance)
                            .filter_by(
                                dag_id=DAG_ID, task_id="approve", state=TaskInstanceState.AWAITING_INPUT
                            )
                            .one_or_none()
                        )
                        if ti is not None:
                            self.act(ti, session)
                            self.done.set()
                            return
                except OperationalError as error:  # SQLite busy with the DAG run's own writes: ask again
                    busy = error
                time.sleep(0.5)
            self.error = TimeoutError(f"no answer given within 240 s (last database error: {busy})")
        except BaseException as error:
            self.error = error
        finally:
            if not self.done.is_set():
                self._end_the_wait()

    @staticmethod
    def _end_the_wait() -> None:
        """When no answer could be given, time the approval out as the scheduler would, so ``dag.test()``
        returns and the test fails with the approver's error instead of waiting for ever."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        for _ in range(20):
            try:
                with create_session() as session:
                    for ti in session.query(TaskInstance).filter_by(
                        dag_id=DAG_ID, task_id="approve", state=TaskInstanceState.AWAITING_INPUT
                    ):
                        time_out(ti, session)
                return
            except Exception:  # the database busy again: try once more
                time.sleep(0.5)


class HITLUser:
    """The user the REST API's handler records as the respondent."""

    def get_id(self) -> str:
        return "maria"

    def get_name(self) -> str:
        return "Maria (marketing)"


def answer(option: str) -> Callable[[Any, Any], None]:
    """Answer through the REST API's handler of ``PATCH …/hitlDetails``."""

    def act(ti: Any, session: Any) -> None:
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail

        update_hitl_detail(
            dag_id=ti.dag_id,
            dag_run_id=ti.run_id,
            task_id=ti.task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
            user=HITLUser(),
            session=session,
            map_index=-1,
        )

    return act


def time_out(ti: Any, session: Any) -> None:
    """Move the response deadline into the past and run the scheduler's timeout sweep."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    ti.trigger_timeout = pendulum.now("UTC").subtract(seconds=1)
    session.commit()
    SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts(session=session)
    session.commit()


def run_with(sandbox: Any, act: Callable[[Any, Any], None], monkeypatch: Any, tmp_path: Path) -> Any:
    skip_without_dag_runs()  # before the thread starts
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_VAR_EMAILBR_CONTACTS_CSV", str(EXAMPLE.parent / "data" / "clientes_newsletter.csv")
    )
    monkeypatch.setenv("AIRFLOW_VAR_EMAILBR_APPROVERS", "aprovadora@exemplo.com.br")
    sandbox.config(campaign_seconds=1, clock_speed=3600)
    ensure_metadata_db()  # before the thread reads the metadata DB
    approver = Approver(act).start()
    result = run_dag(EXAMPLE, DAG_ID, logical_date=pendulum.now("UTC").replace(microsecond=0))
    approver.thread.join(timeout=5)
    assert approver.error is None, approver.error
    assert approver.done.is_set()
    return result


def approval_mail(sandbox: Any) -> dict[str, Any]:
    [send] = [r for r in sandbox.requests(vendor="mailgrid", method="POST") if r["path"].endswith("/send/")]
    return send["body"]


def check_preview(sandbox: Any, result: Any) -> str:
    """The test list got the preview, the approvers their e-mail; returns the message id."""
    message_id = result.xcom("create_message")
    preview = result.xcom("preview")
    assert preview["message_id"] == message_id
    assert preview["subject"] == "Novidades da semana"
    assert preview["audience_contacts"] == 5 and preview["test_send"] == "sent"
    assert preview["lists"][0]["name"] == "Clientes Newsletter"
    assert preview["test_recipients"] and "teste@exemplo.com.br" not in preview["test_recipients"]
    [test_send] = sandbox.state("criaenvio")["test_sends"]
    assert test_send["mensagem"] == message_id and test_send["emails"] == ["teste@exemplo.com.br"]
    body = approval_mail(sandbox)
    text = str(body)
    assert "aprovadora@exemplo.com.br" in text
    assert "Novidades da semana" in text and "5 contato(s)" in text
    assert f"/dags/{DAG_ID}/runs/" in text and "/tasks/approve/required_actions" in text
    return message_id


def test_approved_run_schedules_exactly_one_campaign(sandbox, monkeypatch, tmp_path):
    result = run_with(sandbox, answer("Approve"), monkeypatch, tmp_path)
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    message_id = check_preview(sandbox, result)
    [campaign] = sandbox.state("criaenvio")["campaigns"]
    assert campaign["mensagem"] == message_id
    assert result.xcom("schedule_campaign")["campaign_id"] == campaign["id"]
    assert result.xcom("approve")["chosen_options"] == ["Approve"]
    assert result.xcom("wait_for_campaign")["status"] == "Concluído"
    assert len(sandbox.requests(vendor="criaenvio", method="POST", path="/envios")) == 1


def test_rejected_run_creates_no_campaign(sandbox, monkeypatch, tmp_path):
    result = run_with(sandbox, answer("Reject"), monkeypatch, tmp_path)
    assert result.task_states["approve"] == "success"
    for task_id in ("schedule_campaign", "wait_for_campaign", "write_statistics"):
        assert result.task_states[task_id] == "skipped"
    check_preview(sandbox, result)
    assert sandbox.state("criaenvio")["campaigns"] == []
    assert sandbox.requests(vendor="criaenvio", method="POST", path="/envios") == []


def test_timed_out_run_creates_no_campaign(sandbox, monkeypatch, tmp_path):
    result = run_with(sandbox, time_out, monkeypatch, tmp_path)
    assert result.state == "failed"
    assert result.task_states["approve"] == "failed"
    assert result.task_states["schedule_campaign"] == "upstream_failed"
    check_preview(sandbox, result)
    assert sandbox.state("criaenvio")["campaigns"] == []
    assert sandbox.requests(vendor="criaenvio", method="POST", path="/envios") == []
