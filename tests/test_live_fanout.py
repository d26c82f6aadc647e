"""Shared fan-out over graphql-transport-ws (gateway/live.py), the default handler: subscribers of one
subscription share its execution, and each receives, frame for frame, what its own stream (strawberry's
handler, as before) sends beside it; a refused one, one with `since` and one that falls behind are
answered as before; each member's access line and metrics are those its own stream would have made;
under `parley serve`'s WebSocket protocol the frames go straight to the socket, the same bytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from prometheus_client import REGISTRY
from starlette.testclient import TestClient
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from gateway import live, live_members
from gateway.access import SubscriptionAccount
from gateway.admission import TransportWSHandler
from gateway.app import create_app
from gateway.events import QUEUE_SIZE
from gateway.serving import HANDSHAKE_ONLY_HEADERS, FanoutWebSocketProtocol
from gateway.settings import Settings
from gateway.view import GatewayGraphQL

from .helpers import ADD, CREATE, MESSAGE_ADDED, from_the_start, new_conversation, post

PROVIDERS_ADDED = """subscription P($providers: [String!]) { messageAdded(providers: $providers) { cursor message { text provider } } }"""


def test_shared_fan_out_is_the_default_handler() -> None:
    assert GatewayGraphQL.graphql_transport_ws_handler_class is live.LiveTransportWSHandler


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(demo_conversations=2, graphiql=False))) as test_client:
        yield test_client


def view_of(client: TestClient) -> GatewayGraphQL:
    return view_of_app(client.app)


def view_of_app(app: Any) -> GatewayGraphQL:
    return next(route.endpoint for route in app.routes if isinstance(getattr(route, "endpoint", None), GatewayGraphQL))


def subscribers_on_the_bus(client: TestClient) -> int:
    return client.app.state.runtime.bus.subscriber_count  # type: ignore[no-any-return]


@contextlib.contextmanager
def subscribed(client: TestClient, query: str, variables: dict[str, Any], *, operation_id: str = "1", own_stream: bool = False,
               request_id: str | None = None) -> Iterator[Any]:
    """A graphql-transport-ws connection with one subscription; `own_stream`: through strawberry's
    handler as before shared fan-out (the reference each shared member is compared with)."""
    headers = {"X-Request-Id": request_id} if request_id else {}
    with pytest.MonkeyPatch.context() as patch:
        if own_stream:
            patch.setattr(GatewayGraphQL, "graphql_transport_ws_handler_class", TransportWSHandler)
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=headers) as ws:
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
    assert frames[1]["payload"] == live_members.overflow_payload()


# ---- accounting: a member's access line and metrics are those of its own stream ------------------

WITH_CONVERSATION = """subscription S($id: ID) {
  messageAdded(conversationId: $id) { cursor message { text conversation { topic } } } }"""  # a vendor call per event


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def counted(outcome: str) -> dict[str, float]:
    """The metrics a subscription moves (process-wide: tests compare how much they moved)."""
    return {
        "operations": sample("parley_graphql_operations_total", type="subscription", name="S", outcome=outcome),
        "live": sample("parley_subscriptions_active"),
        "delivered": sample("parley_events_delivered_total", kind="MESSAGE_ADDED"),
        "lag": sample("parley_bus_lag_seconds_count"),
        "dropped": sample("parley_events_dropped_total", reason="overflow"),
    }


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before}


def websocket_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Each WebSocket's access line, without what differs by design (its id and duration)."""
    keys = ("method", "path", "status", "operations", "client", "vendor_calls", "codes")
    found = [{key: getattr(r, key) for key in keys} for r in caplog.records if r.name == "parley.access" and getattr(r, "method", "") == "WS"]
    caplog.clear()
    return found


def session(client: TestClient, caplog: pytest.LogCaptureFixture, conversation: str, *, subscribers: int, own_stream: bool,
            overflow: bool = False) -> tuple[dict[str, float], dict[str, float], list[dict[str, Any]], list[list[str]]]:
    """`subscribers` connections subscribed to one subscription, two events (or one, then each cut off
    as the bus cuts off a subscriber that fell behind), each connection ends its subscription, closes:
    how the metrics moved while subscribed and in all, the access lines, the frames each received."""
    outcome = "RATE_LIMITED" if overflow else "ok"
    caplog.set_level(logging.INFO, logger="parley.access")
    websocket_lines(caplog)
    before = counted(outcome)
    received: list[list[str]] = []
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(subscribed(client, WITH_CONVERSATION, {"id": conversation}, own_stream=own_stream,
                                                  request_id=f"sub-{n}")) for n in range(subscribers)]
        time.sleep(0.2)
        during = moved(before, counted(outcome))
        if overflow:
            for subscriber in client.app.state.runtime.bus.inner._subscribers.live:  # type: ignore[attr-defined]
                subscriber.overflowed = True  # as the bus marks one whose queue is full
        for text in ("one",) if overflow else ("one", "two"):
            post(client, ADD, {"id": conversation, "text": text})
        for ws in sockets:
            received.append([ws.receive_text() for _ in range(3 if overflow else 2)])
            if not overflow:
                ws.send_json({"id": "1", "type": "complete"})
        time.sleep(0.2)
    time.sleep(0.1)
    return during, moved(before, counted(outcome)), websocket_lines(caplog), received


