"""The GraphQL operations the benchmark sends to Parley, and one call that fails on anything but data."""

from __future__ import annotations

import base64
from typing import Any

from direct import loads
from wire import Pool

INBOX = """query Inbox($first: Int!, $providers: [String!]) {
  conversations(first: $first, filter: {providers: $providers}) {
    edges { node { id topic status customer { name } tags lastMessage { text createdAt } } }
  }
}"""

BY_ID = """query ById($id: ID!) {
  conversation(id: $id) {
    id topic status updatedAt
    messages(first: 50) { edges { node { id text createdAt direction author { name role } } } }
  }
}"""

ADD_MESSAGES = """mutation Reply($id: ID!) {
  addMessages(conversationId: $id, messages: [{text: "Thanks, we are on it."}]) {
    __typename
    ... on AddMessagesPayload { messages { id } }
    ... on Error { code message }
  }
}"""


class Refused(Exception):
    """An answer that is not the success the benchmark asked for (HTTP error, GraphQL error, typed error)."""


def conversation_id(provider: str, remote_id: str) -> str:
    """The Relay global id Parley gives a conversation (gateway/ids.py)."""
    return base64.b64encode(f"Conversation:{provider}:{remote_id}".encode()).decode()


def vendor_key(global_id: str) -> tuple[str, str]:
    """(provider, remote id) of a conversation's global id."""
    _, provider, remote_id = base64.b64decode(global_id).decode().split(":", 2)
    return provider, remote_id


async def graphql(parley: Pool, query: str, variables: dict[str, Any]) -> Any:
    status, content = await parley.post_json({"query": query, "variables": variables})
    if status != 200:
        raise Refused(f"HTTP {status}")
    body = loads(content)
    if body.get("errors"):
        error = body["errors"][0]
        extensions = error.get("extensions") or {}
        raise Refused(f"{extensions.get('code')} ({extensions.get('provider')}): {error['message']}")
    return body["data"]


async def reply(parley: Pool, global_id: str) -> None:
    """One `addMessages`; a typed error member of the result is a failure too."""
    result = (await graphql(parley, ADD_MESSAGES, {"id": global_id}))["addMessages"]
    if result["__typename"] != "AddMessagesPayload":
        raise Refused(f"{result['__typename']}: {result.get('message')}")
