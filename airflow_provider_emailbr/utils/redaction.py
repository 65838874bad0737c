"""Keep keys, tokens and passwords out of logs, error messages and URLs.

Hooks register every credential they load with :func:`register_secret`. Registered values are masked by
Airflow's own secrets masker (task logs) and by :func:`redact`, which this provider applies to every
message it builds from foreign text (URLs, transport errors, response excerpts). CriaEnvio sends its key in
the query string, and ``httpx``/``httpcore`` write request lines and answer headers to their logs, so
:class:`RedactingFilter` is attached to those loggers too.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

#: Query parameters whose values are always hidden, registered or not.
SENSITIVE_QUERY_PARAMS = frozenset({"chave", "key", "api_key", "token", "senha", "password", "senha_smtp"})

#: Secrets shorter than this are not masked by substring (they would mask ordinary words).
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: mask it in this provider's messages and in Airflow's task logs."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # outside a task, or an Airflow without the SDK masker: our own redaction still applies
        logging.getLogger(__name__).debug("Airflow secrets masker unavailable; using provider redaction only")


def redact(text: object) -> str:
    """Return ``str(text)`` with every registered secret and sensitive query value replaced by ``***``."""
    out = str(text)
    pattern = _pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    return re.sub(_QUERY_SECRET, lambda m: f"{m.group(1)}={MASK}", out)


#: A sensitive query parameter and its value; compiled on first use by the ``re`` module (and kept in its
#: cache), not at import.
_QUERY_SECRET = r"(?i)\b(" + "|".join(sorted(SENSITIVE_QUERY_PARAMS)) + r")=([^&\s'\"#]+)"


def redact_url(url: str) -> str:
    """Return ``url`` with sensitive query parameters and registered secrets masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.query:
        query = urlencode(
            [
                (k, MASK if k.lower() in SENSITIVE_QUERY_PARAMS else v)
                for k, v in parse_qsl(parts.query, True)
            ],
            safe="*,",
        )
        parts = parts._replace(query=query)
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
        parts = parts._replace(netloc=netloc)
    return redact(urlunsplit(parts))


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in a record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with secrets masked; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


_installed_on: set[str] = set()


def install_log_redaction(*logger_names: str) -> None:
    """Attach one :class:`RedactingFilter` to each named logger (idempotent)."""
    for name in logger_names:
        if name in _installed_on:
            continue
        logging.getLogger(name).addFilter(RedactingFilter())
        _installed_on.add(name)
