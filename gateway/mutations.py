"""Root mutation fields. Expected failures are typed union members; events are published only
after the vendor accepted the change.

Every field is nullable: an infrastructure failure (vendor down, timeout) is a top-level error that
nulls its own field only, so in a document with several writes each still answers what happened to
it; a non-null field would null all of `data`, hiding the writes that did happen."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeAlias, TypeVar

import strawberry
from graphql import GraphQLError

from providers import Capability, ProviderError, echo
from providers import Conversation as ConversationModel
from providers import Provider as ProviderModel

from . import readback
from .context import Info
from .errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ResultError,
    UnsupportedError,
    graphql_error,
    invalid_input,
    not_found,
    result_error,
    unsupported,
)
from .events import BusUnavailable, Event, EventKind
from .ids import parse_conversation_id
from .inputs import CreateConversationInput, MessageInput, UpdateConversationInput
from .types import Conversation, Message

logger = logging.getLogger("parley.mutations")

ERRORS = (NotFoundError, UnsupportedError, ConflictError, InvalidInputError)


@strawberry.type
class ConversationPayload:
    conversation: Conversation


@strawberry.type
class AddMessagesPayload:
    conversation_id: strawberry.ID
    messages: list[Message]


# Each mutation's result is its own GraphQL union of the payload and the expected failures.
ConversationOutcome: TypeAlias = ConversationPayload | ResultError
CreateConversationResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("CreateConversationResult")]
AddMessagesResult: TypeAlias = Annotated[AddMessagesPayload | ResultError, strawberry.union("AddMessagesResult")]
UpdateConversationResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("UpdateConversationResult")]
AssignConversationResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("AssignConversationResult")]
RouteConversationResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("RouteConversationResult")]
AddTagsResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("AddTagsResult")]
RemoveTagsResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("RemoveTagsResult")]
SetBotActiveResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("SetBotActiveResult")]
SetFeedbackResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("SetFeedbackResult")]
SetLatestPageUrlResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("SetLatestPageUrlResult")]
CloseConversationResult: TypeAlias = Annotated[ConversationOutcome, strawberry.union("CloseConversationResult")]

Call = Callable[[ProviderModel, str], Awaitable[ConversationModel]]
T = TypeVar("T")


def _target(info: Info, id: str, capability: Capability, operation: str) -> tuple[ProviderModel, str] | ResultError:
    try:
        provider_name, remote_id = parse_conversation_id(id)
    except GraphQLError as exc:
        return invalid_input(exc.message, field="id")
    provider = info.context.providers.get(provider_name)
    if provider is None:  # nor one the caller may not touch: the answer names neither
        return not_found("id: no such conversation")
    if capability not in provider.capabilities:
        return unsupported(provider.name, operation)
    return provider, remote_id


async def _guard(awaitable: Awaitable[T]) -> T | ResultError:
    """The awaited value, or the typed error for an expected provider failure."""
    try:
        return await awaitable
    except ProviderError as exc:
        typed = result_error(exc)
        if typed is None:
            raise graphql_error(exc) from exc
        if isinstance(typed, NotFoundError):  # every write names one conversation; the vendor's word is in vendorMessage
            typed.message = f"{exc.provider}: no such conversation"
        return typed


async def _announce(info: Info, event: Event) -> None:
    """Publishes a change the vendor has accepted. Without the shared bus the change still stands, so
    the mutation still answers it; subscribers catch up from the vendor's webhook or a query."""
    try:
        await info.context.bus.publish(event)
    except BusUnavailable as exc:
        logger.warning("%s on %s not announced to subscribers: %s", event.kind.value, event.provider, exc)


async def _changed(info: Info, conversation: ConversationModel) -> ConversationPayload:
    await _announce(
        info, Event(EventKind.CONVERSATION_CHANGED, conversation.provider, conversation.remote_id, conversation=conversation)
    )
    return ConversationPayload(conversation=Conversation.from_model(conversation))


