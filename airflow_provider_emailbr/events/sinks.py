"""Where an event-driven DAG puts delivery events: a warehouse table and the imports' suppression file.

A DAG scheduled on a delivery-events asset (``Asset("emailbr://events/<conn_id>")``, fed by the webhook
receiver, or an asset watched by an event trigger) reads its events with :func:`events_from_asset_events`,
then:

* :func:`append_events_to_table` appends them to a table through any common-sql connection (SQLite,
  Postgres, …), **idempotently by** ``event_id``: a rerun of the DAG run, or a vendor's repeated post that
  reached Airflow twice, adds no second row;
* :func:`append_to_suppression_file` adds the addresses of hard bounces, complaints and unsubscribes
  (:data:`~airflow_provider_emailbr.events.model.SUPPRESSING_EVENT_TYPES`) to the CSV or JSON Lines file
  that the import operators' ``suppress`` reads (:mod:`airflow_provider_emailbr.importing.suppression`),
  each address once.

Nothing here imports Airflow or a database driver at import time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_emailbr.events.model import SUPPRESSING_EVENT_TYPES, DeliveryEvent
from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.privacy import mask_email

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- reading


def events_from_extra(extra: Mapping[str, Any] | None, *, where: str = "asset event") -> list[DeliveryEvent]:
    """The delivery events one asset event's ``extra`` carries.

    Accepted shapes: ``{"event": {...}}`` and ``{"events": [{...}, ...]}`` (each a
    :meth:`DeliveryEvent.to_dict`), as the webhook receiver writes them, and the same under ``"payload"``,
    as Airflow wraps an event trigger's payload (``{"from_trigger": true, "payload": {...}}``). Anything else
    is an error naming ``where`` and the keys found: no event is dropped silently.
    """
    body: Any = extra or {}
    if isinstance(body, Mapping) and "payload" in body and not ({"event", "events"} & set(body)):
        body = body["payload"]
    if isinstance(body, Mapping) and isinstance(body.get("event"), Mapping):
        items: list[Any] = [body["event"]]
    elif isinstance(body, Mapping) and isinstance(body.get("events"), list):
        items = list(body["events"])
    else:
        keys = sorted(map(str, body)) if isinstance(body, Mapping) else type(body).__name__
        raise EmailBRInputError(
            f"{where}: its extra carries no delivery event (expected 'event' or 'events', found {keys})"
        )
    events: list[DeliveryEvent] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise EmailBRInputError(f"{where}: event {index} is a {type(item).__name__}, not an object")
        try:
            events.append(DeliveryEvent.from_dict(item))
        except EmailBRInputError as err:
            raise EmailBRInputError(f"{where}: event {index}: {err}") from None
    return events


def events_from_asset_events(triggering_asset_events: Any, *, uri: str | None = None) -> list[DeliveryEvent]:
    """Every delivery event of a DAG run's ``triggering_asset_events``, each ``event_id`` once, oldest first.

    Events are ordered by their timestamp (then ``event_id``), so what the sinks write does not depend on the
    order in which Airflow lists the triggering assets.

    :param triggering_asset_events: the context's ``triggering_asset_events`` (a mapping from asset to its
        asset events, each with an ``extra``), or any mapping or sequence of such events.
    :param uri: only the events of the asset with this URI (by default every asset's).
    """
    seen: set[str] = set()
    events: list[DeliveryEvent] = []
    for number, asset_event in enumerate(_asset_events(triggering_asset_events, uri), start=1):
        where = f"asset event {number}" + (f" of {uri}" if uri else "")
        extra = asset_event.get("extra") if isinstance(asset_event, Mapping) else asset_event.extra
        for event in events_from_extra(extra, where=where):
            if event.event_id not in seen:
                seen.add(event.event_id)
                events.append(event)
    events.sort(key=lambda event: (event.timestamp, event.event_id))
    return events


def _asset_events(source: Any, uri: str | None) -> Iterable[Any]:
    if isinstance(source, Mapping) or hasattr(source, "items"):
        for asset, asset_events in source.items():
            if uri is None or _uri_of(asset) == uri:
                yield from asset_events
        return
    for asset_event in source or ():
        if uri is None or _uri_of(getattr(asset_event, "asset", None)) == uri:
            yield asset_event


def _uri_of(asset: Any) -> str | None:
    return asset if isinstance(asset, str) or asset is None else getattr(asset, "uri", None)


# ---------------------------------------------------------------------------------------------- table

#: The columns of the events table, in order (``occurred_at`` is the event's ``timestamp``, ISO-8601 UTC;
#: ``raw`` the vendor's payload as JSON text).
TABLE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "vendor",
    "occurred_at",
    "recipient",
    "message_id",
    "tag",
    "url",
    "description",
    "raw",
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
#: Event ids looked up per query (well under every database's bound-parameter limit).
_CHUNK = 500


def check_table_name(table: str) -> str:
    """``table`` if it is a plain (optionally schema-qualified) SQL identifier, else an input error."""
    if not isinstance(table, str) or not _IDENTIFIER.match(table):
        raise EmailBRInputError(
            f"table: {table!r} is not a plain table name; use letters, digits and underscores, optionally "
            "schema-qualified (e.g. analytics.email_events)"
        )
    return table


def create_table_sql(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the events table, ``event_id`` its primary key (portable SQL)."""
    table = check_table_name(table)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "event_id VARCHAR(200) NOT NULL PRIMARY KEY, event_type VARCHAR(20) NOT NULL, "
        "vendor VARCHAR(40) NOT NULL, occurred_at VARCHAR(40) NOT NULL, recipient VARCHAR(320), "
        "message_id VARCHAR(200), tag VARCHAR(200), url TEXT, description TEXT, raw TEXT)"
    )


