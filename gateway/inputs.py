"""GraphQL input types and their conversion to neutral provider inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from providers import models as m

from .types import Channel, ConversationStatus, Priority, Role


@strawberry.input(description="Who someone is, by any of the identifiers the vendor knows them by.")
class ParticipantInput:
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    id: str | None = None
    avatar_url: str | None = None

    def to_model(self, role: m.Role = m.Role.CUSTOMER) -> m.ParticipantInput:
        return m.ParticipantInput(
            name=self.name, email=self.email, external_id=self.external_id, id=self.id,
            avatar_url=self.avatar_url, role=role,
        )


ROLE_DESCRIPTION = (
    "Whose message this is, on every vendor alike: AGENT (the default: what an agent console writes), "
    "CUSTOMER, BOT or SYSTEM. A provider writes only the roles in `Provider.writableRoles` and refuses "
    "another with UNSUPPORTED naming those it writes; a message is never written as someone else."
)


@strawberry.input
class MessageInput:
    text: str
    role: Role = strawberry.field(default=m.DEFAULT_MESSAGE_ROLE, description=ROLE_DESCRIPTION)
    author: ParticipantInput | None = strawberry.field(
        default=None,
        description="Which agent or customer wrote it, where the vendor records it. Without one, a CUSTOMER "
        "message is the conversation's customer's and an AGENT message the provider's configured agent's.",
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="The original time, for history; at most 30 s in the future."
    )

    def to_model(self) -> m.NewMessage:
        # The role travels on the author (`NewMessage.role`); a role-only author names nobody, and the
        # adapter stands in the conversation's customer or its configured agent.
        author = self.author.to_model(self.role) if self.author else m.ParticipantInput(role=self.role)
        return m.NewMessage(text=self.text, author=author, created_at=self.created_at)


@strawberry.input
class CustomFieldInput:
    id: str
    value: str | None = None


@strawberry.input
class CreateConversationInput:
    provider: str
    customer: ParticipantInput
    topic: str | None = None
    summary: str | None = None
    url: str | None = None
    sentiment: str | None = None
    category_id: str | None = None
    custom_fields: list[CustomFieldInput] | None = None
    bot_active: bool = False
    priority: Priority | None = None
    channel: Channel | None = None
    messages: list[MessageInput] | None = None

    def to_model(self) -> m.NewConversation:
        return m.NewConversation(
            customer=self.customer.to_model(),
            topic=self.topic,
            summary=self.summary,
            url=self.url,
            sentiment=self.sentiment,
            category_id=self.category_id,
            custom_fields=tuple(m.CustomField(id=f.id, value=f.value) for f in self.custom_fields or ()),
            bot_active=self.bot_active,
            priority=self.priority,
            channel=self.channel,
            messages=tuple(msg.to_model() for msg in self.messages or ()),
        )


@strawberry.input
class UpdateConversationInput:
    topic: str | None = None
    summary: str | None = None
    status: ConversationStatus | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    queue_id: str | None = None

    def to_model(self) -> m.ConversationChanges:
        return m.ConversationChanges(
            topic=self.topic, summary=self.summary, status=self.status, priority=self.priority,
            channel=self.channel, queue_id=self.queue_id,
        )


@strawberry.input(description="All given parts must hold; a list means any of its values.")
class ConversationFilter:
    providers: list[str] | None = None
    vendors: list[str] | None = None
    status: list[ConversationStatus] | None = None
    priority: list[Priority] | None = None
    channel: list[Channel] | None = None
    tags: list[str] | None = strawberry.field(default=None, description="Conversations carrying any of these tags.")
    assignee_id: str | None = None
    queue_id: list[str] | None = None
    remote_id: list[str] | None = strawberry.field(default=None, description="The vendor's own conversation ids.")
    campaign: str | None = strawberry.field(default=None, description="Campaign id or name (CleverTap).")
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive text in the customer's name or the latest message."
    )
    active: bool | None = strawberry.field(default=None, description="Inside the vendor's 24-hour reply window.")
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    def selects(self, provider: str, vendor: str) -> bool:
        """Whether the `providers` / `vendors` parts of the filter admit this provider."""
        return (self.providers is None or provider in self.providers) and (self.vendors is None or vendor in self.vendors)

    def to_model(self) -> m.ConversationFilter:
        def many(values: list[Any] | None) -> tuple[Any, ...] | None:
            return tuple(values) if values is not None else None

        return m.ConversationFilter(
            status=many(self.status),
            priority=many(self.priority),
            channel=many(self.channel),
            tags=many(self.tags),
            assignee_id=self.assignee_id,
            queue_ids=many(self.queue_id),
            remote_ids=many(self.remote_id),
            campaign=self.campaign,
            search=self.search,
            active=self.active,
            created_after=self.created_after,
            created_before=self.created_before,
            updated_after=self.updated_after,
            updated_before=self.updated_before,
        )
