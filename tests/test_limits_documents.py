"""Persisted queries (Apollo's automatic persisted queries) over POST and GET, shared on Redis, and
trusted documents: a client limited to the manifest runs nothing else."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.client_settings import ClientSettings
from gateway.settings import Settings, SettingsError, load_settings
from gateway.view import GatewayGraphQL

from .helpers import Gateway, socialboards_app as sandbox_app
from .test_limits_rates import CLIENT_HEADER, SB, principal_from_header  # noqa: F401  (an autouse fixture)

QUERY = "query Names { providers { name } }"
NAMES = {"providers": [{"name": "sb"}]}
TRUSTED = "query Trusted { providers { vendor } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(query: str | None = None, digest: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest or sha256(query or "")}}}
    if query is not None:
        body["query"] = query
    return body


@contextlib.asynccontextmanager
async def gateway_with(**settings: Any) -> AsyncIterator[Gateway]:
    app = create_app(Settings(providers=(SB,), graphiql=False, **settings),
                     transports={"sb": httpx.ASGITransport(app=sandbox_app(demo_conversations=2))})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with gateway_with() as running:
        yield running


def codes(answer: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in answer.get("errors", [])]


async def test_a_hash_misses_then_the_query_with_its_hash_is_stored_and_the_hash_alone_runs_it(gateway: Gateway) -> None:
    post = gateway.client.post
    miss = await post("/graphql", json=persisted(digest=sha256(QUERY)))
    assert miss.status_code == 200 and miss.json()["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in miss.json()["errors"]] == [
        ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")]
    assert (await post("/graphql", json=persisted(QUERY))).json() == {"data": NAMES}
    assert (await post("/graphql", json={**persisted(digest=sha256(QUERY)), "operationName": "Names"})).json() == {"data": NAMES}


async def test_a_query_whose_hash_is_not_its_sha256_is_refused_and_not_stored(gateway: Gateway) -> None:
    wrong = sha256("something else")
    answer = (await gateway.client.post("/graphql", json=persisted(QUERY, wrong))).json()
    assert codes(answer) == ["INVALID_INPUT"]
    assert answer["errors"][0]["message"] == (
        f"extensions.persistedQuery.sha256Hash: {wrong} is not the SHA-256 of the query (that is {sha256(QUERY)})")
    assert codes((await gateway.client.post("/graphql", json=persisted(digest=wrong))).json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(("extension", "message"), [
    ({"version": 2, "sha256Hash": "0" * 64}, "extensions.persistedQuery.version: only version 1 is supported, got 2"),
    ({"version": 1, "sha256Hash": "abc"}, "extensions.persistedQuery.sha256Hash: expected 64 hexadecimal digits"),
    ("yes", "extensions.persistedQuery: expected {version: 1, sha256Hash}"),
])
async def test_a_malformed_persisted_query_extension_is_refused_naming_what_is_wrong(
    gateway: Gateway, extension: Any, message: str
) -> None:
    answer = (await gateway.client.post("/graphql", json={"extensions": {"persistedQuery": extension}})).json()
    assert [(e["extensions"]["code"], e["message"]) for e in answer["errors"]] == [("INVALID_INPUT", message)]


async def test_persisted_queries_work_over_get(gateway: Gateway) -> None:
    async def get(**params: str) -> dict[str, Any]:
        response = await gateway.client.get("/graphql", params=params, headers={"accept": "application/json"})
        assert response.status_code == 200, response.text
        return response.json()

    extensions = '{"persistedQuery": {"version": 1, "sha256Hash": "%s"}}' % sha256(QUERY)
    assert codes(await get(extensions=extensions)) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert codes(await get(query="{ providers { vendor } }", extensions=extensions)) == ["INVALID_INPUT"]  # not its hash
    assert await get(query=QUERY, extensions=extensions) == {"data": NAMES}
    assert await get(extensions=extensions) == {"data": NAMES}


async def test_instances_on_one_redis_share_persisted_queries(redis_url: str) -> None:
    query = f"query Names_{uuid.uuid4().hex} {{ providers {{ name }} }}"  # the test's own entry on the shared server
    async with gateway_with(bus_url=redis_url) as a, gateway_with(bus_url=redis_url) as b:
        assert codes((await b.client.post("/graphql", json=persisted(digest=sha256(query)))).json()) == ["PERSISTED_QUERY_NOT_FOUND"]
        assert (await a.client.post("/graphql", json=persisted(query))).json() == {"data": NAMES}
        assert (await b.client.post("/graphql", json=persisted(digest=sha256(query)))).json() == {"data": NAMES}


# -- trusted documents ------------------------------------------------------------------------------


@pytest.fixture
async def trusting() -> AsyncIterator[Gateway]:
    clients = (ClientSettings(name="widget", scopes=frozenset({"read"}), api_key=KEYS["widget"], trusted_documents_only=True),
               ClientSettings(name="console", scopes=frozenset({"read"}), api_key=KEYS["console"]))
    async with gateway_with(clients=clients, trusted_documents={sha256(TRUSTED): TRUSTED}) as running:
        yield running


KEYS = {"widget": "k1", "console": "k2"}


async def as_client(gateway: Gateway, client: str, body: dict[str, Any]) -> dict[str, Any]:
    return (await gateway.client.post("/graphql", json=body, headers={"authorization": f"Bearer {KEYS[client]}"})).json()


async def test_a_trusted_documents_only_client_runs_manifest_documents_by_hash_or_text(trusting: Gateway) -> None:
    vendors = {"providers": [{"vendor": "socialboards"}]}
    assert await as_client(trusting, "widget", persisted(digest=sha256(TRUSTED))) == {"data": vendors}
    assert await as_client(trusting, "widget", {"query": TRUSTED}) == {"data": vendors}
    assert await as_client(trusting, "widget", persisted(TRUSTED)) == {"data": vendors}


@pytest.mark.parametrize("body", [
    {"query": QUERY}, persisted(QUERY), persisted(digest=sha256(QUERY)),
], ids=["text", "registration", "unknown hash"])
async def test_a_trusted_documents_only_client_is_refused_any_other_document(trusting: Gateway, body: dict[str, Any]) -> None:
    answer = await as_client(trusting, "widget", body)
    assert answer["data"] is None and codes(answer) == ["PERSISTED_QUERY_NOT_ALLOWED"]
    assert "client 'widget' may run only the documents of the trusted-documents manifest" in answer["errors"][0]["message"]


async def test_other_clients_run_any_document_and_the_manifest_by_hash(trusting: Gateway) -> None:
    assert await as_client(trusting, "console", {"query": QUERY}) == {"data": NAMES}
    assert await as_client(trusting, "console", persisted(digest=sha256(TRUSTED))) == {"data": {"providers": [{"vendor": "socialboards"}]}}
    assert codes(await as_client(trusting, "widget", persisted(QUERY))) == ["PERSISTED_QUERY_NOT_ALLOWED"]  # not stored for it...
    assert codes(await as_client(trusting, "console", persisted(digest=sha256(QUERY)))) == ["PERSISTED_QUERY_NOT_FOUND"]  # ...nor by it


async def test_a_hash_alone_is_run_by_the_json_post_path_not_the_views_request_parsing(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[Any] = []
    original = GatewayGraphQL.parse_http_body

    async def counting(self: GatewayGraphQL, request: Any) -> Any:
        parsed.append(request)
        return await original(self, request)

    monkeypatch.setattr(GatewayGraphQL, "parse_http_body", counting)
    await gateway.client.post("/graphql", json=persisted(QUERY))
    assert (await gateway.client.post("/graphql", json=persisted(digest=sha256(QUERY)))).json() == {"data": NAMES}
    assert parsed == []


def test_a_trusted_documents_only_client_without_a_manifest_is_a_bad_setting(tmp_path: Path) -> None:
    config = tmp_path / "parley.toml"
    config.write_text('[clients.widget]\napi_key_env = "K"\nscopes = ["read"]\ntrusted_documents_only = true\n')
    with pytest.raises(SettingsError, match=r"clients\.widget\.trusted_documents_only: server\.trusted_documents names no manifest"):
        load_settings({"PARLEY_CONFIG": str(config), "K": "k"})
    (tmp_path / "manifest.json").write_text(json.dumps({sha256(TRUSTED): TRUSTED}))
    config.write_text('[server]\ntrusted_documents = "manifest.json"\n' + config.read_text())
    assert load_settings({"PARLEY_CONFIG": str(config), "K": "k"}).trusted_documents == {sha256(TRUSTED): TRUSTED}
