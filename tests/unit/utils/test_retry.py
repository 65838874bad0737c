"""utils.retry: the one transient-error rule, and the retry decision built on it."""

from __future__ import annotations

import pytest

from airflow_provider_emailbr.exceptions import (
    EmailBRAuthError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRRateLimitError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.utils.retry import RetryPolicy, is_transient


def api(cls: type, status: int | None) -> Exception:
    return cls(platform="MailGrid", endpoint="report/", status=status)


def transport(*, sent: bool, permanent: bool) -> EmailBRTransportError:
    return EmailBRTransportError(
        "x", platform="MailGrid", endpoint="report/", request_sent=sent, permanent=permanent
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (api(EmailBRRateLimitError, 429), True),
        (api(EmailBRServerError, 500), True),
        (api(EmailBRServerError, 503), True),
        (api(EmailBRServerError, 200), True),  # a vendor failure code inside HTTP 200 (MailGrid 204)
        (transport(sent=False, permanent=False), True),
        (transport(sent=True, permanent=False), True),
        (transport(sent=False, permanent=True), False),  # a failed TLS handshake
        (api(EmailBRAuthError, 401), False),
        (api(EmailBRNotFoundError, 404), False),
        (api(EmailBRResponseError, 200), False),
        (EmailBRInputError("to: bad"), False),
        (ValueError("boom"), False),
    ],
)
def test_is_transient(error, transient):
    assert is_transient(error) is transient


def test_the_retry_decision_never_retries_what_is_not_transient():
    policy = RetryPolicy()
    permanent = transport(sent=False, permanent=True)
    assert policy.retry_reason(permanent, idempotent=True) is None
    assert policy.retry_reason(transport(sent=False, permanent=False), idempotent=False) == (
        "connection failed before the request was sent"
    )
    assert policy.retry_reason(transport(sent=True, permanent=False), idempotent=False) is None
    assert policy.retry_reason(transport(sent=True, permanent=False), idempotent=True) == (
        "answer lost on an idempotent call"
    )
    assert policy.retry_reason(api(EmailBRServerError, 500), idempotent=False) is None
    assert (
        policy.retry_reason(api(EmailBRServerError, 503), idempotent=False)
        == "service unavailable (HTTP 503)"
    )


def test_wait_seconds_caps_retry_after_and_never_goes_negative():
    policy = RetryPolicy(max_retry_after=10.0)
    limited = EmailBRRateLimitError(platform="CriaEnvio", endpoint="envios", status=429, retry_after=-3.0)
    assert policy.wait_seconds(limited, 1) == 0.0
    limited.retry_after = 30.0
    assert policy.wait_seconds(limited, 1) == 10.0
