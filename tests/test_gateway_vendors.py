"""The gateway over all three vendors' sandboxes at once."""

from __future__ import annotations

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
