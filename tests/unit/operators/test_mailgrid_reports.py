"""MailGridReportOperator: wire format, windows, boundaries, time zones, lag handling and output files.

Requests go to the recording server (exact bodies against ``mailgrid.txt``: ``POST report/`` or
``consolidate/`` with ``usuario_smtp``, ``senha_smtp``, ``dataini``, ``horaini``, ``datafim``, ``horafim``
and the optional ``status``, ``emaildestino``, ``remetente``, ``idMensagem``). The run against the sandbox
is in ``tests/sandbox_backed/operators/test_mailgrid_reports.py``.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime, timedelta, timezone

import pendulum
import pytest
from airflow.sdk.exceptions import TaskDeferred
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRConfigError, EmailBRInputError
from airflow_provider_emailbr.hooks.mailgrid import is_delivered
from airflow_provider_emailbr.operators.mailgrid import (
    REPORT_COLUMNS,
    MailGridReportOperator,
    RowSelector,
)
from airflow_provider_emailbr.utils.report_windows import plan_windows
from tests.conftest import Reply
from tests.unit.operators.hostile import (
    ANY_VALUE,
    SETTINGS,
    TEXT,
    WRONG,
    hostile_context,
    run_hostile,
)

UTC = timezone.utc
NY = pendulum.timezone("America/New_York")
SP = pendulum.timezone("America/Sao_Paulo")
CREDENTIALS = {"usuario_smtp": "user@mailgrid.example", "senha_smtp": "mgpass"}


@pytest.fixture
def mailgrid_conn(server, set_connection):
    """Point ``mailgrid_default`` at the recording server; ``tz`` sets the ``timezone`` extra."""

    def _set(tz: str | None = None) -> None:
        extra = {"smtp_host": "grid1.mailgrid.example", "max_retries": 0}
        if tz:
            extra["timezone"] = tz
        set_connection(
            "mailgrid_default",
            conn_type="mailgrid",
            host=f"{server.url}/mailgrid/api/",
            login="user@mailgrid.example",
            password="mgpass",
            extra=extra,
        )

    _set()
    return _set


def row(msgid: str, to: str, day: str, clock: str, status: str = "Entregue com sucesso") -> dict[str, str]:
    return {
        "msgid": msgid,
        "email_de": "loja@exemplo.com.br",
        "email_para": to,
        "data": day,
        "hora": clock,
        "status": status,
    }


def answer(*rows: dict[str, str]) -> Reply:
    return Reply(body={str(i): r for i, r in enumerate(rows)})


def report_op(**kwargs) -> MailGridReportOperator:
    kwargs.setdefault("task_id", "report")
    kwargs.setdefault("report_lag", timedelta(0))
    return MailGridReportOperator(**kwargs)


def dates_of(body: dict) -> tuple[str, str, str, str]:
    return body["dataini"], body["horaini"], body["datafim"], body["horafim"]


# ---------------------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("text", "delivered"),
    [
        ("Entregue com sucesso", True),
        ("ENTREGUE  COM SUCESSO ", True),
        ("Entregue", True),
        ("Falha na entrega", False),
        ("Em fila", False),
        ("", False),
        (None, False),
    ],
)
def test_delivered_texts(text, delivered):
    assert is_delivered(text) is delivered


def test_report_rows_are_read_by_the_hook_into_a_typed_row():
    """The reading of the vendor's row fields lives in the hook; dates may be DD/MM/YYYY or ISO."""
    from airflow_provider_emailbr.hooks.mailgrid import MailGridReportRow, parse_report_row

    raw = row("m1", "ana@exemplo.com.br", "02/11/2026", "09:05", "Caixa cheia")
    parsed = parse_report_row(raw, SP)
    assert parsed == MailGridReportRow(
        message_id="m1",
        sender="loja@exemplo.com.br",
        recipient="ana@exemplo.com.br",
        status="Caixa cheia",
        delivered=False,
        sent_at=datetime(2026, 11, 2, 12, 5, tzinfo=UTC),
    )
    assert parsed.raw == raw  # kept as received, for the normalised delivery events
    assert parse_report_row({**raw, "data": "2026-11-02"}, SP).sent_at == parsed.sent_at
    assert parse_report_row({**raw, "data": "31/02/2026"}, SP).sent_at is None
    assert parse_report_row({**raw, "hora": "9h05"}, SP).sent_at is None


# ---------------------------------------------------------------------------------------------- wire format


