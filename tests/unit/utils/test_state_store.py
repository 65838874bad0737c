"""The provider's one door to Airflow 3.3's task state store: namespaced, versioned envelopes, fail-closed."""

from __future__ import annotations

import json

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


def test_chunked_log_rewrites_only_its_last_chunk_and_a_new_writer_starts_the_next():
    from airflow_provider_emailbr.utils.state_store import ChunkedLog

    store = FakeTaskStateStore()
    state = TaskState(store, namespace="send")
    first = ChunkedLog(state, "log", kind="test-log", max_chars=200)
    first.append([{"n": i} for i in range(3)])
    first.append([{"n": i} for i in range(3, 6)])
    assert sorted(store.values) == ["emailbr.send.log.0"]  # the same chunk, rewritten with more entries
    first.append([{"n": i} for i in range(6, 20)])  # overflows: the next chunks, never a gap
    chunks = sorted(store.values, key=lambda k: int(k.rsplit(".", 1)[1]))
    assert chunks == [f"emailbr.send.log.{n}" for n in range(len(chunks))] and len(chunks) > 1
    assert all(len(value) <= 200 + 64 for value in store.values.values())
    frozen = dict(store.values)

    second = ChunkedLog(state, "log", kind="test-log", max_chars=200)  # a retry on another worker
    assert second.read() == [{"n": i} for i in range(20)]
    second.append([{"n": 20}])
    assert all(store.values[key] == value for key, value in frozen.items())  # earlier chunks untouched
    assert ChunkedLog(state, "log", kind="test-log").read()[-1] == {"n": 20}


def test_chunked_log_refuses_an_entry_larger_than_a_chunk_and_a_misnumbered_chunk():
    from airflow_provider_emailbr.utils.state_store import ChunkedLog

    store = FakeTaskStateStore()
    log = ChunkedLog(TaskState(store, namespace="send"), "log", kind="test-log", max_chars=100)
    with pytest.raises(EmailBRStateStoreError, match="exceeds the chunk bound"):
        log.append([{"text": "x" * 200}])
    assert store.writes == 0
    store.values["emailbr.send.log.0"] = json.dumps(
        {"emailbr": "test-log", "v": 1, "data": {"n": 1, "entries": []}}
    )
    with pytest.raises(EmailBRStateCorruptError, match="is not chunk 0"):
        log.read()
