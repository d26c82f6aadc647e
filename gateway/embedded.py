"""The embedded default: with no provider configured, one provider per registered sandbox that has
an adapter, each sandbox running in-process and seeded with demo conversations. The sandboxes send
their webhooks straight back into the gateway, so live subscriptions work out of the box."""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from providers import vendor_names
from sandboxes import load_sandbox, sandbox_names

from .settings import ProviderSettings, Settings

GATEWAY_URL = "http://parley.internal"


@dataclass(frozen=True)
class EmbeddedVendor:
    settings: ProviderSettings
    app: Starlette
    webhook_client: httpx.AsyncClient


def embedded_vendor_names() -> tuple[str, ...]:
    """The vendors the embedded default runs: those with both a sandbox and an adapter."""
    adapters = set(vendor_names())
    return tuple(name for name in sandbox_names() if name in adapters)


def embedded_providers(settings: Settings, *, gateway: Callable[[], ASGIApp]) -> list[EmbeddedVendor]:
    async def late_gateway(scope: Scope, receive: Receive, send: Send) -> None:
        # The gateway app exists only after the sandboxes. A webhook a sandbox sends while serving a
        # gateway request must not run inside that request's context (its vendor-call budget closes
        # with it): it runs in a fresh one, as a webhook arriving over the network would.
        async def deliver() -> None:
            await gateway()(scope, receive, send)

        await asyncio.create_task(deliver(), context=contextvars.Context())

    vendors: list[EmbeddedVendor] = []
    for vendor in embedded_vendor_names():
        sandbox = load_sandbox(vendor)
        secret = secrets.token_urlsafe(24)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=late_gateway), base_url=GATEWAY_URL)
        app = sandbox.create_app(
            webhook_url=f"{GATEWAY_URL}/webhooks/{vendor}?secret={secret}",
            webhook_client=client,
            demo_conversations=settings.demo_conversations,
        )
        provider = ProviderSettings(vendor, vendor, f"http://{vendor}.sandbox/", dict(sandbox.CREDENTIALS), secret)
        vendors.append(EmbeddedVendor(provider, app, client))
    return vendors
