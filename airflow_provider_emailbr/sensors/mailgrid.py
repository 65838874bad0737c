"""Wait for MailGrid messages to reach the delivery report: :class:`MailGridDeliverySensor`."""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.utils.report_windows import (
    DEFAULT_MAX_WINDOW,
    account_zone,
    as_instant,
    as_timedelta,
    utcnow,
)
from airflow_provider_emailbr.utils.retry import is_transient
from airflow_provider_emailbr.utils.text import split_list
from airflow_provider_emailbr.waiting.mailgrid import find_deliveries

if TYPE_CHECKING:
    from datetime import tzinfo

    from airflow.sdk import Context

#: By default the report is searched from this long before the DAG run started (clock differences).
SENT_AFTER_MARGIN = timedelta(minutes=10)
#: Default ``timeout``: reports lag about 10 minutes, so a message missing after 2 hours is lost.
DEFAULT_TIMEOUT = timedelta(hours=2)
#: Up to this many pending ids are looked up one by one (``idMensagem``); more scan the whole window.
DEFAULT_PER_ID_QUERY_LIMIT = 10


def parse_message_ids(value: Any) -> list[str]:
    """The message ids of ``value``: a list/tuple/set of strings, or a string (JSON or Python list, or
    ids separated by commas, semicolons or spaces). Order kept, duplicates dropped; empty is an error."""
    if isinstance(value, str) and value.strip().startswith("["):  # a list rendered by a template
        try:
            parsed = json.loads(value)
        except ValueError:
            try:
                parsed = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                raise EmailBRInputError(f"message_ids: {value!r} is not a list of message ids") from None
        value = list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
    return split_list("message_ids", value, separators=" ,;")


