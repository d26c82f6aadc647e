"""`create_app(settings)`: the Starlette application. Its lifespan owns the long-lived resources:
one pooled vendor HTTP client per provider, the providers, and the event bus."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from providers import Provider, build_provider
from providers._http import make_client

from .context import Context, make_loaders
from .embedded import embedded_providers
from .events import Bus, make_bus
from .schema import schema
from .settings import Settings
from .webhooks import webhook_endpoint

CONNECTION_INIT_TIMEOUT_SECONDS = 10


@dataclass
class Runtime:
    """What the lifespan opens; resolvers reach it through the context."""

    settings: Settings
    bus: Bus
    providers: dict[str, Provider] = field(default_factory=dict)
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    sandboxes: dict[str, Starlette] = field(default_factory=dict)
    closables: list[httpx.AsyncClient] = field(default_factory=list)


OPERATION_KEYS = frozenset({"query", "variables", "operationName", "extensions"})
QUERIES_AND_MUTATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})


def _json_post(scope: Scope) -> bool:
    """A POST whose body is declared as JSON (any charset parameter)."""
    if scope["method"] != "POST":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


class GatewayGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.runtime = runtime

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        providers = self.runtime.providers
        return Context(
            request=request,
            response=response,
            providers=providers,
            bus=self.runtime.bus,
            loaders=make_loaders(providers, cache=not isinstance(request, WebSocket)),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST of one JSON operation (what every client but GraphiQL and streaming ones sends) is
        executed here; everything else, and anything this path does not take as it is, goes to
        strawberry's view, which answers it with its own errors. This path does what the view does
        for such a request (context, `schema.execute`, `process_result`, `create_response`) without
        its request adapters and content negotiation, a tenth of a by-id request's CPU."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self._execute_json_post(request) if _json_post(scope) else None
            if response is None:
                response = await self.run(request)
        except HTTPException as exc:
            response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        await response(scope, receive, send)

    async def _execute_json_post(self, request: Request) -> Response | None:
        """The answer to a single JSON operation; None when the body is anything else (the view then
        reads the same body again, and refuses it as it would have)."""
        if self._get_stream_transport_from_headers(request.headers) is not None:
            return None
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or set(data) - OPERATION_KEYS:
            return None
        query, variables, name, extensions = (data.get(key) for key in ("query", "variables", "operationName", "extensions"))
        if not isinstance(query, str) or not query or not isinstance(variables, dict | None) \
                or not isinstance(name, str | None) or not isinstance(extensions, dict | None):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        try:
            result = await self.schema.execute(
                query, variable_values=variables, context_value=context, operation_name=name,
                allowed_operation_types=QUERIES_AND_MUTATIONS, operation_extensions=extensions,
            )
        except (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError):
            return None  # refused before anything ran: a subscription (streamed by the view) or no operation
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(orjson.dumps(response_data), status_code=sub_response.status_code or 200, media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()  # str, not bytes: bytes would make WebSocket frames binary

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


def create_app(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    bus: Bus | None = None,
) -> Starlette:
    """The gateway. `transports` replaces the network transport per provider name (tests, in-process)."""
    runtime = Runtime(settings=settings, bus=bus or make_bus(settings.bus_url))
    transports = dict(transports or {})
    provider_settings = list(settings.providers)
    if settings.embedded:
        embedded = embedded_providers(settings, gateway=lambda: app)
        provider_settings = [e.settings for e in embedded]
        for e in embedded:
            transports[e.settings.name] = httpx.ASGITransport(app=e.app)
            runtime.sandboxes[e.settings.vendor] = e.app
            runtime.closables.append(e.webhook_client)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for item in provider_settings:
                timeout = httpx.Timeout(settings.upstream_timeout, connect=min(3.0, settings.upstream_timeout))
                http = make_client(item.base_url, timeout=timeout, transport=transports.get(item.name))
                await stack.enter_async_context(http)
                runtime.providers[item.name] = build_provider(item.vendor, name=item.name, http=http, options=item.options)
                if item.webhook_secret:
                    runtime.webhook_secrets[item.name] = item.webhook_secret
            for closable in runtime.closables:
                stack.push_async_callback(closable.aclose)
            await runtime.bus.start()
            stack.push_async_callback(runtime.bus.stop)
            yield
        runtime.providers.clear()

    graphql = GatewayGraphQL(
        runtime,
        graphql_ide="graphiql" if settings.graphiql else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        connection_init_wait_timeout=timedelta(seconds=CONNECTION_INIT_TIMEOUT_SECONDS),
    )

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "providers": sorted(runtime.providers)})

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/webhooks/{provider}", webhook_endpoint(runtime), methods=["POST"]),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory gateway.app:app_from_env` (used by `parley serve --workers`)."""
    from .settings import load_settings

    return create_app(load_settings())

