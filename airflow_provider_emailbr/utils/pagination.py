"""Lazy iteration over the vendors' paged list endpoints, with one guard against pages that do not advance.

Each vendor pages differently; a :class:`PageScheme` says where a page's items are, which page the answer
says it is and how many pages there are. :func:`iter_paged` fetches one page at a time, only when the caller
asks for more items, and applies one rule for every vendor:

- it never asks for a page past the total the answer announces;
- it stops with :class:`~airflow_provider_emailbr.exceptions.EmailBRResponseError` when a page does not
  advance: the answer says it is another page than the one asked for (a server or proxy that ignores
  ``page`` answers page 1 every time), or it repeats the previous page's items exactly. Without this a
  server that ignores ``page`` would make every ``iter_*`` loop forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from airflow_provider_emailbr.exceptions import EmailBRResponseError
from airflow_provider_emailbr.utils.text import read_int


class PageScheme(NamedTuple):
    """How to read one vendor's paged answer.

    :param items: returns the list of items in a page's parsed JSON.
    :param current_page: returns the page number the answer says it is, or ``None`` when it does not say.
    :param total_pages: returns the number of pages the answer announces, or ``None`` when it does not say
        (then no further page is asked for).
    """

    items: Callable[[Mapping[str, Any]], list[Any]]
    current_page: Callable[[Mapping[str, Any]], int | None]
    total_pages: Callable[[Mapping[str, Any]], int | None]

    def has_next(self, page: Mapping[str, Any], number: int) -> bool:
        """Whether a page follows page ``number`` (the one just read), by the announced total."""
        total = self.total_pages(page)
        return total is not None and number < total


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _section(page: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = page.get(key)
    return value if isinstance(value, Mapping) else {}


#: IAGENTEmail: ``{"current_page", "last_page", "total", "data": [...]}``.
IAGENTE_PAGES = PageScheme(
    items=lambda page: _list(page.get("data")),
    current_page=lambda page: read_int(page.get("current_page")),
    total_pages=lambda page: read_int(page.get("last_page")),
)

#: envie.email: ``{"data": {"count", "total_pages", "current_page", "next_page", "records": [...]}}``.
ENVIE_PAGES = PageScheme(
    items=lambda page: _list(_section(page, "data").get("records")),
    current_page=lambda page: read_int(_section(page, "data").get("current_page")),
    total_pages=lambda page: read_int(_section(page, "data").get("total_pages")),
)

#: CriaEnvio: ``{"data": [...], "pagination": {"current_page", "total_pages", ...}}``.
CRIAENVIO_PAGES = PageScheme(
    items=lambda page: _list(page.get("data")),
    current_page=lambda page: read_int(_section(page, "pagination").get("current_page")),
    total_pages=lambda page: read_int(_section(page, "pagination").get("total_pages")),
)


def iter_paged(
    fetch_page: Callable[[int], Mapping[str, Any]],
    scheme: PageScheme,
    *,
    first_page: int = 1,
    max_pages: int | None = None,
    platform: str = "API",
    endpoint: str = "paged list",
) -> Iterator[Any]:
    """Yield every item of every page, fetching page ``n + 1`` only after page ``n`` is consumed.

    Stops when the announced total is reached (or not announced), when a page is empty, or after
    ``max_pages`` pages. Raises :class:`EmailBRResponseError` (naming ``platform`` and ``endpoint``) when a
    page does not advance, before yielding any of its items.
    """
    page_number = first_page
    pages_read = 0
    previous: list[Any] | None = None
    while True:
        page = fetch_page(page_number)
        pages_read += 1
        items = _advanced_items(page, scheme, page_number, previous, page_number - 1, platform, endpoint)
        yield from items
        if not items or not scheme.has_next(page, page_number):
            return
        if max_pages is not None and pages_read >= max_pages:
            return
        previous = items
        page_number += 1


def iter_paged_backwards(
    fetch_page: Callable[[int], Mapping[str, Any]],
    scheme: PageScheme,
    *,
    platform: str = "API",
    endpoint: str = "paged list",
) -> Iterator[Any]:
    """Yield every item, last page first and each page's items in reverse (newest first where the API
    lists oldest first), lazily: page 1 is read first for the announced total, then the last page down to
    page 2, then page 1's items.

    Items added while iterating land after the pages already planned and are not returned. The guard of
    :func:`iter_paged` applies: a page that says it is another page, or repeats the page read before it,
    raises :class:`EmailBRResponseError`.
    """
    first = fetch_page(1)
    first_items = _advanced_items(first, scheme, 1, None, 0, platform, endpoint)
    previous: list[Any] | None = None
    for page_number in range(scheme.total_pages(first) or 1, 1, -1):
        page = fetch_page(page_number)
        previous = _advanced_items(page, scheme, page_number, previous, page_number + 1, platform, endpoint)
        yield from reversed(previous)
    yield from reversed(first_items)


def _advanced_items(
    page: Mapping[str, Any],
    scheme: PageScheme,
    asked: int,
    previous: list[Any] | None,
    previous_number: int,
    platform: str,
    endpoint: str,
) -> list[Any]:
    """The items of page ``asked``, after checking that paging advanced from page ``previous_number``
    (whose items were ``previous``): the one rule of this module."""
    items = scheme.items(page)
    reported = scheme.current_page(page)
    if reported is not None and reported != asked:
        raise _stalled(platform, endpoint, asked, f"the answer says it is page {reported}")
    if items and items == previous:
        raise _stalled(platform, endpoint, asked, f"it repeats page {previous_number} item for item")
    return items


def _stalled(platform: str, endpoint: str, asked: int, why: str) -> EmailBRResponseError:
    """The error for a page that does not advance."""
    return EmailBRResponseError(
        platform=platform,
        endpoint=endpoint,
        status=None,
        detail=f"paging does not advance: asked for page {asked}, but {why}; stopped instead of reading the "
        "same page forever (the server or a proxy ignores the 'page' parameter)",
    )
