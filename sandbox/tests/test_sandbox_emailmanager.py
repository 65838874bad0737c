"""emailManager emulation against emailmanager.txt: token, JSON headers, ErrorCodes, batch, bounces."""

from __future__ import annotations

import base64
import json
from email import encoders
from email.mime.base import MIMEBase

import pytest
import requests

from emailbr_sandbox.constants import EMAILMANAGER_TOKEN

MESSAGE = {
    "From": '"Loja" <remetente@exemplo.com.br>',
    "To": "cliente@exemplo.com.br",
    "Subject": "Oi",
    "HtmlBody": "<b>Olá</b>",
    "TextBody": "Olá",
}


def test_send_success_shape(api, sb):
    answer = api.em(
        "POST",
        "email",
        {
            **MESSAGE,
            "Cc": "copia@exemplo.com.br",
            "Tag": "pedido",
            "Headers": [{"Name": "X-Pedido", "Value": "42"}],
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["ErrorCode"] == 0 and body["Message"] == "OK" and body["To"] == MESSAGE["To"]
    assert len(body["MessageID"].split("-")) == 4
    assert len(body["SubmittedAt"]) == 19 and body["SubmittedAt"][10] == "T"
    stored = sb.state("emailmanager")["messages"][-1]
    assert stored["MessageID"] == body["MessageID"]
    assert stored["Recipients"] == ["cliente@exemplo.com.br", "copia@exemplo.com.br"]


def test_token_is_checked_first_then_json_headers(api):
    bad = api.em("POST", "email", MESSAGE, headers={"X-Emailmanager-Server-Token": "wrong"})
    assert bad.status_code == 401 and bad.json()["ErrorCode"] == 0
    no_accept = api.http.post(
        api.urls["emailmanager"] + "email",
        json=MESSAGE,
        headers={"X-Emailmanager-Server-Token": "sandbox-emailmanager-token"},
    )
    assert no_accept.status_code == 422 and no_accept.json()["ErrorCode"] == 409
    form = api.em(
        "POST", "email", None, data="From=a", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 422 and form.json()["ErrorCode"] == 409


def test_invalid_and_incompatible_json(api):
    broken = api.em("POST", "email", None, data=b"{oops", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["ErrorCode"] == 402
    wrong_shape = api.em("POST", "email", [MESSAGE])
    assert wrong_shape.status_code == 422 and wrong_shape.json()["ErrorCode"] == 403


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"From": "desconhecido@exemplo.com.br"}, 400),
        ({"From": "Pendente <pendente@exemplo.com.br>"}, 401),
        ({"To": ", ".join(f"d{i}@exemplo.com.br" for i in range(21))}, 410),
        (
            {
                "To": "a@exemplo.com.br",
                "Cc": ";".join(f"c{i}@x.example" for i in range(10)),
                "Bcc": ",".join(f"b{i}@x.example" for i in range(10)),
            },
            410,
        ),
        ({"To": "alguem@inactive.example"}, 406),
        ({"Subject": ""}, 300),
        ({"HtmlBody": None, "TextBody": None}, 300),
        ({"To": "not an address"}, 300),
        ({"Attachments": [{"Name": "a.pdf", "Content": "%%%", "ContentType": "application/pdf"}]}, 300),
    ],
)
def test_send_refusals_are_422_with_error_codes(api, override, code):
    answer = api.em("POST", "email", {**MESSAGE, **override})
    assert answer.status_code == 422
    assert answer.json()["ErrorCode"] == code and answer.json()["Message"]


def test_twenty_recipients_separated_by_comma_or_semicolon_are_fine(api):
    to = "; ".join(f'"Nome {i}" <d{i}@exemplo.com.br>' for i in range(10))
    cc = ", ".join(f"c{i}@exemplo.com.br" for i in range(10))
    attachment = {
        "Name": "a.pdf",
        "Content": base64.b64encode(b"pdf").decode(),
        "ContentType": "application/pdf",
    }
    assert (
        api.em("POST", "email", {**MESSAGE, "To": to, "Cc": cc, "Attachments": [attachment]}).status_code
        == 200
    )


def test_batch_answers_one_entry_per_message(api):
    batch = [
        MESSAGE,
        {**MESSAGE, "From": "pendente@exemplo.com.br"},
        "not an object",
        {**MESSAGE, "To": "x@inactive.example"},
    ]
    answer = api.em("POST", "email/batch", batch)
    assert answer.status_code == 200
    codes = [entry["ErrorCode"] for entry in answer.json()]
    assert codes == [0, 401, 403, 406]
    assert "MessageID" in answer.json()[0] and "MessageID" not in answer.json()[1]


