"""What an idle WebSocket subscriber keeps, and that it still gets everything it got before: the
WebSocket to /graphql goes past Starlette's middleware (gateway/dispatch.py), a connection's loaders
are made on first use (gateway/context.py), and the bench's minimal client reads real frames."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from gateway import live
from gateway.app import create_app
from gateway.context import make_loaders
from gateway.serving import FanoutWebSocketProtocol
from gateway.settings import Settings
from gateway.view import GatewayGraphQL

from .helpers import ADD, CREATE, MESSAGE_ADDED, uvicorn_serving

ORIGIN = "https://app.example.com"


def view_of_app(app: Any) -> GatewayGraphQL:
    return next(route.endpoint for route in app.routes if isinstance(getattr(route, "endpoint", None), GatewayGraphQL))


class Seen:
    """A middleware recording the scopes that pass through the middleware stack."""

    scopes: list[tuple[str, str]] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            Seen.scopes.append((scope["type"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def client() -> Any:
    app = create_app(Settings(demo_conversations=2, graphiql=False, cors_origins=[ORIGIN]))
    app.add_middleware(Seen)
    Seen.scopes = []
    with TestClient(app) as test_client:
        yield test_client


def test_a_websocket_to_graphql_skips_the_middleware_and_keeps_its_request_id_and_access_line(
    client: TestClient, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="parley.access")
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers={"X-Request-Id": "ws-path-1"}) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        assert client.post("/graphql", json={"query": "{ __typename }"}).status_code == 200
    assert Seen.scopes == [("http", "/graphql")]  # the socket went past the stack; the POST through it
    lines = [r.getMessage() for r in caplog.records if r.name == "parley.access" and r.getMessage().startswith("WS ")]
    assert len(lines) == 1 and lines[0].startswith("WS /graphql 101"), lines


def test_a_websocket_to_graphql_gets_its_request_id_on_the_handshake(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers={"X-Request-Id": "ws-path-2"}) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        assert dict(ws.extra_headers)[b"x-request-id"] == b"ws-path-2"  # type: ignore[attr-defined]


def test_the_origin_allow_list_still_refuses_a_websocket_from_another_page(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers={"Origin": "https://evil.example"}):
            pass
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers={"Origin": ORIGIN}) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"


def test_a_websocket_to_another_path_goes_through_the_middleware_as_before(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/health"):
            pass
    assert Seen.scopes == [("websocket", "/health")]


async def test_loaders_are_made_on_first_use_and_then_kept() -> None:  # DataLoader takes the running loop
    loaders = make_loaders({}, cache=True)
    assert not loaders.built
    conversation = loaders.conversation
    assert loaders.built and loaders.conversation is conversation and loaders.messages is loaders.messages


def test_a_subscriber_that_joins_a_group_never_makes_its_own_loaders(client: TestClient) -> None:
    conversation = client.post("/graphql", json={"query": CREATE, "variables": {"input": {
        "provider": "socialboards", "customer": {"name": "Lazy", "externalId": "lazy-1"}}}}).json()["data"]["createConversation"]["conversation"]["id"]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": MESSAGE_ADDED, "variables": {"id": conversation}}})
        deadline = time.monotonic() + 5
        while not live.hub_of(view_of_app(client.app)).groups:
            assert time.monotonic() < deadline, "the subscription did not join a group"
            time.sleep(0.02)
        client.post("/graphql", json={"query": ADD, "variables": {"id": conversation, "text": "lazy"}})
        assert ws.receive_json()["payload"]["data"]["messageAdded"]["message"]["text"] == "lazy"
        (group,) = live.hub_of(view_of_app(client.app)).groups.values()
        (member,) = group.members
        assert not member.handler.context.loaders.built


async def test_the_benchs_minimal_client_reads_what_parley_serve_writes() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        import fanout_clients
    finally:
        sys.path.pop(0)
    app = create_app(Settings(demo_conversations=2, graphiql=False))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws=FanoutWebSocketProtocol, ws_per_message_deflate=False)
    received: list[tuple[int, float]] = []
    failures: list[str] = []
    async with uvicorn_serving(config) as origin, httpx.AsyncClient(base_url=origin) as http:
        created = await http.post("/graphql", json={"query": CREATE, "variables": {"input": {
            "provider": "socialboards", "customer": {"name": "Bench", "externalId": "bench-1"}}}})
        conversation = created.json()["data"]["createConversation"]["conversation"]["id"]
        subscribe = orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": MESSAGE_ADDED, "variables": {"id": conversation}}})
        url = origin.replace("http", "ws") + "/graphql"
        host, port = origin.rsplit("/", 1)[1].split(":")
        loop = asyncio.get_running_loop()
        _, subscriber = await loop.create_connection(lambda: fanout_clients.RawSubscriber(url, received, failures, subscribe), host, int(port))
        await asyncio.wait_for(subscriber.subscribed, 5)
        deadline = time.monotonic() + 5
        while not live.hub_of(view_of_app(app)).groups and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for n in (7, 300):  # the second one's frame is over 125 bytes: a 16-bit length
            text = f"fanout event {n}" + (" padding" * 40 if n == 300 else "")
            await http.post("/graphql", json={"query": ADD, "variables": {"id": conversation, "text": text}})
        while len(received) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        subscriber.close()
    assert failures == [] and [n for n, _ in received] == [7, 300]
