"""`gateway.execution.PlainExecutor` gives exactly what strawberry's own executor gives: the same data,
the same errors and nulls, with aliases, fragments, directives, relay ids and nulls in the mix."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.context import Context, make_loaders
from gateway.schema import build_schema
from providers import models as m
from providers.models import Page

T = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
FAST, STOCK = build_schema(), build_schema(executor=None)


def message(i: int, **changes: Any) -> m.Message:
    author = m.Participant(f"u{i}", f"User {i}", m.Role.AGENT if i % 2 else m.Role.CUSTOMER) if i % 3 else None
    base = dict(provider="fake", remote_id=str(i), conversation_remote_id="42", text=None if i == 4 else f"text {i}",
                author=author, direction=m.Direction.INBOUND, created_at=T if i % 5 else None, channel=m.Channel.SMS if i % 2 else None)
    return m.Message(**{**base, **changes})  # type: ignore[arg-type]


class FakeProvider:
    name, vendor = "fake", "fake"
    capabilities: frozenset[Any] = frozenset()
    writable_statuses: frozenset[Any] = frozenset()
    updatable_fields: frozenset[str] = frozenset()
    writable_roles: frozenset[Any] = frozenset()

    def __init__(self, messages: list[m.Message]) -> None:
        self.messages = messages

    async def get_conversation(self, remote_id: str, *, fields: Any = None) -> m.Conversation:
        return m.Conversation("fake", "fake", remote_id, m.ConversationStatus.OPEN, "open", T, T, topic="Topic",
                              customer=m.Participant("c1", "Cleo", m.Role.CUSTOMER), tags=("a", "b"), message_count=len(self.messages))

    async def list_conversations(self, *, filter: Any, order: Any, first: int, after: Any, fields: Any = None) -> Page[m.Conversation]:
        items = tuple([await self.get_conversation(str(i)) for i in range(3)])
        return Page(items, None, tuple(f"c{i}" for i in range(3)))

    async def list_messages(self, remote_id: str, *, first: int, after: Any, newest_first: bool = False) -> Page[m.Message]:
        chosen = tuple(self.messages[:first])
        return Page(chosen, None, tuple(f"m{msg.remote_id}" for msg in chosen))


def gid(kind: str, node_id: str) -> str:
    return base64.b64encode(f"{kind}:{node_id}".encode()).decode()


BY_ID = """
query($id: ID!, $skip: Boolean!, $with: Boolean!) {
  conversation(id: $id) {
    id topic
    messages(first: 12) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ...M first: text kind: __typename author @include(if: $with) { name role } } }
      again: edges { node { id createdAt @skip(if: $skip) } }
    }
  }
}
fragment M on Message { id text createdAt direction channel author { id name role email } ... on Message { remoteId provider } }
"""
INBOX = "{ conversations(first: 3) { edges { cursor node { id topic tags customer { name } lastMessage { text author { name } } } } } }"
NODE = "query($id: ID!) { node(id: $id) { __typename ... on Conversation { id status messages(first: 3) { edges { node { id text } } } } } }"


async def run(schema: Any, provider: FakeProvider, query: str, variables: dict[str, Any] | None = None) -> tuple[Any, list[Any]]:
    providers = {"fake": provider}
    context = Context(request=None, response=None, providers=providers, bus=None, loaders=make_loaders(providers, cache=True))  # type: ignore[arg-type]
    result = await schema.execute(query, variable_values=variables, context_value=context)
    return result.data, sorted((e.message, tuple(e.path or ())) for e in result.errors or [])


CASES = [
    (BY_ID, {"id": gid("Conversation", "fake:42"), "skip": False, "with": True}),
    (BY_ID, {"id": gid("Conversation", "fake:42"), "skip": True, "with": False}),
    (INBOX, None),
    ("{ conversations(first: 3) { edges { node { id status tags createdAt customer { name role } } } pageInfo { hasNextPage } } }", None),
    (NODE, {"id": gid("Conversation", "fake:42")}),
]


@pytest.mark.parametrize(("query", "variables"), CASES)
async def test_the_same_data_as_strawberrys_executor(query: str, variables: dict[str, Any] | None) -> None:
    provider = FakeProvider([message(i) for i in range(12)])
    fast = await run(FAST, provider, query, variables)
    assert fast == await run(STOCK, provider, query, variables)
    assert fast[0] is not None and fast[1] == []


async def test_a_null_in_a_non_null_field_gives_the_same_error_and_null_propagation() -> None:
    provider = FakeProvider([message(1), message(2, direction=None), message(3)])
    fast = await run(FAST, provider, *CASES[0])
    assert fast == await run(STOCK, provider, *CASES[0])
    assert [path for _, path in fast[1]] == [("conversation", "messages", "edges", 1, "node", "direction")]
    assert fast[0] == {"conversation": None}  # the null went up to the nearest nullable field


async def test_an_operation_without_directives_reuses_its_plans_across_requests_with_each_requests_data() -> None:
    from gateway.execution import PlainExecutor

    query = "query($id: ID!) { conversation(id: $id) { id messages(first: 5) { edges { node { id text author { name } } } } } }"
    variables = {"id": gid("Conversation", "fake:42")}
    first = FakeProvider([message(i) for i in range(5)])
    assert await run(FAST, first, query, variables) == await run(STOCK, first, query, variables)
    plans = len(PlainExecutor._shared)
    second = FakeProvider([message(i, text=f"other {i}") for i in range(20, 25)])
    fast = await run(FAST, second, query, variables)
    assert fast == await run(STOCK, second, query, variables)
    assert "other 20" in str(fast[0]) and "text 0" not in str(fast[0])  # this request's data, not the first's
    assert len(PlainExecutor._shared) == plans  # no plan was built again


ODD = "query($id: ID!) { conversation(id: $id) { messages(first: 3) { edges { node { id text direction imported t: __typename author { name role } } } } } }"


@pytest.mark.parametrize("changes", [
    {"text": 5}, {"text": True}, {"text": 2.5}, {"text": [1]},  # coerced to a String, or refused
    {"direction": "INBOUND"}, {"direction": 3},  # not a member of the enum
    {"imported": 1}, {"imported": "yes"},  # coerced to a Boolean, or refused
    {"author": m.Participant(7, None, m.Role.BOT)},  # type: ignore[arg-type]  # an id that is no str
    # the author is completed in line in its edge's plan: a name to coerce, a role refused or missing
    {"author": m.Participant("u9", 5, m.Role.BOT)},  # type: ignore[arg-type]
    {"author": m.Participant("u9", "Nine", "BOT")},  # type: ignore[arg-type]
    {"author": m.Participant("u9", "Nine", None)},  # type: ignore[arg-type]
], ids=lambda changes: f"{next(iter(changes))}={next(iter(changes.values()))!r}")
async def test_values_the_compiled_plans_do_not_take_as_they_are_give_what_strawberry_gives(changes: dict[str, Any]) -> None:
    """Compiled object plans (gateway/plans.py) keep a str as a String and a bool as a Boolean and look enum
    members up by identity; anything else goes through the type's own coercion, or falls back."""
    provider = FakeProvider([message(1), message(2, **changes), message(3)])
    variables = {"id": gid("Conversation", "fake:42")}
    fast = await run(FAST, provider, ODD, variables)
    assert fast == await run(STOCK, provider, ODD, variables)


def test_messages_of_a_page_share_one_author_object_per_author_model() -> None:
    """`Message.from_model` with the page's `authors`: each message equal to the one made alone, and one
    Participant per author model (adapters share one model per author)."""
    from gateway.types import Message

    ann, bob = m.Participant("u1", "Ann", m.Role.CUSTOMER), m.Participant("u2", "Bob", m.Role.AGENT)
    models = [message(1, author=ann), message(2, author=bob), message(3, author=ann), message(4, author=None), message(5, author=ann)]
    authors: dict[int, Any] = {}
    shared = [Message.from_model(model, authors) for model in models]
    assert shared == [Message.from_model(model) for model in models]
    assert shared[0].author is shared[2].author is shared[4].author and shared[1].author is not shared[0].author
    assert shared[3].author is None and shared[1].author is not None and shared[1].author.name == "Bob"
