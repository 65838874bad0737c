"""CriaEnvio: contacts, lists, custom fields, senders, messages and campaigns (``https://api.criaenvio.com/v1/``).

The key travels as the query parameter ``chave`` on every request (so URLs are never logged unredacted);
POST/PUT bodies are JSON. Errors come as ``{"error": {"code", "http_code", "message"}}``; the body's
``http_code`` sometimes disagrees with the real status, so the real status decides and the body's code and
message are shown. The published page lost its HTTP methods: they come from the vendor's own PHP library
and live in :data:`ENDPOINTS`, the one table of this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRRefusedError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRValidationError,
    excerpt,
)
from airflow_provider_emailbr.hooks.base import EmailBRHook, Endpoint, PreparedCall
from airflow_provider_emailbr.utils.dates import (
    DEFAULT_TIMEZONE,
    parse_birth_date,
    parse_calendar_date,
    to_local,
)
from airflow_provider_emailbr.utils.pagination import CRIAENVIO_PAGES, iter_paged_backwards
from airflow_provider_emailbr.utils.text import fold, read_int, required, split_list

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_emailbr.hooks.base import HookOptions

#: Campaign status labels by the code the search filter takes.
CAMPAIGN_STATUS = {
    0: "Suspenso",
    1: "Enviando",
    2: "Concluído",
    3: "Cancelado",
    4: "Agendado",
    5: "Em criação",
}
CAMPAIGN_STATUS_CODE = {label: code for code, label in CAMPAIGN_STATUS.items()}
#: The labels of :data:`CAMPAIGN_STATUS` by meaning, for code that acts on a campaign's status.
CAMPAIGN_PAUSED = CAMPAIGN_STATUS[0]
CAMPAIGN_SENDING = CAMPAIGN_STATUS[1]
CAMPAIGN_COMPLETED = CAMPAIGN_STATUS[2]
CAMPAIGN_CANCELLED = CAMPAIGN_STATUS[3]
CAMPAIGN_SCHEDULED = CAMPAIGN_STATUS[4]
CAMPAIGN_DRAFT = CAMPAIGN_STATUS[5]
#: Statuses a campaign never leaves: it went out to its whole audience, or it was cancelled.
CAMPAIGN_FINAL_STATUSES = frozenset({CAMPAIGN_COMPLETED, CAMPAIGN_CANCELLED})
#: Statuses of a campaign that will still go out, or is going out, without anyone resuming it.
CAMPAIGN_ACTIVE_STATUSES = frozenset({CAMPAIGN_DRAFT, CAMPAIGN_SCHEDULED, CAMPAIGN_SENDING})
#: Counters of the campaign view (``GET /envios/{id}``), as integers.
CAMPAIGN_COUNT_FIELDS = (
    "total_de_contatos",
    "total_enviado",
    "rejeitados",
    "nao_rejeitados",
    "descadastros",
    "visualizacoes_totais",
    "visualizacoes_unicas",
    "cliques_totais",
    "cliques_unicos",
)
#: Percentages of the campaign view, as floats.
CAMPAIGN_RATE_FIELDS = ("taxa_de_abertura", "taxa_de_clique", "taxa_de_rejeicao", "porcentagem_de_conclusao")
#: The largest page the API serves (``number``).
MAX_PAGE_SIZE = 100
CONTACT_STATUS = ("ativos", "inativos", "descadastros", "todos")
SEXO = ("m", "f")

#: The API's error code for "not authorised": a bad key and a business refusal alike (HTTP 401 both).
NOT_AUTHORISED_CODE = "03-NAO-AUTORIZADO"
_ERROR_CLASSES = {
    "01-NAO-ENCONTRADO": EmailBRNotFoundError,
    "02-ARGUMENTOS-INVALIDOS": EmailBRValidationError,
    NOT_AUTHORISED_CODE: EmailBRAuthError,
    "04-ERRO-INTERNO": EmailBRServerError,
}
#: Words (folded: lower case, no accents) of the documented business refusals answered as HTTP 401 /
#: ``03-NAO-AUTORIZADO``: "O envio não pode exceder a quantidade de créditos…", "Não é possível ativar um
#: contato descadastrado.", "Não é possível remover uma mensagem que já foi enviada.".
REFUSAL_WORDS = ("credito", "descadastrad", "ja foi enviad", "nao e possivel", "nao pode")
#: Words that make a "not authorised" answer about the key itself (e.g. "Chave de acesso inválida."); they
#: win over :data:`REFUSAL_WORDS`, and an answer matching neither stays an authentication error.
CREDENTIAL_WORDS = ("chave", "key", "token", "autentica", "credencia", "login", "senha")
#: Words (folded) of a refusal that concerns one contact, not the account: it unsubscribed.
CONTACT_REFUSAL_WORDS = ("descadastrad",)

#: Search filters that take a calendar date, documented as ``DD/MM/YYYY`` (e.g. ``10/01/2010``).
DATE_FILTERS = frozenset(
    {
        "datadecadastroinicio",
        "datadecadastrotermino",
        "datadenascimentoinicio",
        "datadenascimentotermino",
    }
)
#: Search filters that take a day of the year, documented as ``DD/MM`` (e.g. ``31/01``).
DAY_OF_YEAR_FILTERS = frozenset({"aniversarioinicio", "aniversariotermino"})

# The HTTP method of each endpoint (from the vendor's PHP library). ``pausar`` and ``cancelar`` are GETs
# that change state, and the test-list send is a GET that sends e-mail: none of them is safe to repeat.
# Subscribing to lists sets membership, so repeating it is harmless.
ENDPOINTS = {
    "contact_view": Endpoint("GET", "contatos/{id}"),
    "contact_update": Endpoint("PUT", "contatos/{id}"),
    "contact_create": Endpoint("POST", "contatos"),
    "contact_search": Endpoint("GET", "contatos"),
    "contact_activate": Endpoint("PUT", "contatos/{id}/ativar"),
    "contact_deactivate": Endpoint("PUT", "contatos/{id}/desativar"),
    "contact_subscribe": Endpoint("POST", "contatos/{id}/inscrever", idempotent=True),
    "contact_unsubscribe": Endpoint("POST", "contatos/{id}/desinscrever", idempotent=True),
    "contact_fields": Endpoint("PUT", "contatos/{id}/campos"),
    "list_view": Endpoint("GET", "grupos/{id}"),
    "list_update": Endpoint("PUT", "grupos/{id}"),
    "list_create": Endpoint("POST", "grupos"),
    "list_search": Endpoint("GET", "grupos"),
    "list_activate": Endpoint("PUT", "grupos/ativar"),
    "list_deactivate": Endpoint("PUT", "grupos/desativar"),
    "field_view": Endpoint("GET", "campos/{id}"),
    "field_update": Endpoint("PUT", "campos/{id}"),
    "field_remove": Endpoint("DELETE", "campos/{id}"),
    "field_create": Endpoint("POST", "campos"),
    "field_search": Endpoint("GET", "campos"),
    "sender_search": Endpoint("GET", "remetentes"),
    "message_view": Endpoint("GET", "mensagens/{id}"),
    "message_update": Endpoint("PUT", "mensagens/{id}"),
    "message_remove": Endpoint("DELETE", "mensagens/{id}"),
    "message_create": Endpoint("POST", "mensagens"),
    "message_search": Endpoint("GET", "mensagens"),
    "message_test_send": Endpoint("GET", "mensagens/{id}/lista_teste", idempotent=False),
    "campaign_view": Endpoint("GET", "envios/{id}"),
    "campaign_create": Endpoint("POST", "envios"),
    "campaign_search": Endpoint("GET", "envios"),
    "campaign_pause": Endpoint("GET", "envios/{id}/pausar", idempotent=False),
    "campaign_cancel": Endpoint("GET", "envios/{id}/cancelar", idempotent=False),
    "campaign_resume": Endpoint("POST", "envios/{id}/retomar"),
}


class CriaEnvioHook(EmailBRHook):
    """Call the CriaEnvio API: contacts, lists, custom fields, senders, messages and campaigns.

    Connection type ``criaenvio``: Password = API key. Extras: ``timezone`` of the account's dates
    (default ``America/Sao_Paulo``). Host (optional) = full base URL.

    :param criaenvio_conn_id: Airflow connection id.
    :param options: the :class:`~airflow_provider_emailbr.hooks.base.HookOptions` (``timeout``,
        ``retry_policy``), passed on to :class:`~airflow_provider_emailbr.hooks.base.EmailBRHook`.
    """

    conn_name_attr = "criaenvio_conn_id"
    default_conn_name = "criaenvio_default"
    conn_type = "criaenvio"
    hook_name = "CriaEnvio"
    platform = hook_name
    default_base_url = "https://api.criaenvio.com/v1/"
    required_fields = {"password": "API key (Password)"}
    page_scheme = CRIAENVIO_PAGES

    def __init__(self, criaenvio_conn_id: str = default_conn_name, **options: Unpack[HookOptions]) -> None:
        super().__init__(conn_id=criaenvio_conn_id, **options)

    @property
    def timezone(self) -> str:
        """The zone of the account's zone-less dates (extra ``timezone``)."""
        return str(self.extra("timezone", DEFAULT_TIMEZONE))

    def _authorize(self, call: PreparedCall) -> None:
        call.params["chave"] = self.settings.password or ""

    def _check_payload(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], payload: Any, body: bytes
    ) -> None:
        error = payload.get("error") if isinstance(payload, Mapping) else None
        if not isinstance(error, Mapping):
            return
        code = str(error.get("code") or "") or None
        message = str(error.get("message") or "")
        # the real HTTP status decides the class (the body's http_code can disagree); the body's code and
        # message are shown as they are. Only an error inside an HTTP 200 is classed by its code. A "not
        # authorised" answer that is a business refusal (credits, already sent, unsubscribed) is not an
        # authentication failure, whatever its status.
        if (status == 401 or code == NOT_AUTHORISED_CODE) and is_business_refusal(message):
            error_class: type[EmailBRApiError] | None = EmailBRRefusedError
        elif status >= 400:
            error_class = None
        else:
            error_class = _ERROR_CLASSES.get(code or "", EmailBRValidationError)
        raise self.api_error(
            call,
            status,
            headers=headers,
            vendor_code=code,
            vendor_message=message,
            error_class=error_class,
        )

    def _get(self, name: str, object_id: str | None = None, /, **params: Any) -> dict[str, Any]:
        path_params = {"id": object_id} if object_id is not None else None
        return self.call(ENDPOINTS[name], path_params=path_params, params=params) or {}

    def _send(self, name: str, body: Mapping[str, Any], object_id: str | None = None) -> dict[str, Any]:
        path_params = {"id": object_id} if object_id is not None else None
        return self.call(ENDPOINTS[name], path_params=path_params, json_body=dict(body)) or {}

    def _search(self, name: str, filters: Mapping[str, Any], page: int, number: int | None) -> dict[str, Any]:
        return self._get(name, **_search_params(filters, page, number, self.timezone))

    def _iter(self, name: str, filters: Mapping[str, Any], number: int | None) -> Iterator[dict[str, Any]]:
        return self.paginate(
            lambda page: self._search(name, filters, page, number or MAX_PAGE_SIZE),
            endpoint=ENDPOINTS[name].path,
        )

    # ------------------------------------------------------------------ contacts

    def get_contact(self, contact_id: str, *, embeds: Iterable[str] | None = None) -> dict[str, Any]:
        """View one contact (``GET /contatos/{id}``); ``embeds`` from ``grupos``, ``campos``."""
        return self._get("contact_view", contact_id, embeds=_embeds(embeds, ("grupos", "campos")))

    def create_contact(
        self,
        *,
        email: str,
        nome: str | None = None,
        sexo: str | None = None,
        data_de_nascimento: date | datetime | str | None = None,
    ) -> dict[str, Any]:
        """Create a contact (``POST /contatos``); a known e-mail fails with ``Já existe um contato…``."""
        body = contact_body(
            email=required("email", email), nome=nome, sexo=sexo, nascimento=data_de_nascimento
        )
        return self._send("contact_create", body)

    def update_contact(
        self,
        contact_id: str,
        *,
        email: str | None = None,
        nome: str | None = None,
        sexo: str | None = None,
        data_de_nascimento: date | datetime | str | None = None,
    ) -> dict[str, Any]:
        """Update a contact (``PUT /contatos/{id}``)."""
        body = contact_body(email=email, nome=nome, sexo=sexo, nascimento=data_de_nascimento)
        if not body:
            raise EmailBRInputError(
                "update_contact: give at least one of email, nome, sexo, data_de_nascimento"
            )
        return self._send("contact_update", body, contact_id)

    def search_contacts(self, *, page: int = 1, number: int | None = None, **filters: Any) -> dict[str, Any]:
        """One page of contacts (``GET /contatos``).

        Filters: ``id`` (ids, comma-separated or a list), ``nome``, ``email``, ``sexo``, ``idadeinicio``,
        ``idadetermino``, ``datadecadastroinicio``/``termino``, ``datadenascimentoinicio``/``termino``,
        ``aniversarioinicio``/``termino``, ``status`` (ativos, inativos, descadastros, todos),
        ``qualidade``, ``campo``.
        """
        _check_choice("status", filters.get("status"), CONTACT_STATUS)
        return self._search("contact_search", filters, page, number)

    def iter_contacts(self, *, number: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every contact matching ``filters``, lazily (100 per page unless ``number`` says otherwise)."""
        _check_choice("status", filters.get("status"), CONTACT_STATUS)
        return self._iter("contact_search", filters, number)

    def iter_unsubscribed_contacts(self, *, number: int | None = None) -> Iterator[dict[str, Any]]:
        """Every contact that unsubscribed (``descadastrado``), lazily: the documented contact search
        ``GET /contatos?status=descadastros``, 100 per page unless ``number`` says otherwise.

        Each contact is the API's record: ``id``, ``email``, ``nome``, ``ativo``, ``descadastrado``,
        ``dataCadastro`` (``YYYY-MM-DD HH:MM:SS``, the account's local time) … The API gives no date of the
        unsubscription itself.
        """
        return self.iter_contacts(number=number, status="descadastros")

    def find_contact_by_email(self, email: str) -> dict[str, Any] | None:
        """The contact whose e-mail is exactly ``email`` (any status), or ``None``."""
        wanted = email.strip().lower()
        return next(
            (
                c
                for c in self.iter_contacts(email=email.strip(), status="todos")
                if str(c.get("email", "")).lower() == wanted
            ),
            None,
        )

    def activate_contact(self, contact_id: str) -> dict[str, Any]:
        """Activate a contact (``PUT /contatos/{id}/ativar``); an unsubscribed contact cannot be."""
        return self._send("contact_activate", {}, contact_id)

    def deactivate_contact(self, contact_id: str) -> dict[str, Any]:
        """Deactivate a contact (``PUT /contatos/{id}/desativar``)."""
        return self._send("contact_deactivate", {}, contact_id)

    def subscribe_contact(self, contact_id: str, list_ids: Iterable[str] | str) -> dict[str, Any]:
        """Subscribe a contact to lists (``POST /contatos/{id}/inscrever`` with ``idGrupos``)."""
        return self._send("contact_subscribe", {"idGrupos": _ids("list_ids", list_ids)}, contact_id)

    def unsubscribe_contact(self, contact_id: str, list_ids: Iterable[str] | str) -> dict[str, Any]:
        """Remove a contact from lists (``POST /contatos/{id}/desinscrever`` with ``idGrupos``)."""
        return self._send("contact_unsubscribe", {"idGrupos": _ids("list_ids", list_ids)}, contact_id)

    def set_contact_fields(self, contact_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Set custom field values by field id (``PUT /contatos/{id}/campos`` with ``campos``)."""
        if not fields:
            raise EmailBRInputError("fields: give at least one {field_id: value}")
        campos = {str(k): "" if v is None else str(v) for k, v in fields.items()}
        return self._send("contact_fields", {"campos": campos}, contact_id)

    # ------------------------------------------------------------------ lists

    def get_list(
        self, list_id: str, *, embeds: Iterable[str] | None = None, status: str | None = None
    ) -> dict[str, Any]:
        """View one list (``GET /grupos/{id}``); ``embeds`` ``contatos`` with contact ``status``."""
        _check_choice("status", status, CONTACT_STATUS)
        return self._get("list_view", list_id, embeds=_embeds(embeds, ("contatos",)), status=status)

    def create_list(self, *, nome: str) -> dict[str, Any]:
        """Create a list (``POST /grupos``)."""
        return self._send("list_create", {"nome": required("nome", nome)})

    def update_list(self, list_id: str, *, nome: str) -> dict[str, Any]:
        """Rename a list (``PUT /grupos/{id}``)."""
        return self._send("list_update", {"nome": required("nome", nome)}, list_id)

    def search_lists(self, *, page: int = 1, number: int | None = None, **filters: Any) -> dict[str, Any]:
        """One page of lists (``GET /grupos``); filters ``id``, ``nome``, ``ativo`` (true/false)."""
        return self._search("list_search", _bool_filter(filters, "ativo"), page, number)

    def iter_lists(self, *, number: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every list matching ``filters``, lazily."""
        return self._iter("list_search", _bool_filter(filters, "ativo"), number)

    def activate_lists(self, list_ids: Iterable[str] | str) -> dict[str, Any]:
        """Activate lists (``PUT /grupos/ativar?id=a,b``)."""
        return self.call(ENDPOINTS["list_activate"], params={"id": _ids("list_ids", list_ids)}) or {}

    def deactivate_lists(self, list_ids: Iterable[str] | str) -> dict[str, Any]:
        """Deactivate lists (``PUT /grupos/desativar?id=a,b``)."""
        return self.call(ENDPOINTS["list_deactivate"], params={"id": _ids("list_ids", list_ids)}) or {}

    # ------------------------------------------------------------------ custom fields

    def get_field(self, field_id: str) -> dict[str, Any]:
        """View a custom field (``GET /campos/{id}``)."""
        return self._get("field_view", field_id)

    def create_field(self, *, nome: str) -> dict[str, Any]:
        """Create a custom field (``POST /campos``)."""
        return self._send("field_create", {"nome": required("nome", nome)})

    def update_field(self, field_id: str, *, nome: str) -> dict[str, Any]:
        """Rename a custom field (``PUT /campos/{id}``)."""
        return self._send("field_update", {"nome": required("nome", nome)}, field_id)

    def delete_field(self, field_id: str) -> dict[str, Any]:
        """Remove a custom field and all its values (``DELETE /campos/{id}``)."""
        return self.call(ENDPOINTS["field_remove"], path_params={"id": field_id}) or {}

    def search_fields(self, *, page: int = 1, number: int | None = None, **filters: Any) -> dict[str, Any]:
        """One page of custom fields (``GET /campos``); filters ``id``, ``nome``."""
        return self._search("field_search", filters, page, number)

    def iter_fields(self, *, number: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every custom field matching ``filters``, lazily."""
        return self._iter("field_search", filters, number)

    # ------------------------------------------------------------------ senders

    def search_senders(self, *, page: int = 1, number: int | None = None, **filters: Any) -> dict[str, Any]:
        """One page of senders (``GET /remetentes``); filters ``id``, ``nome``, ``email``.

        Each sender says whether it is ``principal`` and ``confirmado``; only confirmed ones can send.
        """
        return self._search("sender_search", filters, page, number)

    def iter_senders(self, *, number: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every sender matching ``filters``, lazily."""
        return self._iter("sender_search", filters, number)

    # ------------------------------------------------------------------ messages

    def get_message(self, message_id: str) -> dict[str, Any]:
        """View a message with its HTML (``GET /mensagens/{id}``)."""
        return self._get("message_view", message_id)

    def create_message(
        self,
        *,
        assunto: str,
        html: str,
        nome: str | None = None,
        email_resposta: str | None = None,
        mensagem_descadastro: str | None = None,
    ) -> dict[str, Any]:
        """Create a message (``POST /mensagens``); ``nome`` is its secondary name."""
        body = _message_body(
            assunto=required("assunto", assunto),
            html=required("html", html),
            nome=nome,
            email_resposta=email_resposta,
            mensagem_descadastro=mensagem_descadastro,
        )
        return self._send("message_create", body)

    def update_message(self, message_id: str, **fields: Any) -> dict[str, Any]:
        """Update a message (``PUT /mensagens/{id}``): ``assunto``, ``html``, ``nome``, ``email_resposta``,
        ``mensagem_descadastro``. Updating a sent message makes the platform keep a copy of the old one."""
        body = _message_body(**fields)
        if not body:
            raise EmailBRInputError("update_message: give at least one field to change")
        return self._send("message_update", body, message_id)

    def delete_message(self, message_id: str) -> dict[str, Any]:
        """Remove an unsent message (``DELETE /mensagens/{id}``)."""
        return self.call(ENDPOINTS["message_remove"], path_params={"id": message_id}) or {}

    def search_messages(self, *, page: int = 1, number: int | None = None, **filters: Any) -> dict[str, Any]:
        """One page of messages (``GET /mensagens``); filters ``id``, ``assunto``, ``nome``, ``contador``,
        ``datadecadastroinicio``, ``datadecadastrotermino``."""
        return self._search("message_search", filters, page, number)

    def iter_messages(self, *, number: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every message matching ``filters``, lazily."""
        return self._iter("message_search", filters, number)

    def send_test_message(self, message_id: str) -> dict[str, Any]:
        """Send the message to the account's test list (``GET /mensagens/{id}/lista_teste``). Never retried
        after a lost answer: it sends e-mail."""
        return self._get("message_test_send", message_id)

    # ------------------------------------------------------------------ campaigns

    def get_campaign(self, campaign_id: str, *, embeds: Iterable[str] | None = None) -> dict[str, Any]:
        """View a campaign with its totals and rates (``GET /envios/{id}``); ``embeds`` from ``listas``,
        ``mensagem``, ``remetente``."""
        return self._get(
            "campaign_view", campaign_id, embeds=_embeds(embeds, ("listas", "mensagem", "remetente"))
        )

    def create_campaign(
        self,
        *,
        message_id: str,
        list_ids: Iterable[str] | str,
        start_at: datetime | date | str | None = "agora",
        sender_id: str | None = None,
    ) -> dict[str, Any]:
        """Create and schedule a campaign (``POST /envios``).

        :param start_at: ``None`` or ``"agora"``/``"now"`` to start now; otherwise a datetime (naive = the
            connection's zone), a date or an ISO-8601 string, converted to the connection's zone and sent as
            ``DD/MM/YYYY HH:MM``. A time in the past is refused before any request.
        """
        body = {
            "mensagem": required("message_id", message_id),
            "listas": _ids("list_ids", list_ids),
            "data_de_inicio": self.schedule_value(start_at, field="start_at"),
        }
        if sender_id:
            body["remetente"] = sender_id
        return self._send("campaign_create", body)

    def search_campaigns(self, *, page: int = 1, number: int | None = None, **filters: Any) -> dict[str, Any]:
        """One page of campaigns (``GET /envios``); filters ``id``, ``codigo`` and ``status`` (codes or
        labels, e.g. ``[2, 3]`` or ``"Concluído"``)."""
        return self._search("campaign_search", _status_filter(filters), page, number)

    def iter_campaigns(self, *, number: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every campaign matching ``filters``, lazily."""
        return self._iter("campaign_search", _status_filter(filters), number)

    def iter_campaigns_newest_first(self) -> Iterator[dict[str, Any]]:
        """Every campaign of the account, last page first (the API lists oldest first), lazily.

        Campaigns created while iterating are appended after the pages already planned and are not returned.
        """
        return iter_paged_backwards(
            lambda page: self.search_campaigns(page=page, number=MAX_PAGE_SIZE),
            self.page_scheme,
            platform=self.platform,
            endpoint=ENDPOINTS["campaign_search"].path,
        )

    def pause_campaign(self, campaign_id: str) -> dict[str, Any]:
        """Pause a campaign (``GET /envios/{id}/pausar``): changes state, never retried blindly."""
        return self._get("campaign_pause", campaign_id)

    def cancel_campaign(self, campaign_id: str) -> dict[str, Any]:
        """Cancel a campaign (``GET /envios/{id}/cancelar``): changes state, never retried blindly."""
        return self._get("campaign_cancel", campaign_id)

    def resume_campaign(
        self, campaign_id: str, *, start_at: datetime | date | str | None = "agora"
    ) -> dict[str, Any]:
        """Resume or reschedule a paused or scheduled campaign (``POST /envios/{id}/retomar``)."""
        return self._send(
            "campaign_resume", {"data": self.schedule_value(start_at, field="start_at")}, campaign_id
        )

    def schedule_value(self, value: datetime | date | str | None, *, field: str) -> str:
        """``agora`` or the local ``DD/MM/YYYY HH:MM`` of ``value``; refuses a time already past."""
        if value is None or (isinstance(value, str) and value.strip().lower() in {"agora", "now", ""}):
            return "agora"
        local = to_local(value, self.timezone, field=field)
        now = pendulum.now(self.timezone)
        if local.replace(second=0, microsecond=0) < now.replace(second=0, microsecond=0):
            raise EmailBRInputError(
                f"{field}: {local.isoformat()} is in the past "
                f"(now {now.replace(microsecond=0).isoformat()}); "
                "give a future time or 'agora'"
            )
        return local.strftime("%d/%m/%Y %H:%M")

    # ------------------------------------------------------------------ test connection

    def _probe(self) -> str:
        self._probe_answer(self.search_senders(page=1, number=1), "remetentes")
        return "CriaEnvio key accepted: searched senders (GET /remetentes)."


def is_business_refusal(message: str) -> bool:
    """Whether a CriaEnvio "not authorised" message refuses the operation rather than the key.

    CriaEnvio answers HTTP 401 / ``03-NAO-AUTORIZADO`` both for a wrong key and for refusals such as "not
    enough credits", "message already sent" or "cannot activate an unsubscribed contact". A message naming
    the key (:data:`CREDENTIAL_WORDS`) or matching no known refusal (:data:`REFUSAL_WORDS`) is taken as an
    authentication failure, so an unknown text never hides a bad key.
    """
    folded = fold(message)
    if not folded or any(word in folded for word in CREDENTIAL_WORDS):
        return False
    return any(word in folded for word in REFUSAL_WORDS)


def concerns_one_contact(message: str) -> bool:
    """Whether a CriaEnvio refusal (see :func:`is_business_refusal`) is about the contact in the request
    rather than the whole account: "Não é possível ativar um contato descadastrado." concerns one contact
    (:data:`CONTACT_REFUSAL_WORDS`); any other refusal (e.g. not enough credits) concerns the account."""
    folded = fold(message)
    return any(word in folded for word in CONTACT_REFUSAL_WORDS)


def created_record(answer: Any, endpoint: str) -> Mapping[str, Any]:
    """The record in CriaEnvio's ``{"data": {"id": ...}}`` answer to a create (``POST /contatos``,
    ``/listas``, ``/mensagens``, ``/envios`` …); any other answer is an :class:`EmailBRResponseError`."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    if not isinstance(data, Mapping) or data.get("id") in (None, ""):
        raise EmailBRResponseError(
            platform=CriaEnvioHook.platform,
            endpoint=endpoint,
            status=None,
            detail=f"the answer to a create has no data.id: {excerpt(json.dumps(answer, default=str), 120)}",
        )
    return data


def created_id_of(answer: Any, endpoint: str) -> str:
    """The id (as text) of the record in CriaEnvio's answer to a create (see :func:`created_record`)."""
    return str(created_record(answer, endpoint)["id"])


def campaign_status(value: Any) -> str:
    """The canonical label of a campaign status given as a label (any case or accents) or a code.

    The view answers labels (``Concluído``); the search filter takes codes. An unknown value is returned as
    it came, so callers can report it.
    """
    text = str(value if value is not None else "").strip()
    if text.isdigit() and int(text) in CAMPAIGN_STATUS:
        return CAMPAIGN_STATUS[int(text)]
    folded = fold(text)
    return next((label for label in CAMPAIGN_STATUS.values() if fold(label) == folded), text)


def campaign_stats(view: Mapping[str, Any], timezone: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
    """The totals and rates of a campaign view (``GET /envios/{id}``) as JSON-able numbers.

    Keys: ``campaign_id``, ``codigo``, ``status`` (canonical label), ``started_at`` and ``finished_at``
    (ISO-8601 with the offset of ``timezone``, or ``None``), then every field of
    :data:`CAMPAIGN_COUNT_FIELDS` (``int``) and :data:`CAMPAIGN_RATE_FIELDS` (``float``, percent), ``None``
    when the view lacks it.
    """
    stats: dict[str, Any] = {
        "campaign_id": None if view.get("id") is None else str(view["id"]),
        "codigo": None if view.get("codigo") is None else str(view["codigo"]),
        "status": campaign_status(view.get("status")),
        "started_at": _local_iso(view.get("data_de_inicio"), timezone),
        "finished_at": _local_iso(view.get("data_de_termino"), timezone),
    }
    for key in CAMPAIGN_COUNT_FIELDS:
        stats[key] = read_int(view.get(key))
    for key in CAMPAIGN_RATE_FIELDS:
        stats[key] = _float_or_none(view.get(key))
    return stats


#: The columns of :func:`unsubscribed_row`: the address, the contact's id and when it was registered.
UNSUBSCRIBED_COLUMNS = ("email", "id", "registered_at")


def unsubscribed_row(contact: Mapping[str, Any], timezone: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
    """One row of an unsubscribed contact (see :meth:`CriaEnvioHook.iter_unsubscribed_contacts`) for an
    export: ``email`` (trimmed, as the platform keeps it), ``id`` (text) and ``registered_at`` (the record's
    ``dataCadastro`` as ISO-8601 with the offset of ``timezone``, or ``None``). The API gives no date of
    the unsubscription itself."""
    return {
        "email": str(contact.get("email") or "").strip(),
        "id": None if contact.get("id") is None else str(contact["id"]),
        "registered_at": _local_iso(contact.get("dataCadastro"), timezone),
    }


def campaign_progress(stats: Mapping[str, Any]) -> str:
    """One log line of a campaign's progress from :func:`campaign_stats`: status, percent, sent of total."""
    percent = stats.get("porcentagem_de_conclusao")
    shown = "?" if percent is None else f"{percent:.2f}"
    return (
        f"status {stats.get('status')}, {shown}% complete, "
        f"sent {stats.get('total_enviado', '?')} of {stats.get('total_de_contatos', '?')}"
    )


def _local_iso(value: Any, timezone: str) -> str | None:
    """A zone-less local date-time of the account (``YYYY-MM-DD HH:MM:SS``) as ISO-8601 with offset."""
    if value in (None, ""):
        return None
    try:
        return to_local(str(value), timezone).isoformat()
    except EmailBRInputError:
        return str(value)


def _float_or_none(value: Any) -> float | None:
    """``value`` as a float (the API sends some numbers as strings, e.g. ``"12.50"``), or ``None``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def contact_body(
    *, email: str | None, nome: str | None, sexo: str | None, nascimento: date | datetime | str | None
) -> dict[str, Any]:
    """A contact's JSON body with ``sexo`` checked and the birth date as ``DD/MM/YYYY``."""
    body: dict[str, Any] = {}
    if email is not None:
        body["email"] = email
    if nome is not None:
        body["nome"] = nome
    if sexo is not None and sexo != "":
        _check_choice("sexo", sexo, SEXO)
        body["sexo"] = sexo
    if nascimento is not None and nascimento != "":
        body["data_de_nascimento"] = parse_birth_date(nascimento, field="data_de_nascimento").strftime(
            "%d/%m/%Y"
        )
    return body


def _message_body(**fields: Any) -> dict[str, Any]:
    allowed = ("assunto", "html", "nome", "email_resposta", "mensagem_descadastro")
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise EmailBRInputError(f"unknown message field(s) {unknown}; allowed: {', '.join(allowed)}")
    return {k: v for k, v in fields.items() if v is not None}


def _ids(field: str, ids: Iterable[Any] | str) -> str:
    """Join ids as the API wants them (``"a,b"``), refusing an empty list."""
    return ",".join(split_list(field, ids))


def _embeds(embeds: Iterable[str] | None, allowed: tuple[str, ...]) -> str | None:
    if not embeds:
        return None
    items = split_list("embeds", embeds if isinstance(embeds, str) else ",".join(embeds))
    for item in items:
        _check_choice("embeds", item, allowed)
    return ",".join(items)


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise EmailBRInputError(f"{field}: {value!r} is not allowed; use one of {', '.join(allowed)}")


def _search_params(
    filters: Mapping[str, Any], page: int, number: int | None, timezone: str = DEFAULT_TIMEZONE
) -> dict[str, Any]:
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise EmailBRInputError(f"page: {page!r} must be an integer ≥ 1")
    if number is not None and (not isinstance(number, int) or not 1 <= number <= MAX_PAGE_SIZE):
        raise EmailBRInputError(f"number: {number!r} must be an integer from 1 to {MAX_PAGE_SIZE}")
    params = {k: _filter_value(k, v, timezone) for k, v in filters.items()}
    params["page"] = page
    if number is not None:
        params["number"] = number
    return params


def _filter_value(name: str, value: Any, timezone: str) -> Any:
    """One search filter as the API takes it: lists joined with commas, dates in the documented format.

    ``date``/``datetime`` values (and ISO ``YYYY-MM-DD`` text) of :data:`DATE_FILTERS` go out as
    ``DD/MM/YYYY``, of :data:`DAY_OF_YEAR_FILTERS` as ``DD/MM``. An aware datetime is first converted to
    the account's ``timezone`` (the API's dates are its local dates); a naive one is taken as local. Other
    text is sent as given.
    """
    if isinstance(value, (list, tuple, set)):
        return ",".join(map(str, value))
    if name not in DATE_FILTERS and name not in DAY_OF_YEAR_FILTERS:
        return value
    day: date | None
    if isinstance(value, (date, datetime)):
        day = to_local(value, timezone, field=name).date() if isinstance(value, datetime) else value
    elif isinstance(value, str) and "-" in value:
        day = parse_calendar_date(value.strip())
        if day is None:
            raise EmailBRInputError(
                f"{name}: {value!r} is not a date; give a date, YYYY-MM-DD or "
                + ("DD/MM" if name in DAY_OF_YEAR_FILTERS else "DD/MM/YYYY")
            )
    else:
        return value
    return day.strftime("%d/%m" if name in DAY_OF_YEAR_FILTERS else "%d/%m/%Y")


def _bool_filter(filters: Mapping[str, Any], key: str) -> dict[str, Any]:
    out = dict(filters)
    if isinstance(out.get(key), bool):
        out[key] = "true" if out[key] else "false"
    return out


def _status_filter(filters: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(filters)
    status = out.get("status")
    if status is None:
        return out
    codes = []
    for text in split_list("status", status if isinstance(status, (list, tuple, set)) else str(status)):
        if text in CAMPAIGN_STATUS_CODE:
            codes.append(str(CAMPAIGN_STATUS_CODE[text]))
        elif text.isdigit() and int(text) in CAMPAIGN_STATUS:
            codes.append(text)
        else:
            raise EmailBRInputError(
                f"status: {text!r} is not a campaign status; use codes 0-5 or labels "
                f"{list(CAMPAIGN_STATUS_CODE)}"
            )
    out["status"] = ",".join(codes)
    return out
