"""Create, schedule and control CriaEnvio campaigns (``/mensagens`` and ``/envios``).

:class:`CriaEnvioCreateCampaignOperator` creates the message, optionally sends it to the account's test list,
and schedules the campaign; :class:`CriaEnvioCampaignControlOperator` pauses, cancels or resumes one. Waiting
for a campaign to go out is the job of
:class:`~airflow_provider_emailbr.sensors.campaigns.CriaEnvioCampaignSensor`.

**Idempotency.** CriaEnvio has no idempotency header, so the create operator keeps its own key: a hash of
``dag_id``, ``task_id``, ``run_id`` and ``map_index`` (:func:`idempotency_key`), written into the message's
secondary name (``nome``), the one free-text field the platform stores and can search. Before creating
anything, the operator searches messages for the key and, when it finds one, looks for the campaign of that
message. A retried or cleared task instance therefore reuses what an earlier try created — even when that
try's create request timed out or lost its connection after the server had processed it — instead of
sending a second campaign to the same people. Within one try, a create whose outcome is unknown is
reconciled the same way before the try gives up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_emailbr.exceptions import (
    EmailBRError,
    EmailBRInputError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.criaenvio import MAX_PAGE_SIZE, CriaEnvioHook, campaign_status
from airflow_provider_emailbr.utils.dates import to_local
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.retry import NOT_PROCESSED_STATUSES

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pendulum import DateTime

T = TypeVar("T")

#: Marks the idempotency key inside a message's secondary name (``nome``).
KEY_PREFIX = "airflow-key:"
#: ``start_at``/``resume_at`` values meaning "start now" (the API's ``agora``).
NOW_VALUES = frozenset({"agora", "now", ""})
#: What :class:`CriaEnvioCampaignControlOperator` can do.
CONTROL_ACTIONS = ("pause", "cancel", "resume")
#: Statuses in which each action has nothing left to do.
ACTION_TARGETS = {
    "pause": frozenset({"Suspenso"}),
    "cancel": frozenset({"Cancelado"}),
    "resume": frozenset({"Em criação", "Agendado", "Enviando"}),
}
#: Statuses from which the platform accepts each action.
ACTION_SOURCES = {
    "pause": frozenset({"Em criação", "Agendado", "Enviando"}),
    "cancel": frozenset({"Em criação", "Agendado", "Enviando", "Suspenso"}),
    "resume": frozenset({"Suspenso"}),
}

StartAt = datetime | date | str | None


class CriaEnvioCampaignStateError(EmailBRError, AirflowFailException):
    """The campaign is in a status from which the requested action is impossible (e.g. pausing a finished
    campaign). Retrying cannot help, so the task fails without retries."""


def idempotency_key(dag_id: str, task_id: str, run_id: str, map_index: int | None = -1) -> str:
    """The key of one task instance's campaign: the same for every try and clear of that task instance,
    different for every other run, task or map index (``airflow-key:`` + 24 hex digits)."""
    raw = "\x1f".join((dag_id, task_id, run_id, str(-1 if map_index is None else map_index)))
    return KEY_PREFIX + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]


def iter_campaigns_newest_first(hook: CriaEnvioHook) -> Iterator[dict[str, Any]]:
    """Every campaign of the account, last page first (the API lists oldest first), lazily.

    Campaigns created while iterating are appended after the pages already planned and are not returned.
    """
    first = hook.search_campaigns(page=1, number=MAX_PAGE_SIZE)
    pages = _as_int((first.get("pagination") or {}).get("total_pages")) or 1
    for page in range(pages, 1, -1):
        yield from reversed(hook.search_campaigns(page=page, number=MAX_PAGE_SIZE).get("data") or [])
    yield from reversed(first.get("data") or [])


def find_keyed_messages(hook: CriaEnvioHook, key: str) -> list[dict[str, Any]]:
    """The messages whose secondary name carries ``key``, newest first."""
    found = [m for m in hook.iter_messages(nome=key) if key in str(m.get("nome") or "")]
    return sorted(found, key=lambda m: _as_int(m.get("contador")) or 0, reverse=True)


def find_campaign_of(hook: CriaEnvioHook, message_ids: Iterable[str]) -> dict[str, Any] | None:
    """The newest campaign sending one of ``message_ids``, or ``None``.

    The campaign search has no message filter, so campaigns are scanned newest first and matched on
    ``id_mensagem``.
    """
    wanted = {str(i) for i in message_ids}
    if not wanted:
        return None
    return next((c for c in iter_campaigns_newest_first(hook) if str(c.get("id_mensagem")) in wanted), None)


def outcome_unknown(err: BaseException) -> bool:
    """Whether a failed state-changing request may nevertheless have been processed by the server."""
    if isinstance(err, EmailBRTransportError):
        return err.request_sent and not err.permanent
    if isinstance(err, EmailBRServerError):
        return err.status not in NOT_PROCESSED_STATUSES
    return False


def _is_now(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in NOW_VALUES)


def _as_int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    """The API's booleans arrive as ``true``/``false``, ``1``/``0`` or strings of them."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "t", "sim", "s", "yes"}
    return bool(value)


