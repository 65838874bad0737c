"""Row normalisation: column mapping and aliases, value kinds, and the reason of every rejection."""

from __future__ import annotations

import gc
from datetime import date

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.importing.rows import (
    FieldSpec,
    RowNormaliser,
    RowRejected,
    collection_paused,
    raw_email,
    safe_row,
)
from airflow_provider_emailbr.importing.sources import EXTRA_CELLS
from airflow_provider_emailbr.utils.storage import BadJsonLine

FIELDS = (
    FieldSpec("email", "email", ("e-mail", "mail")),
    FieldSpec("nome", "text", ("name",)),
    FieldSpec("sexo", "sexo", ("gender",)),
    FieldSpec("nascimento", "date", ("birthday",)),
)


def normaliser(**kwargs) -> RowNormaliser:
    return RowNormaliser(FIELDS, platform="Teste", **kwargs)


def test_well_known_columns_are_found_case_insensitively_and_values_normalised():
    contact = normaliser(custom_columns={"Cidade": "cidade"}).normalise(
        7,
        {
            "E-Mail": "  Ana@Exemplo.COM.br ",
            "Name": " Ana Lima ",
            "GENDER": "Feminino",
            "birthday": "31/01/1990",
            "cidade": "Recife",
            "ignorada": "x",
        },
    )
    assert (contact.row, contact.email) == (7, "Ana@exemplo.com.br")
    assert contact.fields == {"nome": "Ana Lima", "sexo": "f", "nascimento": date(1990, 1, 31)}
    assert contact.custom == {"Cidade": "Recife"}


def test_field_mapping_wins_over_the_aliases():
    contact = normaliser(field_mapping={"email": "correio", "nome": "apelido"}).normalise(
        1, {"correio": "bia@exemplo.com.br", "email": "outra@exemplo.com.br", "nome": "X", "apelido": "Bia"}
    )
    assert (contact.email, contact.fields) == ("bia@exemplo.com.br", {"nome": "Bia"})


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        (BadJsonLine(3, "Expecting value"), "malformed_line", "line is not valid JSON (Expecting value)"),
        ([1, 2], "not_a_mapping", "expected a mapping of column to value, got list"),
        ({"email": "a@x.com.br", EXTRA_CELLS: ["a", "b"]}, "extra_cells", "row has 2 more cell(s)"),
        ({"nome": "Sem"}, "missing_email", "no e-mail column 'email'"),
        ({"email": "  "}, "missing_email", "email: empty"),
        ({"email": 5}, "invalid_email", "email: expected text, got int"),
        ({"email": "sem-arroba"}, "invalid_email", "is not valid"),
        ({"email": "a@x.com.br", "sexo": "x"}, "invalid_sexo", "sexo: 'x' is not m/f"),
        ({"email": "a@x.com.br", "nascimento": "31/02/1990"}, "invalid_date", "nascimento"),
        ({"email": "a@x.com.br", "nascimento": 19900101}, "invalid_date", "expected a date, got int"),
        ({"email": "a@x.com.br", "nome": {"a": 1}}, "invalid_value", "nome: expected text, got dict"),
        ({"email": "a@x.com.br", "nome": "Ana \ud800"}, "invalid_value", "a lone surrogate"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason(raw, reason, message):
    with pytest.raises(RowRejected) as err:
        normaliser().normalise(1, raw)
    assert err.value.reason == reason
    assert message in err.value.message


def test_check_columns_stops_a_source_without_an_email_column():
    normaliser().check_columns({"mail": "a@x.com.br"})  # an alias is enough
    with pytest.raises(EmailBRInputError, match=r"no e-mail column \(looked for email, e-mail, mail\)"):
        normaliser().check_columns({"nome": "Ana", EXTRA_CELLS: ["x"]})


def test_report_helpers_show_the_raw_email_and_cut_cells():
    assert raw_email({"E-mail": "x" * 400}) == "x" * 320
    assert raw_email(["not", "a", "row"]) == ""
    assert safe_row({"nome": "y" * 600, "n": None}) == {"nome": "y" * 500, "n": None}


@pytest.mark.parametrize("enabled", [True, False])
def test_collection_paused_restores_the_collector_as_it_was(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with collection_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError, match="boom"), collection_paused():
            raise ValueError("boom")
        assert gc.isenabled() is enabled  # also after an exception
        with collection_paused():
            with collection_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner block leaves it paused for the outer one
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
