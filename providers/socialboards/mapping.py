"""Socialboards JSON <-> neutral models. Pure functions: no I/O, no httpx.

Status is derived, as Socialboards has no status field: `isClosed` -> closed; a queue position >= 0 ->
queued (waiting for an agent); position -1 -> active (an agent handles it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import fields as dataclass_fields, replace
from datetime import datetime
from typing import Any

from .._shape import FLAG, SCALAR, TEXT, WHOLE, Shape, check
from .._time import format_datetime, parse_datetime
from ..models import (
    Channel,
    Conversation,
    ConversationFilter,
    ConversationStatus,
    CustomField,
    Direction,
    Feedback,
    Message,
    NewConversation,
    NewMessage,
    Participant,
    ParticipantInput,
    QueueInfo,
    Role,
    SortOrder,
    VendorEvent,
)

VENDOR = "socialboards"
STATUS_FROM_VENDOR: dict[str, ConversationStatus] = {
    "closed": ConversationStatus.CLOSED,
    "queued": ConversationStatus.NEW,
    "active": ConversationStatus.OPEN,
}
STATUS_FALLBACK = ConversationStatus.UNKNOWN
WEBHOOK_EVENT_TYPES = frozenset(
    {"conversation_created", "conversation_message_added", "conversation_takeover_state_changed", "conversation_closed"}
)
ROLE_FROM_USER_STATUS: dict[str, Role] = {"client": Role.CUSTOMER}
ROLE_FALLBACK = Role.AGENT  # any non-client, non-bot user is a team member
# Whose messages Socialboards writes: a client's (isByTeam false), a team member's (isByTeam true), or
# its system bot's (isBot). It has no system author, and reads any other team member back as an agent.
WRITABLE_ROLES = frozenset({Role.CUSTOMER, Role.AGENT, Role.BOT})
TICKET_ORDER: dict[SortOrder, str] = {
    SortOrder.UPDATED_DESC: "last_modified_time_desc",
    SortOrder.UPDATED_ASC: "last_modified_time_asc",
    SortOrder.CREATED_DESC: "creation_time_desc",
    SortOrder.CREATED_ASC: "creation_time_asc",
}


def vendor_state(raw: Mapping[str, Any]) -> str | None:
    if raw.get("isClosed"):
        return "closed"
    position = _position(raw.get("queuePositionInfo"))
    if position is None:
        return None
    return "queued" if position >= 0 else "active"


def parse_participant(raw: object) -> Participant | None:
    if not isinstance(raw, Mapping):
        return None
    if raw.get("isBot"):
        role = Role.BOT
    else:
        role = ROLE_FROM_USER_STATUS.get(str(raw.get("status") or "").lower(), ROLE_FALLBACK)
    return Participant(
        id=_str(raw.get("id")),
        name=raw.get("name"),
        role=role,
        email=raw.get("email"),
        external_id=raw.get("customIdentifier"),
        avatar_url=raw.get("image"),
    )


def parse_message(
    raw: Mapping[str, Any], *, provider: str, conversation_id: str, imported: bool = False
) -> Message:
    author = parse_participant(raw.get("author"))
    inbound = author is not None and author.role is Role.CUSTOMER
    return Message(
        provider=provider,
        remote_id=str(raw.get("id")),
        conversation_remote_id=conversation_id,
        text=raw.get("message"),
        author=author,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        created_at=parse_datetime(raw.get("creationTime")),
        channel=Channel.LIVE_CHAT,
        imported=imported,
        vendor_data=raw,
    )


def parse_queue(raw: object) -> QueueInfo | None:
    if not isinstance(raw, Mapping):
        return None
    return QueueInfo(id=None, position=_position(raw), wait_minutes=_int(raw.get("waitTime")))


def parse_feedback(raw: object) -> Feedback | None:
    if not isinstance(raw, Mapping):
        return None
    return Feedback(positive=raw.get("isPositive"), comment=raw.get("text"))


def parse_custom_fields(raw: object) -> tuple[CustomField, ...] | None:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return None
    fields = (item for item in raw if isinstance(item, Mapping))
    return tuple(
        CustomField(id=str(item.get("id", item.get("key"))), value=_str(item.get("value"))) for item in fields
    )


# A chat conversation is a ticket with the same id. The Conversation object has no title, sentiment
# or category, which creation sets; the ticket (`tickets/list` rows, and rows by id with `ticketIds`)
# has them.
FROM_TICKET = frozenset({"topic", "sentiment", "category_id"})  # what a read by id needs the ticket for
TICKET_FIELDS = frozenset({"provider", "vendor", "remote_id", "created_at", "updated_at"}) | FROM_TICKET
NOT_IN_TICKET = frozenset(f.name for f in dataclass_fields(Conversation)) - TICKET_FIELDS - {"missing"}
FROM_LATEST = frozenset({"last_message", "last_message_at"})  # what needs the latest message


def parse_ticket(raw: Mapping[str, Any], *, provider: str) -> Conversation:
    """A `tickets/list` row as a conversation that carries its id, times, title, sentiment and
    category (the rest is in `missing`: the ticket's closed flag is not the chat conversation's status)."""
    row = Conversation(
        provider=provider,
        vendor=VENDOR,
        remote_id=str(raw["id"]),
        status=STATUS_FALLBACK,
        vendor_status=None,
        created_at=parse_datetime(raw.get("creationTime")),
        updated_at=parse_datetime(raw.get("lastModifiedTime")),
        missing=NOT_IN_TICKET,
    )
    return with_ticket(row, raw)


def with_ticket(conversation: Conversation, ticket: Mapping[str, Any]) -> Conversation:
    """The conversation with what only its ticket says."""
    category = ticket.get("category")
    return replace(
        conversation,
        topic=_str(ticket.get("title")),
        sentiment=_str(ticket.get("sentiment")),
        category_id=_str(category.get("id")) if isinstance(category, Mapping) else None,
    )


def with_latest(conversation: Conversation, latest: Message | None) -> Conversation:
    """The conversation with its latest message inline, and that message's time as `last_message_at`."""
    return replace(conversation, last_message=latest, last_message_at=latest.created_at if latest is not None else None)