def table_row(event: DeliveryEvent) -> tuple[Any, ...]:
    """One event as a row of :data:`TABLE_COLUMNS`."""
    from airflow_provider_emailbr.utils.storage import json_line

    data = event.to_dict()
    return (
        event.event_id,
        event.event_type,
        event.vendor,
        data["timestamp"],
        event.recipient,
        event.message_id,
        event.tag,
        event.url,
        event.description,
        json_line(data["raw"]),
    )


def append_events_to_table(
    events: Sequence[DeliveryEvent], *, conn_id: str, table: str, create_table: bool = True
) -> int:
    """Append ``events`` to ``table`` through the common-sql connection ``conn_id``; return rows added.

    Idempotent by ``event_id``: ids already in the table (and repeats within ``events``) are skipped, so a
    rerun adds nothing; the primary key refuses a duplicate that a concurrent run would insert between the
    look-up and the insert. ``create_table`` creates the table (:func:`create_table_sql`) when missing.
    """
    from airflow_provider_emailbr.importing.sources import db_hook

    check_table_name(table)
    unique = list({event.event_id: event for event in events}.values())
    hook = db_hook(conn_id)
    if create_table:
        hook.run(create_table_sql(table))
    present: set[str] = set()
    ids = [event.event_id for event in unique]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        placeholders = ", ".join([hook.placeholder] * len(chunk))
        sql = f"SELECT event_id FROM {table} WHERE event_id IN ({placeholders})"
        present.update(str(found) for (found,) in hook.get_records(sql, parameters=chunk))
    rows = [table_row(event) for event in unique if event.event_id not in present]
    if rows:
        hook.insert_rows(table, rows, target_fields=list(TABLE_COLUMNS), commit_every=_CHUNK)
    log.info(
        "Events table %s: %d event(s) added, %d already there.", table, len(rows), len(unique) - len(rows)
    )
    return len(rows)


# ---------------------------------------------------------------------------------------------- suppression

#: The columns written to a suppression file (the import's reader needs only ``email``).
SUPPRESSION_COLUMNS: tuple[str, ...] = ("email", "event_type", "vendor", "event_id", "occurred_at", "reason")


class SuppressionUpdate(NamedTuple):
    """What :func:`append_to_suppression_file` did."""

    added: int
    """Addresses written to the file."""
    already: int
    """Suppressing events whose address the file already held (or that repeat an earlier one)."""
    invalid: int
    """Suppressing events whose recipient is missing or not an address (logged, masked; nothing to add)."""


def append_to_suppression_file(
    path: str | Path | ObjectStoragePath,
    events: Iterable[DeliveryEvent],
    *,
    conn_id: str | None = None,
    event_types: Iterable[str] = SUPPRESSING_EVENT_TYPES,
) -> SuppressionUpdate:
    """Add the recipients of suppressing events to the suppression file at ``path``, each address once.

    The file is what an import's ``suppress`` takes (CSV or JSON Lines by its extension, with an ``email``
    column; see :func:`~airflow_provider_emailbr.importing.suppression.load_suppression`); it is created
    when missing, and appended to otherwise with :data:`SUPPRESSION_COLUMNS`. Addresses are compared as the
    import compares them (:func:`~airflow_provider_emailbr.importing.suppression.suppression_key`), so an
    address already in the file, in any letter case, is not written again. A file that cannot be read as a
    suppression list stops here, before anything is written.

    :param event_types: which events suppress (default hard bounces, complaints and unsubscribes).
    """
    from airflow_provider_emailbr.importing.suppression import load_suppression, suppression_key
    from airflow_provider_emailbr.utils.emails import InvalidEmail
    from airflow_provider_emailbr.utils.storage import RowWriter, as_path

    wanted = frozenset(event_types)
    target = as_path(path, conn_id)
    existing = load_suppression(path, conn_id=conn_id) if target.exists() else None
    rows: list[dict[str, Any]] = []
    added_keys: set[str] = set()
    already = invalid = 0
    try:
        for event in events:
            if event.event_type not in wanted:
                continue
            try:
                key = suppression_key(event.recipient or "")
            except InvalidEmail:
                invalid += 1
                log.warning(
                    "Event %s (%s): recipient %r is not an address; nothing to suppress.",
                    event.event_id,
                    event.event_type,
                    mask_email(event.recipient),
                )
                continue
            if key in added_keys or (existing is not None and key in existing):
                already += 1
                continue
            added_keys.add(key)
            rows.append(
                {
                    "email": key,
                    "event_type": event.event_type,
                    "vendor": event.vendor,
                    "event_id": event.event_id,
                    "occurred_at": event.timestamp.astimezone(timezone.utc).isoformat(),
                    "reason": event.description,
                }
            )
    finally:
        if existing is not None:
            existing.close()
    if rows:
        with RowWriter(path, columns=SUPPRESSION_COLUMNS, conn_id=conn_id, append=True) as writer:
            writer.write_all(rows)
    log.info(
        "Suppression file %s: %d address(es) added, %d already there, %d without an address.",
        path,
        len(rows),
        already,
        invalid,
    )
    return SuppressionUpdate(added=len(rows), already=already, invalid=invalid)
