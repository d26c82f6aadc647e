"""One conversation list across providers: fan out, merge by the sort key, one opaque cursor.

The cursor keeps each provider's own cursor (the position right after the last item of that provider
that was emitted) and the providers that are exhausted. Each provider's items keep that provider's
order; the merge only interleaves them, so a page never skips an item of any provider. A provider
that fails keeps its position, so the next page can include it again.

Providers that page by offset (Socialboards skip/take, a snapshot-less vendor) serve again the rows that
newer conversations pushed down, and any provider may show a conversation that arrived since the last
page. So the cursor also keeps, per provider, a *mark*: the sort time of the last item the merge
emitted while that provider took part, and that provider's ids emitted at that time. An item that
sorts before its provider's mark, or at it and already emitted, is dropped, so paging through yields
every conversation that existed at the start once and in order, even while new ones arrive (those are
left for a fresh listing). A provider that failed keeps its old mark, so it loses nothing.

A provider that cannot honour
the filter at all (`UnsupportedOperationError`) is left out of the whole listing and reported in
`skipped`, never given a chance to return wrong results.

Listing is two-phase: providers list with `fields=frozenset()` (ids and sort times; e.g. one Infobip
listing call, no per-row reads), the merge picks the page, and only the rows on it are hydrated with
the `fields` the query selected (`Hydrates`). A provider whose hydration fails is treated like one
whose listing failed: the page is merged again without it, and it keeps its place.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeGuard

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
from providers.base import Hydrates, implements
from providers.cursors import decode_cursor, encode_cursor

CURSOR_OWNER = "parley"
CURSOR_KIND = "inbox"
OLDEST = datetime.min.replace(tzinfo=UTC)
REFILL_ROUNDS = 3
LIST_FIELDS: frozenset[str] = frozenset()  # the first phase needs only ids and sort times


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: list[tuple[Conversation, str]]  # (conversation, cursor after it)
    has_next: bool
    end_cursor: str | None
    failures: list[ProviderError]
    skipped: list[UnsupportedOperationError] = field(default_factory=list)


def sort_key(order: SortOrder, conversation: Conversation) -> tuple[datetime, str]:
    moment = conversation.created_at if order in (SortOrder.CREATED_DESC, SortOrder.CREATED_ASC) else conversation.updated_at
    return (moment or OLDEST, conversation.provider)


async def list_inbox(
    providers: Sequence[Provider],
    *,
    filter: ConversationFilter,
    order: SortOrder,
    first: int,
    after: str | None,
    fields: frozenset[str] | None = None,
) -> InboxPage:
    """`fields`: the Conversation fields the caller reads (None: all)."""
    positions, done, marks = _decode(after, order)
    active = [p for p in providers if p.name not in done]
    results = await asyncio.gather(
        *(_fetch(p, filter, order, first, positions.get(p.name), marks.get(p.name)) for p in active),
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
    by_name = {p.name: p for p in active}
    hydrated: dict[tuple[str, str], Conversation | None] = {}
    while True:
        page = _merge(pages, positions, done, marks, order=order, first=first, failures=failures)
        failed = await _hydrate([c for c, _ in page.items], by_name, fields, hydrated)
        if not failed:
            break
        for name, exc in failed.items():
            del pages[name]
            failures.append(exc)
    items = [(hydrated.get(_key(c), c), cursor) for c, cursor in page.items]
    kept = [(c, cursor) for c, cursor in items if c is not None]  # None: deleted since it was listed
    return replace(page, items=kept, skipped=skipped)


async def _hydrate(
    items: list[Conversation],
    providers: dict[str, Provider],
    fields: frozenset[str] | None,
    hydrated: dict[tuple[str, str], Conversation | None],
) -> dict[str, ProviderError]:
    """Fills in the fields the rows on the page miss, one batch per provider, concurrently; adds the
    results to `hydrated` and returns the providers that failed."""
    wanted: dict[str, list[Conversation]] = {}
    for c in items:
        if _key(c) not in hydrated and c.missing & (c.missing if fields is None else fields):
            wanted.setdefault(c.provider, []).append(c)
    names = [name for name in wanted if implements(providers[name], Hydrates)]
    results = await asyncio.gather(
        *(providers[name].hydrate(wanted[name], fields) for name in names),  # type: ignore[attr-defined]
        return_exceptions=True,
    )
    failed: dict[str, ProviderError] = {}
    for name, result in zip(names, results):
        if isinstance(result, ProviderError):
            failed[name] = result
        elif isinstance(result, BaseException):
            raise result
        else:
            hydrated.update((_key(c), full) for c, full in zip(wanted[name], result))
    return failed


def _key(conversation: Conversation) -> tuple[str, str]:
    return conversation.provider, conversation.remote_id


async def _fetch(
    provider: Provider, filter: ConversationFilter, order: SortOrder, first: int, after: str | None, mark: list[Any] | None
) -> Page[Conversation]:
    """One provider's next items after its mark; rows served again are dropped and, a few times at
    most, replaced by reading on, so a page stays full."""
    page = await provider.list_conversations(filter=filter, order=order, first=first, after=after, fields=LIST_FIELDS)
    kept = _after_mark(page, mark, order)
    for _ in range(REFILL_ROUNDS):
        if len(kept.items) == len(page.items) or len(kept.items) >= first or kept.next_cursor is None:
            break
        page = await provider.list_conversations(
            filter=filter, order=order, first=first - len(kept.items), after=kept.next_cursor, fields=LIST_FIELDS
        )
        more = _after_mark(page, mark, order)
        kept = Page(kept.items + more.items, more.next_cursor, kept.cursors + more.cursors)
    return kept


def _after_mark(page: Page[Conversation], mark: list[Any] | None, order: SortOrder) -> Page[Conversation]:
    """The page without the items the mark says were emitted already."""
    if mark is None:
        return page
    moment, seen = datetime.fromisoformat(mark[0]), set(mark[1])
    descending = order in (SortOrder.UPDATED_DESC, SortOrder.CREATED_DESC)
    kept = [
        (item, cursor)
        for item, cursor in zip(page.items, page.cursors)
        if not _not_after(sort_key(order, item)[0], item.remote_id, moment, seen, descending)
    ]
    return Page(tuple(i for i, _ in kept), page.next_cursor, tuple(c for _, c in kept))


def _not_after(at: datetime, remote_id: str, moment: datetime, seen: set[str], descending: bool) -> bool:
    if at == moment:
        return remote_id in seen
    return at > moment if descending else at < moment


def _marked(marks: dict[str, list[Any]], item: Conversation, order: SortOrder, merged: Iterable[str]) -> None:
    """Moves the mark of every provider that took part in the merge to the emitted item: whatever
    they serve later that sorts before it is either emitted already or arrived since."""
    at = sort_key(order, item)[0].isoformat()
    for name in merged:
        mark = marks.get(name)
        if mark is None or mark[0] != at:
            marks[name] = [at, []]
    marks[item.provider][1].append(item.remote_id)


def _merge(
    pages: dict[str, Page[Conversation]],
    positions: dict[str, str | None],
    done: set[str],
    marks: dict[str, list[Any]],
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
    positions, marks = dict(positions), {name: [mark[0], list(mark[1])] for name, mark in marks.items()}
    emitted: dict[str, int] = {}
    items: list[tuple[Conversation, str]] = []
    for _, name, index in merged:
        if len(items) == first or _used_up_with_more(pages, emitted):
            break
        page = pages[name]
        positions[name] = page.cursors[index]
        emitted[name] = index + 1
        _marked(marks, page.items[index], order, pages)
        items.append((page.items[index], _encode(positions, done | _finished(pages, emitted), marks, order)))
    for name, page in pages.items():
        if _used_up_with_more({name: page}, emitted):
            positions[name] = page.next_cursor
    finished = done | _finished(pages, emitted)
    more = bool(failures) or any(name not in finished for name in pages)
    end = _encode(positions, finished, marks, order) if more or items else None
    return InboxPage(items=items, has_next=more, end_cursor=end, failures=failures)


def _used_up_with_more(pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> bool:
    """A page shorter than `first` that has more: that provider's next items may sort before anything
    still in the merge, so the merge stops there and the provider resumes from its `next_cursor`."""
    return any(page.next_cursor is not None and emitted.get(name, 0) == len(page.items) for name, page in pages.items())


def _finished(pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> set[str]:
    return {
        name for name, page in pages.items() if page.next_cursor is None and emitted.get(name, 0) == len(page.items)
    }


def _encode(positions: dict[str, str | None], done: set[str], marks: dict[str, list[Any]], order: SortOrder) -> str:
    live = {name: mark for name, mark in marks.items() if name not in done}
    return encode_cursor(CURSOR_OWNER, CURSOR_KIND, o=order.value, pos=positions, done=sorted(done), mark=live)


def _decode(after: str | None, order: SortOrder) -> tuple[dict[str, Any], set[str], dict[str, list[Any]]]:
    if after is None:
        return {}, set(), {}
    state = decode_cursor(CURSOR_OWNER, CURSOR_KIND, after)
    if state.get("o") != order.value:
        raise InvalidRequestError("after: the cursor belongs to another orderBy", provider=CURSOR_OWNER, field="after")
    positions, done, marks = state.get("pos"), state.get("done"), state.get("mark", {})
    if not _valid_positions(positions) or not _strings(done) or not _valid_marks(marks):
        raise InvalidRequestError("after: invalid cursor", provider=CURSOR_OWNER, field="after")
    return positions, set(done), marks


def _valid_positions(positions: object) -> TypeGuard[dict[str, Any]]:
    return isinstance(positions, dict) and all(p is None or isinstance(p, str) for p in positions.values())


def _strings(values: object) -> TypeGuard[list[str]]:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _valid_marks(marks: object) -> TypeGuard[dict[str, list[Any]]]:
    """Each provider's mark: an aware time (it is compared with vendors' times) and the ids emitted at it."""
    if not isinstance(marks, dict):
        return False
    for mark in marks.values():
        if not (isinstance(mark, list) and len(mark) == 2 and isinstance(mark[0], str) and _strings(mark[1])):
            return False
        try:
            moment = datetime.fromisoformat(mark[0])
        except ValueError:
            return False
        if moment.tzinfo is None:
            return False
    return True
