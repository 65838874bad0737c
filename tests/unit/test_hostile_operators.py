"""Hostile input for the send, report and campaign operators: a clear error before any request, or a send.

Values are what templating can produce: wrong types (numbers, lists, dicts, ``None``), text with control
characters or lone surrogates, formula cells, very long strings — set directly and also rendered through a
DAG with ``render_template_as_native_obj=True``. The property: ``execute()`` either raises an
``EmailBRInputError`` and the recording server received nothing, or what it sent is well-formed; never a
``TypeError``/``KeyError``/``UnicodeEncodeError`` escaping.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_emailbr.exceptions import EmailBRError, EmailBRInputError
from airflow_provider_emailbr.operators.campaigns import (
    CriaEnvioCampaignControlOperator,
    CriaEnvioCreateCampaignOperator,
)
from airflow_provider_emailbr.operators.reports import MailGridReportOperator, RowSelector, plan_windows
from airflow_provider_emailbr.operators.send import (
    EmailManagerBatchSendOperator,
    EmailManagerSendEmailOperator,
    EnvieEmailSendOperator,
    MailGridSendEmailOperator,
)
from tests.conftest import Reply

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ANY_CHAR = st.characters(codec=None, categories=None)
UTC = timezone.utc

TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=20),
    st.sampled_from(["", "  ", "=1+1", "\ud800", "x" * 10_000, "ok", "<p>Olá 😀</p>", "a\x00b", "{{ x }}"]),
)
WRONG = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=2),
)
ADDRESS = st.one_of(
    st.sampled_from(
        [
            "ana@exemplo.com.br",
            "Bia <bia@exemplo.com.br>",
            "c@x.co",
            "sem-arroba",
            "a@b\nBcc: x@y.com",
            "\ud800@x.com",
            "a\x00@x.com",
            " ; ,",
            "a@x.com, b@x.com; c@x.com",
        ]
    ),
    TEXT,
)
RECIPIENTS = st.one_of(ADDRESS, WRONG, st.lists(st.one_of(ADDRESS, WRONG), max_size=4))
ANY_VALUE = st.one_of(TEXT, WRONG)


@dataclass
class FakeTI:
    try_number: int = 1
    dag_id: str = "hostile"
    task_id: str = "op"
    run_id: str = "manual__1"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def _context(**extra: Any) -> dict[str, Any]:
    return {"ti": FakeTI(), **extra}


@pytest.fixture
def conns(server, set_connection):
    """Every vendor's default connection points at the recording server (no retries, quick)."""
    extra = {"max_retries": 0, "from_email": "loja@exemplo.com.br", "from_name": "Loja"}
    set_connection(
        "mailgrid_default",
        conn_type="mailgrid",
        host=f"{server.url}/mailgrid/api/",
        login="user@mailgrid.example",
        password="mgpass",
        extra={**extra, "smtp_host": "grid1.mailgrid.example"},
    )
    set_connection(
        "envie_default", conn_type="envie", host=f"{server.url}/", login="pub", password="priv", extra=extra
    )
    set_connection(
        "emailmanager_default", conn_type="emailmanager", host=f"{server.url}/", password="tok", extra=extra
    )
    set_connection(
        "criaenvio_default", conn_type="criaenvio", host=f"{server.url}/v1/", password="ck", extra=extra
    )
    return server


@pytest.fixture
def counter():
    return itertools.count()


def _run(server, op, context=None):
    """Execute ``op``: only package errors may escape, and an input error leaves nothing written.

    Input checkable locally fails before any request; a value only the vendor can check (does list ``L9``
    exist?) may fail after reads, never after a write.
    """
    server.requests.clear()
    try:
        result = op.execute(context or _context())
    except EmailBRInputError as err:
        writes = [r for r in server.requests if r.method != "GET"]
        assert writes == [], f"{err} raised after {len(writes)} write(s)"
        assert str(err) and len(str(err)) < 20_000
        return err
    except EmailBRError:
        assert server.requests, "a non-input error before any request"
        return None
    return result


def _printable_addresses(values: list[str]) -> None:
    for value in values:
        assert "@" in value and value.isprintable(), value
        value.encode("utf-8")


# ------------------------------------------------------------------------------------------ sends


