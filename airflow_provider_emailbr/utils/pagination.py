"""Lazy iteration over the vendors' paged list endpoints.

Each vendor pages differently; a :class:`PageScheme` says where a page's items are and whether another
page follows. :func:`iter_paged` fetches one page at a time, only when the caller asks for more items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PageScheme:
    """How to read one vendor's paged answer.

    :param items: returns the list of items in a page's parsed JSON.
    :param has_next: given the page's parsed JSON and the page number just read, whether another follows.
    """

    items: Callable[[Mapping[str, Any]], list[Any]]
    has_next: Callable[[Mapping[str, Any], int], bool]


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


#: IAGENTEmail: ``{"current_page", "last_page", "total", "data": [...]}``.
IAGENTE_PAGES = PageScheme(
    items=lambda page: _list(page.get("data")),
    has_next=lambda page, number: _as_int(page.get("current_page"), number) < _as_int(page.get("last_page")),
)

#: envie.email: ``{"data": {"count", "total_pages", "current_page", "next_page", "records": [...]}}``.
ENVIE_PAGES = PageScheme(
    items=lambda page: _list((page.get("data") or {}).get("records")),
    has_next=lambda page, number: (
        _as_int((page.get("data") or {}).get("current_page"), number)
        < _as_int((page.get("data") or {}).get("total_pages"))
    ),
)

#: CriaEnvio: ``{"data": [...], "pagination": {"current_page", "total_pages", ...}}``.
CRIAENVIO_PAGES = PageScheme(
    items=lambda page: _list(page.get("data")),
    has_next=lambda page, number: (
        _as_int((page.get("pagination") or {}).get("current_page"), number)
        < _as_int((page.get("pagination") or {}).get("total_pages"))
    ),
)


def iter_paged(
    fetch_page: Callable[[int], Mapping[str, Any]],
    scheme: PageScheme,
    *,
    first_page: int = 1,
    max_pages: int | None = None,
) -> Iterator[Any]:
    """Yield every item of every page, fetching page ``n + 1`` only after page ``n`` is consumed.

    Stops when the scheme says no page follows, when a page is empty, or after ``max_pages`` pages.
    """
    page_number = first_page
    pages_read = 0
    while True:
        page = fetch_page(page_number)
        pages_read += 1
        items = scheme.items(page)
        yield from items
        if not items or not scheme.has_next(page, page_number):
            return
        if max_pages is not None and pages_read >= max_pages:
            return
        page_number += 1
