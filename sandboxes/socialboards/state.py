"""The sandbox's in-memory Socialboards: conversations, the agent queue, the clock and the rules.

Choices the docs leave open (docs/socialboards.md fixes the rest):
- ``previousMessages`` (imported context) are ordinary messages of the conversation: they count in
  ``totalMessagesCount``, appear in message lists and move ``lastModifiedTime``, but fire no
  ``conversation_message_added`` webhook and never take a conversation out of the queue, even when
  written with ``isByTeam: true`` (history says nothing about who handles the chat now).
- Messages sent through ``POST .../messages`` fire ``conversation_message_added`` whoever sent them,
  so an integration sees its own messages echoed; an ``isByTeam: true`` message dequeues the chat.
- A closed conversation refuses new messages (both endpoints) and takeover changes; feedback and the
  latest url may still change. Closing twice returns the conversation unchanged, with no second event.
- Queue: open conversations waiting for a human, oldest first; ``position`` is 1-based and
  ``waitTime`` is ``position * WAIT_MINUTES_PER_POSITION``; anything else is ``{-1, null}``.
- ``lastModifiedTime`` strictly increases on each change (by at least 1 µs when the clock stands
  still), so ``modifiedAfter`` polling never misses a change made in the same instant.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ..kit import SandboxControls, SandboxClock

from .gate import TokenStore
from .input import ConversationDraft, MessageDraft, TicketQuery
from .model import (
    AGENT_STATUS,
    Conversation,
    ErrorCode,
    Feedback,
    JsonDict,
    Message,
    QueueInfo,
    SandboxError,
    User,
    conversation_json,
    format_time,
    message_json,
)
from .users import Directory
from ..webhooks import WebhookSender
from .webhooks import (
    CONVERSATION_CLOSED,
    CONVERSATION_CREATED,
    MESSAGE_ADDED,
    TAKEOVER_CHANGED,
    build_payload,
)

FIRST_CONVERSATION_ID = 254626  # ids in the style of the docs' examples
FIRST_MESSAGE_ID = 667155
FUTURE_TOLERANCE = timedelta(seconds=30)
WAIT_MINUTES_PER_POSITION = 3
NOT_QUEUED = QueueInfo(position=-1, wait_time=None)
TICK = timedelta(microseconds=1)


class Sandbox:
    """All state of one sandbox app (``app.state.sandbox``)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None,
        credentials: tuple[str, str],
        token_ttl: timedelta,
        community: str,
        webhooks: WebhookSender,
        seed: int,
    ) -> None:
        self.community = community
        self.webhooks = webhooks
        self.rng = random.Random(seed)
        self.controls = SandboxControls(SandboxClock(clock))
        self.tokens = TokenStore(*credentials, token_ttl, self.now)
        self.directory = Directory(self.new_guid)
        self.conversations: dict[int, Conversation] = {}
        self.queue: list[int] = []
        self._next_conversation_id = FIRST_CONVERSATION_ID
        self._next_message_id = FIRST_MESSAGE_ID

    # -- identity and time -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.controls.clock.now()

    def new_guid(self) -> str:
        # Seeded, so demo data and the users a test creates are the same on every run.
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_conversation_id(self) -> int:
        self._next_conversation_id += 1
        return self._next_conversation_id - 1

    def new_message_id(self) -> int:
        self._next_message_id += 1
        return self._next_message_id - 1

    # -- reads -------------------------------------------------------------------------------------

    def get(self, conversation_id: str | int) -> Conversation:
        try:
            found = self.conversations.get(int(conversation_id))
        except ValueError:
            found = None
        if found is None:
            raise SandboxError(ErrorCode.CONVERSATION_NOT_FOUND, f"conversation {conversation_id!r} does not exist")
        return found

    def queue_info(self, conversation: Conversation) -> QueueInfo:
        if conversation.id not in self.queue:
            return NOT_QUEUED
        position = self.queue.index(conversation.id) + 1
        return QueueInfo(position, position * WAIT_MINUTES_PER_POSITION)

    def to_json(self, conversation: Conversation, messages: Sequence[Message] = ()) -> JsonDict:
        return conversation_json(conversation, self.queue_info(conversation), list(messages))

    def tickets(self, query: TicketQuery) -> list[Conversation]:
        found = [
            item
            for item in self.conversations.values()
            if (query.is_closed is None or item.is_closed == query.is_closed)
            and (query.modified_after is None or item.last_modified_time > query.modified_after)
            and (query.ticket_ids is None or item.id in query.ticket_ids)
        ]
        by_creation = query.order_by.startswith("creation_time")
        found.sort(
            key=lambda item: (item.creation_time if by_creation else item.last_modified_time, item.id),
            reverse=query.order_by.endswith("_desc"),
        )
        return found[query.skip : query.skip + query.take]

    # -- writes ------------------------------------------------------------------------------------

    def create(self, draft: ConversationDraft) -> Conversation:
        now = self.now()
        conversation = Conversation(
            id=self.new_conversation_id(),
            author=self.directory.resolve(draft.author),
            title=draft.title,
            initial_page_url=draft.url,
            latest_page_url=draft.url,
            category_id=draft.category_id,
            sentiment=draft.sentiment,
            fields=list(draft.fields),
            creation_time=now,
            last_modified_time=now,
            is_assigned_to_bot=draft.is_bot_enabled,
        )
        self.adopt(conversation, queued=not draft.is_bot_enabled)
        self._emit(CONVERSATION_CREATED, conversation)
        return conversation

    def adopt(self, conversation: Conversation, *, queued: bool) -> None:
        """Store a fully built conversation (creation and demo data), optionally at the queue's end."""
        self.conversations[conversation.id] = conversation
        if queued:
            self.queue.append(conversation.id)

    def add_messages(self, conversation_id: str, drafts: Sequence[MessageDraft], *, context: bool) -> list[Message]:
        """Validate every draft, then store all of them; nothing is written when any draft fails."""
        conversation = self._open(conversation_id)
        now = self.now()
        times = [self._creation_time(draft, f"[{index}]", now) for index, draft in enumerate(drafts)]
        messages = [
            self.append(conversation, self.directory.resolve(draft.author, team=draft.is_by_team), draft.text, moment)
            for draft, moment in zip(drafts, times, strict=True)
        ]
        if not messages:
            return messages
        if not context and any(item.author.status == AGENT_STATUS and not item.author.is_bot for item in messages):
            self._mark_handled(conversation)
        self._touch(conversation)
        if not context:
            self._emit(MESSAGE_ADDED, conversation, [{"message": message_json(item)} for item in messages])
        return messages

    def add_live_message(self, conversation_id: str, author_of: Callable[[Conversation], User], text: str) -> Message:
        """A message written now by ``author_of(conversation)`` (sandbox-only agent/customer endpoints)."""
        conversation = self._open(conversation_id)
        author = author_of(conversation)
        message = self.append(conversation, author, text, self.now())
        if author.status == AGENT_STATUS and not author.is_bot:
            self._mark_handled(conversation)
        self._touch(conversation)
        self._emit(MESSAGE_ADDED, conversation, [{"message": message_json(message)}])
        return message

    def append(
        self, conversation: Conversation, author: User, text: str, created: datetime, modified: datetime | None = None
    ) -> Message:
        """Insert in creationTime order; back-dated messages interleave, same-time ones keep arrival order."""
        message = Message(self.new_message_id(), author, text, created, modified or max(created, self.now()))
        bisect.insort(conversation.messages, message, key=lambda item: (item.creation_time, item.id))
        return message

    def set_takeover(self, conversation_id: str, to_bot: bool, assignee_id: str | None) -> Conversation:
        conversation = self._open(conversation_id)
        changed = conversation.is_assigned_to_bot != to_bot
        before = (self.queue_info(conversation), conversation.assignee_id)
        conversation.is_assigned_to_bot = to_bot
        if to_bot:
            conversation.assignee_id, conversation.is_handled = None, False
            self._dequeue(conversation)
        elif assignee_id is not None:
            conversation.assignee_id = assignee_id
            self._mark_handled(conversation)
        elif changed and not conversation.is_handled and conversation.id not in self.queue:
            self.queue.append(conversation.id)  # a human must now pick it up
        if changed or before != (self.queue_info(conversation), conversation.assignee_id):
            self._touch(conversation)
        if changed:
            self._emit(TAKEOVER_CHANGED, conversation, [{"isAssignedToBot": to_bot}])
        return conversation

    def set_feedback(self, conversation_id: str, is_positive: bool, text: str | None) -> Feedback:
        conversation = self.get(conversation_id)
        conversation.feedback = Feedback(is_positive, text)
        self._touch(conversation)
        return conversation.feedback

    def set_latest_url(self, conversation_id: str, url: str) -> Conversation:
        conversation = self.get(conversation_id)
        conversation.latest_page_url = url
        self._touch(conversation)
        return conversation

    def close(self, conversation_id: str) -> Conversation:
        conversation = self.get(conversation_id)
        if conversation.is_closed:
            return conversation
        conversation.is_closed = True
        self._dequeue(conversation)
        self._touch(conversation)
        self._emit(CONVERSATION_CLOSED, conversation)
        return conversation

    # -- helpers -----------------------------------------------------------------------------------

    def _open(self, conversation_id: str) -> Conversation:
        conversation = self.get(conversation_id)
        if conversation.is_closed:
            text = f"conversation {conversation.id} is closed; it accepts no new messages or takeover changes"
            raise SandboxError(ErrorCode.CONVERSATION_CLOSED, text)
        return conversation

    def _creation_time(self, draft: MessageDraft, where: str, now: datetime) -> datetime:
        if draft.creation_time is None:
            return now
        if draft.creation_time > now + FUTURE_TOLERANCE:
            text = (
                f"{where}.creationTime {format_time(draft.creation_time)} is more than 30 seconds after "
                f"the server time {format_time(now)}"
            )
            raise SandboxError(ErrorCode.FUTURE_CREATION_TIME, text)
        return draft.creation_time

    def _mark_handled(self, conversation: Conversation) -> None:
        conversation.is_handled = True
        self._dequeue(conversation)

    def _dequeue(self, conversation: Conversation) -> None:
        if conversation.id in self.queue:
            self.queue.remove(conversation.id)

    def _touch(self, conversation: Conversation) -> None:
        conversation.last_modified_time = max(self.now(), conversation.last_modified_time + TICK)

    def _emit(self, event_type: str, conversation: Conversation, extras: Sequence[JsonDict] = ({},)) -> None:
        payload = build_payload(self.community, event_type, self.to_json(conversation), format_time(self.now()), extras)
        self.webhooks.send(payload, label=payload["EventType"])
