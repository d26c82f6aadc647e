"""The Infobip adapter: composes `client` (HTTP, keyset paging), `mapping` and `replies` (JSON <->
models) and `hydration` (a conversation is its object plus up to three reads).

A read makes only the reads the caller's `fields` need (and the filter needs) and names the rest in
`Conversation.missing`; `hydrate` reads them later. `get_conversation`, every listed conversation and
every write's result are built the same way, so they agree. Lists page by keyset on the sort time
(`client.Keyset`) inside opaque cursors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._http import webhook_events
from .._wire import Client
from ..echo import echo
from ..base import Capability, input_name, refuse_roles, refuse_unfilterable, unsupported
from ..costs import CallCosts, Read
from ..cursors import LazyCursors, decode_cursor, encode_cursor
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
    QueueInfo,
    SortOrder,
    VendorEvent,
)
from . import mapping, replies
from .client import MAX_LIMIT, MAX_SCAN_ROUNDS, InfobipClient, Keyed, Keyset, Snapshot, scan, state_of, unknown_tag
from .hydration import PARTS, Hydrator, filter_parts, parts_for
from .importer import InfobipImports

BATCH_IDS = 100  # conversation ids per list call when loading many by id

T = TypeVar("T")
HYDRATE_CONCURRENCY = 32  # vendor calls in flight per provider while reading tags and messages
SCAN_BATCH = 25  # rows per list read when filtering after fetching
UNHONOURED_FILTERS = {
    "campaign": "Infobip conversations belong to no campaign",
    "active": "Infobip has no conversation activity window",
}


class InfobipProvider(InfobipImports):
    vendor = mapping.VENDOR
    capabilities = frozenset(
        {
            Capability.CREATE_CONVERSATION,
            Capability.LIST_CONVERSATIONS,
            Capability.ADD_MESSAGES,
            Capability.ADD_HISTORY,
            Capability.HISTORY_AS_NOTES,
            Capability.UPDATE_CONVERSATION,
            Capability.ASSIGN,
            Capability.ROUTE,
            Capability.TAGS,
            Capability.CLOSE,
            Capability.FILTER_STATUS,
            Capability.FILTER_PRIORITY,
            Capability.FILTER_ASSIGNEE,
            Capability.FILTER_QUEUE,
            Capability.FILTER_IDS,
            Capability.FILTER_CREATED_AFTER,
            Capability.FILTER_CREATED_BEFORE,
            Capability.FILTER_UPDATED_AFTER,
            Capability.FILTER_UPDATED_BEFORE,
        }
    )
    writable_statuses = frozenset(mapping.STATUS_TO_VENDOR)
    updatable_fields = frozenset({"topic", "summary", "status", "priority", "channel", "queue_id"})
    writable_roles = mapping.WRITABLE_ROLES
    # A listed row is the whole conversation object; tags, customer and latest message are a read
    # each. A write's result is read again whole (1 + 3); each tag may need creating (3 calls).
    call_costs = CallCosts(
        listing_rows=MAX_LIMIT - 1,
        reads=tuple(Read(fields) for fields in PARTS.values()),
        scan_rounds=MAX_SCAN_ROUNDS,
        scan_rows=SCAN_BATCH,
        writes={"create_conversation": 5, "add_messages": 2, "update_conversation": 5, "close": 5, "assign": 5,
                "route": 6, "add_tags": 4, "remove_tags": 4},
        per_item={"create_conversation": 1, "add_messages": 1, "add_tags": 3, "remove_tags": 1},
    )

    def __init__(
        self,
        *,
        name: str,
        http: Client,
        api_key: str,
        senders: Mapping[str, str] | None = None,
        create_missing_tags: bool = True,
    ) -> None:
        """`senders`: the address replies go out from, per channel (`{"WHATSAPP": "447860099299"}`);
        without one, a reply goes out from the address the customer wrote to. `create_missing_tags`:
        add_tags creates a tag the account lacks instead of refusing it."""
        if not api_key:
            raise ValueError("api_key: the Infobip API key is empty")
        self.name = name
        self._client = InfobipClient(http, provider=name, api_key=api_key)
        self._hydrator = Hydrator(self._client, provider=name, concurrency=HYDRATE_CONCURRENCY)
        self._senders = replies.vendor_senders(senders or {})
        self._create_missing_tags = create_missing_tags

    # ---- reads ----------------------------------------------------------------------------------

    async def get_conversation(self, remote_id: str, *, fields: frozenset[str] | None = None) -> Conversation:
        raw = self._object(await self._client.get_conversation(self._id(remote_id)), "conversation")
        return await self._hydrator.whole(raw, parts_for(fields))

    async def get_conversations(
        self, remote_ids: Sequence[str], *, fields: frozenset[str] | None = None
    ) -> dict[str, Conversation]:
        """Many conversations with one list call (`conversationIds`), each hydrated; ids the vendor does
        not know are missing from the result."""
        found: dict[str, Conversation] = {}
        wanted = tuple(dict.fromkeys(i for i in remote_ids if i.strip()))
        for start in range(0, len(wanted), BATCH_IDS):
            chunk = wanted[start : start + BATCH_IDS]
            page = await self.list_conversations(
                filter=ConversationFilter(remote_ids=chunk), order=SortOrder.CREATED_ASC, first=len(chunk), after=None,
                fields=fields,
            )
            found.update((c.remote_id, c) for c in page.items)
        return found

    async def list_conversations(
        self,
        *,
        filter: ConversationFilter,
        order: SortOrder,
        first: int,
        after: str | None,
        fields: frozenset[str] | None = None,
    ) -> Page[Conversation]:
        refuse_unfilterable(filter, UNHONOURED_FILTERS, provider=self.name)
        self._check_first(first)
        field, descending = mapping.ORDER_TO_VENDOR[order]
        position = self._position("conversations", after, field, descending, o=order.value)
        plan = self._checked(mapping.build_list_params, filter)
        if plan is None:
            return Page((), None, ())  # e.g. status NEW: no Infobip conversation has it
        params, exact = plan
        params.update(mapping.order_params(field, descending))
        cheap = mapping.prefilter(filter)
        everything = filter.is_empty()  # an empty filter matches every row: not asked row by row
        parts = parts_for(fields) | filter_parts(filter)
        items: list[Conversation] = []
        positions: list[Snapshot] = []

        def need() -> int:
            return first - len(items)

        async def consume(rows: list[Keyed]) -> int:
            """Passes rows in order until the page is full; hydrates only rows the conversation object
            alone lets through, and only as many as could still fit."""
            index = 0
            while index < len(rows) and need():
                chunk: list[tuple[dict[str, Any], int, Conversation, bool]] = []
                kept = 0
                while index < len(rows) and kept < need():
                    (row, moment, key), index = rows[index], index + 1
                    listed = mapping.parse_conversation(row, provider=self.name, sorted_by=field, sort_time=moment)
                    keep = everything or cheap.matches(listed)
                    chunk.append((row, key, listed, keep))
                    kept += keep
                hydrated = iter(await self._hydrator.many([(row, listed) for row, _, listed, keep in chunk if keep], parts, filter.tags))
                for row, key, _, keep in chunk:
                    position.advance_to(key, mapping.row_id(row))
                    conversation = next(hydrated) if keep else None
                    if conversation is not None and (everything or filter.matches(conversation)):
                        items.append(conversation)
                        positions.append(position.snapshot())
            return index

        more = await scan(
            self._client.list_conversations, position, params, provider=self.name, need=need,
            batch=need if exact else lambda: max(need(), SCAN_BATCH), consume=consume,
        )
        return Page(
            tuple(items), self._cursor("conversations", position, o=order.value) if more else None,
            LazyCursors(positions, lambda at: self._cursor_at("conversations", at, o=order.value)),
        )

    async def list_messages(
        self, remote_id: str, *, first: int, after: str | None, newest_first: bool = False
    ) -> Page[Message]:
        self._check_first(first)
        conversation_id = self._id(remote_id)
        kind = "messages-desc" if newest_first else "messages"
        position = self._position(kind, after, mapping.MESSAGE_TIME, newest_first, c=remote_id)
        items: list[Message] = []
        positions: list[Snapshot] = []

        def need() -> int:
            return first - len(items)

        async def fetch(query: dict[str, Any]) -> list[Any]:
            return await self._client.list_messages(conversation_id, query)

        async def consume(rows: list[Keyed]) -> int:
            taken = rows[: need()]
            for row, created_at, key in taken:  # the sort time is the message's createdAt: parsed once
                message = mapping.parse_message(row, provider=self.name, conversation_id=remote_id, created_at=created_at)
                position.advance_to(key, message.remote_id)  # the row's id, as `row_id` gives it
                items.append(message)
                positions.append(position.snapshot())
            return len(taken)

        params: dict[str, Any] = mapping.order_params(mapping.MESSAGE_TIME, newest_first)
        more = await scan(fetch, position, params, provider=self.name, need=need, batch=need, consume=consume)
        return Page(
            tuple(items), self._cursor(kind, position, c=remote_id) if more else None,
            LazyCursors(positions, lambda at: self._cursor_at(kind, at, c=remote_id)),
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

    async def create_conversation(self, new: NewConversation) -> Conversation:
        """Creates the conversation, then sends its messages to the customer (`customer.id`, else
        `externalId`) on `channel` from the configured sender: Infobip has no inbound message yet."""
        self._checked(mapping.check_new_conversation, new)
        refuse_roles(new.messages, self.writable_roles, provider=self.name, operation="createConversation")
        route = None
        if new.messages:
            self._checked(mapping.check_new_messages, new.messages)
            channel = mapping.CHANNEL_TO_VENDOR[new.channel] if new.channel is not None else None
            address = new.customer.id or new.customer.external_id
            route = self._checked(replies.reply_route, None, senders=self._senders, channel=channel, customer_address=address)
        raw = self._object(await self._client.create_conversation(mapping.build_conversation_payload(new)), "conversation")
        if route is None:
            return await self._hydrator.whole(raw)
        for message in new.messages:
            await self._client.send_message(mapping.row_id(raw), replies.build_message_payload(message.text, route))
        return await self.get_conversation(mapping.row_id(raw))

    async def add_messages(
        self, remote_id: str, messages: Sequence[NewMessage], *, as_context: bool = False
    ) -> list[Message]:
        """Replies on the channel of the latest inbound message, to its sender (see `replies.reply_route`).
        History (`as_context`) becomes internal notes, which never reach the customer."""
        if not messages:
            raise InvalidRequestError("no messages given", provider=self.name, field="messages")
        if as_context:
            return await self._add_history(self._id(remote_id), messages)
        refuse_roles(messages, self.writable_roles, provider=self.name, operation="addMessages")
        self._checked(mapping.check_new_messages, messages)
        conversation_id = self._id(remote_id)
        latest = await self._hydrator.first_message(conversation_id, mapping.LATEST_INBOUND)
        channel = None
        if latest is None:  # read only to name the channel in the error
            channel = mapping.vendor_channel(self._object(await self._client.get_conversation(conversation_id), "conversation"))
        route = self._checked(replies.reply_route, latest, senders=self._senders, channel=channel)
        sent = []
        for message in messages:
            raw = await self._client.send_message(conversation_id, replies.build_message_payload(message.text, route))
            sent.append(mapping.parse_message(self._object(raw, "message"), provider=self.name, conversation_id=remote_id))
        return sent

    async def update_conversation(self, remote_id: str, changes: ConversationChanges) -> Conversation:
        refused = sorted(input_name(name) for name in set(changes.changed()) - self.updatable_fields)
        if refused:
            raise InvalidRequestError(f"Infobip cannot change {', '.join(refused)}", provider=self.name, field=refused[0])
        self._checked(mapping.check_changes, changes)
        body = mapping.build_changes_payload(changes)
        if not body:
            return await self.get_conversation(remote_id)
        return await self._reload(remote_id, await self._patch(self._id(remote_id), body))

    async def close(self, remote_id: str) -> Conversation:
        return await self.update_conversation(remote_id, ConversationChanges(status=ConversationStatus.CLOSED))

    async def assign(self, remote_id: str, *, agent_id: str | None) -> Conversation:
        conversation_id = self._id(remote_id)
        if agent_id is None:
            return await self._reload(remote_id, await self._client.unassign(conversation_id))
        return await self._reload(remote_id, await self._client.assign(conversation_id, agent_id))

    async def route(self, remote_id: str, *, queue_id: str | None) -> Conversation:
        """Re-runs Infobip's routing (which unassigns); a queue asked for that routing did not pick is then set."""
        conversation_id = self._id(remote_id)
        raw = await self._client.route(conversation_id)
        if queue_id is not None and not mapping.in_queue(raw, queue_id):
            raw = await self._patch(conversation_id, mapping.build_changes_payload(ConversationChanges(queue_id=queue_id)))
        return await self._reload(remote_id, raw)

    async def add_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation:
        """Links each tag in order; one the account lacks is created first (or refused, see __init__)."""
        conversation_id = self._id(remote_id)
        for tag in self._checked(mapping.valid_tag_names, tags):
            await self._link(conversation_id, tag)
        return await self.get_conversation(remote_id)

    async def remove_tags(self, remote_id: str, tags: Sequence[str]) -> Conversation:
        conversation_id = self._id(remote_id)
        for tag in self._checked(mapping.valid_tag_names, tags):
            try:
                await self._client.unlink_tag(conversation_id, tag)
            except InvalidRequestError as exc:
                if not unknown_tag(exc):
                    raise
                # no such account tag, so it is on no conversation: already removed
        return await self.get_conversation(remote_id)

    async def set_bot_active(self, remote_id: str, active: bool, *, agent_id: str | None = None) -> Conversation:
        raise unsupported("setBotActive", "the Conversations API has no bot flag; route hands a conversation to agents", provider=self.name)

    async def set_feedback(self, remote_id: str, *, positive: bool, comment: str | None) -> Conversation:
        raise unsupported("setFeedback", "Infobip conversations have no feedback", provider=self.name)

    async def set_latest_page_url(self, remote_id: str, url: str) -> Conversation:
        raise unsupported("setLatestPageUrl", "Infobip conversations have no page URLs", provider=self.name)

    async def queue_info(self, remote_id: str) -> QueueInfo:
        raise unsupported("queueInfo", "Infobip tells no queue position or wait; the queue id is on the conversation", provider=self.name)

    async def hydrate(self, conversations: Sequence[Conversation], fields: frozenset[str] | None) -> list[Conversation | None]:
        """Reads the parts of `fields` each conversation is missing, and only those."""
        return await self._hydrator.fill(conversations, fields)

    # ---- helpers --------------------------------------------------------------------------------

    async def _reload(self, remote_id: str, raw: Any) -> Conversation:
        if mapping.is_conversation(raw):
            return await self._hydrator.whole(raw)
        return await self.get_conversation(remote_id)

    async def _patch(self, conversation_id: str, body: dict[str, Any]) -> Any:
        try:
            return await self._client.patch_conversation(conversation_id, body)
        except InvalidRequestError as exc:
            if exc.status_code != 405:
                raise
        # An account without PATCH: replace the whole conversation, keeping what does not change.
        current = self._object(await self._client.get_conversation(conversation_id), "conversation")
        return await self._client.replace_conversation(conversation_id, mapping.build_replacement_payload(current, body))

    async def _link(self, conversation_id: str, tag: str) -> None:
        try:
            await self._client.link_tag(conversation_id, tag)
            return
        except InvalidRequestError as exc:
            if not unknown_tag(exc):
                raise
            if not self._create_missing_tags:
                raise InvalidRequestError(
                    f"tag {echo(tag)} does not exist in the Infobip account; create it there first "
                    "(or enable create_missing_tags)", provider=self.name, field="tags",
                ) from exc
        await self._client.create_tag(tag)  # a concurrent creation of the same tag is no error
        await self._client.link_tag(conversation_id, tag)

    def _checked(self, check: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Runs a `mapping` or `replies` check or builder; its `InputError` becomes InvalidRequestError."""
        try:
            return check(*args, **kw)
        except mapping.InputError as exc:
            raise InvalidRequestError(str(exc), provider=self.name, field=exc.field) from exc

    def _check_first(self, first: int) -> None:
        if first < 1:
            raise InvalidRequestError(f"first must be at least 1, got {first}", provider=self.name, field="first")

    def _position(self, kind: str, after: str | None, field: str, descending: bool, **scope: str) -> Keyset:
        if after is None:
            return Keyset(field, descending)
        state = decode_cursor(self.name, kind, after)
        if any(state.get(key) != value for key, value in scope.items()):
            raise InvalidRequestError(
                "invalid cursor: it was issued for another list or order", provider=self.name, field="after"
            )
        try:
            return Keyset.restore(field, descending, state)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid cursor: bad {exc}", provider=self.name, field="after") from exc

    def _cursor(self, kind: str, position: Keyset, **scope: str) -> str:
        return self._cursor_at(kind, position.snapshot(), **scope)

    def _cursor_at(self, kind: str, at: Snapshot, **scope: str) -> str:
        return encode_cursor(self.name, kind, **scope, **state_of(at))

    def _object(self, raw: Any, what: str) -> dict[str, Any]:
        if not isinstance(raw, dict) or not mapping.has_id(raw):
            raise MalformedResponseError(f"the vendor's {what} is not in the documented shape", provider=self.name)
        return raw

    def _id(self, remote_id: str) -> str:
        if not remote_id.strip():
            raise NotFoundError("no conversation with an empty id", provider=self.name)
        return remote_id
