"""The gateway over real loopback sockets, the way `parley serve` talks to vendors (providers._wire's
VendorHttp on aiohttp), answers exactly as the same gateway over in-process transports does: reads,
writes, a vendor's error, and Socialboards' token sign-in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.ids import conversation_node_id

from .helpers import (
    uvicorn_serving,
    PROVIDERS,
    Gateway,
    advance_clock,
    asgi_client,
    every_edge,
    gateway_over,
    gateway_settings,
    sandbox_requests,
    socialboards_app,
    vendor_apps,
)

READS = [
    """{ conversations(first: 30) { edges { node { id provider remoteId topic status priority channel
         updatedAt tags customer { name } assignee { id } lastMessage { id text createdAt direction } } }
         pageInfo { hasNextPage } } }""",
    """query($f: ConversationFilter) { conversations(first: 10, filter: $f) { edges { node { id status tags } } } }""",
]
PAGE = """query($after: String) { conversations(first: 5, after: $after) { edges { node { id } }
  pageInfo { hasNextPage endCursor } } }"""
BY_ID = """query($id: ID!, $first: Int! = 50, $newestFirst: Boolean! = false) {
  conversation(id: $id) { id topic status tags customer { name }
    messages(first: $first, newestFirst: $newestFirst) {
      edges { node { id text direction createdAt author { name role } } } pageInfo { hasNextPage } } } }"""


@contextlib.asynccontextmanager
async def served(app: Starlette, *, grace: float | None = None) -> AsyncIterator[str]:
    """`app` under uvicorn on a free loopback port; its base URL. `grace`: seconds the requests still
    running at the end are given (default: as long as they take)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=grace)
    async with uvicorn_serving(config) as origin:
        yield origin + "/"


@contextlib.asynccontextmanager
async def gateway_on_sockets(apps: dict[str, Starlette]) -> AsyncIterator[Gateway]:
    async with contextlib.AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(served(app)) for name, app in apps.items()}
        settings = gateway_settings(*(replace(PROVIDERS[name], base_url=url) for name, url in urls.items()), timeout=5.0)
        app = create_app(settings)  # no transports: the network, as in production
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(asgi_client(app, "http://parley.test"))
        yield Gateway(app, client)


@pytest.fixture
def apps() -> dict[str, Starlette]:
    return vendor_apps(demo_conversations=12)


async def every_id(gateway: Gateway) -> list[str]:
    """The inbox's ids, page by page (cursors hold vendors' own opaque cursors, so only where they lead is compared)."""
    return [edge["node"]["id"] for edge in await every_edge(gateway, PAGE)]


async def test_reads_over_sockets_equal_reads_in_process(apps: dict[str, Starlette]) -> None:
    async with gateway_on_sockets(apps) as wire, gateway_over(*((PROVIDERS[n], a) for n, a in apps.items())) as local:
        for query in READS:
            for variables in ({}, {"f": {"status": "OPEN"}}, {"f": {"tags": ["vip"]}}, {"f": {"search": "order"}}):
                assert await wire.execute(query, variables) == await local.execute(query, variables)
        assert len(await every_id(wire)) > 10 and await every_id(wire) == await every_id(local)
        edges = (await local.data(READS[0]))["conversations"]["edges"]
        ids = {e["node"]["provider"]: e["node"]["id"] for e in edges}
        assert set(ids) == set(apps)
        for gid in ids.values():
            answer = await wire.data(BY_ID, {"id": gid})
            assert answer == await local.data(BY_ID, {"id": gid}) and answer["conversation"]["messages"]["edges"]


async def test_writes_over_sockets_reach_the_vendor(apps: dict[str, Starlette]) -> None:
    async with gateway_on_sockets(apps) as wire, gateway_over(*((PROVIDERS[n], a) for n, a in apps.items())) as local:
        edges = (await local.data('{ conversations(first: 30, filter: {status: OPEN}) { edges { node { id provider } } } }'))
        ids = {e["node"]["provider"]: e["node"]["id"] for e in edges["conversations"]["edges"]}
        for provider, gid in ids.items():
            text = f"sent over a socket to {provider}: é & ?"
            added = await wire.data(
                """mutation($id: ID!, $t: String!) { addMessages(conversationId: $id, messages: [{text: $t}]) {
                     __typename ... on AddMessagesPayload { messages { text } } ... on Error { message } } }""",
                {"id": gid, "t": text})
            assert added["addMessages"] == {"__typename": "AddMessagesPayload", "messages": [{"text": text}]}, provider
            seen = await local.data(BY_ID, {"id": gid, "first": 1, "newestFirst": True})
            assert seen["conversation"]["messages"]["edges"][0]["node"]["text"] == text


async def test_a_vendor_error_over_sockets_is_the_same_typed_error(apps: dict[str, Starlette]) -> None:
    missing = {"sb": "999999", "ib": "no-such-conversation", "ct": "no-such-conversation"}
    async with gateway_on_sockets(apps) as wire, gateway_over(*((PROVIDERS[n], a) for n, a in apps.items())) as local:
        for provider, remote_id in missing.items():
            gid = conversation_node_id(provider, remote_id)
            query = 'mutation($id: ID!) { addTags(id: $id, tags: ["x"]) { __typename ... on Error { code } } }'
            answer = await wire.data(query, {"id": gid})
            assert answer == await local.data(query, {"id": gid}), provider
            assert answer["addTags"]["__typename"].endswith("Error"), provider


async def test_socialboards_signs_in_over_sockets_and_again_when_its_token_expires() -> None:
    app = socialboards_app(demo_conversations=3)
    async with served(app) as url, gateway_on_sockets({"sb": app}) as wire, httpx.AsyncClient(base_url=url) as hooks:
        query = "{ conversations(first: 5) { edges { node { id } } } }"
        assert len((await wire.data(query))["conversations"]["edges"]) == 3
        await advance_clock(hooks, 7200)
        assert len((await wire.data(query))["conversations"]["edges"]) == 3
        log = await sandbox_requests(hooks)
        assert [r["path"] for r in log].count("/token") == 2
