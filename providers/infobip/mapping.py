"""Infobip Conversations JSON <-> neutral models. Pure functions: no I/O, no httpx.

The conversation object carries no tags and no customer: the provider reads them with
`GET …/tags` and from the earliest INBOUND message, and passes them in (`Hydration`).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .._shape import TEXT, Shape, check
from .._time import parse_datetime
from ..echo import echo
from ..models import (
    Channel,
    Conversation,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    Direction,
    Message,
    NewConversation,
    NewMessage,
    Participant,
    Priority,
    QueueInfo,
    Role,
    SortOrder,
    VendorEvent,
    make_conversation,
    make_message,
)

VENDOR = "infobip"
STATUS_FROM_VENDOR: dict[str, ConversationStatus] = {
    "OPEN": ConversationStatus.OPEN,
    "WAITING": ConversationStatus.PENDING,
    "SOLVED": ConversationStatus.SOLVED,
    "CLOSED": ConversationStatus.CLOSED,
}
STATUS_FALLBACK = ConversationStatus.UNKNOWN
STATUS_TO_VENDOR = {unified: raw for raw, unified in STATUS_FROM_VENDOR.items()}
PRIORITY_FROM_VENDOR: dict[str, Priority] = {p.value: p for p in (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)}
PRIORITY_FALLBACK = Priority.UNKNOWN
PRIORITY_TO_VENDOR = {unified: raw for raw, unified in PRIORITY_FROM_VENDOR.items()}
# Conversation channels (old docs) and message channels (current docs); Infobip's names except Instagram.
CHANNEL_FROM_VENDOR: dict[str, Channel] = {
    **{c.value: c for c in Channel if c not in (Channel.INSTAGRAM, Channel.PUSH, Channel.IN_APP)},
    "INSTAGRAM_MESSAGING": Channel.INSTAGRAM,
}
CHANNEL_FALLBACK = Channel.UNKNOWN
CHANNEL_TO_VENDOR = {unified: raw for raw, unified in CHANNEL_FROM_VENDOR.items()}
DIRECTION_FROM_VENDOR: dict[str, Direction] = {"INBOUND": Direction.INBOUND, "OUTBOUND": Direction.OUTBOUND}
DIRECTION_FALLBACK = Direction.OUTBOUND  # anything not marked inbound was not written by the customer
ROLE_FROM_DIRECTION: dict[Direction, Role] = {Direction.INBOUND: Role.CUSTOMER, Direction.OUTBOUND: Role.AGENT}
ORDER_TO_VENDOR: dict[SortOrder, tuple[str, bool]] = {  # (field, descending)
    SortOrder.UPDATED_DESC: ("updatedAt", True),
    SortOrder.UPDATED_ASC: ("updatedAt", False),
    SortOrder.CREATED_DESC: ("createdAt", True),
    SortOrder.CREATED_ASC: ("createdAt", False),
}
MESSAGE_EVENTS = frozenset({"INBOUND_MESSAGE_RECEIVED", "OUTBOUND_MESSAGE_SENT"})
CONVERSATION_EVENTS = frozenset(
    {
        "CONVERSATION_CREATED", "CONVERSATION_ASSIGNMENT_CHANGED", "CONVERSATION_STATUS_CHANGED",
        "CONVERSATION_PRIORITY_CHANGED", "CONVERSATION_QUEUE_CHANGED", "CONVERSATION_TOPIC_CHANGED",
        "CONVERSATION_SUMMARY_CHANGED", "CONVERSATION_TAG_ADDED", "CONVERSATION_TAG_REMOVED",
    }
)
MAX_TEXT = 1000
LATEST_MS = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)  # times travel to the millisecond
MAX_TAG_NAME = 100
UNSTORABLE = ("url", "sentiment", "categoryId", "customFields", "botActive")
# The messages endpoint sends as the business, and a message read back is OUTBOUND, the agent's: the
# only role Parley can write and read back the same. (Customers write in over their channel.)
WRITABLE_ROLES = frozenset({Role.AGENT})


# The webhook body as the sandbox pins it (docs/infobip.md): ids, times and enum values are strings.
CONVERSATION_SHAPE: Shape = {
    name: TEXT for name in ("id", "topic", "summary", "status", "priority", "queueId", "agentId", "createdAt", "updatedAt", "channel")
}
MESSAGE_SHAPE: Shape = {
    name: TEXT for name in ("id", "from", "to", "channel", "direction", "conversationId", "createdAt", "updatedAt", "contentType")
}
WEBHOOK_SHAPE: Shape = {
    "type": TEXT, "timestamp": TEXT,
    "payload": {"conversation": CONVERSATION_SHAPE, "message": MESSAGE_SHAPE, "tag": {"name": TEXT}},
}


@dataclass(frozen=True, slots=True)
class Hydration:
    """What the provider read besides the conversation object (None: not read)."""

    tags: tuple[str, ...] = ()
    first_inbound: Mapping[str, Any] | None = None
    latest: Mapping[str, Any] | None = None
    message_count: int | None = None


NO_HYDRATION = Hydration()


class InputError(ValueError):
    """An input Infobip cannot take, found before any call; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# ---- inbound ------------------------------------------------------------------------------------


