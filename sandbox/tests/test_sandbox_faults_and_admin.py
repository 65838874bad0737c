"""Fault injection, rate limiting, the journal (with redaction) and the admin API."""

from __future__ import annotations

import json
import time

import pytest
import requests

from emailbr_sandbox import SandboxError
from emailbr_sandbox.constants import SECRET_VALUES


def test_status_burst_for_the_next_n_requests_of_one_vendor(api, sb):
    fault = sb.set_fault("status", vendor="criaenvio", status=503, count=2)
    assert fault["id"] and fault["count"] == 2
    statuses = [api.cria("GET", "remetentes").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert sb.faults() == []  # used up
    first = sb.requests("criaenvio")[0]
    assert first["status"] == 503 and first["fault"] == "status" and first["handled_status"] is None


def test_fault_bodies_use_each_vendor_envelope(api, sb):
    sb.set_fault("status", status=500)
    assert api.cria("GET", "remetentes").json()["error"]["code"] == "04-ERRO-INTERNO"
    assert api.iagente("group/list", {}).json()["status"] == "error"
    assert api.envie("GET", "lists/show").json()["status"] == "error"
    assert "ErrorCode" in api.em("GET", "deliverystats").json()
    assert api.mailgrid("report/", {}, host=False).json()["codigo"] == "500"


def test_429_with_retry_after_selected_by_path_and_method(api, sb):
    sb.set_fault("status", status=429, path="/contatos", method="POST", retry_after=3)
    assert api.cria("GET", "contatos").status_code == 200
    limited = api.cria("POST", "contatos", {"email": "a@exemplo.com.br"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert sb.state("criaenvio")["contacts"][-1]["email"] != "a@exemplo.com.br"  # not processed
    default_retry = sb.set_fault("status", status=429, vendor="envie", count=1)
    assert default_retry["retry_after"] == 1


def test_rate_based_faults_follow_the_seed(api, sb):
    def pattern():
        sb.reset()
        sb.set_fault("status", vendor="emailmanager", status=503, rate=0.5)
        return [api.em("GET", "deliverystats").status_code for _ in range(30)]

    first, second = pattern(), pattern()
    assert first == second
    assert 0 < first.count(503) < 30


def test_latency_fault_and_config_latency(api, sb):
    sb.set_fault("latency", vendor="iagente", latency_ms=300, count=1)
    started = time.perf_counter()
    assert api.iagente("group/list", {}).json()["status"] == "success"
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    api.iagente("group/list", {})
    assert time.perf_counter() - started < 0.25
    sb.config(latency_ms={"mailgrid": 200})
    started = time.perf_counter()
    api.mailgrid("report/", {}, host=False)
    assert time.perf_counter() - started >= 0.2


def test_response_slower_than_the_client_timeout_still_changes_state(api, sb, wait_for):
    sb.set_fault("latency", vendor="criaenvio", path="/contatos", latency_ms=1500, count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.cria("POST", "contatos", {"email": "lento@exemplo.com.br"}, timeout=0.3)
    emails = lambda: [c["email"] for c in sb.state("criaenvio")["contacts"]]  # noqa: E731
    wait_for(lambda: "lento@exemplo.com.br" in emails(), timeout=5)


def test_drop_after_processing_changes_state_but_gives_no_response(api, sb):
    sb.set_fault("drop", vendor="criaenvio", path="/contatos", method="POST", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.cria("POST", "contatos", {"email": "perdido@exemplo.com.br"}, timeout=5)
    assert "perdido@exemplo.com.br" in [c["email"] for c in sb.state("criaenvio")["contacts"]]
    entry = sb.requests("criaenvio", method="POST")[-1]
    assert entry["dropped"] is True and entry["status"] is None
    assert entry["handled_status"] == 200 and entry["fault"] == "drop"
    retry = api.cria("POST", "contatos", {"email": "perdido@exemplo.com.br"})
    assert retry.json()["error"]["message"] == "Já existe um contato com este email. Tente atualizá-lo."


def test_drop_before_processing_changes_nothing(api, sb):
    sb.set_fault("drop_before", vendor="mailgrid", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.mailgrid(
            "send/",
            {
                "emailRemetente": "a@exemplo.com.br",
                "emailDestino": ["b@exemplo.com.br"],
                "assunto": "x",
                "mensagem": "y",
            },
        )
    assert sb.state("mailgrid")["rows"] == []
    assert sb.requests("mailgrid")[-1]["handled_status"] is None


def test_rate_limit_per_vendor_with_retry_after(api, sb):
    sb.config(rate_limit={"emailmanager": 5})
    statuses = [api.em("GET", "deliverystats").status_code for _ in range(12)]
    assert 429 in statuses and statuses.count(200) >= 5
    limited = next(r for r in sb.requests("emailmanager") if r["status"] == 429)
    assert limited["fault"] == "rate_limit"
    assert api.iagente("group/list", {}).status_code == 200  # other vendors are not limited
    time.sleep(1.05)
    assert api.em("GET", "deliverystats").status_code == 200


def test_error_rate_gives_503(api, sb):
    sb.config(error_rate={"envie": 1.0})
    answer = api.envie("GET", "lists/show")
    assert answer.status_code == 503 and answer.json()["status"] == "error"
    assert sb.requests("envie")[-1]["fault"] == "error_rate"


def test_admin_is_never_journaled_nor_faulted(sb):
    sb.set_fault("status", status=500)
    sb.set_fault("drop")
    sb.set_fault("latency", latency_ms=5000)
    started = time.perf_counter()
    for _ in range(3):
        sb.state()
        sb.config()
        sb.requests()
    assert time.perf_counter() - started < 2
    assert sb.requests() == []


def test_journal_records_everything_with_secrets_redacted(api, sb):
    api.iagente("contact/create", {"email": "a@exemplo.com.br", "group_id": 1})
    api.iagente(
        "contact/mass/add",
        {"group_id": 1, "contacts[0][email]": "b@exemplo.com.br", "contacts[0][password]": "hunter2"},
    )
    api.envie("GET", "lists/show")
    api.cria("GET", "contatos", params={"email": "a"})
    api.mailgrid(
        "send/",
        {
            "emailRemetente": "a@exemplo.com.br",
            "emailDestino": ["b@exemplo.com.br"],
            "assunto": "x",
            "mensagem": "y",
        },
    )
    api.em(
        "POST",
        "email",
        {"From": "remetente@exemplo.com.br", "To": "x@exemplo.com.br", "Subject": "s", "TextBody": "t"},
    )
    api.http.post(api.urls["iagente"] + "group/list", headers={"IAGENTE-KEY": "other-secret-key-123"})
    entries = sb.requests()
    assert [e["vendor"] for e in entries] == [
        "iagente",
        "iagente",
        "envie",
        "criaenvio",
        "mailgrid",
        "emailmanager",
        "iagente",
    ]
    dump = json.dumps(entries)
    for secret in (*SECRET_VALUES, "hunter2", "other-secret-key-123"):
        assert secret not in dump
    by_vendor = {e["vendor"]: e for e in entries}
    assert by_vendor["criaenvio"]["query"] == {"chave": "***", "email": "a"}
    assert by_vendor["mailgrid"]["body"]["senha_smtp"] == "***"
    assert by_vendor["mailgrid"]["body"]["usuario_smtp"] == "sandbox@mailgrid.example"
    assert by_vendor["envie"]["headers"]["private-key"] == "***"
    assert by_vendor["emailmanager"]["headers"]["x-emailmanager-server-token"] == "***"
    assert entries[0]["headers"]["iagente-key"] == "***"
    assert entries[0]["body"] == {"email": "a@exemplo.com.br", "group_id": "1"}
    assert entries[1]["body"]["contacts[0][password]"] == "***"
    assert all(e["method"] and e["path"].startswith("/") and e["status"] == 200 for e in entries)

    assert [e["vendor"] for e in sb.requests("criaenvio")] == ["criaenvio"]
    assert len(sb.requests(limit=2)) == 2
    assert len(sb.requests(path="mass/add")) == 1
    assert sb.requests(since=entries[-1]["id"]) == []
    sb.clear_requests()
    assert sb.requests() == []


def test_truncated_bodies_are_still_redacted(api, sb):
    long_text = "x" * 40000
    api.mailgrid(
        "send/",
        {
            "emailRemetente": "a@exemplo.com.br",
            "emailDestino": ["b@exemplo.com.br"],
            "assunto": "x",
            "mensagem": long_text,
        },
    )
    entry = sb.requests("mailgrid")[-1]
    assert entry["body_truncated"] is True and isinstance(entry["body"], str)
    assert "sandbox-mailgrid-password" not in entry["body"]


def test_unknown_paths_are_journaled_as_404(api, sb):
    answer = api.http.get(api.urls["iagente"].replace("/iagente/v1/", "/nothing"))
    assert answer.status_code == 404
    assert sb.requests()[-1]["vendor"] is None


def test_reset_restores_seeded_state_and_settings(api, sb):
    api.iagente("group/create", {"name": "Temp"})
    sb.config(campaign_seconds=99, latency_ms=5)
    sb.set_fault("status", status=500, vendor="envie")
    sb.advance(100)
    before = sb.state()
    sb.reset()
    after = sb.state()
    assert (
        len(before["vendors"]["iagente"]["groups"]) == 2 and len(after["vendors"]["iagente"]["groups"]) == 1
    )
    assert after["config"]["campaign_seconds"] == 2.0 and after["config"]["latency_ms"] == {"*": 0.0}
    assert after["faults"] == [] and after["clock"]["offset_seconds"] == 0
    assert sb.requests() == []
    assert sb.state("criaenvio")["senders"] == before["vendors"]["criaenvio"]["senders"]  # same seeded ids


def test_admin_validation_errors(sb):
    with pytest.raises(SandboxError, match="kind must be one of"):
        sb.set_fault("explode")
    with pytest.raises(SandboxError, match="vendor must be one of"):
        sb.set_fault("status", vendor="gmail")
    with pytest.raises(SandboxError, match="rate must be"):
        sb.set_fault("status", rate=2)
    with pytest.raises(SandboxError, match="unknown setting"):
        sb.config(nope=1)
    with pytest.raises(SandboxError, match="error_rate"):
        sb.config(error_rate=3)
    with pytest.raises(SandboxError, match="only moves forward"):
        sb.advance(-1)
    with pytest.raises(SandboxError, match="--state-file"):
        sb.save()
    assert sb.faults() == []


def test_faults_can_be_listed_and_removed_individually(sb):
    first = sb.set_fault("status", vendor="envie", status=500)
    second = sb.add_faults(
        [{"kind": "latency", "latency_ms": 10}, {"kind": "drop", "vendor": "mailgrid", "count": 1}]
    )
    assert [f["id"] for f in sb.faults()] == [first["id"], *[f["id"] for f in second]]
    sb.remove_fault(first["id"])
    assert first["id"] not in [f["id"] for f in sb.faults()]
    with pytest.raises(SandboxError):
        sb.remove_fault(first["id"])
    sb.clear_faults()
    assert sb.faults() == []


def test_health_and_clock(sb):
    health = sb.health()
    assert health["status"] == "ok" and health["url"] == sb.url
    assert health["vendors"]["criaenvio"] == "/criaenvio/v1/"
    clock = sb.clock()
    assert clock["timezone"] == "America/Sao_Paulo" and clock["clock_speed"] == 1.0
    assert sb.advance(60)["offset_seconds"] == 60
