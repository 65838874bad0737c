"""Wait in the triggerer for MailGrid messages to reach the delivery report: :class:`MailGridDeliveryTrigger`.

The trigger only reads the report (``POST report/`` is a read, marked idempotent in the hook), so a
triggerer restart, which runs ``run()`` again from the start, can never cause a side effect. Everything is
asynchronous: the connection is fetched with Airflow's async helpers and requests go through the hook's
:meth:`~airflow_provider_emailbr.hooks.base.EmailBRHook.acall`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_emailbr.exceptions import (
    EmailBRError,
    EmailBRRateLimitError,
    EmailBRServerError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.redaction import redact
from airflow_provider_emailbr.utils.report_windows import utcnow
from airflow_provider_emailbr.utils.retry import is_transient
from airflow_provider_emailbr.waiting.mailgrid import afind_deliveries

#: The error classes that can be transient (0.1.0 name). Which of them are is decided by
#: :func:`~airflow_provider_emailbr.utils.retry.is_transient`: a permanent transport error is not.
TRANSIENT_ERRORS = (EmailBRTransportError, EmailBRServerError, EmailBRRateLimitError)


class MailGridDeliveryTrigger(BaseTrigger):
    """Poll MailGrid's detailed report until every message id appears in it, then fire one event.

    Events (``TriggerEvent.payload``):

    - ``{"status": "success", "results": {message_id: {"status", "delivered", "recipient", "sent_at"}}}``;
    - ``{"status": "timeout", "results": {...found so far}, "pending": [ids], "message"}`` at ``deadline``;
    - ``{"status": "error", "results": {...}, "pending": [...], "message"}`` on a permanent error (wrong
      credentials, missing connection, an answer that cannot be read).

    Transient errors (:func:`~airflow_provider_emailbr.utils.retry.is_transient`: timeouts, dropped
    connections, 5xx, rate limits) that outlast the hook's retries are logged and tried again at the next
    poll. Any other error, a permanent transport error such as a failed TLS handshake included, ends the
    wait at once with an ``error`` event.

    :param message_ids: the ids to wait for, in the order of the result.
    :param sent_after: ISO-8601 instant before which none of them was sent (the report window's start).
    :param deadline: ISO-8601 instant at which to give up, or ``None`` for no limit.
    :param found: statuses already known (not queried again).
    :param poll_interval: seconds between two polls.
    :param per_id_query_limit: up to this many pending ids are queried one by one; more scan the window.
    :param max_window_seconds: longest sub-window when scanning.
    :param mailgrid_conn_id: the MailGrid connection.
    """

    def __init__(
        self,
        *,
        message_ids: Sequence[str],
        sent_after: str,
        deadline: str | None = None,
        found: Mapping[str, Mapping[str, Any]] | None = None,
        poll_interval: float = 60.0,
        per_id_query_limit: int = 10,
        max_window_seconds: float = 86400.0,
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.message_ids = [str(i) for i in message_ids]
        self.sent_after = str(sent_after)
        self.deadline = str(deadline) if deadline else None
        self.found = {str(k): dict(v) for k, v in (found or {}).items()}
        self.poll_interval = float(poll_interval)
        self.per_id_query_limit = int(per_id_query_limit)
        self.max_window_seconds = float(max_window_seconds)
        self.mailgrid_conn_id = str(mailgrid_conn_id)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-able kwargs (ids, instants and the connection id; never a credential)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "message_ids": list(self.message_ids),
                "sent_after": self.sent_after,
                "deadline": self.deadline,
                "found": self.found,
                "poll_interval": self.poll_interval,
                "per_id_query_limit": self.per_id_query_limit,
                "max_window_seconds": self.max_window_seconds,
                "mailgrid_conn_id": self.mailgrid_conn_id,
            },
        )

    def _payload(self, status: str, found: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        pending = [i for i in self.message_ids if i not in found]
        return {
            "status": status,
            "results": {i: found[i] for i in self.message_ids if i in found},
            "pending": pending,
            **extra,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until all ids are found, the deadline passes, or a permanent error occurs."""
        hook = MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)
        sent_after = datetime.fromisoformat(self.sent_after)
        deadline = datetime.fromisoformat(self.deadline) if self.deadline else None
        max_window = timedelta(seconds=self.max_window_seconds)
        found = dict(self.found)
        while True:
            pending = [i for i in self.message_ids if i not in found]
            now = utcnow()
            try:
                found.update(
                    await afind_deliveries(
                        hook,
                        pending,
                        sent_after,
                        max(now, sent_after),
                        per_id_query_limit=self.per_id_query_limit,
                        max_window=max_window,
                    )
                )
            except EmailBRError as err:
                if not is_transient(err):
                    yield TriggerEvent(self._payload("error", found, message=redact(str(err))))
                    return
                self.log.warning("MailGrid report not readable now, trying again next poll: %s", redact(err))
            except Exception as err:  # e.g. the connection does not exist: end the wait with the reason
                message = redact(f"{type(err).__name__}: {err}")
                yield TriggerEvent(self._payload("error", found, message=message))
                return
            pending = [i for i in self.message_ids if i not in found]
            if not pending:
                yield TriggerEvent(self._payload("success", found))
                return
            self.log.info(
                "%d of %d MailGrid message(s) in the report; %d pending",
                len(self.message_ids) - len(pending),
                len(self.message_ids),
                len(pending),
            )
            now = utcnow()
            if deadline is not None and now >= deadline:
                yield TriggerEvent(
                    self._payload(
                        "timeout",
                        found,
                        message=f"{len(pending)} message id(s) not in MailGrid's report by {self.deadline}",
                    )
                )
                return
            wait = self.poll_interval
            if deadline is not None:
                wait = min(wait, max(0.0, (deadline - now).total_seconds()))
            await asyncio.sleep(wait)
