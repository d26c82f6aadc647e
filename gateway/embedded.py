"""The embedded default: with no provider configured, one provider per vendor, each backed by that
vendor's sandbox running in-process and seeded with demo conversations. The sandboxes send their
webhooks straight back into the gateway, so live subscriptions work out of the box."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from providers.socialboards import sandbox as socialboards_sandbox

from .settings import ProviderSettings, Settings

GATEWAY_URL = "http://parley.internal"
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_REFRESH_TOKEN = "sandbox-refresh"


@dataclass(frozen=True)
class EmbeddedVendor:
    settings: ProviderSettings
    app: Starlette
    webhook_client: httpx.AsyncClient


def embedded_providers(settings: Settings, *, gateway: Callable[[], ASGIApp]) -> list[EmbeddedVendor]:
    async def late_gateway(scope: Scope, receive: Receive, send: Send) -> None:
        await gateway()(scope, receive, send)  # the gateway app exists only after the sandboxes

    secret = secrets.token_urlsafe(24)
    webhook_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=late_gateway), base_url=GATEWAY_URL)
    app = socialboards_sandbox.create_app(
        client_id=SANDBOX_CLIENT_ID,
        refresh_token=SANDBOX_REFRESH_TOKEN,
        community="parley-demo",
        webhook_url=f"{GATEWAY_URL}/webhooks/socialboards?secret={secret}",
        webhook_client=webhook_client,
        demo_conversations=settings.demo_conversations,
    )
    provider = ProviderSettings(
        name="socialboards",
        vendor="socialboards",
        base_url="http://socialboards.sandbox/",
        options={"client_id": SANDBOX_CLIENT_ID, "refresh_token": SANDBOX_REFRESH_TOKEN},
        webhook_secret=secret,
    )
    return [EmbeddedVendor(provider, app, webhook_client)]
