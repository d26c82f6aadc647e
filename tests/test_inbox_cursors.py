"""`conversations` encodes each edge's cursor only when the query selects `cursor` (gateway/inbox.py,
`edge_cursors`): the same nodes and pageInfo either way, and the cursors are the same however they are
selected (directly, through a fragment, under an alias) and resume right after their edge."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings

from .helpers import post

WITH_CURSORS = """query($filter: ConversationFilter, $after: String) { conversations(first: 5, filter: $filter, after: $after) {
  edges { cursor node { id topic } } pageInfo { hasNextPage endCursor } } }"""
WITHOUT_CURSORS = """query($filter: ConversationFilter) { conversations(first: 5, filter: $filter) {
  edges { node { id topic } } pageInfo { hasNextPage endCursor } } }"""
IN_A_FRAGMENT = """query($filter: ConversationFilter) { conversations(first: 5, filter: $filter) { ...Page } }
fragment Page on ConversationConnection { edges { ... on ConversationEdge { at: cursor } node { id topic } } pageInfo { hasNextPage endCursor } }"""


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(demo_conversations=6, graphiql=False))) as test_client:
        yield test_client


def comparable(cursor: str | None) -> Any:
    """An inbox cursor's state, without CleverTap's own cursor token (each listing opens a new one)."""
    if cursor is None:
        return None
    state = decode(cursor)
    state["pos"] = {name: decode(pos) if pos else pos for name, pos in state["pos"].items()}
    if state["pos"].get("clevertap"):
        state["pos"]["clevertap"].pop("c")
    return state


def decode(cursor: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def page_info(connection: Any) -> tuple[bool, Any]:
    return connection["pageInfo"]["hasNextPage"], comparable(connection["pageInfo"]["endCursor"])


@pytest.mark.parametrize("filter", [None, {"providers": ["infobip"]}], ids=["three providers", "one provider"])
def test_edge_cursors_are_the_same_whether_or_how_they_are_selected(client: TestClient, filter: dict[str, list[str]] | None) -> None:
    selected = post(client, WITH_CURSORS, {"filter": filter})["conversations"]
    left_out = post(client, WITHOUT_CURSORS, {"filter": filter})["conversations"]
    aliased = post(client, IN_A_FRAGMENT, {"filter": filter})["conversations"]
    assert len(selected["edges"]) == 5 and all(edge["cursor"] for edge in selected["edges"])
    assert [e["node"] for e in left_out["edges"]] == [e["node"] for e in selected["edges"]]
    assert page_info(left_out) == page_info(selected) == page_info(aliased)
    assert [comparable(e["at"]) for e in aliased["edges"]] == [comparable(e["cursor"]) for e in selected["edges"]]
    rest = post(client, WITH_CURSORS, {"filter": filter, "after": selected["edges"][1]["cursor"]})["conversations"]
    assert [e["node"] for e in rest["edges"][:3]] == [e["node"] for e in selected["edges"][2:]]
