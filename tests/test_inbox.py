"""`list_inbox`: one conversation list merged across providers, paged with one opaque cursor."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.inbox import InboxCursor, InboxPage, Mark, gathered, list_inbox
from providers.base import Capability
from providers.cursors import decode_cursor, encode_cursor
from providers.errors import InvalidRequestError, ProviderTimeoutError, ProviderUnavailableError
from providers.models import Conversation, ConversationFilter, ConversationStatus, Page, SortOrder

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=m) for m in range(4)]  # few values, so ties are frequent
LATER = T0 + timedelta(days=1)  # newer than every generated conversation
DESCENDING = {SortOrder.UPDATED_DESC, SortOrder.CREATED_DESC}
NO_FILTER = ConversationFilter()
FAKE_KIND = "fake-conversations"


def conversation(
    provider: str,
    remote_id: str,
    *,
    created: datetime = T0,
    updated: datetime | None = None,
    status: ConversationStatus = ConversationStatus.OPEN,
) -> Conversation:
    return Conversation(
        provider=provider,
        vendor="fake",
        remote_id=remote_id,
        status=status,
        vendor_status=status.value,
        created_at=created,
        updated_at=updated or created,
        topic=f"topic of {remote_id}",
    )


def moment(order: SortOrder, item: Conversation) -> datetime:
    value = item.created_at if order in (SortOrder.CREATED_DESC, SortOrder.CREATED_ASC) else item.updated_at
    assert value is not None
    return value


def identity(item: Conversation) -> tuple[str, str]:
    return (item.provider, item.remote_id)


class FakeProvider:
    """A provider over a sorted in-memory list, paged with skip offsets (like Socialboards skip/take).

    `scan` bounds how many rows one call looks at before applying the filter, as a vendor's maximum
    `take` does; with a filter that can give a page shorter than `first` that still has a next page.
    """

    vendor = "fake"
    capabilities = frozenset({Capability.LIST_CONVERSATIONS, Capability.FILTER_STATUS})

    def __init__(self, name: str, conversations: Sequence[Conversation] = (), *, scan: int | None = None) -> None:
        self.name = name
        self.conversations = list(conversations)
        self.scan = scan
        self.fail_with: list[Exception] = []  # raised by the next calls, one each
        self.calls: list[str | None] = []  # the `after` of every call
        self.fail_hydrate_with: list[Exception] = []
        self.hydrated: list[str] = []  # ids of every conversation hydrate was asked for

    def ordered(self, order: SortOrder) -> list[Conversation]:
        return sorted(
            self.conversations, key=lambda c: (moment(order, c), c.remote_id), reverse=order in DESCENDING
        )

    async def list_conversations(
        self,
        *,
        filter: ConversationFilter,
        order: SortOrder,
        first: int,
        after: str | None,
        fields: frozenset[str] | None = None,
    ) -> Page[Conversation]:
        """Without `topic` in `fields`, rows come without it (like a vendor whose list lacks a field)."""
        self.calls.append(after)
        if self.fail_with:
            raise self.fail_with.pop(0)
        offset = decode_cursor(self.name, FAKE_KIND, after)["offset"] if after else 0
        rows = self.ordered(order)
        window = rows[offset : offset + min(first, self.scan or first)]
        items: list[Conversation] = []
        cursors: list[str] = []
        for index, item in enumerate(window):
            if filter.matches(item):
                light = fields is not None and "topic" not in fields
                items.append(replace(item, topic=None, missing=frozenset({"topic"})) if light else item)
                cursors.append(encode_cursor(self.name, FAKE_KIND, offset=offset + index + 1))
        end = offset + len(window)
        next_cursor = encode_cursor(self.name, FAKE_KIND, offset=end) if end < len(rows) else None
        return Page(tuple(items), next_cursor, tuple(cursors))

    async def hydrate(self, conversations: Sequence[Conversation], fields: frozenset[str] | None) -> list[Conversation | None]:
        self.hydrated += [c.remote_id for c in conversations]
        if self.fail_hydrate_with:
            raise self.fail_hydrate_with.pop(0)
        stored = {c.remote_id: c for c in self.conversations}
        return [stored.get(c.remote_id) for c in conversations]


async def page_through(
    providers: Sequence[FakeProvider],
    *,
    order: SortOrder,
    first: int,
    filter: ConversationFilter = NO_FILTER,
    between_pages: Callable[[], None] | None = None,
) -> tuple[list[Conversation], list[InboxPage]]:
    """Follows `end_cursor` until `has_next` is false; fails if that never happens."""
    items: list[Conversation] = []
    pages: list[InboxPage] = []
    after: str | None = None
    while len(pages) < 10 + 2 * sum(len(p.conversations) for p in providers):  # rows inserted between pages add pages
        page = await list_inbox(providers, filter=filter, order=order, first=first, after=after)
        assert len(page.items) <= first
        assert page.failures == []
        pages.append(page)
        items += [item for item, _ in page.items]
        if not page.has_next:
            return items, pages
        assert page.end_cursor is not None
        after = page.end_cursor
        if between_pages is not None:
            between_pages()
    raise AssertionError(f"still has_next after {len(pages)} pages; got {len(items)} items")


def assert_once_each_in_order(items: list[Conversation], expected: list[Conversation], order: SortOrder) -> None:
    ids = [identity(item) for item in items]
    assert len(ids) == len(set(ids)), "an item came twice"
    assert set(ids) == {identity(item) for item in expected}
    assert all(item.missing == frozenset() and item.topic for item in items), "an item was not hydrated"
    moments = [moment(order, item) for item in items]
    assert moments == sorted(moments, reverse=order in DESCENDING)


# -- properties ------------------------------------------------------------------------------------

time_pairs = st.tuples(st.sampled_from(TIMES), st.sampled_from(TIMES))


@st.composite
def inboxes(draw: st.DrawFn, *, scanning: bool = False) -> list[FakeProvider]:
    providers = []
    for p in range(draw(st.integers(1, 4))):
        rows = draw(st.lists(st.tuples(time_pairs, st.booleans()), max_size=60))
        name = f"p{p}"
        items = [
            conversation(
                name,
                f"{name}-{i}",
                created=created,
                updated=updated,
                status=ConversationStatus.OPEN if open_ else ConversationStatus.CLOSED,
            )
            for i, ((created, updated), open_) in enumerate(rows)
        ]
        scan = draw(st.integers(1, 8)) if scanning else None
        providers.append(FakeProvider(name, items, scan=scan))
    return providers


property_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@property_settings
@given(providers=inboxes(), first=st.integers(1, 30), order=st.sampled_from(SortOrder))
async def test_paging_through_yields_every_conversation_once_in_sort_order(
    providers: list[FakeProvider], first: int, order: SortOrder
) -> None:
    items, pages = await page_through(providers, order=order, first=first)
    everything = [c for p in providers for c in p.conversations]
    assert_once_each_in_order(items, everything, order)
    assert all(len(page.items) == first for page in pages[:-1])  # full pages while there is more


@property_settings
@given(providers=inboxes(scanning=True), first=st.integers(1, 30), order=st.sampled_from(SortOrder))
async def test_paging_through_short_filtered_pages_yields_every_match_once_in_sort_order(
    providers: list[FakeProvider], first: int, order: SortOrder
) -> None:
    only_open = ConversationFilter(status=(ConversationStatus.OPEN,))
    items, _ = await page_through(providers, order=order, first=first, filter=only_open)
    matching = [c for p in providers for c in p.conversations if only_open.matches(c)]
    assert_once_each_in_order(items, matching, order)


@settings(property_settings, report_multiple_bugs=False)
@given(providers=inboxes(), first=st.integers(1, 30), order=st.sampled_from(SortOrder), data=st.data())
async def test_conversations_added_between_pages_cause_no_duplicate_no_missing_item_and_keep_the_order(
    providers: list[FakeProvider], first: int, order: SortOrder, data: st.DataObject
) -> None:
    original = [c for p in providers for c in p.conversations]
    fresh = itertools.count()

    pages_with_inserts = itertools.count()

    def add_newer_conversations() -> None:
        if next(pages_with_inserts) >= 10:  # in ascending order new ones join the end: let paging catch up
            return
        for _ in range(data.draw(st.integers(0, 3), label="added")):
            target = data.draw(st.sampled_from(providers), label="provider")
            n = next(fresh)
            target.conversations.append(
                conversation(target.name, f"{target.name}-new-{n}", created=LATER, updated=LATER + timedelta(seconds=n))
            )

    items, _ = await page_through(providers, order=order, first=first, between_pages=add_newer_conversations)
    ids = [identity(item) for item in items]
    assert len(ids) == len(set(ids)), "an item came twice"
    assert {identity(c) for c in original} <= set(ids), "an original item was skipped"
    moments = [moment(order, item) for item in items]
    assert moments == sorted(moments, reverse=order in DESCENDING), "the order was broken"


@property_settings
@given(providers=inboxes(), first=st.integers(1, 30), order=st.sampled_from(SortOrder), data=st.data())
async def test_each_edge_cursor_resumes_right_after_its_item(
    providers: list[FakeProvider], first: int, order: SortOrder, data: st.DataObject
) -> None:
    items, pages = await page_through(providers, order=order, first=first)
    edges = [cursor for page in pages for _, cursor in page.items]
    if not edges:
        return
    index = data.draw(st.integers(0, len(edges) - 1), label="edge")
    rest = await list_inbox(providers, filter=NO_FILTER, order=order, first=len(items) + 1, after=edges[index])
    assert [identity(c) for c, _ in rest.items] == [identity(c) for c in items[index + 1 :]]
    assert rest.has_next is False


# -- examples --------------------------------------------------------------------------------------


def provider_with(name: str, *minutes: int, scan: int | None = None) -> FakeProvider:
    items = [conversation(name, f"{name}-{m}", created=T0 + timedelta(minutes=m)) for m in minutes]
    return FakeProvider(name, items, scan=scan)


def names(page: InboxPage) -> list[str]:
    return [c.remote_id for c, _ in page.items]


async def test_merges_providers_by_updated_time_newest_first() -> None:
    a, b = provider_with("a", 5, 3, 1), provider_with("b", 4, 2)
    page = await list_inbox([a, b], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=10, after=None)
    assert names(page) == ["a-5", "b-4", "a-3", "b-2", "a-1"]
    assert page.has_next is False


async def test_a_failing_provider_is_reported_and_the_others_are_listed() -> None:
    a, down, c = provider_with("a", 6, 4), provider_with("down", 5, 3), provider_with("c", 2)
    outage = ProviderUnavailableError("vendor answered 503", provider="down", status_code=503)
    down.fail_with.append(outage)
    page = await list_inbox([a, down, c], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=10, after=None)
    assert page.failures == [outage]
    assert names(page) == ["a-6", "a-4", "c-2"]
    assert page.has_next is True and page.end_cursor is not None

    again = await list_inbox(
        [a, down, c], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=10, after=page.end_cursor
    )
    assert again.failures == []
    assert down.calls == [None, None]  # asked again from where it stood: the start
    assert names(again) == ["down-5", "down-3"]
    assert again.has_next is False


async def test_a_provider_failing_mid_list_resumes_from_its_kept_position() -> None:
    a, flaky = provider_with("a", 9, 7, 5, 3, 1), provider_with("flaky", 8, 6, 4, 2)
    order = SortOrder.UPDATED_DESC
    first_page = await list_inbox([a, flaky], filter=NO_FILTER, order=order, first=2, after=None)
    assert names(first_page) == ["a-9", "flaky-8"]
    flaky.fail_with.append(ProviderTimeoutError("no answer within 10 s", provider="flaky"))
    second = await list_inbox([a, flaky], filter=NO_FILTER, order=order, first=2, after=first_page.end_cursor)
    assert [type(e) for e in second.failures] == [ProviderTimeoutError]
    assert names(second) == ["a-7", "a-5"]
    rest, _ = await page_through_from(second.end_cursor, [a, flaky], order=order, first=2)
    assert rest == ["flaky-6", "flaky-4", "a-3", "flaky-2", "a-1"]


async def page_through_from(
    after: str | None, providers: Sequence[FakeProvider], *, order: SortOrder, first: int
) -> tuple[list[str], int]:
    got: list[str] = []
    for pages in itertools.count(1):
        page = await list_inbox(providers, filter=NO_FILTER, order=order, first=first, after=after)
        got += names(page)
        if not page.has_next:
            return got, pages
        after = page.end_cursor
        assert pages < 50, "paging did not finish"
    raise AssertionError("unreachable")


async def test_an_error_that_is_not_a_provider_error_propagates() -> None:
    a, broken = provider_with("a", 1), provider_with("broken", 2)
    broken.fail_with.append(KeyError("bug in the adapter"))
    with pytest.raises(KeyError, match="bug in the adapter"):
        await list_inbox([a, broken], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=None)


async def test_one_failing_provider_alone_is_reported_as_among_others_and_a_bug_still_propagates() -> None:
    down = provider_with("down", 5, 3)
    outage = ProviderUnavailableError("vendor answered 503", provider="down", status_code=503)
    down.fail_with.append(outage)
    page = await list_inbox([down], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=10, after=None)
    assert page.failures == [outage] and names(page) == [] and page.has_next is True
    again = await list_inbox([down], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=10, after=page.end_cursor)
    assert names(again) == ["down-5", "down-3"] and down.calls == [None, None]
    broken = provider_with("broken", 2)
    broken.fail_with.append(KeyError("bug in the adapter"))
    with pytest.raises(KeyError, match="bug in the adapter"):
        await list_inbox([broken], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=None)


GATHER_OUTCOMES = [
    "a value",
    ProviderTimeoutError("no answer within 10 s", provider="p"),
    KeyError("bug"),
]


@pytest.mark.parametrize("count", [0, 1, 2, 3])
@pytest.mark.parametrize("outcome", GATHER_OUTCOMES, ids=["value", "provider-error", "bug"])
async def test_gathered_answers_what_gather_with_return_exceptions_answers(count: int, outcome: object) -> None:
    async def one(index: int) -> object:
        await asyncio.sleep(0)
        if isinstance(outcome, Exception) and index == count - 1:
            raise outcome
        return (outcome, index)

    general = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    assert await gathered([one(i) for i in range(count)]) == list(general)


async def test_gathered_lets_a_cancelled_error_through_where_gather_returns_it_for_its_caller_to_raise() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError()

    [returned] = await asyncio.gather(cancelled(), return_exceptions=True)
    assert isinstance(returned, asyncio.CancelledError)
    with pytest.raises(asyncio.CancelledError):
        await gathered([cancelled()])


@pytest.mark.parametrize("after", ["not a cursor!", "e30", "bm9wZQ", ""])
async def test_an_after_that_is_not_an_inbox_cursor_is_refused(after: str) -> None:
    with pytest.raises(InvalidRequestError, match="invalid cursor"):
        await list_inbox([provider_with("a", 1)], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=after)


async def test_a_providers_own_cursor_is_refused_as_an_inbox_cursor() -> None:
    a = provider_with("a", 3, 2, 1)
    own = await a.list_conversations(filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=1, after=None)
    assert own.next_cursor is not None
    with pytest.raises(InvalidRequestError, match="not issued for this list"):
        await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=own.next_cursor)


async def test_an_inbox_cursor_with_a_broken_state_is_refused() -> None:
    after = encode_cursor("parley", "inbox", o=SortOrder.UPDATED_DESC.value, pos=["a"], done=[])
    with pytest.raises(InvalidRequestError, match="invalid cursor"):
        await list_inbox([provider_with("a", 1)], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=after)


@pytest.mark.parametrize("order", list(SortOrder))
def test_an_inbox_cursor_decodes_to_the_state_it_encoded(order: SortOrder) -> None:
    cursor = InboxCursor(
        order,
        positions={"a": encode_cursor("a", FAKE_KIND, offset=3), "b": None},
        done=frozenset({"c"}),
        marks={"a": Mark(T0, ("a-1", "a-2")), "b": Mark(LATER)},
    )
    assert InboxCursor.decode(cursor.encode()) == cursor


async def test_every_cursor_list_inbox_hands_out_decodes_and_encodes_back_to_itself() -> None:
    a, b = provider_with("a", 6, 4, 1), provider_with("b", 5, 4, 2)
    page = await list_inbox([a, b], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=4, after=None)
    assert names(page) == ["a-6", "b-5", "b-4", "a-4"] and page.end_cursor is not None
    for cursor in [cursor for _, cursor in page.items] + [page.end_cursor]:
        assert InboxCursor.decode(cursor).encode() == cursor
    tie = T0 + timedelta(minutes=4)
    assert InboxCursor.decode(page.end_cursor).marks == {"a": Mark(tie, ("a-4",)), "b": Mark(tie, ("b-4",))}


def tampered(cursor: str, **changes: object) -> str:
    """`cursor` re-issued with some of its state replaced."""
    state = decode_cursor("parley", "inbox", cursor)
    owner, kind = state.pop("p"), state.pop("k")
    return encode_cursor(owner, kind, **{**state, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"o": "SIDEWAYS"},
        {"o": ["UPDATED_DESC"]},
        {"pos": ["a"]},
        {"pos": {"a": 7}},
        {"done": "a"},
        {"done": [1]},
        {"mark": []},
        {"mark": {"a": ["not a time", []]}},
        {"mark": {"a": ["2024-03-01T12:00:00", []]}},  # no UTC offset
        {"mark": {"a": ["2024-03-01T12:00:00+00:00", "a-1"]}},
        {"mark": {"a": ["2024-03-01T12:00:00+00:00"]}},
    ],
    ids=repr,
)
async def test_a_tampered_inbox_cursor_is_refused(changes: dict[str, object]) -> None:
    a = provider_with("a", 3, 2, 1)
    page = await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=1, after=None)
    assert page.end_cursor is not None
    for after in (tampered(page.end_cursor, **changes), page.end_cursor[: len(page.end_cursor) // 2]):
        with pytest.raises(InvalidRequestError, match="invalid cursor") as caught:
            await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=1, after=after)
        assert caught.value.field == "after"
        with pytest.raises(InvalidRequestError, match="invalid cursor"):
            InboxCursor.decode(after)


@pytest.mark.parametrize("other", [o for o in SortOrder if o is not SortOrder.UPDATED_DESC])
async def test_a_cursor_made_for_another_order_by_is_refused(other: SortOrder) -> None:
    a = provider_with("a", 3, 2, 1)
    page = await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=1, after=None)
    assert page.end_cursor is not None
    with pytest.raises(InvalidRequestError, match="another orderBy") as caught:
        await list_inbox([a], filter=NO_FILTER, order=other, first=1, after=page.end_cursor)
    assert caught.value.field == "after"


async def test_an_empty_inbox_has_no_next_page_and_no_end_cursor() -> None:
    page = await list_inbox(
        [FakeProvider("a"), FakeProvider("b")], filter=NO_FILTER, order=SortOrder.CREATED_ASC, first=5, after=None
    )
    assert (page.items, page.has_next, page.end_cursor, page.failures) == ([], False, None, [])


async def test_an_exhausted_provider_is_not_asked_again() -> None:
    small, big = provider_with("small", 10), provider_with("big", 5, 4, 3, 2, 1)
    page = await list_inbox([small, big], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=2, after=None)
    assert names(page) == ["small-10", "big-5"]
    await list_inbox([small, big], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=2, after=page.end_cursor)
    assert small.calls == [None]


async def test_a_short_page_that_has_more_does_not_let_later_items_of_others_overtake_it() -> None:
    # "a" reads one row per call (a vendor's maximum take), so its page is shorter than `first`.
    a, b = provider_with("a", 5, 3, scan=1), provider_with("b", 4, 2)
    got, _ = await page_through_from(None, [a, b], order=SortOrder.UPDATED_DESC, first=3)
    assert got == ["a-5", "b-4", "a-3", "b-2"]


async def test_a_page_with_no_match_in_its_scan_window_still_moves_the_list_forward() -> None:
    closed = [conversation("a", f"a-closed-{i}", created=T0 + timedelta(minutes=10 - i), status=ConversationStatus.CLOSED) for i in range(2)]
    wanted = conversation("a", "a-open", created=T0)
    a = FakeProvider("a", [*closed, wanted], scan=2)
    only_open = ConversationFilter(status=(ConversationStatus.OPEN,))
    after: str | None = None
    got: list[str] = []
    for _ in range(5):
        page = await list_inbox([a], filter=only_open, order=SortOrder.UPDATED_DESC, first=5, after=after)
        got += names(page)
        if not page.has_next:
            break
        after = page.end_cursor
    assert got == ["a-open"]
    assert page.has_next is False


async def test_a_conversation_added_on_top_between_pages_does_not_repeat_the_last_one_seen() -> None:
    a = provider_with("a", 2, 1)
    first_page = await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=1, after=None)
    assert names(first_page) == ["a-2"]
    a.conversations.append(conversation("a", "a-new", created=LATER))
    second = await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=1, after=first_page.end_cursor)
    assert names(second) == ["a-1"]  # not a-2 again, which the offset now serves first


# -- two-phase listing: only the rows on the page are hydrated -------------------------------------


async def test_only_the_rows_that_make_the_page_are_hydrated_with_the_fields_asked_for() -> None:
    a, b = provider_with("a", *range(0, 40, 2)), provider_with("b", *range(1, 40, 2))
    page = await list_inbox([a, b], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=None, fields=frozenset({"topic"}))
    assert names(page) == ["b-39", "a-38", "b-37", "a-36", "b-35"]
    assert [c.topic for c, _ in page.items] == [f"topic of {n}" for n in names(page)]
    assert sorted(a.hydrated + b.hydrated) == sorted(names(page))  # 5 reads, not the 10 listed


async def test_rows_are_not_hydrated_when_the_query_selects_nothing_they_miss() -> None:
    a = provider_with("a", 3, 2, 1)
    page = await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=None, fields=frozenset({"status"}))
    assert names(page) == ["a-3", "a-2", "a-1"]
    assert a.hydrated == []


async def test_a_provider_whose_hydration_fails_is_left_out_and_keeps_its_place() -> None:
    a, flaky = provider_with("a", 9, 7, 5), provider_with("flaky", 8, 6)
    outage = ProviderUnavailableError("vendor answered 503", provider="flaky", status_code=503)
    flaky.fail_hydrate_with.append(outage)
    order, topic = SortOrder.UPDATED_DESC, frozenset({"topic"})
    page = await list_inbox([a, flaky], filter=NO_FILTER, order=order, first=3, after=None, fields=topic)
    assert page.failures == [outage]
    assert names(page) == ["a-9", "a-7", "a-5"]  # merged again without it
    assert all(c.topic for c, _ in page.items)
    rest = await list_inbox([a, flaky], filter=NO_FILTER, order=order, first=3, after=page.end_cursor, fields=topic)
    assert rest.failures == [] and names(rest) == ["flaky-8", "flaky-6"]
    assert rest.has_next is False


async def test_a_row_deleted_between_listing_and_hydrating_is_left_out() -> None:
    a = provider_with("a", 3, 2, 1)
    listed = a.list_conversations

    async def list_then_delete(**kw: object) -> Page[Conversation]:
        page = await listed(**kw)  # type: ignore[arg-type]
        a.conversations = [c for c in a.conversations if c.remote_id != "a-2"]
        return page

    a.list_conversations = list_then_delete  # type: ignore[method-assign]
    page = await list_inbox([a], filter=NO_FILTER, order=SortOrder.UPDATED_DESC, first=5, after=None, fields=frozenset({"topic"}))
    assert names(page) == ["a-3", "a-1"]


# -- the one-provider merge (no edge cursors read) against the general merge --------------------------


@st.composite
def one_provider_merges(draw: st.DrawFn) -> tuple[dict[str, Page[Conversation]], InboxCursor, int]:
    order = draw(st.sampled_from(SortOrder))
    times = draw(st.lists(st.sampled_from(TIMES), max_size=8))
    times.sort(reverse=order in DESCENDING)  # a provider's page comes in the listing's order
    items = tuple(conversation("solo", f"c{index}", created=at, updated=at) for index, at in enumerate(times))
    cursors = tuple(f"after-{index}" for index in range(len(items)))
    page = Page(items, draw(st.sampled_from([None, "more"])), cursors)
    mark = draw(st.one_of(st.none(), st.builds(Mark, st.sampled_from(TIMES), st.lists(st.sampled_from(["x", "c0"]), max_size=2).map(tuple))))
    start = InboxCursor(order, {"solo": draw(st.sampled_from([None, "before"]))}, frozenset(), {} if mark is None else {"solo": mark})
    return {"solo": page}, start, draw(st.integers(1, 10))


@given(one_provider_merges(), st.booleans())
def test_one_providers_merge_without_edge_cursors_ends_where_the_general_merge_ends(
    merge: tuple[dict[str, Page[Conversation]], InboxCursor, int], failed: bool
) -> None:
    from gateway.inbox import _merge

    pages, start, first = merge
    failures = [ProviderTimeoutError("slow", provider="other")] if failed else []
    fast = _merge(pages, start, first=first, failures=failures, edge_cursors=False)
    general = _merge(pages, start, first=first, failures=failures, edge_cursors=True)  # the heap, item by item
    assert [item for item, _ in fast.items] == [item for item, _ in general.items]
    assert all(cursor == "" for _, cursor in fast.items)
    assert (fast.has_next, fast.end_cursor) == (general.has_next, general.end_cursor)
    if general.end_cursor is not None:  # the same marks and positions, as the cursor carries them
        assert InboxCursor.decode(fast.end_cursor or "") == InboxCursor.decode(general.end_cursor)
