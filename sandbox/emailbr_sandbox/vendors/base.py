"""Base class of the five vendor emulations: routing, authentication hook, error envelope, state I/O."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, NoReturn

from ..context import SandboxContext
from ..webhooks import WebhookDispatcher
from ..wire import METHOD_NOT_ALLOWED, Failure, Request, Response, Router

#: Generic Portuguese reason phrases (envie.email's error table), used for injected faults.
STATUS_TEXT: dict[int, str] = {
    400: "Sua requisição é inválida.",
    401: "Sua chave API está errada.",
    403: "O acesso é restrito.",
    404: "Endpoint não encontrado.",
    405: "Método não permitido.",
    406: "O formato da requisição não é JSON.",
    409: "Email em blacklist.",
    429: "Você excedeu a quantidade de requisições por segundo!",
    500: "Ocorreu um problema interno. Tente outra vez.",
    502: "Serviço temporariamente indisponível - tente mais tarde.",
    503: "Serviço temporariamente indisponível - tente mais tarde.",
    504: "Serviço temporariamente indisponível - tente mais tarde.",
}


def status_text(status: int) -> str:
    """Return the reason phrase the sandbox uses for ``status``."""
    return STATUS_TEXT.get(status, "Erro inesperado.")


def split_csv(value: Any) -> list[str]:
    """Split ``"a, b,c"`` (or a list) into ``["a", "b", "c"]``, dropping empty items."""
    if isinstance(value, list):
        items = [str(v) for v in value]
    elif isinstance(value, (str, int)):
        items = str(value).split(",")
    else:
        return []
    return [item.strip() for item in items if item.strip()]


class Vendor(ABC):
    """One emulated platform: a router of handlers over its own state.

    Subclasses register handlers in :meth:`routes`, build the seeded initial state in :meth:`reset`, and
    describe their error envelope in :meth:`error`. Handlers are synchronous (they run on the event loop and
    never block) and raise :class:`~..wire.Failure` through :meth:`fail` to answer with an error.
    """

    name: ClassVar[str]

    def __init__(self, ctx: SandboxContext, webhooks: WebhookDispatcher) -> None:
        self.ctx = ctx
        self.webhooks = webhooks
        self.router = Router()
        self.routes()
        self.reset()

    # -- to implement -------------------------------------------------------------------------------------
    @abstractmethod
    def routes(self) -> None:
        """Register the handlers on :attr:`router`."""

    @abstractmethod
    def reset(self) -> None:
        """Replace the state with the seeded initial state."""

    @abstractmethod
    def dump(self) -> dict[str, Any]:
        """Return the state as JSON-compatible data (state file)."""

    @abstractmethod
    def load(self, data: dict[str, Any]) -> None:
        """Replace the state with data previously returned by :meth:`dump`."""

    @abstractmethod
    def error(self, status: int, message: str) -> Response:
        """Return the vendor's error envelope for ``status`` with ``message``."""

    # -- overridable --------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Return the state for ``GET /_sandbox/state`` (derived values included where useful)."""
        return self.dump()

    def authenticate(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are wrong, else ``None``."""
        return None

    def fault_response(self, status: int) -> Response:
        """Return the answer to an injected fault or rate limit with HTTP ``status``."""
        return self.error(status, status_text(status))

    def not_found(self, request: Request) -> Response:
        """Answer an unknown endpoint."""
        return self.error(404, status_text(404))

    def method_not_allowed(self, request: Request) -> Response:
        """Answer a known endpoint called with the wrong HTTP method."""
        return self.error(405, status_text(405))

    # -- shared -------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Authenticate, route and run one request."""
        try:
            denied = self.authenticate(request)
            if denied is not None:
                return denied
            found = self.router.match(request.method, request.path)
            if found is None:
                return self.not_found(request)
            if found is METHOD_NOT_ALLOWED:
                return self.method_not_allowed(request)
            handler, params = found  # type: ignore[misc]
            return handler(request, **params)
        except Failure as failure:
            return failure.response

    def fail(self, status: int, message: str) -> NoReturn:
        """Abort the handler with the vendor's error envelope."""
        raise Failure(self.error(status, message))