def test_detailed_report_body_with_every_filter(mailgrid_conn, server, tmp_path):
    op = report_op(
        start="2026-05-01T12:00:00+00:00",
        end="2026-05-01T13:30:00+00:00",
        status="delivered",
        recipient=" ana@exemplo.com.br ",
        sender="loja@exemplo.com.br",
        message_id="1htNLA-0007eW-SP",
        output_path=str(tmp_path / "r.csv"),
    )
    summary = op.execute({})
    (req,) = server.requests
    assert (req.method, req.path, req.query) == ("POST", "/mailgrid/api/report/", [])
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        **CREDENTIALS,
        "dataini": "2026-05-01",
        "horaini": "09:00",
        "datafim": "2026-05-01",
        "horafim": "10:30",
        "status": "sucesso",
        "emaildestino": "ana@exemplo.com.br",
        "remetente": "loja@exemplo.com.br",
        "idMensagem": "1htNLA-0007eW-SP",
    }
    assert summary["window"] == {
        "start": "2026-05-01T09:00:00-03:00",
        "end": "2026-05-01T10:30:00-03:00",
        "timezone": "America/Sao_Paulo",
        "sub_windows": 1,
    }


def test_consolidated_report_and_failed_filter(mailgrid_conn, server):
    report_op(start="2026-05-01", end="2026-05-02", status="failed", consolidated=True).execute({})
    (req,) = server.requests
    assert req.path == "/mailgrid/api/consolidate/"
    assert req.json == {
        **CREDENTIALS,
        "dataini": "2026-05-01",
        "horaini": "00:00",
        "datafim": "2026-05-02",
        "horafim": "00:00",
        "status": "erro",
    }


def test_data_interval_is_the_default_window(mailgrid_conn, server):
    context = {
        "data_interval_start": pendulum.datetime(2026, 5, 1, 3, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 5, 2, 3, tz="UTC"),
    }
    summary = report_op().execute(context)
    assert [dates_of(r.json) for r in server.requests] == [("2026-05-01", "00:00", "2026-05-02", "00:00")]
    assert summary["window"]["sub_windows"] == 1


def test_long_window_is_split_into_daily_queries(mailgrid_conn, server):
    report_op(start="2026-05-01", end="2026-05-03T12:00").execute({})
    assert [dates_of(r.json) for r in server.requests] == [
        ("2026-05-01", "00:00", "2026-05-02", "00:00"),
        ("2026-05-02", "00:00", "2026-05-03", "00:00"),
        ("2026-05-03", "00:00", "2026-05-03", "12:00"),
    ]


def test_connection_time_zone_converts_the_window_across_a_dst_change(mailgrid_conn, server):
    mailgrid_conn("America/New_York")
    summary = report_op(start="2026-11-01T00:00:00-04:00", end="2026-11-02T00:00:00-05:00").execute({})
    assert [dates_of(r.json) for r in server.requests] == [
        ("2026-11-01", "00:00", "2026-11-01", "02:00"),
        ("2026-11-01", "01:00", "2026-11-02", "00:00"),
    ]
    assert summary["window"]["start"] == "2026-11-01T00:00:00-04:00"
    assert summary["window"]["end"] == "2026-11-02T00:00:00-05:00"


# ---------------------------------------------------------------------------------------------- rows


def test_boundary_rows_are_reported_once(mailgrid_conn, server, tmp_path):
    # The vendor's minute ends overlap: both answers carry the rows of the shared minute 10:00.
    shared = [
        row("m-0959", "a@exemplo.com.br", "01/05/2026", "09:59:59"),
        row("m-1000", "b@exemplo.com.br", "01/05/2026", "10:00:00"),
        row("m-1000b", "c@exemplo.com.br", "01/05/2026", "10:00:30", "Falha na entrega"),
    ]
    server.reply(
        answer(row("m-0900", "z@exemplo.com.br", "01/05/2026", "09:00:00"), *shared),
        answer(*shared, row("m-1059", "d@exemplo.com.br", "01/05/2026", "10:59:59")),
    )
    out = tmp_path / "report.csv"
    summary = report_op(
        start="2026-05-01T09:00", end="2026-05-01T11:00", max_window=3600, output_path=str(out)
    ).execute({})
    assert [dates_of(r.json) for r in server.requests] == [
        ("2026-05-01", "09:00", "2026-05-01", "10:00"),
        ("2026-05-01", "10:00", "2026-05-01", "11:00"),
    ]
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["message_id"] for r in rows] == ["m-0900", "m-0959", "m-1000", "m-1000b", "m-1059"]
    assert rows[2] == {
        "message_id": "m-1000",
        "sender": "loja@exemplo.com.br",
        "recipient": "b@exemplo.com.br",
        "sent_at": "2026-05-01T10:00:00-03:00",
        "status": "Entregue com sucesso",
        "delivered": "True",
    }
    assert summary["rows"] == 5 and summary["delivered"] == 4 and summary["failed"] == 1
    assert summary["statuses"] == {"Entregue com sucesso": 4, "Falha na entrega": 1}
    assert summary["path"] == str(out) and summary["format"] == "csv" and summary["complete"] is True


