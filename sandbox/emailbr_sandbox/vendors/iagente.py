"""IAGENTEmail emulation: contacts and groups (``/iagente/v1/…``).

Every call is ``POST`` with a form body (urlencoded with PHP bracket keys, or multipart) and the header
``IAGENTE-KEY``. Results are JSON with ``status: "success"`` or ``status: "error"`` + ``message`` — errors,
including a wrong key, arrive with HTTP 200. Lists are paged by 50 (``current_page``, ``last_page``,
``total``, ``data``). Messages are the vendor's documented ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn

from ..constants import IAGENTE_KEY
from ..wire import Request, Response, is_email, json_response, paginate, to_int
from .base import Vendor

PAGE_SIZE = 50
MAX_CACHED_LISTINGS = 64
EXTRA_FIELDS = tuple(f"field{i}" for i in range(1, 11))
CONTACT_FIELDS = ("name", "birthday", *EXTRA_FIELDS)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIST_FORMAT = "%d/%m/%Y %H:%M:%S"
GROUP_IN_CONTACT_FORMAT = "%Y-%m-%d %H:%M:%S"


def _valid_birthday(value: str) -> bool:
    if not value:
        return True
    if not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class IagenteVendor(Vendor):
    """State: ``contacts`` keyed by lower-cased e-mail, ``groups`` keyed by integer id."""

    name = "iagente"

    def routes(self) -> None:
        """Register the eleven documented endpoints (all ``POST``)."""
        add = self.router.add
        add("POST", "contact/create", self.contact_create)
        add("POST", "contact/edit", self.contact_edit)
        add("POST", "contact/remove", self.contact_remove)
        add("POST", "contact/list", self.contact_list)
        add("POST", "contact/mass/add", self.contact_mass_add)
        add("POST", "group/create", self.group_create)
        add("POST", "group/edit", self.group_edit)
        add("POST", "group/remove", self.group_remove)
        add("POST", "group/list", self.group_list)
        add("POST", "group/contact/list", self.group_contact_list)
        add("POST", "group/contact/remove", self.group_contact_remove)

    # -- state --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start with one group, ``Grupo Sandbox`` (id 1), and no contacts."""
        self.contacts: dict[str, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.next_contact_id = 1
        self.next_group_id = 1
        self._sorted: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._new_group("Grupo Sandbox")

    def dump(self) -> dict[str, Any]:
        """Return contacts (with their group ids as a list) and groups."""
        return {
            "contacts": [{**c, "groups": sorted(c["groups"])} for c in self.contacts.values()],
            "groups": list(self.groups.values()),
            "next_contact_id": self.next_contact_id,
            "next_group_id": self.next_group_id,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore a :meth:`dump`."""
        self.contacts = {c["email"].lower(): {**c, "groups": set(c["groups"])} for c in data["contacts"]}
        self.groups = {int(g["group_id"]): g for g in data["groups"]}
        self.next_contact_id = data["next_contact_id"]
        self.next_group_id = data["next_group_id"]
        self._changed()

    # -- envelope -----------------------------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        """``{"status": "error", "message": …}``; validation errors use HTTP 200 like the vendor."""
        return json_response({"status": "error", "message": message}, status)

    def refuse(self, message: str) -> NoReturn:
        """Fail with a documented error message inside an HTTP 200."""
        self.fail(200, message)

    def authenticate(self, request: Request) -> Response | None:
        """Check the ``IAGENTE-KEY`` header (HTTP 200 with an error body when wrong)."""
        if request.headers.get("iagente-key") != IAGENTE_KEY:
            return self.error(200, "Chave de integração inválida.")
        return None

    @staticmethod
    def ok(message: str, **extra: Any) -> Response:
        """Return ``{"status": "success", "message": …, **extra}``."""
        return json_response({"status": "success", "message": message, **extra})

    # -- helpers ------------------------------------------------------------------------------------------
    def _changed(self) -> None:
        """Forget the cached sorted listings (called on every mutation)."""
        self._sorted.clear()

    def _new_group(self, name: str) -> dict[str, Any]:
        self._changed()
        group = {"group_id": self.next_group_id, "name": name, "created_at": self.ctx.clock.now()}
        self.groups[self.next_group_id] = group
        self.next_group_id += 1
        return group

    def _group(self, form: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.groups.get(int(str(form.get("group_id", "")).strip()))
        except ValueError:
            return None

    def _upsert(self, row: dict[str, Any], group_id: int | None) -> tuple[dict[str, Any] | None, str]:
        """Create or update one contact from form fields; return ``(contact, "")`` or ``(None, reason)``."""
        email = str(row.get("email", "")).strip()
        if not email:
            return None, "E-mail não informado."
        if not is_email(email):
            return None, "E-mail inválido."
        birthday = str(row.get("birthday", "")).strip()
        if not _valid_birthday(birthday):
            return None, "Data de aniversário inválida (use AAAA-MM-DD)."
        key = email.lower()
        self._changed()
        contact = self.contacts.get(key)
        if contact is None:
            contact = {"contact_id": self.next_contact_id, "email": email, "created_at": self.ctx.clock.now()}
            contact.update(dict.fromkeys(CONTACT_FIELDS, ""))
            contact["groups"] = set()
            self.next_contact_id += 1
            self.contacts[key] = contact
        for name in CONTACT_FIELDS:
            if name in row and isinstance(row[name], str):
                contact[name] = row[name]
        if group_id is not None:
            contact["groups"].add(group_id)
        return contact, ""

    def _contact_row(self, contact: dict[str, Any], with_groups: bool) -> dict[str, Any]:
        clock = self.ctx.clock
        row = {"contact_id": contact["contact_id"], "name": contact["name"], "email": contact["email"]}
        row["birthday"] = contact["birthday"]
        for name in EXTRA_FIELDS:
            row[name] = contact[name]
        row["created_at"] = clock.fmt(contact["created_at"], LIST_FORMAT)
        if with_groups:
            row["groups"] = [
                {
                    "nome": self.groups[gid]["name"],
                    "group_id": gid,
                    "created_at": clock.fmt(self.groups[gid]["created_at"], GROUP_IN_CONTACT_FORMAT),
                }
                for gid in sorted(contact["groups"])
                if gid in self.groups
            ]
        return row

    def _listing(
        self,
        form: dict[str, Any],
        source: tuple[Any, ...],
        items: Callable[[], list[dict[str, Any]]],
        orders: dict[str, str],
        error: str,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Search, sort and page ``items()``; return the page and the pagination keys.

        The sorted result is cached per ``(source, order, orientation, search)`` until the next mutation, so
        paging through a large account costs one sort, not one per page.
        """
        order = str(form.get("order") or "name")
        orientation = str(form.get("orientation") or "ASC").upper()
        if order not in orders or orientation not in ("ASC", "DESC"):
            self.refuse(error)
        search = str(form.get("search") or "").strip().lower()
        key = (*source, order, orientation, search)
        ordered = self._sorted.get(key)
        if ordered is None:
            ordered = items()
            if search:
                ordered = [
                    i for i in ordered if search in i["name"].lower() or search in i.get("email", "").lower()
                ]
            field = orders[order]
            ordered.sort(key=lambda i: (_sort_key(i[field]), i.get("email", ""), i["created_at"]))
            if orientation == "DESC":
                ordered.reverse()
            if len(self._sorted) >= MAX_CACHED_LISTINGS:
                self._sorted.clear()
            self._sorted[key] = ordered
        page = paginate(ordered, to_int(form.get("page"), 1), PAGE_SIZE)
        meta = {"current_page": page.page, "last_page": max(1, page.pages), "total": page.total}
        return page.items, meta

    # -- contacts -----------------------------------------------------------------------------------------
    def contact_create(self, request: Request) -> Response:
        """``contact/create``: e-mail + group required; an existing e-mail is updated and joins the group."""
        form = request.form()
        group = self._group(form)
        if group is None:
            self.refuse("Não foi possível adicionar o contato")
        contact, _ = self._upsert(form, group["group_id"])
        if contact is None:
            self.refuse("Não foi possível adicionar o contato")
        return self.ok("Contato inserido com sucesso", contact_id=contact["contact_id"])

    def contact_edit(self, request: Request) -> Response:
        """``contact/edit``: update the fields sent for an existing e-mail."""
        form = request.form()
        contact = self.contacts.get(str(form.get("email", "")).strip().lower())
        if contact is None or not _valid_birthday(str(form.get("birthday", "")).strip()):
            self.refuse("Não foi possível atualizar o contato")
        self._upsert(form, None)
        return self.ok("Contato atualizado com sucesso")

    def contact_remove(self, request: Request) -> Response:
        """``contact/remove``: delete the contact from the account."""
        form = request.form()
        if self.contacts.pop(str(form.get("email", "")).strip().lower(), None) is None:
            self.refuse("Não foi possível remover o contato")
        self._changed()
        return self.ok("Contato removido da conta com sucesso")

    def contact_list(self, request: Request) -> Response:
        """``contact/list``: every contact with its groups, paged by 50."""
        form = request.form()
        items, meta = self._listing(
            form,
            ("contacts",),
            lambda: list(self.contacts.values()),
            {"name": "name", "email": "email", "created_date": "created_at"},
            "Não foi possível listar os contatos",
        )
        data = [self._contact_row(c, with_groups=True) for c in items]
        return json_response({"status": "success", **meta, "data": data})

    def contact_mass_add(self, request: Request) -> Response:
        """``contact/mass/add``: upsert ``contacts[i][…]`` rows into a group; report refused rows.

        Each refused row adds one ``details`` entry ``{"index": i, "email": …, "message": …}`` and counts in
        ``invalids``; every accepted row (new or updated) counts in ``imports``.
        """
        form = request.form()
        group = self._group(form)
        rows = form.get("contacts")
        if group is None or not isinstance(rows, dict) or not rows:
            self.refuse("Não foi possível executar esta ação.")
        group_id = group["group_id"]
        imports = invalids = 0
        details = []
        for index, row in sorted(rows.items(), key=lambda item: _index_key(item[0])):
            if not isinstance(row, dict):
                row = {"email": row}
            contact, reason = self._upsert(row, group_id)
            if contact is None:
                invalids += 1
                position: int | str = int(index) if index.isdigit() else index
                details.append({"index": position, "email": str(row.get("email", "")), "message": reason})
            else:
                imports += 1
        return self.ok("Operação concluída!", invalids=invalids, imports=imports, details=details)

    # -- groups -------------------------------------------------------------------------------------------
    def group_create(self, request: Request) -> Response:
        """``group/create``: ``name`` required."""
        name = str(request.form().get("name", "")).strip()
        if not name:
            self.refuse("Não foi possível adicionar o grupo")
        return self.ok("Grupo inserido com sucesso", group_id=self._new_group(name)["group_id"])

    def group_edit(self, request: Request) -> Response:
        """``group/edit``: rename a group."""
        form = request.form()
        group = self._group(form)
        name = str(form.get("name", "")).strip()
        if group is None or not name:
            self.refuse("Não foi possível atualizar o grupo")
        group["name"] = name
        self._changed()
        return self.ok("Grupo atualizado com sucesso")

    def group_remove(self, request: Request) -> Response:
        """``group/remove``: delete a group (its contacts stay in the account)."""
        group = self._group(request.form())
        if group is None:
            self.refuse("Não foi possível remover o grupo")
        del self.groups[group["group_id"]]
        for contact in self.contacts.values():
            contact["groups"].discard(group["group_id"])
        self._changed()
        return self.ok("Grupo removido com sucesso")

    def group_list(self, request: Request) -> Response:
        """``group/list``: groups paged by 50."""
        form = request.form()
        items, meta = self._listing(
            form,
            ("groups",),
            lambda: list(self.groups.values()),
            {"name": "name", "created_date": "created_at"},
            "Não foi possível listar o grupo",
        )
        clock = self.ctx.clock
        data = [
            {
                "group_id": g["group_id"],
                "name": g["name"],
                "created_at": clock.fmt(g["created_at"], LIST_FORMAT),
            }
            for g in items
        ]
        return json_response({"status": "success", **meta, "data": data})

    def group_contact_list(self, request: Request) -> Response:
        """``group/contact/list``: the contacts of one group, paged by 50."""
        form = request.form()
        group = self._group(form)
        if group is None:
            self.refuse("Não foi possível listar o grupo")
        gid = group["group_id"]
        items, meta = self._listing(
            form,
            ("group", gid),
            lambda: [c for c in self.contacts.values() if gid in c["groups"]],
            {"name": "name", "email": "email", "created_date": "created_at"},
            "Não foi possível listar o grupo",
        )
        data = [self._contact_row(c, with_groups=False) for c in items]
        return json_response({"status": "success", **meta, "data": data})

    def group_contact_remove(self, request: Request) -> Response:
        """``group/contact/remove``: take a contact out of a group."""
        form = request.form()
        group = self._group(form)
        contact = self.contacts.get(str(form.get("email", "")).strip().lower())
        if group is None or contact is None or group["group_id"] not in contact["groups"]:
            self.refuse("Não foi possível remover o contato do grupo")
        contact["groups"].discard(group["group_id"])
        self._changed()
        return self.ok("Contato removido do grupo com sucesso")


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _index_key(index: str) -> tuple[int, int | str]:
    return (0, int(index)) if index.isdigit() else (1, index)
