"""IAGENTEmail: contacts and groups (``https://api.iagentemail.com/v1/``).

Every call is a form-encoded ``POST`` with the integration key in the ``IAGENTE-KEY`` header; nested
arrays use PHP bracket keys (``contacts[0][email]``). Answers carry ``status: "success"`` or
``status: "error"`` — an error can come with HTTP 200, so the body decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from airflow_provider_emailbr.exceptions import EmailBRAuthError, EmailBRInputError, EmailBRValidationError
from airflow_provider_emailbr.hooks.base import EmailBRHook, Endpoint, PreparedCall
from airflow_provider_emailbr.utils.dates import parse_birth_date
from airflow_provider_emailbr.utils.pagination import IAGENTE_PAGES
from airflow_provider_emailbr.utils.text import required

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_emailbr.hooks.base import HookOptions

#: Contact fields the API accepts besides ``email``.
CONTACT_FIELDS = ("name", "birthday", *(f"field{i}" for i in range(1, 11)))
CONTACT_ORDERS = ("name", "email", "created_date")
GROUP_ORDERS = ("name", "created_date")
ORIENTATIONS = ("ASC", "DESC")


class ListFilters(TypedDict, total=False):
    """How a contact or group list is sorted and searched: the keyword arguments of the ``iter_*`` methods
    of :class:`IAgenteEmailHook`. Every key is optional.
    """

    order: str | None
    """The sort field: one of :data:`CONTACT_ORDERS` for contacts, :data:`GROUP_ORDERS` for groups."""
    orientation: str | None
    """The sort direction, one of :data:`ORIENTATIONS` (any case)."""
    search: str | None
    """Text the vendor searches for."""


class ListPageFilters(ListFilters, total=False):
    """:class:`ListFilters` and the page: the keyword arguments of the ``list_*`` methods."""

    page: int
    """The page, from 1 (the default)."""


#: Words in an error message that mean the key was refused (the vendor answers HTTP 200 either way).
_AUTH_WORDS = ("chave", "key", "autentica", "autoriza", "unauthori")

# Every endpoint is a POST. Reads, edits and the mass import (which upserts by e-mail) are safe to repeat;
# single creates and removals are not.
ENDPOINTS = {
    "contact_create": Endpoint("POST", "contact/create", idempotent=False),
    "contact_edit": Endpoint("POST", "contact/edit", idempotent=True),
    "contact_remove": Endpoint("POST", "contact/remove", idempotent=False),
    "contact_list": Endpoint("POST", "contact/list", idempotent=True),
    "contact_mass_add": Endpoint("POST", "contact/mass/add", idempotent=True),
    "group_create": Endpoint("POST", "group/create", idempotent=False),
    "group_edit": Endpoint("POST", "group/edit", idempotent=True),
    "group_remove": Endpoint("POST", "group/remove", idempotent=False),
    "group_list": Endpoint("POST", "group/list", idempotent=True),
    "group_contact_list": Endpoint("POST", "group/contact/list", idempotent=True),
    "group_contact_remove": Endpoint("POST", "group/contact/remove", idempotent=False),
}


class IAgenteEmailHook(EmailBRHook):
    """Call the IAGENTEmail API: contacts, groups, and mass import of contacts into a group.

    Connection type ``iagente_email``: Password = integration key. Host (optional) = full base URL.

    :param iagente_conn_id: Airflow connection id.
    :param options: the :class:`~airflow_provider_emailbr.hooks.base.HookOptions` (``timeout``,
        ``retry_policy``), passed on to :class:`~airflow_provider_emailbr.hooks.base.EmailBRHook`.
    """

    conn_name_attr = "iagente_conn_id"
    default_conn_name = "iagente_default"
    conn_type = "iagente_email"
    hook_name = "IAGENTEmail"
    platform = hook_name
    default_base_url = "https://api.iagentemail.com/v1/"
    required_fields = {"password": "integration key (Password)"}
    page_scheme = IAGENTE_PAGES

    def __init__(self, iagente_conn_id: str = default_conn_name, **options: Unpack[HookOptions]) -> None:
        super().__init__(conn_id=iagente_conn_id, **options)

    def _authorize(self, call: PreparedCall) -> None:
        call.headers["IAGENTE-KEY"] = self.settings.password or ""

    def _check_payload(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], payload: Any, body: bytes
    ) -> None:
        if not isinstance(payload, Mapping) or payload.get("status") != "error":
            return
        message = str(payload.get("message") or "")
        lowered = message.lower()
        error_class = EmailBRAuthError if any(w in lowered for w in _AUTH_WORDS) else None
        if error_class is None and status < 400:
            error_class = EmailBRValidationError
        raise self.api_error(
            call,
            status,
            headers=headers,
            vendor_code="error",
            vendor_message=message,
            error_class=error_class,
        )

    def _post(self, name: str, form: Mapping[str, Any]) -> dict[str, Any]:
        return self.call(ENDPOINTS[name], form=form) or {}

    # ------------------------------------------------------------------ contacts

    def create_contact(self, *, email: str, group_id: int | str, **fields: Any) -> dict[str, Any]:
        """Create a contact in a group (``contact/create``); returns the answer with ``contact_id``.

        :param fields: ``name``, ``birthday`` (date or ``YYYY-MM-DD``/``DD/MM/YYYY``), ``field1``…``field10``.
        """
        return self._post("contact_create", {"email": email, "group_id": group_id, **contact_fields(fields)})

    def edit_contact(self, *, email: str, **fields: Any) -> dict[str, Any]:
        """Update a contact's fields, found by e-mail (``contact/edit``)."""
        return self._post("contact_edit", {"email": email, **contact_fields(fields)})

    def remove_contact(self, *, email: str) -> dict[str, Any]:
        """Remove a contact from the account (``contact/remove``)."""
        return self._post("contact_remove", {"email": email})

    def list_contacts(self, **filters: Unpack[ListPageFilters]) -> dict[str, Any]:
        """One page of all contacts (``contact/list``), each with its ``groups``.

        :param filters: the :class:`ListPageFilters`: ``order`` (one of :data:`CONTACT_ORDERS`),
            ``orientation`` (``ASC``/``DESC``), ``search`` and ``page`` (from 1).
        """
        return self._list_page("contact_list", CONTACT_ORDERS, **filters)

    def iter_contacts(self, **filters: Unpack[ListFilters]) -> Iterator[dict[str, Any]]:
        """Every contact of the account, page by page, lazily.

        :param filters: the :class:`ListFilters`: ``order`` (one of :data:`CONTACT_ORDERS`),
            ``orientation`` (``ASC``/``DESC``) and ``search``.
        """
        return self.paginate(lambda page: self.list_contacts(**filters, page=page))

    def mass_add_contacts(
        self,
        *,
        group_id: int | str,
        contacts: Iterable[Mapping[str, Any]],
        validate_fields: bool = True,
    ) -> dict[str, Any]:
        """Import many contacts into a group in one call (``contact/mass/add``).

        Returns the answer with ``imports``, ``invalids`` and ``details`` (the refused rows). Each contact
        is a mapping with ``email`` and optional :data:`CONTACT_FIELDS`. Re-importing the same e-mails is
        safe (the platform updates them), so this call is retried like a read. ``validate_fields=False``
        skips the field checks when the caller has already normalised every row (the import operator).
        """
        prepared = self.prepare_mass_add(
            group_id=group_id, contacts=contacts, validate_fields=validate_fields
        )
        return self.send_prepared(prepared) or {}

    @staticmethod
    def read_mass_add_answer(answer: Any, emails: Sequence[str]) -> MassAddAnswer:
        """What a ``contact/mass/add`` answer says about the rows sent, in the order of ``emails``."""
        return MassAddAnswer.read(answer, emails)

    def prepare_mass_add(
        self,
        *,
        group_id: int | str,
        contacts: Iterable[Mapping[str, Any]],
        validate_fields: bool = True,
    ) -> PreparedCall:
        """The ``contact/mass/add`` request for :meth:`mass_add_contacts`, ready for :meth:`send_prepared`."""
        rows = []
        for index, contact in enumerate(contacts):
            email = contact.get("email")
            if not email:
                raise EmailBRInputError(f"contacts[{index}]: 'email' is required")
            if validate_fields:
                rows.append(
                    {"email": email, **contact_fields({k: v for k, v in contact.items() if k != "email"})}
                )
            else:
                rows.append(contact)
        if not rows:
            raise EmailBRInputError("contacts: at least one contact is required")
        return self.prepare(ENDPOINTS["contact_mass_add"], form={"group_id": group_id, "contacts": rows})

    # ------------------------------------------------------------------ groups

    def create_group(self, *, name: str) -> dict[str, Any]:
        """Create a group (``group/create``); returns the answer with ``group_id``."""
        return self._post("group_create", {"name": required("name", name)})

    def edit_group(self, *, group_id: int | str, name: str) -> dict[str, Any]:
        """Rename a group (``group/edit``)."""
        return self._post("group_edit", {"group_id": group_id, "name": required("name", name)})

    def remove_group(self, *, group_id: int | str) -> dict[str, Any]:
        """Remove a group (``group/remove``)."""
        return self._post("group_remove", {"group_id": group_id})

    def list_groups(self, **filters: Unpack[ListPageFilters]) -> dict[str, Any]:
        """One page of groups (``group/list``).

        :param filters: the :class:`ListPageFilters`: ``order`` (one of :data:`GROUP_ORDERS`),
            ``orientation`` (``ASC``/``DESC``), ``search`` and ``page`` (from 1).
        """
        return self._list_page("group_list", GROUP_ORDERS, **filters)

    def iter_groups(self, **filters: Unpack[ListFilters]) -> Iterator[dict[str, Any]]:
        """Every group, page by page, lazily.

        :param filters: the :class:`ListFilters`: ``order`` (one of :data:`GROUP_ORDERS`),
            ``orientation`` (``ASC``/``DESC``) and ``search``.
        """
        return self.paginate(lambda page: self.list_groups(**filters, page=page))

    def list_group_contacts(
        self, *, group_id: int | str, **filters: Unpack[ListPageFilters]
    ) -> dict[str, Any]:
        """One page of a group's contacts (``group/contact/list``).

        :param group_id: the group.
        :param filters: the :class:`ListPageFilters`: ``order`` (one of :data:`CONTACT_ORDERS`),
            ``orientation`` (``ASC``/``DESC``), ``search`` and ``page`` (from 1).
        """
        return self._list_page("group_contact_list", CONTACT_ORDERS, group_id=group_id, **filters)

    def _list_page(
        self,
        name: str,
        orders: tuple[str, ...],
        *,
        order: str | None = None,
        orientation: str | None = None,
        search: str | None = None,
        page: int = 1,
        **scope: Any,
    ) -> dict[str, Any]:
        """One page of the list endpoint ``name`` (a key of :data:`ENDPOINTS`), validated first.

        The keywords besides ``scope`` are those of :class:`ListPageFilters` (written out here for their
        defaults; a test keeps the two equal).

        :param orders: the ``order`` values the endpoint takes.
        :param orientation: ``ASC`` or ``DESC`` (any case).
        :param search: text the vendor searches for.
        :param page: the page, from 1.
        :param scope: what the list is of, e.g. ``group_id``.
        """
        return self._post(name, {**scope, **_list_form(order, orders, orientation, search, page)})

    def iter_group_contacts(
        self, *, group_id: int | str, **filters: Unpack[ListFilters]
    ) -> Iterator[dict[str, Any]]:
        """Every contact of a group, page by page, lazily.

        :param group_id: the group.
        :param filters: the :class:`ListFilters`: ``order`` (one of :data:`CONTACT_ORDERS`),
            ``orientation`` (``ASC``/``DESC``) and ``search``.
        """
        return self.paginate(lambda page: self.list_group_contacts(group_id=group_id, **filters, page=page))

    def remove_group_contact(self, *, email: str, group_id: int | str) -> dict[str, Any]:
        """Remove a contact from one group (``group/contact/remove``)."""
        return self._post("group_contact_remove", {"email": email, "group_id": group_id})

    def find_group(self, name: str) -> dict[str, Any] | None:
        """The group whose name is exactly ``name``, or ``None`` (searches, then compares names)."""
        return next((g for g in self.iter_groups(search=name) if g.get("name") == name), None)

    # ------------------------------------------------------------------ test connection

    def _probe(self) -> str:
        page = self._probe_answer(self.list_groups(page=1), "group/list")
        return f"IAGENTEmail key accepted: group/list answered ({page.get('total', 0)} groups)."


