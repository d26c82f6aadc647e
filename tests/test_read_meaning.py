"""One meaning per field, for reads, on every vendor: an unknown id is NOT_FOUND whatever is selected;
errors in Parley's words with the vendor's text apart; names in answers as clients send them;
`lastMessageAt` wherever a last message is known; every DateTime in one form; Socialboards' topic
from its ticket (README "Example query", "Errors"; issue 15, points 5, 6 and 7)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from gateway.events import EventKind

from .embedded import embedded, sandbox
from .helpers import PROVIDERS, Gateway, asgi_client, forget_requests, gateway_over, inject_fault, sandbox_requests, sb_customer_writes, vendor_apps

Json = dict[str, Any]
MISSING = {"sb": "999999999", "ib": "no-such-conversation", "ct": "cv_NOSUCHCONVERSATION0000000000"}
ONE_FORM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TIMES = """query T($f: ConversationFilter) { conversations(first: 100, filter: $f) { edges { node {
  provider remoteId createdAt updatedAt lastMessageAt lastMessage { createdAt }
  messages(first: 3) { edges { node { createdAt } } } } } } }"""
BY_ID = "query B($id: ID!) { conversation(id: $id) { topic createdAt updatedAt lastMessageAt lastMessage { createdAt } } }"


@pytest.fixture
def apps() -> dict[str, Starlette]:
    return vendor_apps(demo_conversations=12)


@pytest.fixture
async def gateway(apps: dict[str, Starlette]) -> AsyncIterator[Gateway]:
    async with gateway_over(*((PROVIDERS[name], app) for name, app in apps.items())) as running:
        yield running


def gid(provider: str, remote_id: str) -> str:
    return base64.b64encode(f"Conversation:{provider}:{remote_id}".encode()).decode()


async def rows(gateway: Gateway, providers: list[str] | None = None) -> list[Json]:
    data = await gateway.data(TIMES, {"f": {"providers": providers} if providers else None})
    return [edge["node"] for edge in data["conversations"]["edges"]]


# -- unknown ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(MISSING))
@pytest.mark.parametrize("selection", [
    "conversation(id: $id) { id }",
    "conversation(id: $id) { id remoteId provider vendor }",
    "conversation(id: $id) { id messages(first: 5) { edges { node { id } } } }",
    "conversation(id: $id) { topic status }",
    "node(id: $id) { id }",
])
async def test_an_unknown_id_is_not_found_whatever_is_selected(gateway: Gateway, provider: str, selection: str) -> None:
    body = await gateway.execute(f"query Q($id: ID!) {{ {selection} }}", {"id": gid(provider, MISSING[provider])})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND" and error["extensions"]["provider"] == provider, error
    assert list(body["data"].values()) == [None]


@pytest.mark.parametrize(("provider", "calls"), [("sb", 1), ("ib", 1), ("ct", 1)])
async def test_an_id_alone_costs_one_read_and_with_messages_no_read_at_all(
    gateway: Gateway, apps: dict[str, Starlette], provider: str, calls: int
) -> None:
    known = next(r for r in await rows(gateway, [provider]) if r["messages"]["edges"])
    async with asgi_client(apps[provider], "http://hooks") as hooks:
        await forget_requests(hooks)
        alone = await gateway.data("query Q($id: ID!) { conversation(id: $id) { id } }", {"id": gid(provider, known["remoteId"])})
        read = [r for r in await sandbox_requests(hooks) if "token" not in r["path"]]
        await forget_requests(hooks)
        paged = await gateway.data("query Q($id: ID!) { conversation(id: $id) { id messages(first: 2) { edges { node { id } } } } }",
                                   {"id": gid(provider, known["remoteId"])})
        listed = [r["path"] for r in await sandbox_requests(hooks) if "token" not in r["path"]]
    assert alone["conversation"]["id"] == gid(provider, known["remoteId"]) and len(read) == calls
    assert paged["conversation"]["messages"]["edges"] and all("messages" in path for path in listed), listed


# -- errors ----------------------------------------------------------------------------------------


async def test_a_vendor_failure_is_worded_by_parley_with_the_vendors_text_in_extensions(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    known = (await rows(gateway, ["sb"]))[0]
    async with asgi_client(apps["sb"], "http://hooks") as hooks:
        await inject_fault(hooks, status=500, times=5, pathContains="chat/conversations")
        body = await gateway.execute(BY_ID, {"id": gid("sb", known["remoteId"])})
    [error] = body["errors"]
    assert error["message"] == "sb: the vendor failed (HTTP 500)"
    assert error["extensions"]["code"] == "PROVIDER_UNAVAILABLE" and error["extensions"]["vendorCode"] == "50"
    assert error["extensions"]["vendorMessage"] and error["extensions"]["vendorMessage"] not in error["message"]


async def test_a_typed_refusal_is_worded_by_parley_with_the_vendors_text_in_vendor_message(gateway: Gateway) -> None:
    known = next(r for r in await rows(gateway, ["sb"]))
    await gateway.data("mutation C($id: ID!) { closeConversation(id: $id) { __typename } }", {"id": gid("sb", known["remoteId"])})
    add = """mutation A($id: ID!) { addMessages(conversationId: $id, messages: [{text: "still there?"}]) {
      __typename ... on InvalidInputError { message vendorMessage } } }"""
    refused = (await gateway.data(add, {"id": gid("sb", known["remoteId"])}))["addMessages"]
    assert refused["__typename"] == "InvalidInputError"
    assert refused["message"].startswith("sb: the conversation is closed")
    assert "is closed; it accepts no new messages" in refused["vendorMessage"]  # the sandbox's own words


# -- names, last message times, one DateTime form --------------------------------------------------


async def test_updatable_fields_are_named_as_update_conversation_input_names_them() -> None:
    async with embedded(demo_conversations=0) as gateway:  # introspection on, as with `make serve`
        data = await gateway.data('{ providers { name updatableFields } __type(name: "UpdateConversationInput") { inputFields { name } } }')
    sent = {field["name"] for field in data["__type"]["inputFields"]}
    named = {p["name"]: p["updatableFields"] for p in data["providers"]}
    assert "queueId" in named["infobip"] and all(set(fields) <= sent for fields in named.values()), named


async def test_last_message_at_is_the_last_messages_time_on_every_vendor_listed_and_by_id(gateway: Gateway) -> None:
    listed = [r for r in await rows(gateway) if r["lastMessage"] is not None]
    assert {r["provider"] for r in listed} == {"sb", "ib", "ct"}
    assert all(r["lastMessageAt"] == r["lastMessage"]["createdAt"] for r in listed), [r for r in listed if r["lastMessageAt"] is None]
    for provider in ("sb", "ib", "ct"):
        row = next(r for r in listed if r["provider"] == provider)
        one = (await gateway.data(BY_ID, {"id": gid(provider, row["remoteId"])}))["conversation"]
        assert one["lastMessageAt"] == one["lastMessage"]["createdAt"] == row["lastMessageAt"], provider
        alone = (await gateway.data("query B($id: ID!) { conversation(id: $id) { lastMessageAt } }", {"id": gid(provider, row["remoteId"])}))
        assert alone["conversation"]["lastMessageAt"] == row["lastMessageAt"], provider


@pytest.mark.parametrize(("selection", "calls"), [
    ("status", 1),
    ("lastMessageAt", 2),  # the conversation, its latest message
    ("lastMessage { text }", 2),
    ("lastMessageAt lastMessage { text createdAt }", 2),  # one latest-message read for both
    ("topic lastMessageAt lastMessage { text }", 3),  # and the ticket, for the title
])
async def test_socialboards_reads_by_id_only_what_the_fields_need(
    gateway: Gateway, apps: dict[str, Starlette], selection: str, calls: int
) -> None:
    known = next(r for r in await rows(gateway, ["sb"]) if r["lastMessage"])
    async with asgi_client(apps["sb"], "http://hooks") as hooks:
        await forget_requests(hooks)
        answer = await gateway.data(f"query B($id: ID!) {{ conversation(id: $id) {{ {selection} }} }}", {"id": gid("sb", known["remoteId"])})
        made = [r for r in await sandbox_requests(hooks) if "token" not in r["path"]]
    assert len(made) == calls, [r["path"] for r in made]
    if "lastMessageAt" in answer["conversation"]:
        assert answer["conversation"]["lastMessageAt"] == known["lastMessageAt"]


async def test_every_datetime_has_one_form_on_every_vendor(gateway: Gateway) -> None:
    found: list[tuple[str, str]] = []
    for row in await rows(gateway):
        times = [row["createdAt"], row["updatedAt"], row["lastMessageAt"], (row["lastMessage"] or {}).get("createdAt")]
        times += [edge["node"]["createdAt"] for edge in row["messages"]["edges"]]
        found += [(row["provider"], t) for t in times if t is not None]
    assert {provider for provider, _ in found} == {"sb", "ib", "ct"}
    assert [(p, t) for p, t in found if not ONE_FORM.match(t)] == []


@pytest.mark.parametrize("provider", ["sb", "ib", "ct"])
async def test_a_time_read_and_sent_back_is_the_same_instant(gateway: Gateway, provider: str) -> None:
    listed = sorted(await rows(gateway, [provider]), key=lambda r: r["updatedAt"])
    bound = listed[len(listed) // 2]["updatedAt"]
    later = await gateway.data(TIMES, {"f": {"providers": [provider], "updatedAfter": bound}})
    kept = {edge["node"]["remoteId"] for edge in later["conversations"]["edges"]}
    assert kept == {r["remoteId"] for r in listed if r["updatedAt"] > bound}  # the row at the bound itself is not after it


async def test_infobip_says_in_the_schema_that_it_names_no_customer() -> None:
    async with embedded(demo_conversations=0) as gateway:
        data = await gateway.data('{ __type(name: "Participant") { fields { name description } } }')
    name = next(f for f in data["__type"]["fields"] if f["name"] == "name")
    assert "Infobip" in name["description"] and "names a customer nowhere" in name["description"]


# -- Socialboards' topic ---------------------------------------------------------------------------


async def test_socialboards_topic_is_its_tickets_title_by_id_listed_and_after_a_webhook() -> None:
    create = """mutation C($input: CreateConversationInput!) { createConversation(input: $input) {
      ... on ConversationPayload { conversation { id remoteId topic } } } }"""
    async with embedded(demo_conversations=1) as gateway:
        made = (await gateway.data(create, {"input": {"provider": "socialboards", "customer": {"email": "kim@example.test"},
                                                      "topic": "Where is my parcel?"}}))["createConversation"]["conversation"]
        by_id = (await gateway.data(BY_ID, {"id": made["id"]}))["conversation"]
        listed = await gateway.data('{ conversations(first: 5, filter: {providers: ["socialboards"]}) { edges { node { remoteId topic } } } }')
        events = gateway.app.state.runtime.bus.subscribe()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        async with sandbox(gateway, "socialboards") as hooks:
            await sb_customer_writes(hooks, made["remoteId"], "Any news?")  # the vendor's webhook, not a mutation
        event = await asyncio.wait_for(first, 2)
        while event.kind is not EventKind.CONVERSATION_CHANGED:
            event = await asyncio.wait_for(anext(events), 2)
        await events.aclose()
    assert made["topic"] == by_id["topic"] == "Where is my parcel?"
    assert {"remoteId": made["remoteId"], "topic": "Where is my parcel?"} in [e["node"] for e in listed["conversations"]["edges"]]
    assert event.conversation is not None and event.conversation.topic == "Where is my parcel?"
    assert event.conversation.last_message_at is not None  # the webhook's Conversation lacks it; the read has it


async def test_a_webhook_a_mutation_sets_off_is_read_outside_that_requests_vendor_call_budget() -> None:
    """In the embedded default a sandbox sends its webhook while the gateway still serves the mutation
    that caused it; reading the conversation it names must not be charged to (and refused by) that
    request's closed budget, as a webhook over the network never would be."""
    close = "mutation C($id: ID!) { closeConversation(id: $id) { __typename } }"
    async with embedded(demo_conversations=4) as gateway:
        [conversation] = [e["node"] for e in (await gateway.data(
            '{ conversations(first: 1, filter: {providers: ["socialboards"], status: [NEW, OPEN]}) { edges { node { id remoteId } } } }'
        ))["conversations"]["edges"]]
        async with sandbox(gateway, "socialboards") as hooks:
            await forget_requests(hooks)
            closed = (await gateway.client.post("/graphql", json={"query": close, "variables": {"id": conversation["id"]},
                                                                  "extensions": {"cost": True}})).json()
            assert closed["data"]["closeConversation"]["__typename"] == "ConversationPayload"
            # the close, its ticket and latest message: none of the webhook's reads, whenever it arrives
            assert closed["extensions"]["cost"]["vendorCalls"] == 3
            for _ in range(200):  # the close answers with the conversation; the webhook's read is a GET of it
                reads = [r for r in await sandbox_requests(hooks, "GET", f"/{conversation['remoteId']}") if "/messages" not in r["path"]]
                if reads:
                    break
                await asyncio.sleep(0.01)
    assert len(reads) == 1, reads
