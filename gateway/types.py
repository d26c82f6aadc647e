"""GraphQL types, built from the neutral provider models by `from_model()`.

Leaf fields are plain attributes copied from the model (no per-field resolvers on hot objects);
only fields that need I/O (messages, lastMessage, conversation, healthy) have async resolvers, and
they go through the request's DataLoaders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from providers import deadline
from providers import models as m
from providers.base import Capability as CapabilityModel
from providers.base import Provider as ProviderModel

from .context import Info
from .errors import client_error
from .ids import conversation_node_id, message_node_id

# strawberry.enum marks the neutral enums themselves as GraphQL enums; the names below are plain
# aliases, so they stay types for mypy.
strawberry.enum(m.ConversationStatus, description="Unified status; the raw value is in vendorStatus.")
strawberry.enum(m.SortOrder, name="ConversationOrder")
for _enum in (m.Priority, m.Channel, m.Role, m.Direction, CapabilityModel):
    strawberry.enum(_enum)
ConversationStatus = m.ConversationStatus
Priority = m.Priority
Channel = m.Channel
Role = m.Role
Direction = m.Direction
SortOrder = m.SortOrder
Capability = CapabilityModel

MAX_PAGE_SIZE = 100
MESSAGES_FIRST = 20  # `messages(first:)` when not given
_UNMADE: Any = object()
HEALTH_PROBE_SECONDS = 1.0  # `Provider.healthy` answers within this, whatever the upstream timeout
NodeT = TypeVar("NodeT")
ObjectT = TypeVar("ObjectT")


def _made(cls: type[ObjectT], fields: dict[str, Any]) -> ObjectT:
    """An instance of the strawberry type `cls` holding `fields` as its attributes: what its dataclass
    `__init__` does for a call naming every field, at half the cost (keyword parsing of 11 to 29
    arguments per object, for each of a nested page's 1,000 messages). `fields` must name each field
    `__init__` sets, and becomes the instance's `__dict__`."""
    made = _new(cls)
    made.__dict__ = fields
    return made


_new = object.__new__


def check_page_size(first: int) -> None:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise client_error(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}", field="first")


@strawberry.type(description="Someone who writes in a conversation: a customer, an agent, a bot or the system.")
class Participant:
    id: str | None = strawberry.field(description="The vendor's id; on Infobip the address they write from, e.g. a phone number.")
    name: str | None = strawberry.field(
        description="Null where the vendor records none: Infobip's Conversations API names a customer nowhere "
        "(its messages carry only the sender's address, in `id`), nor the agent who sent a message."
    )
    role: Role
    email: str | None
    external_id: str | None
    avatar_url: str | None

    @classmethod
    def from_model(cls, p: m.Participant | None) -> Participant | None:
        if p is None:
            return None
        return cls(id=p.id, name=p.name, role=p.role, email=p.email, external_id=p.external_id, avatar_url=p.avatar_url)


@strawberry.type
class Queue:
    id: str | None
    position: int | None
    wait_minutes: int | None


@strawberry.type
class Feedback:
    positive: bool | None
    comment: str | None


@strawberry.type
class Campaign:
    id: str
    name: str | None


@strawberry.type
class CustomField:
    id: str
    value: str | None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Message(relay.Node):
    id: relay.NodeID[str]
    remote_id: str
    provider: str
    text: str | None
    author: Participant | None
    direction: Direction
    channel: Channel | None
    created_at: datetime | None
    imported: bool
    vendor_data: JSON
    _model: strawberry.Private[m.Message]

    @classmethod
    def from_model(cls, msg: m.Message, authors: dict[int, Participant | None] | None = None) -> Message:
        """`authors`: the authors made so far for other messages of the same page, by the id of their
        model (an adapter shares one model per author), shared in turn (one object per author)."""
        if authors is None:
            author = Participant.from_model(msg.author)
        elif (author := authors.get(id(msg.author), _UNMADE)) is _UNMADE:
            author = authors[id(msg.author)] = Participant.from_model(msg.author)
        return _made(cls, {  # the fields `cls(...)` sets, in its order (tests/test_types_fast.py)
            "id": message_node_id(msg.provider, msg.conversation_remote_id, msg.remote_id),
            "remote_id": msg.remote_id,
            "provider": msg.provider,
            "text": msg.text,
            "author": author,
            "direction": msg.direction,
            "channel": msg.channel,
            "created_at": msg.created_at,
            "imported": msg.imported,
            "vendor_data": JSON(msg.vendor_data),
            "_model": msg,
        })

    @strawberry.field
    async def conversation(self, info: Info) -> Conversation:
        model = await info.context.loaders.conversation.load((self._model.provider, self._model.conversation_remote_id, None))
        return Conversation.from_model(model)


class _PageEdge(Edge[Message]):
    """An edge of a provider's message page, its cursor read from the page only if the query reads
    it (`Page.cursors` may encode each on demand). To the schema it is an `Edge[Message]`: strawberry
    checks no edge's class, and reads `cursor` as any other attribute."""

    def __init__(self, node: Message, cursors: Sequence[str], index: int) -> None:
        self.node = node
        self._cursors = cursors
        self._index = index

    @property
    def cursor(self) -> str:  # type: ignore[override]
        return self._cursors[self._index]


@strawberry.type
class MessageConnection:
    edges: list[Edge[Message]]
    page_info: PageInfo


@strawberry.type
class Conversation(relay.Node):
    id: relay.NodeID[str]
    remote_id: str
    provider: str
    vendor: str
    topic: str | None
    summary: str | None
    status: ConversationStatus
    vendor_status: str | None
    priority: Priority | None
    channel: Channel | None
    customer: Participant | None
    assignee: Participant | None
    queue: Queue | None
    bot_active: bool | None
    tags: list[str]
    feedback: Feedback | None
    initial_page_url: str | None
    latest_page_url: str | None
    sentiment: str | None
    category_id: str | None
    custom_fields: list[CustomField] | None
    campaign: Campaign | None
    active: bool | None
    created_at: datetime | None
    updated_at: datetime | None
    last_message_at: datetime | None
    message_count: int | None
    vendor_data: JSON
    _model: strawberry.Private[m.Conversation]

    @classmethod
    def from_model(cls, c: m.Conversation) -> Conversation:
        return _made(cls, {  # the fields `cls(...)` sets, in its order (tests/test_types_fast.py)
            "id": conversation_node_id(c.provider, c.remote_id),
            "remote_id": c.remote_id,
            "provider": c.provider,
            "vendor": c.vendor,
            "topic": c.topic,
            "summary": c.summary,
            "status": c.status,
            "vendor_status": c.vendor_status,
            "priority": c.priority,
            "channel": c.channel,
            "customer": Participant.from_model(c.customer),
            "assignee": Participant.from_model(c.assignee),
            "queue": Queue(id=c.queue.id, position=c.queue.position, wait_minutes=c.queue.wait_minutes) if c.queue else None,
            "bot_active": c.bot_active,
            "tags": list(c.tags),
            "feedback": Feedback(positive=c.feedback.positive, comment=c.feedback.comment) if c.feedback else None,
            "initial_page_url": c.initial_page_url,
            "latest_page_url": c.latest_page_url,
            "sentiment": c.sentiment,
            "category_id": c.category_id,
            "custom_fields": [CustomField(id=f.id, value=f.value) for f in c.custom_fields] if c.custom_fields is not None else None,
            "campaign": Campaign(id=c.campaign.id, name=c.campaign.name) if c.campaign else None,
            "active": c.active,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
            "last_message_at": c.last_message_at,
            "message_count": c.message_count,
            "vendor_data": JSON(c.vendor_data),
            "_model": c,
        })

    @strawberry.field(description="Messages oldest first; `first` is at most 100.")
    async def messages(
        self, info: Info, first: int = MESSAGES_FIRST, after: str | None = None, newest_first: bool = False
    ) -> MessageConnection:
        check_page_size(first)
        page = await info.context.loaders.messages.load((self.provider, self.remote_id, first, after, newest_first))
        cursors = page.cursors
        authors: dict[int, Participant | None] = {}  # the page's models outlive it: each id stays its model's
        return MessageConnection(
            edges=[_PageEdge(Message.from_model(msg, authors), cursors, index) for index, msg in enumerate(page.items)],
            page_info=PageInfo(has_next_page=page.next_cursor is not None, end_cursor=page.cursors[-1] if page.cursors else after),
        )

    @strawberry.field
    async def last_message(self, info: Info) -> Message | None:
        inline = self._model.last_message
        if inline is not None:  # the vendor sent it with the conversation: no extra call
            return Message.from_model(inline)
        if self._model.message_count == 0:
            return None
        msg = await info.context.loaders.last_message(self.provider, self.remote_id)
        return Message.from_model(msg) if msg is not None else None


@strawberry.type
class ConversationConnection:
    edges: list[Edge[Conversation]]
    page_info: PageInfo


@strawberry.type
class Provider:
    name: str
    vendor: str
    capabilities: list[Capability]
    writable_statuses: list[ConversationStatus]
    updatable_fields: list[str] = strawberry.field(
        description="The `UpdateConversationInput` fields `updateConversation` changes, named as sent (`queueId`)."
    )
    writable_roles: list[Role] = strawberry.field(
        description="Whose messages `addMessages` and `createConversation` write here (`MessageInput.role`)."
    )

    @strawberry.field(description=(
        "Whether the vendor answers an authenticated request right now: false at once while its circuit "
        "breaker is open, else the answer of one probe that may take at most 1 s."))
    async def healthy(self, info: Info) -> bool:
        with deadline(HEALTH_PROBE_SECONDS):  # an open breaker refuses the probe without calling
            return await info.context.providers[self.name].check_health()


def provider_from_model(p: ProviderModel) -> Provider:
    return Provider(
        name=p.name,
        vendor=p.vendor,
        capabilities=sorted(p.capabilities, key=lambda c: c.value),
        writable_statuses=sorted(p.writable_statuses, key=lambda s: s.value),
        updatable_fields=sorted(to_camel_case(name) for name in p.updatable_fields),
        writable_roles=[role for role in m.Role if role in p.writable_roles],
    )
