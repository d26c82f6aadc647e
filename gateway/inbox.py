"""One conversation list across providers: fan out, merge by the sort key, one opaque cursor.

The cursor (`InboxCursor`) keeps each provider's own cursor (the position right after the last item
of that provider that was emitted) and the providers that are exhausted. Each provider's items keep
that provider's order; the merge only interleaves them, so a page never skips an item of any provider.
A provider that fails keeps its position, so the next page can include it again.

Providers that page by offset (Socialboards skip/take, a snapshot-less vendor) serve again the rows that
newer conversations pushed down, and any provider may show a conversation that arrived since the last
page. So the cursor also keeps, per provider, a *mark* (`Mark`): the sort time of the last item the merge
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
from collections.abc import Iterable, Mapping, Sequence
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


@dataclass(frozen=True, slots=True)
class Mark:
    """For one provider: the sort time of the last item the merge emitted while that provider took part,
    and that provider's ids emitted at that time."""

    at: datetime
    seen: tuple[str, ...] = ()

    def covers(self, at: datetime, remote_id: str, *, descending: bool) -> bool:
        """Whether an item of this provider sorting at `at` was emitted already or sorts before the mark
        (so it is one served again, or one that arrived since the listing started)."""
        if at == self.at:
            return remote_id in self.seen
        return at > self.at if descending else at < self.at


@dataclass(frozen=True, slots=True)
class InboxCursor:
    """Where a merged listing stands: each provider's own cursor (None: from its start), the providers
    that are exhausted or left out, and the marks of the others. `encode()` is the opaque `after`."""

    order: SortOrder
    positions: Mapping[str, str | None] = field(default_factory=dict)
    done: frozenset[str] = frozenset()
    marks: Mapping[str, Mark] = field(default_factory=dict)

    def encode(self) -> str:
        live = {name: [mark.at.isoformat(), list(mark.seen)] for name, mark in self.marks.items() if name not in self.done}
        return encode_cursor(
            CURSOR_OWNER, CURSOR_KIND, o=self.order.value, pos=dict(self.positions), done=sorted(self.done), mark=live
        )

    @classmethod
    def decode(cls, cursor: str) -> InboxCursor:
        """The state `encode()` wrote; `InvalidRequestError` (field `after`) for anything else."""
        state = decode_cursor(CURSOR_OWNER, CURSOR_KIND, cursor)
        order, positions, done, marks = state.get("o"), state.get("pos"), state.get("done"), state.get("mark", {})
        valid = isinstance(order, str) and order in _ORDERS and isinstance(marks, dict)
        if not (valid and _str_map(positions) and _strs(done)):
            raise _invalid()
        return cls(SortOrder(order), positions, frozenset(done), {name: _mark(raw) for name, raw in marks.items()})


_ORDERS = frozenset(o.value for o in SortOrder)


def _invalid() -> InvalidRequestError:
    return InvalidRequestError("after: invalid cursor", provider=CURSOR_OWNER, field="after")


def _strs(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _str_map(value: object) -> TypeGuard[dict[str, str | None]]:
    return isinstance(value, dict) and all(item is None or isinstance(item, str) for item in value.values())


def _mark(raw: object) -> Mark:
    if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], str) and _strs(raw[1])):
        raise _invalid()
    try:
        at = datetime.fromisoformat(raw[0])
    except ValueError:
        raise _invalid() from None
    if at.tzinfo is None:  # every sort time is aware; a naive one would not compare with them
        raise _invalid()
    return Mark(at, tuple(raw[1]))


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
    edge_cursors: bool = True,
) -> InboxPage:
    """`fields`: the Conversation fields the caller reads (None: all). `edge_cursors=False`: the caller
    reads no item's cursor (only `end_cursor`), so each item's is left empty instead of encoded (about a
    tenth of a one-provider page of 20)."""
    start = _resume(after, order)
    active = [p for p in providers if p.name not in start.done]
    results = await gathered([_fetch(p, filter, order, first, start.positions.get(p.name), start.marks.get(p.name)) for p in active])
    pages: dict[str, Page[Conversation]] = {}
    failures: list[ProviderError] = []
    skipped: list[UnsupportedOperationError] = []
    left_out: set[str] = set()
    for provider, result in zip(active, results):
        if isinstance(result, UnsupportedOperationError):
            skipped.append(result)
            left_out.add(provider.name)
        elif isinstance(result, ProviderError):
            failures.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            pages[provider.name] = result
    if left_out:
        start = replace(start, done=start.done | left_out)
    by_name = {p.name: p for p in active}
    hydrated: dict[tuple[str, str], Conversation | None] = {}
    while True:
        page = _merge(pages, start, first=first, failures=failures, edge_cursors=edge_cursors)
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
    results = await gathered([providers[name].hydrate(wanted[name], fields) for name in names])  # type: ignore[attr-defined]
    failed: dict[str, ProviderError] = {}
    for name, result in zip(names, results):
        if isinstance(result, ProviderError):
            failed[name] = result
        elif isinstance(result, BaseException):
            raise result
        else:
            hydrated.update((_key(c), full) for c, full in zip(wanted[name], result))
    return failed


async def gathered(awaitables: list[Any]) -> list[Any]:
    """`asyncio.gather(*awaitables, return_exceptions=True)`. One awaitable (a one-provider inbox) is
    awaited in this task: gather would wrap it in a Task of its own, two more event-loop steps."""
    if len(awaitables) != 1:
        return list(await asyncio.gather(*awaitables, return_exceptions=True))
    try:
        return [await awaitables[0]]
    except Exception as exc:
        return [exc]  # a BaseException (CancelledError) propagates: gather would return it, and callers raise it