class MassAddAnswer(NamedTuple):
    """A ``contact/mass/add`` answer set against the rows sent: counts, and the refused rows it names.

    The documented answer is ``{"status", "message", "invalids", "imports", "details": []}``; the shape of a
    ``details`` entry is not documented, so a refused row is recognised by an ``index`` (its position in the
    request), an ``email`` key, or an address written in a text entry. The rows the answer does not name are
    imported only when the counts say so (:attr:`confirmed`).
    """

    size: int
    """Rows sent."""
    imports: int | None
    """The answer's ``imports`` (``None`` when missing or not a count)."""
    invalids: int | None
    """The answer's ``invalids`` (``None`` when missing or not a count)."""
    refused: dict[int, str]
    """``{position in the request: vendor message}`` of the rows ``details`` names."""

    @classmethod
    def read(cls, answer: Any, emails: Sequence[str]) -> MassAddAnswer:
        """Read ``answer`` for a request that carried ``emails`` (in request order)."""
        body = answer if isinstance(answer, Mapping) else {}
        return cls(
            size=len(emails),
            imports=_count(body.get("imports")),
            invalids=_count(body.get("invalids")),
            refused=_refused_rows(body.get("details"), emails),
        )

    @property
    def confirmed(self) -> bool:
        """Whether every row the answer does not name as refused is known to be imported: ``imports`` plus
        the named refusals make up the rows sent, and ``invalids`` (when given) equals the named refusals."""
        named = len(self.refused)
        return self.imports == self.size - named and self.invalids in (None, named)

    def describe(self) -> str:
        """The counts, for a message: ``10 rows sent; the answer says imports=7, invalids=3 …``."""
        return (
            f"{self.size} row(s) sent; the answer says imports={_shown(self.imports)}, "
            f"invalids={_shown(self.invalids)} and its details name {len(self.refused)} refused row(s)"
        )


