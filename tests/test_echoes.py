"""What a request sent and an error repeats (ids, provider names, texts, cursors, a vendor's text that
quotes them) comes back cut to its first 64 characters and "…", in the answer and in the log."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from gateway.events import CursorError, InMemoryBus

from .embedded import embedded, one_per_provider

LONG = "x" * 5000
SHOWN = "'" + "x" * 64 + "'…"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def messages(body: dict[str, Any]) -> list[str]:
    found = [error["message"] for error in body.get("errors", [])]
    found += [value["message"] for value in (body.get("data") or {}).values() if isinstance(value, dict) and "message" in value]
    return found


BY_ID = "query($id: ID!) { conversation(id: $id) { id } }"
LIST = "query($f: ConversationFilter, $after: String) { conversations(filter: $f, after: $after) { edges { cursor } } }"
CREATE = """mutation($provider: String!) { createConversation(input: {provider: $provider, customer: {name: "A"}}) {
  ... on Error { message } } }"""
CASES = [
    (BY_ID, {"id": LONG}),  # not an id at all
    (BY_ID, {"id": b64("Conversation:" + LONG)}),  # no remote id
    (BY_ID, {"id": b64(f"Conversation:{LONG}:1")}),  # no such provider
    (BY_ID, {"id": b64(f"{LONG}:socialboards:1")}),  # an id of another type
    (LIST, {"f": {"providers": [LONG]}}),
    (LIST, {"after": LONG}),
    (CREATE, {"provider": LONG}),
]


@pytest.mark.parametrize(("query", "variables"), CASES, ids=[
    "not-an-id", "no-remote-id", "unknown-provider-in-id", "id-of-another-type", "filter-providers", "cursor", "create-provider",
])
async def test_request_values_in_errors_and_logs_are_cut(query: str, variables: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with embedded(demo_conversations=1) as gateway:
        body = await gateway.execute(query, variables)
    shown = messages(body)
    assert shown and not any("x" * 65 in message for message in shown), shown  # cut, or not echoed at all
    assert all(SHOWN in message or "x" * 64 + "…" in message or "x" not in message for message in shown), shown
    assert all(len(message) < 300 for message in shown), shown
    logged = [r.getMessage() for r in caplog.records if r.name.startswith(("parley", "strawberry"))]
    assert logged or "errors" not in body  # a top-level error is logged (a typed result is an answer)
    assert not any("x" * 65 in line for line in logged), logged


async def test_a_vendor_text_that_repeats_the_request_is_cut() -> None:
    """Socialboards answers `body.assigneeId '<what was sent>' is not a GUID`; CleverTap names the agent."""
    query = """mutation($id: ID!, $agent: String) { assignConversation(id: $id, agentId: $agent) {
      __typename ... on Error { message } ... on InvalidInputError { vendorMessage } } }"""
    async with embedded(demo_conversations=6) as gateway:
        ids = await one_per_provider(gateway, status=["NEW", "OPEN", "PENDING"])
        answers = [await gateway.execute(query, {"id": ids[name], "agent": LONG}) for name in ("socialboards", "clevertap")]
    for body in answers:
        answer = body["data"]["assignConversation"]
        assert answer["__typename"] == "InvalidInputError"
        for text in (answer["message"], answer["vendorMessage"]):  # Parley's words name the agent; a vendor's may repeat it
            assert text is None or ("x" * 301 not in text and "…" in text), text


async def test_a_webhook_for_a_long_unknown_provider_is_answered_with_its_name_cut() -> None:
    async with embedded(demo_conversations=1) as gateway:
        response = await gateway.client.post(f"/webhooks/{LONG}?secret=s", json={})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"no webhook endpoint for provider {SHOWN}"


async def test_a_long_since_cursor_is_refused_with_its_prefix() -> None:
    with pytest.raises(CursorError) as refused:
        await anext(InMemoryBus().subscribe(since=LONG))
    assert str(refused.value) == f"since: {SHOWN} is not an event cursor"
