"""The gateway over HTTP against a Socialboards sandbox: queries, mutations and their errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from .helpers import STATUS, Gateway, create_conversation, remote_id_of, sb_agent_replies

SEED_REQUEST = json.loads((Path(__file__).parent / "fixtures/socialboards/create-conversation-request.json").read_text())

CREATE = """
mutation Create($input: CreateConversationInput!) {
  createConversation(input: $input) {
    __typename
    ... on ConversationPayload { conversation { id remoteId topic status vendorStatus customer { name externalId role } } }
    ... on Error { code message }
  }
}"""
ADD = """
mutation Add($id: ID!, $messages: [MessageInput!]!, $asContext: Boolean! = false) {
  addMessages(conversationId: $id, messages: $messages, asContext: $asContext) {
    __typename
    ... on AddMessagesPayload { messages { id text createdAt imported direction author { role } } }
    ... on Error { code message }
    ... on InvalidInputError { field }
  }
}"""
MESSAGES = """
query Messages($id: ID!, $first: Int!, $after: String) {
  conversation(id: $id) { messageCount messages(first: $first, after: $after) {
    edges { cursor node { id text createdAt } } pageInfo { hasNextPage endCursor } } }
}"""
CLOSE = """mutation C($id: ID!) { closeConversation(id: $id) {
  __typename ... on ConversationPayload { conversation { status vendorStatus } } ... on Error { code message } } }"""


async def test_the_seed_request_creates_a_conversation_with_the_normalised_customer_id(gateway: Gateway) -> None:
    author = SEED_REQUEST["author"]
    variables = {"input": {
        "provider": "sb",
        "customer": {"name": author["name"], "externalId": author["customIdentifier"]},
        "topic": SEED_REQUEST["title"], "url": SEED_REQUEST["url"], "sentiment": SEED_REQUEST["sentiment"],
        "categoryId": str(SEED_REQUEST["categoryId"]),
    }}
    result = (await gateway.data(CREATE, variables))["createConversation"]
    assert result["__typename"] == "ConversationPayload"
    customer = result["conversation"]["customer"]
    assert customer == {"name": "John", "externalId": "cus-12345", "role": "CUSTOMER"}


async def test_history_keeps_its_time_and_sorts_before_live_messages(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    await gateway.data(ADD, {"id": conversation, "messages": [{"text": "live"}]})
    old = "2024-03-01T10:00:00.5+02:00"
    added = (await gateway.data(ADD, {"id": conversation, "messages": [{"text": "from email", "createdAt": old}], "asContext": True}))
    assert added["addMessages"]["messages"][0]["imported"] is True
    edges = (await gateway.data(MESSAGES, {"id": conversation, "first": 10}))["conversation"]["messages"]["edges"]
    assert [e["node"]["text"] for e in edges] == ["from email", "live"]
    assert edges[0]["node"]["createdAt"] == "2024-03-01T08:00:00.500000Z"  # the same instant, in Parley's one form


async def test_a_created_at_over_30s_ahead_is_invalid_input_and_writes_nothing(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    ahead = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    result = (await gateway.data(ADD, {"id": conversation, "messages": [{"text": "ok"}, {"text": "x", "createdAt": ahead}]}))["addMessages"]
    assert (result["__typename"], result["code"], result["field"]) == ("InvalidInputError", "INVALID_INPUT", "createdAt")
    assert "30 s in the future" in result["message"]
    after = (await gateway.data(MESSAGES, {"id": conversation, "first": 10}))["conversation"]
    assert after["messages"]["edges"] == [] and after["messageCount"] == 0


async def test_paging_250_messages_by_40_returns_each_once_in_order(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    history = [{"text": f"m{i:03}", "createdAt": (start + timedelta(minutes=i)).isoformat()} for i in range(250)]
    for batch in range(0, 250, 100):  # at most server.max_list_length (100) messages per request
        await gateway.data(ADD, {"id": conversation, "messages": history[batch:batch + 100], "asContext": True})
    texts, after, pages = [], None, 0
    while True:
        page = (await gateway.data(MESSAGES, {"id": conversation, "first": 40, "after": after}))["conversation"]["messages"]
        texts += [e["node"]["text"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert texts == [f"m{i:03}" for i in range(250)]
    assert pages == 7


async def test_status_follows_the_queue_and_closing(gateway: Gateway, sb_hooks: httpx.AsyncClient) -> None:
    conversation = await create_conversation(gateway)
    queued = (await gateway.data(STATUS, {"id": conversation}))["conversation"]
    assert (queued["status"], queued["vendorStatus"]) == ("NEW", "queued") and queued["queue"]["position"] >= 0
    await sb_agent_replies(sb_hooks, remote_id_of(conversation), "Hello!")
    handled = (await gateway.data(STATUS, {"id": conversation}))["conversation"]
    assert (handled["status"], handled["vendorStatus"], handled["queue"]["position"]) == ("OPEN", "active", -1)
    closed = (await gateway.data(CLOSE, {"id": conversation}))["closeConversation"]["conversation"]
    assert (closed["status"], closed["vendorStatus"]) == ("CLOSED", "closed")


async def test_adding_to_a_closed_conversation_is_a_typed_error_and_stores_nothing(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    await gateway.data(ADD, {"id": conversation, "messages": [{"text": "first"}]})
    await gateway.data(CLOSE, {"id": conversation})
    result = (await gateway.data(ADD, {"id": conversation, "messages": [{"text": "after close"}]}))["addMessages"]
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_INPUT")
    edges = (await gateway.data(MESSAGES, {"id": conversation, "first": 10}))["conversation"]["messages"]["edges"]
    assert [e["node"]["text"] for e in edges] == ["first"]


async def test_an_operation_the_provider_lacks_is_unsupported(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    query = """mutation T($id: ID!) { addTags(id: $id, tags: ["vip"]) {
      __typename ... on UnsupportedError { code provider operation } } }"""
    result = (await gateway.data(query, {"id": conversation}))["addTags"]
    assert result == {"__typename": "UnsupportedError", "code": "UNSUPPORTED", "provider": "sb", "operation": "addTags"}


async def test_a_status_the_vendor_cannot_hold_is_refused_naming_accepted_values(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    query = """mutation U($id: ID!) { updateConversation(id: $id, input: {status: PENDING}) {
      __typename ... on InvalidInputError { code message field } } }"""
    result = (await gateway.data(query, {"id": conversation}))["updateConversation"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "status")
    assert "accepted values: CLOSED" in result["message"]
    assert (await gateway.data(STATUS, {"id": conversation}))["conversation"]["status"] == "NEW"


async def test_node_resolves_conversations_and_messages(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    added = await gateway.data(ADD, {"id": conversation, "messages": [{"text": "hello"}]})
    message_id = added["addMessages"]["messages"][0]["id"]
    query = """query N($a: ID!, $b: ID!) {
      a: node(id: $a) { __typename id ... on Conversation { remoteId } }
      b: node(id: $b) { __typename id ... on Message { text conversation { id } } } }"""
    data = await gateway.data(query, {"a": conversation, "b": message_id})
    assert data["a"]["__typename"] == "Conversation" and data["a"]["id"] == conversation
    assert data["b"] == {"__typename": "Message", "id": message_id, "text": "hello", "conversation": {"id": conversation}}


async def test_providers_declare_their_capabilities(gateway: Gateway) -> None:
    data = await gateway.data("{ providers { name vendor capabilities writableStatuses healthy } }")
    [provider] = data["providers"]
    assert (provider["name"], provider["vendor"], provider["healthy"]) == ("sb", "socialboards", True)
    assert "BOT_TAKEOVER" in provider["capabilities"] and "TAGS" not in provider["capabilities"]
    assert provider["writableStatuses"] == ["CLOSED"]


async def test_the_inbox_pages_through_every_conversation_once(gateway: Gateway) -> None:
    created = {await create_conversation(gateway, name=f"C{i}") for i in range(9)}
    query = """query L($after: String) { conversations(first: 4, after: $after) {
      edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = (await gateway.data(query, {"after": after}))["conversations"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(created)


async def test_repeated_queries_hit_the_parser_and_validation_caches(gateway: Gateway) -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache

    from gateway.lockdown import quiet_validator, same_document_validator
    from gateway.schema import CACHE_SIZE

    # a configured gateway serves the locked-down schema; a repeated document is found by its object
    validator = same_document_validator(quiet_validator(CACHE_SIZE), CACHE_SIZE).by_object
    query = "query CacheProbe { providers { name } }"
    await gateway.data(query)
    parsed, validated = _get_parse_cache(CACHE_SIZE).cache_info(), validator.cache_info()
    for _ in range(3):
        await gateway.data(query)
    assert _get_parse_cache(CACHE_SIZE).cache_info().hits - parsed.hits == 3
    assert validator.cache_info().hits - validated.hits == 3


async def test_queries_work_over_get(gateway: Gateway) -> None:
    response = await gateway.client.get(
        "/graphql", params={"query": "{ providers { name } }"}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200 and response.json() == {"data": {"providers": [{"name": "sb"}]}}


async def test_mutations_are_refused_over_get(gateway: Gateway) -> None:
    query = 'mutation { closeConversation(id: "x") { __typename } }'
    response = await gateway.client.get("/graphql", params={"query": query}, headers={"accept": "application/json"})
    assert response.status_code == 400
