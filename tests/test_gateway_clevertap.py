"""The gateway over the CleverTap sandbox: the issue's acceptance rules for CleverTap, end to end (the
adapter's own contract is in test_clevertap_provider.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.settings import ProviderSettings

from .helpers import (
    ASHA,
    BEN,
    CT_BASE,
    CT_CREDENTIALS,
    SPRING,
    Gateway,
    advance_clock,
    ct_user_writes,
    every_edge,
    gateway_over,
    global_id,
    new_identity,
    sandbox_requests,
)


@pytest.fixture
async def gateway(ct_app: Starlette) -> AsyncIterator[Gateway]:
    settings = ProviderSettings("ct", "clevertap", CT_BASE, {**CT_CREDENTIALS, "agent_email": ASHA})
    async with gateway_over((settings, ct_app)) as running:
        yield running


def gid(remote_id: str) -> str:
    return global_id("Conversation", "ct", remote_id)


ASSIGN = """mutation A($id: ID!, $agent: String) { assignConversation(id: $id, agentId: $agent) {
  __typename ... on ConversationPayload { conversation { assignee { id name } } } ... on Error { code message } } }"""
CLOSE = """mutation C($id: ID!) { closeConversation(id: $id) {
  __typename ... on ConversationPayload { conversation { status vendorStatus } } ... on Error { code message } } }"""
REPLY = """mutation R($id: ID!, $text: String!) { addMessages(conversationId: $id, messages: [{text: $text}]) {
  __typename ... on AddMessagesPayload { messages { text direction author { role email } } }
  ... on Error { code message } ... on InvalidInputError { vendorMessage } } }"""
ONE = "query O($id: ID!) { conversation(id: $id) { status vendorStatus active campaign { id name } tags lastMessage { text } } }"
LIST = """query L($first: Int!, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { node { remoteId customer { name } } } pageInfo { hasNextPage endCursor } } }"""


async def remote_ids(gateway: Gateway, first: int, filter: dict[str, Any] | None = None) -> list[str]:
    return [edge["node"]["remoteId"] for edge in await every_edge(gateway, LIST, {"first": first, "filter": filter})]


async def test_two_agents_claiming_at_once_one_wins_the_other_gets_conflict(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    remote_id = await ct_user_writes(ct_hooks, "Where is my order?")
    results = await asyncio.gather(*(gateway.data(ASSIGN, {"id": gid(remote_id), "agent": agent}) for agent in (ASHA, BEN)))
    outcomes = sorted(r["assignConversation"]["__typename"] for r in results)
    assert outcomes == ["ConflictError", "ConversationPayload"]
    winner = next(r for r in results if r["assignConversation"]["__typename"] == "ConversationPayload")
    loser = next(r for r in results if r["assignConversation"]["__typename"] == "ConflictError")
    assert loser["assignConversation"]["code"] == "CONFLICT" and "another agent" in loser["assignConversation"]["message"]
    owner = winner["assignConversation"]["conversation"]["assignee"]["id"]
    record = (await ct_hooks.get("/1/conversation.json", params={"id": remote_id})).json()["record"]
    assert record["agent"]["email"] == owner


async def test_the_owner_claiming_again_is_fine(gateway: Gateway, ct_hooks: httpx.AsyncClient) -> None:
    remote_id = await ct_user_writes(ct_hooks, "Hi")
    for _ in range(2):
        result = (await gateway.data(ASSIGN, {"id": gid(remote_id), "agent": BEN}))["assignConversation"]
        assert result["conversation"]["assignee"]["id"] == BEN


async def test_a_customer_reply_on_a_closed_conversation_makes_it_new_again(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    identity = new_identity()
    remote_id = await ct_user_writes(ct_hooks, "Thanks, solved", identity=identity)
    closed = (await gateway.data(CLOSE, {"id": gid(remote_id)}))["closeConversation"]["conversation"]
    assert closed == {"status": "CLOSED", "vendorStatus": "Closed"}
    await ct_user_writes(ct_hooks, "Actually, one more thing", identity=identity)
    again = (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]
    assert (again["status"], again["vendorStatus"]) == ("NEW", "New")


async def test_after_25_hours_it_is_inactive_and_a_reply_is_refused_after_16_days_it_is_not_listed(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    remote_id = await ct_user_writes(ct_hooks, "Hello?")
    assert (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]["active"] is True
    await advance_clock(ct_hooks, 25 * 3600)
    assert (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]["active"] is False
    refused = (await gateway.data(REPLY, {"id": gid(remote_id), "text": "Sorry for the wait"}))["addMessages"]
    assert refused["__typename"] == "InvalidInputError" and "within 24 hours" in refused["message"]
    assert "24-hour" in refused["vendorMessage"]  # the sandbox's own words, apart from Parley's
    record = (await ct_hooks.get("/1/conversation.json", params={"id": remote_id})).json()["record"]
    assert record["message_count"] == 1 and record["agent"] is None  # the refused reply changed nothing
    assert remote_id in await remote_ids(gateway, 50)
    await advance_clock(ct_hooks, 15 * 86400)  # 16 days and 1 hour in all
    assert remote_id not in await remote_ids(gateway, 50)


async def test_a_reply_inside_the_window_goes_out_as_the_configured_agent(gateway: Gateway, ct_hooks: httpx.AsyncClient) -> None:
    remote_id = await ct_user_writes(ct_hooks, "Can you help?")
    sent = (await gateway.data(REPLY, {"id": gid(remote_id), "text": "Of course"}))["addMessages"]["messages"]
    assert sent == [{"text": "Of course", "direction": "OUTBOUND", "author": {"role": "AGENT", "email": ASHA}}]
    shown = (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]
    assert shown["lastMessage"] == {"text": "Of course"}
    assert shown["campaign"] == {"id": str(SPRING), "name": "Spring Sale"} and shown["tags"]


async def test_search_finds_by_customer_name_and_latest_message_ignoring_case(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    by_name = await ct_user_writes(ct_hooks, "hello", name="Zoë Quartermaine")
    by_text = await ct_user_writes(ct_hooks, "My PARCEL never arrived", name="Ola")
    earlier = await ct_user_writes(ct_hooks, "parcel question", name="Kim", identity="kim-1")
    await ct_user_writes(ct_hooks, "and now something else", identity="kim-1")  # 'parcel' is no longer the latest
    await ct_user_writes(ct_hooks, "unrelated", name="Other Person")
    assert await remote_ids(gateway, 10, {"search": "QUARTERMAINE"}) == [by_name]
    assert await remote_ids(gateway, 10, {"search": "parcel"}) == [by_text]
    assert earlier not in await remote_ids(gateway, 10, {"search": "parcel"})
    sent = [r["body"] for r in await sandbox_requests(ct_hooks, "POST") if r["path"] == "/1/conversations.json"]
    assert {"search": "parcel"}.items() <= sent[-1].items()  # CleverTap searched, not Parley


async def test_paging_120_conversations_by_25_yields_each_exactly_once(gateway: Gateway, ct_hooks: httpx.AsyncClient) -> None:
    created = {await ct_user_writes(ct_hooks, f"question {i}") for i in range(120)}
    seen = await remote_ids(gateway, 25)
    assert len(seen) == len(set(seen)) == 120 and set(seen) == created
