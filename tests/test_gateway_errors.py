"""Every failure reaches the client as a clear, coded error; never a 500 or a traceback."""

from __future__ import annotations

import base64
from dataclasses import replace

import httpx
import pytest

from .helpers import (
    PROVIDERS,
    SB_BASE,
    STATUS,
    Gateway,
    asgi_client,
    clear_faults,
    create_conversation,
    gateway_over,
    inject_fault,
    socialboards_app,
)

LIST = "query L($after: String) { conversations(first: 2, after: $after) { edges { node { id } } } }"
CONVERSATION_READS = {"pathContains": "chat/conversations", "times": None}  # every read of a conversation, until cleared


def only_error(body: dict) -> dict:
    [error] = body["errors"]
    assert "Traceback" not in error["message"]
    return error


@pytest.mark.parametrize(
    ("injected", "code"),
    [
        ({"status": 401}, "PROVIDER_AUTH"),
        ({"status": 429, "retryAfter": 30}, "RATE_LIMITED"),
        ({"status": 500}, "PROVIDER_UNAVAILABLE"),
        ({"status": 503}, "PROVIDER_UNAVAILABLE"),
        ({"malformed": True}, "PROVIDER_UNAVAILABLE"),
        ({"latencyMs": 3000}, "PROVIDER_TIMEOUT"),
    ],
)
async def test_vendor_failures_surface_as_coded_errors_and_the_gateway_keeps_serving(
    gateway: Gateway, sb_hooks: httpx.AsyncClient, injected: dict, code: str
) -> None:
    conversation = await create_conversation(gateway)
    await inject_fault(sb_hooks, **CONVERSATION_READS, **injected)
    error = only_error(await gateway.execute(STATUS, {"id": conversation}))
    assert error["extensions"]["code"] == code
    assert error["extensions"]["provider"] == "sb"
    assert error["path"] == ["conversation"]
    await clear_faults(sb_hooks)
    assert (await gateway.data(STATUS, {"id": conversation}))["conversation"]["status"] == "NEW"


async def test_rate_limited_errors_carry_retry_after(gateway: Gateway, sb_hooks: httpx.AsyncClient) -> None:
    conversation = await create_conversation(gateway)
    await inject_fault(sb_hooks, **CONVERSATION_READS, status=429, retryAfter=30)
    assert only_error(await gateway.execute(STATUS, {"id": conversation}))["extensions"]["retryAfter"] == 30


async def test_an_unknown_conversation_is_not_found(gateway: Gateway) -> None:
    body = await gateway.execute(STATUS, {"id": base64.b64encode(b"Conversation:sb:987654").decode()})
    error = only_error(body)
    assert error["extensions"]["code"] == "NOT_FOUND" and "987654" in error["message"]
    assert body["data"] == {"conversation": None}


async def test_an_unknown_provider_in_an_id_is_not_found_without_naming_it(gateway: Gateway) -> None:
    """As a provider the client may not touch answers (tests/test_provider_scoping.py), so neither is named."""
    error = only_error(await gateway.execute(STATUS, {"id": base64.b64encode(b"Conversation:nope:1").decode()}))
    assert (error["extensions"]["code"], error["message"]) == ("NOT_FOUND", "id: no such conversation")


async def test_an_id_of_another_type_is_invalid_input(gateway: Gateway) -> None:
    error = only_error(await gateway.execute(STATUS, {"id": base64.b64encode(b"Message:sb:1:2").decode()}))
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert "expected a Conversation id, got a Message id" in error["message"]


@pytest.mark.parametrize("raw", ["not-base64!!", base64.b64encode(b"no-colon").decode(), ""])
async def test_a_malformed_id_is_invalid_input(gateway: Gateway, raw: str) -> None:
    error = only_error(await gateway.execute(STATUS, {"id": raw}))
    assert error["extensions"]["code"] == "INVALID_INPUT"


