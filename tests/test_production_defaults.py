"""Production defaults: a configured gateway answers no introspection, suggests no names ("Did you
mean …?") and serves no GraphiQL page; the embedded default does all three; explicit settings win.
Checked over HTTP (the lean JSON POST path and strawberry's view) and WebSocket."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.testclient import TestClient
from strawberry.extensions import ValidationCache

from gateway.app import create_app
from gateway.lockdown import QuietValidationCache
from gateway.settings import Settings

from .helpers import Gateway, gateway_settings

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPE_INTROSPECTION = 'query($name: String!) { __type(name: $name) { fields { name } } }'
FILTERED = "query($f: ConversationFilter) { conversations(first: 1, filter: $f) { pageInfo { hasNextPage } } }"
# Mistakes each of which graphql-core answers with a suggestion of the real name; the name sent must
# still be in the error, so the client knows what it got wrong.
MISTAKES = [
    pytest.param("{ conversatons(first: 1) { pageInfo { hasNextPage } } }", None, "'conversatons'", id="field"),
    pytest.param("{ conversations(frist: 1) { pageInfo { hasNextPage } } }", None, "'frist'", id="argument"),
    pytest.param("{ conversations(first: 1, filter: {status: OPN}) { pageInfo { hasNextPage } } }", None, "'OPN'", id="enum-literal"),
    pytest.param("{ conversations(first: 1, filter: {stauts: OPEN}) { pageInfo { hasNextPage } } }", None, "'stauts'",
                 id="input-field-literal"),
    pytest.param("query($f: ConversationFiltr) { conversations(filter: $f) { pageInfo { hasNextPage } } }", None,
                 "'ConversationFiltr'", id="variable-type"),
    pytest.param(FILTERED, {"f": {"status": "OPN"}}, "'OPN'", id="enum-variable"),
    pytest.param(FILTERED, {"f": {"stauts": "OPEN"}}, "'stauts'", id="input-field-variable"),
    pytest.param('{ node(id: "x") { ... on Conversatin { id } } }', None, "'Conversatin'", id="fragment-type"),
]
MISTAKE_VALUES = [p.values for p in MISTAKES]


@contextlib.asynccontextmanager
async def running(settings: Settings, sb_app: Starlette) -> AsyncIterator[Gateway]:
    app = create_app(settings, transports={"sb": httpx.ASGITransport(app=sb_app)} if not settings.embedded else None)
    async with app.router.lifespan_context(app):
        # one request id for every request: errors carry it, and answers are compared whole
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test",
                                     headers={"X-Request-Id": "defaults-tests"}) as client:
            yield Gateway(app, client)


def configured(**overrides: Any) -> Settings:
    """A configured gateway as `parley.toml` would give it: graphiql and introspection left unset."""
    return replace(gateway_settings(), **{"graphiql": None, "introspection": None, **overrides})


def embedded(**overrides: Any) -> Settings:
    return Settings(demo_conversations=2, **overrides)


async def messages(gateway: Gateway, query: str, variables: dict[str, Any] | None = None) -> list[str]:
    return [error["message"] for error in (await gateway.execute(query, variables)).get("errors", [])]


async def exposure(gateway: Gateway) -> tuple[bool, bool, bool]:
    """(introspection answered, a name suggested, GraphiQL served)."""
    schema = await gateway.execute(INTROSPECTION)
    answered = schema.get("data") == {"__schema": {"queryType": {"name": "Query"}}}
    suggested = any("Did you mean 'conversations'" in m for m in await messages(gateway, "{ conversatons { pageInfo { hasNextPage } } }"))
    page = await gateway.client.get("/graphql", headers={"accept": "text/html"})
    served = page.status_code == 200 and "graphiql" in page.text.lower()
    return answered, suggested, served


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(configured(), (False, False, False), id="configured"),
        pytest.param(embedded(), (True, True, True), id="embedded"),
        pytest.param(configured(graphiql=True, introspection=True), (True, True, True), id="configured-opened"),
        pytest.param(embedded(graphiql=False, introspection=False), (False, False, False), id="embedded-closed"),
        pytest.param(configured(introspection=True), (True, True, False), id="introspection-alone"),
        pytest.param(embedded(introspection=False), (False, False, True), id="graphiql-alone"),
    ],
)
async def test_introspection_suggestions_and_graphiql_follow_the_settings(
    settings: Settings, expected: tuple[bool, bool, bool], sb_app: Starlette
) -> None:
    async with running(settings, sb_app) as gateway:
        assert await exposure(gateway) == expected


async def test_a_configured_gateway_refuses_introspection_with_a_validation_error(sb_app: Starlette) -> None:
    async with running(configured(), sb_app) as gateway:
        schema = await gateway.execute(INTROSPECTION)
        by_name = await gateway.execute(TYPE_INTROSPECTION, {"name": "Conversation"})
        over_get = (await gateway.client.get("/graphql", params={"query": INTROSPECTION}, headers={"accept": "application/json"})).json()
        typename = await gateway.data("{ __typename }")
    assert schema["data"] is None and by_name["data"] is None and over_get["data"] is None
    assert schema["errors"][0]["message"] == (
        "GraphQL introspection has been disabled, but the requested query contained the field '__schema'.")
    assert by_name["errors"][0]["message"] == (
        "GraphQL introspection has been disabled, but the requested query contained the field '__type'.")
    assert over_get["errors"] == schema["errors"]
    assert typename == {"__typename": "Query"}  # not introspection: unions and results need it


@pytest.mark.parametrize(("query", "variables", "sent"), MISTAKES)
async def test_a_configured_gateway_names_the_mistake_but_suggests_nothing(
    query: str, variables: dict[str, Any] | None, sent: str, sb_app: Starlette
) -> None:
    async with running(configured(), sb_app) as gateway:
        posted = await messages(gateway, query, variables)
        params = {"query": query, **({"variables": json.dumps(variables)} if variables else {})}
        fetched = (await gateway.client.get("/graphql", params=params, headers={"accept": "application/json"})).json()
    assert posted and sent in posted[0]
    assert not [m for m in posted if "Did you mean" in m], posted
    assert [e["message"] for e in fetched["errors"]] == posted  # strawberry's view answers as the lean path


async def test_the_locked_schema_reports_the_same_errors_at_the_same_places_only_without_suggestions(sb_app: Starlette) -> None:
    async with running(embedded(), sb_app) as opened, running(embedded(introspection=False), sb_app) as locked:
        for query, variables, _ in MISTAKE_VALUES:
            suggesting = (await opened.execute(query, variables))["errors"]
            quiet = (await locked.execute(query, variables))["errors"]
            assert any("Did you mean" in e["message"] for e in suggesting), suggesting
            assert [e.get("locations") for e in quiet] == [e.get("locations") for e in suggesting]
            assert not any("Did you mean" in e["message"] for e in quiet)


def test_subscriptions_on_a_configured_gateway_suggest_nothing_either(sb_app: Starlette) -> None:
    app = create_app(configured(), transports={"sb": httpx.ASGITransport(app=sb_app)})
    mistakes = [
        ("subscription { conversationChangd { cursor } }", {}, "'conversationChangd'"),
        ("subscription($f: ConversationFilter) { conversationChanged(filter: $f) { cursor } }", {"f": {"status": "OPN"}}, "'OPN'"),
    ]
    with TestClient(app) as client, client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        for number, (query, variables, sent) in enumerate(mistakes):
            ws.send_json({"id": str(number), "type": "subscribe", "payload": {"query": query, "variables": variables}})
            frame = ws.receive_json()
            errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
            assert sent in errors[0]["message"] and "Did you mean" not in json.dumps(errors), frame


async def test_the_open_schema_keeps_hitting_the_validation_cache(sb_app: Starlette) -> None:
    from strawberry.extensions.validation_cache import _get_validate_cache

    from gateway.lockdown import same_document_validator
    from gateway.schema import CACHE_SIZE

    cache = same_document_validator(_get_validate_cache(CACHE_SIZE), CACHE_SIZE).by_object  # asked first, by document object
    async with running(embedded(), sb_app) as gateway:
        query = "query OpenCacheProbe { providers { name } }"
        await gateway.data(query)
        before = cache.cache_info().hits
        for _ in range(3):
            await gateway.data(query)
    assert cache.cache_info().hits - before == 3



@strawberry.input
class Patch:
    topic: strawberry.Maybe[str]


@strawberry.type
class PatchQuery:
    @strawberry.field
    def patch(self, patch: Patch) -> str:
        return "patched"


def test_quiet_validation_runs_the_rules_strawberry_adds_to_every_validation() -> None:
    """The locked schema validates through its own cache; it must not lose strawberry's own rules (here
    the one for `Maybe` inputs, which Parley's schema may come to use)."""

    def errors(validation: Any) -> list[str]:
        schema = strawberry.Schema(query=PatchQuery, extensions=[validation])
        result = schema.execute_sync("{ patch(patch: {topic: null}) }")
        return [e.message for e in result.errors or []]

    refused = errors(lambda: QuietValidationCache(16))
    assert refused == errors(lambda: ValidationCache(maxsize=16))
    assert refused and "Field 'topic' of type 'Maybe[str]' cannot be explicitly set to null" in refused[0]
