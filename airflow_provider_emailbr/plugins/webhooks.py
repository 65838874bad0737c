"""The webhook receiver as an Airflow plugin: ``POST /emailbr/webhooks/{conn_id}`` on the API server.

Registered as the ``airflow.plugins`` entry point ``emailbr_webhooks`` (so it loads with Airflow's default
configuration). The logic is :class:`~airflow_provider_emailbr.events.receiver.WebhookReceiver`; this module
only adapts it to ASGI and starts the :class:`~airflow_provider_emailbr.events.publisher.AssetPublisher`.

FastAPI is imported only where it is already loaded (the API server) or on the first request: other Airflow
processes load plugins too, and must not pay for it. The plugin class itself is built on first access (a
module ``__getattr__``), when Airflow's plugins manager loads the entry point: importing this module alone
does not import ``airflow.plugins_manager``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from airflow_provider_emailbr.events.publisher import AssetPublisher
    from airflow_provider_emailbr.events.receiver import WebhookReceiver

URL_PREFIX = "/emailbr"
"""Where the app is mounted on the API server."""

ROUTE = "/webhooks/{conn_id}"
"""The receiving route, under :data:`URL_PREFIX`."""


class ReceiverRuntime:
    """The receiver and publisher of one API-server process, created on first use.

    :param make: builds ``(receiver, publisher)``; the default uses the store at
        :func:`~airflow_provider_emailbr.events.store.default_store_path` and Airflow's connections.
    """

    def __init__(
        self, make: Callable[[], tuple[WebhookReceiver, AssetPublisher | None]] | None = None
    ) -> None:
        self._make = make or default_runtime
        self._lock = threading.Lock()
        self._parts: tuple[WebhookReceiver, AssetPublisher | None] | None = None

    def parts(self) -> tuple[WebhookReceiver, AssetPublisher | None]:
        """The receiver and the (started) publisher."""
        if self._parts is None:
            with self._lock:
                if self._parts is None:
                    receiver, publisher = self._make()
                    if publisher is not None:
                        publisher.start()
                    self._parts = (receiver, publisher)
        return self._parts

    def stop(self) -> None:
        """Stop the publisher and the store's writer (API-server shutdown)."""
        if self._parts is not None:
            receiver, publisher = self._parts
            if publisher is not None:
                publisher.stop()
            receiver.store.close()
            self._parts = None


def default_runtime() -> tuple[WebhookReceiver, AssetPublisher]:
    """The store at its configured path, a receiver on Airflow's connections, and a publisher."""
    from airflow_provider_emailbr.events.publisher import AssetPublisher
    from airflow_provider_emailbr.events.receiver import WebhookReceiver
    from airflow_provider_emailbr.events.store import EventStore, default_store_path

    store = EventStore(default_store_path())
    publisher = AssetPublisher(store)
    return WebhookReceiver(store, on_stored=publisher.wake), publisher


def create_app(runtime: ReceiverRuntime | None = None) -> FastAPI:
    """The FastAPI app with the receiving route (mounted at :data:`URL_PREFIX`)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    runtime = runtime or ReceiverRuntime()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        runtime.parts()  # publish what a previous run left pending, without waiting for a post
        yield
        runtime.stop()

    app = FastAPI(
        title="emailbr webhook receiver", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.runtime = runtime

    async def receive_webhook(request: Request) -> JSONResponse:
        """Check the token, read the body, store its events durably, then answer."""
        receiver, _ = runtime.parts()
        conn_id = request.path_params["conn_id"]

        async def read_body(cap: int) -> bytes | None:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                return None
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)

        reply = await receiver.ahandle(
            conn_id,
            read_body,
            header_token=request.headers.get("x-webhook-token"),
            query_token=request.query_params.get("token"),
        )
        return JSONResponse(reply.body, status_code=reply.status)

    # A plain Starlette route: no FastAPI parameter injection (lazy imports leave no annotations to read).
    app.add_route(ROUTE, receive_webhook, methods=["POST"])
    return app


class LazyWebhookApp:
    """An ASGI app that builds :func:`create_app` on its first call (when FastAPI was not loaded yet)."""

    def __init__(self) -> None:
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = create_app()
        await self._app(scope, receive, send)


def webhook_app() -> Any:
    """The app to mount: built now when FastAPI is already loaded (its lifespan then starts the publisher
    with the API server), else a :class:`LazyWebhookApp`."""
    return create_app() if "fastapi" in sys.modules else LazyWebhookApp()


PLUGIN_CLASS_NAME = "EmailBRWebhooksPlugin"
"""The entry point's attribute: ``airflow_provider_emailbr.plugins.webhooks:EmailBRWebhooksPlugin``."""


def build_plugin_class() -> type:
    """The ``AirflowPlugin`` subclass that mounts :func:`webhook_app` at :data:`URL_PREFIX`."""
    from airflow.plugins_manager import AirflowPlugin

    class EmailBRWebhooksPlugin(AirflowPlugin):
        """Serves the delivery-event webhook receiver at ``POST /emailbr/webhooks/{conn_id}``."""

        name = "emailbr_webhooks"
        fastapi_apps = [{"app": webhook_app(), "url_prefix": URL_PREFIX, "name": "emailbr webhook receiver"}]

    EmailBRWebhooksPlugin.__qualname__ = PLUGIN_CLASS_NAME
    return EmailBRWebhooksPlugin


def __getattr__(name: str) -> Any:
    """Build ``EmailBRWebhooksPlugin`` on first access and keep it (PEP 562), so that DAG parsing and other
    importers of the provider never import ``airflow.plugins_manager`` for it."""
    if name == PLUGIN_CLASS_NAME:
        plugin_class = build_plugin_class()
        globals()[name] = plugin_class
        return plugin_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
