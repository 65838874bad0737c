"""CriaEnvio operators: contact import and campaigns.

:class:`CriaEnvioImportContactsOperator` upserts contacts into lists.
:class:`CriaEnvioCreateCampaignOperator` creates the message, optionally sends it to the account's test list,
and schedules the campaign (or one half of that); :class:`CriaEnvioSendTestOperator` sends a message to the
test list and reports what an approver needs; :class:`CriaEnvioCampaignControlOperator` pauses, cancels
or resumes one.
:class:`CriaEnvioExportUnsubscribesOperator` writes the contacts who unsubscribed to a file. Waiting
for a campaign to go out is the job of
:class:`~airflow_provider_emailbr.sensors.criaenvio.CriaEnvioCampaignSensor`.

**Campaign idempotency.** CriaEnvio has no idempotency header, so the create operator keeps its own key: a
hash of ``dag_id``, ``task_id``, ``run_id`` and ``map_index`` (:func:`idempotency_key`), written into the
message's secondary name (``nome``), the one free-text field the platform stores and can search. Before
creating anything, the operator searches messages for the key and, when it finds one, looks for the campaign
of that message. A retried or cleared task instance therefore reuses what an earlier try created — even when
that try's create request timed out or lost its connection after the server had processed it — instead of
sending a second campaign to the same people. Within one try, a create whose outcome is unknown is
reconciled the same way before the try gives up.

**Durable ids (Airflow 3.3).** With a task state store (``durable=True``, the default), the created
message's id and the campaign's id are written to it as soon as each is known, so a retry — on this worker
or another — reattaches to them without searching. The name-key look-up above stays: it is the mechanism on
Airflow 3.2, and the fallback when a create's answer was lost before its id could be stored. A store that
cannot be read fails the task before any request; an entry that is not this operator's fails it with a
clear error, and nothing is created on a guess.

**Approval before sending.** ``schedule=False`` stops after the message (the task returns its id);
``message_id=`` schedules an existing message. Between the two, :class:`CriaEnvioSendTestOperator` sends
the message to the account's test list and returns what an approver needs to decide.
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
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRRefusedError,
    EmailBRServerError,
    EmailBRStateCorruptError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.criaenvio import (
    CAMPAIGN_ACTIVE_STATUSES,
    CAMPAIGN_CANCELLED,
    CAMPAIGN_PAUSED,
    CAMPAIGN_SCHEDULED,
    UNSUBSCRIBED_COLUMNS,
    CriaEnvioHook,
    campaign_status,
    concerns_one_contact,
    created_id_of,
    created_record,
    unsubscribed_row,
)
from airflow_provider_emailbr.importing.engine import (
    UNSUBSCRIBED,
    BaseImportContactsOperator,
    ContactOutcome,
)
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, RowRejected
from airflow_provider_emailbr.importing.staging import Gone, SyncState
from airflow_provider_emailbr.importing.suppression import Suppression, suppression_key
from airflow_provider_emailbr.utils.dates import to_local
from airflow_provider_emailbr.utils.privacy import mask_email
from airflow_provider_emailbr.utils.retry import NOT_PROCESSED_STATUSES
from airflow_provider_emailbr.utils.state_store import TaskState
from airflow_provider_emailbr.utils.storage import RowWriter
from airflow_provider_emailbr.utils.text import as_bool, read_int, required, split_list
from airflow_provider_emailbr.utils.throttle import Throttle

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pendulum import DateTime

# ------------------------------------------------------------------------------------------ contact import


class CriaEnvioImportContactsOperator(BaseImportContactsOperator):
    """Upsert contacts into CriaEnvio lists, with requests in flight concurrently.

    CriaEnvio has no bulk endpoint: each contact is created; when the e-mail already exists it is found by
    e-mail and updated (``mode="upsert"``) or left as it is (``mode="create_only"``); then it is subscribed
    to the lists and its custom fields are set. Fields: ``email``, ``nome``, ``sexo`` (normalised to m/f),
    ``data_de_nascimento`` (sent as ``DD/MM/YYYY``), plus ``custom_fields``.

    Before sending, the account's unsubscribed contacts (``status=descadastros``) are read: rows of those
    addresses are rejected as ``unsubscribed`` and never subscribed again (opt-outs are final). A refusal
    that concerns one contact (it unsubscribed: reason ``unsubscribed``) or a request that failed rejects
    that row; a wrong key or a refusal for the whole account (e.g. not enough credits) fails the task at
    once, sending nothing more.

    With ``state_path`` the snapshot keeps each contact's CriaEnvio id: a changed contact is one
    ``PUT /contatos/{id}`` (plus ``/campos`` only when its custom fields changed), a new one a create that
    looks the e-mail up only when CriaEnvio answers that it already exists. ``mirror=True`` takes contacts
    that left the source out of the lists with ``desinscrever`` (they stay in the account).

    :param list_ids: target list ids, or
    :param list_names: target list names (exact); with ``create_lists=True`` missing ones are created.
    :param custom_fields: ``{custom field name: source column}``; field ids are looked up in ``/campos``
        and, with ``create_missing_fields=True``, created when missing.
    :param mode: ``upsert`` (default) or ``create_only``.
    :param max_concurrency: requests in flight (default 8).
    :param max_requests_per_second: optional rate limit shared by all workers.
    :param criaenvio_conn_id: CriaEnvio connection.
    """

    template_fields: Sequence[str] = (
        *BaseImportContactsOperator.template_fields,
        "list_ids",
        "list_names",
        "custom_fields",
    )
    platform = CriaEnvioHook.platform
    fields_spec = (
        FieldSpec("email", "email", ("e-mail", "e_mail", "mail", "email_address")),
        FieldSpec("nome", "text", ("name", "nome_completo", "full_name")),
        FieldSpec("sexo", "sexo", ("gender", "genero", "gênero")),
        FieldSpec("data_de_nascimento", "date", ("birthday", "nascimento", "data_nascimento", "birth_date")),
    )
    #: Contacts queued per worker, so the workers stay busy while the oldest contact is slow.
    queued_per_worker = 8

    def __init__(
        self,
        *,
        list_ids: Sequence[str] | str | None = None,
        list_names: Sequence[str] | str | None = None,
        create_lists: bool = False,
        custom_fields: Mapping[str, str] | None = None,
        create_missing_fields: bool = False,
        mode: str = "upsert",
        max_concurrency: int = 8,
        max_requests_per_second: float | None = None,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (list_ids is None) == (list_names is None):
            raise EmailBRInputError("give exactly one of list_ids and list_names")
        if mode not in ("upsert", "create_only"):
            raise EmailBRInputError(f"mode: {mode!r} is not allowed; use upsert or create_only")
        if not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= 64:
            raise EmailBRInputError(f"max_concurrency: {max_concurrency!r} must be an integer from 1 to 64")
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise EmailBRInputError(f"max_requests_per_second: {max_requests_per_second!r} must be positive")
        self.list_ids = list_ids
        self.list_names = list_names
        self.create_lists = create_lists
        self.custom_fields = custom_fields
        self.create_missing_fields = create_missing_fields
        self.mode = mode
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self.criaenvio_conn_id = criaenvio_conn_id

    @property
    def max_in_flight(self) -> int:
        """Contacts upserted at the same time: ``max_concurrency``."""
        return self.max_concurrency

    @property
    def in_flight_window(self) -> int:
        return self.max_concurrency * self.queued_per_worker

    @cached_property
    def throttle(self) -> Throttle:
        """The gate shared by all workers: rate limit and common back-off on HTTP 429."""
        return Throttle(self.max_requests_per_second)

    @cached_property
    def hook(self) -> CriaEnvioHook:
        """The CriaEnvio hook (with the shared throttle), built on first use."""
        return CriaEnvioHook(criaenvio_conn_id=self.criaenvio_conn_id).with_options(throttle=self.throttle)

    def custom_field_columns(self) -> Mapping[str, str]:
        return dict(self.custom_fields or {})

    def _check_rendered(self) -> None:
        super()._check_rendered()
        if self.custom_fields is not None and not isinstance(self.custom_fields, Mapping):
            raise EmailBRInputError(
                f"custom_fields: expected a dict, got {type(self.custom_fields).__name__}"
            )

    # ------------------------------------------------------------------ target

    def prepare_target(self) -> dict[str, Any]:
        self._list_ids = self._resolve_lists()
        self._field_ids = self._resolve_fields()
        return {"list_ids": self._list_ids, "custom_field_ids": self._field_ids}

    def _resolve_lists(self) -> list[str]:
        if self.list_ids is not None:
            return split_list("list_ids", self.list_ids)
        names = [self.list_names] if isinstance(self.list_names, str) else list(self.list_names or ())
        existing: dict[str, str] = {}
        for item in self.hook.iter_lists():
            existing.setdefault(str(item.get("nome")), str(item.get("id")))
        ids = []
        for name in names:
            if name in existing:
                ids.append(existing[name])
            elif not self.create_lists:
                raise EmailBRInputError(
                    f"list_names: no CriaEnvio list named {name!r}; existing: {sorted(existing)[:20]}; "
                    "create it or pass create_lists=True"
                )
            elif self.dry_run:
                self.log.info("dry run: list %r would be created", name)
            else:
                created_id = created_id_of(self.hook.create_list(nome=name), "listas")
                self.log.info("created CriaEnvio list %r (id %s)", name, created_id)
                ids.append(created_id)
        return ids

    def _resolve_fields(self) -> dict[str, str]:
        wanted = list((self.custom_fields or {}).keys())
        if not wanted:
            return {}
        existing = {str(f.get("nome")): str(f.get("id")) for f in self.hook.iter_fields()}
        resolved = {}
        for name in wanted:
            if name in existing:
                resolved[name] = existing[name]
            elif not self.create_missing_fields:
                raise EmailBRInputError(
                    f"custom_fields: no CriaEnvio custom field named {name!r}; pass "
                    f"create_missing_fields=True to create it (existing: {sorted(existing)[:20]})"
                )
            elif self.dry_run:
                self.log.info("dry run: custom field %r would be created", name)
            else:
                resolved[name] = created_id_of(self.hook.create_field(nome=name), "campos")
                self.log.info("created CriaEnvio custom field %r (id %s)", name, resolved[name])
        return resolved

    # ------------------------------------------------------------------ sending

    def plan_units(self, contacts: list[Contact]) -> Iterable[Contact]:
        """One unit per contact: CriaEnvio has no bulk endpoint."""
        return contacts

    def send_unit(self, unit: Contact) -> list[ContactOutcome]:
        try:
            contact_id, result = self._upsert(unit)
            return [ContactOutcome(unit, result=result, platform_id=contact_id)]
        except RowRejected as rejection:
            return [ContactOutcome(unit, rejection=rejection)]

    def _upsert(self, contact: Contact) -> tuple[str, str]:
        """Create or update one contact, subscribe it, set its fields; return its id and
        created/updated/kept."""
        try:
            known = contact.sync
            if known is not None and known.platform_id:
                result = self._update_known(contact, known)
                if result is not None:
                    return known.platform_id, result
            contact_id, outcome = self._create_or_find(contact, contact.fields)
            if self._list_ids:
                self.hook.subscribe_contact(contact_id, self._list_ids)
            values = self._custom_values(contact)
            if values and outcome != "kept":
                self.hook.set_contact_fields(contact_id, values)
            return contact_id, outcome
        except EmailBRRefusedError as err:
            if not concerns_one_contact(str(err.vendor_message or "")):
                raise account_refusal(err) from None
            message = f"CriaEnvio refused {self.show(contact.email)}: the contact unsubscribed"
            raise RowRejected(UNSUBSCRIBED, message, err.vendor_message) from None
        except (EmailBRValidationError, EmailBRNotFoundError) as err:
            raise RowRejected(
                "refused_by_platform", f"CriaEnvio refused {self.show(contact.email)}", err.vendor_message
            ) from None
        except (EmailBRTransportError, EmailBRApiError) as err:
            if isinstance(err, EmailBRAuthError) or getattr(err, "status", None) in (401, 403):
                raise  # a wrong key fails the task at once instead of rejecting every row
            raise RowRejected("request_failed", f"{type(err).__name__}: {err}") from None

    def _custom_values(self, contact: Contact) -> dict[str, Any]:
        return {self._field_ids[n]: v for n, v in contact.custom.items() if n in self._field_ids}

    def _update_known(self, contact: Contact, known: SyncState) -> str | None:
        """A changed contact the snapshot knows the id of (already in the lists): send only the parts that
        changed; ``None`` when CriaEnvio no longer has that id (the contact is then created again)."""
        if self.mode == "create_only":
            return "kept"
        contact_id = str(known.platform_id)
        try:
            if "fields" in known.changed and contact.fields:
                self.hook.update_contact(contact_id, **contact.fields)
            values = self._custom_values(contact)
            if "custom" in known.changed and values:
                self.hook.set_contact_fields(contact_id, values)
        except EmailBRNotFoundError:
            self.log.warning(
                "contact %s (id %s) is no longer in CriaEnvio; creating it again",
                self.show(contact.email),
                contact_id,
            )
            return None
        return "updated"

    # ------------------------------------------------------------------ daily sync

    def target_identity(self) -> dict[str, Any]:
        lists = (
            {"list_ids": split_list("list_ids", self.list_ids)}
            if self.list_ids is not None
            else {"list_names": split_list("list_names", self.list_names)}
        )
        return {
            "conn_id": self.criaenvio_conn_id,
            **lists,
            "custom_fields": dict(sorted((self.custom_fields or {}).items())),
        }

    def opted_out(self) -> Suppression:
        """The account's unsubscribed contacts (``status=descadastros``), read before anything is sent."""
        unsubscribed = Suppression("CriaEnvio's unsubscribed contacts")
        keys: list[str] = []
        for record in self.hook.iter_unsubscribed_contacts():
            try:
                keys.append(suppression_key(str(record.get("email") or "")))
            except ValueError:
                continue  # an address CriaEnvio holds but no row can match
            if len(keys) >= 1000:
                unsubscribed.add(keys)
                keys = []
        unsubscribed.add(keys)
        if len(unsubscribed):
            self.log.info("%d contact(s) unsubscribed on CriaEnvio: never re-subscribed", len(unsubscribed))
        return unsubscribed

    def remove_contact(self, gone: Gone) -> bool:
        """``desinscrever`` the contact from the target lists (it stays in the account)."""
        try:
            contact_id = gone.platform_id
            if not contact_id:
                found = self.hook.find_contact_by_email(gone.email)
                if found is None:
                    return True  # not in the account, so not in the lists
                contact_id = str(found["id"])
            if self._list_ids:
                self.hook.unsubscribe_contact(contact_id, self._list_ids)
            return True
        except EmailBRNotFoundError:
            return True  # the contact was deleted on the platform
        except (EmailBRTransportError, EmailBRApiError) as err:
            if isinstance(err, EmailBRAuthError) or getattr(err, "status", None) in (401, 403):
                raise
            self.log.warning("could not take %s out of the lists: %s", self.show(gone.email), err)
            return False

    def _create_or_find(self, contact: Contact, body: Mapping[str, Any]) -> tuple[str, str]:
        try:
            created = self.hook.create_contact(email=contact.email, **body)
            return created_id_of(created, "contatos"), "created"
        except EmailBRValidationError as err:
            if "já existe" not in str(err.vendor_message or "").lower():
                raise
        except EmailBRTransportError as err:
            if not err.request_sent:
                raise
            # the create may have happened: look the contact up instead of guessing
        found = self.hook.find_contact_by_email(contact.email)
        if found is None:
            created = self.hook.create_contact(email=contact.email, **body)
            return created_id_of(created, "contatos"), "created"
        contact_id = str(found["id"])
        if self.mode == "create_only":
            return contact_id, "kept"
        if body:
            self.hook.update_contact(contact_id, **body)
        return contact_id, "updated"


