"""The `Provider` protocol: one configured vendor account, seen through neutral models.

Optional operations are declared in `capabilities`; calling one a provider does not declare raises
`UnsupportedOperationError`.

Reads take `fields`: the names of the `Conversation` fields the caller will use (None: all). A provider
whose vendor needs extra calls for some fields (Infobip's tags and messages, Socialboards' conversation
behind a ticket summary) makes only the calls those fields need and lists the rest in
`Conversation.missing`; it then also implements `Hydrates`, which fills them in later. The inbox lists
with `fields=frozenset()` (ids and sort times), merges, and hydrates only the rows that make the page.

Every method may raise the `ProviderError` subclasses of `providers.errors`; the ones listed in a
docstring are those a caller is expected to handle.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from .errors import UnsupportedOperationError
from .models import (
    Conversation,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    Message,
    NewConversation,
    NewMessage,
    Page,
    QueueInfo,
    Role,
    SortOrder,
    VendorEvent,
)


class Capability(enum.Enum):
    CREATE_CONVERSATION = "CREATE_CONVERSATION"
    LIST_CONVERSATIONS = "LIST_CONVERSATIONS"
    ADD_MESSAGES = "ADD_MESSAGES"
    ADD_HISTORY = "ADD_HISTORY"  # history: messages with their original createdAt, or notes naming it
    HISTORY_AS_NOTES = "HISTORY_AS_NOTES"  # history is kept as internal notes (original time and author in the text)
    UPDATE_CONVERSATION = "UPDATE_CONVERSATION"
    ASSIGN = "ASSIGN"
    ROUTE = "ROUTE"
    TAGS = "TAGS"
    BOT_TAKEOVER = "BOT_TAKEOVER"
    FEEDBACK = "FEEDBACK"
    PAGE_URL = "PAGE_URL"
    CLOSE = "CLOSE"
    QUEUE_INFO = "QUEUE_INFO"
    CLAIM = "CLAIM"  # first agent wins: assigning an owned conversation to another agent is a conflict
    # Filters the vendor applies itself (pushed down); others are applied after fetching, within a bound.
    FILTER_STATUS = "FILTER_STATUS"
    FILTER_PRIORITY = "FILTER_PRIORITY"
    FILTER_CHANNEL = "FILTER_CHANNEL"
    FILTER_TAGS = "FILTER_TAGS"
    FILTER_ASSIGNEE = "FILTER_ASSIGNEE"
    FILTER_QUEUE = "FILTER_QUEUE"
    FILTER_IDS = "FILTER_IDS"
    FILTER_CAMPAIGN = "FILTER_CAMPAIGN"
    FILTER_SEARCH = "FILTER_SEARCH"
    FILTER_ACTIVE = "FILTER_ACTIVE"
    FILTER_CREATED_AFTER = "FILTER_CREATED_AFTER"
    FILTER_CREATED_BEFORE = "FILTER_CREATED_BEFORE"
    FILTER_UPDATED_AFTER = "FILTER_UPDATED_AFTER"
    FILTER_UPDATED_BEFORE = "FILTER_UPDATED_BEFORE"


# ConversationFilter attribute -> its name in the GraphQL filter, for errors that name the filter.
FILTER_NAMES = {"queue_ids": "queueId", "remote_ids": "remoteId", "assignee_id": "assigneeId"}


def input_name(attribute: str) -> str:
    """A neutral input's attribute as clients send it (`queue_id` -> `queueId`), for errors that name it."""
    head, *rest = attribute.split("_")
    return head + "".join(word.title() for word in rest)


def refuse_roles(messages: Sequence[NewMessage], writable: frozenset[Role], *, provider: str, operation: str) -> None:
    """Raises UnsupportedOperationError for the first message whose role the provider cannot write,
    naming the roles it can: a message is never written as someone other than who it says."""
    for index, message in enumerate(messages, start=1):
        if message.role not in writable:
            can = ", ".join(role.value for role in Role if role in writable)
            text = f"{operation}: message {index} is a {message.role.value} message, and {provider} writes {can} messages only"
            raise UnsupportedOperationError(text, provider=provider, operation=operation)


def unsupported(operation: str, why: str, *, provider: str) -> UnsupportedOperationError:
    """The error for an operation (or filter) a provider cannot do, saying why."""
    return UnsupportedOperationError(f"{operation} is not supported by {provider}: {why}", provider=provider, operation=operation)


def refuse_unfilterable(filter: ConversationFilter, reasons: Mapping[str, str], *, provider: str) -> None:
    """Raises UnsupportedOperationError for the first set filter in `reasons` (attribute -> why the
    vendor has no such data), so a list never scans a whole history for what cannot match."""
    for name, why in reasons.items():
        if getattr(filter, name) is not None:
            operation = "filter." + FILTER_NAMES.get(name, name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:]))
            raise unsupported(operation, why, provider=provider)


