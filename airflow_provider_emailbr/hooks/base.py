"""The HTTP core shared by the five platform hooks.

A platform hook only describes its API: its endpoint table (method, path, idempotency), where its
credentials go (:meth:`EmailBRHook._authorize`), how its answers signal errors
(:meth:`EmailBRHook._check_payload`) and how it pages. Everything else lives here once: reading and
validating the Airflow connection, a pooled ``httpx.Client`` created on first use (building a hook never
touches the network or the metadata database), timeouts, the retry policy, the mapping of failures to
:mod:`airflow_provider_emailbr.exceptions`, redaction of secrets, and lazy pagination.

One HTTP library serves both paths: ``httpx.Client`` (sync) and ``httpx.AsyncClient`` (async, one per event
loop). The two paths differ only in a few lines of I/O around shared, transport-free code: the client options
(:func:`client_options`), the request arguments (:meth:`EmailBRHook._request_args`), the capped read
(:class:`CappedBody`), the classification of transport failures (:func:`classify_transport_error`) and the
reading of the answer (:meth:`EmailBRHook.handle_response`). ``bench/http_clients.py`` measured httpx's sync
client at 1.25-1.4x the throughput of ``requests.Session`` with about 30 % less client CPU per request.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypedDict, TypeVar
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook

from airflow_provider_emailbr import __version__
from airflow_provider_emailbr.exceptions import (
    EmailBRApiError,
    EmailBRAuthError,
    EmailBRConfigError,
    EmailBRError,
    EmailBRInputError,
    EmailBRNotFoundError,
    EmailBRRateLimitError,
    EmailBRResponseError,
    EmailBRServerError,
    EmailBRTransportError,
    EmailBRValidationError,
    excerpt,
)
from airflow_provider_emailbr.utils.encoding import php_form_encode
from airflow_provider_emailbr.utils.pagination import PageScheme, iter_paged
from airflow_provider_emailbr.utils.redaction import (
    install_log_redaction,
    redact,
    redact_url,
    register_secret,
)
from airflow_provider_emailbr.utils.retry import RetryPolicy, parse_retry_after
from airflow_provider_emailbr.utils.throttle import Throttle

if TYPE_CHECKING:
    import httpx
    from airflow.sdk import Connection
    from typing_extensions import Unpack

HookT = TypeVar("HookT", bound="EmailBRHook")

#: Seconds to wait for a TCP connection, as in the vendors' own examples.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds to wait for an answer once connected.
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_BACKOFF = 1.0

USER_AGENT = f"airflow-provider-emailbr/{__version__}"

#: Largest answer body read (after content decoding); a longer one is refused without being read whole.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: Bytes read per chunk of an answer.
READ_CHUNK_BYTES = 65536
#: Bytes of an over-long answer kept for the error's excerpt.
TOO_LARGE_HEAD_BYTES = 4096
#: Keep-alive connections a hook's sync client holds open (more may open under load; none wait for a slot).
KEEPALIVE_CONNECTIONS = 32
#: Connections the async client shared by every trigger of an event loop may open at once.
ASYNC_MAX_CONNECTIONS = 100
#: Keep-alive connections of that shared async client.
ASYNC_KEEPALIVE_CONNECTIONS = 20

#: Words that make an extra's value a secret (the same idea as Airflow's masker, which masks by key name).
SENSITIVE_EXTRA_WORDS = ("password", "secret", "token", "api_key", "apikey", "private_key", "passphrase")

#: Extras every connection type understands.
COMMON_EXTRAS = ("timeout", "connect_timeout", "max_retries", "retry_backoff")


class Endpoint(NamedTuple):
    """One vendor endpoint: HTTP method, path relative to the base URL, and whether repeating it is safe.

    ``idempotent`` defaults to ``True`` for GET, PUT and DELETE and ``False`` for POST; set it explicitly
    where the vendor departs from HTTP semantics (IAGENTEmail's POST reads, CriaEnvio's state-changing GETs).
    """

    method: str
    path: str
    idempotent: bool | None = None

    @property
    def safe_to_repeat(self) -> bool:
        """Whether a lost answer may be followed by the same request again."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}