#: An e-mail address inside a text ``details`` entry; compiled on first use by the ``re`` module (and kept
#: in its cache), not at import.
_ADDRESS = r"[^\s,;:<>()\[\]\"']+@[^\s,;:<>()\[\]\"']+"


def _refused_rows(details: Any, emails: Sequence[str]) -> dict[int, str]:
    """``{position: vendor message}`` of the rows a ``details`` list names (by index, e-mail or text)."""
    refused: dict[int, str] = {}
    if not isinstance(details, list):
        return refused
    positions: dict[str, int] = {}
    for position, email in enumerate(emails):
        positions.setdefault(email.lower(), position)
    for detail in details:
        if isinstance(detail, Mapping):
            index = detail.get("index")
            if isinstance(index, str) and index.isdigit():
                index = int(index)
            if not (type(index) is int and 0 <= index < len(emails)):
                index = positions.get(str(detail.get("email", "")).strip().lower())
            message = str(detail.get("message") or detail.get("error") or "refused")
        elif isinstance(detail, str):
            found = (positions.get(a.lower().rstrip(".")) for a in re.findall(_ADDRESS, detail))
            index = next((p for p in found if p is not None), None)
            message = detail
        else:
            continue
        if index is not None:
            refused[index] = message[:500]
    return refused


def _count(value: Any) -> int | None:
    """A non-negative count from an answer (an integer or a digit string), else ``None``."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _shown(value: int | None) -> str:
    return "(missing)" if value is None else str(value)


def contact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate contact fields and put them in the API's format (``birthday`` as ``YYYY-MM-DD``)."""
    unknown = sorted(set(fields) - set(CONTACT_FIELDS))
    if unknown:
        raise EmailBRInputError(
            f"unknown IAGENTEmail contact field(s) {unknown}; allowed: email, {', '.join(CONTACT_FIELDS)}"
        )
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if key == "birthday":
            if value == "":
                continue
            out[key] = _birthday(value)
        else:
            out[key] = value
    return out


def _birthday(value: date | datetime | str) -> str:
    return parse_birth_date(value, field="birthday").isoformat()


def _list_form(
    order: str | None, orders: tuple[str, ...], orientation: str | None, search: str | None, page: int
) -> dict[str, Any]:
    if order is not None and order not in orders:
        raise EmailBRInputError(f"order: {order!r} is not allowed; use one of {', '.join(orders)}")
    if orientation is not None and orientation.upper() not in ORIENTATIONS:
        raise EmailBRInputError(f"orientation: {orientation!r} is not allowed; use ASC or DESC")
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise EmailBRInputError(f"page: {page!r} must be an integer ≥ 1")
    return {
        "order": order,
        "orientation": orientation.upper() if orientation else None,
        "search": search,
        "page": page,
    }
