"""Conversation events, POSTed as JSON to the configured URL, one delivery per event.

Body (field names configurable through :class:`WebhookFields`, since the vendor's are unpublished)::

    {"type": "CONVERSATION_TAG_ADDED", "timestamp": "2024-01-01T00:00:00.000+0000",
     "payload": {"conversation": {...}, "tag": {"name": "vip"}}}

``conversation`` is the state after the change; ``message`` comes with the two message events and
``tag`` with the two tag events. A call that changes several properties sends one event per property,
in the order topic, summary, status, priority, queue, assignment.

Delivery (in order, never blocking the API call) is ``sandboxes/webhooks.py``'s ``WebhookSender``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .model import JsonDict

CONVERSATION_CREATED = "CONVERSATION_CREATED"
ASSIGNMENT_CHANGED = "CONVERSATION_ASSIGNMENT_CHANGED"
STATUS_CHANGED = "CONVERSATION_STATUS_CHANGED"
PRIORITY_CHANGED = "CONVERSATION_PRIORITY_CHANGED"
QUEUE_CHANGED = "CONVERSATION_QUEUE_CHANGED"
TOPIC_CHANGED = "CONVERSATION_TOPIC_CHANGED"
SUMMARY_CHANGED = "CONVERSATION_SUMMARY_CHANGED"
TAG_ADDED = "CONVERSATION_TAG_ADDED"
TAG_REMOVED = "CONVERSATION_TAG_REMOVED"
INBOUND_MESSAGE = "INBOUND_MESSAGE_RECEIVED"
OUTBOUND_MESSAGE = "OUTBOUND_MESSAGE_SENT"

# Wire field of the conversation -> the event its change fires, in delivery order. A channel change
# fires nothing: the vendor lists no such event.
CHANGE_EVENTS = {
    "topic": TOPIC_CHANGED,
    "summary": SUMMARY_CHANGED,
    "status": STATUS_CHANGED,
    "priority": PRIORITY_CHANGED,
    "queueId": QUEUE_CHANGED,
    "agentId": ASSIGNMENT_CHANGED,
}

logger = logging.getLogger("sandboxes.infobip")


@dataclass(frozen=True, slots=True)
class WebhookFields:
    """The JSON field names of a delivery; the defaults are Parley's reading of the vendor's guide."""

    type: str = "type"
    timestamp: str = "timestamp"
    payload: str = "payload"
    conversation: str = "conversation"
    message: str = "message"
    tag: str = "tag"


def build_event(
    fields: WebhookFields,
    event_type: str,
    timestamp: str,
    conversation: JsonDict,
    message: JsonDict | None = None,
    tag: JsonDict | None = None,
) -> JsonDict:
    payload: JsonDict = {fields.conversation: conversation}
    if message is not None:
        payload[fields.message] = message
    if tag is not None:
        payload[fields.tag] = tag
    return {fields.type: event_type, fields.timestamp: timestamp, fields.payload: payload}
