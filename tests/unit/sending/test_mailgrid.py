"""MailGrid's adapter: chunks of ≤ 100 To, copies once, answers matched by address or position."""

from __future__ import annotations

from airflow_provider_emailbr.sending.mailgrid import MailGridPlan

TEMPLATE = {
    "host_smtp": "grid",
    "emailRemetente": "loja@x.com",
    "assunto": "s",
    "mensagem": "m",
    "emailDestino": ["x"],
}


def addresses(n: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{i:03d}@exemplo.com.br" for i in range(n)]


def test_to_in_chunks_of_100_with_the_copies_on_the_first_call_only():
    plan = MailGridPlan(TEMPLATE, addresses(250), ["c@x.com"], ["b@x.com"])
    bodies = [plan.body(group) for group in plan.groups(plan.items)]
    assert [len(b["emailDestino"]) for b in bodies] == [100, 100, 50]
    assert (bodies[0]["emailDestinoCopia"], bodies[0]["emailDestinoCopiaOculta"]) == (
        ["c@x.com"],
        ["b@x.com"],
    )
    assert all("emailDestinoCopia" not in b and "emailDestinoCopiaOculta" not in b for b in bodies[1:])
    assert bodies[2]["emailDestino"] == addresses(250)[200:]
    assert {k: v for k, v in bodies[1].items() if k != "emailDestino"} == {
        k: v for k, v in TEMPLATE.items() if k != "emailDestino"
    }


def test_answers_are_matched_by_address_then_position_and_copies_follow_the_first_accepted():
    plan = MailGridPlan(TEMPLATE, ["a@x.com", "b@x.com", "c@x.com"], ["cc@x.com"], [])
    group = plan.items
    by_address = [
        {"to": "C@X.com", "codigo": "200", "status": "MSG ENVIADA", "id": "3"},
        {"to": "a@x.com", "codigo": "204", "status": "ERRO DE ENVIO", "id": None},
    ]
    records = plan.read(group, by_address)
    assert [(r["to"], r["outcome"], r["id"]) for r in records] == [
        ("a@x.com", "refused", None),
        ("b@x.com", "unknown", None),  # no row for it: it may have gone out
        ("c@x.com", "sent", "3"),
        ("cc@x.com", "sent", "3"),
    ]
    assert records[0]["error"] == "code 204: ERRO DE ENVIO"
    by_position = [{"codigo": "200", "id": "1"}, {"codigo": "200", "id": "2"}, {"codigo": "204", "id": None}]
    assert [r["outcome"] for r in plan.read(group, by_position)] == ["sent", "sent", "refused", "sent"]


def test_copies_are_refused_when_no_recipient_of_their_call_was_accepted():
    plan = MailGridPlan(TEMPLATE, ["a@x.com"], [], ["bcc@x.com"])
    records = plan.read(plan.items, [{"to": "a@x.com", "codigo": "204", "status": "ERRO"}])
    assert [(r["role"], r["outcome"]) for r in records] == [("to", "refused"), ("bcc", "refused")]
    assert records[1]["error"] == "no recipient of its call was accepted"
