"""IAGENTEmail operators: contact import into a group with ``contact/mass/add``, and its daily sync."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from typing import Any

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRInputError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.hooks.base import PreparedCall
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook
from airflow_provider_emailbr.importing.engine import BaseImportContactsOperator, ContactOutcome
from airflow_provider_emailbr.importing.rows import Contact, FieldSpec, RowRejected
from airflow_provider_emailbr.importing.staging import Gone

#: Reason of a row the platform's answer does not account for (neither named as refused nor counted in).
UNCONFIRMED = "unconfirmed"


class IAgenteImportContactsOperator(BaseImportContactsOperator):
    """Import contacts into an IAGENTEmail group with ``contact/mass/add``, in chunks.

    Fields: ``email``, ``name``, ``birthday`` (sent as ``YYYY-MM-DD``), ``field1``…``field10``. Each chunk's
    answer is reconciled row by row: rows its ``details`` name are rejected (``refused_by_platform``), the
    others count as imported only when ``imports`` and ``invalids`` add up to the chunk; when they do not,
    the rows the answer does not account for are rejected as ``unconfirmed`` with the counts, never reported
    as imported. A chunk refused as a whole is retried under the core policy and then split in halves until
    the bad rows are isolated and reported. Two chunks (``max_chunks_in_flight``) are in flight while the next
    rows are validated.

    With ``state_path`` only new and changed contacts are sent; ``mirror=True`` takes contacts that left
    the source out of the group with ``group/contact/remove`` (they stay in the account).

    :param group_id: target group id, or
    :param group_name: target group name (exact); with ``create_group=True`` it is created when missing.
    :param chunk_size: contacts per ``contact/mass/add`` call (default 500).
    :param max_chunks_in_flight: calls sent at the same time (default 2). On Airflow >= 3.3 with ``durable``,
        it is also how many calls a retry after a killed worker may send again although the platform had
        answered them: with 1, a retry sends at most the calls not answered at the kill plus one, whatever
        the timing (see :mod:`~airflow_provider_emailbr.importing.checkpoint`).
    :param iagente_conn_id: IAGENTEmail connection.
    """

    template_fields: Sequence[str] = (*BaseImportContactsOperator.template_fields, "group_id", "group_name")
    platform = IAgenteEmailHook.platform
    fields_spec = (
        FieldSpec("email", "email", ("e-mail", "e_mail", "mail", "email_address")),
        FieldSpec("name", "text", ("nome", "nome_completo", "full_name")),
        FieldSpec("birthday", "date", ("data_de_nascimento", "nascimento", "data_nascimento", "birth_date")),
        *(FieldSpec(f"field{i}") for i in range(1, 11)),
    )
    #: Chunks sent ahead while the next rows are validated (the server parses one while we build the next);
    #: the default of the ``max_chunks_in_flight`` argument.
    max_chunks_in_flight: int = 2

    def __init__(
        self,
        *,
        group_id: int | str | None = None,
        group_name: str | None = None,
        create_group: bool = False,
        chunk_size: int = 500,
        max_chunks_in_flight: int | None = None,
        iagente_conn_id: str = IAgenteEmailHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("batch_size", max(chunk_size, 1000) if isinstance(chunk_size, int) else 1000)
        super().__init__(**kwargs)
        if (group_id is None) == (group_name is None):
            raise EmailBRInputError("give exactly one of group_id and group_name")
        if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
            raise EmailBRInputError(f"chunk_size: {chunk_size!r} must be a positive integer")
        if max_chunks_in_flight is not None:
            if (
                not isinstance(max_chunks_in_flight, int)
                or isinstance(max_chunks_in_flight, bool)
                or max_chunks_in_flight < 1
            ):
                raise EmailBRInputError(
                    f"max_chunks_in_flight: {max_chunks_in_flight!r} must be a positive integer"
                )
            self.max_chunks_in_flight = max_chunks_in_flight
        self.group_id = group_id
        self.group_name = group_name
        self.create_group = create_group
        self.chunk_size = chunk_size
        self.iagente_conn_id = iagente_conn_id

    @cached_property
    def hook(self) -> IAgenteEmailHook:
        """The IAGENTEmail hook, built on first use."""
        return IAgenteEmailHook(iagente_conn_id=self.iagente_conn_id)

    def prepare_target(self) -> dict[str, Any]:
        if self.group_id is not None:
            self._group = self.group_id
            return {"group_id": self.group_id}
        group = self.hook.find_group(str(self.group_name))
        if group is None:
            if not self.create_group:
                raise EmailBRInputError(
                    f"group_name: no IAGENTEmail group named {self.group_name!r}; create it or pass "
                    "create_group=True"
                )
            if self.dry_run:
                self._group = None
                return {"group_id": None, "group_name": self.group_name, "group_would_be_created": True}
            created = self.hook.create_group(name=str(self.group_name))
            self.log.info("created IAGENTEmail group %r (id %s)", self.group_name, created.get("group_id"))
            self._group = created.get("group_id")
        else:
            self._group = group.get("group_id")
        return {"group_id": self._group, "group_name": self.group_name}

    # ------------------------------------------------------------------ sending

    @property
    def max_in_flight(self) -> int:
        """Chunks in flight: :attr:`max_chunks_in_flight`."""
        return self.max_chunks_in_flight

    def plan_identity(self) -> dict[str, Any]:
        """A batch is split into chunks of ``chunk_size``: a checkpoint holds for that size only."""
        return {"chunk_size": self.chunk_size}

    def plan_units(self, contacts: list[Contact]) -> Iterator[tuple[list[Contact], PreparedCall]]:
        """Chunks of ``chunk_size`` contacts, each with its request encoded here (not in a sending thread)."""
        for start in range(0, len(contacts), self.chunk_size):
            chunk = contacts[start : start + self.chunk_size]
            prepared = self._prepare(chunk)
            prepared.body()  # encode here, so the sending threads only wait on the network
            yield chunk, prepared

    def send_unit(self, unit: tuple[list[Contact], PreparedCall]) -> list[ContactOutcome]:
        chunk, prepared = unit
        return self._send_chunk(chunk, prepared)

    # ------------------------------------------------------------------ daily sync

    def target_identity(self) -> dict[str, Any]:
        group = (
            {"group_id": str(self.group_id)} if self.group_id is not None else {"group_name": self.group_name}
        )
        return {"conn_id": self.iagente_conn_id, **group}

    def remove_contact(self, gone: Gone) -> bool:
        """``group/contact/remove`` from the target group (the contact stays in the account)."""
        try:
            self.hook.remove_group_contact(email=gone.email, group_id=self._group)
            return True
        except EmailBRValidationError as err:
            # IAGENTEmail refuses to remove a contact that is not in the group (e.g. removed by an earlier
            # run whose answer was lost): look before counting it as a failure
            if not self._in_group(gone.email):
                return True
            self.log.warning("could not take %s out of the group: %s", self.show(gone.email), err)
            return False
        except (EmailBRTransportError, EmailBRApiError) as err:
            if isinstance(err, EmailBRAuthError) or getattr(err, "status", None) in (401, 403):
                raise
            self.log.warning("could not take %s out of the group: %s", self.show(gone.email), err)
            return False

    def _in_group(self, email: str) -> bool:
        wanted = email.lower()
        return any(
            str(c.get("email", "")).lower() == wanted
            for c in self.hook.iter_group_contacts(group_id=self._group, search=email)
        )

    def _prepare(self, chunk: list[Contact]) -> PreparedCall:
        rows = [{"email": c.email, **_wire_fields(c.fields)} for c in chunk]
        return self.hook.prepare_mass_add(group_id=self._group, contacts=rows, validate_fields=False)

    def _send_chunk(self, chunk: list[Contact], prepared: PreparedCall | None = None) -> list[ContactOutcome]:
        """Send one chunk; a chunk refused as a whole is split in halves until the bad rows are isolated."""
        try:
            answer = self.hook.send_prepared(prepared or self._prepare(chunk))
        except (EmailBRValidationError, EmailBRInputError) as err:
            if len(chunk) == 1:
                vendor_message = getattr(err, "vendor_message", None)
                return [_rejected(chunk[0], "refused_by_platform", str(err), vendor_message)]
            self.log.warning(
                "a chunk of %d contacts was refused as a whole; splitting it to isolate the bad rows",
                len(chunk),
            )
            half = len(chunk) // 2
            return self._send_chunk(chunk[:half]) + self._send_chunk(chunk[half:])
        return self._reconcile(chunk, answer)

    def _reconcile(self, chunk: list[Contact], answer: Any) -> list[ContactOutcome]:
        """One outcome per row from a chunk's answer; rows it does not account for are ``unconfirmed``."""
        read = self.hook.read_mass_add_answer(answer, [c.email for c in chunk])
        if not read.confirmed:
            self.log.warning(
                "IAGENTEmail's contact/mass/add answer does not account for every row (%s); the rows it "
                "does not name are reported as %s, not as imported",
                read.describe(),
                UNCONFIRMED,
            )
        outcomes = []
        for position, contact in enumerate(chunk):
            vendor_message = read.refused.get(position)
            if vendor_message is not None:
                message = f"IAGENTEmail refused {self.show(contact.email)}"
                outcomes.append(_rejected(contact, "refused_by_platform", message, vendor_message))
            elif read.confirmed:
                outcomes.append(ContactOutcome(contact, result="imported"))
            else:
                message = (
                    f"IAGENTEmail's answer does not confirm {self.show(contact.email)} was imported: "
                    f"{read.describe()}, so the {read.size - len(read.refused)} row(s) it does not name "
                    "cannot be told apart (they may have been imported; re-import them to be sure)"
                )
                outcomes.append(_rejected(contact, UNCONFIRMED, message))
        return outcomes


def _rejected(
    contact: Contact, reason: str, message: str, vendor_message: str | None = None
) -> ContactOutcome:
    return ContactOutcome(contact, rejection=RowRejected(reason, message, vendor_message))


def _wire_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Contact fields as IAGENTEmail takes them (``birthday`` as ``YYYY-MM-DD``)."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}


__all__ = ["UNCONFIRMED", "IAgenteImportContactsOperator"]
