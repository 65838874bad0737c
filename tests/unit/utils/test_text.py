"""utils.text: the shared readings of flags, required values, id lists and folded text."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.utils.text import as_bool, fold, read_int, required, split_list


def test_fold_ignores_case_accents_and_repeated_spaces():
    assert fold("  Entregue   COM sucesso ") == "entregue com sucesso"
    assert fold("Concluído") == fold("CONCLUIDO") == "concluido"
    assert fold("Em criação") == "em criacao"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (0, False),
        (1, True),
        ("1", True),
        ("Sim", True),
        ("não", False),
        ("", False),
        (None, False),
    ],
)
def test_as_bool(value, expected):
    assert as_bool(value, field="confirmado") is expected


@pytest.mark.parametrize("value", ["maybe", 2, [1]])
def test_as_bool_names_the_field_for_anything_else(value):
    with pytest.raises(EmailBRInputError, match=r"confirmado: .* is not a boolean"):
        as_bool(value, field="confirmado")


def test_required():
    assert required("subject", "Oi", text=True) == "Oi"
    assert required("message_id", 12) == 12
    with pytest.raises(EmailBRInputError, match="subject: a non-empty text is required, got '  '"):
        required("subject", "  ", text=True)
    with pytest.raises(EmailBRInputError, match="message_id: a non-empty value is required, got None"):
        required("message_id", None)
    with pytest.raises(EmailBRInputError, match="subject: text is required, got int 5"):
        required("subject", 5, text=True)


def test_split_list():
    assert split_list("list_ids", " L1, L2,,L1 ") == ["L1", "L2"]
    assert split_list("list_ids", ["L1", 7, " L1 "]) == ["L1", "7"]
    assert split_list("message_ids", "a-1, b-2;c-3\td-4", separators=" ,;") == ["a-1", "b-2", "c-3", "d-4"]
    assert split_list("names", "Clientes VIP, Leads") == ["Clientes VIP", "Leads"]  # spaces kept by default
    with pytest.raises(EmailBRInputError, match="list_ids: give at least one value"):
        split_list("list_ids", " , ")
    with pytest.raises(EmailBRInputError, match="list_ids: True is not an id or a name"):
        split_list("list_ids", ["L1", True])
    with pytest.raises(EmailBRInputError, match="list_ids: expected a list or a string"):
        split_list("list_ids", {"a": 1})


def test_read_int_reads_whole_numbers_sent_as_numbers_or_text_and_nothing_else():
    assert [read_int(v) for v in (7, "7", " 7 ", 7.0, "7.0", "-2", 0, "0")] == [7, 7, 7, 7, 7, -2, 0, 0]
    assert [read_int(v) for v in (None, "", "abc", "7.5", 7.5, "inf", float("nan"), [], {})] == [None] * 9
