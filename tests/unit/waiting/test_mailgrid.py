"""waiting.mailgrid: the transport-free plan that finds MailGrid message ids in the detailed report."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum

from airflow_provider_emailbr.waiting.mailgrid import DeliveryLookup

SP = pendulum.timezone("America/Sao_Paulo")
UTC = timezone.utc
START = datetime(2026, 11, 20, 12, tzinfo=UTC)  # 09:00 in São Paulo
END = START + timedelta(hours=30)


def row(msgid: str, to: str, day: str, clock: str, status: str = "Entregue com sucesso") -> dict[str, str]:
    return {"msgid": msgid, "email_de": "loja@exemplo.com.br", "email_para": to, "data": day, "hora": clock,
            "status": status}  # fmt: skip


def test_few_ids_are_queried_one_by_one_and_a_found_id_is_not_asked_again():
    lookup = DeliveryLookup(["m1", "m2"], START, END, SP, per_id_query_limit=2, max_window=timedelta(days=1))
    asked = []
    for query in lookup.queries():
        asked.append((query.message_id, query.arguments()["wall_start"], query.arguments()["wall_end"]))
        if query.message_id == "m1":
            lookup.record(query, [row("m1", "ana@exemplo.com.br", "20/11/2026", "10:15:00")])
        else:
            lookup.record(query, [])
    # one window (no max_window for per-id queries): m1 once, m2 once; nothing more
    assert asked == [
        ("m1", datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 21, 15, 0)),
        ("m2", datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 21, 15, 0)),
    ]
    assert lookup.found == {
        "m1": {
            "status": "Entregue com sucesso",
            "delivered": True,
            "recipient": "ana@exemplo.com.br",
            "sent_at": "2026-11-20T10:15:00-03:00",
        }
    }


def test_many_ids_scan_the_window_in_sub_windows_and_keep_only_rows_inside_each():
    lookup = DeliveryLookup(
        ["a", "b", "c"], START, END, SP, per_id_query_limit=2, max_window=timedelta(days=1)
    )
    queries = list(lookup.queries())
    assert [q.message_id for q in queries] == [None, None]
    assert [(q.arguments()["wall_start"], q.arguments()["wall_end"]) for q in queries] == [
        (datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 21, 9, 0)),
        (datetime(2026, 11, 21, 9, 0), datetime(2026, 11, 21, 15, 0)),
    ]
    first, second = queries
    lookup.record(
        first,
        [
            row("a", "ana@exemplo.com.br", "20/11/2026", "09:30:00"),
            row("a", "copia@exemplo.com.br", "20/11/2026", "09:30:00", "Caixa cheia"),  # a Cc copy: not kept
            row(
                "b", "bob@exemplo.com.br", "21/11/2026", "09:00:00"
            ),  # the next window's row (minute overlap)
            row("x", "outro@exemplo.com.br", "20/11/2026", "11:00:00"),  # not wanted
        ],
    )
    assert list(lookup.found) == ["a"] and lookup.found["a"]["recipient"] == "ana@exemplo.com.br"
    lookup.record(second, [row("b", "bob@exemplo.com.br", "21/11/2026", "09:00:00", "Caixa cheia")])
    assert lookup.found["b"] == {
        "status": "Caixa cheia",
        "delivered": False,
        "recipient": "bob@exemplo.com.br",
        "sent_at": "2026-11-21T09:00:00-03:00",
    }
