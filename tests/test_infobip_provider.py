"""The Infobip adapter against its sandbox (two independent readings of the vendor docs and
docs/infobip.md): the shared provider contract, then the issue's acceptance rules through the gateway."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.settings import ProviderSettings
from sandboxes.infobip import app as ib_sandbox
from providers.infobip.provider import InfobipProvider

from .conftest import SHORT_TIMEOUT, Gateway, gateway_over
from .provider_contract import ContractEnv, ProviderContract

IB_BASE = "http://ib.test/"
API_KEY = "test-key"
HEADERS = {"Authorization": f"App {API_KEY}"}
SENDER = "447860099299"
_numbers = itertools.count(1)


@pytest.fixture
def ib_app() -> Starlette:
    return ib_sandbox.create_app(api_key=API_KEY)


@pytest.fixture
async def ib_hooks(ib_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ib_app), base_url=IB_BASE, headers=HEADERS) as client:
        yield client


@pytest.fixture
async def ib_provider(ib_app: Starlette) -> AsyncIterator[InfobipProvider]:
    timeout = httpx.Timeout(SHORT_TIMEOUT, connect=SHORT_TIMEOUT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ib_app), base_url=IB_BASE, timeout=timeout) as http:
        yield InfobipProvider(name="ib", http=http, api_key=API_KEY)


async def customer_writes(hooks: httpx.AsyncClient, text: str, *, conversation: str | None = None, sender: str | None = None) -> str:
    """A customer writes in (sandbox-only hook); returns the conversation id."""
    body: dict[str, Any] = {"from": sender or f"4479{next(_numbers):08d}", "to": SENDER, "channel": "WHATSAPP", "text": text}
    if conversation is not None:
        body["conversationId"] = conversation
    response = await hooks.post("/_sandbox/inbound", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["conversationId"])


async def seed(hooks: httpx.AsyncClient, messages: int) -> str:
    remote_id = await customer_writes(hooks, "m0")
    for i in range(1, messages):
        await customer_writes(hooks, f"m{i}", conversation=remote_id)
    return remote_id


async def received(hooks: httpx.AsyncClient, method: str, fragment: str) -> list[dict[str, Any]]:
    rows = (await hooks.get("/_sandbox/requests")).json()["requests"]
    return [r for r in rows if r["method"] == method and fragment in r["path"]]


class TestInfobipContract(ProviderContract):
    @pytest.fixture
    def env(self, ib_provider: InfobipProvider, ib_hooks: httpx.AsyncClient) -> ContractEnv:
        async def many(count: int) -> list[str]:
            return [await customer_writes(ib_hooks, "hello") for _ in range(count)]

        return ContractEnv(
            provider=ib_provider,
            sandbox=ib_hooks,
            seed_conversation=lambda n: seed(ib_hooks, n),
            seed_conversations=many,
            missing_id="0b6c2a4e-0000-4000-8000-000000000000",
            fault_path="/ccaas/1/conversations",
        )


# -- through the gateway -----------------------------------------------------------------------------


@pytest.fixture
async def gateway(ib_app: Starlette) -> AsyncIterator[Gateway]:
    settings = ProviderSettings("ib", "infobip", IB_BASE, {"api_key": API_KEY, "senders": {"WHATSAPP": SENDER}})
    async with gateway_over((settings, ib_app)) as running:
        yield running


def gid(remote_id: str) -> str:
    return base64.b64encode(f"Conversation:ib:{remote_id}".encode()).decode()


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
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = (await gateway.data(LIST, {"first": first, "after": after, "filter": filter}))["conversations"]
        seen.extend(edge["node"]["remoteId"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def conversation_state(hooks: httpx.AsyncClient, remote_id: str) -> dict[str, Any]:
    response = await hooks.get(f"/ccaas/1/conversations/{remote_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_paging_95_conversations_by_20_yields_each_exactly_once(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    created = {await customer_writes(ib_hooks, f"question {i}") for i in range(95)}
    seen = await remote_ids(gateway, 20)
    assert len(seen) == len(set(seen)) == 95 and set(seen) == created


async def test_status_and_updated_after_are_filtered_by_the_vendor(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    ids = [await customer_writes(ib_hooks, f"q{i}") for i in range(6)]
    for remote_id in ids[:3]:
        assert (await ib_hooks.patch(f"/ccaas/1/conversations/{remote_id}", json={"status": "WAITING"})).status_code == 200
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    await ib_hooks.delete("/_sandbox/requests")
    found = await remote_ids(gateway, 10, {"status": ["PENDING"], "updatedAfter": cutoff.isoformat()})
    assert sorted(found) == sorted(ids[:3])
    lists = await received(ib_hooks, "GET", "/ccaas/1/conversations")
    query = next(r["query"] for r in lists if r["path"] == "/ccaas/1/conversations")
    assert query["status"] == "WAITING"
    sent_after = datetime.strptime(query["updatedAfter"].replace(" ", "+"), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(sent_after - cutoff) <= timedelta(milliseconds=1)


async def test_updating_a_closed_conversation_is_a_typed_error_and_changes_nothing(
    gateway: Gateway, ib_hooks: httpx.AsyncClient
) -> None:
    remote_id = await customer_writes(ib_hooks, "done, thanks")
    closed = (await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"status": "CLOSED"}}))["updateConversation"]
    assert closed["conversation"]["vendorStatus"] == "CLOSED"
    before = await conversation_state(ib_hooks, remote_id)
    refused = (await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"topic": "Reopened?", "priority": "HIGH"}}))
    assert refused["updateConversation"]["__typename"] == "InvalidInputError"
    assert "closed" in refused["updateConversation"]["message"].lower()
    assert await conversation_state(ib_hooks, remote_id) == before


async def test_routing_a_closed_conversation_is_refused(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await customer_writes(ib_hooks, "bye")
    await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"status": "CLOSED"}})
    before = await conversation_state(ib_hooks, remote_id)
    refused = (await gateway.data(ROUTE, {"id": gid(remote_id)}))["routeConversation"]
    assert refused["__typename"] == "InvalidInputError" and "closed" in refused["message"].lower()
    assert await conversation_state(ib_hooks, remote_id) == before


async def test_writing_new_is_refused_naming_the_accepted_values(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await customer_writes(ib_hooks, "hello")
    await ib_hooks.delete("/_sandbox/requests")
    refused = (await gateway.data(UPDATE, {"id": gid(remote_id), "input": {"status": "NEW"}}))["updateConversation"]
    assert refused["__typename"] == "InvalidInputError" and refused["field"] == "status"
    assert all(value in refused["message"] for value in ("OPEN", "PENDING", "SOLVED", "CLOSED"))
    assert await received(ib_hooks, "PATCH", "/conversations") == [] and await received(ib_hooks, "PUT", "/conversations") == []


async def test_route_unassigns_and_places_on_a_queue(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await customer_writes(ib_hooks, "need a human")
    agent = (await ib_hooks.get("/ccaas/1/agents")).json()["agents"][0]["id"]
    assert (await ib_hooks.put(f"/ccaas/1/conversations/{remote_id}/assignee", json={"agentId": agent})).status_code == 200
    routed = (await gateway.data(ROUTE, {"id": gid(remote_id)}))["routeConversation"]["conversation"]
    assert routed["assignee"] is None and routed["queue"]["id"]
    assert (await conversation_state(ib_hooks, remote_id))["agentId"] is None


async def test_add_tags_creates_a_missing_account_tag_then_links_it(gateway: Gateway, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await customer_writes(ib_hooks, "order #1234 is late")
    assert (await ib_hooks.get("/ccaas/1/tags")).json()["tags"] == []
    result = (await gateway.data(TAGS, {"id": gid(remote_id), "tags": ["delivery"]}))["addTags"]
    assert result["conversation"]["tags"] == ["delivery"]
    assert [t["name"] for t in (await ib_hooks.get("/ccaas/1/tags")).json()["tags"]] == ["delivery"]
    linked = (await ib_hooks.get(f"/ccaas/1/conversations/{remote_id}/tags")).json()["tags"]
    assert [t["name"] for t in linked] == ["delivery"]
    assert [r["body"] for r in await received(ib_hooks, "POST", "/ccaas/1/tags")] == [{"name": "delivery"}]


async def test_a_reply_goes_back_on_the_customers_channel_from_the_configured_sender(
    gateway: Gateway, ib_hooks: httpx.AsyncClient
) -> None:
    remote_id = await customer_writes(ib_hooks, "hi there", sender="447700900123")
    sent = (await gateway.data(REPLY, {"id": gid(remote_id), "text": "Hello! How can I help?"}))["addMessages"]
    assert sent["messages"] == [{"text": "Hello! How can I help?", "direction": "OUTBOUND", "channel": "WHATSAPP"}]
    posted = (await received(ib_hooks, "POST", f"/conversations/{remote_id}/messages"))[-1]["body"]
    assert (posted["from"], posted["to"], posted["channel"]) == (SENDER, "447700900123", "WHATSAPP")
    shown = (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]
    assert shown["customer"] == {"id": "447700900123", "role": "CUSTOMER"}
    assert shown["lastMessage"] == {"text": "Hello! How can I help?", "direction": "OUTBOUND"}
