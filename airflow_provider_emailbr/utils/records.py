"""A light base for the package's small records: declared fields, a readable repr and ``replace``.

Records are plain classes with ``__slots__`` and a written-out ``__init__`` rather than dataclasses: DAG files
import the modules that define them at every parse, and a dataclass generates and compiles its methods at
import time (several hundred microseconds each), which a plain class does not.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from airflow_provider_emailbr.utils.privacy import mask_email

RecordT = TypeVar("RecordT", bound="Record")


class Record:
    """Base of a record whose fields are its ``__slots__``; equality is identity, as with ``eq=False``.

    ``_masked`` names fields holding e-mail addresses: the repr shows them masked (LGPD). ``_hidden`` names
    fields the repr leaves out (a raw payload).
    """

    __slots__ = ()
    _masked: ClassVar[frozenset[str]] = frozenset()
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        parts = []
        for name in type(self).__slots__:
            if name in self._hidden:
                continue
            value = getattr(self, name, None)
            shown = repr(mask_email(value)) if name in self._masked else repr(value)
            parts.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def replace(self: RecordT, **changes: Any) -> RecordT:
        """A copy with ``changes`` applied (the record's ``__init__`` validates it again)."""
        values = {name: getattr(self, name) for name in type(self).__slots__}
        values.update(changes)
        return type(self)(**values)


class ValueRecord(Record):
    """A record compared and hashed by value, immutable once built (like a frozen dataclass).

    Fields named in ``_uncompared`` (e.g. the raw payload a record was read from) take no part in equality.
    Subclasses set their fields in ``__init__`` through :meth:`_init`.
    """

    __slots__ = ()
    _uncompared: ClassVar[frozenset[str]] = frozenset()

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in type(self).__slots__ if n not in self._uncompared)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._compared() == other._compared()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._compared())
