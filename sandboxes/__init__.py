"""Vendor sandboxes: Starlette apps that speak each vendor's REST API as its docs describe it.

Partners develop against them, the embedded default (`parley serve` with no provider configured)
runs them in-process, and the tests use them as the vendors. This package never imports `providers`
or `gateway`, so an adapter tested against its sandbox is two independent readings of the docs.

The registry maps a vendor name to the module of its sandbox. Each such module offers:

- `create_app(*, webhook_url, webhook_client, demo_conversations)` -> Starlette, with defaults for
  everything else (the credentials below among them);
- `CREDENTIALS`: the options a provider of that vendor needs to sign in to the sandbox;
- `AUTH_HINT`: one line telling a developer how to authenticate (printed by `parley sandbox`);
- `DEFAULT_PORT`: where `parley sandbox <vendor>` listens unless told otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Protocol, cast

import httpx
from starlette.applications import Starlette

SANDBOXES: dict[str, str] = {
    "socialboards": "sandboxes.socialboards",
    "infobip": "sandboxes.infobip",
    "clevertap": "sandboxes.clevertap",
}


class Sandbox(Protocol):
    """What a sandbox module offers (checked by mypy against each module in the registry's tests)."""

    CREDENTIALS: Mapping[str, object]
    AUTH_HINT: str
    DEFAULT_PORT: int

    def create_app(
        self,
        *,
        webhook_url: str | None = None,
        webhook_client: httpx.AsyncClient | None = None,
        demo_conversations: int = 0,
    ) -> Starlette: ...


def sandbox_names() -> tuple[str, ...]:
    return tuple(SANDBOXES)


def load_sandbox(name: str) -> Sandbox:
    """The sandbox module registered as `name`; ValueError naming the known ones otherwise."""
    try:
        module = SANDBOXES[name]
    except KeyError:
        raise ValueError(f"no sandbox for {name!r}; sandboxes: {', '.join(SANDBOXES)}") from None
    return cast(Sandbox, importlib.import_module(module))


def register_sandbox(name: str, module: str) -> None:
    """Adds (or replaces) a sandbox: `module` is the dotted path of a module offering `Sandbox`."""
    SANDBOXES[name] = module
