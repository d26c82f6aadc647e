"""Message page cursors are encoded only when read (`providers.cursors.LazyCursors`, and message edges
that read their cursor from the page only when the query selects it): each is the cursor the general
path encoded row by row, whatever order they are read in, and a query answers the same with or without
them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from providers._time import parse_datetime
from providers.cursors import LazyCursors, encode_cursor
from providers.infobip.client import to_ms
from providers.infobip.provider import InfobipProvider
from providers.models import Page

from .helpers import PROVIDERS, FrozenClock, Gateway, advance_clock, gateway_over, global_id, ib_customer_writes, infobip_app


@pytest.fixture
def ib_app() -> Starlette:
    """A frozen clock: messages written between two clock moves share their millisecond, so a cursor
    names every id already read at its time."""
    return infobip_app(clock=FrozenClock())


@pytest.fixture
async def gateway(ib_app: Starlette) -> AsyncIterator[Gateway]:
    async with gateway_over((PROVIDERS["ib"], ib_app)) as running:
        yield running


async def conversation_with_ties(hooks: httpx.AsyncClient) -> str:
    """Nine messages in three milliseconds, three in each."""
    remote_id = await ib_customer_writes(hooks, "line 0", sender="447900000001")
    for line in range(1, 9):
        if line % 3 == 0:
            await advance_clock(hooks, 0.25)
        await ib_customer_writes(hooks, f"line {line}", conversation=remote_id, sender="447900000001")
    return remote_id


async def reference_cursors(hooks: httpx.AsyncClient, provider: str, remote_id: str, *, newest_first: bool) -> list[str]:
    """The cursor after each message, as the general path encoded it: the sort time in ms and the ids
    read at that time so far, read straight from the vendor's rows."""
    order = "createdAt:desc" if newest_first else "createdAt:asc"
    response = await hooks.get(f"/ccaas/1/conversations/{remote_id}/messages", params={"orderBy": order, "limit": 100})
    cursors, at, ids = [], None, []
    for row in response.json()["messages"]:
        moment = parse_datetime(row["createdAt"])
        assert moment is not None
        key = to_ms(moment)
        ids = [*ids, row["id"]] if key == at else [row["id"]]
        at = key
        kind = "messages-desc" if newest_first else "messages"
        cursors.append(encode_cursor(provider, kind, c=remote_id, t=at, ids=ids))
    return cursors


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest first", "newest first"])
async def test_each_cursor_read_in_any_order_is_the_one_encoded_row_by_row(
    ib_provider: InfobipProvider, ib_hooks: httpx.AsyncClient, newest_first: bool
) -> None:
    remote_id = await conversation_with_ties(ib_hooks)
    expected = await reference_cursors(ib_hooks, ib_provider.name, remote_id, newest_first=newest_first)
    assert len(expected) == 9 and len(set(expected)) == 9
    assert [len(decoded_ids(c)) for c in expected] == [1, 2, 3] * 3  # ties within each millisecond
    first = await ib_provider.list_messages(remote_id, first=4, after=None, newest_first=newest_first)
    assert isinstance(first.cursors, LazyCursors)
    assert [first.cursors[i] for i in (3, -1, 0, 2, 1)] == [expected[3], expected[3], expected[0], expected[2], expected[1]]
    assert first.cursors == tuple(expected[:4]) and first.next_cursor == expected[3]
    assert first.cursors[1:3] == tuple(expected[1:3])
    with pytest.raises(IndexError):
        first.cursors[4]
    rest = await ib_provider.list_messages(remote_id, first=10, after=first.cursors[3], newest_first=newest_first)
    assert list(rest.cursors) == expected[4:] and rest.next_cursor is None
    assert [m.remote_id for m in first.items + rest.items] == [decoded_ids(c)[-1] for c in expected]


def decoded_ids(cursor: str) -> list[str]:
    state: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    ids: list[str] = state["ids"]
    return ids


def test_lazy_cursors_equal_and_hash_as_the_tuple_they_stand_for() -> None:
    encoded: list[int] = []

    def encode(state: int) -> str:
        encoded.append(state)
        return f"c{state}"

    lazy = LazyCursors([1, 2, 3], encode)
    assert lazy[-1] == "c3" and encoded == [3]  # only what is read
    assert lazy[-1] == "c3" and encoded == [3]  # and once
    assert Page(("a", "b", "c"), None, lazy) == Page(("a", "b", "c"), None, ("c1", "c2", "c3"))
    assert hash(lazy) == hash(("c1", "c2", "c3")) and lazy != ("c1", "c2") and lazy != "c1c2c3"


WITH_CURSORS = """query($id: ID!, $after: String) { conversation(id: $id) { messages(first: 4, after: $after) {
  edges { cursor node { id text } } pageInfo { hasNextPage endCursor } } } }"""
WITHOUT_CURSORS = """query($id: ID!) { conversation(id: $id) { messages(first: 4) {
  edges { node { id text } } pageInfo { hasNextPage endCursor } } } }"""
IN_A_FRAGMENT = """query($id: ID!) { conversation(id: $id) { messages(first: 4) { ...Page } } }
fragment Page on MessageConnection { edges { ... on MessageEdge { at: cursor } node { id text } } pageInfo { hasNextPage } }"""


async def test_message_edges_answer_the_same_whether_or_how_cursors_are_selected(gateway: Gateway, ib_app: Starlette) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ib_app), base_url="http://ib.test",
                                 headers={"Authorization": "App test-key"}) as hooks:
        remote_id = await conversation_with_ties(hooks)
        expected = await reference_cursors(hooks, "ib", remote_id, newest_first=False)
    variables = {"id": global_id("Conversation", "ib", remote_id)}
    selected = (await gateway.data(WITH_CURSORS, variables))["conversation"]["messages"]
    left_out = (await gateway.data(WITHOUT_CURSORS, variables))["conversation"]["messages"]
    aliased = (await gateway.data(IN_A_FRAGMENT, variables))["conversation"]["messages"]
    assert [e["cursor"] for e in selected["edges"]] == [e["at"] for e in aliased["edges"]] == expected[:4]
    assert [e["node"] for e in left_out["edges"]] == [e["node"] for e in selected["edges"]] == [e["node"] for e in aliased["edges"]]
    assert left_out["pageInfo"] == selected["pageInfo"] == {"hasNextPage": True, "endCursor": expected[3]}
    rest = (await gateway.data(WITH_CURSORS, {**variables, "after": selected["edges"][1]["cursor"]}))["conversation"]["messages"]
    assert [e["node"] for e in rest["edges"][:2]] == [e["node"] for e in selected["edges"][2:]]
    assert [e["cursor"] for e in rest["edges"]] == expected[2:6]
