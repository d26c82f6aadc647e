"""CleverTap-style conversations JSON <-> neutral models. Pure functions: no I/O, no httpx.

The record shapes are the project's own API design (docs/clevertap-api.md): CleverTap publishes no
conversations API. Times are integer epoch seconds. Ticket status is the dashboard's `New` /
`Pending` / `Closed`; `state` (`active` | `inactive`) is the 24-hour reply window.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .._shape import NUMBER, TEXT, WHOLE, Shape, check
from ..models import (
    Campaign,
    Channel,
    Conversation,
    ConversationFilter,
    ConversationStatus,
    Direction,
    Message,
    Participant,
    Role,
    SortOrder,
    VendorEvent,
)

VENDOR = "clevertap"
STATUS_FROM_VENDOR: dict[str, ConversationStatus] = {
    "New": ConversationStatus.NEW,
    "Pending": ConversationStatus.PENDING,
    "Closed": ConversationStatus.CLOSED,
}
STATUS_FALLBACK = ConversationStatus.UNKNOWN
STATUS_TO_VENDOR: dict[ConversationStatus, str] = {status: raw for raw, status in STATUS_FROM_VENDOR.items()}
ACTIVE_FROM_STATE: dict[str, bool] = {"active": True, "inactive": False}
CHANNEL_FROM_VENDOR: dict[str, Channel] = {
    "whatsapp": Channel.WHATSAPP,
    "sms": Channel.SMS,
    "email": Channel.EMAIL,
    "push": Channel.PUSH,
    "in_app": Channel.IN_APP,
    "viber": Channel.VIBER,
    "facebook": Channel.FACEBOOK_MESSENGER,
    "messenger": Channel.FACEBOOK_MESSENGER,
    "instagram": Channel.INSTAGRAM,
    "telegram": Channel.TELEGRAM,
    "line": Channel.LINE,
    "rcs": Channel.RCS,
}
CHANNEL_FALLBACK = Channel.UNKNOWN
DIRECTION_FROM_VENDOR: dict[str, Direction] = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}
LISTING_ORDER: dict[SortOrder, tuple[str, str]] = {
    SortOrder.UPDATED_DESC: ("updated_ts", "desc"),
    SortOrder.UPDATED_ASC: ("updated_ts", "asc"),
    SortOrder.CREATED_DESC: ("created_ts", "desc"),
    SortOrder.CREATED_ASC: ("created_ts", "asc"),
}
# The event body (docs/clevertap-api.md): ids and names are strings, times epoch seconds.
AGENT_SHAPE: Shape = {"id": TEXT, "email": TEXT, "name": TEXT}
MESSAGE_SHAPE: Shape = {
    "id": TEXT, "conversation_id": TEXT, "direction": TEXT, "type": TEXT, "text": TEXT, "ts": NUMBER, "agent": AGENT_SHAPE,
}
RECORD_SHAPE: Shape = {
    "id": TEXT, "identity": TEXT, "objectId": TEXT, "user_name": TEXT, "campaign_id": WHOLE, "campaign_name": TEXT,
    "labels": [TEXT], "channel": TEXT, "ticket_status": TEXT, "state": TEXT, "agent": AGENT_SHAPE,
    "last_message": MESSAGE_SHAPE, "last_user_reply_ts": NUMBER, "created_ts": NUMBER, "updated_ts": NUMBER,
    "message_count": WHOLE,
}
WEBHOOK_SHAPE: Shape = {"event": TEXT, "ts": NUMBER, "record": RECORD_SHAPE, "message": MESSAGE_SHAPE}
EVENT_USER_REPLIED = "conversation.user_replied"
WEBHOOK_EVENTS = frozenset({EVENT_USER_REPLIED, "conversation.ticket_status_changed", "conversation.claimed"})


# ---- inbound ------------------------------------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """Epoch seconds as an aware UTC datetime; None for anything else (never raises)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_agent(raw: object) -> Participant | None:
    """A dashboard user. Its `id` is the email: what `assign` and replies take."""
    if not isinstance(raw, Mapping):
        return None
    email = _text(raw.get("email"))
    return Participant(id=email, name=_text(raw.get("name")), role=Role.AGENT, email=email, external_id=_text(raw.get("id")))


def parse_customer(raw: Mapping[str, Any]) -> Participant | None:
    identity, name, object_id = _text(raw.get("identity")), _text(raw.get("user_name")), _text(raw.get("objectId"))
    if identity is None and name is None and object_id is None:
        return None
    return Participant(id=identity, name=name, role=Role.CUSTOMER, external_id=object_id)


