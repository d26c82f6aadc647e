"""CleverTap records (the project's own API design, see fixtures/clevertap/README.md) map to exactly
the expected unified objects; filters and writes map to exactly the documented request bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from providers.clevertap import mapping
from providers.models import (
    Campaign,
    Channel,
    Conversation,
    ConversationFilter,
    ConversationStatus,
    Direction,
    Message,
    Participant,
    Priority,
    Role,
    SortOrder,
    VendorEvent,
)

FIXTURES = Path(__file__).parent / "fixtures" / "clevertap"
CONVERSATION_ID = "cv_01HZX3K7Q8M2V5T9B4N6C1D0EF"
PRIYA = Participant(id="user-4821", name="Priya Sharma", role=Role.CUSTOMER, external_id="__g7b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5")
ANA = Participant(id="ana@shop.example", name="Ana Lopez", role=Role.AGENT, email="ana@shop.example", external_id="ag_42")


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_a_conversation_record_maps_field_by_field() -> None:
    raw = load("conversation-response.json")["record"]
    last = raw["last_message"]
    assert mapping.parse_conversation(raw, provider="ct") == Conversation(
        provider="ct",
        vendor="clevertap",
        remote_id=CONVERSATION_ID,
        status=ConversationStatus.PENDING,
        vendor_status="Pending",
        created_at=at(1717236000),
        updated_at=at(1717243260),
        channel=Channel.WHATSAPP,
        customer=PRIYA,
        assignee=ANA,
        tags=("festive", "VIP"),
        campaign=Campaign(id="1712345678", name="Diwali Flash Sale"),
        active=True,
        last_message_at=at(1717243200),
        message_count=4,
        last_message=Message(
            provider="ct",
            remote_id="msg_01J0F3M5T2S8QK4W6Y1X9C7B3D",
            conversation_remote_id=CONVERSATION_ID,
            text="Is my refund processed?",
            author=PRIYA,
            direction=Direction.INBOUND,
            created_at=at(1717243200),
            vendor_data=last,
        ),
        vendor_data=raw,
    )


def test_an_unclaimed_inactive_record_has_no_assignee_channel_or_last_message() -> None:
    raw = load("conversations-page.json")["records"][1]
    conversation = mapping.parse_conversation(raw, provider="ct")
    assert (conversation.assignee, conversation.channel, conversation.last_message, conversation.last_message_at) == (
        None, None, None, None,
    )
    assert (conversation.status, conversation.active, conversation.tags) == (ConversationStatus.NEW, False, ())
    assert conversation.campaign == Campaign(id="1712000001", name="Spring newsletter")


@pytest.mark.parametrize(
    ("ticket_status", "status", "vendor_status"),
    [
        ("New", ConversationStatus.NEW, "New"),
        ("Pending", ConversationStatus.PENDING, "Pending"),
        ("Closed", ConversationStatus.CLOSED, "Closed"),
        ("closed", ConversationStatus.UNKNOWN, "closed"),
        ("Escalated", ConversationStatus.UNKNOWN, "Escalated"),
        (None, ConversationStatus.UNKNOWN, None),
    ],
)
def test_ticket_status_maps_to_the_unified_status_and_unknown_values_are_kept_raw(ticket_status, status, vendor_status) -> None:
    conversation = mapping.parse_conversation({"id": "cv_1", "ticket_status": ticket_status}, provider="ct")
    assert (conversation.status, conversation.vendor_status) == (status, vendor_status)


@pytest.mark.parametrize(
    ("raw", "channel"),
    [("whatsapp", Channel.WHATSAPP), ("SMS", Channel.SMS), ("in_app", Channel.IN_APP), ("push", Channel.PUSH),
     ("email", Channel.EMAIL), ("carrier_pigeon", Channel.UNKNOWN), (None, None), ("", None)],
)
def test_channel_comes_from_the_record_with_unknown_as_fallback(raw, channel) -> None:
    assert mapping.parse_conversation({"id": "cv_1", "channel": raw}, provider="ct").channel is channel


@pytest.mark.parametrize(("state", "active"), [("active", True), ("inactive", False), ("dormant", None), (None, None)])
def test_state_gives_active(state, active) -> None:
    assert mapping.parse_conversation({"id": "cv_1", "state": state}, provider="ct").active is active


@pytest.mark.parametrize("value", ["1717236000", True, None, 10**20, {"ts": 1}])
def test_a_time_that_is_not_epoch_seconds_is_none(value) -> None:
    assert mapping.parse_time(value) is None


def test_message_direction_and_agent_give_author_roles() -> None:
    campaign, reply, answer = load("messages-page.json")["records"]
    parsed = [mapping.parse_message(raw, provider="ct", conversation_id=CONVERSATION_ID) for raw in (campaign, reply, answer)]
    assert [(m.direction, m.author.role if m.author else None) for m in parsed] == [
        (Direction.OUTBOUND, Role.SYSTEM),  # the campaign message itself: no dashboard user sent it
        (Direction.INBOUND, Role.CUSTOMER),
        (Direction.OUTBOUND, Role.AGENT),
    ]
    assert parsed[2] == Message(
        provider="ct", remote_id="msg_01HZX3K7R2", conversation_remote_id=CONVERSATION_ID,
        text="Sorry about that, refunding now.", author=ANA, direction=Direction.OUTBOUND,
        created_at=at(1717237200), vendor_data=answer,
    )


def test_an_unknown_direction_falls_back_on_whether_an_agent_sent_it() -> None:
    agent = {"id": "ag_1", "email": "a@x.example", "name": "A"}
    sent = mapping.parse_message({"id": "m1", "direction": "sideways", "agent": agent}, provider="ct")
    received = mapping.parse_message({"id": "m2", "direction": "sideways", "agent": None}, provider="ct")
    assert (sent.direction, received.direction) == (Direction.OUTBOUND, Direction.INBOUND)


def test_user_replied_event_gives_the_conversation_and_the_customer_message() -> None:
    body = load("webhook-user-replied.json")
    [event] = mapping.parse_webhook(body, provider="ct")
    assert event.conversation_remote_id == CONVERSATION_ID
    assert event.conversation == mapping.parse_conversation(body["record"], provider="ct")
    assert event.message is not None and event.message.remote_id == "msg_01HZX3K7R4"
    assert event.message.author == PRIYA and event.message.direction is Direction.INBOUND


def test_other_known_events_give_the_conversation_only() -> None:
    body = load("webhook-claimed.json")
    assert mapping.parse_webhook(body, provider="ct") == [
        VendorEvent(CONVERSATION_ID, conversation=mapping.parse_conversation(body["record"], provider="ct"))
    ]
    changed = {**body, "event": "conversation.ticket_status_changed"}
    assert [e.message for e in mapping.parse_webhook(changed, provider="ct")] == [None]


def test_an_unknown_event_name_gives_no_events() -> None:
    assert mapping.parse_webhook({"event": "conversation.archived", "ts": 1, "record": {}}, provider="ct") == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"ts": 1, "record": {"id": "cv_1"}},
        {"event": "conversation.claimed", "record": "cv_1"},
        {"event": "conversation.claimed", "record": {"user_name": "no id"}},
        {"event": "conversation.user_replied", "record": {"id": "cv_1"}},
        {"event": "conversation.user_replied", "record": {"id": "cv_1"}, "message": {"text": "no id"}},
    ],
)
def test_a_body_parley_does_not_understand_is_refused(body) -> None:
    with pytest.raises(ValueError):
        mapping.parse_webhook(body, provider="ct")


# ---- outbound -----------------------------------------------------------------------------------


def test_native_filters_and_the_order_become_the_listing_body() -> None:
    wanted = ConversationFilter(
        status=(ConversationStatus.CLOSED, ConversationStatus.NEW, ConversationStatus.OPEN),
        search="refund", campaign="Diwali Flash Sale", tags=("VIP",), active=False,
    )
    assert mapping.build_listing_body(wanted, SortOrder.CREATED_ASC) == {
        "sort_by": "created_ts", "sort_order": "asc",
        "ticket_status": ["New", "Closed"],  # OPEN cannot be held by CleverTap: it is dropped
        "search": "refund", "campaign": "Diwali Flash Sale", "label": "VIP", "state": "inactive",
    }


@pytest.mark.parametrize(
    ("order", "sort"),
    [(SortOrder.UPDATED_DESC, ("updated_ts", "desc")), (SortOrder.UPDATED_ASC, ("updated_ts", "asc")),
     (SortOrder.CREATED_DESC, ("created_ts", "desc")), (SortOrder.CREATED_ASC, ("created_ts", "asc"))],
)
def test_each_order_is_sent_as_sort_by_and_sort_order(order, sort) -> None:
    body = mapping.build_listing_body(ConversationFilter(), order)
    assert body == {"sort_by": sort[0], "sort_order": sort[1]}


def test_several_tags_and_after_fetch_filters_are_not_sent() -> None:
    wanted = ConversationFilter(
        tags=("vip", "festive"), channel=(Channel.SMS,), assignee_id="ana@shop.example",
        status=(ConversationStatus.NEW, ConversationStatus.UNKNOWN), updated_after=at(1717236000),
    )
    assert mapping.build_listing_body(wanted, SortOrder.UPDATED_DESC) == {"sort_by": "updated_ts", "sort_order": "desc"}


def test_a_status_filter_clevertap_cannot_hold_matches_nothing() -> None:
    only_open = ConversationFilter(status=(ConversationStatus.OPEN, ConversationStatus.SOLVED))
    assert mapping.build_listing_body(only_open, SortOrder.UPDATED_DESC) is None


def test_labels_match_ignoring_case_and_any_of_several() -> None:
    conversation = mapping.parse_conversation(load("conversation-response.json")["record"], provider="ct")
    assert mapping.matches(ConversationFilter(tags=("vip", "nope")), conversation)
    assert not mapping.matches(ConversationFilter(tags=("nope", "other")), conversation)
    assert mapping.matches(ConversationFilter(search="REFUND", assignee_id="ana@shop.example"), conversation)
    assert not mapping.matches(ConversationFilter(priority=(Priority.HIGH,)), conversation)


def test_write_payloads_are_the_documented_bodies() -> None:
    assert mapping.build_claim_payload("cv_1", "ana@shop.example") == {"id": "cv_1", "agent": {"email": "ana@shop.example"}}
    assert mapping.build_reply_payload("cv_1", "ana@shop.example", "Hi") == {
        "id": "cv_1", "agent": {"email": "ana@shop.example"}, "message": {"type": "text", "text": "Hi"},
    }
    assert [mapping.build_ticket_status_payload("cv_1", s)["ticket_status"] for s in mapping.STATUS_TO_VENDOR] == [
        "New", "Pending", "Closed",
    ]
    with pytest.raises(KeyError):
        mapping.build_ticket_status_payload("cv_1", ConversationStatus.SOLVED)


def test_a_records_last_message_shown_without_its_agent_is_its_owners() -> None:
    """A record's `last_message` carries no `agent`; only the agent who holds a conversation replies in
    it (first agent wins), so an outbound one is the owner's, as the same message in the history says."""
    owner = {"id": "u_1", "email": "asha.rao@example.com", "name": "Asha Rao"}
    record = {"id": "cv_1", "agent": owner, "last_message": {"id": "msg_1", "text": "On it", "ts": 1709294580, "direction": "outbound"}}
    last = mapping.parse_conversation(record, provider="ct").last_message
    assert last is not None and last.author == Participant(id="asha.rao@example.com", name="Asha Rao", role=Role.AGENT,
                                                           email="asha.rao@example.com", external_id="u_1")
    unowned = mapping.parse_conversation({**record, "agent": None}, provider="ct").last_message
    assert unowned is not None and unowned.author is not None and unowned.author.role is Role.SYSTEM  # CleverTap's own
    full = mapping.parse_message({**record["last_message"], "agent": owner}, provider="ct")
    assert full.author == last.author