def test_rows_in_the_repeated_hour_are_reported_once(mailgrid_conn, server, tmp_path):
    # New York falls back at 02:00 EDT: "01:30" happens twice and the vendor's answer cannot tell which.
    mailgrid_conn("America/New_York")
    ambiguous = row("m-0130", "a@exemplo.com.br", "01/11/2026", "01:30:00")
    before = row("m-0030", "b@exemplo.com.br", "01/11/2026", "00:30:00")
    after = row("m-0300", "c@exemplo.com.br", "01/11/2026", "03:00:00")
    server.reply(answer(before, ambiguous), answer(ambiguous, after))
    out = tmp_path / "report.jsonl"
    summary = report_op(
        start="2026-11-01T00:00:00-04:00", end="2026-11-02T00:00:00-05:00", output_path=str(out)
    ).execute({})
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["message_id"], r["sent_at"]) for r in rows] == [
        ("m-0030", "2026-11-01T00:30:00-04:00"),
        ("m-0130", "2026-11-01T01:30:00-04:00"),
        ("m-0300", "2026-11-01T03:00:00-05:00"),
    ]
    assert rows[0]["delivered"] is True and summary["rows"] == 3


def test_jsonl_output_unknown_status_and_return_rows(mailgrid_conn, server, tmp_path):
    server.reply(
        answer(
            row("m1", "ana@exemplo.com.br", "01/05/2026", "09:10:00"),
            row("m2", "=cmd@exemplo.com.br", "01/05/2026", "09:20:00", "Em fila"),
        )
    )
    out = tmp_path / "nested" / "report.out"
    summary = report_op(
        start="2026-05-01T09:00",
        end="2026-05-01T10:00",
        output_path=str(out),
        output_format="jsonl",
        return_rows=True,
    ).execute({})
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[1] == {
        "message_id": "m2",
        "sender": "loja@exemplo.com.br",
        "recipient": "=cmd@exemplo.com.br",
        "sent_at": "2026-05-01T09:20:00-03:00",
        "status": "Em fila",
        "delivered": False,
    }
    assert list(rows[0]) == list(REPORT_COLUMNS)
    assert summary["records"] == rows
    assert summary["delivered"] == 1 and summary["failed"] == 1 and summary["statuses"]["Em fila"] == 1


def test_object_storage_path_output(mailgrid_conn, server, tmp_path):
    from airflow.sdk import ObjectStoragePath

    server.reply(answer(row("m1", "ana@exemplo.com.br", "01/05/2026", "09:10:00")))
    target = ObjectStoragePath(f"file://{tmp_path}/bucket/report.jsonl")
    summary = report_op(start="2026-05-01T09:00", end="2026-05-01T10:00", output_path=target).execute({})
    assert summary["path"] == f"file://{tmp_path}/bucket/report.jsonl" and summary["format"] == "jsonl"
    rows = [json.loads(line) for line in (tmp_path / "bucket" / "report.jsonl").read_text().splitlines()]
    assert [r["message_id"] for r in rows] == ["m1"]


def test_csv_cells_are_neutralised(mailgrid_conn, server, tmp_path):
    server.reply(answer(row("m2", "=cmd@exemplo.com.br", "01/05/2026", "09:20:00")))
    out = tmp_path / "report.csv"
    report_op(start="2026-05-01T09:00", end="2026-05-01T10:00", output_path=str(out)).execute({})
    assert "'=cmd@exemplo.com.br" in out.read_text(encoding="utf-8")


def test_without_output_path_only_counts(mailgrid_conn, server):
    server.reply(answer(row("m1", "ana@exemplo.com.br", "01/05/2026", "09:10:00")))
    summary = report_op(start="2026-05-01T09:00", end="2026-05-01T10:00").execute({})
    assert summary["path"] is None and summary["format"] is None and summary["rows"] == 1
    assert "records" not in summary


def test_unreadable_row_times_are_kept_once(mailgrid_conn, server, tmp_path):
    odd = row("m-odd", "a@exemplo.com.br", "ontem", "??")
    server.reply(answer(odd), answer(odd))
    summary = report_op(
        start="2026-05-01T09:00", end="2026-05-01T11:00", max_window=3600, return_rows=True
    ).execute({})
    assert summary["rows"] == 1 and summary["records"][0]["sent_at"] is None


