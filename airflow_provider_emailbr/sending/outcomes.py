"""The one outcome classifier: what a failed send call means for the items it carried.

Every sender (the operators' engine, the notifiers, the e-mail backend) asks :func:`classify`, so the same
failure never means "may have been delivered" in one place and "certainly not sent" in another:

============================================================  =========  ==================================
failure of the whole call                                     outcome    the rest of the send
============================================================  =========  ==================================
connection refused / never opened (after the core's retries)  refused    stops (platform unreachable)
HTTP 429, 503 (after the core's retries; vendor's own list)   refused    stops (platform unavailable)
HTTP 500 and other 5xx                                        unknown    stops
2xx answer that cannot be read                                unknown    stops
connection dropped / timeout after the request went out       unknown    stops
authentication refused                                        refused    stops (not_sent for the rest)
unusable connection (configuration)                           refused    stops
documented vendor refusal (4xx, error envelope)               refused    continues
anything unexpected                                           unknown    stops
============================================================  =========  ==================================
"""

from __future__ import annotations

from typing import NamedTuple

from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRError,
    EmailBRResponseError,
    EmailBRTransportError,
)
from airflow_provider_emailbr.sending.model import REFUSED, UNKNOWN
from airflow_provider_emailbr.utils.retry import NOT_PROCESSED_STATUSES


class Verdict(NamedTuple):
    """The outcome of every item of a failed call, and why sending more should stop (``None``: go on)."""

    outcome: str
    stop: str | None


def classify(
    err: BaseException, *, not_processed_statuses: frozenset[int] = NOT_PROCESSED_STATUSES
) -> Verdict:
    """The :class:`Verdict` for a whole send call that failed with ``err``.

    ``not_processed_statuses`` are the HTTP statuses after which the vendor certainly did not process the
    call (429 and 503 everywhere; emailManager documents 500 the same way).
    """
    if isinstance(err, EmailBRTransportError):
        if err.request_sent:
            return Verdict(UNKNOWN, "the answer to a send was lost")
        return Verdict(REFUSED, "the platform could not be reached")
    status = getattr(err, "status", None)
    if isinstance(err, EmailBRApiError) and status in not_processed_statuses:
        return Verdict(REFUSED, f"the platform stayed unavailable (HTTP {status})")
    if isinstance(err, EmailBRApiError) and status is not None and status >= 500:
        return Verdict(UNKNOWN, f"the platform failed while processing a send (HTTP {status})")
    if isinstance(err, EmailBRResponseError) and (status is None or status < 300):
        return Verdict(UNKNOWN, "the platform's answer to a send could not be read")
    if isinstance(err, EmailBRAuthError):
        return Verdict(REFUSED, "the platform refused the credentials")
    if isinstance(err, EmailBRConfigError):
        return Verdict(REFUSED, "the connection is not usable")
    if isinstance(err, EmailBRError):
        return Verdict(REFUSED, None)
    return Verdict(UNKNOWN, f"unexpected {type(err).__name__} while sending")
