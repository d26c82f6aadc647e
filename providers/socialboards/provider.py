"""The Socialboards adapter: composes `client` (HTTP) and `mapping` (JSON <-> models).

Listing goes through the Ticket API (`POST tickets/list`, skip/take) and hydrates each ticket with
`GET chat/conversations/{id}`; the skip offset lives inside the opaque cursor. A list that needs only
ids and times (`fields`), with a filter the ticket list applies itself, hydrates nothing: `hydrate`
reads the conversations the caller keeps.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from .._http import webhook_events
from .._wire import Client
from .._time import format_datetime
from ..echo import echo
from ..base import Capability, input_name, refuse_roles, refuse_unfilterable, unsupported
from ..costs import CallCosts, Read
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
from .client import MAX_MESSAGES_TAKE, MAX_TICKETS_TAKE, SocialboardsClient
from .importer import SocialboardsImports

FUTURE_LEEWAY_SECONDS = 30.0
HYDRATE_CONCURRENCY = 16  # conversations read at once, each with its latest message alongside: 32 calls
MAX_SCAN_ROUNDS = 4  # ticket pages one list page may read when filtering after fetching
# Filters on data Socialboards conversations do not have: listing refuses them rather than scan for nothing.
UNFILTERABLE: dict[str, str] = {
    "priority": "Socialboards conversations have no priority",
    "tags": "Socialboards conversations have no tags",
    "assignee_id": "the Conversation object does not name its assignee",
    "queue_ids": "Socialboards has one queue without an id",
    "campaign": "Socialboards conversations have no campaign",
    "active": "Socialboards has no reply window",
}


class SocialboardsProvider(SocialboardsImports):
    vendor = mapping.VENDOR
    capabilities = frozenset(
        {
            Capability.CREATE_CONVERSATION,
            Capability.LIST_CONVERSATIONS,
            Capability.ADD_MESSAGES,
            Capability.ADD_HISTORY,
            Capability.UPDATE_CONVERSATION,
            Capability.ASSIGN,
            Capability.BOT_TAKEOVER,
            Capability.FEEDBACK,
            Capability.PAGE_URL,
            Capability.CLOSE,
            Capability.QUEUE_INFO,
            Capability.FILTER_STATUS,
            Capability.FILTER_UPDATED_AFTER,
        }
    )
    writable_statuses = frozenset({ConversationStatus.CLOSED})
    updatable_fields = frozenset({"status"})
    writable_roles = mapping.WRITABLE_ROLES
    # A ticket row has ids, times and the title; its conversation is one GET, its latest message
    # another; by id, the title is the ticket's (one more). Writes: the call, then the conversation
    # read again whole (the three reads, concurrently), or first (a customer to write as).
    call_costs = CallCosts(
        listing_rows=MAX_TICKETS_TAKE,
        listed=mapping.TICKET_FIELDS,
        reads=(Read(None), Read(mapping.FROM_LATEST), Read(mapping.FROM_TICKET, rows=False)),
        scan_rounds=MAX_SCAN_ROUNDS,
        session=1,
        writes={"create_conversation": 5, "add_messages": 2, "update_conversation": 3, "close": 3, "assign": 4,
                "set_bot_active": 4, "set_feedback": 4, "set_latest_page_url": 3},
    )

    def __init__(
        self,
        *,
        name: str,
        http: Client,
        client_id: str,
        refresh_token: str,
        token_url: str | None = None,
        agent_email: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`agent_email`: the team member an AGENT message that names no author is written as."""
        self.name = name
        self._agent_email = agent_email or None
        self._client = SocialboardsClient(
            http,
            provider=name,
            client_id=client_id,
            refresh_token=refresh_token,
            token_url=token_url,
        )
        self._now = clock or (lambda: datetime.now(UTC))
        self._hydrate_slots = asyncio.Semaphore(HYDRATE_CONCURRENCY)

    # ---- reads ----------------------------------------------------------------------------------

    async def get_conversation(self, remote_id: str, *, fields: frozenset[str] | None = None) -> Conversation:
        """The Conversation object; with `topic`, `sentiment` or `category_id` in `fields` its ticket
        (they are there), with `last_message` or `last_message_at` its latest message, each read
        alongside (None: both)."""
        return await self._read(remote_id, fields)

    async def list_conversations(
        self,
        *,
        filter: ConversationFilter,
        order: SortOrder,
        first: int,
        after: str | None,
        fields: frozenset[str] | None = None,
    ) -> Page[Conversation]:
        refuse_unfilterable(filter, UNFILTERABLE, provider=self.name)
        skip = self._skip(after, "conversations") if after else 0
        body, exact = mapping.build_ticket_filter(filter, order)
        if exact and fields is not None and fields <= mapping.TICKET_FIELDS:
            return await self._list_tickets(body, skip, first)
        items: list[Conversation] = []
        cursors: list[str] = []
        for _ in range(MAX_SCAN_ROUNDS):
            needed = first - len(items)
            take = min(MAX_TICKETS_TAKE, needed + 1)  # one extra tells whether another page exists
            tickets = self._tickets(await self._client.list_tickets(body, skip=skip, take=take))
            batch = tickets[:needed]
            wanted = mapping.FROM_LATEST if filter.search is not None else fields  # search reads the latest text
            for conversation in await self._hydrate(batch, wanted):
                skip += 1
                if conversation is not None and filter.matches(conversation):
                    items.append(conversation)
                    cursors.append(self._cursor("conversations", skip))
            if len(tickets) < take and len(tickets) == len(batch):
                return Page(tuple(items), None, tuple(cursors))
            if len(items) >= first:
                break
        return Page(tuple(items), self._cursor("conversations", skip), tuple(cursors))

    async def _list_tickets(self, body: dict[str, Any], skip: int, first: int) -> Page[Conversation]:
        """Ticket pages as conversations with ids and times only: one vendor call per 50 rows."""
        items: list[Conversation] = []
        cursors: list[str] = []
        while True:
            need = first - len(items)
            take = min(MAX_TICKETS_TAKE, need + 1)  # one extra tells whether another page exists
            tickets = await self._client.list_tickets(body, skip=skip, take=take)
            for row in tickets[:need]:
                skip += 1
                if mapping.has_id(row):
                    items.append(mapping.parse_ticket(row, provider=self.name))
                    cursors.append(self._cursor("conversations", skip))
            if len(tickets) < take:
                return Page(tuple(items), None, tuple(cursors))
            if len(items) >= first or len(tickets) > need:
                return Page(tuple(items), self._cursor("conversations", skip), tuple(cursors))

    async def hydrate(self, conversations: Sequence[Conversation], fields: frozenset[str] | None) -> list[Conversation | None]:
        """Reads each conversation whose missing fields `fields` needs (one GET each, and its latest
        message when asked for, concurrently); the title stays the one its ticket row carried."""
        wanted = [c for c in conversations if c.missing & (fields if fields is not None else c.missing)]
        read = dict(zip((c.remote_id for c in wanted), await self._hydrate(wanted, fields)))
        return [read[c.remote_id] if c.remote_id in read else c for c in conversations]

    async def list_messages(
        self, remote_id: str, *, first: int, after: str | None, newest_first: bool = False
    ) -> Page[Message]:
        kind = "messages-desc" if newest_first else "messages"
        skip = self._skip(after, kind, conversation=remote_id) if after else 0
        take = min(first + 1, MAX_MESSAGES_TAKE)
        rows = await self._client.list_messages(self._id(remote_id), skip=skip, take=take, newest_first=newest_first)
        page = rows[: min(first, take)]
        messages = tuple(mapping.parse_message(r, provider=self.name, conversation_id=remote_id) for r in page)
        cursors = tuple(self._cursor(kind, skip + i + 1, conversation=remote_id) for i in range(len(page)))
        more = len(rows) > len(page) or len(page) == MAX_MESSAGES_TAKE
        return Page(messages, cursors[-1] if more and cursors else None, cursors)

    async def queue_info(self, remote_id: str) -> QueueInfo:
        info = mapping.parse_queue(await self._client.get_queue(self._id(remote_id)))
        if info is None:
            raise self._malformed("queue information")
        return info

    def parse_webhook(self, payload: object) -> list[VendorEvent]:
        return webhook_events(mapping.parse_webhook, payload, provider=self.name)

    async def check_health(self) -> bool:
        try:
            await self._client.probe()
        except ProviderError:
            return False
        return True

    # ---- writes ---------------------------------------------------------------------------------

    async def create_conversation(self, new: NewConversation) -> Conversation:
        refuse_roles(new.messages, self.writable_roles, provider=self.name, operation="createConversation")
        self._check_times(new.messages)
        if new.category_id is not None and not new.category_id.isdigit():
            raise InvalidRequestError("categoryId must be a whole number", provider=self.name, field="categoryId")
        items = [mapping.build_message_payload(m, self._writer(m, customer=new.customer)) for m in new.messages]
        created = self._conversation(await self._client.create_conversation(mapping.build_conversation_payload(new)))
        if items:
            await self._client.add_messages(created.remote_id, items, as_context=False)
            return await self.get_conversation(created.remote_id)
        # The answer is the Conversation object, which has no title: the ticket has it.
        return await self._read(created.remote_id, mapping.FROM_TICKET, raw=created.vendor_data)

    async def add_messages(
        self, remote_id: str, messages: Sequence[NewMessage], *, as_context: bool = False
    ) -> list[Message]:
        if not messages:
            raise InvalidRequestError("no messages given", provider=self.name, field="messages")
        operation = "addMessages(asContext)" if as_context else "addMessages"
        refuse_roles(messages, self.writable_roles, provider=self.name, operation=operation)
        self._check_times(messages)
        customer = None
        if any(m.role is Role.CUSTOMER and not mapping.identifies(m.author) for m in messages):
            found = (await self.get_conversation(remote_id, fields=frozenset({"customer"}))).customer
            if found is None:
                raise InvalidRequestError(
                    "the conversation has no author to write as; give each CUSTOMER message an author", provider=self.name,
                    field="author",
                )
            customer = mapping.participant_input(found)
        items = [mapping.build_message_payload(m, self._writer(m, customer=customer)) for m in messages]
        raw = await self._client.add_messages(self._id(remote_id), items, as_context=as_context)
        return [
            mapping.parse_message(r, provider=self.name, conversation_id=remote_id, imported=as_context)
            for r in raw
        ]

    async def update_conversation(self, remote_id: str, changes: ConversationChanges) -> Conversation:
        fields = changes.changed()
        refused = sorted(input_name(name) for name in set(fields) - self.updatable_fields)
        if refused:
            raise InvalidRequestError(
                f"Socialboards cannot change {', '.join(refused)}; it accepts only: status (CLOSED)",
                provider=self.name, field=refused[0],
            )
        if changes.status is not None and changes.status not in self.writable_statuses:
            raise InvalidRequestError(
                f"Socialboards cannot set status {changes.status.value}; accepted values: CLOSED",
                provider=self.name, field="status",
            )
        if changes.status is ConversationStatus.CLOSED:
            return await self.close(remote_id)
        return await self.get_conversation(remote_id)

    async def assign(self, remote_id: str, *, agent_id: str | None) -> Conversation:
        if agent_id is None:
            raise InvalidRequestError(
                "Socialboards cannot unassign an agent; hand the conversation to the bot with setBotActive instead",
                provider=self.name, field="agentId",
            )
        if not mapping.is_guid(agent_id):
            raise InvalidRequestError(
                f"agentId {echo(agent_id)} is not a Socialboards user id (a GUID)", provider=self.name, field="agentId"
            )
        await self._client.set_takeover(self._id(remote_id), bot=False, assignee_id=agent_id)
        return await self.get_conversation(remote_id)

    async def set_bot_active(self, remote_id: str, active: bool, *, agent_id: str | None = None) -> Conversation:
        await self._client.set_takeover(self._id(remote_id), bot=active, assignee_id=None if active else agent_id)
        return await self.get_conversation(remote_id)

    async def set_feedback(self, remote_id: str, *, positive: bool, comment: str | None) -> Conversation:
        await self._client.set_feedback(self._id(remote_id), positive=positive, text=comment)
        return await self.get_conversation(remote_id)

    async def set_latest_page_url(self, remote_id: str, url: str) -> Conversation:
        return await self._conversation_or_reload(remote_id, await self._client.set_latest_url(self._id(remote_id), url))

    async def close(self, remote_id: str) -> Conversation:
        return await self._conversation_or_reload(remote_id, await self._client.close(self._id(remote_id)))

    async def route(self, remote_id: str, *, queue_id: str | None) -> Conversation:
        raise unsupported("route", "the External Chat API has no operation that puts a conversation back on the queue", provider=self.name)

    async def add_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation:
        raise unsupported("addTags", "Socialboards chat conversations have no tags", provider=self.name)

    async def remove_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation:
        raise unsupported("removeTags", "Socialboards chat conversations have no tags", provider=self.name)

    # ---- helpers --------------------------------------------------------------------------------

    def _conversation(self, raw: Any) -> Conversation:
        if not mapping.has_id(raw):
            raise self._malformed("conversation")
        return mapping.parse_conversation(raw, provider=self.name)

    async def _conversation_or_reload(self, remote_id: str, raw: Any) -> Conversation:
        return await self._read(remote_id, None, raw=raw if mapping.is_conversation(raw) else None)

    async def _hydrate(self, rows: Sequence[Conversation], fields: frozenset[str] | None) -> list[Conversation | None]:
        """Full conversations for listed ticket rows (which carry the title)."""

        async def one(row: Conversation) -> Conversation | None:
            async with self._hydrate_slots:
                try:
                    return await self._read(row.remote_id, fields, row=row)
                except NotFoundError:
                    return None  # deleted between listing and reading

        return list(await asyncio.gather(*(one(r) for r in rows)))

    async def _read(
        self, remote_id: str, fields: frozenset[str] | None, *, row: Conversation | None = None, raw: Any = None
    ) -> Conversation:
        """The Conversation object (`raw` when a write answered with it), and alongside it what `fields`
        needs from elsewhere: the title from the ticket (unless `row`, a ticket row, brought it) and
        the latest message. One call each, concurrently; what was not read is named in `missing`."""
        conversation_id = self._id(remote_id)
        ticket = row is None and _needs(fields, mapping.FROM_TICKET)
        latest = _needs(fields, mapping.FROM_LATEST)
        calls: list[Awaitable[Any]] = [self._client.get_conversation(conversation_id) if raw is None else _given(raw)]
        if ticket:
            calls.append(self._client.get_ticket(conversation_id))
        if latest:
            calls.append(self.list_messages(remote_id, first=1, after=None, newest_first=True))
        gathered = await asyncio.gather(*calls, return_exceptions=True)
        results: list[Any] = []
        for result in gathered:
            if isinstance(result, BaseException):
                raise result
            results.append(result)
        conversation = self._conversation(results[0])
        if row is not None:
            conversation = replace(conversation, topic=row.topic, sentiment=row.sentiment, category_id=row.category_id)
        elif ticket:
            conversation = mapping.with_ticket(conversation, results[1])
        if latest:
            page: Page[Message] = results[-1]
            conversation = mapping.with_latest(conversation, page.items[0] if page.items else None)
        left = (frozenset() if ticket or row is not None else mapping.FROM_TICKET) | (frozenset() if latest else mapping.FROM_LATEST)
        return replace(conversation, missing=left - mapping.known(conversation))

    def _writer(self, message: NewMessage, *, customer: ParticipantInput | None) -> ParticipantInput:
        found = mapping.writer(message, customer=customer, agent_email=self._agent_email)
        if found is None:
            raise InvalidRequestError(
                "an AGENT message needs an author with an id, email or externalId of a team member, "
                "or agent_email configured for this provider",
                provider=self.name, field="author",
            )
        return found

    def _check_times(self, messages: Sequence[NewMessage]) -> None:
        now = self._now()
        for index, message in enumerate(messages):
            if not message.text or not message.text.strip():
                raise InvalidRequestError(f"message {index + 1} has no text", provider=self.name, field="text")
            created_at = message.created_at
            if created_at is not None and mapping.too_far_ahead(created_at, now, leeway_seconds=FUTURE_LEEWAY_SECONDS):
                raise InvalidRequestError(
                    f"message {index + 1} has createdAt {format_datetime(created_at)} "
                    f"more than {FUTURE_LEEWAY_SECONDS:.0f} s in the future; Socialboards refuses it",
                    provider=self.name, field="createdAt",
                )

    def _tickets(self, rows: list[Any]) -> list[Conversation]:
        return [mapping.parse_ticket(row, provider=self.name) for row in rows if mapping.has_id(row)]

    def _id(self, remote_id: str) -> str:
        if not remote_id.isdigit():
            raise NotFoundError(f"no conversation {echo(remote_id)}: Socialboards ids are whole numbers", provider=self.name)
        return remote_id

    def _skip(self, cursor: str, kind: str, **scope: str) -> int:
        state = decode_cursor(self.name, kind, cursor)
        skip = state.get("skip")
        if not isinstance(skip, int) or skip < 0 or any(state.get(k) != v for k, v in scope.items()):
            raise InvalidRequestError("invalid cursor: it was not issued for this list", provider=self.name, field="after")
        return skip

    def _cursor(self, kind: str, skip: int, **scope: str) -> str:
        return encode_cursor(self.name, kind, skip=skip, **scope)

    def _malformed(self, what: str) -> ProviderError:
        return MalformedResponseError(f"the vendor's {what} is not in the documented shape", provider=self.name)



async def _given(value: Any) -> Any:
    return value


def _needs(fields: frozenset[str] | None, some: frozenset[str]) -> bool:
    return fields is None or not fields.isdisjoint(some)
