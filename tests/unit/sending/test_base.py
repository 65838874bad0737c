"""The vendor adapters: each names its vendor once and builds its vendor's hook."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.hooks.emailmanager import EmailManagerHook
from airflow_provider_emailbr.hooks.envie import EnvieEmailHook
from airflow_provider_emailbr.hooks.mailgrid import MailGridHook
from airflow_provider_emailbr.operators.emailmanager import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
)
from airflow_provider_emailbr.operators.envie import EnvieEmailSendOperator
from airflow_provider_emailbr.operators.mailgrid import MailGridSendEmailOperator
from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter, EmailManagerPlan
from airflow_provider_emailbr.sending.envie import EnvieAdapter, EnviePlan
from airflow_provider_emailbr.sending.mailgrid import MailGridAdapter, MailGridPlan

VENDORS = [
    (MailGridAdapter, MailGridHook, MailGridPlan, [MailGridSendEmailOperator]),
    (
        EmailManagerAdapter,
        EmailManagerHook,
        EmailManagerPlan,
        [EmailManagerSendEmailOperator, EmailManagerBatchSendOperator],
    ),
    (EnvieAdapter, EnvieEmailHook, EnviePlan, [EnvieEmailSendOperator]),
]


@pytest.mark.parametrize(("adapter", "hook_type", "plan_type", "operators"), VENDORS)
def test_the_adapter_plan_operators_and_hook_name_the_same_vendor(adapter, hook_type, plan_type, operators):
    assert adapter.name == hook_type.platform == plan_type.vendor
    assert {operator.platform for operator in operators} == {adapter.name}
    assert adapter.conn_type == hook_type.conn_type
    assert adapter.default_conn_id == hook_type.default_conn_name


@pytest.mark.parametrize(("adapter", "hook_type", "plan_type", "operators"), VENDORS)
def test_the_adapter_builds_its_vendors_hook_for_the_connection_given_or_the_default(
    adapter, hook_type, plan_type, operators
):
    given = adapter().hook("my_conn")
    default = adapter().hook(None)
    assert type(given) is hook_type and type(default) is hook_type
    assert getattr(given, hook_type.conn_name_attr) == "my_conn"
    assert getattr(default, hook_type.conn_name_attr) == adapter.default_conn_id