def known(conversation: Conversation) -> frozenset[str]:
    """Fields known without reading them: a conversation without messages has no latest one."""
    return FROM_LATEST if conversation.message_count == 0 else frozenset()


def has_id(raw: object) -> bool:
    return isinstance(raw, Mapping) and "id" in raw


def is_conversation(raw: object) -> bool:
    """A whole conversation object (an id and `isClosed`), as some writes answer."""
    return isinstance(raw, Mapping) and "id" in raw and "isClosed" in raw


def parse_conversation(raw: Mapping[str, Any], *, provider: str) -> Conversation:
    remote_id = str(raw["id"])
    state = vendor_state(raw)
    messages = [m for m in raw.get("messages") or () if isinstance(m, Mapping)]
    times = [t for t in (parse_datetime(m.get("creationTime")) for m in messages) if t is not None]
    takeover = raw.get("isTakeoverEnabled")
    return Conversation(
        provider=provider,
        vendor=VENDOR,
        remote_id=remote_id,
        status=STATUS_FROM_VENDOR.get(state or "", STATUS_FALLBACK),
        vendor_status=state,
        created_at=parse_datetime(raw.get("creationTime")),
        updated_at=parse_datetime(raw.get("lastModifiedTime")),
        topic=_str(raw.get("title")),  # not in the documented object (the ticket has it): read when present
        channel=Channel.LIVE_CHAT,
        customer=parse_participant(raw.get("author")),
        queue=parse_queue(raw.get("queuePositionInfo")),
        bot_active=None if takeover is None else not takeover,
        feedback=parse_feedback(raw.get("feedback")),
        initial_page_url=raw.get("initialPageUrl"),
        latest_page_url=raw.get("latestPageUrl"),
        sentiment=raw.get("sentiment"),
        category_id=_str(raw.get("categoryId")),
        custom_fields=parse_custom_fields(raw.get("fields")),
        last_message_at=max(times) if times else None,
        message_count=_int(raw.get("totalMessagesCount")),
        vendor_data=raw,
    )


