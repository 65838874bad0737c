"""The one classifier: which failures mean "certainly not sent", which "may have been delivered"."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRRateLimitError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
    EmailBRValidationError,
)
from airflow_provider_emailbr.sending.outcomes import Verdict, classify


def api(cls, status):
    return cls(platform="MailGrid", endpoint="send/", status=status)


def transport(request_sent):
    return EmailBRTransportError("x", platform="MailGrid", endpoint="send/", request_sent=request_sent)


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (transport(False), Verdict("refused", "the platform could not be reached")),
        (transport(True), Verdict("unknown", "the answer to a send was lost")),
        (api(EmailBRRateLimitError, 429), Verdict("refused", "the platform stayed unavailable (HTTP 429)")),
        (api(EmailBRServerError, 503), Verdict("refused", "the platform stayed unavailable (HTTP 503)")),
        (
            api(EmailBRServerError, 500),
            Verdict("unknown", "the platform failed while processing a send (HTTP 500)"),
        ),
        (
            api(EmailBRServerError, 502),
            Verdict("unknown", "the platform failed while processing a send (HTTP 502)"),
        ),
        (
            api(EmailBRResponseError, 200),
            Verdict("unknown", "the platform's answer to a send could not be read"),
        ),
        (api(EmailBRAuthError, 401), Verdict("refused", "the platform refused the credentials")),
        (EmailBRConfigError("no smtp_host"), Verdict("refused", "the connection is not usable")),
        (api(EmailBRValidationError, 422), Verdict("refused", None)),
        (RuntimeError("bug"), Verdict("unknown", "unexpected RuntimeError while sending")),
    ],
)
def test_classify(err, expected):
    assert classify(err) == expected


def test_a_vendor_may_document_500_as_not_processed():
    """emailManager: 500 "o mesmo não finalizado ... você deve tentar efetuar um novo envio"."""
    verdict = classify(api(EmailBRServerError, 500), not_processed_statuses=frozenset({429, 500, 503}))
    assert verdict == Verdict("refused", "the platform stayed unavailable (HTTP 500)")
