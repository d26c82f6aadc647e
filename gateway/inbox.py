"""One conversation list across providers: fan out, merge by the sort key, one opaque cursor.

The cursor keeps each provider's own cursor (the position right after the last item of that provider
that was emitted) and the providers that are exhausted. Each provider's items keep that provider's
order; the merge only interleaves them, so a page never skips an item of any provider. A provider
that fails keeps its position, so the next page can include it again. A provider that cannot honour
the filter at all (`UnsupportedOperationError`) is left out of the whole listing and reported in
`skipped`, never given a chance to return wrong results.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from providers import (
    Conversation,
    ConversationFilter,
    InvalidRequestError,
    Page,
    Provider,
    ProviderError,
    SortOrder,
    UnsupportedOperationError,
)
from providers.cursors import decode_cursor, encode_cursor

CURSOR_OWNER = "parley"
CURSOR_KIND = "inbox"
OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: list[tuple[Conversation, str]]  # (conversation, cursor after it)
    has_next: bool
    end_cursor: str | None
    failures: list[ProviderError]
    skipped: list[UnsupportedOperationError]


def sort_key(order: SortOrder, conversation: Conversation) -> tuple[datetime, str]:
    moment = conversation.created_at if order in (SortOrder.CREATED_DESC, SortOrder.CREATED_ASC) else conversation.updated_at
    return (moment or OLDEST, conversation.provider)


async def list_inbox(
    providers: Sequence[Provider], *, filter: ConversationFilter, order: SortOrder, first: int, after: str | None
) -> InboxPage:
    positions, done = _decode(after, order)
    active = [p for p in providers if p.name not in done]
    results = await asyncio.gather(
        *(p.list_conversations(filter=filter, order=order, first=first, after=positions.get(p.name)) for p in active),
        return_exceptions=True,
    )
    pages: dict[str, Page[Conversation]] = {}
    failures: list[ProviderError] = []
    skipped: list[UnsupportedOperationError] = []
    for provider, result in zip(active, results):
        if isinstance(result, UnsupportedOperationError):
            skipped.append(result)
            done.add(provider.name)
        elif isinstance(result, ProviderError):
            failures.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            pages[provider.name] = result
    page = _merge(pages, positions, done, order=order, first=first, failures=failures)
    return InboxPage(page.items, page.has_next, page.end_cursor, page.failures, skipped)


def _merge(
    pages: dict[str, Page[Conversation]],
    positions: dict[str, str | None],
    done: set[str],
    *,
    order: SortOrder,
    first: int,
    failures: list[ProviderError],
) -> InboxPage:
    descending = order in (SortOrder.UPDATED_DESC, SortOrder.CREATED_DESC)
    streams = [
        [(sort_key(order, c), name, i) for i, c in enumerate(page.items)] for name, page in pages.items()
    ]
    merged = heapq.merge(*streams, key=lambda row: row[0], reverse=descending)
    positions = dict(positions)
    emitted: dict[str, int] = {}
    items: list[tuple[Conversation, str]] = []
    for _, name, index in merged:
        if len(items) == first or _used_up_with_more(pages, emitted):
            break
        page = pages[name]
        positions[name] = page.cursors[index]
        emitted[name] = index + 1
        items.append((page.items[index], _encode(positions, done | _finished(pages, emitted), order)))
    for name, page in pages.items():
        if _used_up_with_more({name: page}, emitted):
            positions[name] = page.next_cursor
    finished = done | _finished(pages, emitted)
    more = bool(failures) or any(name not in finished for name in pages)
    end = _encode(positions, finished, order) if more or items else None
    return InboxPage(items=items, has_next=more, end_cursor=end, failures=failures, skipped=[])


def _used_up_with_more(pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> bool:
    """A page shorter than `first` that has more: that provider's next items may sort before anything
    still in the merge, so the merge stops there and the provider resumes from its `next_cursor`."""
    return any(page.next_cursor is not None and emitted.get(name, 0) == len(page.items) for name, page in pages.items())


def _finished(pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> set[str]:
    return {
        name for name, page in pages.items() if page.next_cursor is None and emitted.get(name, 0) == len(page.items)
    }


def _encode(positions: dict[str, str | None], done: set[str], order: SortOrder) -> str:
    return encode_cursor(CURSOR_OWNER, CURSOR_KIND, o=order.value, pos=positions, done=sorted(done))


def _decode(after: str | None, order: SortOrder) -> tuple[dict[str, Any], set[str]]:
    if after is None:
        return {}, set()
    state = decode_cursor(CURSOR_OWNER, CURSOR_KIND, after)
    if state.get("o") != order.value:
        raise InvalidRequestError("after: the cursor belongs to another orderBy", provider=CURSOR_OWNER, field="after")
    positions, done = state.get("pos"), state.get("done")
    if not isinstance(positions, dict) or not isinstance(done, list):
        raise InvalidRequestError("after: invalid cursor", provider=CURSOR_OWNER, field="after")
    return positions, set(done)
