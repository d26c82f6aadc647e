"""Infobip JSON <-> neutral models: documented examples, fallbacks, payload builders. No HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers._time import parse_datetime
from providers.infobip import mapping, replies
from providers.models import (
    Channel,
    Conversation,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    CustomField,
    Direction,
    Message,
    NewConversation,
    Participant,
    ParticipantInput,
    Priority,
    QueueInfo,
    Role,
)

FIXTURES = Path(__file__).parent / "fixtures" / "infobip"
SEED_TIME = datetime(2025, 4, 24, 11, 25, 41, 58000, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def message(id: str, direction: str = "INBOUND", **kw: object) -> dict:
    return {
        "id": id,
        "from": "447700900001",
        "to": "447700900999",
        "channel": "WHATSAPP",
        "direction": direction,
        "conversationId": "c1",
        "createdAt": "2024-03-01T10:00:00.000+0000",
        "updatedAt": "2024-03-01T10:00:00.000+0000",
        "contentType": "TEXT",
        "content": {"text": f"text {id}"},
        **kw,
    }


# ---- conversations ------------------------------------------------------------------------------


def test_the_seed_list_example_maps_to_exactly_the_unified_conversation() -> None:
    [raw] = load("list-conversations.json")["conversations"]
    assert mapping.parse_conversation(raw, provider="ib") == Conversation(
        provider="ib",
        vendor="infobip",
        remote_id="37B93F4D2BA3C58B58526EAEAA1AB35C",
        status=ConversationStatus.OPEN,
        vendor_status="OPEN",
        created_at=SEED_TIME,
        updated_at=SEED_TIME,
        topic="Conversation demo topic",
        summary=None,
        priority=Priority.NORMAL,
        channel=Channel.NO_CHANNEL,
        customer=None,
        assignee=None,
        queue=None,
        tags=(),
        last_message_at=None,
        message_count=None,
        last_message=None,
        vendor_data=raw,
    )


def test_hydration_gives_tags_customer_assignee_queue_and_last_message() -> None:
    [seed] = load("list-conversations.json")["conversations"]
    raw = {**seed, "agentId": "agent-7", "queueId": "queue-2"}
    first = message("m1", **{"from": "447700900123"})
    latest = message("m9", "OUTBOUND", createdAt="2024-03-02T08:00:00.500+0000")
    hydration = mapping.Hydration(tags=("vip", "billing"), first_inbound=first, latest=latest, message_count=9)
    conversation = mapping.parse_conversation(raw, provider="ib", hydration=hydration)
    assert conversation.tags == ("vip", "billing")
    assert conversation.customer == Participant(id="447700900123", name=None, role=Role.CUSTOMER)
    assert conversation.assignee == Participant(id="agent-7", name=None, role=Role.AGENT)
    assert conversation.queue == QueueInfo(id="queue-2")
    assert conversation.last_message == mapping.parse_message(latest, provider="ib", conversation_id=seed["id"])
    assert conversation.last_message_at == datetime(2024, 3, 2, 8, 0, 0, 500000, tzinfo=UTC)
    assert conversation.message_count == 9


@pytest.mark.parametrize(
    ("vendor", "unified"),
    [
        ("OPEN", ConversationStatus.OPEN),
        ("WAITING", ConversationStatus.PENDING),
        ("SOLVED", ConversationStatus.SOLVED),
        ("CLOSED", ConversationStatus.CLOSED),
        ("ARCHIVED", ConversationStatus.UNKNOWN),
        ("open", ConversationStatus.UNKNOWN),
    ],
)
def test_status_maps_and_an_unknown_value_falls_back_keeping_the_raw_value(vendor: str, unified) -> None:
    conversation = mapping.parse_conversation({"id": "c", "status": vendor}, provider="ib")
    assert (conversation.status, conversation.vendor_status) == (unified, vendor)


def test_unknown_priority_and_channel_fall_back_and_missing_ones_stay_unknown_to_us() -> None:
    odd = mapping.parse_conversation({"id": "c", "priority": "CRITICAL", "channel": "CARRIER_PIGEON"}, provider="ib")
    assert (odd.priority, odd.channel) == (Priority.UNKNOWN, Channel.UNKNOWN)
    bare = mapping.parse_conversation({"id": "c"}, provider="ib")
    assert (bare.status, bare.vendor_status, bare.priority, bare.channel) == (
        ConversationStatus.UNKNOWN,
        None,
        None,
        None,
    )


def test_instagram_has_its_own_vendor_name() -> None:
    assert mapping.parse_channel("INSTAGRAM_MESSAGING") is Channel.INSTAGRAM
    assert mapping.CHANNEL_TO_VENDOR[Channel.INSTAGRAM] == "INSTAGRAM_MESSAGING"
    assert Channel.PUSH not in mapping.CHANNEL_TO_VENDOR


# ---- messages -----------------------------------------------------------------------------------


def test_the_documented_message_maps_to_an_outbound_agent_message() -> None:
    raw = load("message-object.json")
    assert mapping.parse_message(raw, provider="ib") == Message(
        provider="ib",
        remote_id="107AB921757DEAC9BE79EC6259B31C8A",
        conversation_remote_id="9F1F21C198025CC026956A7E2E9C560F",
        text="…",
        author=Participant(id="447492263897", name=None, role=Role.AGENT),
        direction=Direction.OUTBOUND,
        created_at=datetime(2019, 10, 14, 9, 45, 57, 898000, tzinfo=UTC),
        channel=Channel.SMS,
        imported=False,
        vendor_data=raw,
    )


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"text": "Please help"}, "Please help"),
        ("Please help, it is dark here", "Please help, it is dark here"),
        ({"url": "https://example.test/a.png"}, None),
        (None, None),
    ],
)
def test_both_content_shapes_give_the_text(content: object, text: str | None) -> None:
    assert mapping.parse_message(message("m", content=content), provider="ib").text == text


@pytest.mark.parametrize(
    ("direction", "expected", "role"),
    [
        ("INBOUND", Direction.INBOUND, Role.CUSTOMER),
        ("OUTBOUND", Direction.OUTBOUND, Role.AGENT),
        ("SIDEWAYS", Direction.OUTBOUND, Role.AGENT),
    ],
)
def test_direction_gives_the_author_role(direction: str, expected: Direction, role: Role) -> None:
    parsed = mapping.parse_message(message("m", direction), provider="ib")
    assert parsed.direction is expected
    assert parsed.author == Participant(id="447700900001", name=None, role=role)


def test_an_unknown_message_channel_falls_back() -> None:
    assert mapping.parse_message(message("m", channel="SMOKE_SIGNAL"), provider="ib").channel is Channel.UNKNOWN


def test_the_customer_is_the_sender_of_the_earliest_inbound_message() -> None:
    assert mapping.parse_customer(message("m1")) == Participant(id="447700900001", name=None, role=Role.CUSTOMER)
    assert mapping.parse_customer(None) is None


def test_conversation_tags_are_read_in_vendor_order_and_a_bad_body_refused() -> None:
    body = {"tags": [{"name": "vip", "createdAt": "x"}, {"name": "billing"}], "pagination": {"totalItems": 2}}
    assert mapping.parse_tag_names(body) == ("vip", "billing")
    with pytest.raises(ValueError, match="tags"):
        mapping.parse_tag_names({"statusCode": "SUCCESS"})


# ---- outbound -----------------------------------------------------------------------------------


def test_create_payload_has_only_the_given_fields_in_vendor_values() -> None:
    new = NewConversation(
        customer=ParticipantInput(id="447700900001"),
        topic="Order 42",
        summary="Late parcel",
        priority=Priority.URGENT,
        channel=Channel.INSTAGRAM,
    )
    assert mapping.build_conversation_payload(new) == {
        "topic": "Order 42",
        "summary": "Late parcel",
        "priority": "URGENT",
        "channel": "INSTAGRAM_MESSAGING",
    }
    assert mapping.build_conversation_payload(NewConversation(customer=ParticipantInput())) == {}


def test_changes_payload_maps_pending_to_waiting_and_queue_to_queue_id() -> None:
    changes = ConversationChanges(status=ConversationStatus.PENDING, priority=Priority.LOW, queue_id="q1", topic="T")
    assert mapping.build_changes_payload(changes) == {
        "topic": "T",
        "status": "WAITING",
        "priority": "LOW",
        "queueId": "q1",
    }


def test_a_replacement_keeps_every_current_field_it_does_not_change() -> None:
    [current] = load("list-conversations.json")["conversations"]
    body = mapping.build_replacement_payload({**current, "agentId": "a1"}, {"status": "SOLVED"})
    assert body == {
        "topic": "Conversation demo topic",
        "summary": None,
        "status": "SOLVED",
        "priority": "NORMAL",
        "queueId": None,
        "agentId": "a1",
        "channel": "NO_CHANNEL",
    }


def test_message_payload_is_a_text_message_on_the_route() -> None:
    route = replies.ReplyRoute(sender="447700900999", to="447700900001", channel="WHATSAPP")
    assert replies.build_message_payload("On it", route) == {
        "from": "447700900999",
        "to": "447700900001",
        "channel": "WHATSAPP",
        "contentType": "TEXT",
        "content": {"text": "On it"},
    }


# ---- replies ------------------------------------------------------------------------------------


def test_a_reply_goes_back_on_the_latest_inbound_channel_from_the_address_written_to() -> None:
    inbound = message("m", channel="VIBER")
    assert replies.reply_route(inbound, senders={}) == replies.ReplyRoute("447700900999", "447700900001", "VIBER")


def test_a_configured_sender_wins_over_the_address_written_to() -> None:
    route = replies.reply_route(message("m"), senders={"WHATSAPP": "447700900555"})
    assert route == replies.ReplyRoute("447700900555", "447700900001", "WHATSAPP")


def test_a_reply_with_no_sender_says_which_setting_to_configure() -> None:
    with pytest.raises(mapping.InputError, match=r"configure senders\.WHATSAPP"):
        replies.reply_route(message("m", to=None), senders={"SMS": "x"})


def test_reply_route_errors_name_the_senders_field() -> None:
    with pytest.raises(mapping.InputError) as caught:
        replies.reply_route(None, senders={})
    assert caught.value.field == "senders"


def test_without_an_inbound_message_the_channel_and_address_must_be_given() -> None:
    with pytest.raises(mapping.InputError, match=r"senders\.<CHANNEL>"):
        replies.reply_route(None, senders={}, channel="NO_CHANNEL", customer_address="447700900001")
    with pytest.raises(mapping.InputError, match=r"no customer address.*senders\.SMS"):
        replies.reply_route(None, senders={"SMS": "InfoSMS"}, channel="SMS")
    route = replies.reply_route(None, senders={"SMS": "InfoSMS"}, channel="SMS", customer_address="447700900001")
    assert route == replies.ReplyRoute("InfoSMS", "447700900001", "SMS")


# ---- what Infobip can take ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "field"),
    [
        (NewConversation(customer=ParticipantInput(), url="https://shop.test/"), "url"),
        (NewConversation(customer=ParticipantInput(), sentiment="happy"), "sentiment"),
        (NewConversation(customer=ParticipantInput(), category_id="7"), "categoryId"),
        (NewConversation(customer=ParticipantInput(), custom_fields=(CustomField("a", "b"),)), "customFields"),
        (NewConversation(customer=ParticipantInput(), bot_active=True), "botActive"),
        (NewConversation(customer=ParticipantInput(), priority=Priority.UNKNOWN), "priority"),
        (NewConversation(customer=ParticipantInput(), channel=Channel.IN_APP), "channel"),
    ],
)
def test_a_new_conversation_with_what_infobip_cannot_store_is_refused(new: NewConversation, field: str) -> None:
    with pytest.raises(mapping.InputError) as caught:
        mapping.check_new_conversation(new)
    assert caught.value.field == field


def test_a_new_conversation_infobip_can_store_passes() -> None:
    mapping.check_new_conversation(
        NewConversation(customer=ParticipantInput(), topic="t", priority=Priority.LOW, channel=Channel.SMS)
    )


@pytest.mark.parametrize("status", [ConversationStatus.NEW, ConversationStatus.UNKNOWN])
def test_statuses_infobip_has_not_are_refused_naming_the_accepted_values(status: ConversationStatus) -> None:
    with pytest.raises(
        mapping.InputError, match=f"cannot set status {status.value}; accepted values: OPEN, PENDING, SOLVED, CLOSED$"
    ):
        mapping.check_changes(ConversationChanges(status=status))


def test_tag_names_are_deduplicated_and_checked() -> None:
    assert mapping.valid_tag_names(["vip", "billing", "vip"]) == ["vip", "billing"]
    for bad in ([], [" "], ["x" * 101]):
        with pytest.raises(mapping.InputError) as caught:
            mapping.valid_tag_names(bad)
        assert caught.value.field == "tags"


def test_senders_are_keyed_by_vendor_channel_names() -> None:
    assert replies.vendor_senders({"whatsapp": "4478", "INSTAGRAM": "shop"}) == {
        "WHATSAPP": "4478",
        "INSTAGRAM_MESSAGING": "shop",
    }
    with pytest.raises(ValueError, match="senders.MULTICHANNEL"):
        replies.vendor_senders({"MULTICHANNEL": "x"})


# ---- list parameters ----------------------------------------------------------------------------


WHEN = datetime(2024, 5, 1, 12, 0, 0, 250500, tzinfo=UTC)


@pytest.mark.parametrize(
    ("filter", "params", "exact"),
    [
        (ConversationFilter(), {}, True),
        (ConversationFilter(status=(ConversationStatus.PENDING,)), {"status": "WAITING"}, True),
        (ConversationFilter(status=(ConversationStatus.OPEN, ConversationStatus.NEW)), {"status": "OPEN"}, True),
        (ConversationFilter(status=(ConversationStatus.OPEN, ConversationStatus.SOLVED)), {}, False),
        (ConversationFilter(status=(ConversationStatus.OPEN, ConversationStatus.UNKNOWN)), {}, False),
        (ConversationFilter(priority=(Priority.HIGH,)), {"priority": "HIGH"}, True),
        (ConversationFilter(priority=(Priority.HIGH, Priority.URGENT)), {}, False),
        (ConversationFilter(assignee_id="a1"), {"agentId": "a1"}, True),
        (ConversationFilter(queue_ids=("q1", "q2")), {"queueIds": ["q1", "q2"]}, True),
        (ConversationFilter(remote_ids=("c1",)), {"conversationIds": ["c1"]}, True),
        (ConversationFilter(created_after=WHEN), {"createdAfter": WHEN}, True),
        (ConversationFilter(created_before=WHEN), {"createdBefore": WHEN}, True),
        (ConversationFilter(updated_after=WHEN), {"updatedAfter": WHEN}, True),
        (ConversationFilter(updated_before=WHEN), {"updatedBefore": WHEN}, True),
        (ConversationFilter(tags=("vip",)), {}, False),
        (ConversationFilter(channel=(Channel.SMS,)), {}, False),
        (ConversationFilter(search="refund"), {}, False),
    ],
)
def test_filters_infobip_applies_become_query_parameters(filter: ConversationFilter, params: dict, exact: bool) -> None:
    assert mapping.build_list_params(filter) == (params, exact)


@pytest.mark.parametrize(
    "filter",
    [
        ConversationFilter(status=(ConversationStatus.NEW,)),
        ConversationFilter(remote_ids=()),
        ConversationFilter(tags=()),
    ],
)
def test_a_filter_nothing_can_match_needs_no_call(filter: ConversationFilter) -> None:
    assert mapping.build_list_params(filter) is None


# ---- webhooks -----------------------------------------------------------------------------------


def webhook(kind: str, **payload: object) -> dict:
    return {"type": kind, "timestamp": "2024-03-01T10:00:00.000+0000", "payload": payload}


def test_an_inbound_message_webhook_carries_the_message_and_the_conversation() -> None:
    [conversation] = load("list-conversations.json")["conversations"]
    raw = message("m1", conversationId=conversation["id"])
    [event] = mapping.parse_webhook(
        webhook("INBOUND_MESSAGE_RECEIVED", conversation=conversation, message=raw), provider="ib"
    )
    assert event.conversation_remote_id == conversation["id"]
    assert event.message == mapping.parse_message(raw, provider="ib", conversation_id=conversation["id"])
    assert event.conversation == mapping.parse_conversation(conversation, provider="ib")


def test_a_message_webhook_without_the_conversation_uses_the_message_conversation_id() -> None:
    [event] = mapping.parse_webhook(webhook("OUTBOUND_MESSAGE_SENT", message=message("m1", "OUTBOUND")), provider="ib")
    assert (event.conversation_remote_id, event.conversation) == ("c1", None)
    assert event.message is not None and event.message.direction is Direction.OUTBOUND


def test_a_status_webhook_carries_the_conversation_after_the_change() -> None:
    [event] = mapping.parse_webhook(
        webhook("CONVERSATION_STATUS_CHANGED", conversation={"id": "c9", "status": "SOLVED"}), provider="ib"
    )
    assert event.message is None
    assert event.conversation is not None and event.conversation.status is ConversationStatus.SOLVED


def test_unknown_webhook_types_are_ignored() -> None:
    assert mapping.parse_webhook(webhook("AGENT_STATUS_CHANGED", agent={"id": "a1"}), provider="ib") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "string type"),
        ({"type": "CONVERSATION_CREATED"}, "object payload"),
        (webhook("CONVERSATION_CREATED"), "without a conversation"),
        (webhook("INBOUND_MESSAGE_RECEIVED", conversation={"id": "c1"}), "without a message"),
        (webhook("INBOUND_MESSAGE_RECEIVED", message={"id": "m1"}), "names no conversation"),
    ],
)
def test_webhook_bodies_parley_does_not_understand_are_refused(body: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        mapping.parse_webhook(body, provider="ib")


# -- the message mapper's fast path against the general one -----------------------------------------


def general_parse_message(raw: dict, *, provider: str, conversation_id: str | None = None) -> Message:
    """parse_message as it was written before its fast path: every field through the general helpers."""
    direction = mapping.DIRECTION_FROM_VENDOR.get(str(raw.get("direction")), mapping.DIRECTION_FALLBACK)
    sender = raw.get("from")
    return Message(
        provider=provider,
        remote_id=str(raw["id"]),
        conversation_remote_id=conversation_id or str(raw.get("conversationId")),
        text=mapping.message_text(raw.get("content")),
        author=Participant(id=None if sender is None else str(sender), name=None, role=mapping.ROLE_FROM_DIRECTION[direction]),
        direction=direction,
        created_at=parse_datetime(raw.get("createdAt")),
        channel=mapping.parse_channel(raw.get("channel")),
        vendor_data=raw,
    )


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8))
VENDOR_ROWS = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 99))},
    optional={
        "direction": st.one_of(st.sampled_from(["INBOUND", "OUTBOUND", "inbound", ""]), JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2)),
        "from": st.one_of(st.sampled_from(["447700900001", "447860099299"]), JSON_SCALARS),
        "conversationId": JSON_SCALARS,
        "content": st.one_of(
            JSON_SCALARS, st.dictionaries(st.sampled_from(["text", "url"]), JSON_SCALARS, max_size=2), st.lists(JSON_SCALARS, max_size=2)
        ),
        "channel": st.one_of(st.sampled_from(["WHATSAPP", "SMS", "INSTAGRAM_MESSAGING", "CARRIER_PIGEON"]), JSON_SCALARS),
        "createdAt": st.one_of(st.sampled_from(["2019-10-14T09:45:57.898+0000", "2024-05-01T12:00:00Z", "yesterday"]), JSON_SCALARS),
    },
)


@given(VENDOR_ROWS, st.sampled_from([None, "C1"]))
def test_parse_message_gives_what_the_general_mapping_gives_for_any_row(raw: dict, conversation_id: str | None) -> None:
    expected = general_parse_message(raw, provider="ib", conversation_id=conversation_id)
    assert mapping.parse_message(raw, provider="ib", conversation_id=conversation_id) == expected
    given_time = mapping.parse_message(raw, provider="ib", conversation_id=conversation_id, created_at=expected.created_at)
    assert given_time == expected  # with its createdAt parsed by the caller (a listing), the same message


def test_messages_of_one_author_share_one_participant() -> None:
    first, second = (mapping.parse_message(message(n), provider="ib") for n in ("m1", "m2"))
    reply = mapping.parse_message(message("m3", direction="OUTBOUND"), provider="ib")
    assert first.author is second.author and first.author == Participant(id="447700900001", name=None, role=Role.CUSTOMER)
    assert reply.author == Participant(id="447700900001", name=None, role=Role.AGENT) and reply.author is not first.author


def general_parse_conversation(raw: dict, *, provider: str, hydration: mapping.Hydration | None = None) -> Conversation:
    """parse_conversation as it was written before its fast path: a new object for every part."""
    extra = hydration or mapping.Hydration()
    status, priority, agent, queue = raw.get("status"), raw.get("priority"), raw.get("agentId"), raw.get("queueId")
    latest = general_parse_message(extra.latest, provider=provider, conversation_id=str(raw["id"])) if extra.latest else None
    first = extra.first_inbound
    return Conversation(
        provider=provider, vendor="infobip", remote_id=str(raw["id"]),
        status=mapping.STATUS_FROM_VENDOR.get(str(status), mapping.STATUS_FALLBACK),
        vendor_status=None if status is None else str(status),
        created_at=parse_datetime(raw.get("createdAt")), updated_at=parse_datetime(raw.get("updatedAt")),
        topic=raw.get("topic"), summary=raw.get("summary"),
        priority=None if priority is None else mapping.PRIORITY_FROM_VENDOR.get(str(priority), mapping.PRIORITY_FALLBACK),
        channel=mapping.parse_channel(raw.get("channel")),
        customer=None if first is None or first.get("from") is None else Participant(id=str(first["from"]), name=None, role=Role.CUSTOMER),
        assignee=None if agent is None else Participant(id=str(agent), name=None, role=Role.AGENT),
        queue=None if queue is None else QueueInfo(id=str(queue)),
        tags=extra.tags, last_message_at=latest.created_at if latest else None, message_count=extra.message_count,
        last_message=latest, vendor_data=raw,
    )


CONVERSATION_ROWS = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 99))},
    optional={
        "status": st.one_of(st.sampled_from(["OPEN", "WAITING", "SOLVED", "CLOSED", "LOST"]), JSON_SCALARS),
        "priority": st.one_of(st.sampled_from(["HIGH", "LOW", "MEH"]), JSON_SCALARS),
        "agentId": st.one_of(st.sampled_from(["agent-1", "agent-2"]), JSON_SCALARS),
        "queueId": st.one_of(st.sampled_from(["q-1", "q-2"]), JSON_SCALARS),
        "topic": JSON_SCALARS, "summary": JSON_SCALARS,
        "channel": st.one_of(st.sampled_from(["WHATSAPP", "SMS", "CARRIER_PIGEON"]), JSON_SCALARS),
        "createdAt": st.one_of(st.sampled_from(["2019-10-14T09:45:57.898+0000", "2024-05-01T12:00:00Z", "now"]), JSON_SCALARS),
        "updatedAt": st.one_of(st.sampled_from(["2019-10-14T09:45:57.898+0000", "2024-05-01T12:00:00Z"]), JSON_SCALARS),
    },
)
HYDRATIONS = st.one_of(st.none(), st.builds(
    mapping.Hydration, tags=st.lists(st.text(max_size=3), max_size=2).map(tuple),
    first_inbound=st.one_of(st.none(), VENDOR_ROWS), latest=st.one_of(st.none(), VENDOR_ROWS),
    message_count=st.one_of(st.none(), st.integers(0, 9)),
))


@given(CONVERSATION_ROWS, HYDRATIONS)
def test_parse_conversation_gives_what_the_general_mapping_gives_for_any_row(raw: dict, hydration: mapping.Hydration | None) -> None:
    expected = general_parse_conversation(raw, provider="ib", hydration=hydration)
    assert mapping.parse_conversation(raw, provider="ib", hydration=hydration) == expected
    for field in ("createdAt", "updatedAt"):  # with its sort time parsed by the caller (a listing), the same conversation
        given_time = parse_datetime(raw.get(field))
        assert mapping.parse_conversation(raw, provider="ib", hydration=hydration, sorted_by=field, sort_time=given_time) == expected
