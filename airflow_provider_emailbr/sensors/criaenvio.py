"""Wait until a CriaEnvio campaign has gone out: :class:`CriaEnvioCampaignSensor`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook, campaign_progress, campaign_stats
from airflow_provider_emailbr.utils.retry import is_transient
from airflow_provider_emailbr.waiting.criaenvio import CANCELLED, PAUSED, SUCCESS, campaign_verdict

if TYPE_CHECKING:
    from airflow.sdk import Context


class CriaEnvioCampaignCancelledError(EmailBRError, AirflowFailException):
    """The campaign was cancelled (``Cancelado``): it will never complete, so the task fails without
    retries."""


class CriaEnvioCampaignPausedError(EmailBRError):
    """The campaign is paused (``Suspenso``) and the sensor was told to fail on a pause."""


class CriaEnvioCampaignSensor(BaseSensorOperator):
    """Wait until a CriaEnvio campaign is ``Concluído`` and return its final statistics.

    Every poll logs the status, the percent complete and how many e-mails went out. ``Concluído`` is
    success; ``Cancelado`` fails the task (without retries); ``Suspenso`` keeps waiting unless
    ``fail_on_paused`` is set (the verdict is
    :func:`~airflow_provider_emailbr.waiting.criaenvio.campaign_verdict`, shared with the trigger). Transient
    errors (:func:`~airflow_provider_emailbr.utils.retry.is_transient`: 429, 5xx, timeouts, dropped
    connections) never end the wait:
    a poke that still fails after the hook's retries logs it and the sensor keeps waiting (until its
    ``timeout``); in the triggerer they are retried with backoff. Permanent errors (an unknown campaign, a
    wrong key) fail the task.

    With ``deferrable=True`` (the default follows ``[operators] default_deferrable``), the sensor pokes once
    in the worker and then defers to
    :class:`~airflow_provider_emailbr.triggers.criaenvio.CriaEnvioCampaignTrigger`, polling every
    ``poke_interval`` seconds for at most ``timeout`` seconds without holding a worker slot.

    :param campaign_id: the campaign (``envio``) id, e.g.
        ``"{{ ti.xcom_pull(task_ids='create_campaign')['campaign_id'] }}"``. Templated.
    :param fail_on_paused: fail when the campaign is paused instead of waiting for it to be resumed.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param criaenvio_conn_id: the CriaEnvio connection.

    Returns (XCom) the campaign statistics of
    :func:`~airflow_provider_emailbr.hooks.criaenvio.campaign_stats`: ``campaign_id``, ``codigo``,
    ``status``, ``started_at``, ``finished_at``, the totals (``total_de_contatos``, ``total_enviado``,
    ``rejeitados``, ``descadastros``, ``visualizacoes_*``, ``cliques_*`` …) and the rates (``taxa_de_*``,
    ``porcentagem_de_conclusao``).
    """

    template_fields: Sequence[str] = ("campaign_id",)
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        campaign_id: str,
        fail_on_paused: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_id = campaign_id
        self.fail_on_paused = fail_on_paused
        self.deferrable = deferrable
        self.criaenvio_conn_id = criaenvio_conn_id

    @cached_property
    def hook(self) -> CriaEnvioHook:
        """The CriaEnvio hook, built on first use."""
        return CriaEnvioHook(criaenvio_conn_id=self.criaenvio_conn_id)

    def _campaign_id(self) -> str:
        value = str(self.campaign_id if self.campaign_id is not None else "").strip()
        if not value or value == "None":
            raise EmailBRInputError(f"campaign_id: a campaign id is required, got {self.campaign_id!r}")
        return value

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the campaign once; done with its statistics when ``Concluído``."""
        campaign_id = self._campaign_id()
        try:
            view = (self.hook.get_campaign(campaign_id) or {}).get("data") or {}
        except EmailBRError as err:
            if not is_transient(err):
                raise
            self.log.warning("Campaign %s: transient error (%s); still waiting.", campaign_id, err)
            return PokeReturnValue(is_done=False)
        stats = campaign_stats(view, self.hook.timezone)
        self.log.info("Campaign %s: %s.", campaign_id, campaign_progress(stats))
        return self._evaluate(campaign_id, stats)

    def _evaluate(self, campaign_id: str, stats: dict[str, Any]) -> PokeReturnValue:
        """Act on the shared verdict: done with the statistics, fail (cancelled; paused if told) or wait."""
        verdict = campaign_verdict(campaign_id, stats, fail_on_paused=self.fail_on_paused)
        if verdict.outcome == CANCELLED:
            raise CriaEnvioCampaignCancelledError(verdict.message)
        if verdict.outcome == PAUSED:
            raise CriaEnvioCampaignPausedError(verdict.message)
        if verdict.message:
            self.log.info(verdict.message)
        if verdict.outcome == SUCCESS:
            return PokeReturnValue(is_done=True, xcom_value=stats)
        return PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        """Poke in the worker; when deferrable and not done after one poke, defer to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        try:
            result = self.poke(context)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping: {err}") from err
            raise
        if result.is_done:
            return result.xcom_value
        from airflow_provider_emailbr.triggers.criaenvio import CriaEnvioCampaignTrigger

        self.log.info(
            "Deferring: the triggerer reads campaign %s every %s s for at most %s s.",
            self._campaign_id(),
            self.poke_interval,
            self.timeout,
        )
        self.defer(
            trigger=CriaEnvioCampaignTrigger(
                campaign_id=self._campaign_id(),
                criaenvio_conn_id=self.criaenvio_conn_id,
                poll_interval=self.poke_interval,
                fail_on_paused=self.fail_on_paused,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the statistics, or fail with what the trigger saw."""
        event = event or {}
        campaign_id = str(event.get("campaign_id") or self.campaign_id)
        status = event.get("status")
        stats = event.get("campaign") or {}
        if status == SUCCESS:
            return self._evaluate(campaign_id, stats).xcom_value
        if status in (CANCELLED, PAUSED):
            self._evaluate(campaign_id, stats)  # raises the matching error
        detail = event.get("message") or repr(event)
        raise EmailBRError(f"Waiting for CriaEnvio campaign {campaign_id} failed: {detail}")
