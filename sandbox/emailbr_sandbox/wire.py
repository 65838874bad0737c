"""Minimal HTTP plumbing for the sandbox: request/response objects, a router and body parsers.

The sandbox is a pure ASGI application served by uvicorn (httptools + uvloop). It does not use FastAPI's
dependency injection or Starlette's routing: requests are dispatched by a dictionary lookup, which keeps the
per-request overhead small enough for the throughput targets in ``docs/sandbox.md``.
"""

from __future__ import annotations

import email
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

JSON_CONTENT_TYPE = b"application/json; charset=utf-8"
EMAIL_RE = re.compile(r"^[^@\s\"'<>(),;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def is_email(value: object) -> bool:
    """Return whether ``value`` is a syntactically valid e-mail address (pragmatic check)."""
    return isinstance(value, str) and len(value) <= 254 and EMAIL_RE.match(value) is not None


def email_domain(address: str) -> str:
    """Return the lower-cased domain part of ``address``."""
    return address.rpartition("@")[2].lower()


class BodyError(ValueError):
    """The request body could not be decoded as the expected format."""


class Request:
    """One HTTP request as the vendor emulations see it.

    ``path`` is relative to the vendor prefix, without leading or trailing slashes (``"contatos/ab/ativar"``);
    ``full_path`` is the path the client used. Header names are lower-cased; a repeated header keeps its last
    value.
    """

    __slots__ = ("_json", "_query", "body", "full_path", "headers", "host", "method", "path", "query_string")

    def __init__(
        self,
        method: str,
        full_path: str,
        path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes,
        host: str = "",
    ) -> None:
        self.method = method
        self.full_path = full_path
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.host = host
        self._query: dict[str, str] | None = None
        self._json: Any = _UNSET

    @property
    def query(self) -> dict[str, str]:
        """Return the query parameters (last value wins)."""
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True))
        return self._query

    @property
    def content_type(self) -> str:
        """Return the media type of the body, lower-cased, without parameters (``""`` when absent)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    def json(self) -> Any:
        """Return the body decoded as JSON, or raise :class:`BodyError`."""
        if self._json is _UNSET:
            try:
                self._json = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise BodyError(f"invalid JSON: {exc}") from exc
        return self._json

    def form(self) -> dict[str, Any]:
        """Return a PHP-style ``$_POST``: urlencoded or multipart fields, bracket keys nested.

        Any other content type yields ``{}``, as PHP does for a JSON body.
        """
        ctype = self.content_type
        if ctype == "application/x-www-form-urlencoded" or (not ctype and self.body and b"=" in self.body):
            return php_nest(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        if ctype == "multipart/form-data":
            return php_nest(parse_multipart(self.body, self.headers.get("content-type", "")))
        return {}


_UNSET = object()


class Response:
    """A complete HTTP response: status, body bytes and extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else [(b"content-type", JSON_CONTENT_TYPE)]


def json_bytes(data: Any) -> bytes:
    """Encode ``data`` as compact UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    """Return a JSON response."""
    return Response(status, json_bytes(data), [(b"content-type", JSON_CONTENT_TYPE), *headers])


class Failure(Exception):
    """Raised by handlers to answer immediately with ``response`` (vendor-formatted error)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[..., Response]
METHOD_NOT_ALLOWED = object()


class Router:
    """Maps ``(method, relative path)`` to a handler; ``{name}`` path segments become keyword arguments.

    Static paths are looked up in a dict first, so ``grupos/ativar`` wins over ``grupos/{id}``.
    """

    def __init__(self) -> None:
        self._static: dict[str, dict[str, Handler]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Handler]]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``pattern`` (e.g. ``"envios/{id}/pausar"``)."""
        pattern = pattern.strip("/")
        if "{" not in pattern:
            self._static.setdefault(pattern, {})[method] = handler
            return
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        for existing, methods in self._dynamic:
            if existing.pattern == regex.pattern:
                methods[method] = handler
                return
        self._dynamic.append((regex, {method: handler}))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | object | None:
        """Return ``(handler, params)``, :data:`METHOD_NOT_ALLOWED`, or ``None`` when nothing matches."""
        methods = self._static.get(path)
        if methods is not None:
            handler = methods.get(method)
            return (handler, {}) if handler is not None else METHOD_NOT_ALLOWED
        for regex, methods in self._dynamic:
            found = regex.match(path)
            if found:
                handler = methods.get(method)
                return (handler, found.groupdict()) if handler is not None else METHOD_NOT_ALLOWED
        return None


def php_nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn flat form pairs into PHP's nested ``$_POST``: ``contacts[0][email]`` → ``{"contacts": {"0": …}}``.

    ``name[]`` appends with the next integer key. Nested containers are dicts keyed by strings, as in PHP.
    """
    result: dict[str, Any] = {}
    for key, value in pairs:
        bracket = key.find("[")
        if bracket <= 0 or key[-1] != "]":
            result[key] = value
            continue
        node = result
        parts = key[bracket + 1 : -1].split("][")
        for part in (key[:bracket], *parts[:-1]):
            if not part:
                part = str(len(node))
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = parts[-1]
        node[last or str(len(node))] = value
    return result


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Return the text fields of a ``multipart/form-data`` body (files are read as text too)."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n"
    message = email.message_from_bytes(head + body)
    pairs: list[tuple[str, str]] = []
    if not message.is_multipart():
        return pairs
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        pairs.append((str(name), payload.decode(part.get_content_charset() or "utf-8", "replace")))
    return pairs


def to_int(value: Any, default: int, minimum: int = 1) -> int:
    """Parse a page-like integer (``default`` when missing or invalid), at least ``minimum``."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return max(minimum, number)


@dataclass
class Page:
    """One page of a list: the slice plus the numbers every vendor's pagination envelope is built from."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages (0 for an empty list)."""
        return math.ceil(self.total / self.per_page) if self.per_page else 0


def paginate(items: list[Any], page: int, per_page: int) -> Page:
    """Return page ``page`` (1-based) of ``items`` with ``per_page`` items per page."""
    start = (page - 1) * per_page
    return Page(items[start : start + per_page], len(items), page, per_page)