def parse_message(
    raw: Mapping[str, Any],
    *,
    provider: str,
    conversation_id: str | None = None,
    customer: Participant | None = None,
    owner: Participant | None = None,
) -> Message:
    """Inbound messages are the customer's; outbound ones the agent's, or CleverTap's own (SYSTEM:
    a campaign or autoresponder) when no agent sent them. `customer` fills in the inbound author;
    `owner` the outbound one of a message shown without its `agent` (a record's `last_message`):
    only the agent who holds a conversation replies in it (first agent wins)."""
    agent = parse_agent(raw.get("agent")) if "agent" in raw else owner
    direction = DIRECTION_FROM_VENDOR.get(str(raw.get("direction")), Direction.INBOUND if agent is None else Direction.OUTBOUND)
    if direction is Direction.INBOUND:
        author = customer or Participant(id=None, name=None, role=Role.CUSTOMER)
    else:
        author = agent or Participant(id=None, name=None, role=Role.SYSTEM)
    return Message(
        provider=provider,
        remote_id=_text(raw.get("id")) or "",
        conversation_remote_id=conversation_id or _text(raw.get("conversation_id")) or "",
        text=_text(raw.get("text")),
        author=author,
        direction=direction,
        created_at=parse_time(raw.get("ts")),
        vendor_data=raw,
    )


def has_id(raw: Mapping[str, Any]) -> bool:
    return raw.get("id") is not None


def parse_conversation(raw: Mapping[str, Any], *, provider: str) -> Conversation:
    """Raises KeyError without an `id`; every other field is read leniently."""
    remote_id = str(raw["id"])
    vendor_status = _text(raw.get("ticket_status"))
    customer, owner = parse_customer(raw), parse_agent(raw.get("agent"))
    last = raw.get("last_message")
    last_message = (
        parse_message(last, provider=provider, conversation_id=remote_id, customer=customer, owner=owner)
        if isinstance(last, Mapping)
        else None
    )
    return Conversation(
        provider=provider,
        vendor=VENDOR,
        remote_id=remote_id,
        status=STATUS_FROM_VENDOR.get(vendor_status or "", STATUS_FALLBACK),
        vendor_status=vendor_status,
        created_at=parse_time(raw.get("created_ts")),
        updated_at=parse_time(raw.get("updated_ts")),
        channel=parse_channel(raw.get("channel")),
        customer=customer,
        assignee=owner,
        tags=tuple(label for label in raw.get("labels") or () if isinstance(label, str)),
        campaign=parse_campaign(raw),
        active=ACTIVE_FROM_STATE.get(str(raw.get("state"))),
        last_message_at=last_message.created_at if last_message is not None else None,
        message_count=_int(raw.get("message_count")),
        last_message=last_message,
        vendor_data=raw,
    )


def parse_channel(value: object) -> Channel | None:
    if not isinstance(value, str) or not value:
        return None
    return CHANNEL_FROM_VENDOR.get(value.lower(), CHANNEL_FALLBACK)


def parse_campaign(raw: Mapping[str, Any]) -> Campaign | None:
    campaign_id = raw.get("campaign_id")
    if campaign_id is None or isinstance(campaign_id, bool):
        return None
    return Campaign(id=str(campaign_id), name=_text(raw.get("campaign_name")))


