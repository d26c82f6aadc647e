"""`conversations` reads what its query selects (model fields under edges.node, whether any edge's
cursor is read) once per parsed document (gateway/selection.py, `cached_list_selection`), not through
strawberry's `selected_fields` on every request: the same reads and the same answers as the general
path, however the fields are written, and no conversion at all on a repeated document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import gateway.queries
from gateway import selection
from gateway.identity import Memo
from gateway.app import create_app
from gateway.settings import Settings

ONE = {"filter": {"providers": ["infobip"]}}  # Infobip's cursors are the same on every listing
DOCUMENTS = {
    "plain": "query($filter: ConversationFilter) { conversations(first: 3, filter: $filter) { edges { node { id topic createdAt } } } }",
    "cursor": "query($filter: ConversationFilter) { conversations(first: 3, filter: $filter) { edges { cursor node { id status } } } }",
    "fragments": """query($filter: ConversationFilter) { conversations(first: 3, filter: $filter) { ...Page } }
fragment Page on ConversationConnection { edges { ... on ConversationEdge { at: cursor } node { ...Row } } pageInfo { endCursor } }
fragment Row on Conversation { remoteId updatedAt priority __typename }""",
    "merged": """query($filter: ConversationFilter) { conversations(first: 3, filter: $filter) { edges { node { id } } }
  conversations(first: 3, filter: $filter) { edges { cursor node { channel } } } }""",
    "no edges": "query($filter: ConversationFilter) { conversations(first: 3, filter: $filter) { pageInfo { hasNextPage endCursor } } }",
    "messages only": """query($filter: ConversationFilter, $n: Int!) { conversations(first: 3, filter: $filter) {
  edges { node { messages(first: $n) { edges { node { text } } } } } } }""",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(demo_conversations=6, graphiql=False))) as test_client:
        yield test_client


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, bool]]:
    """What each `conversations` asks `list_inbox` for: (fields, edge_cursors)."""
    seen: list[tuple[Any, bool]] = []
    listing = gateway.queries.list_inbox

    async def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append((kwargs["fields"], kwargs["edge_cursors"]))
        return await listing(*args, **kwargs)

    monkeypatch.setattr(gateway.queries, "list_inbox", recording)
    return seen


def answer(client: TestClient, document: str) -> bytes:
    response = client.post("/graphql", json={"query": document, "variables": {**ONE, "n": 2}})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return response.content


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_cached_selection_reads_and_answers_as_the_general_path(
    client: TestClient, reads: list[tuple[Any, bool]], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    document = DOCUMENTS[name]
    cached = [answer(client, document), answer(client, document)]  # the second from the cache
    cached_reads = list(reads)
    reads.clear()
    monkeypatch.setattr(gateway.queries, "cached_list_selection", lambda nodes, convert: selection.list_selection(convert()))
    general = [answer(client, document), answer(client, document)]
    assert cached_reads == reads and len(reads) == 2  # one resolver call a request, merged fields too
    assert cached == general  # byte for byte


def test_a_repeated_document_converts_no_selection(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    document = DOCUMENTS["fragments"] + " "  # a text of its own, so its first request is a miss
    conversions: list[object] = []
    general = gateway.queries._selections
    monkeypatch.setattr(gateway.queries, "_selections", lambda info: conversions.append(info) or general(info))
    first, again = answer(client, document), answer(client, document)
    assert len(conversions) == 1 and first == again


def test_documents_alike_but_for_a_fragment_read_what_each_selects(client: TestClient, reads: list[tuple[Any, bool]]) -> None:
    shared = "query($filter: ConversationFilter) { conversations(first: 2, filter: $filter) { edges { ...E } } }\n"
    with_cursor = json.loads(answer(client, shared + "fragment E on ConversationEdge { cursor node { id } }"))
    without = json.loads(answer(client, shared + "fragment E on ConversationEdge { node { topic } }"))
    assert reads == [(frozenset({"remote_id"}), True), (frozenset({"topic"}), False)]
    assert all(edge["cursor"] for edge in with_cursor["data"]["conversations"]["edges"])
    assert "cursor" not in without["data"]["conversations"]["edges"][0]


def test_the_cache_is_bounded_and_checks_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "_list_selections", Memo(2))
    nodes = [object(), object(), object()]
    for i, node in enumerate(nodes):
        assert selection.cached_list_selection([node], lambda: []) == (frozenset(), False)
    assert [ids for ids, _ in selection._list_selections._entries] == [(id(nodes[1]),), (id(nodes[2]),)]
    # a different object behind a cached id (as if reused) is converted, not answered from the cache
    key = ((id(nodes[2]),), None)
    selection._list_selections._entries[key] = ((object(),), (frozenset({"stale"}), True))
    assert selection.cached_list_selection([nodes[2]], lambda: []) == (frozenset(), False)