@pytest.mark.parametrize("overflow", [False, True], ids=["events-then-complete", "cut-off"])
def test_each_members_access_line_and_metrics_are_those_of_its_own_stream(
    client: TestClient, caplog: pytest.LogCaptureFixture, overflow: bool
) -> None:
    conversation, _ = new_conversation(client)
    own_during, own_total, (own_line,), own_frames = session(client, caplog, conversation, subscribers=1, own_stream=True, overflow=overflow)
    during, total, lines, frames = session(client, caplog, conversation, subscribers=3, own_stream=False, overflow=overflow)
    assert not live.hub_of(view_of(client)).groups  # all three were in one group, gone with them
    assert own_during["live"] == 1 and during["live"] == 3  # one live subscription each while subscribed
    assert total == {key: 3 * value for key, value in own_total.items()}  # outcome, deliveries, lag, drops: each counted
    assert own_total["operations"] == 1 and own_total["live"] == 0 and own_total["delivered"] >= (1 if overflow else 2)
    assert own_total["dropped"] == (1 if overflow else 0)
    assert lines == [own_line] * 3  # operations, outcome, vendor calls made for what it received, status, client
    assert own_line["operations"] == ["subscription S"] and own_line["vendor_calls"] >= (1 if overflow else 2)
    assert own_line["codes"] == (["RATE_LIMITED"] if overflow else [])
    def same(frame: str, n: int) -> str:  # each error carries the subscriber's own request id; later events later cursors
        return re.sub(r'"cursor":"[^"]*"', "", frame.replace(f'"requestId":"sub-{n}"', ""))

    for n, member in enumerate(frames):
        assert [same(f, n) for f in member] == [same(f, 0) for f in own_frames[0]]
    if overflow:
        assert '"requestId":"sub-2"' in frames[2][1] and json.loads(frames[2][2]) == {"id": "1", "type": "complete"}


