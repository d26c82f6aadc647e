"""Root subscription fields. Each event carries a `cursor`; pass the last one seen as `since` after a
reconnect to receive what was missed (within the retained log), then live events."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from providers import echo

from .context import Info
from .errors import ErrorCode, client_error
from .events import BusUnavailable, CursorError, Event, EventKind, SubscriberOverflow
from .ids import parse_conversation_id
from .inputs import ConversationFilter
from .types import Conversation, Message


@strawberry.type
class MessageAddedEvent:
    cursor: str
    message: Message


@strawberry.type
class ConversationChangedEvent:
    cursor: str
    conversation: Conversation


async def _events(info: Info, since: str | None) -> AsyncGenerator[Event, None]:
    """The bus's events of the providers the caller may touch (replayed ones too)."""
    principal = info.context.principal
    try:
        async for event in info.context.bus.subscribe(since):
            if principal.may_touch(event.provider):
                yield event
    except CursorError as exc:
        raise client_error(str(exc), field="since") from None
    except SubscriberOverflow as exc:
        raise client_error(f"{exc}; reconnect with `since` set to your last cursor", ErrorCode.RATE_LIMITED) from None
    except BusUnavailable as exc:
        raise client_error(f"{exc}; try again shortly", ErrorCode.INTERNAL) from None


@strawberry.type
class Subscription:
    @strawberry.subscription(description="New messages of one conversation, or of the given providers (all if omitted).")
    async def message_added(
        self,
        info: Info,
        conversation_id: strawberry.ID | None = None,
        providers: list[str] | None = None,
        since: str | None = None,
    ) -> AsyncGenerator[MessageAddedEvent, None]:
        target = parse_conversation_id(conversation_id, argument="conversationId") if conversation_id else None
        if target is not None and target[0] not in info.context.providers:
            raise client_error("conversationId: no such conversation", ErrorCode.NOT_FOUND, field="conversationId")
        _check_providers(info, providers)
        async for event in _events(info, since):
            if event.kind is not EventKind.MESSAGE_ADDED or event.message is None:
                continue
            if target is not None and (event.provider, event.conversation_id) != target:
                continue
            if providers is not None and event.provider not in providers:
                continue
            yield MessageAddedEvent(cursor=event.cursor, message=Message.from_model(event.message))

    @strawberry.subscription(description="Conversations created or changed, optionally filtered.")
    async def conversation_changed(
        self, info: Info, filter: ConversationFilter | None = None, since: str | None = None
    ) -> AsyncGenerator[ConversationChangedEvent, None]:
        _check_providers(info, filter.providers if filter else None)
        model_filter = filter.to_model() if filter else None
        async for event in _events(info, since):
            conversation = event.conversation
            if event.kind is not EventKind.CONVERSATION_CHANGED or conversation is None:
                continue
            if filter is not None and not filter.selects(conversation.provider, conversation.vendor):
                continue
            if model_filter is not None and not model_filter.matches(conversation):
                continue
            yield ConversationChangedEvent(cursor=event.cursor, conversation=Conversation.from_model(conversation))


def _check_providers(info: Info, names: list[str] | None) -> None:
    unknown = sorted(set(names or ()) - set(info.context.providers))
    if unknown:
        raise client_error(f"providers: unknown provider(s) {', '.join(map(echo, unknown))}", field="providers")
