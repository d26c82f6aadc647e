"""`/ready` says unready while a provider's circuit breaker refuses calls, and ready again once it lets
a probe through."""

from __future__ import annotations

import httpx

from gateway.app import create_app
from gateway.settings import Settings
from providers import ResiliencePolicy

from .helpers import SB_BASE, SB_PROVIDER, asgi_client, inject_fault, socialboards_app

LIST = "{ conversations(first: 1) { edges { node { id } } } }"


async def test_ready_is_503_naming_the_provider_while_its_breaker_is_open() -> None:
    sandbox = socialboards_app(demo_conversations=2)
    policy = ResiliencePolicy(breaker_failures=2, breaker_window=10, breaker_cooldown=30)
    app = create_app(Settings(providers=(SB_PROVIDER,), graphiql=False, resilience=policy),
                     transports={SB_PROVIDER.name: httpx.ASGITransport(app=sandbox)})
    async with app.router.lifespan_context(app), asgi_client(sandbox, SB_BASE) as hooks:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            assert (await client.get("/ready")).status_code == 200
            await inject_fault(hooks, status=503)
            for _ in range(3):
                await client.post("/graphql", json={"query": LIST})
            unready = await client.get("/ready")  # ASGITransport's peer is 127.0.0.1: reasons are shown
            assert unready.status_code == 503
            assert "circuit breaker" in unready.text and SB_PROVIDER.name in unready.text