def test_batch_limit_is_500(api):
    assert len(api.em("POST", "email/batch", [MESSAGE] * 500).json()) == 500
    too_many = api.em("POST", "email/batch", [MESSAGE] * 501)
    assert too_many.status_code == 422 and too_many.json()["ErrorCode"] == 410
    assert api.em("POST", "email/batch", MESSAGE).json()["ErrorCode"] == 403


def test_bounces_deactivate_recipients_and_are_listed(api):
    sent = api.em("POST", "email", {**MESSAGE, "To": "sumiu@bounce.example"}).json()
    assert sent["ErrorCode"] == 0
    bounces = api.em("GET", "bounces", params={"count": 10, "offset": 0}).json()
    assert bounces["TotalCount"] == 1
    bounce = bounces["Bounces"][0]
    assert bounce["Email"] == "sumiu@bounce.example" and bounce["MessageID"] == sent["MessageID"]
    assert bounce["Type"] == "HardBounce" and bounce["Inactive"] is True
    assert api.em("POST", "email", {**MESSAGE, "To": "sumiu@bounce.example"}).json()["ErrorCode"] == 406
    stats = api.em("GET", "deliverystats").json()
    assert stats["InactiveMails"] == 1 and stats["Bounces"][0] == {"Name": "All", "Count": 1}
    assert api.em("GET", "bounces", params={"count": 10, "offset": 1}).json()["Bounces"] == []


@pytest.mark.parametrize(
    "params",
    [{}, {"count": 10}, {"count": 0, "offset": 0}, {"count": 501, "offset": 0}, {"count": "x", "offset": 0}],
)
def test_bounce_queries_need_count_and_offset(api, params):
    answer = api.em("GET", "bounces", params=params)
    assert answer.status_code == 422 and answer.json()["ErrorCode"] == 408


def test_reads_need_accept_but_not_content_type(api):
    answer = api.http.get(
        api.urls["emailmanager"] + "deliverystats",
        headers={"X-Emailmanager-Server-Token": "sandbox-emailmanager-token", "Accept": "application/json"},
    )
    assert answer.status_code == 200 and json.loads(answer.text)["InactiveMails"] == 0


def test_the_vendor_python_client_message_with_a_mime_attachment(api, sb):
    """emailManager's own Python client (``emailmanager/trans-python-v1``, ``PMMail.send``) posts
    ``json.dumps(to_json_message())`` with ``Accept`` and ``Content-Type: application/json``, the token header
    and its ``User-agent``; an attachment given as a ``MIMEBase`` goes out as ``get_payload()``: base64
    wrapped at 76 characters, line breaks included."""
    part = MIMEBase("application", "pdf")
    part.set_payload(bytes(range(256)) * 2)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename="boleto.pdf")
    content = part.get_payload()
    assert "\n" in content  # what makes the wrapped payload differ from plain base64
    message = {
        "From": MESSAGE["From"],
        "To": "cliente@exemplo.com.br",
        "Subject": "Boleto",
        "Cc": "financeiro@exemplo.com.br",
        "Tag": "boleto",
        "HtmlBody": "<p>Segue o boleto.</p>",
        "Headers": [{"Name": "X-Pedido", "Value": "42"}],
        "Attachments": [
            {"Name": part.get_filename(), "Content": content, "ContentType": part.get_content_type()}
        ],
    }
    answer = requests.post(
        sb.emailmanager_url + "email",
        data=json.dumps(message),
        headers={
            "Accept": "application/json",
            "Content-Type": "application/json",
            "X-Emailmanager-Server-Token": EMAILMANAGER_TOKEN,
            "User-agent": "Python/3_11_0 (python-emailmanager library version 0.3.1)",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["ErrorCode"] == 0
    stored = sb.state("emailmanager")["messages"][-1]
    assert stored["Attachments"] == [{"Name": "boleto.pdf", "ContentType": "application/pdf", "Size": 512}]

    broken = {**message["Attachments"][0], "Content": content.replace("\n", "!")}
    refused = api.em("POST", "email", {**message, "Attachments": [broken]})
    assert refused.status_code == 422 and refused.json()["ErrorCode"] == 300
