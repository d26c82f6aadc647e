"""The embedded default's demo accounts take writes: Infobip can write first (its demo senders are
configured), and the demo CleverTap agent can reply on every live demo conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings

CREATE = """mutation($input: CreateConversationInput!) { createConversation(input: $input) {
  __typename ... on ConversationPayload { conversation { provider messages(first: 5) { edges { node { text } } } } }
  ... on Error { code message } } }"""
LIVE = """query($providers: [String!]) { conversations(first: 100, filter: {providers: $providers, active: true}) {
  edges { node { id } } } }"""
REPLY = """mutation($id: ID!, $messages: [MessageInput!]!) { addMessages(conversationId: $id, messages: $messages) {
  __typename ... on Error { code message } } }"""


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as http:
            yield http


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, object]) -> dict[str, object]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def test_the_demo_infobip_account_can_start_a_conversation_with_a_first_message(client: httpx.AsyncClient) -> None:
    new = {"provider": "infobip", "channel": "WHATSAPP", "topic": "Order 1234",
           "customer": {"name": "John", "externalId": "447700900555"}, "messages": [{"text": "Your order has shipped"}]}
    result = (await graphql(client, CREATE, {"input": new}))["createConversation"]
    assert result["__typename"] == "ConversationPayload", result  # type: ignore[index]
    texts = [e["node"]["text"] for e in result["conversation"]["messages"]["edges"]]  # type: ignore[index]
    assert texts == ["Your order has shipped"]


async def test_the_demo_clevertap_agent_can_reply_on_every_live_demo_conversation(client: httpx.AsyncClient) -> None:
    live = (await graphql(client, LIVE, {"providers": ["clevertap"]}))["conversations"]["edges"]  # type: ignore[index]
    assert len(live) >= 5
    for edge in live:
        result = (await graphql(client, REPLY, {"id": edge["node"]["id"], "messages": [{"text": "Happy to help"}]}))
        assert result["addMessages"]["__typename"] == "AddMessagesPayload", result  # type: ignore[index]