def test_a_subscription_stopped_while_it_joins_is_counted_once(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="parley.access")
    before = counted("ok")
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        for n in range(5):
            ws.send_json({"id": str(n), "type": "subscribe", "payload": {"query": WITH_CONVERSATION}})
            ws.send_json({"id": str(n), "type": "complete"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        time.sleep(0.2)
    time.sleep(0.1)
    (line,) = websocket_lines(caplog)
    assert line["operations"] == ["subscription S"] * 5 and line["codes"] == []
    assert moved(before, counted("ok"))["operations"] == 5 and moved(before, counted("ok"))["live"] == 0
    assert not live.hub_of(view_of(client)).groups and subscribers_on_the_bus(client) == 0


# ---- a member whose socket does not drain ----------------------------------------------------------


class SlowSocket:
    """A member's connection whose socket takes nothing until `drain` is set: through ASGI (`send_text`),
    or, with `frames`, as `parley serve`'s protocol offers it (`gateway.live_members.FrameWriter`)."""

    def __init__(self, *, frames: bool) -> None:
        self.sent: list[dict[str, Any]] = []
        self.drain = asyncio.Event()
        self.frames = frames
        self.operations: dict[str, Any] = {}

    def frame_writer(self) -> Any:
        return self if self.frames else None

    def frame_ready(self) -> bool:
        return self.drain.is_set()

    def write_frame(self, frame: bytes) -> None:
        assert frame[0] == 0x81  # one whole text frame
        size, at = (frame[1], 2) if frame[1] < 126 else (int.from_bytes(frame[2:4], "big"), 4)
        assert len(frame) == at + size
        self.sent.append(json.loads(frame[at:]))

    async def frame_drained(self) -> bool:
        await self.drain.wait()
        return True

    async def send_text(self, text: str) -> None:
        await self.drain.wait()
        self.sent.append(json.loads(text))

    def forget_member(self, member: Any) -> None:
        pass


class Operation:
    def __init__(self) -> None:
        self.id, self.completed = "9", False


class OneGroup:
    def __init__(self) -> None:
        self.members: set[Any] = set()

    def remove(self, member: Any) -> None:
        self.members.discard(member)


@pytest.mark.parametrize("frames", [False, True], ids=["asgi", "frames"])
async def test_a_member_whose_socket_does_not_drain_is_cut_off_after_its_queue_and_the_others_go_on(frames: bool) -> None:
    slow_socket, fast_socket = SlowSocket(frames=frames), SlowSocket(frames=frames)
    fast_socket.drain.set()
    group = OneGroup()
    slow, fast = (live_members.Member(s, Operation(), group, SubscriptionAccount()) for s in (slow_socket, fast_socket))  # type: ignore[arg-type]
    group.members.update((slow, fast))
    payloads = [orjson.dumps({"data": {"n": n}}) for n in range(QUEUE_SIZE + 5)]
    for payload in payloads:
        for member in list(group.members):
            member.deliver(payload, {})
    assert group.members == {fast}  # the slow one left its group when it fell behind
    fast.finish(live_members.END)
    assert fast.closing is not None
    await asyncio.wait_for(fast.closing, 2)
    assert [f["payload"]["data"]["n"] for f in fast_socket.sent[:-1]] == list(range(QUEUE_SIZE + 5))
    assert fast_socket.sent[-1] == {"id": "9", "type": "complete"}
    assert fast.account.settled and fast.account.codes == []
    slow_socket.drain.set()
    assert slow.closing is not None
    await asyncio.wait_for(slow.closing, 2)
    # the send that blocked, the QUEUE_SIZE queued behind it, then the cut-off and `complete`
    assert [f["payload"]["data"]["n"] for f in slow_socket.sent[:-2]] == list(range(QUEUE_SIZE + 1))
    assert slow_socket.sent[-2] == {"id": "9", "type": "next", "payload": live_members.overflow_payload()}
    assert slow_socket.sent[-1] == {"id": "9", "type": "complete"}
    assert slow.account.settled and slow.account.codes == ["RATE_LIMITED"]


# ---- under `parley serve`'s WebSocket protocol ------------------------------------------------------


@contextlib.contextmanager
def served(app: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """`app` under uvicorn with `parley serve`'s WebSocket protocol, on a loopback port, in a thread."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws=FanoutWebSocketProtocol, ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", server
    finally:
        server.should_exit = True
        thread.join(10)


def test_under_parley_serves_protocol_members_frames_go_straight_to_the_socket_as_their_own_streams_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written: list[bytes] = []
    write = FanoutWebSocketProtocol.write_frame
    monkeypatch.setattr(FanoutWebSocketProtocol, "write_frame", lambda self, frame: (written.append(frame), write(self, frame))[1])
    app = create_app(Settings(demo_conversations=2, graphiql=False))
    with served(app) as (address, server):
        conversation = httpx.post(f"http://{address}/graphql", json={"query": CREATE, "variables": {"input": {
            "provider": "socialboards", "customer": {"name": "Live", "externalId": "live-1"}}}}).json()["data"]["createConversation"]["conversation"]["id"]

        @contextlib.contextmanager
        def connect(operation_id: str) -> Iterator[Any]:
            with ws_connect(f"ws://{address}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=5) as ws:
                ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
                variables = {"id": conversation}
                ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": MESSAGE_ADDED, "variables": variables}}))
                yield ws

        with contextlib.ExitStack() as stack:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(GatewayGraphQL, "graphql_transport_ws_handler_class", TransportWSHandler)
                own = stack.enter_context(connect("a"))
                time.sleep(0.2)
            members = [stack.enter_context(connect(operation_id)) for operation_id in ("a", "a", "op-7")]
            time.sleep(0.3)
            assert sorted(len(g.members) for g in live.hub_of(view_of_app(app)).groups.values()) == [3]
            for text in ("one", "two"):
                httpx.post(f"http://{address}/graphql", json={"query": ADD, "variables": {"id": conversation, "text": text}})
            expected = [own.recv(timeout=5) for _ in range(2)]
            assert [json.loads(f)["payload"]["data"]["messageAdded"]["message"]["text"] for f in expected] == ["one", "two"]
            for ws in members[:2]:
                assert [ws.recv(timeout=5) for _ in range(2)] == expected  # byte for byte
            assert [json.loads(members[2].recv(timeout=5)) for _ in range(2)] == [{**json.loads(f), "id": "op-7"} for f in expected]
            websockets = [c for c in server.server_state.connections if isinstance(c, FanoutWebSocketProtocol)]
            assert len(websockets) == 4
            for connection in websockets:  # what an idle connection no longer keeps: the handshake
                assert not hasattr(connection, "request") and not hasattr(connection, "response")
                assert "request" not in connection.conn.parser.gi_frame.f_locals  # the request parser's frame
                names = {name for name, _ in connection.scope["headers"]}  # the handshake's own headers left out
                assert not names & HANDSHAKE_ONLY_HEADERS and {b"host", b"sec-websocket-protocol"} <= names
            members[2].send(json.dumps({"id": "op-7", "type": "complete"}))
            members[2].send(json.dumps({"type": "ping"}))
            assert json.loads(members[2].recv(timeout=5)) == {"type": "pong"}
    # two events, three members: six frames written straight, two distinct per event (ids "a" and "op-7")
    assert len(written) == 6 and len(set(written)) == 4
