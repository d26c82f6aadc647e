"""Conversations and messages of the sandbox, and the business rules the vendor documents.

- ``CLOSED`` is terminal: a PUT/PATCH that would change anything, an assignment, an unassignment, a
  routing (or routing simulation), a new message and a new note are all refused with 400. Tag links
  are allowed.
- The assignee changes only through the assignee endpoints and routing; PUT/PATCH may repeat the
  current ``agentId`` but not change it.
- Route = unassign, then queue and priority from the account's routing (``account``).
- ``updatedAt`` moves on every change, tag links and messages included, and always forwards: with a
  clock that stands still it advances by one millisecond, so a change is always visible.
- A conversation still on ``NO_CHANNEL`` takes the channel of its first message.
- A call that changes nothing (same values, a tag already linked) changes no time and fires no event.
- Notes (``notes``) are not a change of the conversation: they move no ``updatedAt`` and fire no event.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sandboxes.kit import SandboxClock, SandboxControls

from .account import Account
from .input import Fields, InboundDraft, MessageDraft
from .model import (
    CLOSED,
    DEFAULT_CHANNEL,
    DEFAULT_PRIORITY,
    DEFAULT_STATUS,
    INBOUND,
    OUTBOUND,
    TEXT,
    Conversation,
    JsonDict,
    Message,
    Tag,
    conversation_json,
    format_time,
    invalid,
    message_json,
    unknown,
)
from ..webhooks import WebhookSender
from .webhooks import (
    CHANGE_EVENTS,
    CONVERSATION_CREATED,
    INBOUND_MESSAGE,
    OUTBOUND_MESSAGE,
    TAG_ADDED,
    TAG_REMOVED,
    WebhookFields,
    build_event,
)

ATTRIBUTES = {
    "topic": "topic",
    "summary": "summary",
    "status": "status",
    "priority": "priority",
    "queueId": "queue_id",
    "agentId": "agent_id",
    "channel": "channel",
}
TICK = timedelta(milliseconds=1)  # the wire shows milliseconds


class Sandbox:
    """All state of one sandbox app (``app.state.sandbox``)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None,
        webhooks: WebhookSender,
        webhook_fields: WebhookFields,
        seed: int,
        plain_text_content: bool,
    ) -> None:
        self.controls = SandboxControls(SandboxClock(clock))
        self.rng = random.Random(seed)
        self.webhooks = webhooks
        self.webhook_fields = webhook_fields
        self.plain_text_content = plain_text_content
        self.account = Account(self.new_id, self.now)
        self.conversations: dict[str, Conversation] = {}

    def now(self) -> datetime:
        # Kept to the millisecond, as the wire shows it: a client that filters with a time it read
        # (createdAfter=<a row's createdAt>) must not get that row back.
        moment = self.controls.clock.now()
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def new_id(self) -> str:
        # Seeded, so demo data and whatever a test creates get the same ids on every run.
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -- reads -------------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        found = self.conversations.get(conversation_id)
        if found is None:
            raise unknown("id", conversation_id)
        return found

    def writable(self, conversation_id: str) -> Conversation:
        """The conversation, if it may still change or gain anything: 400 when it is CLOSED."""
        conversation = self.get(conversation_id)
        self._refuse_closed(conversation)
        return conversation

    def tags_of(self, conversation_id: str) -> list[Tag]:
        return [self.account.tags[name] for name in self.get(conversation_id).tags]

    def message_json(self, message: Message) -> JsonDict:
        return message_json(message, plain_text=self.plain_text_content)

    # -- conversations -----------------------------------------------------------------------------

    def create(self, fields: Fields) -> Conversation:
        if fields.get("queueId") is not None:
            self.account.queue(str(fields["queueId"]))
        if fields.get("agentId") is not None:
            self.account.agent(str(fields["agentId"]))
        conversation = self._new_conversation(DEFAULT_CHANNEL)
        for key, value in fields.items():
            setattr(conversation, ATTRIBUTES[key], value)
        self.conversations[conversation.id] = conversation
        self._emit(CONVERSATION_CREATED, conversation)
        return conversation

    def update(self, conversation_id: str, fields: Fields) -> Conversation:
        """PUT and PATCH once their bodies are read (see ``parse_conversation_fields``)."""
        conversation = self.get(conversation_id)
        changes = {key: value for key, value in fields.items() if getattr(conversation, ATTRIBUTES[key]) != value}
        if not changes:
            return conversation
        self._refuse_closed(conversation)
        if "agentId" in changes:
            text = f"agentId cannot be changed here; use PUT /ccaas/1/conversations/{conversation.id}/assignee"
            raise invalid(text)
        if changes.get("queueId") is not None:
            self.account.queue(str(changes["queueId"]))
        self._apply(conversation, changes)
        return conversation

    def assign(self, conversation_id: str, agent_id: str) -> Conversation:
        conversation = self.writable(conversation_id)
        self._apply(conversation, {"agentId": self.account.agent(agent_id).id})
        return conversation

    def unassign(self, conversation_id: str) -> Conversation:
        conversation = self.writable(conversation_id)
        self._apply(conversation, {"agentId": None})
        return conversation

    def route(self, conversation_id: str) -> Conversation:
        conversation = self.writable(conversation_id)
        self._apply(conversation, {"agentId": None, **self._routing(conversation)})
        return conversation

    def simulate_route(self, conversation_id: str) -> JsonDict:
        conversation = self.writable(conversation_id)
        return {"id": conversation.id, **self._routing(conversation)}

    # -- tags --------------------------------------------------------------------------------------

    def link_tag(self, conversation_id: str, name: str) -> None:
        conversation, tag = self.get(conversation_id), self.account.tag(name)
        if tag.name not in conversation.tags:
            conversation.tags.append(tag.name)
            self._touch(conversation)
            self._emit(TAG_ADDED, conversation, tag=tag)

    def unlink_tag(self, conversation_id: str, name: str) -> None:
        conversation, tag = self.get(conversation_id), self.account.tag(name)
        if tag.name in conversation.tags:
            conversation.tags.remove(tag.name)
            self._touch(conversation)
            self._emit(TAG_REMOVED, conversation, tag=tag)

    def delete_tag(self, name: str) -> None:
        """Deletes the account tag and unlinks it from every conversation (each fires TAG_REMOVED)."""
        tag = self.account.tag(name)
        for conversation in self.conversations.values():
            if tag.name in conversation.tags:
                self.unlink_tag(conversation.id, tag.name)
        self.account.remove_tag(tag.name)

    # -- messages ----------------------------------------------------------------------------------

    def send(self, conversation_id: str, draft: MessageDraft) -> Message:
        conversation = self.writable(conversation_id)
        message = self.add_message(conversation, draft, OUTBOUND, self.now())
        self._touch(conversation)
        self._emit(OUTBOUND_MESSAGE, conversation, message)
        return message

    def receive(self, draft: InboundDraft) -> Message:
        """A customer writes in (``POST /_sandbox/inbound``); threading rules in docs/infobip.md."""
        content = MessageDraft(draft.sender, draft.recipient, draft.channel, TEXT, {"text": draft.text})
        conversation = self._thread_for(draft)
        if conversation is None:
            conversation = self._new_conversation(draft.channel)
            for key, value in self._routing(conversation).items():
                setattr(conversation, ATTRIBUTES[key], value)
            self.conversations[conversation.id] = conversation
            message = self.add_message(conversation, content, INBOUND, conversation.created_at)
            self._emit(CONVERSATION_CREATED, conversation)
        else:
            message = self.add_message(conversation, content, INBOUND, self.now())
            self._touch(conversation)
        self._emit(INBOUND_MESSAGE, conversation, message)
        return message

    def add_message(self, conversation: Conversation, draft: MessageDraft, direction: str, at: datetime) -> Message:
        """Stores a message as is (no rules, no events, no ``updatedAt``); demo data uses it too."""
        message = Message(
            id=self.new_id(),
            conversation_id=conversation.id,
            sender=draft.sender,
            recipient=draft.recipient,
            channel=draft.channel,
            direction=direction,
            content_type=draft.content_type,
            content=dict(draft.content),
            created_at=at,
        )
        if conversation.channel == DEFAULT_CHANNEL and not conversation.messages:
            conversation.channel = draft.channel
        conversation.messages.append(message)
        return message

    # -- helpers -----------------------------------------------------------------------------------

    def _thread_for(self, draft: InboundDraft) -> Conversation | None:
        if draft.conversation_id is not None:
            return self.writable(draft.conversation_id)
        candidates = [
            item
            for item in self.conversations.values()
            if item.status != CLOSED and any(_same_customer(message, draft) for message in item.messages)
        ]
        return max(candidates, key=lambda item: (item.created_at, item.id), default=None)

    def _new_conversation(self, channel: str) -> Conversation:
        now = self.now()
        return Conversation(
            id=self.new_id(),
            topic=None,
            summary=None,
            status=DEFAULT_STATUS,
            priority=DEFAULT_PRIORITY,
            queue_id=None,
            agent_id=None,
            channel=channel,
            created_at=now,
            updated_at=now,
        )

    def _routing(self, conversation: Conversation) -> dict[str, str | None]:
        target = self.account.route(conversation.priority)
        if target is None:
            return {"queueId": None, "priority": conversation.priority}
        return {"queueId": target.queue_id, "priority": target.priority}

    @staticmethod
    def _refuse_closed(conversation: Conversation) -> None:
        if conversation.status == CLOSED:
            raise invalid(f"Conversation '{conversation.id}' is closed and cannot be changed")

    def _apply(self, conversation: Conversation, fields: dict[str, str | None]) -> None:
        changed = [key for key, value in fields.items() if getattr(conversation, ATTRIBUTES[key]) != value]
        if not changed:
            return
        for key in changed:
            setattr(conversation, ATTRIBUTES[key], fields[key])
        self._touch(conversation)
        for key, event_type in CHANGE_EVENTS.items():
            if key in changed:
                self._emit(event_type, conversation)

    def _touch(self, conversation: Conversation) -> None:
        conversation.updated_at = max(self.now(), conversation.updated_at + TICK)

    def _emit(
        self, event_type: str, conversation: Conversation, message: Message | None = None, tag: Tag | None = None
    ) -> None:
        body = build_event(
            self.webhook_fields,
            event_type,
            format_time(self.now()),
            conversation_json(conversation),
            self.message_json(message) if message is not None else None,
            {"name": tag.name} if tag is not None else None,
        )
        self.webhooks.send(body, label=event_type)


def _same_customer(message: Message, draft: InboundDraft) -> bool:
    return message.direction == INBOUND and message.sender == draft.sender and message.channel == draft.channel
