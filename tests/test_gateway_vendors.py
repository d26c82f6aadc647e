"""The gateway over all three vendors' sandboxes at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.settings import ProviderSettings
from providers.clevertap import sandbox as ct_sandbox
from providers.infobip import sandbox as ib_sandbox

from .conftest import SB_BASE, SB_CREDENTIALS, Gateway, gateway_over, sandbox_app

CT_HEADERS = {"X-CleverTap-Account-Id": "SANDBOX-ACCOUNT", "X-CleverTap-Passcode": "sandbox-passcode"}
LIST = """query L($first: Int!, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { node { provider remoteId campaign { name } } } pageInfo { hasNextPage endCursor } } }"""


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    vendors = (
        (ProviderSettings("sb", "socialboards", SB_BASE, SB_CREDENTIALS), sandbox_app(demo_conversations=5)),
        (ProviderSettings("ib", "infobip", "http://ib.test/", {"api_key": "sandbox-key"}), ib_sandbox.create_app(demo_conversations=5)),
        (
            ProviderSettings("ct", "clevertap", "http://ct.test/", {"account_id": "SANDBOX-ACCOUNT", "passcode": "sandbox-passcode"}),
            ct_sandbox.create_app(demo_conversations=8),
        ),
    )
    async with gateway_over(*vendors) as running:
        yield running


async def test_every_provider_appears_in_one_inbox(gateway: Gateway) -> None:
    edges = (await gateway.data(LIST, {"first": 100}))["conversations"]["edges"]
    assert {edge["node"]["provider"] for edge in edges} == {"sb", "ib", "ct"}


async def test_a_filter_a_provider_cannot_apply_leaves_it_out_with_a_notice_not_an_error(gateway: Gateway) -> None:
    response = await gateway.execute(LIST, {"first": 100, "filter": {"campaign": "Spring Sale"}})
    assert "errors" not in response
    page = response["data"]["conversations"]
    assert page["edges"] and {edge["node"]["provider"] for edge in page["edges"]} == {"ct"}
    assert {edge["node"]["campaign"]["name"] for edge in page["edges"]} == {"Spring Sale"}
    assert page["pageInfo"]["hasNextPage"] is False
    notices = response["extensions"]["notices"]
    assert sorted(n["provider"] for n in notices) == ["ib", "sb"]
    assert all(n["code"] == "PROVIDER_SKIPPED" and "campaign" in n["message"] for n in notices)


async def test_providers_report_which_filters_they_apply_natively(gateway: Gateway) -> None:
    data = await gateway.data("{ providers { name capabilities writableStatuses } }")
    by_name = {p["name"]: p for p in data["providers"]}
    assert "FILTER_QUEUE" in by_name["ib"]["capabilities"] and "FILTER_SEARCH" not in by_name["ib"]["capabilities"]
    assert "FILTER_SEARCH" in by_name["ct"]["capabilities"] and "FILTER_QUEUE" not in by_name["ct"]["capabilities"]
    assert by_name["ib"]["writableStatuses"] == ["CLOSED", "OPEN", "PENDING", "SOLVED"]
    assert by_name["ct"]["writableStatuses"] == ["CLOSED", "NEW", "PENDING"]


async def test_a_partial_webhook_conversation_is_read_in_full_before_it_is_published() -> None:
    app = ib_sandbox.create_app()
    settings = ProviderSettings("ib", "infobip", "http://ib.test/", {"api_key": "sandbox-key"}, webhook_secret="s3")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ib.test") as hooks:
        sent = await hooks.post("/_sandbox/inbound", json={"from": "447700900001", "to": "447860099299", "channel": "SMS", "text": "hi"})
        remote_id = sent.json()["conversationId"]
        headers = {"Authorization": "App sandbox-key"}
        await hooks.post("/ccaas/1/tags", json={"name": "vip"}, headers=headers)
        await hooks.post(f"/ccaas/1/conversations/{remote_id}/tags", json={"tagName": "vip"}, headers=headers)
        conversation = (await hooks.get(f"/ccaas/1/conversations/{remote_id}", headers=headers)).json()
    async with gateway_over((settings, app)) as running:
        body = {"type": "CONVERSATION_TAG_ADDED", "timestamp": conversation["updatedAt"],
                "payload": {"conversation": conversation, "tag": {"name": "vip"}}}
        answer = await running.client.post("/webhooks/ib?secret=s3", json=body)
        assert answer.json() == {"received": 1, "published": 1}
        bus = running.app.state.runtime.bus
        events = bus.subscribe(since=f"{bus.epoch}.0")
        published = await asyncio.wait_for(anext(events), timeout=2)
        await events.aclose()
    assert published.conversation.tags == ("vip",)  # the webhook body has no tags; the read does
    assert published.conversation.customer.id == "447700900001"
