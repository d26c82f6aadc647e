"""Chat webhooks in the documented PascalCase envelope, delivered fire-and-forget.

One delivery per API call: ``{"CommunityName", "EventType", "Events": [...], "TicketId"}``. Each event
carries ``InboxLink``, ``ConversationId``, ``Conversation`` (PascalCase, ``Fields: null``,
``Messages: []``) and ``EventTime``; ``conversation_message_added`` adds ``Message`` and
``conversation_takeover_state_changed`` adds ``IsAssignedToBot``. A call that adds several messages
sends one delivery with one event per message, so receivers must iterate ``Events``.

Delivery (in order, never blocking the API call) is ``sandboxes/webhooks.py``'s ``WebhookSender``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .model import JsonDict

CONVERSATION_CREATED = "conversation_created"
MESSAGE_ADDED = "conversation_message_added"
TAKEOVER_CHANGED = "conversation_takeover_state_changed"
CONVERSATION_CLOSED = "conversation_closed"
INBOX_LINK = "https://inbox.socialboards.com/{community}/tickets?ticketId={id}"

logger = logging.getLogger("sandboxes.socialboards")


def pascal(value: Any) -> Any:
    """camelCase keys → PascalCase keys, recursively (``isBot`` → ``IsBot``)."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [pascal(item) for item in value]
    return value


def build_payload(
    community: str, event_type: str, conversation: JsonDict, event_time: str, extras: Sequence[JsonDict]
) -> JsonDict:
    """The delivery body; ``conversation`` is the camelCase Conversation, one event per item of ``extras``."""
    snapshot = pascal({**conversation, "fields": None, "messages": []})
    conversation_id = conversation["id"]
    events = [
        {
            "InboxLink": INBOX_LINK.format(community=community, id=conversation_id),
            "ConversationId": conversation_id,
            "Conversation": snapshot,
            "EventTime": event_time,
            **pascal(extra),
        }
        for extra in extras
    ]
    return {"CommunityName": community, "EventType": event_type, "Events": events, "TicketId": conversation_id}
