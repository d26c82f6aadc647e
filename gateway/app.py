"""`create_app(settings)`: the Starlette application, wiring only. Its lifespan owns the long-lived
resources: one pooled vendor HTTP client per provider, the providers, and the event bus."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from providers import Resilient, build_provider
from providers._http import make_client
from providers._observe import set_observer

from . import metrics, tracing
from .access import RequestScope, VendorObserver
from . import tuning
from .admission import health_report
from .cors import BrowserOrigins
from .dispatch import GatewayApp
from .embedded import embedded_providers
from .events import Bus, InMemoryBus
from .graphiql import ASSET_DIR, ASSET_PATH
from .guard import Guard
from .logs import configure as configure_logging
from .pollers import Pollers
from .probes import breaker_check, bus_check, ready_endpoint
from .runtime import Runtime
from .settings import Settings
from .shutdown import ON_SHUTDOWN, end_subscriptions
from .sizes import BodyLimit
from .view import GatewayGraphQL
from .webhooks import webhook_endpoint

CONNECTION_INIT_TIMEOUT_SECONDS = 10
SANDBOX_PATH = "/sandbox"


def make_bus(url: str | None) -> Bus:
    """The in-memory bus, or with a Redis URL the bus every gateway instance on that Redis shares."""
    if url is None:
        return InMemoryBus()
    from .redis_bus import RedisBus  # Redis is needed only by those who configure it

    return RedisBus(url)


def create_app(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    bus: Bus | None = None,
) -> Starlette:
    """The gateway. `transports` replaces the network transport per provider name (tests, in-process)."""
    runtime = Runtime(settings=settings, bus=metrics.MeteredBus(bus or make_bus(settings.bus_url)), guard=Guard(settings))
    runtime.readiness_checks.append(bus_check(runtime.bus))
    set_observer(VendorObserver())  # vendor calls into the metrics and access lines (one observer per process)
    tracing.setup()  # spans only with opentelemetry installed and a tracer provider configured
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
    async def lifespan(_: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            metrics.process_started()
            stack.callback(metrics.process_stopped)
            for item in provider_settings:
                timeout = httpx.Timeout(settings.upstream_timeout, connect=min(3.0, settings.upstream_timeout))
                http = make_client(item.base_url, timeout=timeout, transport=transports.get(item.name))
                await stack.enter_async_context(http)
                wire = Resilient(http, provider=item.name, policy=settings.resilience)  # one breaker per provider
                runtime.breakers[item.name] = wire.breaker
                runtime.readiness_checks.append(breaker_check(item.name, wire.breaker))
                runtime.providers[item.name] = build_provider(item.vendor, name=item.name, http=wire, options=item.options)
                if item.webhook_secret:
                    runtime.webhook_secrets[item.name] = item.webhook_secret
            for closable in runtime.closables:
                stack.push_async_callback(closable.aclose)
            await runtime.bus.start()
            stack.push_async_callback(runtime.bus.stop)
            polled = [(runtime.providers[p.name], p.poll_interval) for p in provider_settings if p.poll_interval]
            runtime.pollers = Pollers(polled, runtime.bus)
            runtime.pollers.start()
            stack.push_async_callback(runtime.pollers.stop)
            if runtime.guard is not None:
                stack.push_async_callback(runtime.guard.aclose)
            from .migrate.handle import MigrationsHandle  # SQLAlchemy is imported only by a gateway that starts

            runtime.migrations = MigrationsHandle(settings.migrations, runtime.providers)
            stack.push_async_callback(runtime.migrations.close)
            await runtime.migrations.start()
            tuning.after_startup()
            yield {ON_SHUTDOWN: functools.partial(end_subscriptions, runtime.bus)}  # called by gateway.serving
        runtime.providers.clear()
        runtime.breakers.clear()

    graphql = GatewayGraphQL(
        runtime,
        graphql_ide="graphiql" if settings.graphiql_on else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        connection_init_wait_timeout=timedelta(seconds=CONNECTION_INIT_TIMEOUT_SECONDS),
        allowed_origins=settings.cors_origins,  # browsers skip CORS for WebSockets: the same list, checked by the view
    )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(health_report(runtime, request.headers))

    app = GatewayApp(  # Starlette; a POST or a WebSocket to /graphql goes straight to the view (gateway/dispatch.py)
        socket_app=graphql,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/webhooks/{provider}", webhook_endpoint(runtime), methods=["POST"]),
            Route("/health", health),
            Route("/ready", ready_endpoint(runtime.readiness_checks, runtime.authenticator)),
            *([Route("/metrics", metrics.metrics_endpoint(settings))] if settings.operations.metrics_port is None else []),
            *([Mount(ASSET_PATH.rstrip("/"), StaticFiles(directory=ASSET_DIR, check_dir=False))] if settings.graphiql_on else []),
            # The embedded default's sandboxes, so the demo can play the customer (their /_sandbox hooks)
            *(Mount(f"{SANDBOX_PATH}/{name}", sandbox) for name, sandbox in runtime.sandboxes.items()),
        ],
        lifespan=lifespan,
        middleware=[Middleware(BodyLimit, limit=settings.limits.max_body_bytes, paths=("/graphql", "/webhooks/"))],
    )
    app.add_middleware(BrowserOrigins, origins=settings.cors_origins)
    app.add_middleware(RequestScope)  # added last: outermost (request ids and access lines for every answer)
    app.state.runtime = runtime
    return app


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory gateway.app:app_from_env` (used by `parley serve --workers`)."""
    from .settings import load_settings

    tuning.enable()
    settings = load_settings()
    configure_logging(settings.operations.log_level)  # a worker process starts without its parent's logging
    return create_app(settings)