def parse_message(
    raw: Mapping[str, Any], *, provider: str, conversation_id: str | None = None, created_at: datetime | None = None
) -> Message:
    """`created_at`: `raw`'s createdAt already parsed (a listing sorts by it), else parsed here."""
    vendor_direction = raw.get("direction")
    direction, author = _DIRECTED.get(vendor_direction, _UNDIRECTED) if isinstance(vendor_direction, str) else _UNDIRECTED
    sender, content, channel = raw.get("from"), raw.get("content"), raw.get("channel")
    if type(content) is dict:  # TEXT content as Infobip sends it (the first of message_text's cases here)
        text = content.get("text")
        text = text if isinstance(text, str) else None
    else:
        text = message_text(content)
    return make_message(
        provider=provider,
        remote_id=str(raw["id"]),
        conversation_remote_id=conversation_id or str(raw.get("conversationId")),
        text=text,
        author=author(_str(sender)),
        direction=direction,
        created_at=created_at or parse_datetime(raw.get("createdAt")),
        channel=None if channel is None else CHANNEL_FROM_VENDOR.get(str(channel), CHANNEL_FALLBACK),
        vendor_data=raw,
    )


# The authors of messages, one object per address and role: a conversation's 50 messages have one or
# two (frozen, so shared as they are; a conversation's assignee too, and its queue, as an inbox page of
# 20 rows has a few agents and queues). Bounded, so a busy account's addresses come and go.
AUTHORS_KEPT = 1024


@functools.lru_cache(maxsize=AUTHORS_KEPT)
def _customer(address: str | None) -> Participant:
    return Participant(id=address, name=None, role=ROLE_FROM_DIRECTION[Direction.INBOUND])


@functools.lru_cache(maxsize=AUTHORS_KEPT)
def _agent(address: str | None) -> Participant:
    return Participant(id=address, name=None, role=ROLE_FROM_DIRECTION[Direction.OUTBOUND])


@functools.lru_cache(maxsize=AUTHORS_KEPT)
def _queue(queue_id: str) -> QueueInfo:
    return QueueInfo(id=queue_id)


# A message's direction and its author's maker, by the vendor's direction, in one lookup (an Enum's
# hash is Python code).
_AUTHORS = {Direction.INBOUND: _customer, Direction.OUTBOUND: _agent}
_DIRECTED = {name: (direction, _AUTHORS[direction]) for name, direction in DIRECTION_FROM_VENDOR.items()}
_UNDIRECTED = (DIRECTION_FALLBACK, _AUTHORS[DIRECTION_FALLBACK])


def message_text(content: object) -> str | None:
    """TEXT content is `{"text": …}`; old examples show the text as a plain string."""
    if isinstance(content, str):
        return content
    text = content.get("text") if isinstance(content, Mapping) else None
    return text if isinstance(text, str) else None