async def test_a_mutation_on_a_malformed_id_answers_a_typed_error(gateway: Gateway) -> None:
    query = """mutation C($id: ID!) { closeConversation(id: $id) { __typename ... on Error { code } } }"""
    data = await gateway.data(query, {"id": "garbage"})
    assert data["closeConversation"] == {"__typename": "InvalidInputError", "code": "INVALID_INPUT"}


@pytest.mark.parametrize("cursor", ["garbage", base64.urlsafe_b64encode(b'{"p":"other","k":"inbox"}').decode()])
async def test_an_invalid_list_cursor_is_invalid_input(gateway: Gateway, cursor: str) -> None:
    error = only_error(await gateway.execute(LIST, {"after": cursor}))
    assert error["extensions"]["code"] == "INVALID_INPUT" and "cursor" in error["message"]


async def test_an_invalid_message_cursor_is_invalid_input(gateway: Gateway) -> None:
    conversation = await create_conversation(gateway)
    query = "query M($id: ID!) { conversation(id: $id) { messages(first: 5, after: \"zzz\") { edges { cursor } } } }"
    error = only_error(await gateway.execute(query, {"id": conversation}))
    assert error["extensions"]["code"] == "INVALID_INPUT"


async def test_page_sizes_outside_1_to_100_are_refused(gateway: Gateway) -> None:
    error = only_error(await gateway.execute("{ conversations(first: 500) { edges { cursor } } }"))
    assert error["extensions"]["code"] == "INVALID_INPUT" and "between 1 and 100" in error["message"]


async def test_malformed_graphql_gets_a_clear_syntax_error(gateway: Gateway) -> None:
    response = await gateway.client.post("/graphql", json={"query": "{ conversations(first: ) "})
    assert response.status_code in (200, 400)
    error = only_error(response.json())
    assert error["message"].startswith("Syntax Error")


async def test_an_unknown_field_is_a_validation_error(gateway: Gateway) -> None:
    error = only_error(await gateway.execute("{ conversations { bogus } }"))
    assert "Cannot query field 'bogus'" in error["message"]


async def test_a_body_that_is_not_json_is_a_400_not_a_500(gateway: Gateway) -> None:
    response = await gateway.client.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_an_unexpected_failure_is_masked_as_internal(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    conversation = await create_conversation(gateway)
    provider = gateway.app.state.runtime.providers["sb"]

    async def broken(remote_id: str) -> None:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(provider, "get_conversation", broken)
    error = only_error(await gateway.execute(STATUS, {"id": conversation}))
    assert (error["message"], error["extensions"]["code"]) == ("Internal error.", "INTERNAL")


async def test_too_deep_a_query_is_refused(gateway: Gateway) -> None:
    deep = "{ conversations { edges { node { " + "lastMessage { conversation { " * 6 + "id" + " } }" * 6 + " } } } }"
    body = await gateway.execute(deep)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_one_provider_down_still_returns_the_others_and_one_coded_error() -> None:
    up, down = socialboards_app(demo_conversations=3), socialboards_app(demo_conversations=3)
    wired = (replace(PROVIDERS["sb"], name="up"), up), (replace(PROVIDERS["sb"], name="down"), down)
    query = "{ conversations(first: 10) { edges { node { provider } } pageInfo { hasNextPage } } }"
    async with gateway_over(*wired) as gateway, asgi_client(down, SB_BASE) as hooks:
        await inject_fault(hooks, status=503, times=None)
        body = await gateway.execute(query)
        await clear_faults(hooks)
        after_recovery = await gateway.data(query)
    error = only_error(body)
    assert (error["extensions"]["code"], error["extensions"]["provider"], error["path"]) == (
        "PROVIDER_UNAVAILABLE", "down", ["conversations"])
    providers = [e["node"]["provider"] for e in body["data"]["conversations"]["edges"]]
    assert providers == ["up"] * 3
    assert body["data"]["conversations"]["pageInfo"]["hasNextPage"] is True
    assert sorted(e["node"]["provider"] for e in after_recovery["conversations"]["edges"]) == ["down"] * 3 + ["up"] * 3
