"""A vendor webhook body whose fields have other types than the vendor documents (a number where it
sends a string id, an object where it sends a list) is answered 400 naming the field, and publishes
nothing; the same body with the documented types is published."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from gateway.events import Event, EventKind

from .conftest import Gateway
from .embedded import embedded

SOCIALBOARDS = {
    "CommunityName": "acme", "EventType": "conversation_message_added", "TicketId": 254001,
    "Events": [{
        "ConversationId": 254001,
        "Conversation": {"Id": 254001, "IsClosed": False, "Messages": [], "Fields": None,
                         "Author": {"Id": "5f0c…", "Name": "John"}, "QueuePositionInfo": {"Position": -1, "WaitTime": None}},
        "Message": {"Id": 667155, "Message": "Hi", "CreationTime": "2024-01-01T10:00:00+00:00", "Author": {"Name": "John"}},
        "EventTime": "2024-01-01T10:00:00+00:00",
    }],
}
INFOBIP = {
    "type": "INBOUND_MESSAGE_RECEIVED", "timestamp": "2024-01-01T10:00:00.000+0000",
    "payload": {
        "conversation": {"id": "c-1", "status": "OPEN", "createdAt": "2024-01-01T10:00:00.000+0000"},
        "message": {"id": "m-1", "from": "447700900001", "direction": "INBOUND", "conversationId": "c-1",
                    "createdAt": "2024-01-01T10:00:00.000+0000", "contentType": "TEXT", "content": {"text": "Hi"}},
    },
}
CLEVERTAP = {
    "event": "conversation.user_replied", "ts": 1704103200,
    "record": {"id": "cv_1", "identity": "emma", "ticket_status": "New", "labels": ["orders"], "updated_ts": 1704103200},
    "message": {"id": "msg_1", "conversation_id": "cv_1", "direction": "inbound", "text": "Hi", "ts": 1704103200},
}
BODIES = {"socialboards": SOCIALBOARDS, "infobip": INFOBIP, "clevertap": CLEVERTAP}


def changed(body: dict[str, Any], path: list[str | int], value: object) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


CASES = [
    ("socialboards", ["Events", 0, "ConversationId"], "254001", "body.Events[0].ConversationId: expected a whole number, got a string"),
    ("socialboards", ["Events", 0, "Conversation", "Messages"], {}, "body.Events[0].Conversation.Messages: expected a list, got an object"),
    ("socialboards", ["Events", 0, "Message", "Message"], 42, "body.Events[0].Message.Message: expected a string, got a whole number"),
    ("infobip", ["payload", "conversation", "id"], 7, "body.payload.conversation.id: expected a string, got a whole number"),
    ("infobip", ["payload", "message"], ["m-1"], "body.payload.message: expected an object, got a list"),
    ("clevertap", ["record", "id"], 12345, "body.record.id: expected a string, got a whole number"),
    ("clevertap", ["record", "labels"], {"orders": True}, "body.record.labels: expected a list, got an object"),
    ("clevertap", ["message", "ts"], "1704103200", "body.message.ts: expected a number, got a string"),
]


async def post(gateway: Gateway, vendor: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    secret = gateway.app.state.runtime.webhook_secrets[vendor]
    response = await gateway.client.post(f"/webhooks/{vendor}?secret={secret}", json=body)
    return response.status_code, response.json()


@pytest.mark.parametrize(("vendor", "path", "value", "named"), CASES)
async def test_a_wrong_typed_webhook_field_is_a_400_naming_it_and_publishes_nothing(
    vendor: str, path: list[str | int], value: object, named: str
) -> None:
    async with embedded(demo_conversations=1) as gateway:
        bus = gateway.app.state.runtime.bus
        events = bus.subscribe()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)  # the subscription is registered
        status, answer = await post(gateway, vendor, changed(BODIES[vendor], path, value))
        await bus.publish(Event(EventKind.MESSAGE_ADDED, "sentinel", "none"))
        received = await asyncio.wait_for(first, 2)
        await events.aclose()
    assert (status, answer["error"]["code"]) == (400, "INVALID_INPUT")
    assert named in answer["error"]["message"]
    assert received.provider == "sentinel"  # nothing from the refused body came before it


@pytest.mark.parametrize("vendor", sorted(BODIES))
async def test_the_same_webhook_with_the_documented_types_is_published(vendor: str) -> None:
    async with embedded(demo_conversations=1) as gateway:
        status, answer = await post(gateway, vendor, BODIES[vendor])
    assert status == 200 and answer["received"] == 1
    assert answer["published"] >= 1