def parse_channel(raw: object) -> Channel | None:
    return None if raw is None else CHANNEL_FROM_VENDOR.get(str(raw), CHANNEL_FALLBACK)


def parse_customer(first_inbound: Mapping[str, Any] | None) -> Participant | None:
    """The customer is whoever wrote the earliest inbound message."""
    if first_inbound is None or first_inbound.get("from") is None:
        return None
    return _customer(str(first_inbound["from"]))


def parse_conversation(
    raw: Mapping[str, Any], *, provider: str, hydration: Hydration | None = None, sorted_by: str | None = None,
    sort_time: datetime | None = None,
) -> Conversation:
    """`sort_time`: `raw`'s `sorted_by` time (createdAt or updatedAt) already parsed (a listing sorts by
    it), else parsed here."""
    extra = hydration or NO_HYDRATION
    remote_id = str(raw["id"])
    status, priority, agent, queue = raw.get("status"), raw.get("priority"), raw.get("agentId"), raw.get("queueId")
    latest = parse_message(extra.latest, provider=provider, conversation_id=remote_id) if extra.latest else None
    return make_conversation(
        provider=provider,
        vendor=VENDOR,
        remote_id=remote_id,
        status=STATUS_FROM_VENDOR.get(str(status), STATUS_FALLBACK),
        vendor_status=_str(status),
        created_at=sort_time if sorted_by == "createdAt" else parse_datetime(raw.get("createdAt")),
        updated_at=sort_time if sorted_by == "updatedAt" else parse_datetime(raw.get("updatedAt")),
        topic=raw.get("topic"),
        summary=raw.get("summary"),
        priority=None if priority is None else PRIORITY_FROM_VENDOR.get(str(priority), PRIORITY_FALLBACK),
        channel=parse_channel(raw.get("channel")),
        customer=parse_customer(extra.first_inbound),
        assignee=None if agent is None else _agent(str(agent)),
        queue=None if queue is None else _queue(str(queue)),
        tags=extra.tags,
        last_message_at=latest.created_at if latest else None,
        message_count=extra.message_count,
        last_message=latest,
        vendor_data=raw,
    )


def parse_tag_names(raw: object) -> tuple[str, ...]:
    """`{"tags": [{"name", …}], "pagination"}` -> the names, in the vendor's order."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("tags"), list):
        raise ValueError("expected an object with tags[]")
    return tuple(str(t["name"]) for t in raw["tags"] if isinstance(t, Mapping) and t.get("name") is not None)


def parse_webhook(payload: object, *, provider: str) -> list[VendorEvent]:
    """`{"type", "timestamp", "payload": {"conversation", "message"?, "tag"?}}` as neutral events."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("type"), str):
        raise ValueError("expected an object with a string type")
    check(payload, WEBHOOK_SHAPE, "body")
    body = payload.get("payload")
    if not isinstance(body, Mapping):
        raise ValueError("expected an object payload")
    kind = payload["type"]
    if kind not in MESSAGE_EVENTS and kind not in CONVERSATION_EVENTS:
        return []
    raw_conversation, raw_message = _with_id(body.get("conversation")), _with_id(body.get("message"))
    conversation = parse_conversation(raw_conversation, provider=provider) if raw_conversation else None
    if kind in CONVERSATION_EVENTS:
        if conversation is None:
            raise ValueError(f"{kind} without a conversation")
        # The webhook's conversation has no tags, customer or message count: the gateway reads it.
        return [VendorEvent(conversation_remote_id=conversation.remote_id, conversation=conversation, partial=True)]
    if raw_message is None:
        raise ValueError(f"{kind} without a message")
    owner = conversation.remote_id if conversation else _str(raw_message.get("conversationId"))
    if owner is None:
        raise ValueError(f"{kind} names no conversation")
    message = parse_message(raw_message, provider=provider, conversation_id=owner)
    return [VendorEvent(conversation_remote_id=owner, conversation=conversation, message=message, partial=True)]


