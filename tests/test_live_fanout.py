"""Shared fan-out over graphql-transport-ws (gateway/live.py): subscribers of one subscription share its
execution, and each receives, frame for frame, what its own stream (strawberry's handler, as before)
sends beside it; a refused one, one with `since` and one that falls behind are answered as before."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway import live
from gateway.admission import TransportWSHandler
from gateway.app import create_app
from gateway.events import QUEUE_SIZE
from gateway.settings import Settings
from gateway.view import GatewayGraphQL

from .helpers import ADD, MESSAGE_ADDED, from_the_start, new_conversation, post

PROVIDERS_ADDED = """subscription P($providers: [String!]) { messageAdded(providers: $providers) { cursor message { text provider } } }"""


@pytest.fixture(autouse=True)
def shared_fan_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared fan-out is not the default handler yet (see gateway/live.py): these tests switch it on."""
    monkeypatch.setattr(GatewayGraphQL, "graphql_transport_ws_handler_class", live.LiveTransportWSHandler)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(demo_conversations=2, graphiql=False))) as test_client:
        yield test_client


def view_of(client: TestClient) -> GatewayGraphQL:
    return next(route.endpoint for route in client.app.routes if isinstance(getattr(route, "endpoint", None), GatewayGraphQL))  # type: ignore[attr-defined]


def subscribers_on_the_bus(client: TestClient) -> int:
    return client.app.state.runtime.bus.subscriber_count  # type: ignore[no-any-return]


@contextlib.contextmanager
def subscribed(client: TestClient, query: str, variables: dict[str, Any], *, operation_id: str = "1", own_stream: bool = False) -> Iterator[Any]:
    """A graphql-transport-ws connection with one subscription; `own_stream`: through strawberry's
    handler as before shared fan-out (the reference each shared member is compared with)."""
    with pytest.MonkeyPatch.context() as patch:
        if own_stream:
            patch.setattr(GatewayGraphQL, "graphql_transport_ws_handler_class", TransportWSHandler)
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
            patch.undo()
            yield ws


def frames_until_complete(ws: Any, limit: int = 10) -> list[str]:
    """The frames up to `complete`, each connection's own request id left out (they differ by design)."""
    frames = []
    for _ in range(limit):
        frames.append(re.sub(r',"requestId":"[^"]*"', "", ws.receive_text()))
        if json.loads(frames[-1])["type"] in ("complete", "error"):
            break
    return frames


