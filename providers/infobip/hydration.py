"""Reading a whole Infobip conversation: its object plus up to three reads (`PARTS`).

The conversation object carries no tags, no customer and no message count. The reads besides it are
its tags, its earliest inbound message (the customer) and its latest message (last message and
message count), run concurrently under one semaphore per provider. A read makes only those the
caller's `fields` need and names the rest in `Conversation.missing`; `fill` reads them later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import MalformedResponseError, NotFoundError
from ..models import Conversation, ConversationFilter
from . import mapping
from .client import InfobipClient

# The reads besides the conversation object, and the Conversation fields each one gives.
PARTS: dict[str, frozenset[str]] = {
    "tags": frozenset({"tags"}),
    "customer": frozenset({"customer"}),
    "latest": frozenset({"last_message", "last_message_at", "message_count"}),
}
ALL_PARTS = frozenset(PARTS)


class Hydrator:
    """The reads of one provider, `concurrency` vendor calls at a time."""

    def __init__(self, client: InfobipClient, *, provider: str, concurrency: int) -> None:
        self._client = client
        self._provider = provider
        self._slots = asyncio.Semaphore(concurrency)

    async def whole(self, raw: dict[str, Any], parts: frozenset[str] = ALL_PARTS) -> Conversation:
        """`raw` with the reads of `parts`."""
        hydration = await self.hydration(mapping.row_id(raw), parts)
        assert hydration is not None
        return self.parsed(raw, hydration, parts)

    def parsed(self, raw: dict[str, Any], hydration: mapping.Hydration, parts: frozenset[str]) -> Conversation:
        return _missing(mapping.parse_conversation(raw, provider=self._provider, hydration=hydration), ALL_PARTS - parts)

    async def hydration(
        self, conversation_id: str, parts: frozenset[str], *, tags: tuple[str, ...] | None = None
    ) -> mapping.Hydration | None:
        """The `parts` asked for; None when `tags` are required and none is linked."""
        names: tuple[str, ...] = ()
        if tags is not None:  # tags first: a conversation without them costs one read, not three
            names = await self.tags(conversation_id)
            if set(names).isdisjoint(tags):
                return None
            parts = parts - {"tags"}
        readers: dict[str, Callable[[], Awaitable[Any]]] = {
            "tags": lambda: self.tags(conversation_id),
            "customer": lambda: self.first_message(conversation_id, mapping.FIRST_INBOUND),
            "latest": lambda: self._latest(conversation_id),
        }
        wanted = [part for part in PARTS if part in parts]
        got = dict(zip(wanted, await gather_all(*(readers[part]() for part in wanted))))
        latest, count = got.get("latest", (None, None))
        return mapping.Hydration(tags=got.get("tags", names), first_inbound=got.get("customer"), latest=latest, message_count=count)

    async def many(
        self, rows: list[tuple[dict[str, Any], Conversation]], parts: frozenset[str], tags: tuple[str, ...] | None
    ) -> list[Conversation | None]:
        """Each listed row (its object and that object parsed alone) with its reads; None for one
        deleted since, or without any of `tags`."""
        if not parts and tags is None:
            # Nothing to read: the row parsed alone is the conversation, short of what it misses (one
            # object per row instead of three, and no task).
            return [_missing(listed, ALL_PARTS) for _, listed in rows]

        async def one(raw: dict[str, Any]) -> Conversation | None:
            try:
                hydration = await self.hydration(mapping.row_id(raw), parts, tags=tags)
            except NotFoundError:
                return None  # deleted between listing and reading
            return None if hydration is None else self.parsed(raw, hydration, parts | ({"tags"} if tags else set()))

        return await gather_all(*(one(raw) for raw, _ in rows))

    async def fill(self, conversations: Sequence[Conversation], fields: frozenset[str] | None) -> list[Conversation | None]:
        """Reads the parts of `fields` each conversation is missing, and only those."""

        async def one(conversation: Conversation) -> Conversation | None:
            parts = frozenset(p for p in parts_for(fields) if PARTS[p] & conversation.missing)
            if not parts:
                return conversation
            try:
                hydration = await self.hydration(conversation.remote_id, parts)
            except NotFoundError:
                return None  # deleted since it was listed
            assert hydration is not None
            fresh = mapping.parse_conversation(conversation.vendor_data, provider=self._provider, hydration=hydration)
            read = frozenset().union(*(PARTS[p] for p in parts))
            return replace(conversation, **{name: getattr(fresh, name) for name in read}, missing=conversation.missing - read)

        return await gather_all(*(one(c) for c in conversations))

    async def tags(self, conversation_id: str) -> tuple[str, ...]:
        async with self._slots:
            body = await self._client.conversation_tags(conversation_id)
        try:
            return mapping.parse_tag_names(body)
        except ValueError as exc:
            raise MalformedResponseError(f"conversation tags: {exc}", provider=self._provider) from exc

    async def first_message(self, conversation_id: str, query: Mapping[str, Any]) -> dict[str, Any] | None:
        async with self._slots:
            return (await self._client.message_head(conversation_id, query))[0]

    async def _latest(self, conversation_id: str) -> tuple[dict[str, Any] | None, int | None]:
        async with self._slots:
            return await self._client.message_head(conversation_id, mapping.LATEST)


def _missing(fresh: Conversation, unread: frozenset[str]) -> Conversation:
    """`fresh`, just parsed and seen by nobody yet, naming the fields of the parts not read. Set in
    place: a `replace` would build the 35-field conversation a second time for every row."""
    missing = _MISSING.get(unread)
    if missing is None:
        missing = _MISSING[unread] = frozenset().union(*(PARTS[p] for p in unread))
    if missing:
        object.__setattr__(fresh, "missing", missing)
    return fresh


_MISSING: dict[frozenset[str], frozenset[str]] = {}


def parts_for(fields: frozenset[str] | None) -> frozenset[str]:
    """The reads `fields` need (None: every field, so every read)."""
    return ALL_PARTS if fields is None else frozenset(p for p, given in PARTS.items() if given & fields)


def filter_parts(filter: ConversationFilter) -> frozenset[str]:
    """The reads applying `filter` needs: tags for tags, customer and latest message for search."""
    return frozenset(({"tags"} if filter.tags is not None else set()) | ({"customer", "latest"} if filter.search is not None else set()))


async def gather_all(*calls: Awaitable[Any]) -> list[Any]:
    """Runs `calls` concurrently to the end (none is left running), then raises the first failure."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
