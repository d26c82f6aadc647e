"""One meaning per field, for writes, on every vendor: whose message `addMessages` writes (an explicit
role, AGENT by default, refused where a vendor cannot write it), and what a write's vendor changed
or did not keep, told in `extensions.notices` (README "Example query"; issue 15, points 5 and 7)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from .embedded import embedded
from .helpers import (
    ASHA,
    CT_BASE,
    CT_CREDENTIALS,
    CT_HEADERS,
    IB_BASE,
    PROVIDERS,
    SB_AGENT,
    Gateway,
    asgi_client,
    ct_user_writes,
    forget_requests,
    gateway_over,
    ib_customer_writes,
    sandbox_requests,
    vendor_apps,
)

Json = dict[str, Any]
README = Path(__file__).resolve().parent.parent / "README.md"
# CleverTap replies as a configured dashboard agent when a message names none (its sandbox's Asha).
AGENTS = {**PROVIDERS, "ct": replace(PROVIDERS["ct"], options={**CT_CREDENTIALS, "agent_email": ASHA})}
WRITES = {"sb": ("CUSTOMER", "AGENT", "BOT"), "ib": ("AGENT",), "ct": ("AGENT",)}

ADD = """mutation Add($id: ID!, $messages: [MessageInput!]!) { addMessages(conversationId: $id, messages: $messages) {
  __typename
  ... on AddMessagesPayload { messages { text direction author { role name email } } }
  ... on Error { code message }
  ... on UnsupportedError { provider operation } } }"""
CREATE = """mutation Create($input: CreateConversationInput!) { createConversation(input: $input) {
  __typename
  ... on ConversationPayload { conversation { id topic customer { name externalId } lastMessage { text author { role } } } }
  ... on Error { code message } } }"""
UPDATE = """mutation Update($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) {
  __typename ... on ConversationPayload { conversation { topic } } ... on Error { code message } } }"""
LATEST = "query L($id: ID!) { conversation(id: $id) { lastMessage { text direction author { role } } } }"


@pytest.fixture
def apps() -> dict[str, Starlette]:
    return vendor_apps(demo_conversations=0)


@pytest.fixture
async def gateway(apps: dict[str, Starlette]) -> AsyncIterator[Gateway]:
    async with gateway_over(*((AGENTS[name], app) for name, app in apps.items())) as running:
        yield running


async def fresh(gateway: Gateway, apps: dict[str, Starlette]) -> dict[str, str]:
    """A conversation per provider that takes replies now (the customer wrote in a moment ago)."""
    created = await gateway.data(CREATE, {"input": {"provider": "sb", "customer": {"name": "Mia", "email": "mia@example.test"}}})
    async with asgi_client(apps["ib"], IB_BASE) as ib, asgi_client(apps["ct"], CT_BASE, headers=CT_HEADERS) as ct:
        ib_id = await ib_customer_writes(ib, "Hello?")
        ct_id = await ct_user_writes(ct, "Hello?", name="Noor")
    return {
        "sb": created["createConversation"]["conversation"]["id"],
        "ib": gid("ib", ib_id),
        "ct": gid("ct", ct_id),
    }


def gid(provider: str, remote_id: str) -> str:
    import base64

    return base64.b64encode(f"Conversation:{provider}:{remote_id}".encode()).decode()


def notices(body: Json) -> list[Json]:
    found: list[Json] = body.get("extensions", {}).get("notices", [])
    return found


# -- whose message ---------------------------------------------------------------------------------


async def test_a_message_that_names_no_role_is_the_agents_on_every_vendor(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    ids = await fresh(gateway, apps)
    for provider, conversation in ids.items():
        body = await gateway.execute(ADD, {"id": conversation, "messages": [{"text": f"On it ({provider})"}]})
        assert "errors" not in body, body
        [sent] = body["data"]["addMessages"]["messages"]
        assert (sent["author"]["role"], sent["direction"]) == ("AGENT", "OUTBOUND"), (provider, sent)
        latest = (await gateway.data(LATEST, {"id": conversation}))["conversation"]["lastMessage"]
        assert latest == {"text": f"On it ({provider})", "direction": "OUTBOUND", "author": {"role": "AGENT"}}, provider
        assert not notices(body), (provider, notices(body))  # kept as sent: nothing to tell
    sb_agent = (await gateway.data(ADD, {"id": ids["sb"], "messages": [{"text": "again"}]}))["addMessages"]["messages"][0]
    assert sb_agent["author"]["email"] == SB_AGENT  # written as the provider's configured agent


@pytest.mark.parametrize(("provider", "role"), [("ib", "CUSTOMER"), ("ib", "BOT"), ("ct", "CUSTOMER"), ("ct", "SYSTEM"), ("sb", "SYSTEM")])
async def test_a_role_a_vendor_cannot_write_is_unsupported_naming_the_roles_it_writes_before_any_call(
    gateway: Gateway, apps: dict[str, Starlette], provider: str, role: str
) -> None:
    conversation = (await fresh(gateway, apps))[provider]
    async with asgi_client(apps[provider], "http://hooks") as hooks:
        await forget_requests(hooks)
        body = await gateway.execute(ADD, {"id": conversation, "messages": [{"text": "fine"}, {"text": "as them", "role": role}]})
        writes = [r for r in await sandbox_requests(hooks) if r["method"] != "GET" and "token" not in r["path"]
                  and "tickets/list" not in r["path"] and not r["path"].endswith("conversations.json")]
    refused = body["data"]["addMessages"]
    assert refused["__typename"] == "UnsupportedError" and refused["code"] == "UNSUPPORTED", refused
    assert (refused["provider"], refused["operation"]) == (provider, "addMessages")
    can = ", ".join(WRITES[provider])
    assert f"message 2 is a {role} message, and {provider} writes {can} messages only" in refused["message"]
    assert writes == []  # not even the first message went out


async def test_socialboards_writes_customer_agent_and_bot_messages_as_each_says(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    conversation = (await fresh(gateway, apps))["sb"]
    messages = [
        {"text": "from Mia", "role": "CUSTOMER"},  # no author: the conversation's customer
        {"text": "from Ana", "role": "AGENT", "author": {"email": "ana@agents.example.com"}},
        {"text": "from the bot", "role": "BOT"},
    ]
    sent = (await gateway.data(ADD, {"id": conversation, "messages": messages}))["addMessages"]["messages"]
    assert [(m["author"]["role"], m["direction"]) for m in sent] == [("CUSTOMER", "INBOUND"), ("AGENT", "OUTBOUND"), ("BOT", "OUTBOUND")]
    assert sent[0]["author"]["name"] == "Mia" and sent[1]["author"]["email"] == "ana@agents.example.com"


async def test_a_new_conversations_first_messages_follow_the_same_rule(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    sb = await gateway.data(CREATE, {"input": {"provider": "sb", "customer": {"name": "Ola", "externalId": "ola"},
                                               "messages": [{"text": "Welcome!"}]}})
    assert sb["createConversation"]["conversation"]["lastMessage"] == {"text": "Welcome!", "author": {"role": "AGENT"}}
    async with asgi_client(apps["ib"], "http://hooks") as hooks:
        await forget_requests(hooks)
        refused = (await gateway.data(CREATE, {"input": {"provider": "ib", "customer": {"id": "447700900321"}, "channel": "SMS",
                                                         "messages": [{"text": "Hi, it's me", "role": "CUSTOMER"}]}}))
        assert [r for r in await sandbox_requests(hooks) if r["method"] == "POST"] == []  # no conversation was created
    assert refused["createConversation"]["__typename"] == "UnsupportedError"
    assert "CUSTOMER message, and ib writes AGENT messages only" in refused["createConversation"]["message"]


async def test_providers_say_whose_messages_they_write(gateway: Gateway) -> None:
    providers = (await gateway.data("{ providers { name writableRoles } }"))["providers"]
    assert {p["name"]: tuple(p["writableRoles"]) for p in providers} == WRITES


# -- what the vendor kept --------------------------------------------------------------------------


async def test_a_value_the_vendor_changes_is_a_value_changed_notice(gateway: Gateway) -> None:
    create = CREATE.replace("topic customer", "topic sentiment categoryId customer")
    body = await gateway.execute(create, {"input": {"provider": "sb", "customer": {"name": "John", "externalId": "CUS-12345"},
                                                    "topic": "Chat API Client Problems", "sentiment": "Question", "categoryId": "1505"}})
    conversation = body["data"]["createConversation"]["conversation"]
    assert conversation["customer"]["externalId"] == "cus-12345" and conversation["topic"] == "Chat API Client Problems"
    assert (conversation["sentiment"], conversation["categoryId"]) == ("question", "1505")  # from the ticket, as the title
    assert notices(body) == [
        {"code": "VALUE_CHANGED", "provider": "sb", "field": "input.sentiment", "sent": "Question", "kept": "question",
         "message": "sb keeps input.sentiment as 'question', not 'Question' as sent", "path": ["createConversation"]},
        {"code": "VALUE_CHANGED", "provider": "sb", "field": "input.customer.externalId", "sent": "CUS-12345", "kept": "cus-12345",
         "message": "sb keeps input.customer.externalId as 'cus-12345', not 'CUS-12345' as sent", "path": ["createConversation"]},
    ]


async def test_a_value_the_vendor_does_not_keep_is_a_field_dropped_notice(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    created = await gateway.execute(CREATE, {"input": {"provider": "ib", "customer": {"name": "Eve"}, "topic": "Returns"}})
    assert created["data"]["createConversation"]["conversation"]["customer"] is None
    assert [(n["code"], n["field"], n["sent"], n["kept"]) for n in notices(created)] == [("FIELD_DROPPED", "input.customer.name", "Eve", None)]
    conversation = (await fresh(gateway, apps))["ib"]
    added = await gateway.execute(ADD, {"id": conversation, "messages": [{"text": "Done", "author": {"name": "Ana"}}]})
    [dropped] = notices(added)  # an Infobip message records the sending address, not who sent it
    assert (dropped["code"], dropped["field"], dropped["path"]) == ("FIELD_DROPPED", "messages[0].author.name", ["addMessages"])


async def test_a_write_the_vendor_keeps_as_sent_has_no_notice(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    conversation = (await fresh(gateway, apps))["ib"]
    body = await gateway.execute(UPDATE, {"id": conversation, "input": {"topic": "Refund", "priority": "HIGH"}})
    assert body["data"]["updateConversation"]["conversation"] == {"topic": "Refund"} and not notices(body)


async def test_the_readme_example_mutation_succeeds_as_written_and_reads_back_what_it_sent() -> None:
    block = re.search(r"```graphql\n(mutation \{.*?\n\})\n", README.read_text(), re.DOTALL)
    assert block is not None, "the README's example mutation"
    async with embedded(demo_conversations=1) as gateway:
        body = await gateway.execute(block.group(1))
    assert "errors" not in body, body
    result = body["data"]["createConversation"]
    assert result["__typename"] == "ConversationPayload", result
    conversation = result["conversation"]
    assert conversation["topic"] == "Chat API Client Problems"
    assert conversation["lastMessage"] == {"text": "Hi, I have a question", "author": {"role": "CUSTOMER"}}
    assert conversation["customer"] == {"externalId": "cus-12345"}
    assert [(n["code"], n["field"], n["sent"], n["kept"]) for n in notices(body)] == [
        ("VALUE_CHANGED", "input.customer.externalId", "CUS-12345", "cus-12345"),
    ]
