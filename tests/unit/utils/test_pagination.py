"""The paging rule of every hook: lazy pages, never past the announced total, stop when a page stalls."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_emailbr.exceptions import EmailBRResponseError
from airflow_provider_emailbr.utils.pagination import (
    CRIAENVIO_PAGES,
    ENVIE_PAGES,
    IAGENTE_PAGES,
    PageScheme,
    iter_paged,
    iter_paged_backwards,
)


def _criaenvio(current: Any, total: Any, items: list[Any]) -> dict[str, Any]:
    return {"data": items, "pagination": {"current_page": current, "total_pages": total}}


class Pages:
    """A fake paged endpoint: answers from a function of the page asked for, recording every request."""

    def __init__(self, answer):
        self.asked: list[int] = []
        self.answer = answer

    def __call__(self, number: int) -> dict[str, Any]:
        self.asked.append(number)
        return self.answer(number)


def test_pages_are_fetched_lazily_and_stop_at_the_total():
    pages = Pages(lambda n: _criaenvio(n, 3, [n * 10, n * 10 + 1]))
    items = iter_paged(pages, CRIAENVIO_PAGES)
    assert next(items) == 10
    assert pages.asked == [1]
    assert list(items) == [11, 20, 21, 30, 31]
    assert pages.asked == [1, 2, 3]


def test_a_page_past_the_total_is_never_asked_for():
    pages = Pages(lambda n: _criaenvio(n, 2, [n]))  # a server that would answer page 3, 4 … forever
    assert list(iter_paged(pages, CRIAENVIO_PAGES)) == [1, 2]
    assert pages.asked == [1, 2]


def test_server_ignoring_page_stops_with_a_clear_error():
    pages = Pages(lambda n: _criaenvio(1, 10, ["same"]))
    items = iter_paged(pages, CRIAENVIO_PAGES, platform="CriaEnvio", endpoint="contatos")
    assert next(items) == "same"
    with pytest.raises(EmailBRResponseError) as caught:
        next(items)
    message = str(caught.value)
    assert "CriaEnvio contatos failed" in message
    assert "asked for page 2, but the answer says it is page 1" in message
    assert "ignores the 'page' parameter" in message
    assert pages.asked == [1, 2]


def test_answer_jumping_ahead_is_also_refused():
    pages = Pages(lambda n: _criaenvio(n + 1, 10, [n]))
    with pytest.raises(EmailBRResponseError, match="asked for page 1, but the answer says it is page 2"):
        list(iter_paged(pages, CRIAENVIO_PAGES))


def test_repeated_items_without_page_numbers_stop():
    pages = Pages(lambda n: _criaenvio(None, 10, [{"id": "a"}, {"id": "b"}]))
    with pytest.raises(EmailBRResponseError, match="it repeats page 1 item for item"):
        list(iter_paged(pages, CRIAENVIO_PAGES))
    assert pages.asked == [1, 2]


def test_page_numbers_given_as_text_are_read():
    pages = Pages(lambda n: _criaenvio(str(n), "2", [n]))
    assert list(iter_paged(pages, CRIAENVIO_PAGES)) == [1, 2]


def test_no_total_means_one_page_and_an_empty_page_ends():
    one = Pages(lambda n: {"data": [1, 2]})
    assert list(iter_paged(one, CRIAENVIO_PAGES)) == [1, 2]
    assert one.asked == [1]
    empty = Pages(lambda n: _criaenvio(n, 9, [] if n == 2 else [n]))
    assert list(iter_paged(empty, CRIAENVIO_PAGES)) == [1]
    assert empty.asked == [1, 2]


def test_max_pages_and_first_page():
    pages = Pages(lambda n: _criaenvio(n, 9, [n]))
    assert list(iter_paged(pages, CRIAENVIO_PAGES, first_page=4, max_pages=2)) == [4, 5]
    assert pages.asked == [4, 5]


@pytest.mark.parametrize(
    ("scheme", "page", "items", "current", "total"),
    [
        (IAGENTE_PAGES, {"current_page": 2, "last_page": 5, "data": [1]}, [1], 2, 5),
        (ENVIE_PAGES, {"data": {"current_page": 3, "total_pages": 4, "records": [1]}}, [1], 3, 4),
        (CRIAENVIO_PAGES, {"data": [1], "pagination": {"current_page": 1, "total_pages": 1}}, [1], 1, 1),
        (ENVIE_PAGES, {"data": None}, [], None, None),
        (IAGENTE_PAGES, {"data": "oops", "current_page": "x"}, [], None, None),
    ],
)
def test_each_vendor_scheme_reads_its_envelope(scheme: PageScheme, page, items, current, total):
    assert (scheme.items(page), scheme.current_page(page), scheme.total_pages(page)) == (
        items,
        current,
        total,
    )


def test_backwards_reads_page_one_for_the_total_then_the_last_page_down_lazily():
    pages = Pages(lambda n: _criaenvio(n, 3, [n * 10, n * 10 + 1]))
    items = iter_paged_backwards(pages, CRIAENVIO_PAGES)
    assert next(items) == 31
    assert pages.asked == [1, 3]
    assert list(items) == [30, 21, 20, 11, 10]
    assert pages.asked == [1, 3, 2]


def test_backwards_with_one_page_or_no_total_reads_page_one_only():
    pages = Pages(lambda n: _criaenvio(n, None, ["a", "b"]))
    assert list(iter_paged_backwards(pages, CRIAENVIO_PAGES)) == ["b", "a"]
    assert pages.asked == [1]


def test_backwards_applies_the_same_guard():
    ignoring = Pages(lambda n: _criaenvio(1, 3, ["same"]))
    with pytest.raises(EmailBRResponseError, match="asked for page 3, but the answer says it is page 1"):
        list(iter_paged_backwards(ignoring, CRIAENVIO_PAGES, platform="CriaEnvio", endpoint="envios"))
    repeating = Pages(lambda n: _criaenvio(None, 3, ["same"]))
    with pytest.raises(EmailBRResponseError, match="it repeats page 3 item for item"):
        list(iter_paged_backwards(repeating, CRIAENVIO_PAGES))
