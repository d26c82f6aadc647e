"""Providers for a process that is not the gateway (`parley migrate`): the configured ones, or with
none configured the embedded sandboxes, in-process as in `parley serve`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from providers import Provider, build_provider
from providers._http import make_client

from ..embedded import embedded_providers
from ..settings import Settings


async def _no_gateway(scope: Scope, receive: Receive, send: Send) -> None:
    """Where the embedded sandboxes' webhooks go when no gateway runs: accepted and dropped."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def open_providers(settings: Settings) -> AsyncIterator[dict[str, Provider]]:
    provider_settings = list(settings.providers)
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    async with contextlib.AsyncExitStack() as stack:
        if settings.embedded:
            for vendor in embedded_providers(settings, gateway=lambda: _no_gateway):
                provider_settings.append(vendor.settings)
                transports[vendor.settings.name] = httpx.ASGITransport(app=vendor.app)
                stack.push_async_callback(vendor.webhook_client.aclose)
        providers: dict[str, Provider] = {}
        for item in provider_settings:
            timeout = httpx.Timeout(settings.upstream_timeout, connect=min(3.0, settings.upstream_timeout))
            http = make_client(item.base_url, timeout=timeout, transport=transports.get(item.name))
            await stack.enter_async_context(http)
            providers[item.name] = build_provider(item.vendor, name=item.name, http=http, options=item.options)
        yield providers
