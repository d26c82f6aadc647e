"""Vendor-neutral models: what every adapter returns and accepts.

Every field is either mapped from the vendor or `None` where the vendor has no such thing; nothing is
invented. `vendor_data` keeps the vendor's own object as received.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ConversationStatus(enum.Enum):
    NEW = "NEW"
    OPEN = "OPEN"
    PENDING = "PENDING"
    SOLVED = "SOLVED"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"


class Priority(enum.Enum):
    URGENT = "URGENT"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"
    UNKNOWN = "UNKNOWN"


class Channel(enum.Enum):
    LIVE_CHAT = "LIVE_CHAT"
    SMS = "SMS"
    WHATSAPP = "WHATSAPP"
    VIBER = "VIBER"
    VIBER_BOT = "VIBER_BOT"
    FACEBOOK_MESSENGER = "FACEBOOK_MESSENGER"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"
    LINE = "LINE"
    RCS = "RCS"
    GOOGLE_BUSINESS_MESSAGES = "GOOGLE_BUSINESS_MESSAGES"
    APPLE_BUSINESS_CHAT = "APPLE_BUSINESS_CHAT"
    KAKAO_SANGDAM = "KAKAO_SANGDAM"
    TWITTER_DM = "TWITTER_DM"
    EMAIL = "EMAIL"
    PUSH = "PUSH"
    IN_APP = "IN_APP"
    MULTICHANNEL = "MULTICHANNEL"
    NO_CHANNEL = "NO_CHANNEL"
    UNKNOWN = "UNKNOWN"


class Role(enum.Enum):
    CUSTOMER = "CUSTOMER"
    AGENT = "AGENT"
    BOT = "BOT"
    SYSTEM = "SYSTEM"


class Direction(enum.Enum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class SortOrder(enum.Enum):
    UPDATED_DESC = "UPDATED_DESC"
    UPDATED_ASC = "UPDATED_ASC"
    CREATED_DESC = "CREATED_DESC"
    CREATED_ASC = "CREATED_ASC"


@dataclass(frozen=True, slots=True)
class Participant:
    id: str | None
    name: str | None
    role: Role
    email: str | None = None
    external_id: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    id: str | None
    position: int | None = None
    wait_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    positive: bool | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str | None


@dataclass(frozen=True, slots=True)
class CustomField:
    id: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Message:
    provider: str
    remote_id: str
    conversation_remote_id: str
    text: str | None
    author: Participant | None
    direction: Direction
    created_at: datetime | None
    channel: Channel | None = None
    imported: bool = False
    vendor_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conversation:
    provider: str
    vendor: str
    remote_id: str
    status: ConversationStatus
    vendor_status: str | None
    created_at: datetime | None
    updated_at: datetime | None
    topic: str | None = None
    summary: str | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    customer: Participant | None = None
    assignee: Participant | None = None
    queue: QueueInfo | None = None
    bot_active: bool | None = None
    tags: tuple[str, ...] = ()
    feedback: Feedback | None = None
    initial_page_url: str | None = None
    latest_page_url: str | None = None
    sentiment: str | None = None
    category_id: str | None = None
    custom_fields: tuple[CustomField, ...] | None = None
    campaign: Campaign | None = None
    active: bool | None = None
    last_message_at: datetime | None = None
    message_count: int | None = None
    vendor_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list. Cursors are opaque: `cursors[i]` resumes right after `items[i]`;
    `next_cursor` resumes after the page and is `None` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None
    cursors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VendorEvent:
    """A change the vendor pushed (webhook): a new message, or a conversation's new state."""

    conversation_remote_id: str
    conversation: Conversation | None = None
    message: Message | None = None


# ---- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParticipantInput:
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    id: str | None = None
    avatar_url: str | None = None
    role: Role = Role.CUSTOMER


@dataclass(frozen=True, slots=True)
class NewMessage:
    text: str
    author: ParticipantInput | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewConversation:
    customer: ParticipantInput
    topic: str | None = None
    summary: str | None = None
    url: str | None = None
    sentiment: str | None = None
    category_id: str | None = None
    custom_fields: tuple[CustomField, ...] = ()
    bot_active: bool = False
    priority: Priority | None = None
    channel: Channel | None = None
    messages: tuple[NewMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationChanges:
    """Fields to change; `None` means leave as is."""

    topic: str | None = None
    summary: str | None = None
    status: ConversationStatus | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    queue_id: str | None = None

    def changed(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """Filters a provider applies to `list_conversations`; `None` means no constraint."""

    status: tuple[ConversationStatus, ...] | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    def matches(self, conversation: Conversation) -> bool:
        if self.status is not None and conversation.status not in self.status:
            return False
        updated = conversation.updated_at
        if self.updated_after is not None and (updated is None or updated <= self.updated_after):
            return False
        return self.updated_before is None or (updated is not None and updated < self.updated_before)
