"""What a request may cost in vendor calls: the estimate checked before any call (COST_LIMIT), its
report in `extensions.cost`, and the runtime budget that stops a request's vendor calls at
`max_vendor_calls`. Vendor calls are counted where they arrive, at the three sandboxes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.cost import MUTATIONS, NO_VENDOR_CALLS, QUERIES
from gateway.limit_settings import Limits
from gateway.schema import schema
from gateway.settings import Settings
from sandboxes.clevertap import app as ct_sandbox
from sandboxes.infobip import app as ib_sandbox

from .helpers import SHORT_TIMEOUT, Gateway, socialboards_app as sandbox_app
from .helpers import PROVIDERS as SETTINGS
from .helpers import vendor_apps
from .test_gateway_vendors import INBOX, upstream

MESSAGES = "{ edges { node { text } } }"
THIRTY_ALIASES = "{ " + " ".join(
    f"a{i}: conversations(first: 100) {{ edges {{ node {{ id messages(first: 100) {MESSAGES} }} }} }}" for i in range(30)
) + " }"


@pytest.fixture
def apps() -> dict[str, Starlette]:
    return vendor_apps(24)


@contextlib.asynccontextmanager
async def limited(apps: dict[str, Starlette], **limits: Any) -> AsyncIterator[Gateway]:
    """The gateway over the three sandboxes with these `Limits`."""
    settings = Settings(providers=tuple(SETTINGS[name] for name in apps), upstream_timeout=SHORT_TIMEOUT,
                        graphiql=False, limits=Limits(**limits))
    app = create_app(settings, transports={name: httpx.ASGITransport(app=sandbox) for name, sandbox in apps.items()})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


@pytest.fixture
async def gateway(apps: dict[str, Starlette]) -> AsyncIterator[Gateway]:
    async with limited(apps) as running:
        yield running


async def ask(gateway: Gateway, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    response = await gateway.client.post("/graphql", json={"query": query, "variables": variables or {}, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def test_thirty_aliases_of_a_hundred_conversations_with_their_messages_are_refused_before_any_vendor_call(
    gateway: Gateway, apps: dict[str, Starlette]
) -> None:
    await upstream(apps)  # forget the seeding
    answer = await ask(gateway, THIRTY_ALIASES)
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT"
    assert error["extensions"]["maxCost"] == 1000 and error["extensions"]["cost"] > 6000
    assert re.search(rf"may make {error['extensions']['cost']} vendor calls, over the limit of 1000", error["message"])
    assert await upstream(apps) == {"sb": 0, "ib": 0, "ct": 0}


async def test_the_readme_inbox_fits_the_default_cost_and_reports_its_estimate_and_calls(
    gateway: Gateway, apps: dict[str, Starlette]
) -> None:
    await upstream(apps)
    answer = await ask(gateway, INBOX, extensions={"cost": True})
    assert "errors" not in answer and len(answer["data"]["conversations"]["edges"]) == 20
    made = sum((await upstream(apps)).values())
    cost = answer["extensions"]["cost"]
    assert cost["vendorCalls"] == made
    # 20 rows at Infobip's 3 reads, 4 listing calls, a Socialboards token: the README's bound of 72
    assert made <= cost["estimated"] <= 72 and (cost["limit"], cost["vendorCallLimit"]) == (1000, 1000)


async def test_the_cost_report_is_given_only_when_asked_by_extension_or_header(gateway: Gateway) -> None:
    query = "{ providers { name } }"
    assert "cost" not in (await ask(gateway, query)).get("extensions", {})
    assert (await ask(gateway, query, extensions={"cost": True}))["extensions"]["cost"]["estimated"] == 0
    by_header = await gateway.client.post("/graphql", json={"query": query}, headers={"X-Parley-Cost": "1"})
    assert by_header.json()["extensions"]["cost"] == {"estimated": 0, "limit": 1000, "vendorCalls": 0, "vendorCallLimit": 1000}


ALIKE = [
    "{ conversations(first: 7) { edges { node { tags messages(first: 9) { edges { node { text } } } } } } }",
    "query($n: Int!, $m: Int!) { conversations(first: $n) { edges { node { tags messages(first: $m) { edges { node { text } } } } } } }",
    "query { ...Page } fragment Page on Query { conversations(first: 7) { edges { node { ...Row } } } } "
    "fragment Row on Conversation { tags ... on Conversation { messages(first: 9) { edges { node { text } } } } }",
    "query($skip: Boolean!) { conversations(first: 7) { edges { node { tags messages(first: 9) { edges { node { text } } } "
    "lastMessage @skip(if: $skip) { text } } } } }",
]


async def test_fragments_variables_and_skipped_fields_cost_what_the_same_query_written_out_costs(gateway: Gateway) -> None:
    estimates = []
    for query in ALIKE:
        answer = await ask(gateway, query, {"n": 7, "m": 9, "skip": True}, extensions={"cost": True})
        assert "errors" not in answer, answer["errors"]
        estimates.append(answer["extensions"]["cost"]["estimated"])
    assert len(set(estimates)) == 1, estimates
    two = "{ a: conversations(first: 7) { edges { node { tags } } } b: conversations(first: 7) { edges { node { tags } } } }"
    one = "{ conversations(first: 7) { edges { node { tags } } } }"
    costs = [(await ask(gateway, q, extensions={"cost": True}))["extensions"]["cost"]["estimated"] for q in (one, two)]
    assert costs[1] == 2 * costs[0] - 1  # two listings, one Socialboards sign-in


async def test_a_lower_max_cost_refuses_what_the_default_admits(apps: dict[str, Starlette]) -> None:
    async with limited(apps, max_cost=10) as gateway:
        await upstream(apps)
        answer = await ask(gateway, INBOX)
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["COST_LIMIT"]
        assert await upstream(apps) == {"sb": 0, "ib": 0, "ct": 0}
        assert "errors" not in await ask(gateway, "{ conversations(first: 2) { edges { node { id } } } }")


async def estimate_and_calls(gateway: Gateway, apps: dict[str, Starlette], query: str, variables: dict[str, Any]) -> tuple[int, int]:
    await upstream(apps)
    answer = await ask(gateway, query, variables, extensions={"cost": True})
    assert not any(e["extensions"]["code"] in ("COST_LIMIT", "VENDOR_CALL_LIMIT") for e in answer.get("errors", []))
    return answer["extensions"]["cost"]["estimated"], sum((await upstream(apps)).values())


SHAPES = [
    ("{ conversations(first: 100) { edges { node { id status topic } } } }", {}),
    ("{ conversations(first: 10) { edges { node { id messages(first: 5) { edges { node { text conversation { topic } } } } } } } }", {}),
    ('{ conversations(first: 10, filter: {search: "a"}) { edges { node { id customer { name } } } } }', {}),
    ('{ conversations(first: 10, filter: {tags: ["vip"]}) { edges { node { tags } } } }', {}),
    ("{ providers { name healthy } }", {}),
]
BY_ID = [
    "topic status", "topic tags customer { name } lastMessage { text } messageCount",
    "id messages(first: 50) { edges { node { text } } }", "id",
]
WRITE = """mutation($id: ID!, $messages: [MessageInput!]!) { addMessages(conversationId: $id, messages: $messages) {
  __typename ... on AddMessagesPayload { messages { text conversation { topic } } } } }"""
CLOSE = "mutation($id: ID!) { closeConversation(id: $id) { __typename ... on ConversationPayload { conversation { lastMessage { text } } } } }"


async def test_no_query_or_mutation_makes_more_vendor_calls_than_estimated(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    """The estimate is an upper bound of the calls made, for each vendor's declared costs."""
    checked = []
    for query, variables in SHAPES:
        checked.append((query, *await estimate_and_calls(gateway, apps, query, variables)))
    page = await ask(gateway, "{ conversations(first: 100) { edges { node { id provider status } } } }")
    open_by_provider = {e["node"]["provider"]: e["node"]["id"] for e in page["data"]["conversations"]["edges"]
                        if e["node"]["status"] not in ("CLOSED", "SOLVED")}
    assert set(open_by_provider) == {"sb", "ib", "ct"}
    for provider, gid in open_by_provider.items():
        for selection in BY_ID:
            query = f"query($id: ID!) {{ conversation(id: $id) {{ {selection} }} }}"
            checked.append((query, *await estimate_and_calls(gateway, apps, query, {"id": gid})))
        author = {"name": "Agent", "email": "agent@example.com"}
        messages = [{"text": "one", "role": "AGENT", "author": author}, {"text": "two", "author": author}]
        checked.append((provider + " addMessages", *await estimate_and_calls(gateway, apps, WRITE, {"id": gid, "messages": messages})))
        checked.append((provider + " close", *await estimate_and_calls(gateway, apps, CLOSE, {"id": gid})))
    over = [(query, estimated, made) for query, estimated, made in checked if made > estimated]
    assert not over, over
    assert sum(made for _, _, made in checked) > 100  # the shapes did call the vendors