# ---- listing ------------------------------------------------------------------------------------


def build_list_params(filter: ConversationFilter) -> tuple[dict[str, Any], bool] | None:
    """Query parameters for the filters Infobip applies, and whether they are all of `filter`.

    None when nothing can match (e.g. status NEW, which Infobip has not). Times stay datetimes:
    the client writes them in the vendor's form.
    """
    params: dict[str, Any] = {}
    exact = filter.tags is None and filter.search is None and filter.channel is None
    choices: tuple[tuple[str, tuple[enum.Enum, ...] | None, Mapping[Any, str], enum.Enum], ...] = (
        ("status", filter.status, STATUS_TO_VENDOR, STATUS_FALLBACK),
        ("priority", filter.priority, PRIORITY_TO_VENDOR, PRIORITY_FALLBACK),
    )
    for name, wanted, to_vendor, fallback in choices:
        if wanted is None:
            continue
        values = {to_vendor[w] for w in wanted if w in to_vendor}
        if fallback in wanted or len(values) > 1:
            exact = False  # several values, or values Infobip does not name: filtered after fetching
        elif not values:
            return None
        else:
            params[name] = values.pop()
    for name, ids in (("conversationIds", filter.remote_ids), ("queueIds", filter.queue_ids)):
        if ids is not None:
            if not ids:
                return None
            params[name] = list(ids)
    if filter.assignee_id is not None:
        params["agentId"] = filter.assignee_id
    if filter.channel == () or filter.tags == ():
        return None  # "any of" nothing
    for name, moment in (
        ("createdAfter", filter.created_after),
        ("createdBefore", filter.created_before),
        ("updatedAfter", filter.updated_after),
        ("updatedBefore", filter.updated_before),
    ):
        if moment is not None:
            if name.endswith("Before") and moment > LATEST_MS:  # the wire rounds it up, past year 9999
                raise InputError(f"{name} {moment.isoformat()} is later than Infobip can take ({LATEST_MS.isoformat()})", name)
            params[name] = moment
    return params, exact


def order_params(field: str, descending: bool) -> dict[str, str]:
    """The `orderBy` parameter of a list sorted by `field` (`createdAt:desc`)."""
    return {"orderBy": f"{field}:{'desc' if descending else 'asc'}"}


# Message lists: sorted and paged by creation time; the reads that hydrate a conversation.
MESSAGE_TIME = "createdAt"
FIRST_INBOUND = {"direction": "INBOUND", **order_params(MESSAGE_TIME, False)}
LATEST_INBOUND = {"direction": "INBOUND", **order_params(MESSAGE_TIME, True)}
LATEST = order_params(MESSAGE_TIME, True)


def prefilter(filter: ConversationFilter) -> ConversationFilter:
    """The part of `filter` a conversation object alone can answer (no tags, no messages)."""
    if filter.tags is None and filter.search is None:
        return filter  # frozen: the filter itself is the part asked for (most lists filter by neither)
    return replace(filter, tags=None, search=None)


# ---- outbound -----------------------------------------------------------------------------------


def build_conversation_payload(new: NewConversation) -> dict[str, Any]:
    """Create body; `status` is left to the vendor's default (OPEN)."""
    body = {
        "topic": new.topic,
        "summary": new.summary,
        "priority": PRIORITY_TO_VENDOR[new.priority] if new.priority is not None else None,
        "channel": CHANNEL_TO_VENDOR[new.channel] if new.channel is not None else None,
    }
    return {key: value for key, value in body.items() if value is not None}


def build_changes_payload(changes: ConversationChanges) -> dict[str, Any]:
    """PATCH body: only the fields that change. Values must be writable (checked by the provider)."""
    body = {
        "topic": changes.topic,
        "summary": changes.summary,
        "status": STATUS_TO_VENDOR[changes.status] if changes.status is not None else None,
        "priority": PRIORITY_TO_VENDOR[changes.priority] if changes.priority is not None else None,
        "channel": CHANNEL_TO_VENDOR[changes.channel] if changes.channel is not None else None,
        "queueId": changes.queue_id,
    }
    return {key: value for key, value in body.items() if value is not None}


