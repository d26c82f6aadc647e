"""Root query fields."""

from __future__ import annotations

from collections.abc import Mapping

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types.nodes import Selection

from providers import NotFoundError, Provider as ProviderModel, ProviderError, SortOrder as SortOrderModel, cut, echo
from providers import models as m

from .context import Info, MessagesKey
from .errors import ErrorCode, client_error, graphql_error
from .ids import decode_global_id, parse_conversation_id, split_conversation_node_id, split_message_node_id
from .inbox import list_inbox
from .inputs import ConversationFilter
from .selection import cached_list_selection, conversation_fields, named
from .types import (
    Conversation,
    ConversationConnection,
    Edge,
    Message,
    PageInfo,
    MAX_PAGE_SIZE,
    MESSAGES_FIRST,
    Provider,
    SortOrder,
    check_page_size,
    provider_from_model,
)

MAX_MESSAGE_SCAN = 1000  # messages searched to resolve a Message id on vendors with no get-message call


def provider_named(info: Info, name: str, *, argument: str = "id", kind: str = "conversation") -> ProviderModel:
    """The provider an id names. A provider the caller may not touch answers exactly as one that does
    not exist, so the message names neither."""
    provider = info.context.providers.get(name)
    if provider is None:
        raise client_error(f"{argument}: no such {kind}", ErrorCode.NOT_FOUND, field=argument)
    return provider


def selected_providers(providers: Mapping[str, ProviderModel], filter: ConversationFilter | None) -> list[ProviderModel]:
    if filter is None:
        return list(providers.values())
    unknown = sorted(set(filter.providers or ()) - set(providers))
    if unknown:
        raise client_error(f"filter.providers: unknown provider(s) {', '.join(map(echo, unknown))}", field="filter.providers")
    return [p for p in providers.values() if filter.selects(p.name, p.vendor)]


async def load_conversation(info: Info, provider: str, remote_id: str, fields: frozenset[str] | None = None) -> Conversation:
    provider_named(info, provider, argument="id")
    try:
        model = await info.context.loaders.conversation.load((provider, remote_id, fields))
    except NotFoundError:
        raise _no_conversation(provider, remote_id) from None
    return Conversation.from_model(model)


WITHOUT_READING = frozenset({"remote_id", "provider", "vendor"})  # known from the id itself


def _selections(info: Info) -> list[Selection]:
    return [s for f in info.selected_fields for s in f.selections]


def _prefetch_messages(info: Info, selections: list[Selection], provider: str, remote_id: str) -> list[MessagesKey]:
    """Starts the `messages` pages selected in `selections`, so they load while the conversation is
    read; returns the pages started (none when the request's loaders keep nothing)."""
    loaders = info.context.loaders
    started: list[MessagesKey] = []
    for field in named(selections, "messages"):
        args = field.arguments  # literals come as their source text, variables as values
        first, after, newest_first = str(args.get("first", MESSAGES_FIRST)), args.get("after"), args.get("newestFirst", False)
        if first.isdigit() and 1 <= int(first) <= MAX_PAGE_SIZE and isinstance(newest_first, bool) and loaders.cached:
            key = (provider, remote_id, int(first), after, newest_first)  # else the resolver reports it
            loaders.prefetch(loaders.messages, key)
            started.append(key)
    return started


async def _known(info: Info, provider: str, remote_id: str, page: MessagesKey) -> None:
    """Raises NOT_FOUND when the vendor does not know the conversation: listing its messages says so as
    well as reading it would, and the page is what the query asked for anyway. Any other failure is
    the `messages` field's to report."""
    try:
        await info.context.loaders.messages.load(page)
    except NotFoundError:
        raise _no_conversation(provider, remote_id) from None
    except ProviderError:
        pass


def _no_conversation(provider: str, remote_id: str) -> GraphQLError:
    return client_error(f"no conversation {echo(remote_id)} on provider {echo(provider)}", ErrorCode.NOT_FOUND, provider=provider)


async def find_message(info: Info, node_id: str) -> Message:
    provider_name, conversation_id, message_id = split_message_node_id(node_id)
    provider = provider_named(info, provider_name, kind="message")
    after: str | None = None
    for _ in range(MAX_MESSAGE_SCAN // 100):
        page = await provider.list_messages(conversation_id, first=100, after=after, newest_first=True)
        found = next((m for m in page.items if m.remote_id == message_id), None)
        if found is not None:
            return Message.from_model(found)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    raise client_error(f"no message {echo(message_id)} in conversation {echo(conversation_id)}", ErrorCode.NOT_FOUND, provider=provider_name)


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id (Conversation or Message).")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        gid = decode_global_id(id)
        if gid.type_name == "Conversation":
            provider, remote_id = split_conversation_node_id(gid.node_id)
            selections = _selections(info)
            _prefetch_messages(info, selections, provider, remote_id)
            return await load_conversation(info, provider, remote_id, conversation_fields(selections))
        if gid.type_name == "Message":
            return await find_message(info, gid.node_id)
        raise client_error(f"id: {cut(gid.type_name)} ids cannot be fetched with node", field="id")

    @strawberry.field
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
        provider, remote_id = parse_conversation_id(id)
        selections = _selections(info)
        fields = conversation_fields(selections)
        vendor = provider_named(info, provider, argument="id").vendor
        pages = _prefetch_messages(info, selections, provider, remote_id)
        if fields <= WITHOUT_READING and pages:
            # Nothing selected needs the conversation itself: its messages page is one call, not two,
            # and tells an unknown id as surely as reading the conversation would.
            await _known(info, provider, remote_id, pages[0])
            return Conversation.from_model(m.Conversation(provider, vendor, remote_id, m.ConversationStatus.UNKNOWN, None, None, None))
        return await load_conversation(info, provider, remote_id, fields)

    @strawberry.field(description="Conversations of every selected provider, merged by `orderBy`.")
    async def conversations(
        self,
        info: Info,
        filter: ConversationFilter | None = None,
        first: int = 20,
        after: str | None = None,
        order_by: SortOrder = SortOrderModel.UPDATED_DESC,
    ) -> ConversationConnection:
        check_page_size(first)
        chosen = selected_providers(info.context.providers, filter)
        fields, edge_cursors = cached_list_selection(info._raw_info.field_nodes, lambda: _selections(info))
        page = await list_inbox(
            chosen, filter=(filter.to_model() if filter else ConversationFilter().to_model()),
            order=order_by, first=first, after=after, fields=fields, edge_cursors=edge_cursors,
        )
        info.context.partial_errors.extend((graphql_error(exc), info.path) for exc in page.failures)
        info.context.notices.extend(
            {"code": "PROVIDER_SKIPPED", "provider": exc.provider, "message": str(exc)} for exc in page.skipped
        )
        return ConversationConnection(
            edges=[Edge(cursor=cursor, node=Conversation.from_model(c)) for c, cursor in page.items],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        )

    @strawberry.field
    def providers(self, info: Info) -> list[Provider]:
        return [provider_from_model(p) for p in info.context.providers.values()]
