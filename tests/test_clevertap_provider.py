"""The CleverTap adapter against its sandbox (two independent readings of docs/clevertap-api.md):
the shared provider contract, then the issue's acceptance rules end to end through the gateway."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.settings import ProviderSettings
from sandboxes.clevertap import app as ct_sandbox
from providers.clevertap.provider import CleverTapProvider

from .conftest import SHORT_TIMEOUT, Gateway, gateway_over
from .provider_contract import ContractEnv, ProviderContract

CT_BASE = "http://ct.test/"
CREDENTIALS = {"account_id": "TEST-ACCOUNT", "passcode": "test-passcode"}
HEADERS = {"X-CleverTap-Account-Id": "TEST-ACCOUNT", "X-CleverTap-Passcode": "test-passcode"}
ASHA, BEN = "asha.rao@example.com", "ben.okafor@example.com"  # Agents in the sandbox's default directory
SPRING = 1700000101  # a default campaign
INBOUND = "/1/conversation/inbound.json"
_users = itertools.count(1)


class Clock:
    """The sandbox's base clock, frozen at a recent moment; tests move it with /_sandbox/clock."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    def __call__(self) -> datetime:
        return self.start


@pytest.fixture
def ct_app() -> Starlette:
    return ct_sandbox.create_app(account_id="TEST-ACCOUNT", passcode="test-passcode", clock=Clock())


@pytest.fixture
async def ct_hooks(ct_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ct_app), base_url=CT_BASE, headers=HEADERS) as client:
        yield client


@pytest.fixture
async def ct_provider(ct_app: Starlette) -> AsyncIterator[CleverTapProvider]:
    timeout = httpx.Timeout(SHORT_TIMEOUT, connect=SHORT_TIMEOUT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ct_app), base_url=CT_BASE, timeout=timeout) as http:
        yield CleverTapProvider(name="ct", http=http, agent_email=ASHA, **CREDENTIALS)


async def user_writes(hooks: httpx.AsyncClient, text: str, *, identity: str | None = None, name: str | None = None) -> str:
    """A user replies to a campaign (sandbox-only hook); returns the conversation id."""
    body: dict[str, Any] = {"identity": identity or f"user-{next(_users)}", "campaign_id": SPRING, "text": text}
    if name is not None:
        body["user_name"] = name
    response = await hooks.post(INBOUND, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["record"]["id"])


async def seed(hooks: httpx.AsyncClient, messages: int) -> str:
    identity = f"user-{next(_users)}"
    remote_id = ""
    for i in range(max(messages, 1)):
        remote_id = await user_writes(hooks, f"m{i}", identity=identity)
    return remote_id


class TestCleverTapContract(ProviderContract):
    @pytest.fixture
    def env(self, ct_provider: CleverTapProvider, ct_hooks: httpx.AsyncClient) -> ContractEnv:
        async def many(count: int) -> list[str]:
            return [await user_writes(ct_hooks, "hello") for _ in range(count)]

        return ContractEnv(
            provider=ct_provider,
            sandbox=ct_hooks,
            seed_conversation=lambda n: seed(ct_hooks, n),
            seed_conversations=many,
            missing_id="cv_01HQWY5CG0R84P57VFQVC2R1ZZ",
            fault_path="/1/conversation",
        )


# -- through the gateway -----------------------------------------------------------------------------


@pytest.fixture
async def gateway(ct_app: Starlette) -> AsyncIterator[Gateway]:
    settings = ProviderSettings("ct", "clevertap", CT_BASE, {**CREDENTIALS, "agent_email": ASHA})
    async with gateway_over((settings, ct_app)) as running:
        yield running


def gid(remote_id: str) -> str:
    return base64.b64encode(f"Conversation:ct:{remote_id}".encode()).decode()


ASSIGN = """mutation A($id: ID!, $agent: String) { assignConversation(id: $id, agentId: $agent) {
  __typename ... on ConversationPayload { conversation { assignee { id name } } } ... on Error { code message } } }"""
CLOSE = """mutation C($id: ID!) { closeConversation(id: $id) {
  __typename ... on ConversationPayload { conversation { status vendorStatus } } ... on Error { code message } } }"""
REPLY = """mutation R($id: ID!, $text: String!) { addMessages(conversationId: $id, messages: [{text: $text}]) {
  __typename ... on AddMessagesPayload { messages { text direction author { role email } } }
  ... on Error { code message } } }"""
ONE = "query O($id: ID!) { conversation(id: $id) { status vendorStatus active campaign { id name } tags lastMessage { text } } }"
LIST = """query L($first: Int!, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { node { remoteId customer { name } } } pageInfo { hasNextPage endCursor } } }"""


