"""`models.constructor` (the mappers' fast way to build a frozen model) against the dataclass's own
`__init__`: the same object, field by field, and as frozen."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import models as m

TEXTS = st.one_of(st.none(), st.text(max_size=6))
TIMES = st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)))
PARTICIPANTS = st.one_of(st.none(), st.builds(m.Participant, id=TEXTS, name=TEXTS, role=st.sampled_from(m.Role)))
VENDOR_DATA = st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)
MESSAGE_FIELDS = st.fixed_dictionaries(
    {
        "provider": st.text(max_size=6), "remote_id": st.text(max_size=6), "conversation_remote_id": st.text(max_size=6),
        "text": TEXTS, "author": PARTICIPANTS, "direction": st.sampled_from(m.Direction), "created_at": TIMES,
    },
    optional={"channel": st.one_of(st.none(), st.sampled_from(m.Channel)), "imported": st.booleans(), "vendor_data": VENDOR_DATA},
)
CONVERSATION_FIELDS = st.fixed_dictionaries(
    {
        "provider": st.text(max_size=6), "vendor": st.text(max_size=6), "remote_id": st.text(max_size=6),
        "status": st.sampled_from(m.ConversationStatus), "vendor_status": TEXTS, "created_at": TIMES, "updated_at": TIMES,
    },
    optional={
        "topic": TEXTS, "priority": st.one_of(st.none(), st.sampled_from(m.Priority)), "customer": PARTICIPANTS,
        "assignee": PARTICIPANTS, "queue": st.one_of(st.none(), st.builds(m.QueueInfo, id=TEXTS)),
        "tags": st.lists(st.text(max_size=4), max_size=3).map(tuple), "message_count": st.one_of(st.none(), st.integers(0, 9)),
        "last_message": st.one_of(st.none(), MESSAGE_FIELDS.map(lambda fields: m.Message(**fields))),
        "vendor_data": VENDOR_DATA, "missing": st.frozensets(st.sampled_from(["tags", "customer"])),
    },
)


def same(made: Any, built: Any) -> None:
    assert type(made) is type(built) and made == built
    for spec in dataclasses.fields(built):  # the very values given, not equal copies
        given_value, expected = getattr(made, spec.name), getattr(built, spec.name)
        assert given_value is expected or (given_value == expected and spec.default_factory is not dataclasses.MISSING)


@given(MESSAGE_FIELDS)
def test_make_message_builds_what_message_builds(fields: dict[str, Any]) -> None:
    same(m.make_message(**fields), m.Message(**fields))


@given(CONVERSATION_FIELDS)
def test_make_conversation_builds_what_conversation_builds(fields: dict[str, Any]) -> None:
    same(m.make_conversation(**fields), m.Conversation(**fields))


def test_a_default_factory_gives_each_object_its_own_value() -> None:
    fields = {"provider": "p", "remote_id": "r", "conversation_remote_id": "c", "text": None, "author": None,
              "direction": m.Direction.INBOUND, "created_at": None}
    first, second = m.make_message(**fields), m.make_message(**fields)
    assert first.vendor_data == {} and first.vendor_data is not second.vendor_data


def test_what_constructor_makes_stays_frozen() -> None:
    made = m.make_conversation(provider="p", vendor="v", remote_id="r", status=m.ConversationStatus.OPEN,
                               vendor_status=None, created_at=datetime(2024, 1, 1, tzinfo=UTC), updated_at=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.topic = "changed"  # type: ignore[misc]


def test_constructor_refuses_a_missing_field_and_an_unknown_one() -> None:
    make = m.constructor(m.QueueInfo)
    assert make(id="q1") == m.QueueInfo(id="q1")
    with pytest.raises(TypeError, match="id"):
        make(position=3)
    with pytest.raises(TypeError, match="colour"):
        make(id="q1", colour="red")


def every_check(f: m.ConversationFilter, c: m.Conversation) -> bool:
    """`ConversationFilter.matches` as it was written before it stopped at the first failed check."""
    return all((
        f.status is None or c.status in f.status,
        f.priority is None or c.priority in f.priority,
        f.channel is None or c.channel in f.channel,
        f.tags is None or not set(f.tags).isdisjoint(c.tags),
        f.assignee_id is None or (c.assignee is not None and c.assignee.id == f.assignee_id),
        f.queue_ids is None or (c.queue is not None and c.queue.id in f.queue_ids),
        f.remote_ids is None or c.remote_id in f.remote_ids,
        f.search is None or any(v is not None and f.search.casefold() in v.casefold()
                                for v in (c.customer.name if c.customer else None, c.last_message.text if c.last_message else None)),
        (f.created_after is None and f.created_before is None) or (c.created_at is not None and (f.created_after is None or c.created_at > f.created_after) and (f.created_before is None or c.created_at < f.created_before)),
        (f.updated_after is None and f.updated_before is None) or (c.updated_at is not None and (f.updated_after is None or c.updated_at > f.updated_after) and (f.updated_before is None or c.updated_at < f.updated_before)),
    ))


def some(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.lists(values, max_size=2).map(tuple))


FILTERS = st.builds(
    m.ConversationFilter, status=some(st.sampled_from(m.ConversationStatus)), priority=some(st.sampled_from(m.Priority)),
    tags=some(st.text(max_size=2)), assignee_id=st.one_of(st.none(), st.text(max_size=2)), queue_ids=some(st.text(max_size=2)),
    remote_ids=some(st.text(max_size=2)), search=st.one_of(st.none(), st.text(max_size=2)),
    created_after=TIMES, created_before=TIMES, updated_after=TIMES, updated_before=TIMES,
)


@given(FILTERS, CONVERSATION_FIELDS.map(lambda fields: m.Conversation(**fields)))
def test_matches_answers_as_every_check_together(filter: m.ConversationFilter, conversation: m.Conversation) -> None:
    assert filter.matches(conversation) is every_check(filter, conversation)


@given(FILTERS, CONVERSATION_FIELDS.map(lambda fields: m.Conversation(**fields)))
def test_an_empty_filter_matches_every_conversation_and_only_an_empty_one_is_said_to_be(
    filter: m.ConversationFilter, conversation: m.Conversation
) -> None:
    """Infobip's listing skips `matches` for a filter `is_empty` (providers/infobip/provider.py)."""
    assert m.ConversationFilter().is_empty() and m.ConversationFilter().matches(conversation)
    assert filter.is_empty() is (filter == m.ConversationFilter())


@given(FILTERS)
def test_infobip_prefilter_is_the_filter_without_tags_and_search(filter: m.ConversationFilter) -> None:
    """It hands back the filter itself when it has neither, which is equal and, frozen, as good as a copy."""
    from providers.infobip.mapping import prefilter

    assert prefilter(filter) == dataclasses.replace(filter, tags=None, search=None)


def test_constructor_refuses_a_class_whose_init_does_more_than_set_fields() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived:
        value: int
        double: int = dataclasses.field(init=False, default=0)

    for cls in (Checked, Derived):
        with pytest.raises(TypeError, match="does more than set its fields"):
            m.constructor(cls)
