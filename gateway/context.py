"""The request context: providers, per-request DataLoaders, the event bus."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import strawberry
from aiodataloader import DataLoader
from starlette.requests import Request
from starlette.websockets import WebSocket

from providers import Conversation, Message, Page, Provider, echo
from providers.base import BatchReads, implements
from providers.errors import NotFoundError, ProviderError

from .auth import ANONYMOUS, Principal
from .events import Bus
from .guard import Guard

ConversationKey = tuple[str, str, frozenset[str] | None]  # provider name, remote id, fields wanted (None: all)
MessagesKey = tuple[str, str, int, str | None, bool]  # provider name, remote id, first, after, newest_first
PER_PROVIDER_CONCURRENCY = 32  # reads in flight per provider from one request's loaders


class Loaders:
    """One request's DataLoaders, made on first use: a WebSocket's context lives as long as the socket,
    and a subscriber that joins a shared stream (gateway/live.py) never loads through its own (1.3 KiB
    of closures, semaphores and loaders per idle connection otherwise)."""

    __slots__ = ("providers", "cached", "_conversation", "_messages")

    def __init__(self, providers: Mapping[str, Provider], *, cache: bool) -> None:
        self.providers = providers
        self.cached = cache  # a load started early is served again to the resolver that asks for it
        self._conversation: DataLoader | None = None
        self._messages: DataLoader | None = None

    @property
    def built(self) -> bool:
        return self._conversation is not None

    @property
    def conversation(self) -> DataLoader:
        """ConversationKey -> Conversation"""
        if self._conversation is None:
            self._conversation, self._messages = _loaders(self.providers, cache=self.cached)
        return self._conversation

    @property
    def messages(self) -> DataLoader:
        """MessagesKey -> Page[Message]"""
        if self._messages is None:
            self._conversation, self._messages = _loaders(self.providers, cache=self.cached)
        return self._messages

    def prefetch(self, loader: DataLoader, key: Any) -> None:
        """Starts loading `key` now, so it runs alongside other reads; the resolver that needs it later
        gets the same future from the cache. Does nothing without a cache."""
        if self.cached:
            loader.load(key).add_done_callback(_consume_error)

    async def last_message(self, provider: str, remote_id: str) -> Message | None:
        page = await self.messages.load((provider, remote_id, 1, None, True))
        return page.items[0] if page.items else None


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    providers: Mapping[str, Provider]
    bus: Bus
    loaders: Loaders
    principal: Principal = ANONYMOUS  # who is calling (gateway/auth.py)
    shared: bool = False  # a stream run once for many subscribers (gateway/live.py): counted per subscriber, not here
    account: Any = None  # a subscriber's own stream once it joins a shared one: access.SubscriptionAccount counts it
    guard: Guard | None = None  # the app's request limits (gateway/limits.py); None: unlimited
    connection_params: dict[str, Any] | None = None  # strawberry copies connection_init here
    partial_errors: list[Any] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)  # returned in the response's `extensions`


Info: TypeAlias = strawberry.Info[Context, None]


def make_loaders(providers: Mapping[str, Provider], *, cache: bool) -> Loaders:
    """Loaders for one request. On WebSockets `cache=False`: the context lives as long as the socket,
    and a cache would serve one event's data to the next."""
    return Loaders(providers, cache=cache)


def _loaders(providers: Mapping[str, Provider], *, cache: bool) -> tuple[DataLoader, DataLoader]:
    slots = {name: asyncio.Semaphore(PER_PROVIDER_CONCURRENCY) for name in providers}

    async def fetch(keys: list[Any], call: Any) -> list[Any]:
        """`call(provider, *key[1:])` for each distinct key, under the per-provider limit."""
        unique = list(dict.fromkeys(keys))

        async def one(key: Any) -> Any:
            provider = providers.get(key[0])
            if provider is None:
                return NotFoundError(f"no provider named {echo(key[0])}", provider=key[0])
            async with slots[key[0]]:
                try:
                    return await call(provider, *key[1:])
                except ProviderError as exc:
                    return exc

        results = dict(zip(unique, await asyncio.gather(*(one(k) for k in unique))))
        return [results[k] for k in keys]

    async def conversations(keys: list[ConversationKey]) -> list[Conversation | Exception]:
        """Providers with `get_conversations` (Infobip: `conversationIds`) load a batch in one call;
        the others one call per id, under the per-provider limit."""
        batches: dict[tuple[str, frozenset[str] | None], list[str]] = {}
        for name, rid, fields in dict.fromkeys(keys):
            if implements(providers.get(name), BatchReads):
                batches.setdefault((name, fields), []).append(rid)
        batches = {key: ids for key, ids in batches.items() if len(ids) > 1}  # one id: a plain read is cheaper
        batched: dict[ConversationKey, Any] = {}
        for (name, fields), ids in batches.items():
            try:
                reader: BatchReads = providers[name]  # type: ignore[assignment]
                found = await reader.get_conversations(ids, fields=fields)
                batched.update(
                    {(name, rid, fields): found.get(rid) or NotFoundError(f"no conversation {echo(rid)}", provider=name) for rid in ids}
                )
            except ProviderError as exc:
                batched.update({(name, rid, fields): exc for rid in ids})
        rest = [k for k in keys if k not in batched]
        singles = dict(zip(rest, await fetch(rest, lambda p, rid, fields: p.get_conversation(rid, fields=fields)))) if rest else {}
        return [batched[k] if k in batched else singles[k] for k in keys]

    async def messages(keys: list[MessagesKey]) -> list[Page[Message] | Exception]:
        """Message pages; the same page asked for twice in one request (e.g. `lastMessage` of a
        conversation listed twice) is one vendor call."""
        return await fetch(
            keys,
            lambda p, rid, first, after, newest_first: p.list_messages(rid, first=first, after=after, newest_first=newest_first),
        )

    return DataLoader(conversations, cache=cache), DataLoader(messages, cache=cache)


def _consume_error(future: asyncio.Future[Any]) -> None:
    """A prefetched load's error reaches the resolver that awaits it; if none does, it is dropped here
    instead of being logged as never retrieved."""
    if not future.cancelled():
        future.exception()
