"""Chat webhooks in the documented PascalCase envelope, delivered fire-and-forget.

One delivery per API call: ``{"CommunityName", "EventType", "Events": [...], "TicketId"}``. Each event
carries ``InboxLink``, ``ConversationId``, ``Conversation`` (PascalCase, ``Fields: null``,
``Messages: []``) and ``EventTime``; ``conversation_message_added`` adds ``Message`` and
``conversation_takeover_state_changed`` adds ``IsAssignedToBot``. A call that adds several messages
sends one delivery with one event per message, so receivers must iterate ``Events``.

Deliveries are chained so they arrive in the order the changes happened, and none of them ever delays
or fails the API call that caused it: failures are logged and dropped (no retries).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from ._sandbox_model import JsonDict

CONVERSATION_CREATED = "conversation_created"
MESSAGE_ADDED = "conversation_message_added"
TAKEOVER_CHANGED = "conversation_takeover_state_changed"
CONVERSATION_CLOSED = "conversation_closed"
INBOX_LINK = "https://inbox.socialboards.com/{community}/tickets?ticketId={id}"
DELIVERY_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger("providers.socialboards.sandbox")


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


class WebhookSender:
    """Posts payloads to ``url``; a no-op when no URL is configured."""

    def __init__(self, url: str | None, client: httpx.AsyncClient | None) -> None:
        self._url = url
        self._client = client
        self._owns_client = False
        self._tail: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, payload: JsonDict) -> None:
        if self._url is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver_after(self._tail, payload))
        self._tail = task
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    async def _deliver_after(self, previous: asyncio.Task[None] | None, payload: JsonDict) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        assert self._url is not None
        try:
            response = await self._http().post(self._url, json=payload)
        except Exception as exc:  # nothing the receiver does may reach the API call
            logger.warning("webhook %s to %s failed: %r", payload["EventType"], self._url, exc)
            return
        if response.is_error:
            logger.warning("webhook %s to %s answered %d", payload["EventType"], self._url, response.status_code)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
            self._owns_client = True
        return self._client
