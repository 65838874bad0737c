"""MailGrid emulation against mailgrid.txt: body credentials, codes inside HTTP 200, limits, reports."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from emailbr_sandbox.constants import MAILGRID_HOST, MAILGRID_PASSWORD, MAILGRID_USER

MESSAGE = {"emailRemetente": "loja@exemplo.com.br", "assunto": "Pedido", "mensagem": "<p>Oi</p>"}
WIDE = {"dataini": "2000-01-01", "horaini": "00:00", "datafim": "2100-12-31", "horafim": "23:59"}


def test_send_one_entry_per_recipient(api):
    answer = api.mailgrid("send/", {**MESSAGE, "emailDestino": ["a@exemplo.com.br", "b@bounce.example"]})
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["0", "1"]
    for index, address in enumerate(["a@exemplo.com.br", "b@bounce.example"]):
        entry = body[str(index)]
        assert entry["status"] == "MSG ENVIADA" and entry["codigo"] == "200" and entry["to"] == address
        assert len(entry["criptokey"]) == 32 and entry["id"]
    assert body["0"]["id"] != body["1"]["id"]


def test_the_vendor_examples_request_shape(sb):
    """MailGrid's examples (``mailgridbr/api-json``, ``python/envio.py`` and ``php/envio.php``) post a JSON
    text with a line break between members, ``Content-Type: application/json`` and a meaningless
    ``Authorization: Content-Type: application/json`` header, to ``…/api/send/``: accepted as is."""
    data = (
        f'{{"host_smtp": "{MAILGRID_HOST}","usuario_smtp": "{MAILGRID_USER}", "senha_smtp": '
        f'"{MAILGRID_PASSWORD}", "emailRemetente": "loja@exemplo.com.br", "nomeRemetente": "Loja",'
        '"emailDestino": ["postmaster@exemplo.com.br","dev@exemplo.com.br"], "assunto": "Teste de envio via '
        'API JSON",\n"mensagem": "mensagem de teste da API JSON"}\n'
    )
    headers = {"Authorization": "Content-Type: application/json", "Content-Type": "application/json"}
    answer = requests.post(sb.urls["mailgrid"] + "send/", headers=headers, data=data)
    assert answer.status_code == 200
    assert [(e["codigo"], e["to"]) for e in answer.json().values()] == [
        ("200", "postmaster@exemplo.com.br"),
        ("200", "dev@exemplo.com.br"),
    ]


def test_the_older_example_paths(api):
    """Older versions of the same examples post the send to the API root (``exemplo_envio_em_php.php``:
    ``https://painel.mailgrid.com.br/api/``) and the report to ``…/api/report.php`` (``python/relatorio.py``)."""
    sent = api.mailgrid("", {**MESSAGE, "emailDestino": ["antigo@exemplo.com.br"]}).json()
    assert (sent["0"]["codigo"], sent["0"]["to"]) == ("200", "antigo@exemplo.com.br")
    rows = api.mailgrid("report.php", WIDE, host=False).json()
    assert [row["email_para"] for row in rows.values()] == ["antigo@exemplo.com.br"]


def test_trailing_slash_is_optional(api):
    assert (
        api.mailgrid("send", {**MESSAGE, "emailDestino": ["a@exemplo.com.br"]}).json()["0"]["codigo"] == "200"
    )


@pytest.mark.parametrize(
    ("override", "code", "status"),
    [
        ({"senha_smtp": "errada"}, "207", "ERRO: FALHA DE AUTENTICACAO"),
        ({"usuario_smtp": "outro@mailgrid.example"}, "207", "ERRO: FALHA DE AUTENTICACAO"),
        ({"host_smtp": "grid0000.mailgrid.com.br"}, "230", None),
        ({"assunto": ""}, "208", "ERRO: FALTAM PARAMETROS"),
        ({"emailDestino": "a@exemplo.com.br"}, "227", None),
        ({"emailDestinoCopia": "a@exemplo.com.br"}, "228", None),
        ({"emailDestino": [f"d{i}@exemplo.com.br" for i in range(101)]}, "221", None),
        ({"emailDestinoCopiaOculta": [f"d{i}@exemplo.com.br" for i in range(101)]}, "223", None),
        ({"mensagemEncoding": "utf-7"}, "211", "ERRO: ENCODING INVALIDO"),
        ({"mensagemTipo": "rtf"}, "212", "ERRO: TIPO INVALIDO"),
        ({"mensagemAnexos": {"file1": {"name": "a.jpg"}}}, "208", "ERRO: FALTAM PARAMETROS"),
    ],
)
def test_send_refusals_are_codes_inside_http_200(api, override, code, status):
    answer = api.mailgrid("send/", {**MESSAGE, "emailDestino": ["a@exemplo.com.br"], **override})
    assert answer.status_code == 200
    body = answer.json()
    assert body["codigo"] == code
    if status:
        assert body["status"] == status


def test_missing_host_and_non_json_are_208(api):
    answer = api.mailgrid("send/", {**MESSAGE, "emailDestino": ["a@exemplo.com.br"]}, host=False)
    assert answer.json() == {"status": "ERRO: FALTAM PARAMETROS", "codigo": "208"}
    form = api.http.post(api.urls["mailgrid"] + "send/", data={"usuario_smtp": "x"})
    assert form.status_code == 200 and form.json()["codigo"] == "208"


def test_exactly_100_recipients_is_fine_and_size_limit_is_215(api, sb):
    answer = api.mailgrid("send/", {**MESSAGE, "emailDestino": [f"d{i}@exemplo.com.br" for i in range(100)]})
    assert len(answer.json()) == 100
    sb.config(mailgrid_max_message_bytes=2000)
    attachment = {"file1": {"name": "big.pdf", "type": "application/pdf", "content": "A" * 4000}}
    too_big = api.mailgrid(
        "send/", {**MESSAGE, "emailDestino": ["a@exemplo.com.br"], "mensagemAnexos": attachment}
    )
    assert too_big.json() == {"status": "ERRO: TAMANHO EXCEDIDO", "codigo": "215"}


def test_report_rows_filters_and_bounces(api):
    sent = api.mailgrid(
        "send/",
        {
            **MESSAGE,
            "emailDestino": ["a@exemplo.com.br", "b@bounce.example"],
            "emailDestinoCopia": ["c@exemplo.com.br"],
        },
    ).json()
    api.mailgrid(
        "send/", {**MESSAGE, "emailRemetente": "outro@exemplo.com.br", "emailDestino": ["d@exemplo.com.br"]}
    )
    report = api.mailgrid("report/", WIDE, host=False).json()
    assert list(report) == ["0", "1", "2", "3"]
    row = report["0"]
    assert set(row) == {"msgid", "email_de", "email_para", "data", "hora", "status"}
    assert datetime.strptime(row["data"], "%d/%m/%Y") and datetime.strptime(row["hora"], "%H:%M:%S")
    by_address = {r["email_para"]: r for r in report.values()}
    assert by_address["a@exemplo.com.br"]["status"] == "Entregue com sucesso"
    assert by_address["b@bounce.example"]["status"] == "Falha na entrega"
    assert by_address["c@exemplo.com.br"]["msgid"] == sent["0"]["id"]  # copies travel with the first message

    failed = api.mailgrid("report/", {**WIDE, "status": "erro"}, host=False).json()
    assert [r["email_para"] for r in failed.values()] == ["b@bounce.example"]
    ok = api.mailgrid("report/", {**WIDE, "status": "sucesso"}, host=False).json()
    assert len(ok) == 3
    by_id = api.mailgrid("report/", {**WIDE, "idMensagem": sent["1"]["id"]}, host=False).json()
    assert [r["email_para"] for r in by_id.values()] == ["b@bounce.example"]
    by_sender = api.mailgrid("consolidate/", {**WIDE, "remetente": "outro@exemplo.com.br"}, host=False).json()
    assert [r["email_para"] for r in by_sender.values()] == ["d@exemplo.com.br"]
    by_recipient = api.mailgrid("report/", {**WIDE, "emaildestino": "A@exemplo.com.br"}, host=False).json()
    assert len(by_recipient) == 1
    consolidated = api.mailgrid("consolidate/", WIDE, host=False).json()
    assert [r["msgid"] for r in consolidated.values()] == [r["msgid"] for r in report.values()]


def test_report_window_is_local_time_and_empty_is_braces(api, sb):
    api.mailgrid("send/", {**MESSAGE, "emailDestino": ["a@exemplo.com.br"]})
    now = datetime.fromisoformat(sb.clock()["now"]).replace(tzinfo=None)
    start, end = now - timedelta(minutes=2), now + timedelta(minutes=2)
    window = {
        "dataini": start.strftime("%Y-%m-%d"),
        "horaini": start.strftime("%H:%M"),
        "datafim": end.strftime("%Y-%m-%d"),
        "horafim": end.strftime("%H:%M"),
    }
    assert len(api.mailgrid("report/", window, host=False).json()) == 1
    later = {
        **window,
        "dataini": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        "datafim": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
    }
    assert api.mailgrid("report/", later, host=False).json() == {}


def test_report_lag_hides_recent_sends(api, sb):
    sb.config(report_lag_seconds=600)
    api.mailgrid("send/", {**MESSAGE, "emailDestino": ["a@exemplo.com.br"]})
    assert api.mailgrid("report/", WIDE, host=False).json() == {}
    sb.advance(601)
    assert len(api.mailgrid("report/", WIDE, host=False).json()) == 1


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"dataini": "01/02/2023"}, "210"),
        ({"datafim": "2023-02-30"}, "210"),
        ({"horaini": "7h"}, "211"),
        ({"horafim": "24:00"}, "211"),
        ({"horafim": None}, "208"),
        ({"senha_smtp": "x"}, "207"),
    ],
)
def test_report_refusals(api, override, code):
    body = {k: v for k, v in {**WIDE, **override}.items() if v is not None}
    answer = api.mailgrid("report/", body, host=False)
    assert answer.status_code == 200 and answer.json()["codigo"] == code
