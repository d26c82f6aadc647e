"""The gateway's own path for a POST of one JSON operation answers byte for byte what strawberry's view
answers for the same request (status, content type, body), including every way the request can be
wrong; and it is the path such requests take."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from strawberry.asgi import GraphQL

import gateway.view
from gateway.app import create_app
from gateway.view import GatewayGraphQL

from .helpers import gateway_settings

QUERY = "{ providers { name vendor } }"
REQUESTS: list[tuple[str, dict[str, str], bytes]] = [
    ("plain query", {"content-type": "application/json"}, b'{"query": "{ providers { name vendor } }"}'),
    ("with charset", {"content-type": "application/json; charset=utf-8"}, b'{"query": "{ providers { name } }", "variables": null}'),
    ("variables", {"content-type": "application/json"},
     b'{"query": "query($id: ID!) { conversation(id: $id) { id } }", "variables": {"id": "bm9wZQ=="}}'),
    ("operation name", {"content-type": "application/json"},
     b'{"query": "query A { providers { name } } query B { providers { vendor } }", "operationName": "B"}'),
    ("unknown operation name", {"content-type": "application/json"},
     b'{"query": "query A { providers { name } }", "operationName": "C"}'),
    ("two operations, no name", {"content-type": "application/json"},
     b'{"query": "query A { providers { name } } query B { providers { vendor } }"}'),
    ("validation error", {"content-type": "application/json"}, b'{"query": "{ nope }"}'),
    ("syntax error", {"content-type": "application/json"}, b'{"query": "{ providers { "}'),
    ("mutation with a typed error", {"content-type": "application/json"},
     b'{"query": "mutation { closeConversation(id: \\"bm9wZQ==\\") { __typename } }"}'),
    ("not json", {"content-type": "application/json"}, b"{nope"),
    ("batch", {"content-type": "application/json"}, b'[{"query": "{ providers { name } }"}]'),
    ("no query", {"content-type": "application/json"}, b'{"variables": {}}'),
    ("empty query", {"content-type": "application/json"}, b'{"query": ""}'),
    ("query not a string", {"content-type": "application/json"}, b'{"query": 7}'),
    ("variables not an object", {"content-type": "application/json"}, b'{"query": "{ providers { name } }", "variables": [1]}'),
    ("extensions not an object", {"content-type": "application/json"}, b'{"query": "{ providers { name } }", "extensions": 1}'),
    ("unknown key", {"content-type": "application/json"}, b'{"query": "{ providers { name } }", "extra": 1}'),
    ("subscription", {"content-type": "application/json"}, b'{"query": "subscription { messageAdded { id } }"}'),
    ("json array body", {"content-type": "application/json"}, b"[]"),
    ("text body", {"content-type": "text/plain"}, b'{"query": "{ providers { name } }"}'),
    ("persisted query, unknown hash", {"content-type": "application/json"},
     b'{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "%s"}}}' % (b"0" * 64)),
    ("persisted query, hash not the query's", {"content-type": "application/json"},
     b'{"query": "{ providers { name } }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "%s"}}}' % (b"0" * 64)),
    ("persisted query, bad version", {"content-type": "application/json"},
     b'{"extensions": {"persistedQuery": {"version": 3, "sha256Hash": "%s"}}}' % (b"0" * 64)),
]


@pytest.fixture
async def app() -> AsyncIterator[Starlette]:
    application = create_app(gateway_settings())
    async with application.router.lifespan_context(application):
        yield application


async def answer(app: Starlette, headers: dict[str, str], body: bytes) -> tuple[int, str | None, bytes]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        # the same request id on both paths: errors carry it
        response = await client.post("/graphql", headers={**headers, "X-Request-Id": "view-tests"}, content=body)
    return response.status_code, response.headers.get("content-type"), response.content


@pytest.mark.parametrize(("headers", "body"), [(h, b) for _, h, b in REQUESTS], ids=[name for name, _, _ in REQUESTS])
async def test_a_post_is_answered_as_strawberrys_view_answers_it(
    app: Starlette, headers: dict[str, str], body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = await answer(app, headers, body)
    monkeypatch.setattr(gateway.view, "_json_post", lambda scope: False)  # every request through the view
    monkeypatch.setattr(GatewayGraphQL, "create_response", GraphQL.create_response)  # and strawberry's response
    assert ours == await answer(app, headers, body)


async def test_a_json_post_does_not_go_through_the_views_request_parsing(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    view = type(next(r for r in app.routes if getattr(r, "path", None) == "/graphql").endpoint)  # type: ignore[attr-defined]
    original = view.parse_http_body

    async def counting(self: Any, request: Any) -> Any:
        calls.append(request)
        return await original(self, request)

    monkeypatch.setattr(view, "parse_http_body", counting)
    status, _, body = await answer(app, {"content-type": "application/json"}, b'{"query": "%s"}' % QUERY.encode())
    assert status == 200 and b'"vendor":"socialboards"' in body and calls == []
    await answer(app, {"content-type": "application/json"}, b"[]")
    assert len(calls) == 1  # anything else still goes to the view


@pytest.mark.parametrize(
    ("method", "headers", "kwargs"),
    [
        ("POST", {"content-type": "application/json"}, {"json": {"query": "subscription { messageAdded { cursor } }"}}),
        ("POST", {"content-type": "application/json", "accept": "application/json"},
         {"json": {"query": "subscription S { messageAdded { cursor } }", "operationName": "S"}}),
        ("GET", {"accept": "application/json"}, {"params": {"query": "subscription { messageAdded { cursor } }"}}),
    ],
    ids=["post-no-accept", "post-json-accept", "get"],
)
async def test_a_subscription_without_an_event_stream_accept_is_406_naming_what_to_send(
    app: Starlette, method: str, headers: dict[str, str], kwargs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        response = await client.request(method, "/graphql", headers=headers, **kwargs)
    assert response.status_code == 406
    assert "Accept: text/event-stream" in response.text and "WebSocket" in response.text
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]
