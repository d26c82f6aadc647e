"""Request ids: taken from `X-Request-Id` when it is a short printable token (else made), returned on
the response, sent to the vendor on every call made for the request, and put on every GraphQL error."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings

from .helpers import (
    SB_PROVIDER,
    Gateway,
    create_conversation,
    forget_requests,
    gateway_over,
    inject_fault,
    sandbox_requests,
)

MADE = re.compile(r"^[0-9a-f]{32}$")
MESSAGES = "query Messages($id: ID!) { conversation(id: $id) { messages(first: 5) { edges { node { text } } } } }"
BAD_ID = "query Bad($id: ID!) { conversation(id: $id) { id } }"


async def post(gateway: Gateway, query: str, variables: dict[str, object], request_id: str | None = None) -> httpx.Response:
    headers = {} if request_id is None else {"X-Request-Id": request_id}
    return await gateway.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def test_a_given_request_id_is_returned_and_sent_with_every_vendor_call_of_that_request(
    gateway: Gateway, sb_hooks: httpx.AsyncClient
) -> None:
    conversation = await create_conversation(gateway)
    await forget_requests(sb_hooks)
    response = await post(gateway, MESSAGES, {"id": conversation}, request_id="trace-7f3a:checkout/42")
    assert "errors" not in response.json(), response.json()
    assert response.headers["x-request-id"] == "trace-7f3a:checkout/42"
    calls = await sandbox_requests(sb_hooks)
    assert calls and [call.get("requestId") for call in calls] == ["trace-7f3a:checkout/42"] * len(calls)


async def test_a_retried_vendor_call_sends_the_same_request_id_on_every_attempt(gateway: Gateway, sb_hooks: httpx.AsyncClient) -> None:
    conversation = await create_conversation(gateway)
    await forget_requests(sb_hooks)
    await inject_fault(sb_hooks, status=503, pathContains="/messages", times=1)
    response = await post(gateway, MESSAGES, {"id": conversation}, request_id="retry-me")
    assert "errors" not in response.json(), response.json()
    attempts = await sandbox_requests(sb_hooks, "GET", "/messages")
    assert len(attempts) == 2 and {call["requestId"] for call in attempts} == {"retry-me"}


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "caf\u00e9", "new\nline"])
async def test_a_request_id_that_is_not_a_short_printable_token_is_replaced(gateway: Gateway, given: str) -> None:
    response = await gateway.client.post("/graphql", json={"query": "{ __typename }"}, headers=[(b"x-request-id", given.encode())])
    assert response.status_code == 200
    assert MADE.match(response.headers["x-request-id"]), response.headers["x-request-id"]


async def test_without_one_each_request_gets_its_own_id_and_each_error_carries_it(gateway: Gateway, sb_hooks: httpx.AsyncClient) -> None:
    first = await post(gateway, BAD_ID, {"id": "not-an-id"})
    second = await post(gateway, BAD_ID, {"id": "not-an-id"})
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(MADE.match(i) for i in ids) and ids[0] != ids[1]
    assert [r.json()["errors"][0]["extensions"]["requestId"] for r in (first, second)] == ids
    assert (await sandbox_requests(sb_hooks)) == []  # a malformed id calls no vendor


async def test_a_vendor_failure_error_carries_the_request_id(sb_app: Starlette, sb_hooks: httpx.AsyncClient) -> None:
    async with gateway_over((SB_PROVIDER, sb_app)) as gateway:
        conversation = await create_conversation(gateway)
        await inject_fault(sb_hooks, status=500, pathContains="/messages")
        body = (await post(gateway, MESSAGES, {"id": conversation}, request_id="vendor-down-1")).json()
    assert [(e["extensions"]["code"], e["extensions"]["requestId"]) for e in body["errors"]] == [("PROVIDER_UNAVAILABLE", "vendor-down-1")]


def test_a_websocket_takes_its_id_from_the_upgrade_and_puts_it_on_subscription_errors() -> None:
    with TestClient(create_app(Settings(demo_conversations=1))) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers={"X-Request-Id": "socket-9"}) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            assert ws.receive_json()["type"] == "connection_ack"
            query = "subscription S($since: String) { messageAdded(since: $since) { cursor } }"
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"since": "garbage"}}})
            frame = ws.receive_json()
    assert frame["type"] == "next", frame
    errors = frame["payload"]["errors"]
    assert [(e["extensions"]["code"], e["extensions"]["requestId"]) for e in errors] == [("INVALID_INPUT", "socket-9")]


def test_a_refused_request_has_an_id_too() -> None:
    from .auth_kit import api_client

    settings = Settings(demo_conversations=1, clients=(api_client("console", "console-key-0123456789"),))
    with TestClient(create_app(settings)) as client:
        response = client.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "no-creds-1"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "no-creds-1"
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "requestId": "no-creds-1"}
