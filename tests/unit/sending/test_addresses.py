"""The provider's one address parser: display names with commas, semicolons, UTF-8 names, clear errors."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.addresses import (
    Address,
    format_address,
    parse_addresses,
    split_address_list,
    split_addresses,
)


def test_a_comma_inside_a_quoted_display_name_does_not_split_the_address():
    value = '"Silva, Ana" <ana@exemplo.com.br>, bia@exemplo.com.br; Caio <caio@exemplo.com.br>'
    assert parse_addresses(value) == [
        Address("ana@exemplo.com.br", "Silva, Ana"),
        Address("bia@exemplo.com.br"),
        Address("caio@exemplo.com.br", "Caio"),
    ]


def test_separators_inside_comments_and_angle_brackets_do_not_split():
    assert split_address_list('a@x.com (Ana, RH), "B; C" <b@x.com>') == [
        "a@x.com (Ana, RH)",
        '"B; C" <b@x.com>',
    ]


def test_lists_are_read_item_by_item_and_duplicates_dropped_case_insensitively():
    assert split_addresses(["A@exemplo.com.br", "a@exemplo.com.br, b@exemplo.com.br"]) == [
        "A@exemplo.com.br",
        "b@exemplo.com.br",
    ]


def test_names_are_written_back_quoted_and_in_utf8_never_as_rfc2047():
    assert format_address("joao@exemplo.com.br", "João Ação") == '"João Ação" <joao@exemplo.com.br>'
    assert format_address("a@x.com", 'Diz "oi"') == '"Diz \\"oi\\"" <a@x.com>'
    assert format_address("a@x.com", None) == "a@x.com"
    assert split_addresses('"Silva, Ana" <ana@exemplo.com.br>') == ['"Silva, Ana" <ana@exemplo.com.br>']


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sem-arroba", r"cc: '\*\*\*' is not an e-mail address"),
        ("Ana <>", r"cc: '\*\*\*' is not an e-mail address"),
        ([7], r"cc: 7 is not an e-mail address \(a string is required\)"),
        (42, r"cc: 42 is not an address or a list of addresses"),
        ("a\ud800@x.com", r"cc: 'a\*\*\*@x.com' is not an e-mail address"),
    ],
)
def test_anything_else_is_a_clear_error_naming_the_field(value, message):
    with pytest.raises(EmailBRInputError, match=message):
        parse_addresses(value, field="cc")
