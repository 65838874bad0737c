"""emailManager hook: every documented endpoint's method, path, query, headers and body encoding.

Each case calls one hook method against the recording server on loopback and compares what crossed the
wire with the vendor's page (``shared/api-docs``).
"""

from __future__ import annotations

from tests.conftest import Reply


def test_emailmanager_single_send(emailmanager, server):
    server.reply(Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "nC7", "To": "d@x.com"}))
    message = emailmanager.build_message(
        to="d@x.com",
        subject="Teste",
        html_body="<b>Olá</b>",
        text_body="Olá",
        reply_to="retorno@x.com",
        tag="boas-vindas",
        headers={"X-Id": "1"},
    )
    answer = emailmanager.send_email(message)
    assert answer["MessageID"] == "nC7"
    req = server.last
    assert (req.method, req.path, req.query) == ("POST", "/emailmanager/email", [])
    assert req.headers["X-Emailmanager-Server-Token"] == "tok"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "From": "remetente@exemplo.com.br",
        "To": "d@x.com",
        "Subject": "Teste",
        "HtmlBody": "<b>Olá</b>",
        "TextBody": "Olá",
        "ReplyTo": "retorno@x.com",
        "Tag": "boas-vindas",
        "Headers": [{"Name": "X-Id", "Value": "1"}],
    }


def test_emailmanager_batch_and_reads(emailmanager, server):
    server.reply(
        Reply(body=[{"ErrorCode": 0, "MessageID": "1"}, {"ErrorCode": 406, "Message": "Inactive recipient"}]),
        Reply(body={"InactiveMails": 0}),
        Reply(body={"TotalCount": 0, "Bounces": []}),
    )
    messages = [
        {"From": "r@x.com", "To": "a@x.com", "Subject": "1", "HtmlBody": "<p>1</p>"},
        {"From": "r@x.com", "To": "b@x.com", "Subject": "2", "TextBody": "2"},
    ]
    results = emailmanager.send_batch(messages)
    assert [r["ErrorCode"] for r in results] == [0, 406]
    emailmanager.delivery_stats()
    emailmanager.bounces(count=10, offset=20)
    batch, stats, bounces = server.requests
    assert (batch.method, batch.path, batch.json) == ("POST", "/emailmanager/email/batch", messages)
    assert (stats.method, stats.path, stats.body) == ("GET", "/emailmanager/deliverystats", b"")
    assert (bounces.method, bounces.path, bounces.query) == (
        "GET",
        "/emailmanager/bounces",
        [("count", "10"), ("offset", "20")],
    )
    assert all(r.headers["X-Emailmanager-Server-Token"] == "tok" for r in server.requests)


# ------------------------------------------------------------------ addresses and names (issue 12, item 7)


def test_emailmanager_display_names_with_commas_stay_one_address(emailmanager, server):
    """The doc: 'From, To e ReplyTo também aceitam "Nome da Conta" <remetente@dominio.com.br>'."""
    server.reply(Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "m1"}))
    message = emailmanager.build_message(
        to='"Silva, Ana" <ana@exemplo.com.br>, bia@exemplo.com.br',
        cc=['"Souza; Caio" <caio@exemplo.com.br>'],
        subject="Pedido",
        text_body="Olá",
    )
    emailmanager.send_email(message)
    body = server.last.json
    assert body["To"] == '"Silva, Ana" <ana@exemplo.com.br>, bia@exemplo.com.br'
    assert body["Cc"] == '"Souza; Caio" <caio@exemplo.com.br>'


def test_emailmanager_non_ascii_default_sender_name_is_utf8_json_not_an_encoded_word(make_hook, server):
    """The doc's form ``"Atendimento" <contato@emailmanager.com>``, the name in UTF-8 JSON."""
    hook = make_hook(
        "emailmanager",
        extra={"from_email": "remetente@exemplo.com.br", "from_name": "Atendimento São João"},
    )
    server.reply(Reply(body={"ErrorCode": 0, "Message": "OK", "MessageID": "m1"}))
    hook.send_email(hook.build_message(to="d@x.com", subject="s", text_body="t"))
    raw = server.last.body.decode("utf-8")
    assert server.last.json["From"] == '"Atendimento São João" <remetente@exemplo.com.br>'
    assert "=?utf-8?" not in raw.lower()


def test_emailmanager_async_batch_sends_the_same_body_as_the_sync_one(emailmanager, server):
    import asyncio

    messages = [emailmanager.build_message(to=f"d{i}@x.com", subject="s", text_body="t") for i in range(2)]
    server.reply(
        Reply(body=[{"ErrorCode": 0}, {"ErrorCode": 0}]), Reply(body=[{"ErrorCode": 0}, {"ErrorCode": 0}])
    )
    emailmanager.send_batch(messages)
    answer = asyncio.run(emailmanager.asend_batch(messages))
    sync_request, async_request = server.requests
    assert answer == [{"ErrorCode": 0}, {"ErrorCode": 0}]
    assert (async_request.method, async_request.path) == ("POST", "/emailmanager/email/batch")
    assert async_request.json == sync_request.json == messages
