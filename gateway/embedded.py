"""The embedded default: with no provider configured, one provider per vendor, each backed by that
vendor's sandbox running in-process and seeded with demo conversations. The sandboxes send their
webhooks straight back into the gateway, so live subscriptions work out of the box."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from providers.clevertap import sandbox as clevertap_sandbox
from providers.infobip import sandbox as infobip_sandbox
from providers.socialboards import sandbox as socialboards_sandbox

from .settings import ProviderSettings, Settings

GATEWAY_URL = "http://parley.internal"
# The sandboxes' default credentials: the demo needs no secrets.
SANDBOX_OPTIONS: dict[str, dict[str, Any]] = {
    "socialboards": {"client_id": "sandbox-client", "refresh_token": "sandbox-refresh"},
    "infobip": {"api_key": "sandbox-key"},
    "clevertap": {"account_id": "SANDBOX-ACCOUNT", "passcode": "sandbox-passcode", "agent_email": "asha.rao@example.com"},
}


@dataclass(frozen=True)
class EmbeddedVendor:
    settings: ProviderSettings
    app: Starlette
    webhook_client: httpx.AsyncClient


def embedded_providers(settings: Settings, *, gateway: Callable[[], ASGIApp]) -> list[EmbeddedVendor]:
    async def late_gateway(scope: Scope, receive: Receive, send: Send) -> None:
        await gateway()(scope, receive, send)  # the gateway app exists only after the sandboxes

    demo = settings.demo_conversations
    vendors: list[EmbeddedVendor] = []
    for vendor, build in _SANDBOXES.items():
        secret = secrets.token_urlsafe(24)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=late_gateway), base_url=GATEWAY_URL)
        app = build(f"{GATEWAY_URL}/webhooks/{vendor}?secret={secret}", client, demo)
        options = dict(SANDBOX_OPTIONS[vendor])
        provider = ProviderSettings(vendor, vendor, f"http://{vendor}.sandbox/", options, secret)
        vendors.append(EmbeddedVendor(provider, app, client))
    return vendors


def _socialboards(url: str, client: httpx.AsyncClient, demo: int) -> Starlette:
    options = SANDBOX_OPTIONS["socialboards"]
    return socialboards_sandbox.create_app(
        client_id=options["client_id"], refresh_token=options["refresh_token"], community="parley-demo",
        webhook_url=url, webhook_client=client, demo_conversations=demo,
    )


def _infobip(url: str, client: httpx.AsyncClient, demo: int) -> Starlette:
    return infobip_sandbox.create_app(
        api_key=SANDBOX_OPTIONS["infobip"]["api_key"], webhook_url=url, webhook_client=client, demo_conversations=demo
    )


def _clevertap(url: str, client: httpx.AsyncClient, demo: int) -> Starlette:
    options = SANDBOX_OPTIONS["clevertap"]
    return clevertap_sandbox.create_app(
        account_id=options["account_id"], passcode=options["passcode"],
        webhook_url=url, webhook_client=client, demo_conversations=demo,
    )


_SANDBOXES: dict[str, Callable[[str, httpx.AsyncClient, int], Starlette]] = {
    "socialboards": _socialboards,
    "infobip": _infobip,
    "clevertap": _clevertap,
}
