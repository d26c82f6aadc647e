"""The CleverTap adapter: composes `client` (HTTP) and `mapping` (JSON <-> models).

Lists use CleverTap's two-step cursor. The first page opens a listing (`POST ...?batch_size=N` with
the filters CleverTap applies itself) and reads its first batch; the opaque Parley cursor then holds
the vendor cursor of a batch plus an offset inside it, so a later call with another `first` still
yields every conversation once: a page may end inside a batch or span several. Filters CleverTap
cannot apply are applied to what was fetched, reading at most `MAX_BATCH_READS` batches per page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .._http import webhook_events
from .._wire import Client
from ..base import Capability, input_name, refuse_roles, refuse_unfilterable, unsupported
from ..costs import CallCosts
from ..cursors import decode_cursor, encode_cursor
from ..errors import (
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ProviderError,
)
from ..models import (
    Conversation,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    Message,
    NewConversation,
    NewMessage,
    Page,
    ParticipantInput,
    QueueInfo,
    Role,
    SortOrder,
    VendorEvent,
)
from . import mapping
from .client import DEFAULT_MAX_CONCURRENCY, MAX_BATCH_SIZE, CleverTapClient

MAX_BATCH_READS = 5  # vendor batches one list page may read
SCAN_FACTOR = 4  # batch size = first x this when some filter is only applied after fetching
ACCEPTED_STATUSES = "NEW, PENDING, CLOSED"
LISTING_KIND = "conversations"

T = TypeVar("T")


UNHONOURED_FILTERS = {
    "priority": "CleverTap conversations have no priority",
    "queue_ids": "CleverTap conversations have no queues",
}


class CleverTapProvider:
    vendor = mapping.VENDOR
    capabilities = frozenset(
        {
            Capability.LIST_CONVERSATIONS,
            Capability.ADD_MESSAGES,
            Capability.UPDATE_CONVERSATION,
            Capability.ASSIGN,
            Capability.CLAIM,
            Capability.CLOSE,
            Capability.FILTER_STATUS,
            Capability.FILTER_SEARCH,
            Capability.FILTER_CAMPAIGN,
            Capability.FILTER_TAGS,
            Capability.FILTER_ACTIVE,
        }
    )
    writable_statuses = frozenset(mapping.STATUS_TO_VENDOR)
    updatable_fields = frozenset({"status"})
    # An agent's free-form reply is the only message the API writes: customers write from the
    # campaign's channel, and campaigns and autoresponders are CleverTap's own (read as SYSTEM).
    writable_roles = frozenset({Role.AGENT})
    # Records carry every field; a listing and a message history are a cursor opened, then read.
    call_costs = CallCosts(
        listing_rows=MAX_BATCH_SIZE,
        listing_setup=1,
        scan_rounds=MAX_BATCH_READS,
        messages=2,
        writes={"update_conversation": 1, "close": 1, "assign": 1},
        per_item={"add_messages": 1},
    )
    # Why no migration can target CleverTap (a source only): see providers.imports.import_target.
    import_refusal = "no CleverTap API creates a conversation; they start when a user replies to a campaign"

    def __init__(
        self,
        *,
        name: str,
        http: Client,
        account_id: str,
        passcode: str,
        agent_email: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        self.name = name
        self._agent_email = agent_email or None
        self._client = CleverTapClient(
            http, provider=name, account_id=account_id, passcode=passcode, max_concurrency=max_concurrency
        )

    # ---- reads ----------------------------------------------------------------------------------

    async def get_conversation(self, remote_id: str, *, fields: frozenset[str] | None = None) -> Conversation:
        """One call gives every field, so `fields` changes nothing."""
        if not remote_id:
            raise NotFoundError("no conversation with an empty id", provider=self.name)
        return self._conversation(await self._client.get_conversation(remote_id))

    async def list_conversations(
        self,
        *,
        filter: ConversationFilter,
        order: SortOrder,
        first: int,
        after: str | None,
        fields: frozenset[str] | None = None,
    ) -> Page[Conversation]:
        """Records carry every field, the last message too, so `fields` changes nothing."""
        self._check_first(first)
        refuse_unfilterable(filter, UNHONOURED_FILTERS, provider=self.name)
        fingerprint = mapping.listing_fingerprint(filter, order)
        if after is not None:
            cursor, offset = self._position(after, LISTING_KIND, f=fingerprint)
        else:
            body = mapping.build_listing_body(filter, order)
            if body is None:  # only statuses CleverTap cannot hold: nothing can match
                return Page((), None, ())
            batch = _batch_size(first * (1 if mapping.all_native(filter) else SCAN_FACTOR))
            cursor, offset = await self._client.start_listing(body, batch_size=batch), 0
        past_end = mapping.past_end(filter, order)

        def read(raw: dict[str, Any]) -> tuple[Conversation | None, bool]:
            conversation = self._conversation(raw)
            if past_end(conversation):
                return None, True
            return (conversation if mapping.matches(filter, conversation) else None), False

        return await self._walk(
            cursor, offset, first=first, fetch=self._client.read_listing, read=read, kind=LISTING_KIND, f=fingerprint
        )

    async def list_messages(
        self, remote_id: str, *, first: int, after: str | None, newest_first: bool = False
    ) -> Page[Message]:
        self._check_first(first)
        kind = "messages-desc" if newest_first else "messages"
        if after is not None:
            cursor, offset = self._position(after, kind, conversation=remote_id)
        else:
            if not remote_id:
                raise NotFoundError("no conversation with an empty id", provider=self.name)
            cursor = await self._client.start_messages(remote_id, batch_size=_batch_size(first), newest_first=newest_first)
            offset = 0

        def read(raw: dict[str, Any]) -> tuple[Message | None, bool]:
            return mapping.parse_message(raw, provider=self.name, conversation_id=remote_id), False

        return await self._walk(
            cursor, offset, first=first, fetch=self._client.read_messages, read=read, kind=kind, conversation=remote_id
        )

    def parse_webhook(self, payload: object) -> list[VendorEvent]:
        return webhook_events(mapping.parse_webhook, payload, provider=self.name)

    async def check_health(self) -> bool:
        try:
            await self._client.probe()
        except ProviderError:
            return False
        return True

    # ---- writes ---------------------------------------------------------------------------------

    async def add_messages(
        self, remote_id: str, messages: Sequence[NewMessage], *, as_context: bool = False
    ) -> list[Message]:
        """Each message is a free-form AGENT reply (other roles are refused), sent in order as one agent
        (the authors' email, else `agent_email`). A reply also claims an unowned conversation (first
        agent wins)."""
        if as_context:
            raise unsupported(
                "addMessages(asContext)", "CleverTap cannot import history: replies are sent now, as an agent", provider=self.name
            )
        refuse_roles(messages, self.writable_roles, provider=self.name, operation="addMessages")
        agent = self._replying_agent(messages)
        sent = []
        for message in messages:
            raw = await self._client.reply(mapping.build_reply_payload(remote_id, agent, message.text), agent=agent)
            sent.append(mapping.parse_message(raw, provider=self.name, conversation_id=remote_id))
        return sent

    async def update_conversation(self, remote_id: str, changes: ConversationChanges) -> Conversation:
        fields = changes.changed()
        refused = sorted(input_name(name) for name in set(fields) - self.updatable_fields)
        if refused:
            raise InvalidRequestError(
                f"CleverTap cannot change {', '.join(refused)}; it accepts only: status ({ACCEPTED_STATUSES})",
                provider=self.name, field=refused[0],
            )
        if changes.status is None:
            return await self.get_conversation(remote_id)
        if changes.status not in self.writable_statuses:
            raise InvalidRequestError(
                f"CleverTap cannot set status {changes.status.value}: its ticket status is New, Pending or Closed; "
                f"accepted values: {ACCEPTED_STATUSES}",
                provider=self.name, field="status",
            )
        raw = await self._client.set_ticket_status(mapping.build_ticket_status_payload(remote_id, changes.status))
        return self._conversation(raw)

    async def close(self, remote_id: str) -> Conversation:
        return await self.update_conversation(remote_id, ConversationChanges(status=ConversationStatus.CLOSED))

    async def assign(self, remote_id: str, *, agent_id: str | None) -> Conversation:
        """Claims the conversation for the agent whose email is `agent_id`. First agent wins: a
        conversation another agent holds raises ConflictError, and nothing releases a claim."""
        if agent_id is None:
            raise InvalidRequestError(
                "CleverTap cannot unassign: a conversation stays with the first agent who took it",
                provider=self.name, field="agentId",
            )
        if not agent_id.strip():
            raise InvalidRequestError("agentId: give the agent's dashboard email", provider=self.name, field="agentId")
        raw = await self._client.claim(mapping.build_claim_payload(remote_id, agent_id), agent=agent_id)
        return self._conversation(raw)

    async def create_conversation(self, new: NewConversation) -> Conversation:
        raise unsupported(
            "createConversation", "conversations appear when users reply to a campaign; there is no way to start one", provider=self.name
        )

    async def route(self, remote_id: str, *, queue_id: str | None) -> Conversation:
        raise unsupported("route", "CleverTap has no queues, and a claimed conversation cannot be released", provider=self.name)

    async def add_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation:
        raise unsupported("addTags", "the tags are the campaign's labels, set on the campaign", provider=self.name)

    async def remove_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation:
        raise unsupported("removeTags", "the tags are the campaign's labels, set on the campaign", provider=self.name)

    async def set_bot_active(self, remote_id: str, active: bool, *, agent_id: str | None = None) -> Conversation:
        raise unsupported("setBotActive", "CleverTap conversations have no bot takeover", provider=self.name)

    async def set_feedback(self, remote_id: str, *, positive: bool, comment: str | None) -> Conversation:
        raise unsupported("setFeedback", "CleverTap conversations have no feedback", provider=self.name)

    async def set_latest_page_url(self, remote_id: str, url: str) -> Conversation:
        raise unsupported("setLatestPageUrl", "CleverTap conversations have no page URLs", provider=self.name)

    async def queue_info(self, remote_id: str) -> QueueInfo:
        raise unsupported("queueInfo", "CleverTap has no queues", provider=self.name)

    # ---- helpers --------------------------------------------------------------------------------

    async def _walk(
        self,
        cursor: str,
        offset: int,
        *,
        first: int,
        fetch: Callable[[str], Awaitable[tuple[list[dict[str, Any]], str | None]]],
        read: Callable[[dict[str, Any]], tuple[T | None, bool]],
        kind: str,
        **scope: str,
    ) -> Page[T]:
        """Reads batches from (`cursor`, `offset`) until `first` items are kept, the list ends,
        `read` says the rest cannot match, or `MAX_BATCH_READS` batches were read."""
        items: list[T] = []
        cursors: list[str] = []
        for _ in range(MAX_BATCH_READS):
            records, next_cursor = await fetch(cursor)
            for index in range(offset, len(records)):
                if len(items) == first:
                    return Page(tuple(items), self._cursor(kind, cursor, index, **scope), tuple(cursors))
                item, stop = read(records[index])
                if stop:
                    return Page(tuple(items), None, tuple(cursors))
                if item is not None:
                    items.append(item)
                    if index + 1 < len(records) or next_cursor is None:
                        cursors.append(self._cursor(kind, cursor, index + 1, **scope))
                    else:
                        cursors.append(self._cursor(kind, next_cursor, 0, **scope))
            if next_cursor is None:
                return Page(tuple(items), None, tuple(cursors))
            cursor, offset = next_cursor, 0
            if len(items) == first:
                break
        return Page(tuple(items), self._cursor(kind, cursor, offset, **scope), tuple(cursors))

    def _cursor(self, kind: str, vendor_cursor: str, offset: int, **scope: str) -> str:
        return encode_cursor(self.name, kind, c=vendor_cursor, i=offset, **scope)

    def _position(self, after: str, kind: str, **scope: str) -> tuple[str, int]:
        state = decode_cursor(self.name, kind, after)
        cursor, offset = state.get("c"), state.get("i")
        if not isinstance(cursor, str) or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidRequestError("invalid cursor: it was not issued for this list", provider=self.name, field="after")
        if any(state.get(key) != value for key, value in scope.items()):
            raise InvalidRequestError(
                "this cursor belongs to another list (another conversation, filter or order); start again from the first page",
                provider=self.name, field="after",
            )
        return cursor, offset

    def _replying_agent(self, messages: Sequence[NewMessage]) -> str:
        if not messages:
            raise InvalidRequestError("no messages given", provider=self.name, field="messages")
        agents = set()
        for index, message in enumerate(messages):
            if not message.text or not message.text.strip():
                raise InvalidRequestError(f"message {index + 1} has no text", provider=self.name, field="text")
            if message.created_at is not None:
                raise InvalidRequestError(
                    f"message {index + 1} has a createdAt; CleverTap stamps a reply with the time it is sent",
                    provider=self.name, field="createdAt",
                )
            agents.add(self._agent_of(message.author))
        if len(agents) > 1:
            raise InvalidRequestError(
                f"CleverTap replies come from one agent at a time; these messages name {len(agents)} agents: "
                f"{', '.join(sorted(agents))}",
                provider=self.name, field="author",
            )
        return agents.pop()

    def _agent_of(self, author: ParticipantInput | None) -> str:
        """The replying agent's dashboard email: the author's email (or an email-shaped id, as in
        `Conversation.assignee.id`), else the configured `agent_email`."""
        if author is not None:
            if author.email:
                return author.email
            if author.id and "@" in author.id:
                return author.id
        if self._agent_email is None:
            raise InvalidRequestError(
                "no agent to reply as: give the author's email, or configure agent_email for this provider",
                provider=self.name, field="author",
            )
        return self._agent_email

    def _conversation(self, raw: dict[str, Any]) -> Conversation:
        if not mapping.has_id(raw):
            raise self._malformed("conversation (no `id`)")
        return mapping.parse_conversation(raw, provider=self.name)

    def _check_first(self, first: int) -> None:
        if first < 1:
            raise InvalidRequestError(f"first must be at least 1, got {first}", provider=self.name, field="first")

    def _malformed(self, what: str) -> ProviderError:
        return MalformedResponseError(f"the vendor's {what} is not in the documented shape", provider=self.name)



def _batch_size(wanted: int) -> int:
    return max(1, min(MAX_BATCH_SIZE, wanted))