@runtime_checkable
class BatchReads(Protocol):
    """Optional: a provider that reads many conversations in one vendor call. The conversation
    DataLoader uses it when present; ids the vendor does not know are missing from the result."""

    async def get_conversations(
        self, remote_ids: Sequence[str], *, fields: frozenset[str] | None = None
    ) -> dict[str, Conversation]: ...


@runtime_checkable
class Hydrates(Protocol):
    """Optional, and required of a provider that ever returns conversations with `missing` fields:
    fills in those of `fields` (None: all) that are missing. The result is in the order given; None
    for a conversation deleted since it was listed. Raises ProviderError like any read."""

    async def hydrate(
        self, conversations: Sequence[Conversation], fields: frozenset[str] | None
    ) -> list[Conversation | None]: ...


def implements(provider: object, protocol: type) -> bool:
    """`isinstance(provider, protocol)` for the method-only protocols above, decided once per class:
    a runtime protocol check walks the protocol's members on every call, and the DataLoaders ask for
    every key."""
    cls: type = type(provider)  # as `type`: mypy takes a `type[object]` for the class `object`, not Hashable
    return _implements(cls, protocol)


@functools.cache
def _implements(cls: type, protocol: type) -> bool:
    return issubclass(cls, protocol)


@runtime_checkable
class Provider(Protocol):
    name: str
    vendor: str
    capabilities: frozenset[Capability]
    writable_statuses: frozenset[ConversationStatus]
    updatable_fields: frozenset[str]  # names of ConversationChanges fields `update_conversation` accepts
    writable_roles: frozenset[Role]  # whose messages `add_messages` and `create_conversation` write

    async def get_conversation(self, remote_id: str, *, fields: frozenset[str] | None = None) -> Conversation:
        """The conversation as the vendor has it now (at least `fields`). Raises NotFoundError."""
        ...

    async def list_conversations(
        self,
        *,
        filter: ConversationFilter,
        order: SortOrder,
        first: int,
        after: str | None,
        fields: frozenset[str] | None = None,
    ) -> Page[Conversation]:
        """Up to `first` conversations after the opaque cursor `after` (None = from the start), each
        with at least `fields` plus its id and sort times.

        Filters this provider cannot apply natively are applied to what it fetched (reading what the
        filter needs whatever `fields` says). Raises InvalidRequestError for a cursor this provider
        did not issue.
        """
        ...

    async def list_messages(
        self, remote_id: str, *, first: int, after: str | None, newest_first: bool = False
    ) -> Page[Message]:
        """Messages in vendor time order (oldest first unless `newest_first`). Raises NotFoundError."""
        ...

    async def create_conversation(self, new: NewConversation) -> Conversation:
        """Creates the conversation and then its first messages (their roles as in `add_messages`).
        Raises InvalidRequestError, UnsupportedOperationError."""
        ...

    async def add_messages(
        self, remote_id: str, messages: Sequence[NewMessage], *, as_context: bool = False
    ) -> list[Message]:
        """Adds messages in order; `as_context` imports history with its original times.

        All or nothing where the vendor allows: inputs are validated before anything is sent. Each
        message is written as its `role` (`NewMessage.role`); a role outside `writable_roles` raises
        UnsupportedOperationError before any call. Raises NotFoundError, InvalidRequestError (e.g. a
        closed conversation, a future time).
        """
        ...

    async def update_conversation(self, remote_id: str, changes: ConversationChanges) -> Conversation:
        """Applies the changes. Fields outside `updatable_fields` and statuses outside
        `writable_statuses` are refused with InvalidRequestError before any vendor call."""
        ...

    async def assign(self, remote_id: str, *, agent_id: str | None) -> Conversation:
        """Assigns to `agent_id`, or unassigns with None. Raises ConflictError, NotFoundError."""
        ...

    async def route(self, remote_id: str, *, queue_id: str | None) -> Conversation:
        """Unassigns and places the conversation back on a queue."""
        ...

    async def add_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation: ...

    async def remove_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation: ...

    async def set_bot_active(self, remote_id: str, active: bool, *, agent_id: str | None = None) -> Conversation:
        """Hands the conversation to the bot, or takes it over for a human (`agent_id` optional)."""
        ...

    async def set_feedback(self, remote_id: str, *, positive: bool, comment: str | None) -> Conversation: ...

    async def set_latest_page_url(self, remote_id: str, url: str) -> Conversation: ...

    async def close(self, remote_id: str) -> Conversation: ...

    async def queue_info(self, remote_id: str) -> QueueInfo: ...

    def parse_webhook(self, payload: object) -> list[VendorEvent]:
        """Normalises one webhook delivery. Raises MalformedResponseError for a body the vendor
        would not send; event types Parley does not use give an empty list."""
        ...

    async def check_health(self) -> bool:
        """True when the vendor answers an authenticated request; never raises."""
        ...