def test_rewrites_the_file_on_a_new_try(mailgrid_conn, server, tmp_path):
    out = tmp_path / "report.csv"
    out.write_text("stale\n", encoding="utf-8")
    report_op(start="2026-05-01T09:00", end="2026-05-01T10:00", output_path=str(out)).execute({})
    assert out.read_text(encoding="utf-8").splitlines() == [",".join(REPORT_COLUMNS)]


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"status": "sent"}, "status: 'sent' is not allowed; use delivered or failed"),
        ({"message_id": "x", "consolidated": True}, "message_id: 'x' cannot be used with consolidated"),
        ({"output_path": "report.xlsx"}, "output_format: cannot tell the format"),
        ({"output_format": "parquet"}, "output_format: 'parquet' is not supported"),
        ({"start": "ontem"}, "start: 'ontem' is not a date-time"),
        ({"end": "2026-05-01T08:00"}, r"end: .* must be after start"),
        (
            {"start": "2006-05-01T09:00"},  # twenty years of daily queries
            "start/end: .* would take more than 5,000 report queries of max_window=1 day, 0:00:00",
        ),
    ],
)
def test_invalid_input_is_refused_before_any_request(mailgrid_conn, server, kwargs, match):
    kwargs = {"start": "2026-05-01T09:00", "end": "2026-05-01T10:00", **kwargs}
    with pytest.raises(EmailBRInputError, match=match):
        report_op(**kwargs).execute({})
    assert server.requests == []


def test_empty_data_interval_says_how_to_get_one(mailgrid_conn, server):
    moment = pendulum.datetime(2026, 5, 1, tz="UTC")
    with pytest.raises(EmailBRInputError, match="data interval is empty.*CronTriggerTimetable"):
        report_op().execute({"data_interval_start": moment, "data_interval_end": moment})
    with pytest.raises(EmailBRInputError, match="no data interval"):
        report_op().execute({"data_interval_start": None, "data_interval_end": None})
    assert server.requests == []


def test_future_end_is_an_error(mailgrid_conn, server):
    end = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    with pytest.raises(EmailBRInputError, match="is in the future"):
        report_op(start="2026-05-01", end=end, wait_for_complete_window=False).execute({})
    assert server.requests == []


def test_invalid_time_zone_extra(mailgrid_conn, server):
    mailgrid_conn("America/Atlantida")
    with pytest.raises(EmailBRConfigError, match="'America/Atlantida' is not an IANA time zone"):
        report_op(start="2026-05-01", end="2026-05-02").execute({})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_window": 0}, "max_window"),
        ({"report_lag": -1}, "report_lag"),
        ({"max_window": "1d"}, "max_window"),
    ],
)
def test_constructor_checks_durations(kwargs, match):
    with pytest.raises(EmailBRInputError, match=match):
        MailGridReportOperator(task_id="r", **kwargs)


