"""Browsers on other origins: CORS on /graphql and the WebSocket Origin allow-list, both from
`server.cors_origins`. (tests/test_browser.py does the same from a real Chromium.)"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from gateway.app import create_app
from gateway.cors import ALLOW_HEADERS
from gateway.settings import Settings, SettingsError, load_settings

from .helpers import gateway_settings

PAGE = "https://console.example.com"
OTHER = "https://elsewhere.example.net"
PROVIDERS = {"query": "{ providers { name } }"}
ASKED_HEADERS = "content-type, authorization, accept, x-request-id, x-graphql-event-stream-token, last-event-id"


@contextlib.asynccontextmanager
async def client_for(origins: tuple[str, ...], sb_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(providers=gateway_settings().providers, cors_origins=origins)
    app = create_app(settings, transports={"sb": httpx.ASGITransport(app=sb_app)})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield client


async def preflight(client: httpx.AsyncClient, origin: str, path: str = "/graphql", headers: str = ASKED_HEADERS) -> httpx.Response:
    return await client.options(path, headers={"origin": origin, "access-control-request-method": "POST",
                                         "access-control-request-headers": headers})


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_a_listed_origin_is_answered_its_preflight_and_may_send_credentials(sb_app: Starlette) -> None:
    async with client_for((PAGE,), sb_app) as client:
        answer = await preflight(client, PAGE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == PAGE
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert {m.strip() for m in answer.headers["access-control-allow-methods"].split(",")} == {"GET", "POST"}
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {h.lower() for h in ALLOW_HEADERS} <= allowed
    assert {"content-type", "authorization", "accept", "x-request-id"} <= allowed
    assert "Origin" in answer.headers["vary"]


def test_a_listed_origins_requests_and_streams_name_it_and_allow_credentials(sb_app: Starlette) -> None:
    subscribe = {"query": "subscription { messageAdded { cursor } }"}
    settings = Settings(providers=gateway_settings().providers, cors_origins=(PAGE,))
    with TestClient(create_app(settings, transports={"sb": httpx.ASGITransport(app=sb_app)})) as client:
        posted = client.post("/graphql", json=PROVIDERS, headers={"origin": PAGE})
        fetched = client.get("/graphql", params=PROVIDERS, headers={"origin": PAGE, "accept": "application/json"})
        with client.stream("POST", "/graphql", json=subscribe, headers={"origin": PAGE, "accept": "text/event-stream"}) as streamed:
            pass  # only the head matters; leaving closes the stream
    assert posted.json() == fetched.json() == {"data": {"providers": [{"name": "sb"}]}}
    for response in (posted, fetched, streamed):
        assert response.headers["access-control-allow-origin"] == PAGE
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        assert "Origin" in response.headers["vary"]
    assert streamed.headers["content-type"].startswith("text/event-stream")


async def test_an_origin_not_listed_gets_no_cors_headers_and_a_refused_preflight(sb_app: Starlette) -> None:
    async with client_for((PAGE,), sb_app) as client:
        refused = await preflight(client, OTHER)
        posted = await client.post("/graphql", json=PROVIDERS, headers={"origin": OTHER})
    assert refused.status_code == 400
    assert refused.text == f"CORS: origin {OTHER!r} is not in server.cors_origins"
    assert cors_headers(refused) == {}
    assert posted.status_code == 200 and cors_headers(posted) == {}  # answered, but the browser will not show it
    assert "Origin" in posted.headers["vary"]


async def test_with_no_origins_configured_every_preflight_is_refused(sb_app: Starlette) -> None:
    async with client_for((), sb_app) as client:
        refused = await preflight(client, PAGE)
        same_origin = await client.post("/graphql", json=PROVIDERS, headers={"origin": "http://parley.test"})
        no_origin = await client.post("/graphql", json=PROVIDERS)
    assert refused.status_code == 400 and cors_headers(refused) == {}
    assert same_origin.json()["data"] == no_origin.json()["data"] == {"providers": [{"name": "sb"}]}
    assert cors_headers(same_origin) == cors_headers(no_origin) == {}


async def test_star_lets_any_origin_in_without_credentials_and_listed_origins_keep_theirs(sb_app: Starlette) -> None:
    async with client_for(("*", PAGE), sb_app) as client:
        anyone_preflight = await preflight(client, OTHER)
        anyone = await client.post("/graphql", json=PROVIDERS, headers={"origin": OTHER})
        listed = await client.post("/graphql", json=PROVIDERS, headers={"origin": PAGE})
    assert anyone_preflight.status_code == 200
    for response in (anyone_preflight, anyone):
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
    assert listed.headers["access-control-allow-origin"] == PAGE
    assert listed.headers["access-control-allow-credentials"] == "true"


async def test_a_preflight_asking_for_a_header_clients_do_not_send_is_refused(sb_app: Starlette) -> None:
    async with client_for((PAGE,), sb_app) as client:
        answer = await preflight(client, PAGE, headers="content-type, x-something-else")
    assert answer.status_code == 400 and answer.text == "Disallowed CORS headers"


async def test_only_the_graphql_path_answers_browsers(sb_app: Starlette) -> None:
    async with client_for((PAGE,), sb_app) as client:
        health = await client.get("/health", headers={"origin": PAGE})
        webhook_preflight = await preflight(client, PAGE, path="/webhooks/sb")
    assert health.status_code == 200 and cors_headers(health) == {}
    assert webhook_preflight.status_code == 405 and cors_headers(webhook_preflight) == {}


def connect(client: TestClient, origin: str | None) -> str:
    """`connection_ack`, or how the handshake ended."""
    headers = {"origin": origin} if origin else {}
    try:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=headers) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            return str(ws.receive_json()["type"])
    except WebSocketDisconnect as exc:
        return f"refused {exc.code}"


@pytest.mark.parametrize(
    ("origins", "origin", "outcome"),
    [
        pytest.param((PAGE,), PAGE, "connection_ack", id="listed"),
        pytest.param((PAGE,), OTHER, "refused 1008", id="not-listed"),
        pytest.param((), PAGE, "refused 1008", id="none-listed"),
        pytest.param((PAGE,), None, "connection_ack", id="no-origin"),
        pytest.param((), "http://testserver", "connection_ack", id="same-origin"),
        pytest.param(("*",), OTHER, "connection_ack", id="star"),
    ],
)
def test_websocket_handshakes_follow_the_same_origin_list(
    origins: tuple[str, ...], origin: str | None, outcome: str, sb_app: Starlette
) -> None:
    settings = Settings(providers=gateway_settings().providers, cors_origins=origins)
    with TestClient(create_app(settings, transports={"sb": httpx.ASGITransport(app=sb_app)})) as client:
        assert connect(client, origin) == outcome


def load(tmp_path: Path, origins: str) -> Settings:
    (tmp_path / "parley.toml").write_text(f"[server]\ncors_origins = {origins}\n")
    return load_settings({"PARLEY_CONFIG": str(tmp_path / "parley.toml")})


def test_cors_origins_are_kept_as_browsers_send_them(tmp_path: Path) -> None:
    origins = '["HTTPS://Console.Example.com:443", "http://127.0.0.1:5173", "http://[::1]:80", "https://console.example.com"]'
    assert load(tmp_path, origins).cors_origins == ("https://console.example.com", "http://127.0.0.1:5173", "http://[::1]")


@pytest.mark.parametrize("origin", ["https://user@console.example.com", "https://console.example.com#top",
                                    "https://console.example.com:99999", "ftp://files.example.com", "null"])
def test_a_value_that_is_not_an_origin_is_refused_naming_it(tmp_path: Path, origin: str) -> None:
    with pytest.raises(SettingsError, match=rf"server\.cors_origins: {re.escape(repr(origin))} is not an origin"):
        load(tmp_path, f'["{origin}"]')


def test_the_origin_is_read_as_starlette_s_headers_read_it() -> None:
    from starlette.datastructures import Headers

    from gateway.cors import _origin

    for raw in ([], [(b"host", b"x")], [(b"origin", b"https://a.example")],
                [(b"origin", b"https://a.example"), (b"origin", b"https://b.example")], [(b"origin", "https://é.example".encode("latin-1"))]):
        scope = {"type": "http", "headers": raw}
        assert _origin(scope) == Headers(scope=scope).get("origin"), raw