class PreparedCall:
    """A request described independently of the HTTP client that will send it (sync or async).

    Its repr names only the method and path: once authorised, its headers, query or body carry the
    credentials.
    """

    __slots__ = ("_encoded", "endpoint", "form", "headers", "json", "params", "path", "url")

    def __init__(
        self,
        endpoint: Endpoint,
        path: str,
        url: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.path = path
        self.url = url
        self.params = params if params is not None else {}
        self.headers = headers if headers is not None else {}
        self.json = json
        self.form = form
        self._encoded: bytes | None = None

    def __repr__(self) -> str:
        return f"PreparedCall({self.endpoint.method} {self.path})"

    def body(self) -> bytes | None:
        """Encode the body (JSON as UTF-8, forms with PHP bracket keys), once: retries reuse the bytes."""
        if self._encoded is None:
            if self.json is not None:
                self._encoded = json.dumps(self.json, ensure_ascii=False, separators=(",", ":")).encode(
                    "utf-8"
                )
            elif self.form is not None:
                self._encoded = php_form_encode(self.form)
        return self._encoded

    def content_type(self) -> str | None:
        """The ``Content-Type`` of :meth:`body`, or ``None`` without a body."""
        if self.json is not None:
            return "application/json"
        if self.form is not None:
            return "application/x-www-form-urlencoded"
        return None


class ConnectionSettings(NamedTuple):
    """What a hook reads from its Airflow connection, validated. Secrets are kept out of the repr."""

    conn_id: str
    base_url: str
    login: str | None
    password: str | None
    extras: Mapping[str, Any]
    connect_timeout: float
    read_timeout: float
    max_retries: int
    retry_backoff: float

    def __repr__(self) -> str:
        """The settings without ``login``, ``password`` and ``extras``, which may hold secrets."""
        return (
            f"ConnectionSettings(conn_id={self.conn_id!r}, base_url={self.base_url!r}, "
            f"connect_timeout={self.connect_timeout!r}, read_timeout={self.read_timeout!r}, "
            f"max_retries={self.max_retries!r}, retry_backoff={self.retry_backoff!r})"
        )


class RequestOptions(TypedDict, total=False):
    """What one request carries besides its endpoint: the keyword arguments of :meth:`EmailBRHook.call`,
    :meth:`EmailBRHook.acall` and :meth:`EmailBRHook.prepare`. Every key is optional.
    """

    path_params: Mapping[str, Any] | None
    """Values for the ``{placeholders}`` of the endpoint's path, URL-quoted."""
    params: Mapping[str, Any] | None
    """The query string; entries whose value is ``None`` are left out."""
    json_body: Any
    """A body sent as compact UTF-8 JSON (``application/json``)."""
    form: Mapping[str, Any] | None
    """A body sent as a form with PHP bracket keys (``application/x-www-form-urlencoded``)."""


class HookOptions(TypedDict, total=False):
    """The keyword arguments every platform hook passes on to :class:`EmailBRHook` besides its connection id.

    Every key is optional; written out with their defaults in :meth:`EmailBRHook.__init__` (a test keeps
    the two equal).
    """

    timeout: float | tuple[float, float] | None
    """Read timeout in seconds, or a ``(connect, read)`` pair; overrides the connection."""
    retry_policy: RetryPolicy | None
    """A :class:`~airflow_provider_emailbr.utils.retry.RetryPolicy` overriding the connection's
    ``max_retries`` and ``retry_backoff``."""


class EmailBRHook(BaseHook):
    """Base of the five platform hooks: connection, session, retries, errors, redaction, pagination.

    Subclasses set the class attributes below, an endpoint table, and override :meth:`_authorize` and
    :meth:`_check_payload`. All public methods of subclasses go through :meth:`call`.

    :param conn_id: the Airflow connection id (subclasses expose it under their own keyword).
    :param timeout: read timeout in seconds, or a ``(connect, read)`` pair; overrides the connection.
    :param retry_policy: a :class:`~airflow_provider_emailbr.utils.retry.RetryPolicy` overriding the
        connection's ``max_retries`` and ``retry_backoff``.
    """

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    #: Human name used in messages.
    platform: ClassVar[str]
    #: The vendor's documented base URL, or ``None`` when the connection must give one.
    default_base_url: ClassVar[str | None] = None
    #: Standard connection fields that must be set, mapped to how the form labels them.
    required_fields: ClassVar[Mapping[str, str]] = {"password": "Password"}
    #: How list endpoints page.
    page_scheme: ClassVar[PageScheme | None] = None
    #: Largest answer body accepted; a longer one fails fast with :class:`EmailBRResponseError`.
    max_response_bytes: ClassVar[int] = MAX_RESPONSE_BYTES

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout: float | tuple[float, float] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        setattr(self, self.conn_name_attr, self.conn_id)
        self._timeout_override = timeout
        self._retry_policy_override = retry_policy
        self._throttle: Throttle | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conn_name_attr}={self.conn_id!r})"

    # ------------------------------------------------------------------ connection

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The validated connection settings, read once on first use."""
        return self.settings_from_connection(self.get_connection(self.conn_id))

    async def aget_settings(self) -> ConnectionSettings:
        """The settings, read without blocking the event loop (for triggers and async notifiers)."""
        if "settings" not in self.__dict__:
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            conn = await get_async_connection(self.conn_id, hook=self)
            extras = await get_async_extra_dejson(conn)
            self.__dict__["settings"] = self.settings_from_connection(conn, extras=extras)
        return self.__dict__["settings"]

    @classmethod
    def settings_from_connection(
        cls, conn: Connection, *, extras: Mapping[str, Any] | None = None
    ) -> ConnectionSettings:
        """Validate ``conn`` for this platform and register its secrets for redaction.

        ``extras`` is the connection's parsed extra when the caller already has it (async code must not
        read ``conn.extra_dejson``, which may block).
        """
        if extras is None:
            extras = conn.extra_dejson or {}
        conn_id = conn.conn_id or cls.default_conn_name
        for attr, label in cls.required_fields.items():
            if not getattr(conn, attr, None):
                raise EmailBRConfigError(
                    f"Connection {conn_id!r} ({cls.conn_type}) has no {label}: set the connection's "
                    f"'{attr}' field."
                )
        for secret in (conn.password, *cls._extra_secrets(extras)):
            register_secret(secret)
        if cls.secret_login():
            register_secret(conn.login)
        return ConnectionSettings(
            conn_id=conn_id,
            base_url=cls._resolve_base_url(conn, conn_id),
            login=conn.login or None,
            password=conn.password or None,
            extras=extras,
            connect_timeout=_number(extras, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, conn_id, float),
            read_timeout=_number(extras, "timeout", DEFAULT_READ_TIMEOUT, conn_id, float),
            max_retries=_number(extras, "max_retries", DEFAULT_MAX_RETRIES, conn_id, int),
            retry_backoff=_number(extras, "retry_backoff", DEFAULT_RETRY_BACKOFF, conn_id, float),
        )

    @classmethod
    def secret_login(cls) -> bool:
        """Whether the login field holds a credential to redact (envie.email's public key)."""
        return False

    @classmethod
    def _extra_secrets(cls, extras: Mapping[str, Any]) -> list[str]:
        """Extras that hold secrets, by Airflow's sensitive-name rule."""
        return [
            str(v)
            for k, v in extras.items()
            if isinstance(v, str) and any(word in k.lower() for word in SENSITIVE_EXTRA_WORDS)
        ]

    @classmethod
    def _resolve_base_url(cls, conn: Connection, conn_id: str) -> str:
        """The base URL: the host as a full URL, or ``https://host[:port]/schema``, or the vendor default."""
        host = (conn.host or "").strip()
        if not host:
            if cls.default_base_url is None:
                raise EmailBRConfigError(
                    f"Connection {conn_id!r} ({cls.conn_type}) has no Host: {cls.platform} publishes no "
                    "default API address, so set Host to the full base URL, e.g. https://api.example.com/"
                )
            return cls.default_base_url
        if "://" not in host:
            default_path = urlsplit(cls.default_base_url or "https://x/").path
            path = (conn.schema or "").strip("/")
            port = f":{conn.port}" if conn.port else ""
            host = f"https://{host.strip('/')}{port}/{path + '/' if path else default_path.lstrip('/')}"
        parts = urlsplit(host)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise EmailBRConfigError(
                f"Connection {conn_id!r} ({cls.conn_type}): Host {redact_url(host)!r} is not an http(s) URL; "
                "use the full base URL, e.g. https://api.example.com/v1/"
            )
        if parts.query or parts.fragment:
            raise EmailBRConfigError(
                f"Connection {conn_id!r} ({cls.conn_type}): Host must not carry a query string or fragment; "
                "put credentials in the Password field"
            )
        return host if host.endswith("/") else host + "/"

    def extra(self, key: str, default: Any = None) -> Any:
        """One extra of the connection, or ``default`` when unset or empty."""
        value = self.settings.extras.get(key)
        return default if value in (None, "") else value

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts in seconds for the next calls."""
        override = self._timeout_override
        if isinstance(override, tuple):
            return (float(override[0]), float(override[1]))
        if override is not None:
            return (self.settings.connect_timeout, float(override))
        return (self.settings.connect_timeout, self.settings.read_timeout)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy for the next calls: the override, or one built from the connection."""
        if self._retry_policy_override is not None:
            return self._retry_policy_override
        return RetryPolicy(max_retries=self.settings.max_retries, backoff_base=self.settings.retry_backoff)

    def with_options(
        self: HookT,
        *,
        timeout: float | tuple[float, float] | None = None,
        retry_policy: RetryPolicy | None = None,
        throttle: Throttle | None = None,
    ) -> HookT:
        """A copy of this hook sharing its session and settings, with other timeout, retries or throttle.

        ``hook.with_options(timeout=5).get_campaign("x")`` sets a timeout for one call;
        ``with_options(throttle=Throttle(10))`` makes concurrent workers share a rate limit and back off
        together when one of them gets HTTP 429.
        """
        clone = copy.copy(self)
        if timeout is not None:
            clone._timeout_override = timeout
        if retry_policy is not None:
            clone._retry_policy_override = retry_policy
        if throttle is not None:
            clone._throttle = throttle
        return clone

    # ------------------------------------------------------------------ session

    @cached_property
    def session(self) -> httpx.Client:
        """The pooled ``httpx.Client`` of this hook, created on first use."""
        import httpx

        install_log_redaction(*TRANSPORT_LOGGERS, self.log.name)
        return httpx.Client(**client_options(max_connections=None, keepalive=KEEPALIVE_CONNECTIONS))

    def get_conn(self) -> httpx.Client:
        """Return the pooled HTTP client (Airflow's hook convention)."""
        return self.session

    def close(self) -> None:
        """Close the pooled connections, if a client was opened."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    # ------------------------------------------------------------------ requests

    def prepare(
        self,
        endpoint: Endpoint,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
    ) -> PreparedCall:
        """Build the request for ``endpoint`` with credentials placed where the vendor expects them.

        The body is encoded here, so a value that cannot be sent (text with a lone surrogate, an object JSON
        cannot represent) is an :class:`EmailBRInputError` before anything goes out. The keywords are those
        of :class:`RequestOptions` (written out here for their defaults; a test keeps the two equal).
        """
        try:
            path = endpoint.path.format(**{k: quote(str(v), safe="") for k, v in (path_params or {}).items()})
            call = PreparedCall(
                endpoint=endpoint,
                path=path,
                url=self.settings.base_url + path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=json_body,
                form=form,
            )
            self._authorize(call)
            for value in call.params.values():
                str(value).encode("utf-8")
            call.body()
        except UnicodeEncodeError as err:
            bad = err.object[err.start : err.end] if isinstance(err.object, str) else ""
            problem = f"text with a character UTF-8 cannot encode ({bad!r}, a lone surrogate)"
        except (TypeError, ValueError, RecursionError) as err:
            problem = f"a value JSON cannot represent ({str(err)[:120]})"
        else:
            return call
        raise EmailBRInputError(  # raised outside the except block: the body is not chained into it
            f"{self.platform} {endpoint.method} {endpoint.path}: the request holds {problem}; "
            "nothing was sent"
        )

    def _authorize(self, call: PreparedCall) -> None:
        """Put the credentials on ``call`` (headers, query or body). Subclasses must override."""
        raise EmailBRConfigError(f"{type(self).__name__} does not say how to authenticate")

    def call(self, endpoint: Endpoint, **request: Unpack[RequestOptions]) -> Any:
        """Send one request under the retry policy and return the parsed JSON answer.

        Raises a subclass of :class:`~airflow_provider_emailbr.exceptions.EmailBRError` on any failure.

        :param endpoint: the vendor endpoint to call.
        :param request: the :class:`RequestOptions` (``path_params``, ``params``, ``json_body``, ``form``),
            as for :meth:`prepare`.
        """
        return self.send_prepared(self.prepare(endpoint, **request))

    def send_prepared(self, prepared: PreparedCall) -> Any:
        """Send a request built by :meth:`prepare` under the retry policy; return the parsed answer.

        Bulk callers prepare (and encode, with ``prepared.body()``) in one thread and send from others, so
        the encoding work does not compete with the threads waiting on the network.
        """
        endpoint = prepared.endpoint
        return self.retry_policy.call(
            lambda: self._send_once(prepared),
            idempotent=endpoint.safe_to_repeat,
            describe=f"{self.platform} {endpoint.method} {prepared.path}",
            logger=self.log,
        )

    def _request_args(self, call: PreparedCall) -> dict[str, Any]:
        """The keyword arguments of ``client.stream(...)`` for ``call``, the same for both clients."""
        import httpx

        headers = dict(call.headers)
        content_type = call.content_type()
        if content_type:
            headers.setdefault("Content-Type", content_type)
        connect, read = self.timeout
        return {
            "method": call.endpoint.method,
            "url": call.url,
            "params": call.params or None,
            "content": call.body(),
            "headers": headers,
            "timeout": httpx.Timeout(read, connect=connect),
            "follow_redirects": False,
        }

    def _send_once(self, call: PreparedCall) -> Any:
        """One attempt: send ``call``, read the answer under the size cap, then parse it."""
        import httpx

        self.log.debug("%s %s", call.endpoint.method, redact_url(call.url))
        if self._throttle is not None:
            self._throttle.wait()
        failure: EmailBRTransportError | None = None
        try:
            with self.session.stream(**self._request_args(call)) as response:
                body = CappedBody(response.headers, self.max_response_bytes)
                for chunk in response.iter_bytes(READ_CHUNK_BYTES):
                    if not body.feed(chunk):
                        break
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            failure = self._transport_error(call, exc)
        if failure is not None:
            raise failure  # raised outside the except block: the original (with the URL) is not chained
        return self._read_answer(call, response, body)

    def _read_answer(self, call: PreparedCall, response: httpx.Response, body: CappedBody) -> Any:
        """Turn a received answer into the parsed JSON or an error; a 429 pauses the shared throttle."""
        if not body.complete:
            raise self._too_large(call, response.status_code, response.headers, body.head)
        try:
            return self.handle_response(call, response.status_code, response.headers, body.data)
        except EmailBRRateLimitError as err:
            if self._throttle is not None:  # every worker sharing the throttle backs off, not just this one
                self._throttle.pause(
                    err.retry_after if err.retry_after is not None else self.retry_policy.backoff_base
                )
            raise

    async def acall(self, endpoint: Endpoint, **request: Unpack[RequestOptions]) -> Any:
        """The asynchronous twin of :meth:`call` (``httpx``), for triggers and async notifiers.

        Same arguments (``endpoint`` and the :class:`RequestOptions`: ``path_params``, ``params``,
        ``json_body``, ``form``), request building, retry policy, error mapping and redaction; nothing
        blocks the event loop.
        """
        await self.aget_settings()
        prepared = self.prepare(endpoint, **request)
        describe = f"{self.platform} {endpoint.method} {prepared.path}"

        async def attempt() -> Any:
            return await self._asend_once(prepared)

        return await self.retry_policy.acall(
            attempt,
            idempotent=endpoint.safe_to_repeat,
            describe=describe,
            logger=self.log,
        )

    async def _asend_once(self, call: PreparedCall) -> Any:
        """One asynchronous attempt: the twin of :meth:`_send_once` on the shared ``httpx.AsyncClient``."""
        import httpx

        failure: EmailBRTransportError | None = None
        try:
            async with shared_async_client().stream(**self._request_args(call)) as response:
                body = CappedBody(response.headers, self.max_response_bytes)
                async for chunk in response.aiter_bytes(READ_CHUNK_BYTES):
                    if not body.feed(chunk):
                        break
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            failure = self._transport_error(call, exc)
        if failure is not None:
            raise failure
        return self._read_answer(call, response, body)

    def _too_large(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], head: bytes
    ) -> EmailBRApiError:
        """The error for an answer longer than :attr:`max_response_bytes` (its start as the excerpt)."""
        declared = headers.get("Content-Length") or headers.get("content-length")
        size = f"{declared} bytes announced" if declared else "more than that sent"
        return self.api_error(
            call,
            status,
            headers=headers,
            detail=f"answer larger than the {self.max_response_bytes:,}-byte limit ({size}), not read: "
            f"{excerpt(head)}",
            error_class=EmailBRResponseError if status < 400 else None,
        )

    def _transport_error(self, call: PreparedCall, exc: BaseException) -> EmailBRTransportError:
        """The error for a failed attempt, classified by :func:`classify_transport_error`."""
        sent, what, permanent = classify_transport_error(exc, read_timeout=self.timeout[1])
        return EmailBRTransportError(
            f"{self.platform} {call.endpoint.method} {call.path}: {what} "
            f"[{type(exc).__name__}: {redact(exc)}]",
            platform=self.platform,
            endpoint=call.path,
            request_sent=sent,
            permanent=permanent,
        )

    def handle_response(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], body: bytes
    ) -> Any:
        """Turn one HTTP answer into parsed JSON, or raise the matching error. Transport-independent."""
        if 300 <= status < 400:
            location = headers.get("Location") or headers.get("location") or "?"
            raise EmailBRResponseError(
                platform=self.platform,
                endpoint=call.path,
                status=status,
                detail=f"redirect to {redact_url(location)} not followed (credentials never follow a "
                "redirect); set the connection's Host to the final address",
            )
        payload = self._decode(call, status, headers, body)
        self._check_payload(call, status, headers, payload, body)
        if status >= 400:
            raise self.api_error(call, status, headers=headers, body=body)
        return payload

    def _decode(self, call: PreparedCall, status: int, headers: Mapping[str, str], body: bytes) -> Any:
        """Parse JSON; a non-JSON answer is an error with a short excerpt (never a crash)."""
        if not body or not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass  # handled below, outside the except block, so the body is not chained into the error
        if status >= 400:
            raise self.api_error(
                call, status, headers=headers, body=body, detail=f"answer is not JSON: {excerpt(body)}"
            )
        raise EmailBRResponseError(
            platform=self.platform,
            endpoint=call.path,
            status=status,
            detail=f"answer is not JSON: {redact(excerpt(body))!r}",
        )

    def _check_payload(
        self, call: PreparedCall, status: int, headers: Mapping[str, str], payload: Any, body: bytes
    ) -> None:
        """Raise when ``payload`` is a vendor error (also inside an HTTP 200). Override per vendor."""

    def api_error(
        self,
        call: PreparedCall,
        status: int | None,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
        detail: str | None = None,
        error_class: type[EmailBRApiError] | None = None,
    ) -> EmailBRApiError:
        """Build the error for an answer; its class follows the HTTP status unless ``error_class`` says."""
        if error_class is None:
            error_class = _error_class_for_status(status)
        if detail is None and vendor_message is None and body:
            detail = f"answer: {excerpt(body)}"
        retry_after = parse_retry_after((headers or {}).get("Retry-After")) if headers else None
        return error_class(
            platform=self.platform,
            endpoint=call.path,
            status=status,
            # what the vendor put in its envelope is redacted first (it may echo the key), then bounded
            vendor_code=excerpt(redact(vendor_code), 60) if vendor_code else None,
            vendor_message=excerpt(redact(vendor_message)) if vendor_message else None,
            detail=redact(detail) if detail else None,
            retry_after=retry_after,
        )

    # ------------------------------------------------------------------ pagination

    def paginate(
        self,
        fetch_page: Callable[[int], Mapping[str, Any]],
        *,
        endpoint: str = "paged list",
        first_page: int = 1,
        max_pages: int | None = None,
    ) -> Iterator[Any]:
        """Iterate lazily over every item of a paged endpoint using this vendor's page scheme.

        The one paging rule (:func:`~airflow_provider_emailbr.utils.pagination.iter_paged`) applies: never
        past the announced total, and an error naming ``endpoint`` when a page does not advance.
        """
        if self.page_scheme is None:
            raise EmailBRConfigError(f"{self.platform} has no paged endpoints")
        return iter_paged(
            fetch_page,
            self.page_scheme,
            first_page=first_page,
            max_pages=max_pages,
            platform=self.platform,
            endpoint=endpoint,
        )

    # ------------------------------------------------------------------ test connection

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap, side-effect-free authenticated call; say what was checked.

        Runs with at most one quick retry, so the UI's "Test" button answers within seconds.
        """
        quick = RetryPolicy(max_retries=1, backoff_base=0.5, max_retry_after=2.0)
        try:
            checked = self.with_options(retry_policy=quick)._probe()
        except EmailBRError as err:
            return False, redact(str(err))
        except Exception as err:
            return False, redact(f"{type(err).__name__}: {err}")
        return True, checked

    def _probe(self) -> str:
        """Run the connection test's call and return a sentence saying what succeeded."""
        raise EmailBRConfigError(f"{type(self).__name__} has no connection test")

    def _probe_answer(self, answer: Any, endpoint: str) -> Any:
        """``answer`` when it is a non-empty JSON object; an empty or odd answer fails the connection test.

        An empty HTTP 200 (a proxy, a maintenance page without a body) must not pass for the vendor.
        """
        if not isinstance(answer, Mapping) or not answer:
            raise EmailBRResponseError(
                platform=self.platform,
                endpoint=endpoint,
                status=None,
                detail=f"expected a JSON object, got {excerpt(json.dumps(answer, default=str), 80)}",
            )
        return answer


def _error_class_for_status(status: int | None) -> type[EmailBRApiError]:
    if status in (401, 403):
        return EmailBRAuthError
    if status == 404:
        return EmailBRNotFoundError
    if status == 429:
        return EmailBRRateLimitError
    if status is not None and status >= 500:
        return EmailBRServerError
    if status is not None and 400 <= status < 500:
        return EmailBRValidationError
    return EmailBRResponseError


def _number(
    extras: Mapping[str, Any], key: str, default: float, conn_id: str, kind: Callable[[Any], Any]
) -> Any:
    """Read a numeric extra (the UI may store numbers as strings) with a clear error when invalid."""
    value = extras.get(key)
    if value in (None, ""):
        return kind(default)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise EmailBRConfigError(
            f"Connection {conn_id!r}: extra {key!r} must be a number, got {value!r}"
        ) from None
    if number < 0:
        raise EmailBRConfigError(f"Connection {conn_id!r}: extra {key!r} must not be negative, got {value!r}")
    return number


#: What a transport failure after the request went out is called in messages.
DROPPED = "connection dropped before the answer arrived (the request may have been processed)"

#: Loggers of the HTTP library that write request lines or answer headers (CriaEnvio's key is in the query
#: string; a redirect's ``Location`` may echo it). A logging filter applies only to its own logger's records,
#: so each of httpcore's loggers is named.
TRANSPORT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def client_options(*, max_connections: int | None, keepalive: int) -> dict[str, Any]:
    """The options of every HTTP client the hooks open, sync or async; only the pool sizes differ."""
    import httpx

    return {
        "headers": {"User-Agent": USER_AGENT},
        "limits": httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive),
        "trust_env": True,
        "follow_redirects": False,
    }


