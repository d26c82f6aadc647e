"""`GatewayApp` (gateway/dispatch.py): a POST to /graphql, taken from the outermost layer to the view,
is answered exactly as Starlette's own way answers it — status, headers, body, the access line, the
scope the view sees — for every kind of such request, including one that fails unexpectedly; and it is
the way such requests take, while every other request takes Starlette's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.client_settings import ClientSettings
from gateway.dispatch import GatewayApp
from gateway.limit_settings import Limits
from gateway.settings import Settings
from gateway.view import GatewayGraphQL

from .helpers import gateway_settings

PAGE = "https://app.example.test"
KEY = "dispatch-test-key"
JSON = {"content-type": "application/json"}
QUERY = b'{"query": "{ providers { name vendor } }"}'
SETTINGS = {
    "open": gateway_settings(),
    "locked": Settings(
        providers=gateway_settings().providers, graphiql=False, cors_origins=(PAGE,),
        clients=(ClientSettings(name="app", scopes=frozenset({"read"}), api_key=KEY),),
        limits=Limits(max_body_bytes=4096),
    ),
}
REQUESTS: list[tuple[str, dict[str, str], bytes]] = [
    ("query", JSON, QUERY),
    ("query with a key", {**JSON, "authorization": f"Bearer {KEY}"}, QUERY),
    ("wrong key", {**JSON, "authorization": "Bearer nope"}, QUERY),
    ("validation error", {**JSON, "authorization": f"Bearer {KEY}"}, b'{"query": "{ nope }"}'),
    ("not json", {**JSON, "authorization": f"Bearer {KEY}"}, b"{nope"),
    ("text body", {"content-type": "text/plain", "authorization": f"Bearer {KEY}"}, QUERY),
    ("no content type", {"authorization": f"Bearer {KEY}"}, QUERY),
    ("subscription", {**JSON, "authorization": f"Bearer {KEY}"}, b'{"query": "subscription { messageAdded { id } }"}'),
    ("event stream", {**JSON, "accept": "text/event-stream", "authorization": f"Bearer {KEY}"},
     b'{"query": "{ providers { name } }"}'),
    ("body over the limit", {**JSON, "authorization": f"Bearer {KEY}"}, b'{"query": "{ providers { name } }", "x": "%s"}' % (b"y" * 5000)),
    ("allowed origin", {**JSON, "origin": PAGE, "authorization": f"Bearer {KEY}"}, QUERY),
    ("other origin", {**JSON, "origin": "https://evil.example.test", "authorization": f"Bearer {KEY}"}, QUERY),
    ("no request id", {**JSON, "x-request-id": ""}, QUERY),
]
SCOPE_KEYS = ("app", "router", "route", "endpoint", "path_params", "starlette.exception_handlers", "path", "root_path")


@pytest.fixture(params=list(SETTINGS))
async def apps(request: pytest.FixtureRequest) -> AsyncIterator[tuple[GatewayApp, GatewayApp]]:
    direct, general = create_app(SETTINGS[request.param]), create_app(SETTINGS[request.param])
    assert isinstance(direct, GatewayApp) and isinstance(general, GatewayApp)
    general.graphql_first = False  # before its first request, which builds the stack
    async with direct.router.lifespan_context(direct), general.router.lifespan_context(general):
        yield direct, general


async def answer(app: GatewayApp, method: str, path: str, headers: dict[str, str], body: bytes = b"", **kw: Any) -> tuple[Any, ...]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=kw.pop("raise_app_exceptions", False), **kw)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        headers = {"x-request-id": "dispatch-tests", **headers}
        if not headers["x-request-id"]:
            del headers["x-request-id"]
        response = await client.request(method, path, headers=headers, content=body)
    given = response.headers.get("x-request-id", "")
    kept = [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]
    made = len(given) == 32 and given != "dispatch-tests"  # an id the gateway made: in the body of errors too
    body = response.content.replace(given.encode(), b"<made id>") if made else response.content
    return response.status_code, kept, body, given == "dispatch-tests" or made


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    # the duration is the only part that differs between two runs of one request
    return [r.getMessage().split(" ms |", 1)[1] for r in caplog.records if r.name == "parley.access"]


@pytest.mark.parametrize(("headers", "body"), [(h, b) for _, h, b in REQUESTS], ids=[name for name, _, _ in REQUESTS])
async def test_a_post_to_graphql_is_answered_as_starlettes_way_answers_it(
    apps: tuple[GatewayApp, GatewayApp], headers: dict[str, str], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    direct, general = apps
    caplog.set_level(logging.INFO, logger="parley.access")
    ours = await answer(direct, "POST", "/graphql", headers, body)
    ours_logged = access_lines(caplog)
    caplog.clear()
    assert ours == await answer(general, "POST", "/graphql", headers, body)
    assert ours_logged == access_lines(caplog) and len(ours_logged) == 1


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [("GET", "/graphql?query=%7Bproviders%7Bname%7D%7D", {}), ("HEAD", "/graphql", {}), ("PUT", "/graphql", JSON),
     ("DELETE", "/graphql", {}), ("POST", "/graphql/", JSON), ("POST", "/health", JSON), ("GET", "/nowhere", {}),
     ("OPTIONS", "/graphql", {"origin": PAGE, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})],
    ids=["get", "head", "put-405", "delete-405", "trailing-slash", "post-elsewhere", "404", "preflight"],
)
async def test_other_requests_are_answered_as_before(apps: tuple[GatewayApp, GatewayApp], method: str, path: str, headers: dict[str, str]) -> None:
    direct, general = apps
    assert await answer(direct, method, path, headers, QUERY) == await answer(general, method, path, headers, QUERY)


async def test_an_unexpected_failure_is_the_same_500_with_the_same_access_line_and_the_error_raised(
    apps: tuple[GatewayApp, GatewayApp], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    direct, general = apps

    async def broken(self: GatewayGraphQL, request: Any) -> Any:
        raise RuntimeError("a bug in the view")

    monkeypatch.setattr(GatewayGraphQL, "_execute_json_post", broken)
    caplog.set_level(logging.INFO, logger="parley.access")
    headers = {**JSON, "authorization": f"Bearer {KEY}"}
    ours = await answer(direct, "POST", "/graphql", headers, QUERY)
    assert ours[0] == 500 and ours[2] == b"Internal Server Error"
    assert ours == await answer(general, "POST", "/graphql", headers, QUERY)
    lines = access_lines(caplog)
    assert len(lines) == 2 and lines[0] == lines[1] and " 500 " in caplog.records[0].getMessage()
    for app in (direct, general):  # the error still reaches the server, which logs it
        with pytest.raises(RuntimeError, match="a bug in the view"):
            await answer(app, "POST", "/graphql", headers, QUERY, raise_app_exceptions=True)


@pytest.mark.parametrize("root_path", ["", "/api"])
async def test_the_view_sees_the_scope_starlettes_router_gives_it(
    apps: tuple[GatewayApp, GatewayApp], monkeypatch: pytest.MonkeyPatch, root_path: str
) -> None:
    seen: list[dict[str, Any]] = []
    original = GatewayGraphQL.__call__

    async def recording(self: GatewayGraphQL, scope: Scope, receive: Receive, send: Send) -> None:
        seen.append({key: scope.get(key) for key in SCOPE_KEYS})
        await original(self, scope, receive, send)

    monkeypatch.setattr(GatewayGraphQL, "__call__", recording)
    answers = [await answer(app, "POST", f"{root_path}/graphql", JSON, QUERY, root_path=root_path) for app in apps]
    assert answers[0] == answers[1] and len(seen) == 2
    direct, general = seen
    assert direct["app"] is apps[0] and general["app"] is apps[1]
    assert direct["route"].path == general["route"].path == "/graphql"
    assert [{kind: handler.__func__ for kind, handler in handlers.items()} for handlers in direct["starlette.exception_handlers"]] \
        == [{kind: handler.__func__ for kind, handler in handlers.items()} for handlers in general["starlette.exception_handlers"]]
    assert next(iter(direct["starlette.exception_handlers"][0].values())).__self__ is _exception_middleware(apps[0])
    for key in ("path_params", "path", "root_path"):
        assert direct[key] == general[key]
    assert type(direct["router"]) is type(general["router"]) is Router


async def test_only_a_post_to_graphql_skips_the_router_and_exception_middleware(
    apps: tuple[GatewayApp, GatewayApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    passed: list[str] = []
    route_handle, exceptions_call = Route.handle, ExceptionMiddleware.__call__

    async def routed(self: Route, scope: Scope, receive: Receive, send: Send) -> None:
        passed.append("router")
        await route_handle(self, scope, receive, send)

    async def excepted(self: ExceptionMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        passed.append("exceptions")
        await exceptions_call(self, scope, receive, send)

    monkeypatch.setattr(Route, "handle", routed)
    monkeypatch.setattr(ExceptionMiddleware, "__call__", excepted)
    direct, general = apps
    assert (await answer(direct, "POST", "/graphql", JSON, QUERY))[0] in (200, 401)
    assert passed == []
    await answer(general, "POST", "/graphql", JSON, QUERY)
    assert passed == ["exceptions", "router"]
    passed.clear()
    await answer(direct, "GET", "/health", {})
    assert passed == ["exceptions", "router"]


def _exception_middleware(app: GatewayApp) -> ExceptionMiddleware:
    layer: Any = app.middleware_stack
    while not isinstance(layer, ExceptionMiddleware):
        layer = layer.app
    return layer