def parse_webhook(payload: object, *, provider: str) -> list[VendorEvent]:
    """The PascalCase chat webhook envelope (`EventType`, `Events[]`) as neutral events. Raises
    ValueError for a body of another shape, naming the field (`Events[0].ConversationId`)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("Events"), list):
        raise ValueError("expected an object with EventType and Events[]")
    check(payload, WEBHOOK_SHAPE, "body")
    if payload.get("EventType") not in WEBHOOK_EVENT_TYPES:
        return []
    for index, item in enumerate(payload["Events"]):
        if not isinstance(item, Mapping) or item.get("ConversationId") is None:
            raise ValueError(f"body.Events[{index}]: expected an event with a ConversationId")
    return [_webhook_event(camel_keys(item), provider) for item in payload["Events"]]


def _webhook_event(item: Mapping[str, Any], provider: str) -> VendorEvent:
    conversation_id = str(item["conversationId"])
    raw_conversation = item.get("conversation")
    conversation = (
        parse_conversation(raw_conversation, provider=provider)
        if isinstance(raw_conversation, Mapping) and "id" in raw_conversation
        else None
    )
    raw_message = item.get("message")
    message = (
        parse_message(raw_message, provider=provider, conversation_id=conversation_id)
        if isinstance(raw_message, Mapping) and "id" in raw_message
        else None
    )
    # The webhook's Conversation lacks the title (its ticket has it) and the latest message: the
    # gateway reads the conversation before publishing it, so it says what a read by id says.
    return VendorEvent(conversation_remote_id=conversation_id, conversation=conversation, message=message, partial=conversation is not None)


# The webhook body as the docs give it (PascalCase): ids are integers, except users' (GUID strings).
USER_SHAPE: Shape = {
    "Id": TEXT, "Name": TEXT, "Email": TEXT, "CustomIdentifier": TEXT, "Image": TEXT, "IsBot": FLAG, "Status": TEXT,
}
MESSAGE_SHAPE: Shape = {"Id": WHOLE, "Message": TEXT, "CreationTime": TEXT, "LastModifiedTime": TEXT, "Author": USER_SHAPE}
CONVERSATION_SHAPE: Shape = {
    "Id": WHOLE, "Title": TEXT, "IsClosed": FLAG, "IsTakeoverEnabled": FLAG, "CreationTime": TEXT,
    "LastModifiedTime": TEXT, "Author": USER_SHAPE, "QueuePositionInfo": {"Position": WHOLE, "WaitTime": WHOLE},
    "Feedback": {"IsPositive": FLAG, "Text": TEXT}, "Fields": [{"Id": SCALAR, "Key": SCALAR, "Value": SCALAR}],
    "Messages": [MESSAGE_SHAPE], "TotalMessagesCount": WHOLE, "InitialPageUrl": TEXT, "LatestPageUrl": TEXT,
    "Sentiment": TEXT, "CategoryId": SCALAR,
}
WEBHOOK_SHAPE: Shape = {
    "CommunityName": TEXT, "EventType": TEXT, "TicketId": WHOLE,
    "Events": [{
        "ConversationId": WHOLE, "Conversation": CONVERSATION_SHAPE, "Message": MESSAGE_SHAPE,
        "IsAssignedToBot": FLAG, "EventTime": TEXT, "InboxLink": TEXT,
    }],
}


def camel_keys(value: Any) -> Any:
    """PascalCase webhook keys to the REST API's camelCase, recursively."""
    if isinstance(value, Mapping):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


