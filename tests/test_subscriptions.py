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

from .helpers import (
    ADD,
    MESSAGE_ADDED,
    at_the_vendor,
    from_the_start,
    ib_customer_writes,
    new_conversation,
    next_payload,
    post,
    sb_customer_writes,
    ws_subscribe,
)

MESSAGES_OF = "query M($id: ID!) { conversation(id: $id) { messages(first: 50) { edges { node { text } } } } }"
MESSAGES_OF_PROVIDERS = """subscription P($providers: [String!], $since: String) {
  messageAdded(providers: $providers, since: $since) { cursor message { text provider } } }"""
CONVERSATION_CHANGED = """subscription C($filter: ConversationFilter, $since: String) {
  conversationChanged(filter: $filter, since: $since) { cursor conversation { provider remoteId status } } }"""
FIRST_ID = """query F($filter: ConversationFilter) {
  conversations(first: 1, filter: $filter) { edges { node { id remoteId } } } }"""
TAG = """mutation T($id: ID!, $tags: [String!]!) { addTags(id: $id, tags: $tags) { __typename } }"""
CLOSE = """mutation C($id: ID!) { closeConversation(id: $id) { __typename } }"""


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
    assert first["data"]["messageAdded"]["message"] == {"text": "one", "direction": "OUTBOUND"}  # an AGENT message: the default
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


def test_legacy_graphql_ws_clients_run_queries_and_mutations_too(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    conversation, _ = new_conversation(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "q", "type": "start", "payload": {"query": "query P { providers { name } }", "operationName": "P"}})
        data, done = ws.receive_json(), ws.receive_json()
        ws.send_json({"id": "m", "type": "start", "payload": {"query": ADD, "variables": {"id": conversation, "text": "over ws"}}})
        written, written_done = ws.receive_json(), ws.receive_json()
    assert data["type"] == "data" and "errors" not in data["payload"]
    assert {p["name"] for p in data["payload"]["data"]["providers"]} == {"socialboards", "infobip", "clevertap"}
    assert done == {"type": "complete", "id": "q"}
    assert written["type"] == "data" and "errors" not in written["payload"], written
    assert written_done == {"type": "complete", "id": "m"}
    edges = post(client, MESSAGES_OF, {"id": conversation})["conversation"]["messages"]["edges"]
    assert [e["node"]["text"] for e in edges].count("over ws") == 1
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]


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
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"id": conversation})
        time.sleep(0.1)
        at_the_vendor(client, "socialboards", lambda hooks: sb_customer_writes(hooks, remote_id, "via vendor"))
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


# -- what each subscription lets through -----------------------------------------------------------
# Each test publishes an event the subscription must leave out, then subscribes from the gateway's first
# event (so the replay holds that event first, whatever the timing) and makes one it must deliver: with
# the filter missing, the first event delivered is the wrong one.


def test_a_subscriber_to_one_conversation_gets_no_message_of_another(client: TestClient) -> None:
    mine, _ = new_conversation(client)
    other, _ = new_conversation(client)
    post(client, ADD, {"id": other, "text": "to the other conversation"})
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"id": mine, "since": from_the_start(client)})
        post(client, ADD, {"id": mine, "text": "to mine"})
        message = next_payload(ws)["data"]["messageAdded"]["message"]
    assert message == {"text": "to mine", "direction": "OUTBOUND"}


def test_a_subscriber_to_some_providers_gets_no_message_of_another_provider(client: TestClient) -> None:
    conversation, _ = new_conversation(client, "socialboards")
    post(client, ADD, {"id": conversation, "text": "on socialboards"})
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"providers": ["infobip"], "since": from_the_start(client)}, MESSAGES_OF_PROVIDERS)
        at_the_vendor(client, "infobip", lambda hooks: ib_customer_writes(hooks, "on infobip"))
        message = next_payload(ws)["data"]["messageAdded"]["message"]
    assert message == {"text": "on infobip", "provider": "infobip"}


def test_a_conversation_filter_naming_providers_lets_through_only_their_changes(client: TestClient) -> None:
    new_conversation(client, "socialboards")
    [edge] = post(client, FIRST_ID, {"filter": {"providers": ["infobip"]}})["conversations"]["edges"]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"filter": {"providers": ["infobip"]}, "since": from_the_start(client)}, CONVERSATION_CHANGED)
        assert post(client, TAG, {"id": edge["node"]["id"], "tags": ["vip"]})["addTags"]["__typename"] == "ConversationPayload"
        changed = next_payload(ws)["data"]["conversationChanged"]["conversation"]
    assert (changed["provider"], changed["remoteId"]) == ("infobip", edge["node"]["remoteId"])


def test_a_conversation_filter_on_fields_lets_through_only_matching_changes(client: TestClient) -> None:
    conversation, remote_id = new_conversation(client, "socialboards")  # a change: created, status NEW
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws_subscribe(ws, {"filter": {"status": ["CLOSED"]}, "since": from_the_start(client)}, CONVERSATION_CHANGED)
        assert post(client, CLOSE, {"id": conversation})["closeConversation"]["__typename"] == "ConversationPayload"
        changed = next_payload(ws)["data"]["conversationChanged"]["conversation"]
    assert changed == {"provider": "socialboards", "remoteId": remote_id, "status": "CLOSED"}
