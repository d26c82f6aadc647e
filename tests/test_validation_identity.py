"""The validation cache asked by the document object first (gateway/lockdown.py `SameDocumentValidator`):
the same errors as the cache keyed by the document's structure for every kind of document, without
hashing a document seen before; over HTTP, a repeated query is answered without hashing its document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import DocumentNode, parse
from starlette.applications import Starlette
from strawberry.extensions.validation_cache import _get_validate_cache

from gateway.app import create_app
from gateway.lockdown import NO_INTROSPECTION_RULES, quiet_validator, same_document_validator
from gateway.schema import GUARD_RULES, schema

from .helpers import gateway_settings

DOCUMENTS = [
    "{ providers { name vendor } }",
    "query($first: Int!) { conversations(first: $first) { edges { cursor node { id topic } } } }",
    "{ nope }",
    "{ providers { name } } { providers { vendor } }",
    "query A { providers { ...F } } fragment F on Provider { name } fragment G on Provider { vendor }",
    "{ conversations(first: \"x\") { edges { node { id } } } }",
    "{ __schema { queryType { name } } }",
]
RULE_SETS = [tuple(GUARD_RULES), (*GUARD_RULES, *NO_INTROSPECTION_RULES)]


def messages(errors: list[Any]) -> list[tuple[str, Any]]:
    return [(e.message, e.locations) for e in errors]


@pytest.mark.parametrize("rules", RULE_SETS, ids=["open", "no-introspection"])
@pytest.mark.parametrize("source", DOCUMENTS)
@pytest.mark.parametrize("quiet", [False, True], ids=["strawberry", "quiet"])
def test_the_same_errors_as_the_structural_cache(source: str, rules: tuple[Any, ...], quiet: bool) -> None:
    structural = quiet_validator(64) if quiet else _get_validate_cache(64)
    by_object = same_document_validator(structural, 64)
    document, twin = parse(source), parse(source)
    expected = messages(structural(schema._schema, parse(source), rules))
    assert messages(by_object(schema._schema, document, rules)) == expected
    assert messages(by_object(schema._schema, twin, rules)) == expected  # equal, not the same object
    assert messages(by_object(schema._schema, document, rules)) == expected


def test_a_document_seen_before_is_not_hashed_and_another_reaches_the_structural_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[DocumentNode] = []

    def structural(schema_: Any, document: DocumentNode, rules: Any) -> list[Any]:
        calls.append(document)
        return []

    by_object = same_document_validator(structural, 8)
    document = parse("{ providers { name } }")
    by_object(schema._schema, document, tuple(GUARD_RULES))
    monkeypatch.setattr(DocumentNode, "__hash__", lambda self: pytest.fail("a repeated document was hashed"))
    for _ in range(3):
        assert by_object(schema._schema, document, tuple(GUARD_RULES)) == []
    assert calls == [document]
    other = parse("{ providers { name } }")
    by_object(schema._schema, other, tuple(GUARD_RULES))
    assert len(calls) == 2 and calls[1] is other
    by_object(schema._schema, document, tuple(NO_INTROSPECTION_RULES))  # other rules: asked again
    assert len(calls) == 3


@pytest.fixture
async def app() -> AsyncIterator[Starlette]:
    application = create_app(gateway_settings())
    async with application.router.lifespan_context(application):
        yield application


async def test_a_repeated_query_over_http_is_answered_without_hashing_its_document(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test",
                                 headers={"X-Request-Id": "validation-tests"}) as client:
        body = {"query": "query Repeated { providers { name } }"}
        first = await client.post("/graphql", json=body)
        monkeypatch.setattr(DocumentNode, "__hash__", lambda self: pytest.fail("a repeated document was hashed"))
        again = await client.post("/graphql", json=body)
        invalid = {"query": "query RepeatedBad { nope }"}
        monkeypatch.undo()
        bad = await client.post("/graphql", json=invalid)
        monkeypatch.setattr(DocumentNode, "__hash__", lambda self: pytest.fail("a repeated document was hashed"))
        bad_again = await client.post("/graphql", json=invalid)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert bad.content == bad_again.content and b"Cannot query field 'nope'" in bad.content