class MailGridDeliverySensor(BaseSensorOperator):
    """Wait until MailGrid's detailed report lists the given messages, and return their final statuses.

    A message appears in MailGrid's report (about 10 minutes after it was sent) once its delivery is
    settled, as delivered (``Entregue com sucesso``) or failed: every appearance is final. The XCom is
    ``{message_id: {"status", "delivered", "recipient", "sent_at"}}`` in the order of ``message_ids``
    (``status`` is the vendor's text, ``sent_at`` ISO-8601 with offset). A message that never appears ends
    with the sensor's ``timeout`` (``AirflowSensorTimeout``; ``soft_fail`` skips instead).

    The report is searched from ``sent_after`` up to the poke's time. Up to ``per_id_query_limit`` pending
    ids are looked up one by one (``idMensagem``: tiny answers); more are found by reading the whole window
    in sub-windows of ``max_window``. Pokes run in the worker (``mode="poke"``/``"reschedule"``); with
    ``deferrable=True`` the sensor pokes once in the worker, then waits in the triggerer
    (:class:`~airflow_provider_emailbr.triggers.mailgrid.MailGridDeliveryTrigger`, reads only). The
    sensor's ``timeout`` (give up after this long) defaults to 2 hours and ``poke_interval`` to 60 s.
    Transient errors (:func:`~airflow_provider_emailbr.utils.retry.is_transient`: 429, 5xx, timeouts, dropped
    connections) that outlast the hook's retries never end the wait: the poke logs them and the next poke
    tries again; permanent ones (wrong credentials, a failed TLS handshake) fail the task.

    :param message_ids: ids from MailGrid's send answer (``id``): a list, or a string of ids. Templated.
    :param sent_after: no message was sent before this instant (datetime, date or ISO-8601; naive = the
        account's local time). Default: the DAG run's start minus 10 minutes. Templated.
    :param per_id_query_limit: pending ids up to which each is queried by id (default 10).
    :param max_window: longest sub-window when scanning the window (default one day).
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param mailgrid_conn_id: the MailGrid connection.
    """

    template_fields: Sequence[str] = ("message_ids", "sent_after")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        message_ids: Sequence[str] | str,
        sent_after: datetime | date | str | None = None,
        per_id_query_limit: int = DEFAULT_PER_ID_QUERY_LIMIT,
        max_window: timedelta | float = DEFAULT_MAX_WINDOW,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        mailgrid_conn_id: str = MailGridHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        super().__init__(**kwargs)
        if isinstance(per_id_query_limit, bool) or not isinstance(per_id_query_limit, int):
            raise EmailBRInputError(f"per_id_query_limit: {per_id_query_limit!r} is not an integer")
        if per_id_query_limit < 0:
            raise EmailBRInputError(f"per_id_query_limit: {per_id_query_limit} must be zero or positive")
        self.message_ids = message_ids
        self.sent_after = sent_after
        self.per_id_query_limit = per_id_query_limit
        self.max_window = as_timedelta(max_window, field="max_window", allow_zero=False)
        self.deferrable = deferrable
        self.mailgrid_conn_id = mailgrid_conn_id
        self._found: dict[str, dict[str, Any]] = {}

    @cached_property
    def hook(self) -> MailGridHook:
        """The MailGrid hook, built on first use."""
        return MailGridHook(mailgrid_conn_id=self.mailgrid_conn_id)

    def _window_start(self, context: Context, zone: tzinfo) -> datetime:
        if self.sent_after not in (None, ""):
            start = as_instant(self.sent_after, zone, field="sent_after")
        else:
            dag_run = context.get("dag_run")
            run_start = getattr(dag_run, "start_date", None)
            if run_start is None:
                raise EmailBRInputError(
                    "sent_after: not given and the DAG run has no start date; pass sent_after"
                )
            start = as_instant(run_start, zone, field="sent_after") - SENT_AFTER_MARGIN
        now = utcnow()
        if start > now:
            raise EmailBRInputError(
                f"sent_after: {start.astimezone(zone).isoformat()} is in the future "
                f"(now {now.astimezone(zone).isoformat()})"
            )
        return start

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Look the still-missing ids up once; done when all are in the report."""
        ids = parse_message_ids(self.message_ids)
        zone = account_zone(self.hook)
        start = self._window_start(context, zone)
        pending = [i for i in ids if i not in self._found]
        if pending:
            try:
                self._found.update(
                    find_deliveries(
                        self.hook,
                        pending,
                        start,
                        utcnow(),
                        per_id_query_limit=self.per_id_query_limit,
                        max_window=self.max_window,
                    )
                )
            except EmailBRError as err:
                if not is_transient(err):
                    raise
                self.log.warning("MailGrid report not readable now (%s); still waiting", err)
                return False
        missing = [i for i in ids if i not in self._found]
        self.log.info("%d of %d MailGrid message(s) in the report", len(ids) - len(missing), len(ids))
        if missing:
            return False
        return PokeReturnValue(is_done=True, xcom_value={i: self._found[i] for i in ids})

    def execute(self, context: Context) -> Any:
        """Poke (and sleep or reschedule) in the worker, or poke once and defer when ``deferrable``."""
        if not self.deferrable:
            return super().execute(context)
        started = utcnow()
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        from airflow_provider_emailbr.triggers.mailgrid import MailGridDeliveryTrigger

        ids = parse_message_ids(self.message_ids)
        start = self._window_start(context, account_zone(self.hook))
        self.defer(
            trigger=MailGridDeliveryTrigger(
                message_ids=ids,
                sent_after=start.isoformat(),
                deadline=(started + timedelta(seconds=self.timeout)).isoformat(),
                found={i: v for i, v in self._found.items() if i in ids},
                poll_interval=self.poke_interval,
                per_id_query_limit=self.per_id_query_limit,
                max_window_seconds=self.max_window.total_seconds(),
                mailgrid_conn_id=self.mailgrid_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, dict[str, Any]]:
        """Return the statuses, or fail: a ``timeout`` event is the sensor's timeout."""
        if not isinstance(event, dict) or "status" not in event:
            raise EmailBRError(f"MailGrid delivery trigger sent an unexpected event: {event!r}")
        if event["status"] == "success":
            results = dict(event.get("results") or {})
            self.log.info("All %d MailGrid message(s) are in the report", len(results))
            return results
        pending = event.get("pending") or []
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(
                f"Sensor has timed out after {self.timeout:g} s: {len(pending)} MailGrid message id(s) never "
                f"appeared in the report: {', '.join(pending)}"
            )
        raise EmailBRError(f"MailGrid delivery sensor failed: {event.get('message')}")
