"""What the migration tests share: providers wired in-process to fresh sandboxes, the migration
service on a temporary SQLite store, and readings of a target that ignore its ids (so two targets, or
a target and a source, can be compared)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from gateway.migrate.service import MigrationService
from gateway.migrate.records import Job
from gateway.migration_settings import DEFAULT_CONCURRENCY, MigrationSettings
from providers import Provider, build_provider
from providers.models import Conversation, ConversationFilter, Message, SortOrder
from sandboxes import load_sandbox

# Requests that change nothing at a vendor although they are not GETs.
READS = ("/token", "/tickets/list")


@dataclass
class Vendor:
    """A sandbox app and the provider wired to it."""

    app: Any
    provider: Provider
    hooks: httpx.AsyncClient

    async def requests(self) -> list[dict[str, Any]]:
        return list((await self.hooks.get("/_sandbox/requests")).json()["requests"])

    async def writes(self) -> list[dict[str, Any]]:
        """Requests that may change the vendor's data: not GETs, and not the token or ticket-list POSTs."""
        return [r for r in await self.requests() if r["method"] != "GET" and not r["path"].endswith(READS)]

    async def forget_requests(self) -> None:
        await self.hooks.delete("/_sandbox/requests")


@contextlib.asynccontextmanager
async def vendor(kind: str, name: str, *, demo: int = 0, app: Any = None, wrap: Callable[[Any], Any] | None = None,
                 timeout: float = 5.0) -> AsyncIterator[Vendor]:
    """A fresh sandbox of `kind` (or `app`) and a provider `name` on it; `wrap` puts a transport
    wrapper (e.g. one that loses answers) between the provider and the sandbox."""
    sandbox = load_sandbox(kind)
    app = app or sandbox.create_app(demo_conversations=demo)
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=app)
    if wrap is not None:
        transport = wrap(transport)
    limits = httpx.Timeout(timeout, connect=timeout)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}.test/", timeout=limits) as http, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.test/") as hooks:
        provider = build_provider(kind, name=name, http=http, options=dict(sandbox.CREDENTIALS))
        yield Vendor(app, provider, hooks)


@contextlib.asynccontextmanager
async def service(
    path: Path, *vendors: Vendor, lease_seconds: float = 30.0, concurrency: int = DEFAULT_CONCURRENCY,
) -> AsyncIterator[MigrationService]:
    providers = {v.provider.name: v.provider for v in vendors}
    settings = MigrationSettings(store_path=path, lease_seconds=lease_seconds, concurrency=concurrency)
    opened = await MigrationService.open(settings, providers)
    try:
        yield opened
    finally:
        await opened.close()


async def migrate(svc: MigrationService, source: Vendor, target: Vendor, **kw: Any) -> Job:
    return await svc.run(await svc.prepare(source=source.provider.name, target=target.provider.name, **kw))


async def conversations(provider: Provider) -> list[Conversation]:
    found: list[Conversation] = []
    after = None
    while True:
        page = await provider.list_conversations(filter=ConversationFilter(), order=SortOrder.CREATED_ASC, first=50, after=after)
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        after = page.next_cursor


async def messages(provider: Provider, remote_id: str) -> list[Message]:
    found: list[Message] = []
    after = None
    while True:
        page = await provider.list_messages(remote_id, first=100, after=after)
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        after = page.next_cursor


def ms(message: Message) -> int | None:
    return None if message.created_at is None else int(message.created_at.timestamp() * 1000)


async def content(provider: Provider) -> Counter[tuple[Any, ...]]:
    """A target's conversations and their messages, without ids: comparable across targets."""
    seen: Counter[tuple[Any, ...]] = Counter()
    for conversation in await conversations(provider):
        customer = conversation.customer
        history = tuple((ms(m), m.text, m.author.role.value if m.author else None) for m in await messages(provider, conversation.remote_id))
        seen[(conversation.topic, conversation.status.value, customer.external_id if customer else None, history)] += 1
    return seen


class LosesAnswers(httpx.AsyncBaseTransport):
    """Hands each request to the vendor, but for the first `times` whose method and path match,
    drops the answer after the vendor has acted on it: the window where a write committed and its
    answer never arrived."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str, matches: Callable[[str], bool], times: int = 1) -> None:
        self.inner, self.method, self.matches, self.left = inner, method, matches, times
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.left and request.method == self.method and self.matches(request.url.path):
            self.left -= 1
            self.dropped += 1
            await response.aread()
            raise httpx.RemoteProtocolError("server disconnected without sending a response", request=request)
        return response


async def no_gateway(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that accepts anything (webhook deliveries nobody listens to)."""
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def notes_supported() -> bool:
    """Whether the Infobip sandbox serves notes (they come with a branch merged before this one)."""
    app = load_sandbox("infobip").create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ib.test/",
                                 headers={"Authorization": "App sandbox-key"}) as client:
        created = (await client.post("/ccaas/1/conversations", json={})).json()
        answer = await client.get(f"/ccaas/1/conversations/{created['id']}/notes")
        return answer.status_code == 200


async def notes_by_conversation(svc: MigrationService, job_id: str) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """The report's notes of one job, per source conversation: field -> [(change, detail)]."""
    from sqlalchemy import select

    from gateway.migrate.tables import notes

    found: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for row in await svc.store.read(lambda connection: connection.execute(select(notes).where(notes.c.job_id == job_id)).all()):
        found.setdefault(row.source_id, {}).setdefault(row.field, []).append((row.change, row.detail))
    return found
