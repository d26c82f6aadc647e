"""The sandbox's in-memory account: dashboard users, campaigns, conversations and the rules of
docs/clevertap-api.md.

- One conversation per user ``identity``; it appears with the user's first reply to a campaign.
- A user reply sets ``ticket_status`` to New whatever it was, and restarts the 24-hour window.
  Its campaign fields follow the user's latest reply.
- ``state`` is computed when read: active while less than 24 hours have passed since the last user
  reply. Listings leave out conversations whose last user reply is more than 15 days old.
- Ownership: the first agent to claim or reply owns the conversation for good. Every write here is
  synchronous, with no ``await`` between a check and the change it guards, so two concurrent claims
  cannot both see the conversation unowned: exactly one wins.
- ``updated_ts`` strictly increases with every change (by a second when the clock has not moved), so
  a client comparing it never misses a change made within the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime

from ..kit import SandboxClock, SandboxControls
from .cursors import CursorBook
from ..webhooks import WebhookSender
from .events import CLAIMED, TICKET_STATUS_CHANGED, USER_REPLIED, event_body
from .gate import InFlight
from .input import Inbound, ListQuery, Reply, StatusChange
from .model import (
    ACTIVE,
    INBOUND,
    NEW,
    OUTBOUND,
    Campaign,
    Conversation,
    DashboardUser,
    JsonDict,
    Message,
    SandboxError,
    conversation_json,
    invalid,
    message_json,
)

LISTING = "conversations"
MESSAGES = "messages"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Sandbox:
    """All state of one sandbox app (``app.state.sandbox``)."""

    def __init__(
        self,
        *,
        account_id: str,
        passcode: str,
        users: Sequence[DashboardUser],
        campaigns: Sequence[Campaign],
        clock: Callable[[], datetime] | None,
        max_concurrency: int | None,
        events: WebhookSender,
        seed: int,
    ) -> None:
        self.account_id = account_id
        self.passcode = passcode
        self.users = {user.email.lower(): user for user in users}
        self.campaigns = {campaign.id: campaign for campaign in campaigns}
        self.controls = SandboxControls(SandboxClock(clock))
        self.in_flight = InFlight(max_concurrency)
        self.events = events
        self.rng = random.Random(seed)
        self.cursors = CursorBook(self.now_ts)
        self.conversations: dict[str, Conversation] = {}
        self.by_identity: dict[str, Conversation] = {}
        self.messages: dict[str, Message] = {}
        self._last_id = (0, 0)

    # -- time and ids ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.controls.clock.now()

    def now_ts(self) -> int:
        return int(self.now().timestamp())

    def new_id(self, prefix: str) -> str:
        """``prefix`` + a 26-character ULID; ids strictly increase in creation order."""
        millis = int(self.now().timestamp() * 1000)
        last_millis, last_random = self._last_id
        if millis <= last_millis:
            millis, randomness = last_millis, last_random + 1
        else:
            randomness = self.rng.getrandbits(80)
        self._last_id = (millis, randomness)
        value = (millis << 80) | randomness
        return prefix + "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

    def new_object_id(self) -> str:
        return "__" + self.rng.getrandbits(128).to_bytes(16, "big").hex()

    # -- reads -------------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        found = self.conversations.get(conversation_id)
        if found is None:
            raise SandboxError(404, f"Conversation {conversation_id} not found")
        return found

    def to_json(self, conversation: Conversation) -> JsonDict:
        return conversation_json(conversation, self.now_ts())

    def start_listing(self, query: ListQuery, batch_size: int) -> str:
        now = self.now_ts()
        found = [item for item in self.conversations.values() if item.listed(now) and _matches(item, query, now)]
        # Ties by id ascending whichever the direction; the timestamps are integers, so negate them.
        sign = -1 if query.sort_order == "desc" else 1
        found.sort(key=lambda item: (sign * getattr(item, query.sort_by), item.id))
        return self.cursors.start(LISTING, [item.id for item in found], batch_size)

    def listing_page(self, cursor: str) -> tuple[list[JsonDict], str | None]:
        ids, next_cursor = self.cursors.page(LISTING, cursor, "POST /1/conversations.json")
        return [self.to_json(self.conversations[item]) for item in ids], next_cursor

    def start_messages(self, conversation_id: str, batch_size: int, sort_order: str) -> str:
        messages = self.get(conversation_id).messages
        ordered = messages if sort_order == "asc" else sorted(messages, key=lambda item: (-item.ts, item.id))
        return self.cursors.start(MESSAGES, [item.id for item in ordered], batch_size)

    def messages_page(self, cursor: str) -> tuple[list[JsonDict], str | None]:
        ids, next_cursor = self.cursors.page(MESSAGES, cursor, "GET /1/conversation/messages.json?id=<id>")
        return [message_json(self.messages[item]) for item in ids], next_cursor

    # -- writes ------------------------------------------------------------------------------------

    def inbound(self, draft: Inbound) -> tuple[Conversation, Message]:
        """A user replies to a campaign: creates the conversation if the identity has none."""
        campaign = self.campaigns.get(draft.campaign_id)
        if campaign is None:
            raise SandboxError(404, f"Campaign {draft.campaign_id} not found")
        now = self.now_ts()
        if draft.ts is not None and (draft.ts < 0 or draft.ts > now):
            raise invalid(f"body.ts={draft.ts} must be epoch seconds between 0 and now ({now})")
        ts = now if draft.ts is None else draft.ts
        conversation = self.by_identity.get(draft.identity)
        if conversation is None:
            conversation = self.open_conversation(draft.identity, draft.user_name or draft.identity, campaign, ts)
            conversation.updated_ts = now
        else:
            conversation.user_name = draft.user_name or conversation.user_name
            self._touch(conversation)
        message = self.append(conversation, INBOUND, draft.text, ts)
        if ts >= conversation.last_user_reply_ts:
            conversation.last_user_reply_ts, conversation.campaign = ts, campaign
        conversation.ticket_status = NEW
        self._emit(USER_REPLIED, conversation, message)
        return conversation, message

    def claim(self, conversation_id: str, email: str) -> Conversation:
        conversation, agent = self.get(conversation_id), self.chat_user(email)
        self._take(conversation, agent)
        return conversation

    def reply(self, draft: Reply) -> Message:
        conversation, agent = self.get(draft.conversation_id), self.chat_user(draft.email)
        self._check_owner(conversation, agent)
        if conversation.state(self.now_ts()) != ACTIVE:
            raise SandboxError(422, "Conversation is inactive: the 24-hour reply window has closed")
        self._take(conversation, agent)
        message = self.append(conversation, OUTBOUND, draft.text, self.now_ts(), agent)
        self._touch(conversation)
        return message

    def set_ticket_status(self, change: StatusChange) -> Conversation:
        conversation = self.get(change.conversation_id)
        if change.email is not None:
            self.chat_user(change.email)
        if conversation.ticket_status != change.ticket_status:
            conversation.ticket_status = change.ticket_status
            self._touch(conversation)
            self._emit(TICKET_STATUS_CHANGED, conversation)
        return conversation

    def chat_user(self, email: str) -> DashboardUser:
        """The dashboard user with ``email`` if their role may chat; 403 otherwise."""
        user = self.users.get(email.lower())
        if user is None:
            raise SandboxError(403, f"Agent {email} is not a dashboard user of this account")
        if not user.can_chat:
            raise SandboxError(403, f"Agent {email} has role {user.role}; only Agent and Admin users can chat")
        return user

    # -- building blocks (also used by the demo data) ----------------------------------------------

    def open_conversation(self, identity: str, user_name: str, campaign: Campaign, ts: int) -> Conversation:
        conversation = Conversation(
            id=self.new_id("cv_"),
            identity=identity,
            object_id=self.new_object_id(),
            user_name=user_name,
            campaign=campaign,
            created_ts=ts,
            updated_ts=ts,
            last_user_reply_ts=ts,
        )
        self.conversations[conversation.id] = conversation
        self.by_identity[identity] = conversation
        return conversation

    def append(
        self, conversation: Conversation, direction: str, text: str, ts: int, agent: DashboardUser | None = None
    ) -> Message:
        """Store a message in (ts, id) order; a back-dated one lands among the older messages."""
        message = Message(self.new_id("msg_"), conversation.id, direction, text, ts, agent)
        self.messages[message.id] = message
        conversation.messages.append(message)
        conversation.messages.sort(key=lambda item: (item.ts, item.id))
        return message

    def _check_owner(self, conversation: Conversation, agent: DashboardUser) -> None:
        if conversation.agent is not None and conversation.agent.email != agent.email:
            raise SandboxError(409, "Conversation is handled by another agent")

    def _take(self, conversation: Conversation, agent: DashboardUser) -> None:
        self._check_owner(conversation, agent)
        if conversation.agent is None:
            conversation.agent = agent
            self._touch(conversation)
            self._emit(CLAIMED, conversation)

    def _touch(self, conversation: Conversation) -> None:
        conversation.updated_ts = max(self.now_ts(), conversation.updated_ts + 1)

    def _emit(self, event: str, conversation: Conversation, message: Message | None = None) -> None:
        rendered = None if message is None else message_json(message)
        self.events.send(event_body(event, self.now_ts(), self.to_json(conversation), rendered), label=event)


def _matches(conversation: Conversation, query: ListQuery, now: int) -> bool:
    campaign = conversation.campaign
    last = conversation.messages[-1].text if conversation.messages else ""
    search = query.search.lower() if query.search is not None else None
    return (
        (search is None or search in conversation.user_name.lower() or search in last.lower())
        and (query.campaign is None or query.campaign.lower() in (campaign.name.lower(), str(campaign.id)))
        and (query.label is None or query.label.lower() in (label.lower() for label in campaign.labels))
        and (query.ticket_statuses is None or conversation.ticket_status in query.ticket_statuses)
        and (query.state is None or conversation.state(now) == query.state)
    )
