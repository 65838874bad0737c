"""envie.email's adapter: one call per recipient, HTML documents, the answer's status read."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.hooks.envie import html_document
from airflow_provider_emailbr.sending.addresses import Address
from airflow_provider_emailbr.sending.envie import EnvieAdapter, EnviePlan
from airflow_provider_emailbr.sending.model import SimpleEmail


@pytest.mark.parametrize(
    ("body", "document"),
    [
        ("<p>Oi</p>", "<html><body><p>Oi</p></body></html>"),
        ("<html><body><p>Oi</p></body></html>", "<html><body><p>Oi</p></body></html>"),
        (
            '<!DOCTYPE html><html lang="pt"><head></head><BODY>x</BODY></html>',
            '<!DOCTYPE html><html lang="pt"><head></head><BODY>x</BODY></html>',
        ),
        ("<body>x</body>", "<html><body>x</body></html>"),
        ("<html>x</html>", "<html><body>x</body></html>"),
        ("<html>x", "<html><body>x</body>"),
        ("<p>o <htmlx> e <bodyguard></p>", "<html><body><p>o <htmlx> e <bodyguard></p></body></html>"),
    ],
)
def test_html_document_wraps_once(body, document):
    """The doc: tracking needs the message "entre as devidas tags <html><body></body></html>"."""
    assert html_document(body) == document
    assert html_document(document) == document


def test_cc_and_bcc_become_individual_messages_in_the_one_shot_delivery(vendor_connection):
    hook = EnvieAdapter().hook(vendor_connection("envie"))
    email = SimpleEmail(
        to=['"Ana Silva" <ana@x.com>'], cc=["c@x.com"], bcc=["ANA@x.com", "b@x.com"], subject="s", text="t"
    )
    plan = EnvieAdapter().plan(hook, email)
    assert [i.key for i in plan.items] == ["ana@x.com", "c@x.com", "b@x.com"]  # each address once
    bodies = [plan.body(g) for g in plan.groups(plan.items)]
    assert [(b["to_email"], b["to_name"]) for b in bodies] == [
        ("ana@x.com", "Ana Silva"),
        ("c@x.com", "c"),
        ("b@x.com", "b"),
    ]
    assert EnvieAdapter().unsupported(email).keys() == {"cc", "bcc"}


def test_an_answer_that_is_not_the_documented_success_is_unknown():
    plan = EnviePlan({"subject": "s"}, [Address("a@x.com")])
    assert plan.read(plan.items, {"status": "success", "message_id": "7"}) == [
        {"to": "a@x.com", "message_id": "7", "status": "success", "outcome": "sent"}
    ]
    (record,) = plan.read(plan.items, {})
    assert (record["outcome"], record["error"]) == ("unknown", "envie.email's answer is not a success: {}")
