"""The embedded default (`parley serve` with no configuration) in-process: the three vendors'
sandboxes, each delivering its webhooks back into the gateway, reached over httpx.ASGITransport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gateway.app import create_app
from gateway.events import Bus
from gateway.settings import Settings

from .helpers import Gateway

PROVIDERS = ("socialboards", "infobip", "clevertap")


@contextlib.asynccontextmanager
async def embedded(demo_conversations: int = 6, bus: Bus | None = None, **settings: Any) -> AsyncIterator[Gateway]:
    """`bus`: the event bus to use instead of the in-memory one."""
    app = create_app(Settings(demo_conversations=demo_conversations, graphiql=False, **settings), bus=bus)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


@contextlib.asynccontextmanager
async def sandbox(gateway: Gateway, vendor: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client to one embedded sandbox's own API (its `/_sandbox` hooks need no credentials)."""
    app = gateway.app.state.runtime.sandboxes[vendor]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{vendor}.sandbox") as client:
        yield client


async def one_per_provider(gateway: Gateway, status: list[str] | None = None) -> dict[str, str]:
    """A conversation id per provider (of those with the given statuses)."""
    query = "query($f: ConversationFilter) { conversations(first: 100, filter: $f) { edges { node { id provider } } } }"
    data = await gateway.data(query, {"f": {"status": status} if status else None})
    ids: dict[str, str] = {}
    for edge in data["conversations"]["edges"]:
        ids.setdefault(edge["node"]["provider"], edge["node"]["id"])
    assert set(ids) == set(PROVIDERS), ids
    return ids