def _required_text(field: str, value: Any) -> str:
    if value is None or not isinstance(value, str) or not value.strip():
        raise EmailBRInputError(f"{field}: a non-empty text is required, got {value!r}")
    return value


def _optional_text(field: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise EmailBRInputError(f"{field}: expected text, got {type(value).__name__} {value!r}")
    return value


def _id_list(field: str, value: Any) -> list[str]:
    """Ids or names from ``"a,b"`` or a sequence, stripped, without empties or duplicates."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable) and not isinstance(value, (Mapping, bytes)):
        value = list(value)
        bad = [v for v in value if not isinstance(v, (str, int)) or isinstance(v, bool)]
        if bad:
            raise EmailBRInputError(f"{field}: {bad[0]!r} is not a list id or name (text or a number)")
        items = [str(v) for v in value]
    else:
        raise EmailBRInputError(f"{field}: expected a comma-separated string or a list, got {value!r}")
    out = list(dict.fromkeys(i.strip() for i in items if i and i.strip()))
    if not out:
        raise EmailBRInputError(f"{field}: give at least one value")
    return out


class _CriaEnvioOperatorMixin:
    """The lazily built hook shared by the campaign operators."""

    criaenvio_conn_id: str

    @cached_property
    def hook(self) -> CriaEnvioHook:
        """The CriaEnvio hook, built on first use."""
        return CriaEnvioHook(criaenvio_conn_id=self.criaenvio_conn_id)

    def _schedule(
        self, hook: CriaEnvioHook, value: StartAt, *, field: str, first_try: bool
    ) -> tuple[DateTime | None, EmailBRInputError | None]:
        """``(local time or None for "now", deferred past-time error)``.

        A value that is not a date-time is always refused at once. A time in the past is refused at once on a
        first try; on a later try the error is returned instead, so the caller can first check whether an
        earlier try already did the job (its time may have passed since).
        """
        if _is_now(value):
            return None, None
        local = to_local(value, hook.timezone, field=field)  # type: ignore[arg-type]
        try:
            hook.schedule_value(local, field=field)
        except EmailBRInputError as err:
            if first_try:
                raise
            return local, err
        return local, None


class CriaEnvioCreateCampaignOperator(_CriaEnvioOperatorMixin, BaseOperator):
    """Create a CriaEnvio message and schedule a campaign of it to lists, once per task instance.

    Steps: validate everything that can be validated locally (texts, ``start_at``, a time in the past) →
    look for what an earlier try of this task instance created (see *Idempotency* in the module docs) →
    resolve the sender (refused unless confirmed) and the lists → ``POST /mensagens`` → optionally
    ``GET /mensagens/{id}/lista_teste`` → ``POST /envios``.

    :param subject: the message's subject (``assunto``). Templated.
    :param html: the message's HTML. Templated; a value ending in ``.html``/``.htm`` is the name of a Jinja
        template file, looked up in the DAG's ``template_searchpath``. A message over the platform's size
        limit is refused by CriaEnvio and the vendor's reason is raised.
    :param list_ids: ids of the audience lists, as a list or ``"id1,id2"``. Templated.
    :param list_names: names of the audience lists (exact, active lists), resolved to ids; an unknown or
        ambiguous name is an error. Give exactly one of ``list_ids`` and ``list_names``. Templated.
    :param name: the message's secondary name; the idempotency key is appended to it in brackets
        (default: ``<dag_id>.<task_id>``). Templated.
    :param reply_to: reply-to address (``email_resposta``). Templated.
    :param unsubscribe_message: the unsubscribe text (``mensagem_descadastro``). Templated.
    :param sender: the sender's id or e-mail address, checked in ``/remetentes``; it must be confirmed.
        ``None`` uses the account's main sender (also checked). Templated.
    :param start_at: ``None``/``"now"``/``"agora"`` to start now; otherwise a datetime (pendulum or
        standard), a date or an ISO-8601 string, e.g. ``"{{ data_interval_end.add(hours=2) }}"``. It is
        converted to the connection's time zone (extra ``timezone``, default ``America/Sao_Paulo``) and sent
        as ``DD/MM/YYYY HH:MM``; a naive datetime (or an ISO string without offset) is taken as already in
        that zone. A time in the past is refused before any request. Templated.
    :param send_test: send the message to the account's test list before scheduling.
    :param criaenvio_conn_id: the CriaEnvio connection.

    Returns (XCom) ``{"campaign_id", "codigo", "message_id", "status", "scheduled_for" (ISO-8601 with
    offset), "total_contacts"}``.
    """

    template_fields: Sequence[str] = (
        "subject",
        "html",
        "name",
        "reply_to",
        "unsubscribe_message",
        "list_ids",
        "list_names",
        "sender",
        "start_at",
    )
    template_ext: Sequence[str] = (".html", ".htm")
    template_fields_renderers = {"html": "html"}
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        subject: str,
        html: str,
        list_ids: str | Sequence[str] | None = None,
        list_names: str | Sequence[str] | None = None,
        name: str | None = None,
        reply_to: str | None = None,
        unsubscribe_message: str | None = None,
        sender: str | None = None,
        start_at: StartAt = "agora",
        send_test: bool = False,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (list_ids is None) == (list_names is None):
            raise EmailBRInputError(
                f"{self.task_id}: give exactly one of list_ids (ids) or list_names (names) for the audience; "
                f"got list_ids={list_ids!r}, list_names={list_names!r}"
            )
        self.subject = subject
        self.html = html
        self.list_ids = list_ids
        self.list_names = list_names
        self.name = name
        self.reply_to = reply_to
        self.unsubscribe_message = unsubscribe_message
        self.sender = sender
        self.start_at = start_at
        self.send_test = send_test
        self.criaenvio_conn_id = criaenvio_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Create (or find again) the message and the campaign; return the campaign summary."""
        ti = context["ti"]
        key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        first_try = (getattr(ti, "try_number", 1) or 1) <= 1
        hook = self.hook
        name = _optional_text("name", self.name)
        fields = {
            "assunto": _required_text("subject", self.subject),
            "html": _required_text("html", self.html),
            "nome": f"{(name or '').strip() or f'{ti.dag_id}.{ti.task_id}'} [{key}]",
            "email_resposta": self._reply_to(),
            "mensagem_descadastro": _optional_text("unsubscribe_message", self.unsubscribe_message) or None,
        }
        # the audience's shape is checked before the first request (its ids are checked against the API later)
        if self.list_ids is not None:
            _id_list("list_ids", self.list_ids)
        else:
            _id_list("list_names", self.list_names)
        start, past_error = self._schedule(hook, self.start_at, field="start_at", first_try=first_try)
        self.log.info("Idempotency key of this task instance: %s", key)

        messages = find_keyed_messages(hook, key)
        campaign = find_campaign_of(hook, (m["id"] for m in messages))
        if campaign is not None:
            self.log.info(
                "An earlier try already created campaign %s (message %s, status %s): reusing it, nothing new "
                "is created.",
                campaign.get("id"),
                campaign.get("id_mensagem"),
                campaign.get("status"),
            )
            return self._result(hook, campaign, str(campaign.get("id_mensagem")), start)
        if past_error is not None:
            raise past_error

        sender_id = self._resolve_sender(hook)
        list_ids = self._resolve_lists(hook)
        if messages:
            message_id = str(messages[0]["id"])
            self.log.info(
                "An earlier try created message %s but no campaign: updating the message to this try's "
                "content and scheduling it.",
                message_id,
            )
            hook.update_message(message_id, **{k: v for k, v in fields.items() if v is not None})
        else:
            message_id = self._create_message(hook, key, fields)
        if self.send_test:
            hook.send_test_message(message_id)
            self.log.info("Message %s sent to the account's test list.", message_id)
        campaign = self._create_campaign(hook, message_id, list_ids, sender_id, start)
        result = self._result(hook, campaign, message_id, start)
        self.log.info(
            "Campaign %s (code %s) scheduled for %s to %s contact(s) of list(s) %s; status %s.",
            result["campaign_id"],
            result["codigo"],
            result["scheduled_for"],
            result["total_contacts"],
            ",".join(list_ids),
            result["status"],
        )
        return result

    # ------------------------------------------------------------------ validation and resolution

    def _reply_to(self) -> str | None:
        if self.reply_to is None or str(self.reply_to).strip() == "":
            return None
        value = str(self.reply_to).strip()
        local, sep, domain = value.rpartition("@")
        if not sep or not local or "." not in domain or any(c.isspace() for c in value):
            raise EmailBRInputError(f"reply_to: {mask_email(value)!r} is not an e-mail address")
        return value

    def _resolve_sender(self, hook: CriaEnvioHook) -> str | None:
        """The id of the sender to use (``None`` = the account's main one), refusing an unconfirmed one."""
        senders = list(hook.iter_senders())
        if self.sender is None or str(self.sender).strip() == "":
            main = next((s for s in senders if _truthy(s.get("principal"))), None)
            if main is not None and not _truthy(main.get("confirmado")):
                raise EmailBRInputError(
                    f"sender: none given, and the account's main sender {mask_email(main.get('email'))} "
                    f"(id {main.get('id')}) is not confirmed; confirm it in CriaEnvio or give a confirmed "
                    "sender"
                )
            return None
        wanted = str(self.sender).strip()
        match = next(
            (
                s
                for s in senders
                if str(s.get("id")) == wanted or str(s.get("email") or "").lower() == wanted.lower()
            ),
            None,
        )
        shown = mask_email(wanted) if "@" in wanted else repr(wanted)
        if match is None:
            known = ", ".join(f"{s.get('id')} ({mask_email(s.get('email'))})" for s in senders) or "none"
            raise EmailBRInputError(
                f"sender: {shown} is neither the id nor the e-mail of a sender of this account; "
                f"known senders: {known}"
            )
        if not _truthy(match.get("confirmado")):
            raise EmailBRInputError(
                f"sender: {shown} (id {match.get('id')}) is not confirmed; CriaEnvio only sends from "
                "confirmed senders. Confirm it in CriaEnvio or use another sender."
            )
        self.log.info("Sender %s (id %s) is confirmed.", mask_email(match.get("email")), match.get("id"))
        return str(match["id"])

    def _resolve_lists(self, hook: CriaEnvioHook) -> list[str]:
        """The audience's list ids: ``list_ids`` checked to exist and be active, or ``list_names``
        resolved."""
        if self.list_ids is not None:
            ids = _id_list("list_ids", self.list_ids)
            found = {str(item.get("id")) for item in hook.iter_lists(id=",".join(ids))}
            missing = [i for i in ids if i not in found]
            if missing:
                raise EmailBRInputError(
                    f"list_ids: {missing} are not active lists of this CriaEnvio account; check the ids "
                    "(or activate the lists)"
                )
            return ids
        names = _id_list("list_names", self.list_names)
        by_name: dict[str, list[str]] = {}
        for item in hook.iter_lists():
            by_name.setdefault(str(item.get("nome") or "").strip(), []).append(str(item.get("id")))
        ids: list[str] = []
        for name in names:
            matches = by_name.get(name)
            if matches is None:
                folded = [ids_ for known, ids_ in by_name.items() if known.casefold() == name.casefold()]
                matches = folded[0] if len(folded) == 1 else None
            if not matches:
                known = ", ".join(repr(n) for n in sorted(by_name)[:20]) or "none"
                raise EmailBRInputError(
                    f"list_names: no active list is named {name!r}; active lists: {known}"
                    + (" …" if len(by_name) > 20 else "")
                )
            if len(matches) > 1:
                raise EmailBRInputError(
                    f"list_names: {len(matches)} active lists are named {name!r} (ids {', '.join(matches)}); "
                    "use list_ids to say which"
                )
            ids.append(matches[0])
        self.log.info("Lists %s resolved to ids %s.", names, ids)
        return list(dict.fromkeys(ids))

    # ------------------------------------------------------------------ creation with reconciliation

    def _reconcile(self, err: EmailBRError, what: str, lookup: Callable[[], T | None]) -> T:
        """After a create whose outcome is unknown, find what it may have created, or re-raise ``err``."""
        self.log.warning(
            "%s: the outcome is unknown (%s); looking it up by this task instance's idempotency key.",
            what,
            err,
        )
        try:
            found = lookup()
        except EmailBRError as lookup_error:
            self.log.error(
                "%s: the look-up failed too; failing this try. A retry looks the key up again first, so it "
                "will not create a duplicate.",
                what,
            )
            raise err from lookup_error
        if found is None:
            self.log.error(
                "%s: nothing was created; failing this try (a retry looks the key up again first).", what
            )
            raise err
        self.log.warning("%s: the server had processed it; continuing with what it created.", what)
        return found

    def _create_message(self, hook: CriaEnvioHook, key: str, fields: Mapping[str, Any]) -> str:
        try:
            answer = hook.create_message(**fields)
        except (EmailBRTransportError, EmailBRServerError) as err:
            if not outcome_unknown(err):
                raise
            found = self._reconcile(
                err, "Creating the message", lambda: next(iter(find_keyed_messages(hook, key)), None)
            )
            return str(found["id"])
        data = (answer or {}).get("data") or {}
        if not data.get("id"):
            raise EmailBRResponseError(
                platform=hook.platform,
                endpoint="mensagens",
                status=200,
                detail="the answer has no message id",
            )
        self.log.info("Message %s created (%d bytes of HTML).", data["id"], len(fields["html"].encode()))
        return str(data["id"])

    def _create_campaign(
        self,
        hook: CriaEnvioHook,
        message_id: str,
        list_ids: list[str],
        sender_id: str | None,
        start: DateTime | None,
    ) -> dict[str, Any]:
        try:
            answer = hook.create_campaign(
                message_id=message_id,
                list_ids=list_ids,
                start_at="agora" if start is None else start,
                sender_id=sender_id,
            )
        except (EmailBRTransportError, EmailBRServerError) as err:
            if not outcome_unknown(err):
                raise
            return self._reconcile(err, "Creating the campaign", lambda: find_campaign_of(hook, [message_id]))
        data = (answer or {}).get("data") or {}
        if not data.get("id"):
            raise EmailBRResponseError(
                platform=hook.platform, endpoint="envios", status=200, detail="the answer has no campaign id"
            )
        return data

    def _result(
        self, hook: CriaEnvioHook, campaign: Mapping[str, Any], message_id: str, start: DateTime | None
    ) -> dict[str, Any]:
        scheduled = campaign.get("data_de_inicio")
        scheduled_for: str | None
        try:
            scheduled_for = to_local(str(scheduled), hook.timezone).isoformat() if scheduled else None
        except EmailBRInputError:
            scheduled_for = None
        if scheduled_for is None and start is not None:
            scheduled_for = start.isoformat()
        return {
            "campaign_id": str(campaign["id"]),
            "codigo": None if campaign.get("codigo") is None else str(campaign["codigo"]),
            "message_id": message_id,
            "status": campaign_status(campaign.get("status")),
            "scheduled_for": scheduled_for,
            "total_contacts": _as_int(campaign.get("total_de_contatos")),
        }


class CriaEnvioCampaignControlOperator(_CriaEnvioOperatorMixin, BaseOperator):
    """Pause, cancel or resume a CriaEnvio campaign.

    The campaign is read first: one already in the action's target status is a success without any change
    (so retries and re-runs are harmless), and an impossible transition — pausing or cancelling a finished
    campaign, resuming a cancelled one — fails at once (no retries) with the current status. ``pausar`` and
    ``cancelar`` are state-changing GETs the HTTP core never repeats; when their answer is lost, the campaign
    is read again to learn whether they took effect.

    :param campaign_id: the campaign (``envio``) id, e.g. from the create operator's XCom. Templated.
    :param action: ``pause`` (→ ``Suspenso``), ``cancel`` (→ ``Cancelado``) or ``resume`` (a ``Suspenso``
        campaign starts again; a scheduled one, ``Agendado``, is moved to ``resume_at`` when it is given).
        Templated.
    :param resume_at: for ``resume`` only: when to start again, with the same rules as the create operator's
        ``start_at`` (``None``/``"now"`` = now; zone conversion; a past time refused before any request).
        Templated.
    :param criaenvio_conn_id: the CriaEnvio connection.

    Returns (XCom) ``{"campaign_id", "action", "previous_status", "status", "changed"}``.
    """

    template_fields: Sequence[str] = ("campaign_id", "action", "resume_at")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        campaign_id: str,
        action: str,
        resume_at: StartAt = None,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_id = campaign_id
        self.action = action
        self.resume_at = resume_at
        self.criaenvio_conn_id = criaenvio_conn_id
        if isinstance(action, str) and "{{" not in action:
            self._check_action(action)

    def _check_action(self, action: Any) -> str:
        text = str(action or "").strip().lower()
        if text not in CONTROL_ACTIONS:
            raise EmailBRInputError(
                f"action: {action!r} is not allowed; use one of {', '.join(CONTROL_ACTIONS)}"
            )
        if text != "resume" and not _is_now(self.resume_at):
            raise EmailBRInputError(
                f"resume_at: only the 'resume' action takes a time (action is {text!r}, resume_at "
                f"{self.resume_at!r})"
            )
        return text

    def execute(self, context: Context) -> dict[str, Any]:
        """Apply the action unless the campaign is already there; return the statuses before and after."""
        action = self._check_action(self.action)
        campaign_id = _required_text("campaign_id", self.campaign_id).strip()
        ti = context["ti"]
        first_try = (getattr(ti, "try_number", 1) or 1) <= 1
        hook = self.hook
        resume_at, past_error = (None, None)
        if action == "resume":
            resume_at, past_error = self._schedule(
                hook, self.resume_at, field="resume_at", first_try=first_try
            )

        before = self._status(hook, campaign_id)
        reschedule = action == "resume" and before == "Agendado" and resume_at is not None
        if before in ACTION_TARGETS[action] and not (reschedule and past_error is None):
            self.log.info("Campaign %s is already %s: nothing to %s.", campaign_id, before, action)
            return self._result(campaign_id, action, before, before, changed=False)
        if before not in ACTION_SOURCES[action] and not reschedule:
            raise CriaEnvioCampaignStateError(
                f"Cannot {action} CriaEnvio campaign {campaign_id}: its status is {before!r}; {action} is "
                f"possible from {', '.join(sorted(ACTION_SOURCES[action]))}"
            )
        if past_error is not None:
            raise past_error
        self._apply(hook, campaign_id, action, resume_at, before)
        after = self._status(hook, campaign_id)
        self.log.info("Campaign %s: %s → %s (%s).", campaign_id, before, after, action)
        return self._result(campaign_id, action, before, after, changed=True)

    def _apply(
        self, hook: CriaEnvioHook, campaign_id: str, action: str, resume_at: DateTime | None, before: str
    ) -> None:
        try:
            if action == "pause":
                hook.pause_campaign(campaign_id)
            elif action == "cancel":
                hook.cancel_campaign(campaign_id)
            else:
                hook.resume_campaign(campaign_id, start_at="agora" if resume_at is None else resume_at)
        except (EmailBRTransportError, EmailBRServerError, EmailBRValidationError) as err:
            # a lost answer, or a refusal because the status changed since it was read: read it again
            if not (outcome_unknown(err) or isinstance(err, EmailBRValidationError)):
                raise
            now = self._status(hook, campaign_id)
            # a reschedule (Agendado → Agendado) cannot be told from a failed one by the status alone
            if now in ACTION_TARGETS[action] and before not in ACTION_TARGETS[action]:
                self.log.warning(
                    "%s of campaign %s failed (%s), but the campaign is now %s: done.",
                    action,
                    campaign_id,
                    err,
                    now,
                )
                return
            if isinstance(err, EmailBRValidationError):
                raise CriaEnvioCampaignStateError(
                    f"Cannot {action} CriaEnvio campaign {campaign_id} (now {now!r}): {err}"
                ) from err
            raise

    def _status(self, hook: CriaEnvioHook, campaign_id: str) -> str:
        data = (hook.get_campaign(campaign_id) or {}).get("data") or {}
        return campaign_status(data.get("status"))

    @staticmethod
    def _result(campaign_id: str, action: str, before: str, after: str, *, changed: bool) -> dict[str, Any]:
        return {
            "campaign_id": campaign_id,
            "action": action,
            "previous_status": before,
            "status": after,
            "changed": changed,
        }