def account_refusal(refusal: EmailBRRefusedError) -> EmailBRRefusedError:
    """The error that stops an import on a refusal for the whole account, naming the vendor's reason."""
    return EmailBRRefusedError(
        platform=refusal.platform,
        endpoint=refusal.endpoint,
        status=refusal.status,
        vendor_code=refusal.vendor_code,
        vendor_message=refusal.vendor_message,
        detail=(
            "a refusal for the whole account, not for one contact: the import stopped and sends nothing more"
        ),
    )


# ------------------------------------------------------------------------------------------ campaigns

_Found = TypeVar("_Found")

#: Marks the idempotency key inside a message's secondary name (``nome``).
KEY_PREFIX = "airflow-key:"
#: ``start_at``/``resume_at`` values meaning "start now" (the API's ``agora``).
NOW_VALUES = frozenset({"agora", "now", ""})
#: What :class:`CriaEnvioCampaignControlOperator` can do.
CONTROL_ACTIONS = ("pause", "cancel", "resume")
#: Statuses in which each action has nothing left to do.
ACTION_TARGETS = {
    "pause": frozenset({CAMPAIGN_PAUSED}),
    "cancel": frozenset({CAMPAIGN_CANCELLED}),
    "resume": CAMPAIGN_ACTIVE_STATUSES,
}
#: Statuses from which the platform accepts each action.
ACTION_SOURCES = {
    "pause": CAMPAIGN_ACTIVE_STATUSES,
    "cancel": CAMPAIGN_ACTIVE_STATUSES | {CAMPAIGN_PAUSED},
    "resume": frozenset({CAMPAIGN_PAUSED}),
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
    """Every campaign of the account, newest first (:meth:`CriaEnvioHook.iter_campaigns_newest_first`)."""
    return hook.iter_campaigns_newest_first()


def find_keyed_messages(hook: CriaEnvioHook, key: str) -> list[dict[str, Any]]:
    """The messages whose secondary name carries ``key``, newest first."""
    found = [m for m in hook.iter_messages(nome=key) if key in str(m.get("nome") or "")]
    return sorted(found, key=lambda m: read_int(m.get("contador")) or 0, reverse=True)


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


def _optional_text(field: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise EmailBRInputError(f"{field}: expected text, got {type(value).__name__} {value!r}")
    return value


#: Kinds of the create operator's task-state entries (see :class:`StoredIds`).
MESSAGE_KIND = "criaenvio.message"
CAMPAIGN_KIND = "criaenvio.campaign"


class StoredIds:
    """What the create operator keeps in the task state store: the created message's and campaign's ids.

    Read once, before any request (an unreachable store or a foreign entry fails the task there); each id
    is written as soon as it is known. Without a store (Airflow 3.2, ``durable=False``) it holds nothing
    and writes nothing, and the name-key look-up does the job.
    """

    def __init__(
        self, state: TaskState | None, message_id: str | None, campaign: dict[str, str] | None
    ) -> None:
        self.state = state
        self.message_id = message_id
        self.campaign = campaign

    @classmethod
    def load(cls, state: TaskState | None) -> StoredIds:
        """Read both entries (nothing without a store), checking their shape."""
        if state is None:
            return cls(None, None, None)
        message = state.get("message", kind=MESSAGE_KIND)
        campaign = state.get("campaign", kind=CAMPAIGN_KIND)
        if message is not None and not (isinstance(message, dict) and isinstance(message.get("id"), str)):
            raise EmailBRStateCorruptError(
                f"Task state entry {state.full_key('message')!r} has no message id (found {message!r}); "
                "nothing was created on a guess."
            )
        if campaign is not None and not (
            isinstance(campaign, dict)
            and isinstance(campaign.get("id"), str)
            and isinstance(campaign.get("message_id"), str)
        ):
            raise EmailBRStateCorruptError(
                f"Task state entry {state.full_key('campaign')!r} has no campaign and message ids (found "
                f"{campaign!r}); nothing was created on a guess."
            )
        return cls(state, None if message is None else message["id"], campaign)

    def store_message(self, message_id: str) -> None:
        """Record the message's id (once)."""
        if self.state is not None and self.message_id != message_id:
            self.state.set("message", {"id": message_id}, kind=MESSAGE_KIND)
            self.message_id = message_id

    def store_campaign(self, campaign_id: str, message_id: str) -> None:
        """Record the campaign's id and its message's (once)."""
        record = {"id": campaign_id, "message_id": message_id}
        if self.state is not None and self.campaign != record:
            self.state.set("campaign", record, kind=CAMPAIGN_KIND)
            self.campaign = record


class _CriaEnvioOperatorMixin:
    """The lazily built hook, the schedule checks and the audience look-up of the campaign operators."""

    criaenvio_conn_id: str
    list_ids: str | Sequence[str] | None
    list_names: str | Sequence[str] | None
    log: Any

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

    def _resolve_lists(self, hook: CriaEnvioHook) -> list[str]:
        """The audience's list ids (see :meth:`_audience_lists`)."""
        return [str(record["id"]) for record in self._audience_lists(hook)]

    def _audience_lists(self, hook: CriaEnvioHook) -> list[dict[str, Any]]:
        """The audience's lists as CriaEnvio holds them (``id``, ``nome``, ``contatos_ativos``):
        ``list_ids`` checked to exist and be active, or ``list_names`` resolved (exact, then case-folded;
        an unknown or ambiguous name is an error)."""
        if self.list_ids is not None:
            ids = split_list("list_ids", self.list_ids)
            found = {str(item.get("id")): item for item in hook.iter_lists(id=",".join(ids))}
            missing = [i for i in ids if i not in found]
            if missing:
                raise EmailBRInputError(
                    f"list_ids: {missing} are not active lists of this CriaEnvio account; check the ids "
                    "(or activate the lists)"
                )
            return [found[i] for i in dict.fromkeys(ids)]
        names = split_list("list_names", self.list_names)
        by_name: dict[str, list[dict[str, Any]]] = {}
        for item in hook.iter_lists():
            by_name.setdefault(str(item.get("nome") or "").strip(), []).append(item)
        records: dict[str, dict[str, Any]] = {}
        for name in names:
            matches = by_name.get(name)
            if matches is None:
                folded = [found for known, found in by_name.items() if known.casefold() == name.casefold()]
                matches = folded[0] if len(folded) == 1 else None
            if not matches:
                known = ", ".join(repr(n) for n in sorted(by_name)[:20]) or "none"
                raise EmailBRInputError(
                    f"list_names: no active list is named {name!r}; active lists: {known}"
                    + (" …" if len(by_name) > 20 else "")
                )
            if len(matches) > 1:
                ids = ", ".join(str(m.get("id")) for m in matches)
                raise EmailBRInputError(
                    f"list_names: {len(matches)} active lists are named {name!r} (ids {ids}); "
                    "use list_ids to say which"
                )
            records.setdefault(str(matches[0].get("id")), matches[0])
        self.log.info("Lists %s resolved to ids %s.", names, list(records))
        return list(records.values())


class CriaEnvioCreateCampaignOperator(_CriaEnvioOperatorMixin, BaseOperator):
    """Create a CriaEnvio message and schedule a campaign of it to lists, once per task instance.

    Steps: validate everything that can be validated locally (texts, ``start_at``, a time in the past) →
    look for what an earlier try of this task instance created (the task state store, then the name key: see
    the module docs) → resolve the sender (refused unless confirmed) and the lists → ``POST /mensagens`` →
    optionally ``GET /mensagens/{id}/lista_teste`` → ``POST /envios``.

    The two halves can run as two tasks with an approval between them: ``schedule=False`` stops after the
    message and returns its id; ``message_id=`` skips the message and schedules the given one. Each half is
    idempotent on its own. With ``message_id``, a message is scheduled at most once by this operator: when
    it already has a campaign, that campaign is returned and nothing new is created.

    :param subject: the message's subject (``assunto``); required unless ``message_id`` is given. Templated.
    :param html: the message's HTML; required unless ``message_id`` is given. Templated; a value ending in
        ``.html``/``.htm`` is the name of a Jinja template file, looked up in the DAG's
        ``template_searchpath``. A message over the platform's size limit is refused by CriaEnvio and the
        vendor's reason is raised.
    :param list_ids: ids of the audience lists, as a list or ``"id1,id2"``. Templated.
    :param list_names: names of the audience lists (exact, active lists), resolved to ids; an unknown or
        ambiguous name is an error. Give exactly one of ``list_ids`` and ``list_names`` (neither with
        ``schedule=False``). Templated.
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
    :param schedule: ``False`` stops after the message: no campaign is created and the task returns the
        message's id (for :class:`CriaEnvioSendTestOperator` and a later ``message_id=`` task).
    :param message_id: schedule this existing message instead of creating one (e.g.
        ``"{{ ti.xcom_pull(task_ids='create_message') }}"``). Templated.
    :param durable: keep the created ids in Airflow 3.3's task state store (default ``True``); ignored on
        Airflow 3.2, which has none (the name-key look-up is used there).
    :param criaenvio_conn_id: the CriaEnvio connection.

    Returns (XCom) ``{"campaign_id", "codigo", "message_id", "status", "scheduled_for" (ISO-8601 with
    offset), "total_contacts"}``; with ``schedule=False``, the message's id.
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
        "message_id",
    )
    template_ext: Sequence[str] = (".html", ".htm")
    template_fields_renderers = {"html": "html"}
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        subject: str | None = None,
        html: str | None = None,
        list_ids: str | Sequence[str] | None = None,
        list_names: str | Sequence[str] | None = None,
        name: str | None = None,
        reply_to: str | None = None,
        unsubscribe_message: str | None = None,
        sender: str | None = None,
        start_at: StartAt = "agora",
        send_test: bool = False,
        schedule: bool = True,
        message_id: str | None = None,
        durable: bool = True,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(schedule, bool):
            raise EmailBRInputError(f"{self.task_id}: schedule must be True or False, got {schedule!r}")
        if schedule and (list_ids is None) == (list_names is None):
            raise EmailBRInputError(
                f"{self.task_id}: give exactly one of list_ids (ids) or list_names (names) for the audience; "
                f"got list_ids={list_ids!r}, list_names={list_names!r}"
            )
        if not schedule:
            given = {"list_ids": list_ids, "list_names": list_names, "sender": sender}
            unused = [f"{k}={v!r}" for k, v in given.items() if v is not None]
            if message_id is not None or unused:
                raise EmailBRInputError(
                    f"{self.task_id}: schedule=False only creates the message, so "
                    f"{', '.join(unused + (['message_id'] if message_id is not None else []))} would not be "
                    "used; give the audience and sender to the task that schedules it (message_id=...)"
                )
        if message_id is not None:
            given = {"subject": subject, "html": html, "name": name, "reply_to": reply_to}
            given["unsubscribe_message"] = unsubscribe_message
            unused = [k for k, v in given.items() if v is not None] + (["send_test"] if send_test else [])
            if unused:
                raise EmailBRInputError(
                    f"{self.task_id}: message_id schedules an existing message, so {', '.join(unused)} "
                    "would not be used; give them to the task that creates the message (schedule=False)"
                )
        self.schedule = schedule
        self.message_id = message_id
        self.durable = durable
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

    def execute(self, context: Context) -> dict[str, Any] | str:
        """Create (or find again) the message, then schedule its campaign; return the campaign summary
        (the message's id with ``schedule=False``).

        Everything that can be checked locally is checked first, and the task state store is read before
        any request; then what an earlier try of this task instance created is looked up. The rest is two
        steps, each reconciled on its own: :meth:`_message_step` (create or reuse the message, optionally
        send it to the test list) and :meth:`_campaign_step` (schedule the message to the lists).
        """
        ti = context["ti"]
        first_try = (getattr(ti, "try_number", 1) or 1) <= 1
        hook = self.hook
        start: DateTime | None = None
        past_error: EmailBRInputError | None = None
        fields: dict[str, Any] = {}
        key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        if self.message_id is None:
            fields = self._message_fields(f"{ti.dag_id}.{ti.task_id}", key)
        else:
            required("message_id", self.message_id, text=True)
        if self.schedule:
            # the audience's shape is checked before the first request (its ids are checked later)
            if self.list_ids is not None:
                split_list("list_ids", self.list_ids)
            else:
                split_list("list_names", self.list_names)
            start, past_error = self._schedule(hook, self.start_at, field="start_at", first_try=first_try)
        durable = StoredIds.load(TaskState.from_context(context, namespace="campaign", durable=self.durable))
        if durable.campaign is not None:
            return self._reattach(hook, durable.campaign, start)

        if self.message_id is not None:
            return self._schedule_existing(hook, str(self.message_id).strip(), start, past_error, durable)

        self.log.info("Idempotency key of this task instance: %s", key)
        if durable.message_id is not None:
            self.log.info("An earlier try stored message %s in the task state store.", durable.message_id)
            messages: list[dict[str, Any]] = [{"id": durable.message_id}]
        else:
            messages = find_keyed_messages(hook, key)
        campaign = find_campaign_of(hook, (m["id"] for m in messages)) if self.schedule else None
        if campaign is not None:
            self.log.info(
                "An earlier try already created campaign %s (message %s, status %s): reusing it, nothing new "
                "is created.",
                campaign.get("id"),
                campaign.get("id_mensagem"),
                campaign.get("status"),
            )
            durable.store_campaign(str(campaign["id"]), str(campaign.get("id_mensagem")))
            return self._result(hook, campaign, str(campaign.get("id_mensagem")), start)
        if not self.schedule:
            message_id = self._message_step(hook, key, fields, messages, durable)
            self.log.info("Message %s is ready; no campaign is created (schedule=False).", message_id)
            return message_id
        if past_error is not None:
            raise past_error

        sender_id = self._resolve_sender(hook)
        list_ids = self._resolve_lists(hook)
        message_id = self._message_step(hook, key, fields, messages, durable)
        return self._campaign_step(hook, message_id, list_ids, sender_id, start, durable)

    def _schedule_existing(
        self,
        hook: CriaEnvioHook,
        message_id: str,
        start: DateTime | None,
        past_error: EmailBRInputError | None,
        durable: StoredIds,
    ) -> dict[str, Any]:
        """Schedule ``message_id`` unless it already has a campaign (which is then returned)."""
        campaign = find_campaign_of(hook, [message_id])
        if campaign is not None:
            self.log.info(
                "Message %s already has campaign %s (status %s): reusing it, nothing new is created.",
                message_id,
                campaign.get("id"),
                campaign.get("status"),
            )
            durable.store_campaign(str(campaign["id"]), message_id)
            return self._result(hook, campaign, message_id, start)
        if past_error is not None:
            raise past_error
        sender_id = self._resolve_sender(hook)
        list_ids = self._resolve_lists(hook)
        return self._campaign_step(hook, message_id, list_ids, sender_id, start, durable)

    def _reattach(
        self, hook: CriaEnvioHook, stored: Mapping[str, str], start: DateTime | None
    ) -> dict[str, Any]:
        """The summary of the campaign an earlier try stored in the task state store; nothing is created."""
        campaign_id = stored["id"]
        try:
            campaign = (hook.get_campaign(campaign_id) or {}).get("data") or {}
        except EmailBRNotFoundError as err:
            raise EmailBRInputError(
                f"An earlier try of this task created CriaEnvio campaign {campaign_id} (task state store), "
                "but CriaEnvio no longer has it. Nothing was created again, so that nobody gets the campaign "
                "twice; delete the task's state (mark the task instance success) to create a new one."
            ) from err
        self.log.info(
            "An earlier try stored campaign %s (message %s) in the task state store: reattaching, nothing "
            "new is created.",
            campaign_id,
            stored["message_id"],
        )
        return self._result(
            hook, {**campaign, "id": campaign.get("id", campaign_id)}, stored["message_id"], start
        )

    def _message_fields(self, default_name: str, key: str) -> dict[str, Any]:
        """The message's fields, validated; the secondary name carries the idempotency ``key``."""
        name = _optional_text("name", self.name)
        return {
            "assunto": required("subject", self.subject, text=True),
            "html": required("html", self.html, text=True),
            "nome": f"{(name or '').strip() or default_name} [{key}]",
            "email_resposta": self._reply_to(),
            "mensagem_descadastro": _optional_text("unsubscribe_message", self.unsubscribe_message) or None,
        }

    def _message_step(
        self,
        hook: CriaEnvioHook,
        key: str,
        fields: Mapping[str, Any],
        earlier: Sequence[Mapping[str, Any]],
        durable: StoredIds,
    ) -> str:
        """Step 1: the message's id, reusing (and updating) one an earlier try created under ``key``, else
        creating it and storing its id at once; then, with ``send_test``, send it to the test list."""
        if earlier:
            message_id = str(earlier[0]["id"])
            self.log.info(
                "An earlier try created message %s but no campaign: updating the message to this try's "
                "content and scheduling it.",
                message_id,
            )
            hook.update_message(message_id, **{k: v for k, v in fields.items() if v is not None})
        else:
            message_id = self._create_message(hook, key, fields)
        durable.store_message(message_id)
        if self.send_test:
            hook.send_test_message(message_id)
            self.log.info("Message %s sent to the account's test list.", message_id)
        return message_id

    def _campaign_step(
        self,
        hook: CriaEnvioHook,
        message_id: str,
        list_ids: list[str],
        sender_id: str | None,
        start: DateTime | None,
        durable: StoredIds,
    ) -> dict[str, Any]:
        """Step 2: schedule a campaign of ``message_id`` to ``list_ids``, storing its id at once; return
        the campaign summary."""
        campaign = self._create_once(
            "Creating the campaign",
            "envios",
            lambda: hook.create_campaign(
                message_id=message_id,
                list_ids=list_ids,
                start_at="agora" if start is None else start,
                sender_id=sender_id,
            ),
            lambda: find_campaign_of(hook, [message_id]),
        )
        durable.store_campaign(str(campaign["id"]), message_id)
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
            main = next((s for s in senders if as_bool(s.get("principal"), field="sender principal")), None)
            if main is not None and not as_bool(main.get("confirmado"), field="sender confirmado"):
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
        if not as_bool(match.get("confirmado"), field="sender confirmado"):
            raise EmailBRInputError(
                f"sender: {shown} (id {match.get('id')}) is not confirmed; CriaEnvio only sends from "
                "confirmed senders. Confirm it in CriaEnvio or use another sender."
            )
        self.log.info("Sender %s (id %s) is confirmed.", mask_email(match.get("email")), match.get("id"))
        return str(match["id"])

    # ------------------------------------------------------------------ creation with reconciliation

    def _reconcile(self, err: EmailBRError, what: str, lookup: Callable[[], _Found | None]) -> _Found:
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
        message = self._create_once(
            "Creating the message",
            "mensagens",
            lambda: hook.create_message(**fields),
            lambda: next(iter(find_keyed_messages(hook, key)), None),
        )
        self.log.info("Message %s created (%d bytes of HTML).", message["id"], len(fields["html"].encode()))
        return str(message["id"])

    def _create_once(
        self,
        what: str,
        endpoint: str,
        create: Callable[[], Any],
        lookup: Callable[[], Mapping[str, Any] | None],
    ) -> Mapping[str, Any]:
        """The record ``create`` made; when its outcome is unknown, what ``lookup`` finds it made."""
        try:
            answer = create()
        except (EmailBRTransportError, EmailBRServerError) as err:
            if not outcome_unknown(err):
                raise
            return self._reconcile(err, what, lookup)
        return created_record(answer, endpoint)

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
            "total_contacts": read_int(campaign.get("total_de_contatos")),
        }


#: The list CriaEnvio sends test messages to (``GET /mensagens/{id}/lista_teste``).
TEST_LIST_NAME = "Lista Teste"
#: Kind of the send-test operator's task-state entry.
TEST_SEND_KIND = "criaenvio.test_send"


class CriaEnvioSendTestOperator(_CriaEnvioOperatorMixin, BaseOperator):
    """Send a CriaEnvio message to the account's test list and return what an approver needs to decide.

    The documented call ``GET /mensagens/{id}/lista_teste`` sends the message to the active contacts of the
    account's "Lista Teste". Before it, the message (its subject), the test list (its active contacts) and,
    when given, the audience lists (their sizes) are read, so a wrong id or an empty test list fails before
    anything is sent.

    The call sends e-mail and CriaEnvio offers no way to ask whether it did, so it is never repeated after a
    lost answer: with Airflow 3.3's task state store (``durable=True``), the request is recorded before it
    goes out and its success after; a retry that finds a confirmed send does not send again, and one that
    finds an unconfirmed request reports ``test_send: "unknown"`` (the testers' inboxes tell) instead of
    sending a second time. On Airflow 3.2 (no store), a retry sends the test again — to the account's own
    testers, never to the audience.

    :param message_id: the message, e.g. ``"{{ ti.xcom_pull(task_ids='create_message') }}"``. Templated.
    :param list_ids: the audience's list ids, to report their sizes (optional). Templated.
    :param list_names: or the audience's list names (exact, active lists). Templated.
    :param test_list_name: the name of the account's test list (default ``"Lista Teste"``).
    :param max_recipients_shown: how many test recipients (masked) the result lists (default 20).
    :param durable: keep the send's outcome in the task state store (default ``True``; ignored on 3.2).
    :param criaenvio_conn_id: the CriaEnvio connection.

    Returns (XCom) ``{"message_id", "subject", "test_send" ("sent", "sent_earlier" or "unknown"),
    "test_list": {"id", "name", "active_contacts"}, "test_recipients" (masked addresses),
    "lists": [{"id", "name", "active_contacts"}], "audience_contacts"}``; ``audience_contacts`` adds the
    lists' active contacts (a contact in two lists counts twice; CriaEnvio sends it one e-mail).
    """

    template_fields: Sequence[str] = ("message_id", "list_ids", "list_names", "test_list_name")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        message_id: str,
        list_ids: str | Sequence[str] | None = None,
        list_names: str | Sequence[str] | None = None,
        test_list_name: str = TEST_LIST_NAME,
        max_recipients_shown: int = 20,
        durable: bool = True,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if list_ids is not None and list_names is not None:
            raise EmailBRInputError(
                f"{self.task_id}: give at most one of list_ids and list_names; got list_ids={list_ids!r}, "
                f"list_names={list_names!r}"
            )
        if not isinstance(max_recipients_shown, int) or not 0 <= max_recipients_shown <= 100:
            raise EmailBRInputError(
                f"{self.task_id}: max_recipients_shown must be an integer from 0 to 100, got "
                f"{max_recipients_shown!r}"
            )
        self.message_id = message_id
        self.list_ids = list_ids
        self.list_names = list_names
        self.test_list_name = test_list_name
        self.max_recipients_shown = max_recipients_shown
        self.durable = durable
        self.criaenvio_conn_id = criaenvio_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the message, the test list and the audience; send the test once; return the summary."""
        message_id = required("message_id", self.message_id, text=True).strip()
        list_name = required("test_list_name", self.test_list_name, text=True).strip()
        state = TaskState.from_context(context, namespace="send_test", durable=self.durable)
        earlier = None if state is None else state.get("test_send", kind=TEST_SEND_KIND)
        if earlier is not None and earlier not in ("requested", "sent"):
            raise EmailBRStateCorruptError(
                f"Task state entry {state.full_key('test_send')!r} is {earlier!r}, not 'requested' or "
                "'sent'; nothing was sent on a guess."
            )
        hook = self.hook
        try:
            message = (hook.get_message(message_id) or {}).get("data") or {}
        except EmailBRNotFoundError as err:
            raise EmailBRInputError(f"message_id: CriaEnvio has no message {message_id!r}") from err
        test_list = self._test_list(hook, list_name)
        recipients = self._test_recipients(hook, str(test_list["id"]))
        test_size = read_int(test_list.get("contatos_ativos")) or 0
        if test_size == 0:
            raise EmailBRInputError(
                f"test_list_name: the list {list_name!r} has no active contacts; add the testers to it in "
                "CriaEnvio before sending a test"
            )
        audience = [] if self.list_ids is None and self.list_names is None else self._audience_lists(hook)
        outcome = self._send_once(hook, message_id, state, earlier)
        sizes = [
            {
                "id": str(item.get("id")),
                "name": str(item.get("nome") or ""),
                "active_contacts": read_int(item.get("contatos_ativos")) or 0,
            }
            for item in audience
        ]
        return {
            "message_id": message_id,
            "subject": str(message.get("assunto") or ""),
            "test_send": outcome,
            "test_list": {"id": str(test_list["id"]), "name": list_name, "active_contacts": test_size},
            "test_recipients": recipients,
            "lists": sizes,
            "audience_contacts": sum(item["active_contacts"] for item in sizes),
        }

    def _test_list(self, hook: CriaEnvioHook, name: str) -> Mapping[str, Any]:
        """The active list named ``name`` (exact, else case-folded); none or several is an error."""
        found = [item for item in hook.iter_lists(nome=name) if str(item.get("nome") or "").strip() == name]
        if not found:
            found = [
                item
                for item in hook.iter_lists(nome=name)
                if str(item.get("nome") or "").strip().casefold() == name.casefold()
            ]
        if len(found) != 1:
            problem = "no active list" if not found else f"{len(found)} active lists"
            raise EmailBRInputError(
                f"test_list_name: {problem} named {name!r} in this CriaEnvio account; CriaEnvio sends tests "
                "to its test list ('Lista Teste')"
            )
        return found[0]

    def _test_recipients(self, hook: CriaEnvioHook, list_id: str) -> list[str]:
        """The first ``max_recipients_shown`` active contacts of the test list, masked (LGPD)."""
        if self.max_recipients_shown == 0:
            return []
        view = hook.get_list(list_id, embeds=["contatos"], status="ativos")
        contacts = (((view.get("data") or {}).get("contatos") or {}).get("data")) or []
        return [mask_email(str(c.get("email") or "")) for c in contacts[: self.max_recipients_shown]]

    def _send_once(
        self, hook: CriaEnvioHook, message_id: str, state: TaskState | None, earlier: str | None
    ) -> str:
        """Send the test unless an earlier try did (or may have); return the outcome."""
        if earlier == "sent":
            self.log.info(
                "An earlier try sent message %s to the test list: not sending it again.", message_id
            )
            return "sent_earlier"
        if earlier == "requested":
            self.log.warning(
                "An earlier try asked CriaEnvio to send message %s to the test list, but its answer was "
                "lost: not sending it again (the testers' inboxes tell whether it arrived).",
                message_id,
            )
            return "unknown"
        if state is not None:
            state.set("test_send", "requested", kind=TEST_SEND_KIND)
        try:
            hook.send_test_message(message_id)
        except EmailBRError as err:
            if state is not None and not outcome_unknown(err):
                state.delete("test_send")  # refused or never sent: a retry may send it
            raise
        if state is not None:
            state.set("test_send", "sent", kind=TEST_SEND_KIND)
        self.log.info("Message %s sent to the account's test list.", message_id)
        return "sent"


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
        campaign_id = required("campaign_id", self.campaign_id, text=True).strip()
        ti = context["ti"]
        first_try = (getattr(ti, "try_number", 1) or 1) <= 1
        hook = self.hook
        resume_at, past_error = (None, None)
        if action == "resume":
            resume_at, past_error = self._schedule(
                hook, self.resume_at, field="resume_at", first_try=first_try
            )

        before = self._status(hook, campaign_id)
        reschedule = action == "resume" and before == CAMPAIGN_SCHEDULED and resume_at is not None
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


# ------------------------------------------------------------------------------------- opt-out export


class CriaEnvioExportUnsubscribesOperator(_CriaEnvioOperatorMixin, BaseOperator):
    """Write the contacts who unsubscribed on CriaEnvio (``descadastrado``) to a CSV or JSON Lines file.

    Under the LGPD a withdrawn consent stays withdrawn everywhere: the file goes back to the CRM, and into
    the ``suppress`` parameter of the import operators of any platform, so nobody who left one list is
    subscribed through another. Reads the documented contact search ``GET /contatos?status=descadastros``
    page by page (100 contacts per request) and writes each contact as it comes (constant memory).

    Columns: ``email`` (as the platform keeps it), ``id`` (the contact's id) and ``registered_at`` (the
    contact's ``dataCadastro``, ISO-8601 with the offset of the connection's time zone). The API gives no
    date of the unsubscription itself.

    The file is written next to its place as ``<name>.partial`` and moved over ``output_path`` only when
    every page was read, so a failed task never leaves a half list where a complete one is expected.

    :param output_path: the file: a local path, a URI (``s3://…``, ``gs://…``, ``file://…``) or an
        ``ObjectStoragePath``. Templated.
    :param output_format: ``csv`` or ``jsonl``; ``None`` takes it from ``output_path``'s extension
        (``.csv``, ``.jsonl``, ``.ndjson``). Templated.
    :param output_conn_id: the object store's connection, for a URI.
    :param criaenvio_conn_id: the CriaEnvio connection.

    Returns (XCom) ``{"count", "path", "format"}``: the number of contacts written, the file and its format.
    """

    template_fields: Sequence[str] = ("output_path", "output_format")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        output_path: Any,
        output_format: str | None = None,
        output_conn_id: str | None = None,
        criaenvio_conn_id: str = CriaEnvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_path = output_path
        self.output_format = output_format
        self.output_conn_id = output_conn_id
        self.criaenvio_conn_id = criaenvio_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Read every unsubscribed contact and write it; return the count, the file and its format."""
        if self.output_path is None or not str(self.output_path).strip():
            raise EmailBRInputError(
                "output_path: give the file to write, e.g. '/data/descadastros.csv' or "
                "'s3://bucket/descadastros.jsonl'"
            )
        # the format and the path are checked before any request
        writer = RowWriter(
            self.output_path,
            columns=UNSUBSCRIBED_COLUMNS,
            fmt=self.output_format,
            conn_id=self.output_conn_id,
            atomic=True,
        )
        hook = self.hook
        timezone = hook.timezone
        with writer:
            for contact in hook.iter_unsubscribed_contacts():
                writer.write(unsubscribed_row(contact, timezone))
        self.log.info(
            "Wrote %d unsubscribed CriaEnvio contact(s) to %s (%s).", writer.rows, writer.path, writer.format
        )
        return {"count": writer.rows, "path": str(writer.path), "format": writer.format}
