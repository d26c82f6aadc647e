"""What the client-access tests share: the embedded gateway with configured clients, requests with a
bearer token, and the vendor requests each embedded sandbox received."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.client_settings import ClientSettings
from gateway.limit_settings import Limits
from gateway.migration_settings import MigrationSettings
from gateway.settings import Settings

ALL_SCOPES = frozenset({"read", "write", "subscribe", "migrate"})
VENDORS = ("socialboards", "infobip", "clevertap")  # the embedded providers, named after their vendors


def api_client(name: str, key: str, scopes: frozenset[str] = ALL_SCOPES, providers: frozenset[str] | None = None) -> ClientSettings:
    return ClientSettings(name=name, scopes=scopes, providers=providers, api_key=key)


@contextmanager
def running(*clients: ClientSettings, **settings: Any) -> Iterator[TestClient]:
    """The embedded default (one sandbox per vendor, in-process) with these clients, lifespan running;
    no rate or cost limits unless given (the scoping tests send hundreds of large requests as one client)."""
    unlimited = Limits(rate_limit=None, cost_rate_limit=None, max_cost=100_000)
    app = create_app(Settings(clients=clients, **{"demo_conversations": 3, "graphiql": False, "limits": unlimited, **settings}))
    # One request id for all: answers are compared whole, and each error carries it (test_operations checks ids)
    with TestClient(app, headers={"X-Request-Id": "auth-tests"}) as client:
        yield client


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def post(client: TestClient, token: str | None, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=bearer(token))


def data(client: TestClient, token: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(client, token, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def upstream(client: TestClient) -> dict[str, int]:
    """Vendor API requests each embedded sandbox received since the last call (then forgets them)."""
    sandboxes = client.app.state.runtime.sandboxes  # type: ignore[attr-defined]

    async def count() -> dict[str, int]:
        counts = {}
        for vendor, app in sandboxes.items():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as raw:
                counts[vendor] = len((await raw.get("/_sandbox/requests")).json()["requests"])
                await raw.delete("/_sandbox/requests")
        return counts

    return client.portal.call(count)  # type: ignore[union-attr]


def sandbox_call(client: TestClient, vendor: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """A request straight to an embedded sandbox (its /_sandbox controls, say)."""
    app = client.app.state.runtime.sandboxes[vendor]  # type: ignore[attr-defined]

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as raw:
            return await raw.request(method, path, **kw)

    return client.portal.call(call)  # type: ignore[union-attr]