def classify_transport_error(exc: BaseException, *, read_timeout: float) -> tuple[bool, str, bool]:
    """``(request_sent, what happened, permanent)`` for a failure without a usable HTTP answer.

    The one rule for both clients: ``request_sent`` is ``False`` only when the request certainly never
    reached the server (refused, unreachable, connect timeout, TLS handshake, a request that could not be
    built), so any call may be repeated; otherwise the answer was lost and the outcome is unknown.
    ``permanent`` marks failures repeating cannot cure (TLS, an invalid request).
    """
    import ssl

    import httpx

    cause: BaseException | None = exc  # httpx wraps httpcore's error, which wraps the ssl one
    for _ in range(5):
        if cause is None or isinstance(cause, ssl.SSLError):
            break
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLError):
        return False, "TLS handshake failed", True
    if isinstance(exc, (httpx.ConnectError, httpx.PoolTimeout, httpx.ProxyError)):
        return False, "connection refused or host unreachable", False
    if isinstance(exc, httpx.ConnectTimeout):
        return False, "connection timed out before the request was sent", False
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL, UnicodeError)):
        return False, "request could not be built", True
    if isinstance(exc, httpx.TimeoutException):
        return True, f"no answer within {read_timeout:g} s (the request may have been processed)", False
    if isinstance(exc, httpx.DecodingError):
        return True, "answer could not be decoded (the request may have been processed)", False
    if isinstance(exc, httpx.TransportError):
        return True, DROPPED, False
    return False, "request could not be built", True