def test_constructor_touches_nothing(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_MAILGRID_DEFAULT", raising=False)
    op = MailGridReportOperator(task_id="r", mailgrid_conn_id="missing", output_path="s3://bucket/r.csv")
    assert op.mailgrid_conn_id == "missing" and "hook" not in op.__dict__


# ---------------------------------------------------------------------------------------------- lag


def test_recent_window_defers_until_complete(mailgrid_conn, server):
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    op = MailGridReportOperator(
        task_id="r", start=(end - timedelta(hours=1)).isoformat(), end=end.isoformat()
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert server.requests == []
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
    assert kwargs["moment"] == end + timedelta(minutes=10)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs == {
        "window_start": (end - timedelta(hours=1)).isoformat(),
        "window_end": end.isoformat(),
    }


def test_resume_uses_the_window_decided_before_deferring(mailgrid_conn, server):
    op = report_op(start="{{ never rendered }}", end="{{ never rendered }}")
    summary = op.execute_complete(
        {}, event=None, window_start="2026-05-01T12:00:00+00:00", window_end="2026-05-01T13:00:00+00:00"
    )
    assert dates_of(server.last.json) == ("2026-05-01", "09:00", "2026-05-01", "10:00")
    assert summary["complete"] is True


def test_recent_window_without_waiting_warns_and_reports(mailgrid_conn, server):
    end = datetime.now(UTC) - timedelta(minutes=1)
    summary = MailGridReportOperator(
        task_id="r",
        start=(end - timedelta(hours=1)).isoformat(),
        end=end.isoformat(),
        wait_for_complete_window=False,
    ).execute({})
    assert len(server.requests) == 1 and summary["complete"] is False


def test_not_deferrable_waits_in_the_worker(mailgrid_conn, server):
    end = datetime.now(UTC)
    summary = MailGridReportOperator(
        task_id="r",
        start=(end - timedelta(minutes=5)).isoformat(),
        end=end.isoformat(),
        report_lag=1.5,
        deferrable=False,
    ).execute({})
    assert time.time() >= end.timestamp() + 1.5
    assert len(server.requests) == 1 and summary["complete"] is True


def test_logs_mask_addresses_and_never_show_the_password(mailgrid_conn, server, log_records, capfd):
    server.reply(answer(row("m1", "ana@exemplo.com.br", "01/05/2026", "09:10:00")))
    summary = report_op(
        start="2026-05-01T09:00",
        end="2026-05-01T10:00",
        recipient="ana@exemplo.com.br",
        sender="loja@x.com.br",
    ).execute({})
    captured = capfd.readouterr()  # the operator's structlog output
    text = "\n".join([*(r.getMessage() for r in log_records), captured.out, captured.err])
    assert "recipient=a***@exemplo.com.br, sender=l***@x.com.br" in text
    assert "ana@exemplo.com.br" not in text and "mgpass" not in text
    assert "mgpass" not in json.dumps(summary)


# ------------------------------------------------------------------------------------------ hostile input
# (the property and strategies: tests/unit/operators/hostile.py)

INSTANT = st.one_of(
    TEXT,
    WRONG,
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.none() | st.just(UTC)
    ),
    st.sampled_from(["2025-01-01", "2025-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "01/02/2025"]),
)


@SETTINGS
@given(
    start=INSTANT,
    end=INSTANT,
    status=ANY_VALUE,
    recipient=ANY_VALUE,
    message_id=ANY_VALUE,
    fmt=st.one_of(st.none(), TEXT),
)
def test_report_operator_refuses_bad_windows_and_filters_before_any_request(
    conns, tmp_path, counter, start, end, status, recipient, message_id, fmt
):
    conns.default = Reply(body=[])
    op = MailGridReportOperator(
        task_id="op",
        start=start,
        end=end,
        status=status,
        recipient=recipient,
        message_id=message_id,
        output_path=str(tmp_path / f"out{next(counter)}.csv"),
        output_format=fmt,
        report_lag=0,
        deferrable=False,
        max_window=timedelta(days=3660),  # few windows: the property is about input, not splitting
    )
    run_hostile(conns, op, hostile_context(data_interval_start=None, data_interval_end=None))
    for request in conns.requests:
        body = request.json
        # the documented formats: aaaa-mm-dd and HH:MM
        datetime.strptime(f"{body['dataini']} {body['horaini']}", "%Y-%m-%d %H:%M")
        datetime.strptime(f"{body['datafim']} {body['horafim']}", "%Y-%m-%d %H:%M")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**20, -1, "1h", True, None])
def test_report_durations_that_are_not_usable_are_refused_at_construction(value):
    with pytest.raises(EmailBRInputError, match="max_window: "):
        MailGridReportOperator(task_id="op", start="2025-01-01", end="2025-01-02", max_window=value)


RAW_ROW = st.dictionaries(
    st.sampled_from(["msgid", "email_de", "email_para", "data", "hora", "status", "extra"]),
    st.one_of(
        ANY_VALUE,
        st.sampled_from(["31/12/2024", "2024-12-31", "23:59:59", "24:00", "Entregue", "99/99/9999"]),
    ),
    max_size=7,
)


@SETTINGS
@given(
    rows=st.lists(RAW_ROW, max_size=10),
    zone=st.sampled_from(["America/Sao_Paulo", "UTC", "America/New_York"]),
)
def test_row_selector_normalises_any_vendor_row_without_crashing(rows, zone):
    tz = pendulum.timezone(zone)
    start = datetime(2024, 12, 31, tzinfo=UTC)
    windows = list(plan_windows(start, start + timedelta(days=1), tz, timedelta(hours=6)))
    selector = RowSelector(tz)
    selected = [row for window in windows for row in selector.select(window, rows)]
    for row in selected:
        assert set(row) == {"message_id", "sender", "recipient", "sent_at", "status", "delivered"}
        assert all(isinstance(row[k], str) for k in ("message_id", "sender", "recipient", "status"))
        assert isinstance(row["delivered"], bool)
        if row["sent_at"] is not None:
            instant = datetime.fromisoformat(row["sent_at"])
            assert any(w.contains(instant) for w in windows)
    timed = [r for r in selected if r["sent_at"] is not None]
    assert len(timed) + selector.untimed == len(selected)