async def remote_ids(gateway: Gateway, first: int, filter: dict[str, Any] | None = None) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = (await gateway.data(LIST, {"first": first, "after": after, "filter": filter}))["conversations"]
        seen.extend(edge["node"]["remoteId"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def test_two_agents_claiming_at_once_one_wins_the_other_gets_conflict(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    remote_id = await user_writes(ct_hooks, "Where is my order?")
    results = await asyncio.gather(*(gateway.data(ASSIGN, {"id": gid(remote_id), "agent": agent}) for agent in (ASHA, BEN)))
    outcomes = sorted(r["assignConversation"]["__typename"] for r in results)
    assert outcomes == ["ConflictError", "ConversationPayload"]
    winner = next(r for r in results if r["assignConversation"]["__typename"] == "ConversationPayload")
    loser = next(r for r in results if r["assignConversation"]["__typename"] == "ConflictError")
    assert loser["assignConversation"]["code"] == "CONFLICT" and "another agent" in loser["assignConversation"]["message"]
    owner = winner["assignConversation"]["conversation"]["assignee"]["id"]
    record = (await ct_hooks.get("/1/conversation.json", params={"id": remote_id})).json()["record"]
    assert record["agent"]["email"] == owner


async def test_the_owner_claiming_again_is_fine(gateway: Gateway, ct_hooks: httpx.AsyncClient) -> None:
    remote_id = await user_writes(ct_hooks, "Hi")
    for _ in range(2):
        result = (await gateway.data(ASSIGN, {"id": gid(remote_id), "agent": BEN}))["assignConversation"]
        assert result["conversation"]["assignee"]["id"] == BEN


async def test_a_customer_reply_on_a_closed_conversation_makes_it_new_again(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    identity = f"user-{next(_users)}"
    remote_id = await user_writes(ct_hooks, "Thanks, solved", identity=identity)
    closed = (await gateway.data(CLOSE, {"id": gid(remote_id)}))["closeConversation"]["conversation"]
    assert closed == {"status": "CLOSED", "vendorStatus": "Closed"}
    await user_writes(ct_hooks, "Actually, one more thing", identity=identity)
    again = (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]
    assert (again["status"], again["vendorStatus"]) == ("NEW", "New")


async def test_after_25_hours_it_is_inactive_and_a_reply_is_refused_after_16_days_it_is_not_listed(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    remote_id = await user_writes(ct_hooks, "Hello?")
    assert (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]["active"] is True
    await ct_hooks.post("/_sandbox/clock", json={"advanceSeconds": 25 * 3600})
    assert (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]["active"] is False
    refused = (await gateway.data(REPLY, {"id": gid(remote_id), "text": "Sorry for the wait"}))["addMessages"]
    assert refused["__typename"] == "InvalidInputError" and "24-hour" in refused["message"]
    record = (await ct_hooks.get("/1/conversation.json", params={"id": remote_id})).json()["record"]
    assert record["message_count"] == 1 and record["agent"] is None  # the refused reply changed nothing
    assert remote_id in await remote_ids(gateway, 50)
    await ct_hooks.post("/_sandbox/clock", json={"advanceSeconds": 15 * 86400})  # 16 days and 1 hour in all
    assert remote_id not in await remote_ids(gateway, 50)


async def test_a_reply_inside_the_window_goes_out_as_the_configured_agent(gateway: Gateway, ct_hooks: httpx.AsyncClient) -> None:
    remote_id = await user_writes(ct_hooks, "Can you help?")
    sent = (await gateway.data(REPLY, {"id": gid(remote_id), "text": "Of course"}))["addMessages"]["messages"]
    assert sent == [{"text": "Of course", "direction": "OUTBOUND", "author": {"role": "AGENT", "email": ASHA}}]
    shown = (await gateway.data(ONE, {"id": gid(remote_id)}))["conversation"]
    assert shown["lastMessage"] == {"text": "Of course"}
    assert shown["campaign"] == {"id": str(SPRING), "name": "Spring Sale"} and shown["tags"]


async def test_search_finds_by_customer_name_and_latest_message_ignoring_case(
    gateway: Gateway, ct_hooks: httpx.AsyncClient
) -> None:
    by_name = await user_writes(ct_hooks, "hello", name="Zoë Quartermaine")
    by_text = await user_writes(ct_hooks, "My PARCEL never arrived", name="Ola")
    earlier = await user_writes(ct_hooks, "parcel question", name="Kim", identity="kim-1")
    await user_writes(ct_hooks, "and now something else", identity="kim-1")  # 'parcel' is no longer the latest
    await user_writes(ct_hooks, "unrelated", name="Other Person")
    assert await remote_ids(gateway, 10, {"search": "QUARTERMAINE"}) == [by_name]
    assert await remote_ids(gateway, 10, {"search": "parcel"}) == [by_text]
    assert earlier not in await remote_ids(gateway, 10, {"search": "parcel"})
    sent = [r["body"] for r in (await ct_hooks.get("/_sandbox/requests")).json()["requests"] if r["method"] == "POST" and r["path"] == "/1/conversations.json"]
    assert {"search": "parcel"}.items() <= sent[-1].items()  # CleverTap searched, not Parley


async def test_paging_120_conversations_by_25_yields_each_exactly_once(gateway: Gateway, ct_hooks: httpx.AsyncClient) -> None:
    created = {await user_writes(ct_hooks, f"question {i}") for i in range(120)}
    seen = await remote_ids(gateway, 25)
    assert len(seen) == len(set(seen)) == 120 and set(seen) == created


async def test_forty_concurrent_reads_stay_under_the_accounts_limit_of_fifteen(
    ct_provider: CleverTapProvider, ct_hooks: httpx.AsyncClient
) -> None:
    remote_id = await user_writes(ct_hooks, "hello")
    await ct_hooks.delete("/_sandbox/requests")
    await ct_hooks.post("/_sandbox/faults", json={"latencyMs": 40, "pathContains": "/1/conversation.json"})
    results = await asyncio.gather(*(ct_provider.get_conversation(remote_id) for _ in range(40)))
    assert {c.remote_id for c in results} == {remote_id}
    log = (await ct_hooks.get("/_sandbox/requests")).json()["requests"]
    assert len(log) == 40  # no request was refused with 429 and retried
