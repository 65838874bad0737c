"""One exception hierarchy for the five platforms.

Every error raised by a hook carries the platform, the endpoint (a path, never a full URL with its query
string), the HTTP status, the vendor's own code and message, so a failed task says exactly what the vendor
answered. None of them ever contains a key, token or password.

::

    EmailBRError
    ├── EmailBRConfigError        the Airflow connection is incomplete or invalid
    ├── EmailBRInputError         bad input detected before any request was sent (also a ValueError)
    ├── EmailBRTransportError     no usable answer: refused, timed out, dropped
    ├── EmailBRSendError          some recipients or messages were not confirmed sent (names them)
    └── EmailBRApiError           the vendor answered with an error (also inside an HTTP 200)
        ├── EmailBRAuthError          wrong or missing credentials, or the account may not do this
        ├── EmailBRValidationError    the vendor refused the request's content
        ├── EmailBRNotFoundError      the object or endpoint does not exist
        ├── EmailBRRateLimitError     too many requests (carries ``retry_after``)
        ├── EmailBRServerError        the vendor failed (5xx or a vendor failure code)
        └── EmailBRResponseError      the answer could not be understood (HTML page, truncated JSON, redirect)
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk.exceptions import AirflowException

#: Longest excerpt of a response body kept in an error message.
MAX_EXCERPT_CHARS = 300


def excerpt(text: str | bytes | None, limit: int = MAX_EXCERPT_CHARS) -> str:
    """Return a short, single-line excerpt of a response body for an error message.

    Registered secrets are masked before the text is cut, so a cut never leaves part of a secret visible.
    """
    from airflow_provider_emailbr.utils.redaction import redact

    if text is None:
        return ""
    window = limit * 4 + 4096  # redaction sees whole any secret that starts inside the part kept
    if isinstance(text, bytes):
        text = text[:window].decode("utf-8", errors="replace")
    text = " ".join(redact(text[:window])[: limit * 4].split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EmailBRError(AirflowException):
    """Base class of every error raised by this provider."""


class EmailBRConfigError(EmailBRError):
    """The Airflow connection is missing a field or holds an invalid value."""


class EmailBRInputError(EmailBRError, ValueError):
    """Input refused before any request was sent: names the field, the value and what is allowed."""


class EmailBRTransportError(EmailBRError):
    """No usable HTTP answer was received.

    ``request_sent`` tells whether the server may have processed the request: ``False`` when the
    connection was refused or could not be opened (safe to repeat any call), ``True`` when the request
    went out and the answer was lost (read timeout, connection dropped): the outcome is unknown, and a
    non-idempotent call (a send, a create) must not be repeated blindly. ``permanent`` marks failures that
    repeating cannot cure (a TLS error, an invalid URL).
    """

    def __init__(
        self, message: str, *, platform: str, endpoint: str, request_sent: bool, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.endpoint = endpoint
        self.request_sent = request_sent
        self.permanent = permanent
        self.status: int | None = None
        self.vendor_code: str | None = None
        self.vendor_message: str | None = None


class EmailBRApiError(EmailBRError):
    """The vendor answered, and the answer is an error."""

    def __init__(
        self,
        *,
        platform: str,
        endpoint: str,
        status: int | None,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.platform = platform
        self.endpoint = endpoint
        self.status = status
        self.vendor_code = vendor_code
        self.vendor_message = vendor_message
        self.retry_after = retry_after
        parts = [f"{platform} {endpoint} failed"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if vendor_code:
            parts.append(f"code {vendor_code}")
        message = ", ".join(parts)
        if vendor_message:
            message += f": {vendor_message}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class EmailBRAuthError(EmailBRApiError):
    """Credentials missing, wrong, or not allowed to do this (vendor says 'unauthorised')."""


class EmailBRValidationError(EmailBRApiError):
    """The vendor refused the request's content (missing field, bad format, limit, business rule)."""


class EmailBRRefusedError(EmailBRValidationError):
    """The vendor understood the request and the credentials, and refused the operation on business grounds.

    For example CriaEnvio's "not enough credits", "message already sent" or "cannot activate an unsubscribed
    contact", which it answers with HTTP 401 like a bad key. Nothing was done; repeating the same call gets
    the same answer.
    """


class EmailBRNotFoundError(EmailBRApiError):
    """The object (contact, list, campaign …) or the endpoint does not exist."""


class EmailBRRateLimitError(EmailBRApiError):
    """Too many requests: the vendor asks to slow down (HTTP 429), possibly with ``retry_after`` seconds."""


class EmailBRServerError(EmailBRApiError):
    """The vendor failed on its side (HTTP 5xx or a vendor failure code)."""


class EmailBRResponseError(EmailBRApiError):
    """The answer could not be understood: not JSON, truncated, empty where a body is required, a redirect."""


class EmailBRSendError(EmailBRError):
    """Some recipients or messages were not confirmed sent.

    ``sent``, ``refused`` and ``unknown`` list what happened (e-mail addresses or message labels);
    ``unknown`` ones may have been delivered: the request went out and the answer was lost, so nothing was
    repeated.
    """

    def __init__(
        self,
        message: str,
        *,
        sent: Sequence[str] = (),
        refused: Sequence[str] = (),
        unknown: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.sent = list(sent)
        self.refused = list(refused)
        self.unknown = list(unknown)


class EmailBRStateStoreError(EmailBRError):
    """Airflow's task state store could not be read or written, so nothing was sent on a guess.

    Raised on Airflow >= 3.3 when durable state is in use and the store is unreachable: treating it as empty
    could send twice, so the task fails before any request.
    """


class EmailBRStateCorruptError(EmailBRStateStoreError):
    """A task state store entry is unreadable, of another kind, or of another format version.

    Names the key and what was expected; nothing is sent on a guess. Clearing the entry (or the task's state)
    is the user's decision.
    """
