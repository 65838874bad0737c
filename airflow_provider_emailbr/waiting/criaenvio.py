"""The verdict on a CriaEnvio campaign someone waits for, shared by the sensor and the trigger.

:class:`~airflow_provider_emailbr.sensors.criaenvio.CriaEnvioCampaignSensor` (``_evaluate``) and
:class:`~airflow_provider_emailbr.triggers.criaenvio.CriaEnvioCampaignTrigger` (``_event_for``) read the
campaign with their hook, turn the view into :func:`~airflow_provider_emailbr.hooks.criaenvio.campaign_stats`
and ask :func:`campaign_verdict` what to do: ``Concluído`` ends the wait with success, ``Cancelado`` ends it
with a failure (the campaign will never complete), ``Suspenso`` ends it only when told to fail on a pause,
and anything else (``Em criação``, ``Agendado``, ``Enviando``) keeps waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from airflow_provider_emailbr.hooks.criaenvio import CAMPAIGN_CANCELLED, CAMPAIGN_COMPLETED, CAMPAIGN_PAUSED

#: Verdict outcomes; the first three are also the ``status`` of the trigger's final event.
SUCCESS = "success"
CANCELLED = "cancelled"
PAUSED = "paused"
WAITING = "waiting"


class CampaignVerdict(NamedTuple):
    """What to do after one read of a campaign.

    :param outcome: :data:`SUCCESS`, :data:`CANCELLED`, :data:`PAUSED` (each ends the wait) or
        :data:`WAITING`.
    :param message: what to log or raise, naming the campaign; empty when there is nothing to say beyond
        the progress line.
    """

    outcome: str
    message: str = ""

    @property
    def done(self) -> bool:
        """Whether the wait is over (successfully or not)."""
        return self.outcome != WAITING


def campaign_verdict(campaign_id: str, stats: Mapping[str, Any], *, fail_on_paused: bool) -> CampaignVerdict:
    """The verdict on campaign ``campaign_id`` given its :func:`campaign_stats` (``status`` is a canonical
    label of :data:`~airflow_provider_emailbr.hooks.criaenvio.CAMPAIGN_STATUS`)."""
    status = stats.get("status")
    if status == CAMPAIGN_COMPLETED:
        return CampaignVerdict(
            SUCCESS,
            f"Campaign {campaign_id} completed: {stats.get('total_enviado')} sent, open rate "
            f"{stats.get('taxa_de_abertura')}%, click rate {stats.get('taxa_de_clique')}%, rejection rate "
            f"{stats.get('taxa_de_rejeicao')}%.",
        )
    if status == CAMPAIGN_CANCELLED:
        return CampaignVerdict(
            CANCELLED,
            f"CriaEnvio campaign {campaign_id} was cancelled ({CAMPAIGN_CANCELLED}) after sending "
            f"{stats.get('total_enviado')} of {stats.get('total_de_contatos')} e-mails; "
            "it will never complete",
        )
    if status == CAMPAIGN_PAUSED and fail_on_paused:
        return CampaignVerdict(
            PAUSED,
            f"CriaEnvio campaign {campaign_id} is paused ({CAMPAIGN_PAUSED}) at "
            f"{stats.get('porcentagem_de_conclusao')}% and fail_on_paused is set",
        )
    if status == CAMPAIGN_PAUSED:
        return CampaignVerdict(WAITING, f"Campaign {campaign_id} is paused; waiting for it to be resumed.")
    return CampaignVerdict(WAITING)
