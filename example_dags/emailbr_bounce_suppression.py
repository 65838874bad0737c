"""Bounce suppression, event-driven: delivery events into a warehouse table and the imports' suppression file.

The DAG runs whenever delivery events arrive, on either of two assets:

* ``emailbr://events/envie_default`` — envie.email's webhooks, received by the provider's webhook receiver
  (``POST /emailbr/webhooks/envie_default`` on the API server), which adds one asset event per post;
* ``emailbr://events/mailgrid_default`` — MailGrid's failure webhooks through the same receiver, and the
  failures an ``AssetWatcher`` finds in MailGrid's report (:class:`MailGridFailuresEventTrigger`, for
  accounts whose panel has no webhook). A failure that arrives both ways has the same ``event_id``, so it
  is recorded once.

Tasks (both read the run's ``triggering_asset_events``; no address travels through XCom):

1. ``append_to_warehouse`` — every event into the table ``email_events`` of the common-sql connection
   ``emailbr_warehouse`` (SQLite in the demo), idempotently by ``event_id``.
2. ``update_suppression_file`` — the addresses of hard bounces, complaints and unsubscribes added, once
   each, to the CSV file that the import operators' ``suppress`` reads: the Airflow Variable
   ``emailbr_suppression_file`` (default ``/tmp/emailbr-output/suppress.csv``).

On Airflow 3.3 the MailGrid watcher keeps its cursor in the asset's state store; on 3.2 give it
``cursor_path``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, AssetWatcher, Variable, dag, task

from airflow_provider_emailbr.triggers.mailgrid import MailGridFailuresEventTrigger

WAREHOUSE_CONN_ID = "emailbr_warehouse"
EVENTS_TABLE = "email_events"
DEFAULT_SUPPRESSION_FILE = "/tmp/emailbr-output/suppress.csv"

ENVIE_EVENTS = Asset("emailbr://events/envie_default")
MAILGRID_EVENTS = Asset(
    "emailbr://events/mailgrid_default",
    watchers=[
        AssetWatcher(
            name="emailbr_mailgrid_failures",
            trigger=MailGridFailuresEventTrigger(mailgrid_conn_id="mailgrid_default", poll_interval=300),
        )
    ],
)


@dag(
    schedule=(ENVIE_EVENTS | MAILGRID_EVENTS),
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    max_active_runs=1,
    tags=["emailbr", "events", "example"],
)
def emailbr_bounce_suppression() -> None:
    @task
    def append_to_warehouse(triggering_asset_events: Any = None) -> dict[str, int]:
        """Append the run's delivery events to the warehouse table (each ``event_id`` once)."""
        from airflow_provider_emailbr.events.sinks import append_events_to_table, events_from_asset_events

        events = events_from_asset_events(triggering_asset_events or {})
        added = append_events_to_table(events, conn_id=WAREHOUSE_CONN_ID, table=EVENTS_TABLE)
        return {"events": len(events), "added": added}

    @task
    def update_suppression_file(triggering_asset_events: Any = None) -> dict[str, int]:
        """Add hard bounces, complaints and unsubscribes to the imports' suppression file."""
        from airflow_provider_emailbr.events.sinks import append_to_suppression_file, events_from_asset_events

        events = events_from_asset_events(triggering_asset_events or {})
        path = Variable.get("emailbr_suppression_file", default=DEFAULT_SUPPRESSION_FILE)
        return append_to_suppression_file(path, events)._asdict()

    append_to_warehouse()
    update_suppression_file()


emailbr_bounce_suppression()
