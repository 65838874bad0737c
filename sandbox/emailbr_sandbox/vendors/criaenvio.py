"""CriaEnvio emulation: contacts, lists, custom fields, senders, messages and campaigns (``/criaenvio/v1/…``).

The key travels in the query parameter ``chave``. POST/PUT bodies are JSON, as the docs say, or form fields,
as CriaEnvio's own PHP library and the Python client on PyPI send them (see :meth:`CriaEnvioVendor.body`).
Errors are ``{"error": {"code", "http_code", "message"}}`` with the vendor's codes and wording. Searches page
by 30 (``page``, ``number`` up to 100) with a ``pagination`` object.

Campaign (``envio``) status is computed lazily from timestamps on every read:
``Em criação`` (first ``min(1 s, campaign_seconds / 10)``) → ``Agendado`` (until the scheduled start, whose
wait is divided by the clock speed) → ``Enviando`` (``porcentagem_de_conclusao`` grows linearly over
``campaign_seconds``) → ``Concluído``. Pause freezes progress (``Suspenso``), cancel ends it (``Cancelado``).
Totals and rates are derived from the seed and the campaign number, so they are reproducible.

Recipients at :data:`OPTOUT_DOMAIN` (``optout.example``) click the unsubscribe link of every campaign that
reaches them: once such a campaign is ``Concluído``, they are ``descadastrado`` (and inactive), as a
real recipient's opt-out would leave them. Tests and the demo use it to get contacts that unsubscribed the
way the platform's users do, then find them with ``GET /contatos?status=descadastros``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NoReturn
from urllib.parse import urlencode

from ..constants import (
    BOUNCE_DOMAIN,
    CRIAENVIO_KEY,
    PENDING_SENDER_EMAIL,
    PENDING_SENDER_NAME,
    SENDER_EMAIL,
    SENDER_NAME,
)
from ..wire import BodyError, Request, Response, email_domain, is_email, json_response, paginate, to_int
from .base import Vendor, split_csv, status_text

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
OK = {"data": {"OK": "OK"}}
ERROR_CODES = {400: "02-ARGUMENTOS-INVALIDOS", 401: "03-NAO-AUTORIZADO", 404: "01-NAO-ENCONTRADO"}
STATUS_CODES = {"Suspenso": 0, "Enviando": 1, "Concluído": 2, "Cancelado": 3, "Agendado": 4, "Em criação": 5}
NOT_FOUND = "Registro não encontrado."
MESSAGE_NOT_FOUND = "Mensagem não encontrada."
CAMPAIGN_NOT_FOUND = "Envio não encontrado."
FIELD_NOT_FOUND = "Campo personalizado não encontrado."
PAST_DATE = (
    "A data/hora de agendamento escolhida pertence ao passado. Favor preencher com uma data futura ou a "
    'opção "agora" para iniciar o envio imediatamente.'
)
NO_CREDITS = (
    "O envio não pode exceder a quantidade de créditos que você possui. Reduza o número de destinatários ou "
    "adquira mais créditos e tente novamente."
)
CONTACT_STATUSES = ("ativos", "inativos", "descadastros", "todos")
#: Body types read as form fields (what CriaEnvio's PHP library and the PyPI client send).
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DATE_TIME = "%Y-%m-%d %H:%M:%S"
#: Recipients at this domain unsubscribe from every campaign that reaches them (when it is ``Concluído``).
OPTOUT_DOMAIN = "optout.example"


class CriaEnvioVendor(Vendor):
    """State: dicts of contacts, lists (with member ids), fields, senders, messages and campaigns."""

    name = "criaenvio"

    def routes(self) -> None:
        """Register the documented endpoints with the methods of CriaEnvio's PHP library."""
        add = self.router.add
        add("GET", "contatos", self.contact_search)
        add("POST", "contatos", self.contact_create)
        add("GET", "contatos/{id}", self.contact_view)
        add("PUT", "contatos/{id}", self.contact_update)
        add("PUT", "contatos/{id}/ativar", self.contact_activate)
        add("PUT", "contatos/{id}/desativar", self.contact_deactivate)
        add("POST", "contatos/{id}/inscrever", self.contact_subscribe)
        add("POST", "contatos/{id}/desinscrever", self.contact_unsubscribe)
        add("PUT", "contatos/{id}/campos", self.contact_fields)
        add("GET", "grupos", self.list_search)
        add("POST", "grupos", self.list_create)
        add("PUT", "grupos/ativar", self.list_activate)
        add("PUT", "grupos/desativar", self.list_deactivate)
        add("GET", "grupos/{id}", self.list_view)
        add("PUT", "grupos/{id}", self.list_update)
        add("GET", "campos", self.field_search)
        add("POST", "campos", self.field_create)
        add("GET", "campos/{id}", self.field_view)
        add("PUT", "campos/{id}", self.field_update)
        add("DELETE", "campos/{id}", self.field_remove)
        add("GET", "remetentes", self.sender_search)
        add("GET", "mensagens", self.message_search)
        add("POST", "mensagens", self.message_create)
        add("GET", "mensagens/{id}", self.message_view)
        add("PUT", "mensagens/{id}", self.message_update)
        add("DELETE", "mensagens/{id}", self.message_remove)
        add("GET", "mensagens/{id}/lista_teste", self.message_test)
        add("GET", "envios", self.campaign_search)
        add("POST", "envios", self.campaign_create)
        add("GET", "envios/{id}", self.campaign_view)
        add("GET", "envios/{id}/pausar", self.campaign_pause)
        add("GET", "envios/{id}/cancelar", self.campaign_cancel)
        add("POST", "envios/{id}/retomar", self.campaign_resume)

    # -- state --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Seed: two senders (one unconfirmed), "Lista Teste" with one contact, one unsubscribed contact,
        one custom field ("Cidade"), and the configured credits."""
        self.contacts: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, str] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.fields: dict[str, dict[str, Any]] = {}
        self.senders: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.test_sends: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.credits = self.ctx.settings.credits
        for name, email, main, confirmed in (
            (SENDER_NAME, SENDER_EMAIL, True, True),
            (PENDING_SENDER_NAME, PENDING_SENDER_EMAIL, False, False),
        ):
            sender_id = self._new_id("remetente")
            self.senders[sender_id] = {
                "id": sender_id,
                "nome": name,
                "email": email,
                "principal": main,
                "confirmado": confirmed,
            }
        test_list = self._new_list("Lista Teste")
        self.test_list_id = test_list["id"]
        tester = self._new_contact("Contato Teste", "teste@exemplo.com.br", None, None)
        test_list["contatos"].add(tester["id"])
        unsubscribed = self._new_contact("Descadastrado", "descadastrado@exemplo.com.br", None, None)
        unsubscribed.update(ativo=False, descadastrado=True)
        field_id = self._new_id("campo")
        self.fields[field_id] = {"id": field_id, "nome": "Cidade"}

    def dump(self) -> dict[str, Any]:
        """Return everything JSON-compatible (list members as sorted lists)."""
        return {
            "contacts": list(self.contacts.values()),
            "lists": [{**item, "contatos": sorted(item["contatos"])} for item in self.lists.values()],
            "fields": list(self.fields.values()),
            "senders": list(self.senders.values()),
            "messages": list(self.messages.values()),
            "campaigns": list(self.campaigns.values()),
            "test_sends": self.test_sends,
            "counters": self.counters,
            "credits": self.credits,
            "test_list_id": self.test_list_id,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore a :meth:`dump`."""
        self.contacts = {c["id"]: c for c in data["contacts"]}
        self.by_email = {c["email"].lower(): c["id"] for c in data["contacts"]}
        self.lists = {item["id"]: {**item, "contatos": set(item["contatos"])} for item in data["lists"]}
        self.fields = {f["id"]: f for f in data["fields"]}
        self.senders = {s["id"]: s for s in data["senders"]}
        self.messages = {m["id"]: m for m in data["messages"]}
        self.campaigns = {c["id"]: c for c in data["campaigns"]}
        self.test_sends = data["test_sends"]
        self.counters = data["counters"]
        self.credits = data["credits"]
        self.test_list_id = data["test_list_id"]

    def snapshot(self) -> dict[str, Any]:
        """Add each campaign's current status, progress and totals to the dump."""
        now = self.ctx.clock.now()
        self._settle_optouts(now)
        data = self.dump()
        data["campaigns"] = [{**c, "current": self._campaign_view(c, now)} for c in self.campaigns.values()]
        return data

    def handle(self, request: Request) -> Response:
        """Apply the opt-outs of campaigns that finished since the last request, then answer it."""
        self._settle_optouts(self.ctx.clock.now())
        return super().handle(request)

    def _settle_optouts(self, now: float) -> None:
        """Unsubscribe the :data:`OPTOUT_DOMAIN` recipients of every campaign that is ``Concluído`` by
        ``now`` (once per campaign; a cancelled campaign unsubscribes nobody)."""
        for campaign in self.campaigns.values():
            if campaign.get("optouts_settled"):
                continue
            status, _ = self._progress(campaign, now)
            if status == "Cancelado":
                campaign["optouts_settled"] = True
            elif status == "Concluído":
                for cid in campaign["contatos"]:
                    contact = self.contacts.get(cid)
                    if contact is not None and email_domain(contact["email"]) == OPTOUT_DOMAIN:
                        contact.update(ativo=False, descadastrado=True)
                campaign["optouts_settled"] = True

    def set_credits(self, credits: int) -> None:
        """Set the credit balance (admin ``config``)."""
        self.credits = credits

    # -- envelope -----------------------------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        """``{"error": {"code", "http_code", "message"}}``."""
        code = ERROR_CODES.get(status, "04-ERRO-INTERNO" if status >= 500 else "02-ARGUMENTOS-INVALIDOS")
        return json_response({"error": {"code": code, "http_code": status, "message": message}}, status)

    def fault_response(self, status: int) -> Response:
        """5xx faults use the documented ``Internal Error`` message."""
        return self.error(status, "Internal Error" if status >= 500 else status_text(status))

    def not_found(self, request: Request) -> Response:
        """Unknown resource: ``01-NAO-ENCONTRADO``."""
        return self.error(404, "Recurso não encontrado.")

    def authenticate(self, request: Request) -> Response | None:
        """The ``chave`` query parameter must be the sandbox key (HTTP 401, ``03-NAO-AUTORIZADO``)."""
        if request.query.get("chave") != CRIAENVIO_KEY:
            return self.error(401, "Chave de acesso inválida.")
        return None

    def detail(self, text: str) -> NoReturn:
        """Fail with ``Erro ao processar requisição. Detalhe(s): <text>``."""
        self.fail(400, f"Erro ao processar requisição. Detalhe(s): {text}")

    def bad_param(self, name: str) -> NoReturn:
        """Fail with ``Parâmetro "<name>" não preenchido corretamente.``."""
        self.fail(400, f'Parâmetro "{name}" não preenchido corretamente.')

    def body(self, request: Request) -> dict[str, Any]:
        """Return the parameters of a POST/PUT body: a JSON object, or form fields (an empty body is ``{}``).

        The docs ask for JSON with ``Content-Type: application/json``. CriaEnvio's own PHP library
        (``criaenvio/biblioteca_criaenvio``, ``ConexaoCurl``) sends every POST and PUT as
        ``http_build_query`` fields instead, custom fields nested as ``campos[<id>]=valor``, and the Python
        client on PyPI (``py-criaenvio``) posts ``requests`` ``data=`` forms: the service evidently takes
        both, so form bodies (urlencoded or multipart) are read like PHP's ``$_POST``, values as strings.
        Any other content type, invalid JSON and a JSON body that is not an object are a 400, as before.
        """
        if not request.body.strip():
            return {}
        if request.content_type in FORM_CONTENT_TYPES:
            return request.form()
        if "json" not in request.content_type:
            self.detail(
                "o corpo da requisição deve ser JSON (Content-Type: application/json) ou um formulário "
                "(application/x-www-form-urlencoded)."
            )
        try:
            data = request.json()
        except BodyError:
            self.detail("o corpo da requisição não é um JSON válido.")
        if not isinstance(data, dict):
            self.detail("o corpo da requisição deve ser um objeto JSON.")
        return data

    def page(self, request: Request, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """Page ``items`` by ``page``/``number`` (default 30, max 100): items and ``pagination``."""
        query = request.query
        number = min(MAX_PAGE_SIZE, to_int(query.get("number"), DEFAULT_PAGE_SIZE))
        page = paginate(items, to_int(query.get("page"), 1), number)
        total_pages = max(1, page.pages)
        links: dict[str, str] | list[Any] = {}
        if page.page > 1:
            links["previous"] = self._page_url(request, min(page.page - 1, total_pages))  # type: ignore[index]
        if page.page < total_pages:
            links["next"] = self._page_url(request, page.page + 1)  # type: ignore[index]
        pagination = {
            "total": page.total,
            "count": len(page.items),
            "per_page": number,
            "current_page": page.page,
            "total_pages": total_pages,
            "links": links or [],
        }
        return page.items, pagination

    @staticmethod
    def _page_url(request: Request, page: int) -> str:
        """Link to another page; the ``chave`` parameter is left out on purpose (add it back to follow)."""
        params = {k: v for k, v in request.query.items() if k != "chave"}
        params["page"] = str(page)
        return f"http://{request.host}{request.full_path}?{urlencode(params)}"

    def searched(
        self, request: Request, items: list[Any], row: Callable[[Any], dict[str, Any]] | None = None
    ) -> Response:
        """Return ``{"data": [...page...], "pagination": {...}}``; ``row`` renders only the page's items."""
        page, pagination = self.page(request, items)
        return json_response({"data": [row(i) for i in page] if row else page, "pagination": pagination})

    # -- helpers ------------------------------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        number = self.counters.get(kind, 0) + 1
        self.counters[kind] = number
        return self.ctx.ids.short(f"criaenvio-{kind}", number)

    def _new_list(self, name: str) -> dict[str, Any]:
        list_id = self._new_id("grupo")
        record = {"id": list_id, "nome": name, "ativo": True, "contatos": set()}
        self.lists[list_id] = record
        return record

    def _new_contact(self, nome: str, email: str, sexo: str | None, birth: str | None) -> dict[str, Any]:
        contact_id = self._new_id("contato")
        contact = {
            "id": contact_id,
            "nome": nome,
            "email": email,
            "qualidade": "5",
            "ativo": True,
            "descadastrado": False,
            "sexo": sexo,
            "dataNascimento": birth,
            "dataCadastro": self.ctx.clock.now(),
            "campos": {},
        }
        self.contacts[contact_id] = contact
        self.by_email[email.lower()] = contact_id
        return contact

    @staticmethod
    def _is_active(contact: dict[str, Any]) -> bool:
        return contact["ativo"] and not contact["descadastrado"]

    def _find(
        self, table: dict[str, dict[str, Any]], item_id: str, message: str = NOT_FOUND
    ) -> dict[str, Any]:
        item = table.get(item_id)
        if item is None:
            self.fail(404, message)
        return item

    def _contact_row(self, contact: dict[str, Any]) -> dict[str, Any]:
        row = {k: contact[k] for k in ("id", "nome", "email", "qualidade", "ativo", "descadastrado", "sexo")}
        row["dataNascimento"] = contact["dataNascimento"]
        row["dataCadastro"] = self.ctx.clock.fmt(contact["dataCadastro"], DATE_TIME)
        return row

    def _list_row(self, record: dict[str, Any]) -> dict[str, Any]:
        active = sum(1 for cid in record["contatos"] if self._is_active(self.contacts[cid]))
        return {
            "id": record["id"],
            "nome": record["nome"],
            "ativo": record["ativo"],
            "contatos_ativos": str(active),
        }

    @staticmethod
    def _embeds(request: Request, allowed: tuple[str, ...]) -> list[str]:
        return [e for e in split_csv(request.query.get("embeds", "")) if e in allowed]

    def _parse_date(self, value: Any, name: str, fmt: str = "%d/%m/%Y") -> datetime:
        try:
            return datetime.strptime(str(value).strip(), fmt)
        except ValueError:
            self.bad_param(name)

    def _optional_date(self, query: dict[str, str], name: str) -> date | None:
        return self._parse_date(query[name], name).date() if query.get(name) else None

    def _schedule(self, value: Any, name: str) -> float | None:
        """Parse ``agora`` (→ ``None``) or ``DD/MM/YYYY HH:MM`` local time; refuse past minutes."""
        if isinstance(value, str) and value.strip().lower() == "agora":
            return None
        if not isinstance(value, str):
            self.bad_param(name)
        when = self.ctx.clock.from_local(self._parse_date(value, name, "%d/%m/%Y %H:%M"))
        now = self.ctx.clock.now()
        if when < now - now % 60:
            self.fail(400, PAST_DATE)
        return when

    def _received_sends(self, contact_id: str) -> bool:
        now = self.ctx.clock.now()
        if any(contact_id in send["contatos"] for send in self.test_sends):
            return True
        return any(
            contact_id in c["contatos"] and self._progress(c, now)[1] > 0 for c in self.campaigns.values()
        )

    def _message_sent(self, message_id: str) -> bool:
        now = self.ctx.clock.now()
        return any(
            c["mensagem"] == message_id and self._progress(c, now)[1] > 0 for c in self.campaigns.values()
        )

    # -- contacts -----------------------------------------------------------------------------------------
    def contact_search(self, request: Request) -> Response:
        """``GET /contatos``: filters ``id, nome, email, sexo, status, qualidade, campo`` and date/age ranges.

        ``nome``, ``email`` and ``campo`` match substrings, case-insensitively.
        """
        query = request.query
        status = query.get("status") or "ativos"
        if status not in CONTACT_STATUSES:
            self.bad_param("status")
        ids = set(split_csv(query.get("id", "")))
        nome = query.get("nome", "").lower()
        email = query.get("email", "").lower()
        sexo = query.get("sexo", "")
        if sexo and sexo not in ("m", "f", "mf", "vazio"):
            self.bad_param("sexo")
        qualidades = set(split_csv(query.get("qualidade", "")))
        campo = query.get("campo", "").lower()
        ranges = self._contact_ranges(query)
        matches = []
        for contact in self.contacts.values():
            if ids and contact["id"] not in ids:
                continue
            if nome and nome not in (contact["nome"] or "").lower():
                continue
            if email and email not in contact["email"].lower():
                continue
            if not _status_matches(contact, status) or not _sexo_matches(contact["sexo"], sexo):
                continue
            if qualidades and contact["qualidade"] not in qualidades:
                continue
            if campo and not any(campo in str(v).lower() for v in contact["campos"].values()):
                continue
            if ranges and not self._in_ranges(contact, ranges):
                continue
            matches.append(contact)
        return self.searched(request, matches, self._contact_row)

    def _contact_ranges(self, query: dict[str, str]) -> dict[str, Any]:
        ranges: dict[str, Any] = {}
        for name in ("datadecadastro", "datadenascimento"):
            for edge in ("inicio", "termino"):
                key = name + edge
                if query.get(key):
                    ranges[key] = self._parse_date(query[key], key).date()
        for edge in ("inicio", "termino"):
            key = "idade" + edge
            if query.get(key):
                if not query[key].strip().isdigit():
                    self.bad_param(key)
                ranges[key] = int(query[key])
            key = "aniversario" + edge
            if query.get(key):
                ranges[key] = self._parse_date(query[key] + "/2000", key).date().timetuple()[1:3]
        return ranges

    def _in_ranges(self, contact: dict[str, Any], ranges: dict[str, Any]) -> bool:
        created = self.ctx.clock.local(contact["dataCadastro"]).date()
        if not (
            ranges.get("datadecadastroinicio", created)
            <= created
            <= ranges.get("datadecadastrotermino", created)
        ):
            return False
        birth_keys = {k for k in ranges if not k.startswith("datadecadastro")}
        if not birth_keys:
            return True
        if not contact["dataNascimento"]:
            return False
        birth = date.fromisoformat(contact["dataNascimento"])
        if (
            not ranges.get("datadenascimentoinicio", birth)
            <= birth
            <= ranges.get("datadenascimentotermino", birth)
        ):
            return False
        today = self.ctx.clock.local(self.ctx.clock.now()).date()
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        if not ranges.get("idadeinicio", age) <= age <= ranges.get("idadetermino", age):
            return False
        day = (birth.month, birth.day)
        return ranges.get("aniversarioinicio", day) <= day <= ranges.get("aniversariotermino", day)

    def _contact_fields(self, body: dict[str, Any], contact: dict[str, Any] | None) -> dict[str, Any]:
        """Validate ``nome``/``email``/``sexo``/``data_de_nascimento``; return the changes to apply."""
        changes: dict[str, Any] = {}
        if "email" in body or contact is None:
            email = str(body.get("email") or "").strip()
            if not email:
                self.detail("o campo email é obrigatório.")
            if not is_email(email):
                self.detail("email inválido.")
            owner = self.by_email.get(email.lower())
            if owner is not None and (contact is None or owner != contact["id"]):
                self.fail(400, "Já existe um contato com este email. Tente atualizá-lo.")
            if (
                contact is not None
                and email.lower() != contact["email"].lower()
                and self._received_sends(contact["id"])
            ):
                self.fail(400, "Não é possível editar o e-mail de um contato que já recebeu envios.")
            changes["email"] = email
        if "nome" in body:
            changes["nome"] = "" if body["nome"] is None else str(body["nome"])
        if "sexo" in body:
            sexo = body["sexo"] or None
            if sexo not in (None, "m", "f"):
                self.detail("sexo deve ser m ou f.")
            changes["sexo"] = sexo
        if "data_de_nascimento" in body:
            raw = body["data_de_nascimento"]
            if raw:
                try:
                    changes["dataNascimento"] = datetime.strptime(str(raw), "%d/%m/%Y").date().isoformat()
                except ValueError:
                    self.detail("data_de_nascimento deve estar no formato DD/MM/AAAA.")
            else:
                changes["dataNascimento"] = None
        return changes

    def contact_create(self, request: Request) -> Response:
        """``POST /contatos``: a duplicate e-mail fails with the vendor's wording."""
        body = self.body(request)
        changes = self._contact_fields(body, None)
        contact = self._new_contact(
            changes.get("nome", ""), changes["email"], changes.get("sexo"), changes.get("dataNascimento")
        )
        data = {
            "id": contact["id"],
            "nome": contact["nome"],
            "email": contact["email"],
            "sexo": contact["sexo"],
            "data_de_nascimento": body.get("data_de_nascimento"),
        }
        return json_response({"data": data})

    def contact_view(self, request: Request, id: str) -> Response:
        """``GET /contatos/{id}?embeds=grupos,campos``."""
        contact = self._find(self.contacts, id)
        row = self._contact_row(contact)
        embeds = self._embeds(request, ("grupos", "campos"))
        if "grupos" in embeds:
            groups = [self._list_row(g) for g in self.lists.values() if id in g["contatos"]]
            row["grupos"] = {"data": groups, "pagination": _single_page(len(groups))}
        if "campos" in embeds:
            row["campos"] = {
                "data": [
                    {"id": fid, "nome": self.fields[fid]["nome"], "valor": value}
                    for fid, value in contact["campos"].items()
                    if fid in self.fields
                ]
            }
        return json_response({"data": row, **({"embeds": embeds} if embeds else {})})

    def contact_update(self, request: Request, id: str) -> Response:
        """``PUT /contatos/{id}``: ``nome``, ``email``, ``sexo``, ``data_de_nascimento``."""
        contact = self._find(self.contacts, id)
        changes = self._contact_fields(self.body(request), contact)
        if "email" in changes:
            del self.by_email[contact["email"].lower()]
            self.by_email[changes["email"].lower()] = id
        contact.update(changes)
        return json_response(OK)

    def contact_activate(self, request: Request, id: str) -> Response:
        """``PUT /contatos/{id}/ativar``: an unsubscribed contact cannot be re-activated (401)."""
        contact = self._find(self.contacts, id)
        if contact["descadastrado"]:
            self.fail(401, "Não é possível ativar um contato descadastrado.")
        contact["ativo"] = True
        return json_response(OK)

    def contact_deactivate(self, request: Request, id: str) -> Response:
        """``PUT /contatos/{id}/desativar``."""
        self._find(self.contacts, id)["ativo"] = False
        return json_response(OK)

    def _target_lists(self, request: Request) -> list[dict[str, Any]]:
        ids = split_csv(self.body(request).get("idGrupos"))
        if not ids:
            self.detail("o campo idGrupos é obrigatório.")
        if any(i not in self.lists for i in ids):
            self.fail(400, "Não foram encontrado os ids de grupos.")
        return [self.lists[i] for i in ids]

    def contact_subscribe(self, request: Request, id: str) -> Response:
        """``POST /contatos/{id}/inscrever`` ``{"idGrupos": "a, b"}``."""
        self._find(self.contacts, id)
        for record in self._target_lists(request):
            record["contatos"].add(id)
        return json_response(OK)

    def contact_unsubscribe(self, request: Request, id: str) -> Response:
        """``POST /contatos/{id}/desinscrever`` ``{"idGrupos": "a, b"}``."""
        self._find(self.contacts, id)
        for record in self._target_lists(request):
            record["contatos"].discard(id)
        return json_response(OK)

    def contact_fields(self, request: Request, id: str) -> Response:
        """``PUT /contatos/{id}/campos`` ``{"campos": {field_id: value}}``."""
        contact = self._find(self.contacts, id)
        values = self.body(request).get("campos")
        if not isinstance(values, dict) or not values:
            self.fail(400, "É necessário informar ao menos um campo para realizar a atualização.")
        unknown = [k for k in values if k not in self.fields]
        if unknown:
            self.detail(f"campo(s) personalizado(s) inexistente(s): {', '.join(unknown)}.")
        for field_id, value in values.items():
            contact["campos"][field_id] = "" if value is None else str(value)
        return json_response(OK)

    # -- lists --------------------------------------------------------------------------------------------
    def list_search(self, request: Request) -> Response:
        """``GET /grupos``: filters ``id``, ``nome`` (substring), ``ativo`` (default ``true``)."""
        query = request.query
        ativo = (query.get("ativo") or "true").lower()
        if ativo not in ("true", "false"):
            self.bad_param("ativo")
        ids = set(split_csv(query.get("id", "")))
        nome = query.get("nome", "").lower()
        matches = [
            g
            for g in self.lists.values()
            if g["ativo"] == (ativo == "true")
            and (not ids or g["id"] in ids)
            and (not nome or nome in g["nome"].lower())
        ]
        return self.searched(request, matches, self._list_row)

    def list_create(self, request: Request) -> Response:
        """``POST /grupos`` ``{"nome"}``."""
        nome = str(self.body(request).get("nome") or "").strip()
        if not nome:
            self.detail("o campo nome é obrigatório.")
        return json_response({"data": self._list_row(self._new_list(nome))})

    def list_view(self, request: Request, id: str) -> Response:
        """``GET /grupos/{id}?embeds=contatos&status=ativos`` (contacts paged like a search)."""
        record = self._find(self.lists, id)
        row = self._list_row(record)
        embeds = self._embeds(request, ("contatos",))
        if embeds:
            status = request.query.get("status") or "ativos"
            if status not in CONTACT_STATUSES:
                self.bad_param("status")
            members = [
                contact
                for cid, contact in self.contacts.items()
                if cid in record["contatos"] and _status_matches(contact, status)
            ]
            items, pagination = self.page(request, members)
            row["contatos"] = {"data": [self._contact_row(c) for c in items], "pagination": pagination}
        return json_response({"data": row, **({"embeds": embeds} if embeds else {})})

    def list_update(self, request: Request, id: str) -> Response:
        """``PUT /grupos/{id}`` ``{"nome"}``."""
        record = self._find(self.lists, id)
        nome = str(self.body(request).get("nome") or "").strip()
        if not nome:
            self.detail("o campo nome é obrigatório.")
        record["nome"] = nome
        return json_response(OK)

    def _set_lists_active(self, request: Request, active: bool) -> Response:
        # The docs put the ids in the query (``?id=a,b``); the PHP library sends ``id=a,b`` in the PUT body.
        ids = split_csv(request.query.get("id", "")) or split_csv(self.body(request).get("id"))
        if not ids:
            self.fail(400, "Argumentos inválidos.")
        records = [self._find(self.lists, i) for i in ids]
        for record in records:
            record["ativo"] = active
        return json_response(OK)

    def list_activate(self, request: Request) -> Response:
        """``PUT /grupos/ativar?id=a,b`` (or ``id=a,b`` in the body)."""
        return self._set_lists_active(request, True)

    def list_deactivate(self, request: Request) -> Response:
        """``PUT /grupos/desativar?id=a,b`` (or ``id=a,b`` in the body)."""
        return self._set_lists_active(request, False)

    # -- custom fields ------------------------------------------------------------------------------------
    def field_search(self, request: Request) -> Response:
        """``GET /campos``: filters ``id``, ``nome`` (substring)."""
        ids = set(split_csv(request.query.get("id", "")))
        nome = request.query.get("nome", "").lower()
        rows = [
            dict(f) for f in self.fields.values() if (not ids or f["id"] in ids) and nome in f["nome"].lower()
        ]
        return self.searched(request, rows)

    def _field_name(self, request: Request) -> str:
        nome = str(self.body(request).get("nome") or "").strip()
        if not nome:
            self.fail(400, "O nome do campo deve ser informado.")
        return nome

    def field_create(self, request: Request) -> Response:
        """``POST /campos`` ``{"nome"}``."""
        nome = self._field_name(request)
        field_id = self._new_id("campo")
        self.fields[field_id] = {"id": field_id, "nome": nome}
        return json_response({"data": dict(self.fields[field_id])})

    def field_view(self, request: Request, id: str) -> Response:
        """``GET /campos/{id}``."""
        return json_response({"data": dict(self._find(self.fields, id, FIELD_NOT_FOUND))})

    def field_update(self, request: Request, id: str) -> Response:
        """``PUT /campos/{id}`` ``{"nome"}``."""
        record = self._find(self.fields, id, FIELD_NOT_FOUND)
        record["nome"] = self._field_name(request)
        return json_response(OK)

    def field_remove(self, request: Request, id: str) -> Response:
        """``DELETE /campos/{id}``: also erases the field's values from every contact."""
        self._find(self.fields, id, FIELD_NOT_FOUND)
        del self.fields[id]
        for contact in self.contacts.values():
            contact["campos"].pop(id, None)
        return json_response(OK)

    # -- senders ------------------------------------------------------------------------------------------
    def sender_search(self, request: Request) -> Response:
        """``GET /remetentes``: filters ``id``, ``nome``, ``email`` (substrings)."""
        ids = set(split_csv(request.query.get("id", "")))
        nome = request.query.get("nome", "").lower()
        email = request.query.get("email", "").lower()
        rows = [
            dict(s)
            for s in self.senders.values()
            if (not ids or s["id"] in ids) and nome in s["nome"].lower() and email in s["email"].lower()
        ]
        return self.searched(request, rows)

    # -- messages -----------------------------------------------------------------------------------------
    def _message_row(self, message: dict[str, Any], with_html: bool) -> dict[str, Any]:
        row = {"id": message["id"], "contador": message["contador"], "assunto": message["assunto"]}
        if with_html:
            row["html"] = message["html"]
        row.update(
            nome=message["nome"],
            dataCadastro=self.ctx.clock.fmt(message["dataCadastro"], "%Y-%m-%d"),
            emailResposta=message["emailResposta"],
            mensagemDescadastro=message["mensagemDescadastro"],
            jaEnviada=self._message_sent(message["id"]),
        )
        return row

    def _check_size(self, html: str) -> None:
        if len(html.encode("utf-8")) > self.ctx.settings.criaenvio_max_message_bytes:
            self.fail(400, "Tamanho de mensagem excedido.")

    def _new_message(self, values: dict[str, Any]) -> dict[str, Any]:
        message_id = self._new_id("mensagem")
        message = {
            "id": message_id,
            "contador": str(self.counters["mensagem"]),
            "assunto": values["assunto"],
            "html": values["html"],
            "nome": values.get("nome"),
            "dataCadastro": self.ctx.clock.now(),
            "emailResposta": values.get("emailResposta"),
            "mensagemDescadastro": values.get("mensagemDescadastro"),
        }
        self.messages[message_id] = message
        return message

    @staticmethod
    def _message_values(body: dict[str, Any]) -> dict[str, Any]:
        renames = {"email_resposta": "emailResposta", "mensagem_descadastro": "mensagemDescadastro"}
        return {
            renames.get(k, k): (None if v is None else str(v))
            for k, v in body.items()
            if k in ("assunto", "html", "nome", "email_resposta", "mensagem_descadastro")
        }

    def message_search(self, request: Request) -> Response:
        """``GET /mensagens``: filters ``id``, ``contador``, ``assunto`` and ``nome`` (substring,
        case-insensitive), ``datadecadastroinicio``/``termino``. The ``html`` is left out of search rows."""
        query = request.query
        ids = set(split_csv(query.get("id", "")))
        counters = set(split_csv(query.get("contador", "")))
        assunto = query.get("assunto", "").lower()
        nome = query.get("nome", "").lower()
        start = self._optional_date(query, "datadecadastroinicio")
        end = self._optional_date(query, "datadecadastrotermino")
        matches = []
        for message in self.messages.values():
            created = self.ctx.clock.local(message["dataCadastro"]).date()
            if (
                (ids and message["id"] not in ids)
                or (counters and message["contador"] not in counters)
                or assunto not in message["assunto"].lower()
                or nome not in (message["nome"] or "").lower()
                or (start and created < start)
                or (end and created > end)
            ):
                continue
            matches.append(message)
        return self.searched(request, matches, lambda m: self._message_row(m, with_html=False))

    def message_create(self, request: Request) -> Response:
        """``POST /mensagens``: ``assunto`` and ``html`` required; ``html`` over the size limit is refused."""
        values = self._message_values(self.body(request))
        if not values.get("assunto") or not values.get("html"):
            self.fail(400, "Campo assunto/html não preenchido.")
        self._check_size(values["html"])
        return json_response({"data": self._message_row(self._new_message(values), with_html=True)})

    def message_view(self, request: Request, id: str) -> Response:
        """``GET /mensagens/{id}`` (with ``html``)."""
        message = self._find(self.messages, id, MESSAGE_NOT_FOUND)
        return json_response({"data": self._message_row(message, with_html=True)})

    def message_update(self, request: Request, id: str) -> Response:
        """``PUT /mensagens/{id}``: updating a message already sent creates a new one (as the vendor does)."""
        message = self._find(self.messages, id, MESSAGE_NOT_FOUND)
        values = self._message_values(self.body(request))
        if "html" in values:
            self._check_size(values["html"] or "")
        if self._message_sent(id):
            message = self._new_message({**message, **values})
        else:
            message.update(values)
        return json_response({"data": {"OK": "OK", "registro": self._message_row(message, with_html=True)}})

    def message_remove(self, request: Request, id: str) -> Response:
        """``DELETE /mensagens/{id}``: only messages never sent (401 otherwise)."""
        self._find(self.messages, id, MESSAGE_NOT_FOUND)
        if self._message_sent(id):
            self.fail(401, "Não é possível remover uma mensagem que já foi enviada.")
        del self.messages[id]
        return json_response(OK)

    def message_test(self, request: Request, id: str) -> Response:
        """``GET /mensagens/{id}/lista_teste``: "sends" the message to the active contacts of Lista Teste."""
        self._find(self.messages, id, MESSAGE_NOT_FOUND)
        test_list = self.lists.get(self.test_list_id)
        members = (
            []
            if test_list is None
            else [cid for cid in test_list["contatos"] if self._is_active(self.contacts[cid])]
        )
        if not members:
            self.fail(400, "Não existem contatos válidos na Lista Teste.")
        self.test_sends.append(
            {
                "mensagem": id,
                "contatos": sorted(members),
                "emails": sorted(self.contacts[cid]["email"] for cid in members),
                "at": self.ctx.clock.now(),
            }
        )
        return json_response(OK)

    # -- campaigns ----------------------------------------------------------------------------------------
    def _progress(self, campaign: dict[str, Any], now: float) -> tuple[str, float]:
        """Return ``(status label, completion 0..1)`` of a campaign at ``now``."""
        state = campaign["state"]
        if state == "cancelled":
            return "Cancelado", campaign["progress"]
        if state == "paused":
            return "Suspenso", campaign["progress"]
        if now < campaign["creation_until"]:
            return "Em criação", campaign["progress"]
        if now < campaign["run_start"]:
            return "Agendado", campaign["progress"]
        duration = campaign["duration"]
        done = (
            1.0
            if duration <= 0
            else min(1.0, campaign["progress"] + (now - campaign["run_start"]) / duration)
        )
        return ("Concluído", 1.0) if done >= 1.0 else ("Enviando", done)

    def _end_time(self, campaign: dict[str, Any], status: str) -> float | None:
        if status == "Concluído":
            return campaign["run_start"] + (1.0 - campaign["progress"]) * campaign["duration"]
        if status == "Cancelado":
            return campaign["ended_at"]
        return None

    @staticmethod
    def _totals(campaign: dict[str, Any], done: float) -> dict[str, Any]:
        """Counts and rates after a fraction ``done`` of the campaign went out."""
        stats = campaign["stats"]
        total = campaign["total"]
        sent = total if done >= 1.0 else int(total * done)
        rejected_final = stats["bounces"] + round((total - stats["bounces"]) * stats["reject_rate"])
        rejected = min(sent, rejected_final if done >= 1.0 else int(rejected_final * done))
        accepted = sent - rejected
        unique_views = round(accepted * stats["open_rate"])
        unique_clicks = round(unique_views * stats["click_rate"])
        return {
            "total_enviado": sent,
            "rejeitados": rejected,
            "nao_rejeitados": accepted,
            "descadastros": round(accepted * stats["unsubscribe_rate"]),
            "visualizacoes_totais": round(unique_views * stats["views_per_open"]),
            "visualizacoes_unicas": unique_views,
            "cliques_totais": round(unique_clicks * stats["clicks_per_click"]),
            "cliques_unicos": unique_clicks,
            "taxa_de_abertura": round(100 * unique_views / accepted, 2) if accepted else 0,
            "taxa_de_clique": round(100 * unique_clicks / accepted, 2) if accepted else 0,
            "taxa_de_rejeicao": round(100 * rejected / sent, 2) if sent else 0,
        }

    def _campaign_row(self, campaign: dict[str, Any], now: float) -> tuple[dict[str, Any], str, float]:
        status, done = self._progress(campaign, now)
        clock = self.ctx.clock
        row = {
            "id": campaign["id"],
            "codigo": campaign["codigo"],
            "id_mensagem": campaign["mensagem"],
            "status": status,
            "data_de_criacao": clock.fmt(campaign["created_at"], "%Y-%m-%d %H:%M:%S.%f"),
            "data_de_inicio": clock.fmt(campaign["data_de_inicio"], DATE_TIME),
            "data_de_termino": clock.fmt(self._end_time(campaign, status), DATE_TIME),
            "total_de_contatos": campaign["total"],
        }
        return row, status, done

    def _summary(self, campaign: dict[str, Any], now: float) -> dict[str, Any]:
        row, _, done = self._campaign_row(campaign, now)
        row["porcentagem_de_conclusao"] = f"{100 * done:.2f}"
        return row

    def _campaign_view(self, campaign: dict[str, Any], now: float) -> dict[str, Any]:
        row, _, done = self._campaign_row(campaign, now)
        row.update(self._totals(campaign, done))
        sender = self.senders.get(campaign["remetente"] or "")
        row["remetente"] = sender["email"] if sender else ""
        row["porcentagem_de_conclusao"] = round(100 * done, 2)
        return row

    def _find_campaign(self, campaign_id: str) -> dict[str, Any]:
        return self._find(self.campaigns, campaign_id, CAMPAIGN_NOT_FOUND)

    def campaign_search(self, request: Request) -> Response:
        """``GET /envios``: filters ``id``, ``codigo`` and ``status`` (status codes, e.g. ``"2,3"``)."""
        query = request.query
        ids = set(split_csv(query.get("id", "")))
        codes = set(split_csv(query.get("codigo", "")))
        statuses = split_csv(query.get("status", ""))
        if any(s not in {str(v) for v in STATUS_CODES.values()} for s in statuses):
            self.bad_param("status")
        wanted = {int(s) for s in statuses}
        now = self.ctx.clock.now()
        rows = []
        for campaign in self.campaigns.values():
            if (ids and campaign["id"] not in ids) or (codes and campaign["codigo"] not in codes):
                continue
            summary = self._summary(campaign, now)
            if wanted and STATUS_CODES[summary["status"]] not in wanted:
                continue
            rows.append(summary)
        return self.searched(request, rows)

    def campaign_create(self, request: Request) -> Response:
        """``POST /envios`` ``{"mensagem", "listas": "a,b", "data_de_inicio": "agora"|"DD/MM/YYYY HH:MM",
        "remetente"?}``.

        ``total_de_contatos`` is the number of distinct active contacts of the (active) lists; the credits are
        debited at creation (the unsent part comes back on cancel).
        """
        body = self.body(request)
        message_id = body.get("mensagem")
        if not isinstance(message_id, str) or message_id not in self.messages:
            self.bad_param("mensagem")
        list_ids = split_csv(body.get("listas"))
        if not list_ids or any(i not in self.lists or not self.lists[i]["ativo"] for i in list_ids):
            self.bad_param("listas")
        if "data_de_inicio" not in body:
            self.bad_param("data_de_inicio")
        start = self._schedule(body["data_de_inicio"], "data_de_inicio")
        sender_id = body.get("remetente")
        if sender_id in (None, ""):
            sender_id = next((s["id"] for s in self.senders.values() if s["principal"]), None)
        elif sender_id not in self.senders:
            self.bad_param("remetente")
        if sender_id is not None and not self.senders[sender_id]["confirmado"]:
            self.fail(400, "Somente remetentes confirmados podem ser utilizados.")
        members: dict[str, None] = {}
        for list_id in list_ids:
            for cid in sorted(self.lists[list_id]["contatos"]):
                if self._is_active(self.contacts[cid]):
                    members[cid] = None
        total = len(members)
        if total > self.credits:
            self.fail(401, NO_CREDITS)
        self.credits -= total
        campaign = self._new_campaign(message_id, list_ids, sender_id, list(members), start)
        return json_response({"data": self._summary(campaign, self.ctx.clock.now())})

    def _new_campaign(
        self,
        message_id: str,
        list_ids: list[str],
        sender_id: str | None,
        members: list[str],
        start: float | None,
    ) -> dict[str, Any]:
        clock = self.ctx.clock
        settings = self.ctx.settings
        now = clock.now()
        campaign_id = self._new_id("envio")
        number = self.counters["envio"]
        rng = self.ctx.ids.rng("criaenvio-envio", number)
        bounces = sum(1 for cid in members if email_domain(self.contacts[cid]["email"]) == BOUNCE_DOMAIN)
        creation_until = now + min(1.0, settings.campaign_seconds / 10)
        run_start = creation_until if start is None else max(creation_until, clock.effective_time(start, now))
        campaign = {
            "id": campaign_id,
            "codigo": str(number),
            "mensagem": message_id,
            "listas": list_ids,
            "remetente": sender_id,
            "contatos": members,
            "total": len(members),
            "created_at": now,
            "data_de_inicio": now if start is None else start,
            "creation_until": creation_until,
            "run_start": run_start,
            "progress": 0.0,
            "state": "running",
            "duration": settings.campaign_seconds,
            "ended_at": None,
            "stats": {
                "bounces": bounces,
                "reject_rate": round(rng.uniform(0.005, 0.04), 4),
                "open_rate": round(rng.uniform(0.15, 0.45), 4),
                "views_per_open": round(rng.uniform(1.1, 2.0), 4),
                "click_rate": round(rng.uniform(0.05, 0.3), 4),
                "clicks_per_click": round(rng.uniform(1.0, 1.6), 4),
                "unsubscribe_rate": round(rng.uniform(0.0, 0.01), 4),
            },
        }
        self.campaigns[campaign_id] = campaign
        return campaign

    def campaign_view(self, request: Request, id: str) -> Response:
        """``GET /envios/{id}?embeds=listas,mensagem,remetente``: status label, totals and rates."""
        campaign = self._find(self.campaigns, id)
        row = self._campaign_view(campaign, self.ctx.clock.now())
        embeds = self._embeds(request, ("listas", "mensagem", "remetente"))
        if "mensagem" in embeds:
            message = self.messages.get(campaign["mensagem"])
            row["mensagem"] = {"data": [self._message_row(message, with_html=True)] if message else []}
        if "listas" in embeds:
            row["listas"] = {
                "data": [self._list_row(self.lists[i]) for i in campaign["listas"] if i in self.lists]
            }
        if "remetente" in embeds:
            sender = self.senders.get(campaign["remetente"] or "")
            row["remetente"] = {"data": [dict(sender)] if sender else []}
        return json_response({"data": row, **({"embeds": embeds} if embeds else {})})

    def campaign_pause(self, request: Request, id: str) -> Response:
        """``GET /envios/{id}/pausar``: from ``Em criação``, ``Agendado`` or ``Enviando`` to ``Suspenso``."""
        campaign = self._find_campaign(id)
        status, done = self._progress(campaign, self.ctx.clock.now())
        if status not in ("Em criação", "Agendado", "Enviando"):
            self.fail(400, "Não é possível pausar o envio devido ao seu status atual.")
        campaign.update(state="paused", progress=done)
        return json_response(OK)

    def campaign_cancel(self, request: Request, id: str) -> Response:
        """``GET /envios/{id}/cancelar``: any unfinished campaign; unsent credits are given back."""
        campaign = self._find_campaign(id)
        now = self.ctx.clock.now()
        status, done = self._progress(campaign, now)
        if status not in ("Em criação", "Agendado", "Enviando", "Suspenso"):
            self.fail(400, "Não é possível cancelar o envio devido ao seu status atual.")
        campaign.update(state="cancelled", progress=done, ended_at=now)
        self.credits += campaign["total"] - self._totals(campaign, done)["total_enviado"]
        return json_response(OK)

    def campaign_resume(self, request: Request, id: str) -> Response:
        """``POST /envios/{id}/retomar`` ``{"data": "agora"|"DD/MM/YYYY HH:MM"}``: resume or reschedule.

        Allowed from ``Suspenso`` and ``Agendado``; otherwise the vendor's documented message is returned
        (which, as published, says "cancelar").
        """
        campaign = self._find_campaign(id)
        now = self.ctx.clock.now()
        status, done = self._progress(campaign, now)
        body = self.body(request)
        if status not in ("Suspenso", "Agendado"):
            self.fail(400, "Não é possível cancelar o envio devido ao seu status atual.")
        if "data" not in body:
            self.bad_param("data")
        start = self._schedule(body["data"], "data")
        run_start = now if start is None else self.ctx.clock.effective_time(start, now)
        if done == 0:
            campaign["data_de_inicio"] = now if start is None else start
        campaign.update(
            state="running", progress=done, run_start=run_start, creation_until=min(now, run_start)
        )
        return json_response(OK)


def _status_matches(contact: dict[str, Any], status: str) -> bool:
    if status == "todos":
        return True
    if status == "descadastros":
        return contact["descadastrado"]
    active = contact["ativo"] and not contact["descadastrado"]
    return active if status == "ativos" else not active and not contact["descadastrado"]


def _sexo_matches(value: str | None, wanted: str) -> bool:
    if not wanted:
        return True
    if wanted == "vazio":
        return not value
    return value in ("m", "f") if wanted == "mf" else value == wanted


def _single_page(total: int) -> dict[str, Any]:
    return {
        "total": total,
        "count": total,
        "per_page": max(total, DEFAULT_PAGE_SIZE),
        "current_page": 1,
        "total_pages": 1,
        "links": [],
    }
