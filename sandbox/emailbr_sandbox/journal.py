"""The request journal: every vendor request the sandbox received, with secrets redacted.

Recording is cheap (one tuple appended to a bounded deque, body truncated); decoding and redaction happen
only when the journal is read through ``GET /_sandbox/requests``.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from .constants import SECRET_VALUES
from .wire import parse_multipart

MASK = "***"

#: Header, query, JSON and form keys whose values are always masked (compared lower-case; for form keys the
#: last bracket component counts, so ``contacts[0][password]`` is masked too).
SECRET_KEYS = frozenset(
    {
        "iagente-key",
        "public-key",
        "private-key",
        "x-emailmanager-server-token",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "chave",
        "key",
        "api_key",
        "apikey",
        "token",
        "password",
        "senha",
        "senha_smtp",
        "secret",
        "private_key",
        "public_key",
    }
)

_SECRET_VALUE_RE = re.compile("|".join(re.escape(v) for v in sorted(SECRET_VALUES, key=len, reverse=True)))
_KEY_ALTERNATION = "|".join(re.escape(k) for k in sorted(SECRET_KEYS, key=len, reverse=True))
# Masks "key": "value" and key=value fragments in bodies that cannot be parsed (truncated or malformed).
_JSON_PAIR_RE = re.compile(r'("(?:' + _KEY_ALTERNATION + r')"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
_FORM_PAIR_RE = re.compile(r"((?:^|&)(?:[^=&]*\[)?(?:" + _KEY_ALTERNATION + r")\]?=)[^&]*", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Return whether values under ``key`` must be masked."""
    lowered = key.lower()
    if lowered.endswith("]"):
        lowered = lowered.rstrip("]").rpartition("[")[2]
    return lowered in SECRET_KEYS


def mask_text(text: str) -> str:
    """Mask every known sandbox credential inside ``text``."""
    return _SECRET_VALUE_RE.sub(MASK, text)


def redact_value(value: Any) -> Any:
    """Return a copy of JSON-like ``value`` with secret keys and known credentials masked."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def redact_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return form or query pairs as a dict (last value wins), masking secrets."""
    return {k: MASK if is_secret_key(k) else mask_text(v) for k, v in pairs}


def render_body(body: bytes, content_type: str, truncated: bool) -> Any:
    """Decode a recorded body for display: JSON value, form dict, or masked text."""
    if not body:
        return None
    ctype = content_type.partition(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if not truncated:
        if "json" in ctype or text.lstrip()[:1] in ("{", "["):
            try:
                return redact_value(json.loads(text))
            except ValueError:
                pass
        if ctype == "application/x-www-form-urlencoded":
            return redact_pairs(parse_qsl(text, keep_blank_values=True))
        if ctype == "multipart/form-data":
            return redact_pairs(parse_multipart(body, content_type))
    text = _JSON_PAIR_RE.sub(r'\1"' + MASK + '"', text)
    text = _FORM_PAIR_RE.sub(r"\1" + MASK, text)
    return mask_text(text)


class Journal:
    """Bounded, in-memory log of vendor requests (admin requests are never recorded)."""

    def __init__(self, maxlen: int = 2000, body_limit: int = 16384) -> None:
        self.body_limit = body_limit
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._seq = 0

    def record(
        self,
        vendor: str | None,
        method: str,
        path: str,
        query_string: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        status: int | None,
        fault: str | None,
        duration: float,
        handled_status: int | None = None,
    ) -> None:
        """Append one request.

        ``status`` is what the client received (``None`` when the connection was dropped without an answer);
        ``handled_status`` is what the emulation produced when the request was processed (``None`` if it was
        not processed, e.g. an injected 503).
        """
        self._seq += 1
        truncated = len(body) > self.body_limit
        self._entries.append(
            (
                self._seq,
                time.time(),
                vendor,
                method,
                path,
                query_string,
                headers,
                body[: self.body_limit] if truncated else body,
                truncated,
                status,
                fault,
                duration,
                handled_status,
            )
        )

    def clear(self) -> None:
        """Forget every entry (the sequence number keeps growing)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def entries(
        self,
        vendor: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        since: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return matching entries, oldest first, redacted; ``limit`` keeps the newest ``limit`` ones."""
        selected = []
        for entry in self._entries:
            seq, _, e_vendor, e_method, e_path, *_rest = entry
            if vendor is not None and e_vendor != vendor:
                continue
            if method is not None and e_method != method.upper():
                continue
            if path is not None and path not in e_path:
                continue
            if status is not None and entry[9] != status:
                continue
            if since is not None and seq <= since:
                continue
            selected.append(entry)
        if limit is not None:
            selected = selected[-limit:] if limit > 0 else []
        return [self._render(entry) for entry in selected]

    @staticmethod
    def _render(entry: tuple[Any, ...]) -> dict[str, Any]:
        (
            seq,
            ts,
            vendor,
            method,
            path,
            query_string,
            headers,
            body,
            truncated,
            status,
            fault,
            duration,
            handled,
        ) = entry
        header_map: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            header_map[name] = MASK if is_secret_key(name) else mask_text(raw_value.decode("latin-1"))
        query = redact_pairs(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        return {
            "id": seq,
            "time": ts,
            "vendor": vendor,
            "method": method,
            "path": mask_text(path),
            "query": query,
            "headers": header_map,
            "body": render_body(body, header_map.get("content-type", ""), truncated),
            "body_truncated": truncated,
            "status": status,
            "fault": fault,
            "dropped": status is None,
            "handled_status": handled,
            "duration_ms": round(duration * 1000, 3),
        }
