"""The hooks' forwarded keyword arguments stay typed and cannot drift from what they are forwarded to.

A public method that passes its keywords on (``call(endpoint, **request)``, ``send(**message)``,
``report(..., **filters)``) declares them once, as a ``TypedDict`` used through ``Unpack``. Where the
receiving function writes the same keywords out with their defaults, the ``TypedDict``'s keys must be
exactly that function's keyword names, so adding or renaming a keyword on one side fails here.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_emailbr.hooks.base import EmailBRHook, HookOptions, RequestOptions
from airflow_provider_emailbr.hooks.criaenvio import CriaEnvioHook
from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook, EnvieMessage
from airflow_provider_emailbr.hooks.iagente import IAgenteEmailHook, ListFilters, ListPageFilters
from airflow_provider_emailbr.hooks.mailgrid import (
    MailGridHook,
    MailGridMessage,
    ReportFilters,
    WallClockReport,
)


def keys(typed_dict: type) -> set[str]:
    """Every key of a ``TypedDict``, required or not, inherited or not."""
    return set(typed_dict.__required_keys__) | set(typed_dict.__optional_keys__)


def keyword_names(function: Callable[..., Any], *, leave_out: tuple[str, ...] = ()) -> set[str]:
    """The names ``function`` takes as keywords (``**`` catch-alls and ``leave_out`` left out)."""
    return {
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        and name not in ("self", *leave_out)
    }


#: (TypedDict, the function that writes its keys out with defaults, names of that function not in it).
MIRRORED = [
    pytest.param(RequestOptions, EmailBRHook.prepare, ("endpoint",), id="RequestOptions=prepare"),
    pytest.param(HookOptions, EmailBRHook.__init__, ("conn_id",), id="HookOptions=EmailBRHook.__init__"),
    pytest.param(MailGridMessage, MailGridHook.build_send_body, (), id="MailGridMessage=build_send_body"),
    pytest.param(WallClockReport, MailGridHook.report_query, (), id="WallClockReport=report_query"),
    pytest.param(
        ReportFilters,
        MailGridHook.report_query,
        ("wall_start", "wall_end"),
        id="ReportFilters=report_query-window",
    ),
    pytest.param(EnvieMessage, EnvieEmailHook.build_send_body, (), id="EnvieMessage=build_send_body"),
    pytest.param(
        ListPageFilters, IAgenteEmailHook._list_page, ("name", "orders"), id="ListPageFilters=_list_page"
    ),
]


@pytest.mark.parametrize(("typed_dict", "function", "leave_out"), MIRRORED)
def test_typed_dict_keys_equal_the_explicit_signature(typed_dict, function, leave_out):
    assert keys(typed_dict) == keyword_names(function, leave_out=leave_out)


def test_required_message_keys_are_the_ones_without_a_default():
    for typed_dict, function in (
        (MailGridMessage, MailGridHook.build_send_body),
        (EnvieMessage, EnvieEmailHook.build_send_body),
        (WallClockReport, MailGridHook.report_query),
    ):
        without_default = {
            name
            for name, parameter in inspect.signature(function).parameters.items()
            if name != "self" and parameter.default is parameter.empty
        }
        annotations = typed_dict.__annotations__
        marked_required = {
            name
            for name in keys(typed_dict)
            if name in typed_dict.__required_keys__ or "Required[" in str(annotations[name])
        }
        assert marked_required == without_default, typed_dict.__name__


def test_iterators_take_every_list_filter_but_the_page():
    # the iter_* methods set ``page`` themselves; a ``page`` key would collide with it
    assert keys(ListPageFilters) - keys(ListFilters) == {"page"}
    assert keys(ListFilters) == {"order", "orientation", "search"}


#: (public forwarder, name of its ``**`` parameter, the TypedDict it unpacks).
FORWARDERS = [
    (EmailBRHook.call, "request", RequestOptions),
    (EmailBRHook.acall, "request", RequestOptions),
    *(
        (hook.__init__, "options", HookOptions)
        for hook in (CriaEnvioHook, EmailManagerHook, EnvieEmailHook, IAgenteEmailHook, MailGridHook)
    ),
    (MailGridHook.send, "message", MailGridMessage),
    (MailGridHook.report, "filters", ReportFilters),
    (MailGridHook.report_body, "filters", ReportFilters),
    (MailGridHook.report_wall_clock, "query", WallClockReport),
    (MailGridHook.areport_wall_clock, "query", WallClockReport),
    (EnvieEmailHook.send, "message", EnvieMessage),
    (IAgenteEmailHook.list_contacts, "filters", ListPageFilters),
    (IAgenteEmailHook.list_groups, "filters", ListPageFilters),
    (IAgenteEmailHook.list_group_contacts, "filters", ListPageFilters),
    (IAgenteEmailHook.iter_contacts, "filters", ListFilters),
    (IAgenteEmailHook.iter_groups, "filters", ListFilters),
    (IAgenteEmailHook.iter_group_contacts, "filters", ListFilters),
]


@pytest.mark.parametrize(
    ("function", "parameter", "typed_dict"), FORWARDERS, ids=lambda value: getattr(value, "__qualname__", "")
)
def test_forwarded_keywords_are_typed_by_their_typed_dict(function, parameter, typed_dict):
    catch_all = inspect.signature(function).parameters[parameter]
    assert catch_all.kind is catch_all.VAR_KEYWORD
    # annotations are strings (``from __future__ import annotations``); the name must resolve to the class
    assert catch_all.annotation == f"Unpack[{typed_dict.__name__}]"
    module = sys.modules[function.__module__]
    resolved = getattr(module, typed_dict.__name__, None)
    if resolved is None:  # imported for type checkers only: it must come from the module defining it
        assert f"import {typed_dict.__name__}" in inspect.getsource(module)
    else:
        assert resolved is typed_dict