def test_every_root_field_is_costed() -> None:
    """A new query or mutation must say what it costs (gateway/cost.py), or it would pass for free."""
    queries, mutations = schema._schema.query_type.fields, schema._schema.mutation_type.fields  # type: ignore[union-attr]
    assert set(queries) == set(QUERIES) | (NO_VENDOR_CALLS & set(queries))
    assert set(mutations) == set(MUTATIONS) | (NO_VENDOR_CALLS & set(mutations))


async def test_the_runtime_budget_stops_vendor_calls_and_returns_what_was_read_with_one_error(apps: dict[str, Starlette]) -> None:
    async with limited(apps, max_vendor_calls=8) as gateway:
        await upstream(apps)
        answer = await ask(gateway, INBOX, extensions={"cost": True})
        made = await upstream(apps)
    assert sum(made.values()) == 8, made
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "VENDOR_CALL_LIMIT", "limit": 8, "requestId": error["extensions"]["requestId"]}
    assert "limit of 8 vendor calls (server.max_vendor_calls)" in error["message"]
    assert answer["data"]["conversations"]["edges"], "what was read before the budget ran out is returned"
    assert answer["extensions"]["cost"]["vendorCalls"] == 8 and answer["extensions"]["cost"]["estimated"] > 8


def test_over_a_websocket_a_query_over_the_cost_is_refused_as_an_operation_error() -> None:
    app = create_app(Settings(demo_conversations=2, graphiql=False, limits=Limits(max_cost=5)))
    with TestClient(app) as client, client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": INBOX}})
        frame = ws.receive_json()
        assert frame["type"] == "error" and [e["extensions"]["code"] for e in frame["payload"]] == ["COST_LIMIT"]
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": "{ providers { name } }"}})
        assert ws.receive_json()["type"] == "next"


async def test_a_kept_estimate_is_the_one_worked_out_again_for_every_document_variables_and_providers(
    apps: dict[str, Starlette]
) -> None:
    """Estimates are kept per schema, document, providers and variables (gateway.memo); each answer's
    `extensions.cost.estimated`, asked again and again, is what `gateway.cost.estimate` works out afresh."""
    from graphql import parse

    from gateway.cost import estimate

    queries = [(q, v) for q, v in SHAPES] + [(ALIKE[1], {"n": n, "m": m}) for n in (1, 7) for m in (2, 9)]
    seen: dict[tuple[str, str], set[int]] = {}
    async with limited(apps) as everyone, limited({"sb": apps["sb"]}) as one:
        for gateway in (everyone, one, everyone, one):
            providers = list(gateway.app.state.runtime.providers.values())
            for query, variables in queries:
                answer = await ask(gateway, query, variables, extensions={"cost": True})
                fresh = estimate(schema._schema, parse(query), None, variables, providers)
                assert answer["extensions"]["cost"]["estimated"] == fresh, (query, variables)
                seen.setdefault((query, str(variables)), set()).add(fresh)
    assert any(len(estimates) > 1 for estimates in seen.values())  # the providers in scope did change estimates
