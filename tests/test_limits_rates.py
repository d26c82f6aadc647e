"""Per-client rate limits: requests and estimated vendor calls per window, in memory or shared on Redis."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from gateway.app import create_app
from gateway.auth import SCOPES, Principal
from gateway.context import Context
from gateway.events import InMemoryBus
from gateway.limit_settings import Limits
from gateway.settings import ProviderSettings, Settings
from gateway.view import GatewayGraphQL

from .helpers import SB_BASE, SB_OPTIONS, Gateway, free_port, socialboards_app as sandbox_app

SB = ProviderSettings("sb", "socialboards", SB_BASE, SB_OPTIONS)
CLIENT_HEADER = "x-test-client"
QUERY = "{ providers { name } }"


@pytest.fixture(autouse=True)
def principal_from_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only: the request acts as the client named in `x-test-client` (authentication is not this
    module's business; the limits read only `context.principal.client`)."""
    original = GatewayGraphQL.get_context

    async def get_context(self: GatewayGraphQL, request: Request | WebSocket, response: Any) -> Context:
        context = await original(self, request, response)
        name = request.headers.get(CLIENT_HEADER)
        if name:
            context.principal = Principal(client=name, scopes=SCOPES)
        return context

    monkeypatch.setattr(GatewayGraphQL, "get_context", get_context)


@contextlib.asynccontextmanager
async def limited(sandbox: Starlette | None = None, *, bus_url: str | None = None, **limits: Any) -> AsyncIterator[Gateway]:
    settings = Settings(providers=(SB,), graphiql=False, bus_url=bus_url, limits=Limits(**limits))
    app = create_app(settings, transports={"sb": httpx.ASGITransport(app=sandbox or sandbox_app(demo_conversations=2))})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


async def post(gateway: Gateway, client: str | None = None, query: str = QUERY) -> httpx.Response:
    headers = {CLIENT_HEADER: client} if client else {}
    return await gateway.client.post("/graphql", json={"query": query}, headers=headers)


def refusal(response: httpx.Response) -> dict[str, Any]:
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", error
    return error


async def test_a_client_over_its_request_rate_gets_429_with_retry_after_and_others_are_served() -> None:
    async with limited(rate_limit="3/minute") as gateway:
        for _ in range(3):
            assert (await post(gateway, "console")).status_code == 200
        refused = await post(gateway, "console")
        assert refused.status_code == 429
        error = refusal(refused)
        assert isinstance(error["extensions"]["retryAfter"], int) and error["extensions"]["retryAfter"] >= 1
        assert refused.headers["retry-after"] == str(error["extensions"]["retryAfter"])
        assert "over its limit of 3/minute requests (server.rate_limit)" in error["message"]
        assert refused.json()["data"] is None
        assert (await post(gateway, "widget")).json() == {"data": {"providers": [{"name": "sb"}]}}
        assert (await post(gateway)).status_code == 200  # anonymous: counted by address


async def test_the_cost_rate_charges_each_requests_estimate() -> None:
    six = "{ conversations(first: 5) { edges { node { status } } } }"  # one listing, five reads
    async with limited(cost_rate_limit="10/minute") as gateway:
        first = await gateway.client.post("/graphql", json={"query": six, "extensions": {"cost": True}})
        assert first.json()["extensions"]["cost"]["estimated"] == 7  # and a sign-in
        error = refusal(await post(gateway, query=six))
        assert "10/minute estimated vendor calls (server.cost_rate_limit)" in error["message"]
        assert (await post(gateway, query=QUERY)).status_code == 200  # costs nothing: not charged


@pytest.fixture
def socket_client() -> Iterator[TestClient]:
    app = create_app(Settings(demo_conversations=2, graphiql=False, limits=Limits(rate_limit="1/minute")))
    with TestClient(app) as client:
        yield client


def test_a_websocket_operation_over_the_rate_gets_the_error_and_the_socket_stays_open(socket_client: TestClient) -> None:
    with socket_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": QUERY}})
        assert ws.receive_json()["type"] == "next" and ws.receive_json()["type"] == "complete"
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": "subscription { messageAdded { cursor } }"}})
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["id"] == "2"
        assert [e["extensions"]["code"] for e in frame["payload"]] == ["RATE_LIMITED"]
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"


async def test_two_instances_on_one_redis_share_a_clients_limits(redis_url: str) -> None:
    client = f"console-{uuid.uuid4().hex}"  # the test's own counters on the shared server
    async with limited(bus_url=redis_url, rate_limit="3/minute") as a, limited(bus_url=redis_url, rate_limit="3/minute") as b:
        assert [(await post(a, client)).status_code, (await post(a, client)).status_code, (await post(b, client)).status_code] == [200] * 3
        refused = await post(b, client)
        assert refused.status_code == 429 and refusal(refused)
        assert (await post(a, client)).status_code == 429
        assert (await post(b, f"other-{client}")).status_code == 200


async def test_an_unreachable_redis_leaves_requests_served_and_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """Counters and persisted queries on a Redis that is away: nothing is limited, nothing fails."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings(providers=(SB,), graphiql=False, bus_url=dead, limits=Limits(rate_limit="1/minute"))
    app = create_app(settings, transports={"sb": httpx.ASGITransport(app=sandbox_app(demo_conversations=2))}, bus=InMemoryBus())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            for _ in range(2):
                assert (await client.post("/graphql", json={"query": QUERY})).json() == {"data": {"providers": [{"name": "sb"}]}}
            miss = await client.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}})
            assert [e["extensions"]["code"] for e in miss.json()["errors"]] == ["PERSISTED_QUERY_NOT_FOUND"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "parley.limits"]
    assert any("rate limit 1 per 1 minute not applied" in w for w in warnings)
    assert any("persisted query lookup failed" in w for w in warnings)
    assert not [r for r in caplog.records if r.exc_info]
