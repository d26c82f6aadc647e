"""Vendor-neutral models: what every adapter returns and accepts.

Every field is either mapped from the vendor or `None` where the vendor has no such thing; nothing is
invented. `vendor_data` keeps the vendor's own object as received.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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
    last_message: Message | None = None  # set when the vendor returns it inline with the conversation
    vendor_data: Mapping[str, Any] = field(default_factory=dict)
    # Fields this object does not carry: a read asked for fewer fields than the vendor can give
    # (`fields=` of the provider's reads), and `Hydrates.hydrate` fills them in on demand.
    missing: frozenset[str] = frozenset()


def constructor(cls: type[T]) -> Callable[..., T]:
    """A keyword-only constructor for the frozen slots dataclass `cls`, with its fields, defaults and
    result (an instance that stays frozen and equals the one `cls(...)` makes).

    A frozen dataclass's `__init__` sets each field with `object.__setattr__`, looked up per field: for
    the 1,000 messages of a nested page that was most of building them. This one sets each slot through
    its descriptor. For hot mappers; `cls(...)` stays the general path (`tests/test_models_fast.py`)."""
    specs = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or not all(spec.init for spec in specs):
        raise TypeError(f"{cls.__name__}: its __init__ does more than set its fields")
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls, "UNSET": object()}
    params, body = [], []
    for index, spec in enumerate(specs):
        name = spec.name
        namespace[f"s{index}"] = getattr(cls, name).__set__
        if spec.default is not dataclasses.MISSING:
            namespace[f"d{index}"] = spec.default
            params.append(f"{name}=d{index}")
        elif spec.default_factory is not dataclasses.MISSING:
            namespace[f"f{index}"] = spec.default_factory
            params.append(f"{name}=UNSET")
            body.append(f"    if {name} is UNSET:\n        {name} = f{index}()")
        else:
            params.append(name)
        body.append(f"    s{index}(self, {name})")
    source = "\n".join([f"def make(*, {', '.join(params)}):", "    self = new(cls)", *body, "    return self"])
    exec(compile(source, f"<constructor of {cls.__name__}>", "exec"), namespace)  # noqa: S102 - field names only
    make: Callable[..., T] = namespace["make"]
    return make


if TYPE_CHECKING:  # checked as the classes themselves: the same keywords and defaults
    make_message = Message
    make_conversation = Conversation
else:
    make_message = constructor(Message)
    make_conversation = constructor(Conversation)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list. Cursors are opaque: `cursors[i]` resumes right after `items[i]`;
    `next_cursor` resumes after the page and is `None` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None
    cursors: Sequence[str] = ()  # a tuple, or `cursors.LazyCursors` that encodes each when read


@dataclass(frozen=True, slots=True)
class VendorEvent:
    """A change the vendor pushed (webhook): a new message, or a conversation's new state.

    `partial` says the webhook's conversation lacks fields a read would give (e.g. tags, customer);
    the gateway then reads the conversation before publishing it."""

    conversation_remote_id: str
    conversation: Conversation | None = None
    message: Message | None = None
    partial: bool = False


# ---- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParticipantInput:
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    id: str | None = None
    avatar_url: str | None = None
    role: Role = Role.CUSTOMER


DEFAULT_MESSAGE_ROLE = Role.AGENT  # a message that names no author: what an agent console writes


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to write. Its role is its author's, or `DEFAULT_MESSAGE_ROLE` without an author; a
    provider writes only the roles in its `writable_roles` and refuses the others before any call."""

    text: str
    author: ParticipantInput | None = None
    created_at: datetime | None = None

    @property
    def role(self) -> Role:
        return self.author.role if self.author is not None else DEFAULT_MESSAGE_ROLE


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
    """Filters a provider applies to `list_conversations`; `None` means no constraint.

    Tuples mean "any of". `search` is a case-insensitive substring of the customer's name or the
    latest message's text. `tags` matches a conversation carrying any of the tags. Time bounds are
    exclusive. `remote_ids` are the vendor's conversation ids.
    """

    status: tuple[ConversationStatus, ...] | None = None
    priority: tuple[Priority, ...] | None = None
    channel: tuple[Channel, ...] | None = None
    tags: tuple[str, ...] | None = None
    assignee_id: str | None = None
    queue_ids: tuple[str, ...] | None = None
    remote_ids: tuple[str, ...] | None = None
    campaign: str | None = None
    search: str | None = None
    active: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__slots__)

    def matches(self, conversation: Conversation) -> bool:
        """Whether the conversation passes every constraint (for filtering after fetching)."""
        c = conversation
        return (  # one `and` chain, so an empty filter costs a row a few `is None` (was: a tuple of all twelve)
            (self.status is None or c.status in self.status)
            and (self.priority is None or c.priority in self.priority)
            and (self.channel is None or c.channel in self.channel)
            and (self.tags is None or not set(self.tags).isdisjoint(c.tags))
            and (self.assignee_id is None or (c.assignee is not None and c.assignee.id == self.assignee_id))
            and (self.queue_ids is None or (c.queue is not None and c.queue.id in self.queue_ids))
            and (self.remote_ids is None or c.remote_id in self.remote_ids)
            and (self.campaign is None or (c.campaign is not None and _same_campaign(c.campaign, self.campaign)))
            and (self.search is None or _found(self.search, c))
            and (self.active is None or c.active == self.active)
            and _within(c.created_at, self.created_after, self.created_before)
            and _within(c.updated_at, self.updated_after, self.updated_before)
        )


def _same_campaign(campaign: Campaign, wanted: str) -> bool:
    return wanted == campaign.id or (campaign.name is not None and wanted.casefold() == campaign.name.casefold())


def _found(needle: str, conversation: Conversation) -> bool:
    needle = needle.casefold()
    name = conversation.customer.name if conversation.customer is not None else None
    text = conversation.last_message.text if conversation.last_message is not None else None
    return any(value is not None and needle in value.casefold() for value in (name, text))


def _within(moment: datetime | None, after: datetime | None, before: datetime | None) -> bool:
    if after is None and before is None:
        return True
    if moment is None:
        return False
    return (after is None or moment > after) and (before is None or moment < before)
