"""The provider's one door to Airflow 3.3's task state store: namespaced, versioned envelopes, fail-closed."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRStateCorruptError, EmailBRStateStoreError
from airflow_provider_emailbr.utils.state_store import TaskState
from tests.helpers import FakeTaskStateStore, context


def test_absent_store_means_no_durable_state_as_on_airflow_3_2() -> None:
    assert TaskState.from_context(context(), namespace="send") is None


def test_durable_off_means_no_durable_state_even_with_a_store() -> None:
    store = FakeTaskStateStore()
    assert TaskState.from_context(context(task_state_store=store), namespace="send", durable=False) is None


def test_round_trip_in_a_namespaced_versioned_envelope() -> None:
    store = FakeTaskStateStore()
    state = TaskState.from_context(context(task_state_store=store), namespace="campaign")
    assert state is not None
    assert state.get("ids", kind="campaign-ids") is None
    state.set("ids", {"message_id": 7}, kind="campaign-ids")
    assert state.get("ids", kind="campaign-ids") == {"message_id": 7}
    assert list(store.values) == ["emailbr.campaign.ids"]
    assert store.get("emailbr.campaign.ids") == {"emailbr": "campaign-ids", "v": 1, "data": {"message_id": 7}}


@pytest.mark.parametrize(
    "foreign",
    [
        "a string",
        {"job_id": "x"},
        {"emailbr": "send-ledger", "v": 1, "data": {}},
        {"emailbr": "campaign-ids", "v": 2, "data": {}},
        {"emailbr": "campaign-ids", "v": 1},
    ],
)
def test_foreign_or_corrupt_entry_is_an_error_naming_the_key(foreign: object) -> None:
    store = FakeTaskStateStore()
    store.set("emailbr.campaign.ids", foreign)
    state = TaskState(store, namespace="campaign")
    with pytest.raises(EmailBRStateCorruptError, match=r"'emailbr\.campaign\.ids' is not a 'campaign-ids'"):
        state.get("ids", kind="campaign-ids")


@pytest.mark.parametrize("operation", ["get", "set", "delete"])
def test_unreachable_store_is_never_read_as_empty(operation: str) -> None:
    state = TaskState(FakeTaskStateStore(fail_on=(operation,)), namespace="send")
    with pytest.raises(EmailBRStateStoreError, match="task state store could not"):
        if operation == "get":
            state.get("k", kind="x")
        elif operation == "set":
            state.set("k", 1, kind="x")
        else:
            state.delete("k")