@SETTINGS
@given(to=RECIPIENTS, cc=st.one_of(st.none(), RECIPIENTS), subject=ANY_VALUE, html=ANY_VALUE, text=ANY_VALUE)
def test_mailgrid_send_validates_before_the_first_call(conns, tmp_path, counter, to, cc, subject, html, text):
    op = MailGridSendEmailOperator(
        task_id="op",
        to=to,
        cc=cc,
        subject=subject,
        html=html,
        text=text if html in (None, "") else None,
        results_path=str(tmp_path / f"r{next(counter)}.jsonl"),
    )
    _run(conns, op)
    for request in conns.requests:
        body = request.json
        assert request.path == "/mailgrid/api/send/"
        _printable_addresses(body["emailDestino"] + body.get("emailDestinoCopia", []))
        assert isinstance(body["assunto"], str) and body["assunto"].strip()
        assert isinstance(body["mensagem"], str) and body["mensagem"].strip()


@SETTINGS
@given(
    to=st.one_of(RECIPIENTS, st.lists(st.fixed_dictionaries({"email": ANY_VALUE, "name": ANY_VALUE}))),
    subject=ANY_VALUE,
    html=ANY_VALUE,
    text=ANY_VALUE,
)
def test_envie_send_validates_before_the_first_call(conns, tmp_path, counter, to, subject, html, text):
    conns.default = Reply(body={"status": "success", "message_id": 1})
    op = EnvieEmailSendOperator(
        task_id="op",
        to=to,
        subject=subject,
        html=html,
        text=text,
        results_path=str(tmp_path / f"r{next(counter)}.jsonl"),
        concurrency=1,
    )
    _run(conns, op)
    for request in conns.requests:
        body = request.json
        assert request.path == "/singlesending/create"
        _printable_addresses([body["to_email"]])
        assert all(isinstance(body[k], str) for k in ("subject", "body", "to_name", "from_email"))


MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "From": st.one_of(ADDRESS, WRONG),
        "To": RECIPIENTS,
        "Cc": RECIPIENTS,
        "Subject": ANY_VALUE,
        "HtmlBody": ANY_VALUE,
        "TextBody": ANY_VALUE,
        "Tag": ANY_VALUE,
        "Headers": st.one_of(WRONG, st.lists(st.fixed_dictionaries({"Name": ANY_VALUE, "Value": ANY_VALUE}))),
        "Attachments": st.one_of(
            WRONG, st.lists(st.dictionaries(st.sampled_from(["Name", "Content"]), TEXT))
        ),
        "Unknown": TEXT,
    },
)


@SETTINGS
@given(messages=st.one_of(WRONG, TEXT, st.lists(st.one_of(MESSAGE, WRONG), max_size=3)))
def test_emailmanager_batch_validates_every_message_first(conns, tmp_path, counter, messages):
    conns.default = Reply(body=[])
    if messages is None:
        with pytest.raises(EmailBRInputError, match="give exactly one of them"):
            EmailManagerBatchSendOperator(task_id="op", messages=messages)
        return
    op = EmailManagerBatchSendOperator(
        task_id="op", messages=messages, results_path=str(tmp_path / f"r{next(counter)}.jsonl")
    )
    _run(conns, op)
    for request in conns.requests:
        assert request.path == "/email/batch"
        for message in request.json:
            assert isinstance(message["Subject"], str) and message["Subject"].strip()
            for key in ("HtmlBody", "TextBody", "Tag", "From"):
                assert key not in message or isinstance(message[key], str), (key, message)
            for key in ("To", "Cc", "Bcc"):
                if key in message:
                    assert isinstance(message[key], str), (key, message)


@SETTINGS
@given(
    lines=st.lists(st.one_of(MESSAGE.map(lambda m: json.dumps(m, default=str)), TEXT), max_size=4),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff"]),
)
def test_emailmanager_batch_from_jsonl_bytes(conns, tmp_path, counter, lines, prefix):
    conns.default = Reply(body=[])
    source = tmp_path / f"m{next(counter)}.jsonl"
    source.write_bytes(prefix + "\n".join(lines).encode("utf-8", "surrogatepass"))
    op = EmailManagerBatchSendOperator(
        task_id="op", messages_path=str(source), results_path=str(tmp_path / f"r{next(counter)}.jsonl")
    )
    _run(conns, op)


@SETTINGS
@given(
    to=RECIPIENTS,
    subject=ANY_VALUE,
    html=ANY_VALUE,
    headers=st.one_of(WRONG, st.dictionaries(TEXT, ANY_VALUE)),
)
def test_emailmanager_single_send_validates_first(conns, tmp_path, counter, to, subject, html, headers):
    conns.default = Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "m1"})
    op = EmailManagerSendEmailOperator(
        task_id="op",
        to=to,
        subject=subject,
        html_body=html,
        headers=headers,
        results_path=str(tmp_path / f"r{next(counter)}.jsonl"),
    )
    _run(conns, op)
    for request in conns.requests:
        message = request.json
        assert isinstance(message["To"], str) and isinstance(message["Subject"], str)
        assert isinstance(message.get("Headers", []), list)


