"""emailManager's adapter: messages of ≤ 20 recipients, stable keys, answers read by ErrorCode."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import EmailBRInputError
from airflow_provider_emailbr.sending.emailmanager import EmailManagerAdapter, EmailManagerPlan
from airflow_provider_emailbr.sending.model import SimpleEmail


@pytest.fixture
def hook(vendor_connection):
    return EmailManagerAdapter().hook(vendor_connection("emailmanager"))


def test_more_than_20_recipients_become_more_messages_with_the_copies_in_the_first(hook):
    to = [f"p{i:02d}@exemplo.com.br" for i in range(25)]
    email = SimpleEmail(to=to, cc=['"Chefe, A" <chefe@x.com>'], bcc=["aud@x.com"], subject="s", text="t")
    plan = EmailManagerAdapter().plan(hook, email)
    first, second = (plan.body(g) for g in plan.groups(plan.items))
    assert first["To"] == ", ".join(to[:18]) and first["Cc"] == '"Chefe, A" <chefe@x.com>'
    assert first["Bcc"] == "aud@x.com"
    assert second["To"] == ", ".join(to[18:]) and "Cc" not in second and "Bcc" not in second
    assert [len(i.recipients) for i in plan.items] == [20, 7]
    assert [i.key.split(":")[0] for i in plan.items] == ["0", "1"]


def test_keys_are_position_plus_content_hash_whatever_the_key_order():
    one = EmailManagerPlan([{"From": "a@x.com", "To": "b@x.com", "Subject": "s", "TextBody": "t"}])
    same = EmailManagerPlan([{"TextBody": "t", "Subject": "s", "To": "b@x.com", "From": "a@x.com"}])
    other = EmailManagerPlan([{"From": "a@x.com", "To": "b@x.com", "Subject": "s", "TextBody": "u"}])
    assert one.items[0].key == same.items[0].key != other.items[0].key
    assert one.items[0].key.startswith("0:") and one.items[0].slot == "0"


def test_answers_by_error_code_and_a_missing_code_is_unknown():
    plan = EmailManagerPlan([{"To": f"d{i}@x.com"} for i in range(3)], batch_size=500)
    records = plan.read(
        plan.items,
        [{"ErrorCode": 0, "MessageID": "m0"}, {"ErrorCode": 406, "Message": "Inactive recipient"}, {}],
    )
    assert [r["outcome"] for r in records] == ["sent", "refused", "unknown"]
    assert records[1]["error"] == "ErrorCode 406: Inactive recipient"
    assert plan.read(plan.items, [{"ErrorCode": 0}])[1:] == [
        {
            **plan.blank(plan.items[1]),
            "outcome": "unknown",
            "error": "emailManager's answer has no entry for it",
        },
        {
            **plan.blank(plan.items[2]),
            "outcome": "unknown",
            "error": "emailManager's answer has no entry for it",
        },
    ]


def test_copies_that_leave_no_room_for_a_to_recipient_are_refused_before_sending(hook):
    email = SimpleEmail(to=["a@x.com"], cc=[f"c{i}@x.com" for i in range(20)], subject="s", text="t")
    with pytest.raises(EmailBRInputError, match="20 copies leave no room for a To recipient"):
        EmailManagerAdapter().plan(hook, email)