def _key(conversation: Conversation) -> tuple[str, str]:
    return conversation.provider, conversation.remote_id


def _resume(after: str | None, order: SortOrder) -> InboxCursor:
    if after is None:
        return InboxCursor(order)
    cursor = InboxCursor.decode(after)
    if cursor.order is not order:
        raise InvalidRequestError("after: the cursor belongs to another orderBy", provider=CURSOR_OWNER, field="after")
    return cursor


async def _fetch(
    provider: Provider, filter: ConversationFilter, order: SortOrder, first: int, after: str | None, mark: Mark | None
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
        kept = Page(kept.items + more.items, more.next_cursor, (*kept.cursors, *more.cursors))
    return kept


def _after_mark(page: Page[Conversation], mark: Mark | None, order: SortOrder) -> Page[Conversation]:
    """The page without the items the mark says were emitted already."""
    if mark is None:
        return page
    descending = order in (SortOrder.UPDATED_DESC, SortOrder.CREATED_DESC)
    kept = [
        (item, cursor)
        for item, cursor in zip(page.items, page.cursors)
        if not mark.covers(sort_key(order, item)[0], item.remote_id, descending=descending)
    ]
    return Page(tuple(i for i, _ in kept), page.next_cursor, tuple(c for _, c in kept))


def _marked(marks: dict[str, Mark], item: Conversation, order: SortOrder, merged: Iterable[str]) -> None:
    """Moves the mark of every provider that took part in the merge to the emitted item: whatever
    they serve later that sorts before it is either emitted already or arrived since."""
    at = sort_key(order, item)[0]
    for name in merged:
        mark = marks.get(name)
        if mark is None or mark.at != at:
            marks[name] = Mark(at)
    mark = marks[item.provider]
    marks[item.provider] = Mark(mark.at, (*mark.seen, item.remote_id))


def _merge(
    pages: dict[str, Page[Conversation]], start: InboxCursor, *, first: int, failures: list[ProviderError],
    edge_cursors: bool = True,
) -> InboxPage:
    order = start.order
    marks = dict(start.marks)
    emitted: dict[str, int] = {}
    items: list[tuple[Conversation, str]] = []
    if len(pages) == 1 and not edge_cursors:
        _take_one(pages, order, marks, emitted, items, first)
        return _ended(pages, start, marks, emitted, items, failures)
    descending = order in (SortOrder.UPDATED_DESC, SortOrder.CREATED_DESC)
    streams = [
        [(sort_key(order, c), name, i) for i, c in enumerate(page.items)] for name, page in pages.items()
    ]
    merged = heapq.merge(*streams, key=lambda row: row[0], reverse=descending)
    for _, name, index in merged:
        if len(items) == first or _used_up_with_more(pages, emitted):
            break
        page = pages[name]
        emitted[name] = index + 1
        _marked(marks, page.items[index], order, pages)
        if edge_cursors:
            after_item = InboxCursor(order, _positions(start, pages, emitted), start.done | _finished(pages, emitted), dict(marks))
            items.append((page.items[index], after_item.encode()))
        else:
            items.append((page.items[index], ""))
    return _ended(pages, start, marks, emitted, items, failures)


def _take_one(
    pages: dict[str, Page[Conversation]], order: SortOrder, marks: dict[str, Mark], emitted: dict[str, int],
    items: list[tuple[Conversation, str]], first: int,
) -> None:
    """The merge of one provider's page when no item's cursor is read: its first items in its own order,
    and its mark moved as `_marked` moves it item by item (tests/test_inbox.py compares the two)."""
    [(name, page)] = pages.items()
    taken = page.items[:first]
    if not taken:
        return
    mark = marks.get(name)
    at, seen = (mark.at, list(mark.seen)) if mark is not None else (None, [])
    for item in taken:
        moment = sort_key(order, item)[0]
        if moment != at:
            at, seen = moment, []
        seen.append(item.remote_id)
        items.append((item, ""))
    assert at is not None
    marks[name] = Mark(at, tuple(seen))
    emitted[name] = len(taken)


def _ended(
    pages: dict[str, Page[Conversation]], start: InboxCursor, marks: dict[str, Mark], emitted: dict[str, int],
    items: list[tuple[Conversation, str]], failures: list[ProviderError],
) -> InboxPage:
    """The page of the merged `items`: where each provider resumes, and whether anything is left."""
    order = start.order
    positions = _positions(start, pages, emitted)
    for name, page in pages.items():
        if _used_up_with_more({name: page}, emitted):
            positions[name] = page.next_cursor
    finished = start.done | _finished(pages, emitted)
    more = bool(failures) or any(name not in finished for name in pages)
    end = InboxCursor(order, positions, finished, marks).encode() if more or items else None
    return InboxPage(items=items, has_next=more, end_cursor=end, failures=failures)


def _positions(start: InboxCursor, pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> dict[str, str | None]:
    """Each provider's own cursor after the last of its items emitted (in the order providers were first
    emitted): only these cursors of a page are read, so a provider's lazy cursors encode no others."""
    positions = dict(start.positions)
    for name, count in emitted.items():
        positions[name] = pages[name].cursors[count - 1]
    return positions


def _used_up_with_more(pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> bool:
    """A page shorter than `first` that has more: that provider's next items may sort before anything
    still in the merge, so the merge stops there and the provider resumes from its `next_cursor`."""
    return any(page.next_cursor is not None and emitted.get(name, 0) == len(page.items) for name, page in pages.items())


def _finished(pages: dict[str, Page[Conversation]], emitted: dict[str, int]) -> set[str]:
    return {
        name for name, page in pages.items() if page.next_cursor is None and emitted.get(name, 0) == len(page.items)
    }