# ------------------------------------------------------------------------------------------ reports

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
    _run(conns, op, _context(data_interval_start=None, data_interval_end=None))
    for request in conns.requests:
        body = request.json
        datetime.strptime(f"{body['dataini']} {body['horaini']}", "%d/%m/%Y %H:%M")
        datetime.strptime(f"{body['datafim']} {body['horafim']}", "%d/%m/%Y %H:%M")


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


# ------------------------------------------------------------------------------------------ campaigns

LIST_IDS = st.one_of(TEXT, WRONG, st.lists(st.one_of(TEXT, WRONG), max_size=3))
START_AT = st.one_of(
    TEXT,
    WRONG,
    st.sampled_from(
        ["agora", "now", "2000-01-01T00:00:00", "2999-01-01T10:00:00-03:00", "9999-12-31T23:59:59-12:00"]
    ),
)


@SETTINGS
@given(
    subject=ANY_VALUE,
    html=ANY_VALUE,
    list_ids=LIST_IDS,
    name=ANY_VALUE,
    reply_to=ANY_VALUE,
    unsubscribe=ANY_VALUE,
    start_at=START_AT,
)
def test_create_campaign_refuses_bad_parameters_before_any_request(
    conns, subject, html, list_ids, name, reply_to, unsubscribe, start_at
):
    op = CriaEnvioCreateCampaignOperator(
        task_id="op",
        subject=subject,
        html=html,
        list_ids=list_ids if list_ids is not None else "L1",
        name=name,
        reply_to=reply_to,
        unsubscribe_message=unsubscribe,
        start_at=start_at,
    )
    _run(conns, op)
    assert all(r.method == "GET" for r in conns.requests)  # the default answer {} stops before any write


@SETTINGS
@given(campaign_id=ANY_VALUE, action=ANY_VALUE, resume_at=START_AT)
def test_campaign_control_refuses_bad_parameters_before_any_request(conns, campaign_id, action, resume_at):
    try:
        op = CriaEnvioCampaignControlOperator(
            task_id="op", campaign_id=campaign_id, action=action, resume_at=resume_at
        )
    except EmailBRInputError as err:
        assert str(err).startswith(("action: ", "resume_at: "))
        return
    _run(conns, op)
    for request in conns.requests:
        assert request.path.startswith("/v1/envios/")


# ------------------------------------------------------------------------------------------ native rendering


def _render(op, values: dict[str, Any]) -> None:
    """Render ``op``'s template fields the way a DAG with ``render_template_as_native_obj=True`` does."""
    op.render_template_fields(context=_context(**values), jinja_env=op.dag.get_template_env())


NATIVE_VALUES = st.one_of(
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["a@x.com", "5", "[1, 2]", "{'a': 1}", "None", "True", "", "agora", "2999-01-01"]),
    st.none(),
)


@SETTINGS
@given(v=NATIVE_VALUES)
def test_templates_that_render_to_the_wrong_type_give_a_clear_error(conns, tmp_path, counter, v):
    from airflow.sdk import DAG

    n = next(counter)
    with DAG(f"native{n}", schedule=None, render_template_as_native_obj=True):
        ops = [
            MailGridSendEmailOperator(
                task_id="mg",
                to="{{ v }}",
                subject="{{ v }}",
                html="<p>x</p>",
                results_path=str(tmp_path / f"mg{n}.jsonl"),
            ),
            EnvieEmailSendOperator(
                task_id="en",
                to="{{ v }}",
                subject="s",
                html="{{ v }}",
                results_path=str(tmp_path / f"en{n}.jsonl"),
            ),
            EmailManagerBatchSendOperator(
                task_id="eb", messages="{{ v }}", results_path=str(tmp_path / f"eb{n}.jsonl")
            ),
            CriaEnvioCreateCampaignOperator(
                task_id="cc", subject="{{ v }}", html="<p>x</p>", list_ids="{{ v }}", start_at="{{ v }}"
            ),
            MailGridReportOperator(
                task_id="rp",
                start="{{ v }}",
                end="2025-01-02",
                status="{{ v }}",
                deferrable=False,
                report_lag=0,
            ),
        ]
    conns.default = Reply(body=[])
    for op in ops:
        _render(op, {"v": v})
        _run(conns, op)
