"""Conversation events, POSTed as JSON to the configured URL, one delivery per event.

Body (field names configurable through :class:`WebhookFields`, since the vendor's are unpublished)::

    {"type": "CONVERSATION_TAG_ADDED", "timestamp": "2024-01-01T00:00:00.000+0000",
     "payload": {"conversation": {...}, "tag": {"name": "vip"}}}

``conversation`` is the state after the change; ``message`` comes with the two message events and
``tag`` with the two tag events. A call that changes several properties sends one event per property,
in the order topic, summary, status, priority, queue, assignment.

Deliveries are chained so they arrive in the order the changes happened, and none of them ever delays
or fails the API call that caused it: failures are logged and dropped (no retries).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from ._sandbox_model import JsonDict

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
DELIVERY_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger("providers.infobip.sandbox")


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


class WebhookSender:
    """Posts events to ``url`` in order; a no-op when no URL is configured."""

    def __init__(self, url: str | None, client: httpx.AsyncClient | None) -> None:
        self._url = url
        self._client = client
        self._owns_client = False
        self._tail: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, event_type: str, body: JsonDict) -> None:
        if self._url is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver_after(self._tail, event_type, body))
        self._tail = task
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    async def _deliver_after(self, previous: asyncio.Task[None] | None, event_type: str, body: JsonDict) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        assert self._url is not None
        try:
            response = await self._http().post(self._url, json=body)
        except Exception as exc:  # nothing the receiver does may reach the API call
            logger.warning("webhook %s to %s failed: %r", event_type, self._url, exc)
            return
        if response.is_error:
            logger.warning("webhook %s to %s answered %d", event_type, self._url, response.status_code)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
            self._owns_client = True
        return self._client
