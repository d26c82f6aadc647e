"""The gateway over the Infobip sandbox: the issue's acceptance rules for Infobip, end to end (the
adapter's own contract is in test_infobip_provider.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.settings import ProviderSettings

from .helpers import (
    IB_API_KEY,
    IB_BASE,
    IB_SENDER,
    Gateway,
    every_edge,
    forget_requests,
    gateway_over,
    global_id,
    ib_customer_writes,
    sandbox_requests,
)


@pytest.fixture
async def gateway(ib_app: Starlette) -> AsyncIterator[Gateway]:
    settings = ProviderSettings("ib", "infobip", IB_BASE, {"api_key": IB_API_KEY, "senders": {"WHATSAPP": IB_SENDER}})
    async with gateway_over((settings, ib_app)) as running:
        yield running


def gid(remote_id: str) -> str:
    return global_id("Conversation", "ib", remote_id)


LIST = """query L($first: Int!, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { node { remoteId status updatedAt } } pageInfo { hasNextPage endCursor } } }"""
UPDATE = """mutation U($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) {
  __typename ... on ConversationPayload { conversation { status vendorStatus topic priority } }
  ... on Error { code message } ... on InvalidInputError { field } } }"""
ROUTE = """mutation R($id: ID!) { routeConversation(id: $id) {
  __typename ... on ConversationPayload { conversation { assignee { id } queue { id } } } ... on Error { code message } } }"""
TAGS = """mutation T($id: ID!, $tags: [String!]!) { addTags(id: $id, tags: $tags) {
  __typename ... on ConversationPayload { conversation { tags } } ... on Error { code message } } }"""
REPLY = """mutation A($id: ID!, $text: String!) { addMessages(conversationId: $id, messages: [{text: $text}]) {
  __typename ... on AddMessagesPayload { messages { text direction channel } } ... on Error { code message } } }"""
ONE = "query O($id: ID!) { conversation(id: $id) { status customer { id role } tags channel lastMessage { text direction } } }"


async def remote_ids(gateway: Gateway, first: int, filter: dict[str, Any] | None = None) -> list[str]:
    return [edge["node"]["remoteId"] for edge in await every_edge(gateway, LIST, {"first": first, "filter": filter})]


async def conversation_state(hooks: httpx.AsyncClient, remote_id: str) -> dict[str, Any]:
    response = await hooks.get(f"/ccaas/1/conversations/{remote_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_paging_95_conversations_by_20_yields_each_exactly_once(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    created = {await ib_customer_writes(ib_hooks, f"question {i}") for i in range(95)}
    seen = await remote_ids(gateway, 20)
    assert len(seen) == len(set(seen)) == 95 and set(seen) == created


async def test_status_and_updated_after_are_filtered_by_the_vendor(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    ids = [await ib_customer_writes(ib_hooks, f"q{i}") for i in range(6)]
    for remote_id in ids[:3]:
        assert (await ib_hooks.patch(f"/ccaas/1/conversations/{remote_id}", json={"status": "WAITING"})).status_code == 200
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    await forget_requests(ib_hooks)
    found = await remote_ids(gateway, 10, {"status": ["PENDING"], "updatedAfter": cutoff.isoformat()})
    assert sorted(found) == sorted(ids[:3])
    lists = await sandbox_requests(ib_hooks, "GET", "/ccaas/1/conversations")
    query = next(r["query"] for r in lists if r["path"] == "/ccaas/1/conversations")
    assert query["status"] == "WAITING"
    sent_after = datetime.strptime(query["updatedAfter"].replace(" ", "+"), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(sent_after - cutoff) <= timedelta(milliseconds=1)


async def test_updating_a_closed_conversation_is_a_typed_error_and_changes_nothing(
    gateway: Gateway, ib_hooks: httpx.AsyncClient
) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "done, thanks")
    closed = (await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"status": "CLOSED"}}))["updateConversation"]
    assert closed["conversation"]["vendorStatus"] == "CLOSED"
    before = await conversation_state(ib_hooks, remote_id)
    refused = (await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"topic": "Reopened?", "priority": "HIGH"}}))
    assert refused["updateConversation"]["__typename"] == "InvalidInputError"
    assert "closed" in refused["updateConversation"]["message"].lower()
    assert await conversation_state(ib_hooks, remote_id) == before


async def test_routing_a_closed_conversation_is_refused(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "bye")
    await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"status": "CLOSED"}})
    before = await conversation_state(ib_hooks, remote_id)
    refused = (await gateway.data(ROUTE, {"id": gid(remote_id)}))["routeConversation"]
    assert refused["__typename"] == "InvalidInputError" and "closed" in refused["message"].lower()
    assert await conversation_state(ib_hooks, remote_id) == before


async def test_writing_new_is_refused_naming_the_accepted_values(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "hello")
    await forget_requests(ib_hooks)
    refused = (await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"status": "NEW"}}))["updateConversation"]
    assert refused["__typename"] == "InvalidInputError" and refused["field"] == "status"
    assert all(value in refused["message"] for value in ("OPEN", "PENDING", "SOLVED", "CLOSED"))
    assert await sandbox_requests(ib_hooks, "PATCH", "/conversations") == [] and (
        await sandbox_requests(ib_hooks, "PUT", "/conversations") == [])


async def test_route_unassigns_and_places_on_a_queue(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "need a human")
    agent = (await ib_hooks.get("/ccaas/1/agents")).json()["agents"][0]["id"]
    assert (await ib_hooks.put(f"/ccaas/1/conversations/{remote_id}/assignee", json={"agentId": agent})).status_code == 200
    routed = (await gateway.data(ROUTE, {"id": gid(remote_id)}))["routeConversation"]["conversation"]
    assert routed["assignee"] is None and routed["queue"]["id"]
    assert (await conversation_state(ib_hooks, remote_id))["agentId"] is None


async def test_add_tags_creates_a_missing_account_tag_then_links_it(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "order #1234 is late")
    assert (await ib_hooks.get("/ccaas/1/tags")).json()["tags"] == []
    result = (await gateway.data(TAGS, {"id": gid(remote_id), "tags": ["delivery"]}))["addTags"]
    assert result["conversation"]["tags"] == ["delivery"]
    assert [t["name"] for t in (await ib_hooks.get("/ccaas/1/tags")).json()["tags"]] == ["delivery"]
    linked = (await ib_hooks.get(f"/ccaas/1/conversations/{remote_id}/tags")).json()["tags"]
    assert [t["name"] for t in linked] == ["delivery"]
    assert [r["body"] for r in await sandbox_requests(ib_hooks, "POST", "/ccaas/1/tags")] == [{"name": "delivery"}]


async def test_a_reply_goes_back_on_the_customers_channel_from_the_configured_sender(
    gateway: Gateway, ib_hooks: httpx.AsyncClient
) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "hi there", sender="447700900123")
    sent = (await gateway.data(REPLY, {"id": gid(remote_id), "text": "Hello! How can I help?"}))["addMessages"]
    assert sent["messages"] == [{"text": "Hello! How can I help?", "direction": "OUTBOUND", "channel": "WHATSAPP"}]
    posted = (await sandbox_requests(ib_hooks, "POST", f"/conversations/{remote_id}/messages"))[-1]["body"]
    assert (posted["from"], posted["to"], posted["channel"]) == (IB_SENDER, "447700900123", "WHATSAPP")
    shown = (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]
    assert shown["customer"] == {"id": "447700900123", "role": "CUSTOMER"}
    assert shown["lastMessage"] == {"text": "Hello! How can I help?", "direction": "OUTBOUND"}