# ---- listing ------------------------------------------------------------------------------------


def build_ticket_filter(filter: ConversationFilter, order: SortOrder) -> tuple[dict[str, Any], bool]:
    """The `tickets/list` body, and whether the ticket list applies the whole filter by itself."""
    body: dict[str, Any] = {"orderBy": TICKET_ORDER[order]}
    exact = replace(filter, updated_after=None)
    if filter.status is not None:
        wanted = set(filter.status)
        if wanted == {ConversationStatus.CLOSED}:
            body["isClosed"] = True
            exact = replace(exact, status=None)
        elif ConversationStatus.CLOSED not in wanted:
            body["isClosed"] = False
    if filter.updated_after is not None:
        body["modifiedAfter"] = format_datetime(filter.updated_after)
    return body, exact.is_empty()


# ---- outbound -----------------------------------------------------------------------------------


def build_user_value(person: ParticipantInput) -> dict[str, Any]:
    value = {
        "id": person.id,
        "email": person.email,
        "customIdentifier": person.external_id,
        "name": person.name,
        "image": person.avatar_url,
        "isBot": True if person.role is Role.BOT else None,  # the vendor's default is false
    }
    return {key: item for key, item in value.items() if item is not None}


def build_message_payload(message: NewMessage, author: ParticipantInput) -> dict[str, Any]:
    """`author` identifies the writer (the message's own, or the one the provider stands in with);
    the message's role says which side wrote it: `isByTeam` for an agent, the system bot for a bot."""
    return {
        "author": {"isBot": True} if message.role is Role.BOT else build_user_value(replace(author, role=message.role)),
        "message": message.text,
        "creationTime": format_datetime(message.created_at) if message.created_at else None,
        "isByTeam": message.role is Role.AGENT,
    }


def writer(message: NewMessage, *, customer: ParticipantInput | None, agent_email: str | None) -> ParticipantInput | None:
    """Who a message is written as: its author when the author identifies a user, else the
    conversation's `customer` (a CUSTOMER message) or the team member `agent_email` (an AGENT one),
    keeping a name the author gave; None when there is nobody to write an AGENT message as."""
    author = message.author
    if identifies(author) or message.role is Role.BOT:
        return author or ParticipantInput(role=Role.BOT)
    name = author.name if author is not None else None
    if message.role is Role.CUSTOMER and customer is not None:
        return replace(customer, name=name or customer.name)
    if message.role is Role.AGENT and agent_email is not None:
        return ParticipantInput(email=agent_email, name=name, role=Role.AGENT)
    return None


def identifies(person: ParticipantInput | None) -> bool:
    """Whether a User value can find or create a user from it (the docs need id, email or customIdentifier)."""
    return person is not None and any(v is not None for v in (person.id, person.email, person.external_id))


def build_conversation_payload(new: NewConversation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "author": build_user_value(new.customer),
        "title": new.topic,
        "url": new.url,
        "sentiment": new.sentiment,
        "categoryId": int(new.category_id) if new.category_id is not None else None,
        "isBotEnabled": new.bot_active,
    }
    if new.custom_fields:
        body["fields"] = [{"id": _field_id(f.id), "value": f.value} for f in new.custom_fields]
    return {key: value for key, value in body.items() if value is not None}


def participant_input(person: Participant) -> ParticipantInput:
    """The value that identifies an existing user when writing on their behalf."""
    return ParticipantInput(
        id=person.id, email=person.email, external_id=person.external_id, name=person.name, role=person.role
    )


def too_far_ahead(created_at: datetime, now: datetime, *, leeway_seconds: float) -> bool:
    return (created_at - now).total_seconds() > leeway_seconds


def is_guid(value: str) -> bool:
    """Whether `value` is a GUID, as Socialboards user ids (`assigneeId`) are."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _field_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _position(raw: object) -> int | None:
    return _int(raw.get("position")) if isinstance(raw, Mapping) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)
