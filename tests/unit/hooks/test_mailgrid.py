"""MailGrid hook: every documented endpoint's method, path, query, headers and body encoding.

Each case calls one hook method against the recording server on loopback and compares what crossed the
wire with the vendor's page (``shared/api-docs``).
"""

from __future__ import annotations

import base64

import pendulum
import pytest

from tests.conftest import Reply


def test_mailgrid_send_body(mailgrid, server):
    server.reply(
        Reply(
            body={
                "0": {
                    "status": "MSG ENVIADA",
                    "codigo": "200",
                    "id": "1rD",
                    "criptokey": "k",
                    "to": "a@x.com",
                },
                "1": {
                    "status": "MSG ENVIADA",
                    "codigo": "200",
                    "id": "1rE",
                    "criptokey": "k",
                    "to": "b@x.com",
                },
            }
        )
    )
    results = mailgrid.send(
        to=["a@x.com", "b@x.com"],
        subject="Teste",
        message="<p>Oi</p>",
        from_name="MailGrid",
        cc=["c@x.com"],
        bcc=["d@x.com"],
        alt_message="Oi",
        reply_to="r@x.com",
        attachments=[],
    )
    assert [r["id"] for r in results] == ["1rD", "1rE"]
    req = server.last
    assert (req.method, req.path, req.query) == ("POST", "/mailgrid/api/send/", [])
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "host_smtp": "grid1.mailgrid.example",
        "usuario_smtp": "user@mailgrid.example",
        "senha_smtp": "mgpass",
        "emailRemetente": "remetente@exemplo.com.br",
        "nomeRemetente": "MailGrid",
        "emailReply": "r@x.com",
        "emailDestino": ["a@x.com", "b@x.com"],
        "emailDestinoCopia": ["c@x.com"],
        "emailDestinoCopiaOculta": ["d@x.com"],
        "assunto": "Teste",
        "mensagem": "<p>Oi</p>",
        "mensagemAlt": "Oi",
        "mensagemTipo": "html",
        "mensagemEncoding": "base64",
    }


def test_mailgrid_attachments_are_keyed_file1_file2(mailgrid, server, tmp_path):
    img = tmp_path / "pixel.jpg"
    img.write_bytes(b"\xff\xd8\xff")
    server.reply(Reply(body={"0": {"status": "MSG ENVIADA", "codigo": "200", "id": "x", "to": "a@x.com"}}))
    mailgrid.send(to="a@x.com", subject="s", message="m", attachments=[img, img])
    anexos = server.last.json["mensagemAnexos"]
    assert anexos == {
        "file1": {
            "name": "pixel.jpg",
            "type": "image/jpeg",
            "content": base64.b64encode(b"\xff\xd8\xff").decode(),
        },
        "file2": {
            "name": "pixel.jpg",
            "type": "image/jpeg",
            "content": base64.b64encode(b"\xff\xd8\xff").decode(),
        },
    }


@pytest.mark.parametrize(("consolidated", "path"), [(False, "report/"), (True, "consolidate/")])
def test_mailgrid_report_body_uses_local_time(mailgrid, server, consolidated, path):
    server.reply(Reply(body={"1": {"msgid": "b"}, "0": {"msgid": "a"}}))
    rows = mailgrid.report(
        start=pendulum.datetime(2026, 2, 1, 3, 1, tz="UTC"),
        end=pendulum.datetime(2026, 8, 30, 3, 1, tz="UTC"),
        status="sucesso",
        recipient="a@x.com",
        sender="r@x.com",
        consolidated=consolidated,
    )
    assert [r["msgid"] for r in rows] == ["a", "b"]
    req = server.last
    assert (req.method, req.path) == ("POST", f"/mailgrid/api/{path}")
    assert req.json == {
        "usuario_smtp": "user@mailgrid.example",
        "senha_smtp": "mgpass",
        "dataini": "2026-02-01",
        "horaini": "00:01",
        "datafim": "2026-08-30",
        "horafim": "00:01",
        "status": "sucesso",
        "emaildestino": "a@x.com",
        "remetente": "r@x.com",
    }


def test_mailgrid_report_message_id_filter(mailgrid, server):
    server.reply(Reply(body={}))
    assert mailgrid.report(start="2026-01-01T00:00", end="2026-01-01T01:00", message_id="1htNLA") == []
    assert server.last.json["idMensagem"] == "1htNLA"


# ------------------------------------------------------------------ the 50 MB limit (issue 12, item 7)


def test_mailgrid_message_size_counts_the_encoded_body_and_attachments():
    """The doc: "O tamanho total da mensagem (incluindo anexos) não deve exceder 50 MB. Isso inclui a
    mensagem em si, os cabeçalhos e o tamanho combinado de quaisquer anexos." — as they travel, encoded."""
    from airflow_provider_emailbr.hooks.mailgrid import message_size

    html = "á" * 3000  # 6,000 UTF-8 bytes -> 8,000 base64 characters in 106 lines of ≤ 76 (+ CRLF each)
    attachment = base64.b64encode(b"x" * 570).decode()  # 760 characters -> 10 lines of 76
    body = {
        "assunto": "Olá",
        "mensagem": html,
        "mensagemEncoding": "base64",
        "mensagemAnexos": {"file1": {"name": "a.txt", "type": "text/plain", "content": attachment}},
    }
    assert message_size(body) == 4 + (8000 + 2 * 106) + (760 + 2 * 10)
    # quoted-printable: "=C3=A1" × 3000 = 18,000 characters plus 239 soft line breaks ("=\n")
    assert message_size({**body, "mensagemEncoding": "quoted-printable", "mensagemAnexos": {}}) == 4 + 18478


def test_mailgrid_a_body_under_50_mb_raw_but_over_it_encoded_is_refused_before_sending(mailgrid, server):
    from airflow_provider_emailbr.exceptions import EmailBRInputError

    html = "<p>" + "x" * (40 * 1024 * 1024) + "</p>"  # 40 MiB raw, ≈ 54 MiB once base64-encoded
    with pytest.raises(EmailBRInputError, match=r"exceeds MailGrid's limit of 52,428,800 bytes \(50 MB\)"):
        mailgrid.build_send_body(to=["a@exemplo.com.br"], subject="s", message=html)
    assert server.requests == []
