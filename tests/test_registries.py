"""A vendor added through the two registries alone (an adapter factory in `providers.registry`, a
sandbox module in `sandboxes`) reaches `parley sandbox` and the embedded default: nothing in
gateway/ names a vendor.

The fourth vendor here, `acme`, is a re-labelled Infobip: its sandbox module wraps Infobip's sandbox
with its own key, and its adapter is Infobip's adapter. What is tested is the registration path."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import providers.registry
import sandboxes
from gateway.app import create_app
from gateway.cli import main
from gateway.settings import Settings
from providers import Provider, register_vendor
from providers.infobip.provider import InfobipProvider
from sandboxes.infobip import app as infobip_app

ACME_KEY = "acme-sandbox-key"


def _acme_sandbox_module() -> types.ModuleType:
    module = types.ModuleType("tests.acme_sandbox")

    def create_app(
        *, webhook_url: str | None = None, webhook_client: httpx.AsyncClient | None = None, demo_conversations: int = 0
    ) -> Starlette:
        return infobip_app.create_app(
            api_key=ACME_KEY, webhook_url=webhook_url, webhook_client=webhook_client, demo_conversations=demo_conversations
        )

    module.create_app = create_app  # type: ignore[attr-defined]
    module.CREDENTIALS = {"api_key": ACME_KEY}  # type: ignore[attr-defined]
    module.AUTH_HINT = "header 'Authorization: App acme-sandbox-key'"  # type: ignore[attr-defined]
    module.DEFAULT_PORT = 8199  # type: ignore[attr-defined]
    return module


def _acme_adapter(**options: Any) -> Provider:
    return InfobipProvider(**options)


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "tests.acme_sandbox", _acme_sandbox_module())
    monkeypatch.setattr(sandboxes, "SANDBOXES", dict(sandboxes.SANDBOXES))
    monkeypatch.setattr(providers.registry, "VENDORS", dict(providers.registry.VENDORS))
    monkeypatch.setattr(providers.registry, "VENDOR_OPTIONS", dict(providers.registry.VENDOR_OPTIONS))
    sandboxes.register_sandbox("acme", "tests.acme_sandbox")
    register_vendor("acme", _acme_adapter, required=("api_key",), optional=("senders",))
    yield


def test_a_registered_sandbox_is_a_choice_of_parley_sandbox(acme: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    choices = capsys.readouterr().out
    assert "{socialboards,infobip,clevertap,acme}" in choices


def test_parley_sandbox_refuses_an_unregistered_vendor(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "acme"])
    assert "invalid choice: 'acme'" in capsys.readouterr().err


async def test_a_registered_vendor_runs_in_the_embedded_default(acme: None) -> None:
    app = create_app(Settings())
    query = "query($names: [String!]) { providers { name vendor } conversations(first: 2, filter: {providers: $names}) { edges { node { id } } } }"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
            response = await client.post("/graphql", json={"query": query, "variables": {"names": ["acme"]}})
    body = response.json()
    assert "errors" not in body
    assert {"name": "acme", "vendor": "infobip"} in body["data"]["providers"]  # Infobip's adapter says its vendor
    assert len(body["data"]["conversations"]["edges"]) == 2
    assert all(edge["node"]["id"] for edge in body["data"]["conversations"]["edges"])


async def test_a_vendor_with_an_adapter_but_no_sandbox_is_left_out_of_the_embedded_default(acme: None) -> None:
    del sandboxes.SANDBOXES["acme"]
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        assert "acme" not in app.state.runtime.providers
        assert {"socialboards", "infobip", "clevertap"} <= set(app.state.runtime.providers)


def test_every_registered_sandbox_offers_the_registry_contract_with_its_own_port() -> None:
    loaded = {name: sandboxes.load_sandbox(name) for name in sandboxes.sandbox_names()}
    assert set(loaded) == {"socialboards", "infobip", "clevertap"}
    assert len({sandbox.DEFAULT_PORT for sandbox in loaded.values()}) == len(loaded)
    for sandbox in loaded.values():
        assert callable(sandbox.create_app) and sandbox.CREDENTIALS and sandbox.AUTH_HINT


def test_an_unknown_sandbox_name_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="no sandbox for 'acme'; sandboxes: socialboards, infobip, clevertap"):
        sandboxes.load_sandbox("acme")