def build_replacement_payload(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """PUT body: the full conversation as it is, with `patch` applied (PUT nulls what it omits)."""
    fields = ("topic", "summary", "status", "priority", "queueId", "agentId", "channel")
    return {name: patch.get(name, current.get(name)) for name in fields}


def valid_tag_names(tags: Sequence[str]) -> list[str]:
    """The tags without repeats, in order."""
    names: list[str] = []
    for tag in tags:
        if not tag.strip() or len(tag) > MAX_TAG_NAME:
            raise InputError(f"tag {echo(tag)}: a tag name has 1 to {MAX_TAG_NAME} characters", "tags")
        if tag not in names:
            names.append(tag)
    if not names:
        raise InputError("no tags given", "tags")
    return names


# ---- what Infobip can take ----------------------------------------------------------------------


def check_new_conversation(new: NewConversation) -> None:
    given = (new.url is not None, new.sentiment is not None, new.category_id is not None, bool(new.custom_fields), new.bot_active)
    for field, present in zip(UNSTORABLE, given, strict=True):
        if present:
            raise InputError(f"Infobip conversations have no {field}; leave it out", field)
    _check_values(new.priority, new.channel)


def check_changes(changes: ConversationChanges) -> None:
    if changes.status is not None and changes.status not in STATUS_TO_VENDOR:
        accepted = ", ".join(s.value for s in STATUS_TO_VENDOR)
        raise InputError(f"Infobip cannot set status {changes.status.value}; accepted values: {accepted}", "status")
    _check_values(changes.priority, changes.channel)


def check_new_messages(messages: Sequence[NewMessage]) -> None:
    """Every message, before any is sent: Infobip adds outbound TEXT messages stamped with its own time."""
    for index, message in enumerate(messages, start=1):
        if not message.text or not message.text.strip():
            raise InputError(f"message {index} has no text", "text")
        if len(message.text) > MAX_TEXT:
            raise InputError(f"message {index} has {len(message.text)} characters; Infobip takes at most {MAX_TEXT}", "text")
        if message.created_at is not None:
            raise InputError(f"message {index} has a createdAt; Infobip stamps messages with its own time", "createdAt")


def _check_values(priority: Priority | None, channel: Channel | None) -> None:
    if priority is not None and priority not in PRIORITY_TO_VENDOR:
        accepted = ", ".join(p.value for p in PRIORITY_TO_VENDOR)
        raise InputError(f"Infobip cannot set priority {priority.value}; accepted values: {accepted}", "priority")
    if channel is not None and channel not in CHANNEL_TO_VENDOR:
        accepted = ", ".join(c.value for c in CHANNEL_TO_VENDOR)
        raise InputError(f"Infobip has no channel {channel.value}; accepted values: {accepted}", "channel")


# ---- object shapes ------------------------------------------------------------------------------


def has_id(raw: object) -> bool:
    return isinstance(raw, Mapping) and raw.get("id") is not None


def row_id(raw: Mapping[str, Any]) -> str:
    """The id of a conversation or message object (KeyError without one)."""
    return str(raw["id"])


def is_conversation(raw: object) -> bool:
    """A whole conversation object (an id and a status), as most writes answer."""
    return isinstance(raw, Mapping) and raw.get("id") is not None and "status" in raw


def in_queue(raw: object, queue_id: str) -> bool:
    return isinstance(raw, Mapping) and raw.get("queueId") == queue_id


def vendor_channel(raw: Mapping[str, Any]) -> str | None:
    """A conversation object's channel as Infobip names it."""
    return _str(raw.get("channel"))


def _with_id(raw: object) -> Mapping[str, Any] | None:
    return raw if isinstance(raw, Mapping) and raw.get("id") is not None else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)