async def _update(info: Info, id: str, capability: Capability, operation: str, call: Call) -> ConversationOutcome:
    target = _target(info, id, capability, operation)
    if isinstance(target, ERRORS):
        return target
    provider, remote_id = target
    result = await _guard(call(provider, remote_id))
    return await _changed(info, result) if isinstance(result, ConversationModel) else result


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Creates a conversation on a provider, then adds its first messages.")
    async def create_conversation(self, info: Info, input: CreateConversationInput) -> CreateConversationResult | None:
        provider = info.context.providers.get(input.provider)
        if provider is None:
            known = ", ".join(sorted(info.context.providers))
            return invalid_input(f"no provider named {echo(input.provider)}; configured providers: {known}", field="provider")
        if Capability.CREATE_CONVERSATION not in provider.capabilities:
            return unsupported(provider.name, "createConversation")
        new = input.to_model()
        result = await _guard(provider.create_conversation(new))
        if not isinstance(result, ConversationModel):
            return result
        info.context.notices.extend(readback.created(new, result, path=info.path.as_list()))
        return await _changed(info, result)

    @strawberry.mutation(description="Adds live messages, or history with original times when `asContext`.")
    async def add_messages(
        self, info: Info, conversation_id: strawberry.ID, messages: list[MessageInput], as_context: bool = False
    ) -> AddMessagesResult | None:
        capability = Capability.ADD_HISTORY if as_context else Capability.ADD_MESSAGES
        target = _target(info, conversation_id, capability, "addMessages")
        if isinstance(target, ERRORS):
            return target
        provider, remote_id = target
        if not messages:
            return invalid_input("messages: give at least one message", field="messages", provider=provider.name)
        sent = [m.to_model() for m in messages]
        result = await _guard(provider.add_messages(remote_id, sent, as_context=as_context))
        if not isinstance(result, list):
            return result
        info.context.notices.extend(readback.added(sent, result, provider=provider.name, path=info.path.as_list()))
        for message in result:
            await _announce(info, Event(EventKind.MESSAGE_ADDED, provider.name, remote_id, message=message))
        return AddMessagesPayload(conversation_id=conversation_id, messages=[Message.from_model(m) for m in result])

    @strawberry.mutation
    async def update_conversation(
        self, info: Info, id: strawberry.ID, input: UpdateConversationInput
    ) -> UpdateConversationResult | None:
        changes = input.to_model()
        if not changes.changed():
            return invalid_input("input: give at least one field to change", field="input")
        async def update(provider: ProviderModel, remote_id: str) -> ConversationModel:
            kept = await provider.update_conversation(remote_id, changes)
            info.context.notices.extend(readback.updated(changes, kept, path=info.path.as_list()))
            return kept

        return await _update(info, id, Capability.UPDATE_CONVERSATION, "updateConversation", update)

    @strawberry.mutation(description="Assigns an agent; `agentId: null` unassigns where the vendor allows.")
    async def assign_conversation(
        self, info: Info, id: strawberry.ID, agent_id: str | None = strawberry.UNSET
    ) -> AssignConversationResult | None:
        if agent_id is strawberry.UNSET:  # left out: not taken to mean "unassign"
            return invalid_input("agentId: give the agent to assign, or null to unassign", field="agentId")
        return await _update(info, id, Capability.ASSIGN, "assignConversation",
                             lambda p, rid: p.assign(rid, agent_id=agent_id))

    @strawberry.mutation(description="Unassigns the conversation and puts it back on a queue.")
    async def route_conversation(self, info: Info, id: strawberry.ID, queue_id: str | None = None) -> RouteConversationResult | None:
        return await _update(info, id, Capability.ROUTE, "routeConversation",
                             lambda p, rid: p.route(rid, queue_id=queue_id))

    @strawberry.mutation
    async def add_tags(self, info: Info, id: strawberry.ID, tags: list[str]) -> AddTagsResult | None:
        return await _update(info, id, Capability.TAGS, "addTags", lambda p, rid: p.add_tags(rid, tags))

    @strawberry.mutation
    async def remove_tags(self, info: Info, id: strawberry.ID, tags: list[str]) -> RemoveTagsResult | None:
        return await _update(info, id, Capability.TAGS, "removeTags", lambda p, rid: p.remove_tags(rid, tags))

    @strawberry.mutation(description="Hands the conversation to the bot, or takes it over for a human.")
    async def set_bot_active(
        self, info: Info, id: strawberry.ID, active: bool, agent_id: str | None = None
    ) -> SetBotActiveResult | None:
        return await _update(info, id, Capability.BOT_TAKEOVER, "setBotActive",
                             lambda p, rid: p.set_bot_active(rid, active, agent_id=agent_id))

    @strawberry.mutation
    async def set_feedback(
        self, info: Info, id: strawberry.ID, positive: bool, comment: str | None = None
    ) -> SetFeedbackResult | None:
        return await _update(info, id, Capability.FEEDBACK, "setFeedback",
                             lambda p, rid: p.set_feedback(rid, positive=positive, comment=comment))

    @strawberry.mutation
    async def set_latest_page_url(self, info: Info, id: strawberry.ID, url: str) -> SetLatestPageUrlResult | None:
        return await _update(info, id, Capability.PAGE_URL, "setLatestPageUrl",
                             lambda p, rid: p.set_latest_page_url(rid, url))

    @strawberry.mutation
    async def close_conversation(self, info: Info, id: strawberry.ID) -> CloseConversationResult | None:
        return await _update(info, id, Capability.CLOSE, "closeConversation", lambda p, rid: p.close(rid))