class CappedBody:
    """An answer body read chunk by chunk under a byte limit: the one capped-read rule of both clients.

    Feed it the chunks as they arrive (:meth:`feed` says whether to go on); an answer whose
    ``Content-Length`` already exceeds the limit, or that grows past it, is not read further and keeps only
    its first bytes (:attr:`head`) for the error message.
    """

    def __init__(self, headers: Mapping[str, str], limit: int) -> None:
        declared = (headers.get("Content-Length") or headers.get("content-length") or "").strip()
        self.limit = limit
        self.complete = not (declared.isdigit() and int(declared) > limit)
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> bool:
        """Add one chunk; ``False`` once the body is known to exceed the limit (stop reading)."""
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size > self.limit:
            self.complete = False
        return self.complete

    @property
    def data(self) -> bytes:
        """The whole body (only meaningful when :attr:`complete`)."""
        return b"".join(self._parts)

    @property
    def head(self) -> bytes:
        """The body's first bytes, for the excerpt of a too-large answer."""
        return self._parts[0][:TOO_LARGE_HEAD_BYTES] if self._parts else b""


_async_clients: dict[int, Any] = {}


def shared_async_client() -> Any:
    """One pooled ``httpx.AsyncClient`` per running event loop, shared by every hook on that loop.

    A triggerer runs many triggers in one loop; sharing one client keeps one connection pool and one TLS
    context instead of one per waiting trigger.
    """
    import asyncio
    import weakref

    import httpx

    loop = asyncio.get_running_loop()
    key = id(loop)
    client = _async_clients.get(key)
    if client is None or client.is_closed:
        install_log_redaction(*TRANSPORT_LOGGERS)
        client = httpx.AsyncClient(
            **client_options(max_connections=ASYNC_MAX_CONNECTIONS, keepalive=ASYNC_KEEPALIVE_CONNECTIONS)
        )
        _async_clients[key] = client
        weakref.finalize(loop, _async_clients.pop, key, None)
    return client
