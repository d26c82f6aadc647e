"""The vendor's documented example bodies map to exactly the expected unified objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from providers.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    NewConversation,
    NewMessage,
    Participant,
    ParticipantInput,
    QueueInfo,
    Role,
)
from providers.socialboards import mapping

FIXTURES = Path(__file__).parent / "fixtures" / "socialboards"
PLUS3 = timezone(timedelta(hours=3))
SEED_TIME = datetime(2023, 9, 1, 12, 56, 39, 84782, tzinfo=PLUS3)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_documented_conversation_object_maps_to_the_unified_conversation() -> None:
    raw = load("conversation-object.json")
    john = Participant(
        id="fc2481f6-28a4-4ca7-849a-344fd6ab1b20", name="John", role=Role.CUSTOMER, email="john@dow.com",
        external_id=None, avatar_url=None,
    )
    assert mapping.parse_conversation(raw, provider="sb") == Conversation(
        provider="sb",
        vendor="socialboards",
        remote_id="254626",
        status=ConversationStatus.NEW,
        vendor_status="queued",
        created_at=SEED_TIME,
        updated_at=SEED_TIME,
        channel=Channel.LIVE_CHAT,
        customer=john,
        queue=QueueInfo(id=None, position=1403, wait_minutes=15),
        bot_active=False,
        feedback=None,
        initial_page_url="https://faq.socialboards.com/socialboards",
        latest_page_url="https://faq.socialboards.com/socialboards",
        custom_fields=(),
        last_message_at=SEED_TIME,
        message_count=1,
        vendor_data=raw,
    )


def test_documented_create_response_keeps_the_normalised_custom_identifier() -> None:
    data = load("create-conversation-response.json")["data"]
    conversation = mapping.parse_conversation(data, provider="sb")
    assert conversation.customer is not None
    assert conversation.customer.external_id == "cus-12345"
    assert conversation.custom_fields is None  # the create example has no `fields`: unknown, not empty


def test_documented_message_maps_to_an_inbound_customer_message() -> None:
    raw = load("conversation-object.json")["messages"][0]
    message = mapping.parse_message(raw, provider="sb", conversation_id="254626")
    assert message == Message(
        provider="sb",
        remote_id="0",
        conversation_remote_id="254626",
        text="Hi, I have some questions about the Chat API",
        author=Participant(id="fc2481f6-28a4-4ca7-849a-344fd6ab1b20", name="John", role=Role.CUSTOMER,
                           email="john@dow.com", external_id=None, avatar_url=None),
        direction=Direction.INBOUND,
        created_at=SEED_TIME,
        channel=Channel.LIVE_CHAT,
        imported=False,
        vendor_data=raw,
    )


@pytest.mark.parametrize(
    ("raw", "status", "vendor_status"),
    [
        ({"isClosed": False, "queuePositionInfo": {"position": 0, "waitTime": 1}}, ConversationStatus.NEW, "queued"),
        ({"isClosed": False, "queuePositionInfo": {"position": -1, "waitTime": None}}, ConversationStatus.OPEN, "active"),
        ({"isClosed": True, "queuePositionInfo": {"position": -1}}, ConversationStatus.CLOSED, "closed"),
        ({"isClosed": True, "queuePositionInfo": {"position": 4}}, ConversationStatus.CLOSED, "closed"),
        ({"isClosed": False}, ConversationStatus.UNKNOWN, None),
    ],
)
def test_status_is_derived_from_closed_flag_and_queue_position(raw: dict, status, vendor_status) -> None:
    conversation = mapping.parse_conversation({"id": 1, **raw}, provider="sb")
    assert (conversation.status, conversation.vendor_status) == (status, vendor_status)


@pytest.mark.parametrize(
    ("author", "role", "direction"),
    [
        ({"status": "client", "isBot": False}, Role.CUSTOMER, Direction.INBOUND),
        ({"status": "agent", "isBot": False}, Role.AGENT, Direction.OUTBOUND),
        ({"status": "client", "isBot": True}, Role.BOT, Direction.OUTBOUND),
        ({"status": "someNewStatus"}, Role.AGENT, Direction.OUTBOUND),
    ],
)
def test_author_status_gives_role_and_direction(author: dict, role: Role, direction: Direction) -> None:
    message = mapping.parse_message({"id": 5, "message": "x", "author": author}, provider="sb", conversation_id="1")
    assert message.author is not None and message.author.role is role
    assert message.direction is direction


def test_seed_request_is_what_the_adapter_builds_for_the_same_conversation() -> None:
    request = load("create-conversation-request.json")
    new = NewConversation(
        customer=ParticipantInput(name="John", external_id="CUS-12345"),
        topic="Chat API Client Problems",
        url="https://thejohndow.com",
        sentiment="question",
        category_id="1505",
    )
    assert mapping.build_conversation_payload(new) == {**request, "isBotEnabled": False}


def test_message_payload_marks_team_messages_and_writes_utc_times() -> None:
    when = datetime(2023, 10, 19, 10, 0, 58, 840000, tzinfo=UTC)
    agent = ParticipantInput(name="Ana", email="ana@example.test", role=Role.AGENT)
    payload = mapping.build_message_payload(NewMessage(text="Hello", author=agent, created_at=when), agent)
    assert payload == {
        "author": {"email": "ana@example.test", "name": "Ana"},
        "message": "Hello",
        "creationTime": "2023-10-19T10:00:58.840000+00:00",
        "isByTeam": True,
    }


def test_pascal_case_webhook_becomes_a_conversation_event() -> None:
    payload = {
        "CommunityName": "yourCompanyName",
        "EventType": "conversation_created",
        "Events": [{
            "InboxLink": "https://inbox.socialboards.com/yourCompanyName/tickets?ticketId=2555100",
            "ConversationId": 2555100,
            "Conversation": {
                "Author": {"Id": "a1", "Name": "Eve", "Status": "client", "IsBot": False},
                "CreationTime": "2023-10-25T13:39:57.2844587+03:00", "Feedback": None, "Fields": None,
                "Id": 2555100, "IsClosed": False, "IsTakeoverEnabled": True,
                "LastModifiedTime": "2023-10-25T13:39:57.2844587+03:00", "Messages": [],
                "QueuePositionInfo": {"Position": 12, "WaitTime": None}, "TotalMessagesCount": 0,
            },
            "EventTime": "2023-10-25T13:39:57.2844587+03:00",
        }],
        "TicketId": 2555100,
    }
    [event] = mapping.parse_webhook(payload, provider="sb")
    assert event.conversation_remote_id == "2555100"
    assert event.message is None
    assert event.conversation is not None
    assert (event.conversation.status, event.conversation.queue) == (ConversationStatus.NEW, QueueInfo(None, 12, None))
    assert event.conversation.customer is not None and event.conversation.customer.name == "Eve"


def test_webhook_of_an_unknown_event_type_is_ignored_and_a_bad_body_refused() -> None:
    assert mapping.parse_webhook({"EventType": "ticket_updated", "Events": [{}]}, provider="sb") == []
    with pytest.raises(ValueError, match="EventType and Events"):
        mapping.parse_webhook({"EventType": "conversation_created"}, provider="sb")
