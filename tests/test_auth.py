"""Client authentication on every transport (API keys here; JWTs in test_auth_jwt.py), scopes, and /health.

The gateway runs as `parley serve` does with clients configured: the embedded sandboxes, in-process.
A refused request must reach no vendor, counted at each sandbox's request log.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from gateway.auth import (
    ANONYMOUS,
    AuthenticationError,
    Authenticator,
    NeedsMigrate,
    Principal,
    ScopePermission,
    guard_root_fields,
    require_scope,
)
from gateway.schema import schema

from .auth_kit import VENDORS, api_client, bearer, data, post, running, upstream

KEY = "console-key-0123456789"
LIST = "query { conversations(first: 5) { edges { node { id provider } } } }"
SUBSCRIBE = "subscription { messageAdded { message { text } } }"
CREATE = """mutation C($provider: String!) { createConversation(input: {provider: $provider, customer: {name: "Auth", externalId: "auth-1"}}) {
  ... on ConversationPayload { conversation { id } } } }"""
ADD = "mutation A($id: ID!, $text: String!) { addMessages(conversationId: $id, messages: [{text: $text}]) { __typename } }"
NO_REQUESTS = dict.fromkeys(VENDORS, 0)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running(api_client("console", KEY)) as test_client:
        yield test_client


def refused(response: Any, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    extensions = {"code": "UNAUTHENTICATED", "requestId": response.headers["x-request-id"]}
    assert response.json() == {"errors": [{"message": response.json()["errors"][0]["message"], "extensions": extensions}]}
    assert message in response.json()["errors"][0]["message"]


# ---- API keys over HTTP --------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "message"), [(None, "missing credentials"), ("wrong-key", "not a known API key")])
def test_a_post_without_a_good_api_key_is_401_and_reaches_no_vendor(client: TestClient, token: str | None, message: str) -> None:
    upstream(client)
    refused(post(client, token, LIST), message)
    refused(client.post("/graphql", json={"query": LIST}, headers={"Authorization": f"Basic {KEY}"}), "expected `Authorization: Bearer")
    assert upstream(client) == NO_REQUESTS
    assert data(client, KEY, LIST)["conversations"]["edges"]
    assert sum(upstream(client).values()) > 0  # the count sees vendor requests when there are some


def test_an_api_key_is_compared_in_constant_time_with_every_client_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """hmac.compare_digest on fixed-length digests, for every API-key client, whichever matches: how
    long a refusal takes says nothing about which key came close."""
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((len(a), len(b))) or real(a, b))
    authenticator = Authenticator([api_client(f"c{i}", f"key-number-{i}-" + "x" * i) for i in range(3)])
    assert authenticator.authenticate("Bearer key-number-0-").client == "c0"
    with pytest.raises(AuthenticationError, match="not a known API key"):
        authenticator.authenticate("Bearer key-number-0-but-longer")
    assert compared == [(32, 32)] * 6


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("wrong", 401), (KEY, 200)])
def test_a_get_query_needs_the_api_key(client: TestClient, token: str | None, status: int) -> None:
    upstream(client)
    response = client.get("/graphql", params={"query": LIST}, headers={"accept": "application/json", **bearer(token)})
    assert response.status_code == status, response.text
    assert (upstream(client) == NO_REQUESTS) is (status == 401)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_an_sse_subscription_without_a_good_api_key_is_401_before_any_stream(client: TestClient, token: str | None) -> None:
    headers = {"accept": "text/event-stream", **bearer(token)}
    with client.stream("POST", "/graphql", json={"query": SUBSCRIBE}, headers=headers) as response:
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert json.loads(response.read())["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert upstream(client) == NO_REQUESTS


def test_an_sse_subscription_with_the_api_key_receives_events(client: TestClient) -> None:
    conversation = data(client, KEY, CREATE, {"provider": "socialboards"})["createConversation"]["conversation"]["id"]
    sender = threading.Timer(0.3, lambda: data(client, KEY, ADD, {"id": conversation, "text": "over sse"}))
    headers = {"accept": "text/event-stream", **bearer(KEY)}
    with client.stream("POST", "/graphql", json={"query": SUBSCRIBE}, headers=headers) as response:
        assert response.status_code == 200
        sender.start()
        line = next(line for line in response.iter_lines() if line.startswith("data:") and "over sse" in line)
    sender.join()
    assert json.loads(line.removeprefix("data:"))["data"]["messageAdded"]["message"]["text"] == "over sse"


def test_a_batch_without_credentials_is_401(client: TestClient) -> None:
    response = client.post("/graphql", json=[{"query": LIST}, {"query": LIST}])
    refused(response, "missing credentials")
    assert upstream(client) == NO_REQUESTS


def test_graphiql_s_page_needs_no_credentials_but_its_queries_do() -> None:
    with running(api_client("console", KEY), graphiql=True) as client:
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        refused(client.get("/graphql", params={"query": LIST}, headers={"accept": "text/html"}), "missing credentials")


def test_without_clients_every_request_is_anonymous_and_credentials_are_ignored() -> None:
    with running() as client:
        assert data(client, None, "{ providers { name } }")["providers"]
        assert data(client, "anything", "{ providers { name } }")["providers"]


# ---- WebSockets ----------------------------------------------------------------------------------


def closed(ws: Any) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as disconnect:
        ws.receive_json()
    return disconnect.value


@pytest.mark.parametrize("payload", [{}, {"authorization": "Bearer wrong"}, {"authorization": 7}])
def test_graphql_transport_ws_without_good_credentials_closes_with_4401(client: TestClient, payload: dict[str, Any]) -> None:
    upstream(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})
        disconnect = closed(ws)
    assert disconnect.code == 4401 and disconnect.reason.startswith("Unauthorized: ")
    assert upstream(client) == NO_REQUESTS


@pytest.mark.parametrize(("headers", "payload"), [({}, {"authorization": f"Bearer {KEY}"}), (bearer(KEY), {})])
def test_graphql_transport_ws_takes_the_key_from_connection_init_or_the_upgrade_header(
    client: TestClient, headers: dict[str, str], payload: dict[str, Any]
) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=headers) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ providers { name } }"}})
        frame = ws.receive_json()
    assert frame["type"] == "next" and {p["name"] for p in frame["payload"]["data"]["providers"]} == set(VENDORS)


def test_legacy_graphql_ws_without_good_credentials_gets_connection_error_then_4401(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer wrong"}})
        error = ws.receive_json()
        disconnect = closed(ws)
    assert error == {"type": "connection_error", "payload": {"message": "invalid credentials: not a known API key",
                                                             "extensions": {"code": "UNAUTHENTICATED"}}}
    assert disconnect.code == 4401
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["payload"]["message"].startswith("missing credentials")
        assert closed(ws).code == 4401
    assert upstream(client) == NO_REQUESTS


def test_legacy_graphql_ws_keeps_the_principal_of_its_first_connection_init(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {KEY}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {KEY}"}})
        assert ws.receive_json()["type"] == "connection_error"
        assert closed(ws).code == 4429


def test_every_operation_on_a_socket_sees_the_principal_of_its_connection_init() -> None:
    """The payload's credentials win over the upgrade header's, for every operation on the socket."""
    clients = (api_client("admin", KEY), api_client("ib", "ib-key-0123456789", providers=frozenset({"infobip"})))
    with running(*clients) as client, client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"], headers=bearer(KEY)
    ) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer ib-key-0123456789"}})
        assert ws.receive_json()["type"] == "connection_ack"
        names = []
        for operation in ("1", "2"):
            ws.send_json({"id": operation, "type": "subscribe", "payload": {"query": "{ providers { name } }"}})
            names.append([p["name"] for p in ws.receive_json()["payload"]["data"]["providers"]])
            assert ws.receive_json()["type"] == "complete"
    assert names == [["infobip"], ["infobip"]]


# ---- scopes --------------------------------------------------------------------------------------


def test_a_missing_scope_is_forbidden_at_that_field_before_any_vendor_call() -> None:
    clients = (api_client("reader", "reader-key-0123", frozenset({"read"})), api_client("writer", "writer-key-0123", frozenset({"write"})))
    with running(*clients) as client:
        upstream(client)
        for query, field in (("{ providers { name } }", "providers"), ("{ conversations(first: 2) { edges { node { id } } } }", "conversations")):
            body = post(client, "writer-key-0123", query).json()
            assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [([field], "FORBIDDEN")]
            assert "needs the `read` scope" in body["errors"][0]["message"] and body["data"] is None
        body = post(client, "reader-key-0123", CREATE, {"provider": "infobip"}).json()
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["createConversation"], "FORBIDDEN")]
        assert upstream(client) == NO_REQUESTS
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer reader-key-0123"}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            frame = ws.receive_json()
        errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
        assert [(e["path"], e["extensions"]["code"]) for e in errors] == [(["messageAdded"], "FORBIDDEN")]


def test_every_root_field_of_the_schema_needs_a_scope() -> None:
    for root in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(root)
        for field in definition.fields:  # type: ignore[union-attr]
            assert any(issubclass(p, ScopePermission) for p in field.permission_classes), (root, field.name)


def test_a_field_with_its_own_scope_needs_only_that_one_and_its_neighbours_are_unaffected() -> None:
    """How migration fields are meant to use `NeedsMigrate` and `require_scope`."""

    @strawberry.type
    class Query:
        @strawberry.field
        def inbox(self) -> int:
            return 1

        @strawberry.field(permission_classes=[NeedsMigrate])
        def migrations(self) -> int | None:
            return 2

        @strawberry.field
        def report(self, info: strawberry.Info) -> int | None:
            require_scope(info, "migrate")
            return 3

    guard_root_fields(Query)
    guard_root_fields(Query)  # idempotent
    test_schema = strawberry.Schema(query=Query)

    def run(principal: Principal) -> Any:
        context = type("Context", (), {"principal": principal})()
        return test_schema.execute_sync("{ inbox migrations report }", context_value=context)

    reader = run(Principal("r", frozenset({"read"})))
    assert reader.data == {"inbox": 1, "migrations": None, "report": None}
    assert sorted((e.path, e.extensions["code"]) for e in reader.errors or []) == [(["migrations"], "FORBIDDEN"), (["report"], "FORBIDDEN")]
    assert run(Principal("m", frozenset({"read", "migrate"}))).data == {"inbox": 1, "migrations": 2, "report": 3}
    assert run(Principal("m", frozenset({"migrate"}))).data is None  # inbox needs read, and is non-null
    assert run(ANONYMOUS).data == {"inbox": 1, "migrations": 2, "report": 3}


# ---- /health -------------------------------------------------------------------------------------


def test_health_names_providers_only_to_an_authenticated_client_and_only_its_own() -> None:
    clients = (api_client("admin", KEY), api_client("ib", "ib-key-0123456789", providers=frozenset({"infobip"})))
    with running(*clients) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/health", headers=bearer("wrong")).json() == {"status": "ok"}
        assert client.get("/health", headers=bearer("ib-key-0123456789")).json() == {"status": "ok", "providers": ["infobip"]}
        assert client.get("/health", headers=bearer(KEY)).json() == {"status": "ok", "providers": sorted(VENDORS)}
    with running() as client:
        assert client.get("/health").json() == {"status": "ok"}


def test_refusals_are_answers_not_log_entries(caplog: pytest.LogCaptureFixture) -> None:
    """401, FORBIDDEN and a hidden provider's NOT_FOUND are the client's problem: no error, no traceback."""
    nowhere = base64.b64encode(b"Conversation:nowhere:1").decode()
    with caplog.at_level(logging.INFO), running(api_client("reader", "reader-key-0123", frozenset({"read"}))) as client:
        assert post(client, None, LIST).status_code == 401
        assert post(client, "reader-key-0123", CREATE, {"provider": "infobip"}).json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        answer = post(client, "reader-key-0123", "query($id: ID!) { conversation(id: $id) { id topic } }", {"id": nowhere}).json()
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING] == []
