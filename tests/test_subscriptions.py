"""Live events over graphql-transport-ws, legacy graphql-ws and SSE, with replay after reconnects.

The gateway runs as `parley serve` does with no configuration: an in-process Socialboards sandbox
whose webhooks come back into the gateway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings

from .helpers import ADD, MESSAGE_ADDED, asgi_client, new_conversation, next_payload, post, sb_customer_writes, ws_subscribe


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(demo_conversations=2, graphiql=False))
    with TestClient(app) as test_client:
        yield test_client


def test_a_message_reaches_a_graphql_transport_ws_subscriber_exactly_once(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"id": conversation})
        time.sleep(0.1)
        post(client, ADD, {"id": conversation, "text": "one"})  # the sandbox also echoes it as a webhook
        post(client, ADD, {"id": conversation, "text": "two"})
        first, second = next_payload(ws), next_payload(ws)
    assert first["data"]["messageAdded"]["message"] == {"text": "one", "direction": "INBOUND"}
    assert second["data"]["messageAdded"]["message"]["text"] == "two"


def test_a_reconnecting_client_catches_up_from_its_last_cursor(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"id": conversation})
        time.sleep(0.1)
        post(client, ADD, {"id": conversation, "text": "seen"})
        cursor = next_payload(ws)["data"]["messageAdded"]["cursor"]
    post(client, ADD, {"id": conversation, "text": "missed 1"})
    post(client, ADD, {"id": conversation, "text": "missed 2"})
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"id": conversation, "since": cursor})
        replayed = [next_payload(ws)["data"]["messageAdded"]["message"]["text"] for _ in range(2)]
        post(client, ADD, {"id": conversation, "text": "live"})
        live = next_payload(ws)["data"]["messageAdded"]["message"]["text"]
    assert replayed == ["missed 1", "missed 2"]
    assert live == "live"


def test_a_bad_since_cursor_is_a_clear_error(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"since": "not-a-cursor"})
        frame = ws.receive_json()
    assert frame["type"] == "error" or frame["payload"].get("errors"), frame
    errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
    assert "since" in json.dumps(errors)


def test_legacy_graphql_ws_clients_receive_messages(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "start", "payload": {"query": MESSAGE_ADDED, "variables": {"id": conversation}}})
        time.sleep(0.1)
        post(client, ADD, {"id": conversation, "text": "legacy"})
        frame = ws.receive_json()
    assert frame["type"] == "data"
    assert frame["payload"]["data"]["messageAdded"]["message"]["text"] == "legacy"


def test_sse_clients_receive_messages(client: TestClient) -> None:
    conversation, _ = new_conversation(client)
    sender = threading.Timer(0.3, lambda: post(client, ADD, {"id": conversation, "text": "over sse"}))
    body = {"query": MESSAGE_ADDED, "variables": {"id": conversation}}
    with client.stream("POST", "/graphql", json=body, headers={"accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        sender.start()
        data_line = next(line for line in response.iter_lines() if line.startswith("data:") and "over sse" in line)
    sender.join()
    assert json.loads(data_line.removeprefix("data:"))["data"]["messageAdded"]["message"]["text"] == "over sse"


def test_a_customer_writing_in_at_the_vendor_reaches_subscribers_through_the_webhook(client: TestClient) -> None:
    conversation, remote_id = new_conversation(client)
    sandbox = client.app.state.runtime.sandboxes["socialboards"]  # type: ignore[attr-defined]

    async def customer_writes() -> None:
        async with asgi_client(sandbox, "http://sb") as hooks:
            await sb_customer_writes(hooks, remote_id, "via vendor")

    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"id": conversation})
        time.sleep(0.1)
        client.portal.call(customer_writes)  # type: ignore[union-attr]
        message = next_payload(ws)["data"]["messageAdded"]["message"]
    assert message == {"text": "via vendor", "direction": "INBOUND"}


def test_webhooks_need_the_secret_and_a_readable_body(client: TestClient) -> None:
    secret = client.app.state.runtime.webhook_secrets["socialboards"]  # type: ignore[attr-defined]
    assert client.post("/webhooks/socialboards?secret=wrong", json={}).status_code == 401
    assert client.post("/webhooks/unknown?secret=x", json={}).status_code == 404
    bad = client.post(f"/webhooks/socialboards?secret={secret}", content=b"{oops")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_INPUT"
    ignored = client.post(f"/webhooks/socialboards?secret={secret}", json={"EventType": "other", "Events": []})
    assert ignored.json() == {"received": 0, "published": 0}
