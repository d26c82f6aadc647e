"""A vendor webhook body whose fields have other types than the vendor documents (a number where it
sends a string id, an object where it sends a list) is answered 400 naming the field, and publishes
nothing; the same body with the documented types is published; any body at all is a 200 or a 400."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.events import Event, EventKind

from .helpers import Gateway
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


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from places(child, (*path, key))


def test_a_webhook_body_with_any_field_replaced_is_answered_200_or_400_never_500(caplog: pytest.LogCaptureFixture) -> None:
    """Up to three fields of a documented body replaced by any JSON at all: the answer is 200 (the
    body still reads) or 400 (it does not), never a 500 and never an ERROR in the log."""
    caplog.set_level(logging.INFO)
    answers: Counter[int] = Counter()
    with asyncio.Runner() as runner:
        session = embedded(demo_conversations=1)
        gateway = runner.run(session.__aenter__())
        secrets = gateway.app.state.runtime.webhook_secrets

        @settings(max_examples=300, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(sorted(BODIES)), st.data())
        def deliver(vendor: str, data: st.DataObject) -> None:
            body: Any = copy.deepcopy(BODIES[vendor])
            for _ in range(data.draw(st.integers(1, 3))):
                path = data.draw(st.sampled_from(list(places(body))))
                if not path:
                    body = data.draw(JSON_VALUES)
                    break
                parent = body
                for step in path[:-1]:
                    parent = parent[step]
                parent[path[-1]] = data.draw(JSON_VALUES)
            response = runner.run(gateway.client.post(f"/webhooks/{vendor}?secret={secrets[vendor]}", json=body))
            answers[response.status_code] += 1

        try:
            deliver()
        finally:
            runner.run(session.__aexit__(None, None, None))
    assert set(answers) <= {200, 400} and answers[400] > 100, answers
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