def test_subscribers_of_one_subscription_share_one_execution_and_get_what_their_own_stream_sends(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    variables = {"id": conversation}
    with contextlib.ExitStack() as stack:
        shared = [stack.enter_context(subscribed(client, MESSAGE_ADDED, variables)) for _ in range(3)]
        other_id = stack.enter_context(subscribed(client, MESSAGE_ADDED, variables, operation_id="op-7"))
        own = stack.enter_context(subscribed(client, MESSAGE_ADDED, variables, own_stream=True))
        time.sleep(0.2)
        groups = list(live.hub_of(view_of(client)).groups.values())
        assert [len(g.members) for g in groups] == [4]  # the three and op-7: one group
        assert subscribers_on_the_bus(client) == 2  # that group's stream and the own one
        for text in ("one", "two"):
            post(client, ADD, {"id": conversation, "text": text})  # its webhook echo is the same message: one event
        expected = [own.receive_text() for _ in range(2)]
        assert [json.loads(f)["payload"]["data"]["messageAdded"]["message"]["text"] for f in expected] == ["one", "two"]
        for ws in shared:
            assert [ws.receive_text() for _ in range(2)] == expected  # byte for byte
        renamed = [json.loads(other_id.receive_text()) for _ in range(2)]
        assert renamed == [{**json.loads(f), "id": "op-7"} for f in expected]


def test_a_refused_subscription_is_answered_as_before(client: TestClient) -> None:
    variables = {"providers": ["no-such-provider"]}
    with subscribed(client, PROVIDERS_ADDED, variables, own_stream=True) as own:
        expected = frames_until_complete(own)
    with subscribed(client, PROVIDERS_ADDED, variables) as ws:
        assert frames_until_complete(ws) == expected
    assert "no-such-provider" in expected[0] and json.loads(expected[-1])["type"] == "complete"
    assert not live.hub_of(view_of(client)).groups


def test_a_subscription_with_since_keeps_its_own_stream_and_replays(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    post(client, ADD, {"id": conversation, "text": "before"})
    with subscribed(client, MESSAGE_ADDED, {"id": conversation, "since": from_the_start(client)}) as ws:
        replayed = json.loads(ws.receive_text())
        assert not live.hub_of(view_of(client)).groups and subscribers_on_the_bus(client) == 1
    assert replayed["payload"]["data"]["messageAdded"]["message"]["text"] == "before"


def test_the_last_member_leaving_ends_the_groups_bus_subscription(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    with subscribed(client, MESSAGE_ADDED, {"id": conversation}) as ws:
        time.sleep(0.1)
        assert subscribers_on_the_bus(client) == 1
        ws.send_json({"id": "1", "type": "complete"})
        time.sleep(0.2)
        assert subscribers_on_the_bus(client) == 0 and not live.hub_of(view_of(client)).groups


def test_the_cut_off_a_member_gets_is_the_one_its_own_stream_gets_from_the_bus(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    with subscribed(client, MESSAGE_ADDED, {"id": conversation}, own_stream=True) as own:
        time.sleep(0.1)
        (subscriber,) = client.app.state.runtime.bus.inner._subscribers.live  # type: ignore[attr-defined]
        subscriber.overflowed = True  # as the bus marks one whose queue is full
        post(client, ADD, {"id": conversation, "text": "last"})
        frames = [json.loads(f) for f in frames_until_complete(own)]
    assert [f["type"] for f in frames] == ["next", "next", "complete"]
    assert frames[1]["payload"] == live._overflow_payload()


class SlowSocket:
    """A member's handler whose socket takes nothing until `drain` is set."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.drain = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self.drain.wait()
        self.sent.append(json.loads(text))

    def encode(self, value: object) -> str:
        return json.dumps(value, separators=(",", ":"))


class FakeOperation:
    def __init__(self, socket: SlowSocket) -> None:
        self.id, self.socket = "9", socket

    async def send_operation_message(self, message: dict[str, Any]) -> None:
        self.socket.sent.append(message)


async def test_a_member_whose_socket_does_not_drain_is_cut_off_after_its_queue_and_the_others_go_on() -> None:
    slow_socket, fast_socket = SlowSocket(), SlowSocket()
    fast_socket.drain.set()
    slow = live.Member(slow_socket, FakeOperation(slow_socket))  # type: ignore[arg-type]
    fast = live.Member(fast_socket, FakeOperation(fast_socket))  # type: ignore[arg-type]
    runs = [asyncio.create_task(member.run()) for member in (slow, fast)]
    payloads = [json.dumps({"data": {"n": n}}, separators=(",", ":")) for n in range(QUEUE_SIZE + 5)]
    for payload in payloads:
        slow.push(payload)
        fast.push(payload)
    fast.push(live._END)
    await asyncio.wait_for(runs[1], 2)
    assert [f["payload"]["data"]["n"] for f in fast_socket.sent[:-1]] == list(range(QUEUE_SIZE + 5))
    assert fast_socket.sent[-1] == {"id": "9", "type": "complete"}
    slow_socket.drain.set()
    await asyncio.wait_for(runs[0], 2)
    # the send that blocked, the QUEUE_SIZE queued behind it, then the cut-off and `complete`
    assert [f["payload"]["data"]["n"] for f in slow_socket.sent[:-2]] == list(range(QUEUE_SIZE + 1))
    assert slow_socket.sent[-2] == {"id": "9", "type": "next", "payload": live._overflow_payload()}
    assert slow_socket.sent[-1] == {"id": "9", "type": "complete"}