def parse_webhook(payload: object, *, provider: str) -> list[VendorEvent]:
    """The project's event body `{"event", "ts", "record", "message"?}` as neutral events.

    Raises ValueError for a body Parley does not understand; unknown event names give []."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("event"), str):
        raise ValueError("expected an object with a string `event`")
    check(payload, WEBHOOK_SHAPE, "body")
    if payload["event"] not in WEBHOOK_EVENTS:
        return []
    record = payload.get("record")
    if not isinstance(record, Mapping) or record.get("id") is None:
        raise ValueError(f"{payload['event']} without a conversation `record` carrying an id")
    conversation = parse_conversation(record, provider=provider)
    message = None
    if payload["event"] == EVENT_USER_REPLIED:
        raw_message = payload.get("message")
        if not isinstance(raw_message, Mapping) or raw_message.get("id") is None:
            raise ValueError(f"{EVENT_USER_REPLIED} without a `message` carrying an id")
        message = parse_message(
            raw_message, provider=provider, conversation_id=conversation.remote_id, customer=conversation.customer
        )
    return [VendorEvent(conversation_remote_id=conversation.remote_id, conversation=conversation, message=message)]


# ---- listing ------------------------------------------------------------------------------------


def build_listing_body(filter: ConversationFilter, order: SortOrder) -> dict[str, Any] | None:
    """The step-1 listing body: the filters CleverTap applies itself, and the order.

    None when the status filter names only statuses CleverTap cannot hold (nothing can match).
    A status filter that admits UNKNOWN is not sent: the vendor cannot select unknown values.
    """
    sort_by, sort_order = LISTING_ORDER[order]
    body: dict[str, Any] = {"sort_by": sort_by, "sort_order": sort_order}
    if filter.status is not None and ConversationStatus.UNKNOWN not in filter.status:
        wanted = [STATUS_TO_VENDOR[s] for s in STATUS_TO_VENDOR if s in filter.status]
        if not wanted:
            return None
        body["ticket_status"] = wanted
    if filter.search:
        body["search"] = filter.search
    if filter.campaign:
        body["campaign"] = filter.campaign
    if filter.tags is not None and len(filter.tags) == 1:
        body["label"] = filter.tags[0]
    if filter.active is not None:
        body["state"] = "active" if filter.active else "inactive"
    return body


def matches(filter: ConversationFilter, conversation: Conversation) -> bool:
    """The whole filter against a fetched record, labels compared as CleverTap does (ignoring case).

    Re-checking what the vendor already filtered is cheap, and keeps a page true to each record's
    current state (a listing is a snapshot of ids taken at the first page; records are read later).
    """
    if filter.tags is not None:
        wanted = {tag.casefold() for tag in filter.tags}
        if wanted.isdisjoint(label.casefold() for label in conversation.tags):
            return False
    return dataclasses.replace(filter, tags=None).matches(conversation)


def all_native(filter: ConversationFilter) -> bool:
    """Whether CleverTap applies the whole filter itself (the batch then needs no slack)."""
    native = filter.tags is None or len(filter.tags) == 1
    local = (filter.channel, filter.assignee_id, filter.remote_ids, filter.created_after, filter.created_before,
             filter.updated_after, filter.updated_before)
    unknown_status = filter.status is not None and ConversationStatus.UNKNOWN in filter.status
    return native and not unknown_status and all(value is None for value in local)


def past_end(filter: ConversationFilter, order: SortOrder) -> Callable[[Conversation], bool]:
    """Whether a record lies beyond the time bound the list is sorted towards, so none after it can
    match. The order is the listing's snapshot; a record changed since then may sort differently,
    and appears in the next listing."""
    bound: datetime | None
    if order is SortOrder.UPDATED_DESC:
        bound, key, descending = filter.updated_after, "updated_at", True
    elif order is SortOrder.UPDATED_ASC:
        bound, key, descending = filter.updated_before, "updated_at", False
    elif order is SortOrder.CREATED_DESC:
        bound, key, descending = filter.created_after, "created_at", True
    else:
        bound, key, descending = filter.created_before, "created_at", False
    if bound is None:
        return lambda conversation: False
    limit: datetime = bound

    def past(conversation: Conversation) -> bool:
        moment = getattr(conversation, key)
        return moment is not None and (moment <= limit if descending else moment >= limit)

    return past


def listing_fingerprint(filter: ConversationFilter, order: SortOrder) -> str:
    """Ties a listing cursor to the filter and order it was opened with."""
    return hashlib.blake2s(repr((filter, order)).encode(), digest_size=6).hexdigest()


# ---- writes -------------------------------------------------------------------------------------


def build_claim_payload(conversation_id: str, agent_email: str) -> dict[str, Any]:
    return {"id": conversation_id, "agent": {"email": agent_email}}


def build_reply_payload(conversation_id: str, agent_email: str, text: str) -> dict[str, Any]:
    return {"id": conversation_id, "agent": {"email": agent_email}, "message": {"type": "text", "text": text}}


def build_ticket_status_payload(conversation_id: str, status: ConversationStatus) -> dict[str, Any]:
    """Raises KeyError for a status CleverTap cannot hold (callers check `STATUS_TO_VENDOR` first)."""
    return {"id": conversation_id, "ticket_status": STATUS_TO_VENDOR[status]}


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (Mapping, list, bool)):
        return None
    return str(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
