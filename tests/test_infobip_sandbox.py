"""The Infobip sandbox, exercised over HTTP the way an adapter would use it (one test per rule)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandboxes.infobip.app import RateLimit, WebhookFields, create_app

from .helpers import WebhookReceiver, advance_clock

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0_TEXT = "2024-03-01T12:00:00.000+0000"
AUTH = {"Authorization": "App sandbox-key"}
API = "/ccaas/1"
CONVERSATIONS = f"{API}/conversations"
UNAUTHORIZED = {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}}
TEXT_MESSAGE = {
    "from": "447700900000",
    "to": "447700900123",
    "channel": "WHATSAPP",
    "contentType": "TEXT",
    "content": {"text": "Your parcel is on its way."},
}
Json = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------------


@asynccontextmanager
async def sandbox_client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    options.setdefault("clock", lambda: T0)
    transport = httpx.ASGITransport(app=create_app(**options))
    async with httpx.AsyncClient(transport=transport, base_url="http://ib", headers=AUTH) as client:
        yield client


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def failed(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statusCode", "message"} and body["statusCode"] == "ERROR", body
    message: str = body["message"]
    return message


def succeeded(response: httpx.Response, message: str) -> None:
    assert ok(response) == {"statusCode": "SUCCESS", "message": message}


async def create(client: httpx.AsyncClient, **fields: Any) -> Json:
    conversation: Json = ok(await client.post(CONVERSATIONS, json=fields))
    return conversation


async def listed(client: httpx.AsyncClient, path: str = CONVERSATIONS, **params: Any) -> Json:
    page: Json = ok(await client.get(path, params=params))
    return page


async def ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [item["id"] for item in (await listed(client, **params))["conversations"]]


async def named(client: httpx.AsyncClient, kind: str) -> dict[str, str]:
    """Seeded agents or queues by name -> id."""
    page = await listed(client, f"{API}/{kind}", limit=999)
    key = "displayName" if kind == "agents" else "name"
    return {item[key]: item["id"] for item in page[kind]}


async def closed(client: httpx.AsyncClient) -> Json:
    conversation = await create(client, topic="Done")
    closed_now: Json = ok(await client.patch(f"{CONVERSATIONS}/{conversation['id']}", json={"status": "CLOSED"}))
    return closed_now


async def tagged(client: httpx.AsyncClient, conversation_id: str) -> list[str]:
    page = await listed(client, f"{CONVERSATIONS}/{conversation_id}/tags")
    return [tag["name"] for tag in page["tags"]]


@asynccontextmanager
async def hooked(**options: Any) -> AsyncIterator[tuple[httpx.AsyncClient, WebhookReceiver]]:
    hooks = WebhookReceiver()
    async with (
        hooks.client() as hook_client,
        sandbox_client(webhook_url="http://hooks/hooks", webhook_client=hook_client, **options) as client,
    ):
        yield client, hooks


# -- transport and auth ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["App", "app", "APP"])
async def test_app_key_is_accepted_with_the_scheme_in_any_case(scheme: str) -> None:
    async with sandbox_client(api_key="k-123") as client:
        response = await client.get(CONVERSATIONS, headers={"Authorization": f"{scheme} k-123"})
        assert response.status_code == 200


@pytest.mark.parametrize("header", [None, "App wrong-key", "Basic c2FuZGJveC1rZXk6", "Bearer sandbox-key", "App"])
async def test_missing_or_wrong_credentials_are_401_in_the_platform_shape(header: str | None) -> None:
    async with sandbox_client() as client:
        headers = {"Authorization": header} if header else {}
        client.headers.pop("Authorization")
        response = await client.post(CONVERSATIONS, json={}, headers=headers)
        assert response.status_code == 401 and response.json() == UNAUTHORIZED
        client.headers.update(AUTH)
        assert await ids(client) == []  # refused before anything was stored


async def test_unknown_paths_are_404_and_wrong_methods_405_in_the_error_shape(api: httpx.AsyncClient) -> None:
    assert "/ccaas/1/nothing" in failed(await api.get(f"{API}/nothing"), 404)
    failed(await api.get("/ccaas/2/conversations"), 404)
    response = await api.delete(CONVERSATIONS)
    assert failed(response, 405) == "Request method 'DELETE' is not supported"
    assert "POST" in response.headers["Allow"]


# -- create and get --------------------------------------------------------------------------------


async def test_create_with_an_empty_object_gets_the_documented_defaults(api: httpx.AsyncClient) -> None:
    conversation = ok(await api.post(CONVERSATIONS, json={}))
    assert list(conversation) == [
        "id", "topic", "summary", "status", "priority", "queueId", "agentId", "createdAt", "updatedAt", "channel",
    ]  # fmt: skip
    assert uuid.UUID(conversation["id"])
    assert conversation | {"id": None} == {
        "id": None,
        "topic": None,
        "summary": None,
        "status": "OPEN",
        "priority": "NORMAL",
        "queueId": None,
        "agentId": None,
        "createdAt": T0_TEXT,
        "updatedAt": T0_TEXT,
        "channel": "NO_CHANNEL",
    }
    assert ok(await api.get(f"{CONVERSATIONS}/{conversation['id']}")) == conversation


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b"null"])
async def test_a_missing_or_non_object_body_is_the_documented_400(api: httpx.AsyncClient, content: bytes) -> None:
    response = await api.post(CONVERSATIONS, content=content, headers={"Content-Type": "application/json"})
    assert failed(response, 400) == "Required request body is missing or not valid"


async def test_create_keeps_every_given_field(api: httpx.AsyncClient) -> None:
    queue, agent = (await named(api, "queues"))["Billing"], (await named(api, "agents"))["Sam Carter"]
    fields = {
        "topic": "Invoice question",
        "summary": "Customer asks about VAT",
        "status": "WAITING",
        "priority": "URGENT",
        "queueId": queue,
        "agentId": agent,
        "channel": "WHATSAPP",
    }
    conversation = await create(api, **fields)
    assert {key: conversation[key] for key in fields} == fields


@pytest.mark.parametrize(
    ("fields", "named_field"),
    [
        ({"priority": "SUPER"}, "priority"),
        ({"status": "open"}, "status"),
        ({"channel": "PIGEON"}, "channel"),
        ({"topic": "x" * 256}, "topic"),
        ({"summary": "x" * 4001}, "summary"),
        ({"topic": 5}, "topic"),
    ],
)
async def test_create_refuses_bad_values_naming_the_field(
    api: httpx.AsyncClient, fields: Json, named_field: str
) -> None:
    assert named_field in failed(await api.post(CONVERSATIONS, json=fields), 400)
    assert await ids(api) == []


async def test_create_with_an_unknown_queue_or_agent_is_404(api: httpx.AsyncClient) -> None:
    missing = "0f6a7a51-0000-4000-8000-000000000000"
    text = failed(await api.post(CONVERSATIONS, json={"queueId": missing}), 404)
    assert text == f"Invalid queueId '{missing}' given! No such entity exists."
    text = failed(await api.post(CONVERSATIONS, json={"agentId": missing}), 404)
    assert text == f"Invalid agentId '{missing}' given! No such entity exists."


async def test_an_unknown_conversation_is_404_invalid_id(api: httpx.AsyncClient) -> None:
    text = failed(await api.get(f"{CONVERSATIONS}/573711510E1C002E29679B12C7CB48AE"), 404)
    assert text == "Invalid id '573711510E1C002E29679B12C7CB48AE' given! No such entity exists."


# -- list ------------------------------------------------------------------------------------------


async def test_list_has_the_documented_shape_and_defaults(api: httpx.AsyncClient) -> None:
    created = sorted([(await create(api))["id"] for _ in range(12)])
    page = await listed(api)
    assert page["pagination"] == {"totalItems": 12, "page": 0, "limit": 10, "orderBy": "id:asc"}
    assert [item["id"] for item in page["conversations"]] == created[:10]


async def test_page_is_a_zero_based_page_index(api: httpx.AsyncClient) -> None:
    created = sorted([(await create(api))["id"] for _ in range(5)])
    assert await ids(api, limit=2, page=1) == created[2:4]
    last = await listed(api, limit=2, page=2)
    assert [item["id"] for item in last["conversations"]] == created[4:]
    assert last["pagination"] == {"totalItems": 5, "page": 2, "limit": 2, "orderBy": "id:asc"}
    assert await ids(api, limit=2, page=9) == []


@pytest.mark.parametrize(
    ("params", "named_param"),
    [({"limit": 0}, "limit"), ({"limit": 1000}, "limit"), ({"limit": "ten"}, "limit"), ({"page": -1}, "page")],
)
async def test_limit_and_page_out_of_range_are_400(api: httpx.AsyncClient, params: Json, named_param: str) -> None:
    assert named_param in failed(await api.get(CONVERSATIONS, params=params), 400)


async def test_order_by_sorts_by_field_and_breaks_ties_by_id_ascending(api: httpx.AsyncClient) -> None:
    low, urgent, high, normal = [(await create(api, priority=p))["id"] for p in ("LOW", "URGENT", "HIGH", "NORMAL")]
    assert await ids(api, orderBy="priority:asc") == [low, normal, high, urgent]  # by rank, not alphabet
    assert await ids(api, orderBy="priority:DESC") == [urgent, high, normal, low]
    same_time = sorted([low, urgent, high, normal])  # the clock stands still: every createdAt is equal
    assert await ids(api, orderBy="createdAt:desc") == same_time
    page = await listed(api, orderBy="createdAt:DESC")
    assert page["pagination"]["orderBy"] == "createdAt:desc"


async def test_order_by_topic_puts_missing_topics_first(api: httpx.AsyncClient) -> None:
    beta, none, alpha = [(await create(api, topic=t))["id"] for t in ("beta", None, "alpha")]
    assert await ids(api, orderBy="topic:asc") == [none, alpha, beta]
    assert await ids(api, orderBy="topic:desc") == [beta, alpha, none]


@pytest.mark.parametrize("order", ["agentId:asc", "createdAt:up", "created:desc"])
async def test_an_unknown_order_field_or_direction_is_400(api: httpx.AsyncClient, order: str) -> None:
    assert "orderBy" in failed(await api.get(CONVERSATIONS, params={"orderBy": order}), 400)


async def test_list_filters_by_ids_queues_agent_status_and_priority(api: httpx.AsyncClient) -> None:
    queues, agents = await named(api, "queues"), await named(api, "agents")
    billing = await create(api, queueId=queues["Billing"], priority="HIGH")
    vip = await create(api, queueId=queues["VIP"], agentId=agents["Maria Lund"], status="WAITING")
    plain = await create(api)
    both = sorted([billing["id"], vip["id"]])
    assert sorted(await ids(api, queueIds=[queues["Billing"], queues["VIP"]])) == both
    assert sorted(await ids(api, queueIds=f"{queues['Billing']},{queues['VIP']}")) == both
    assert sorted(await ids(api, conversationIds=[plain["id"], vip["id"]])) == sorted([plain["id"], vip["id"]])
    assert await ids(api, conversationIds=f"{plain['id']},{billing['id']}", priority="HIGH") == [billing["id"]]
    assert await ids(api, agentId=agents["Maria Lund"]) == [vip["id"]]
    assert await ids(api, status="WAITING") == [vip["id"]]


async def test_time_filters_are_exclusive_and_accept_every_offset_form(api: httpx.AsyncClient) -> None:
    first = await create(api)
    await advance_clock(api, 60)
    second = await create(api)
    await advance_clock(api, 60)
    third = await create(api)
    assert sorted(await ids(api, createdAfter=first["createdAt"])) == sorted([second["id"], third["id"]])
    assert await ids(api, createdAfter="2024-03-01T12:00:00.000+00:00", createdBefore="2024-03-01T12:02:00Z") == [
        second["id"]
    ]
    raw_plus = ok(await api.get(f"{CONVERSATIONS}?createdBefore=2024-03-01T12:01:00.000+0000"))  # '+' arrives as ' '
    assert [item["id"] for item in raw_plus["conversations"]] == [first["id"]]
    await api.patch(f"{CONVERSATIONS}/{first['id']}", json={"topic": "moved"})
    assert await ids(api, updatedAfter="2024-03-01T12:01:30.000+0000") == sorted([first["id"], third["id"]])
    assert await ids(api, updatedBefore="2024-03-01T12:01:30.000+0000") == [second["id"]]


@pytest.mark.parametrize(
    ("params", "named_param"),
    [({"createdAfter": "yesterday"}, "createdAfter"), ({"status": "DONE"}, "status"), ({"priority": "1"}, "priority")],
)
async def test_unparseable_time_or_enum_filters_are_400(api: httpx.AsyncClient, params: Json, named_param: str) -> None:
    assert named_param in failed(await api.get(CONVERSATIONS, params=params), 400)


# -- update ----------------------------------------------------------------------------------------


async def test_put_replaces_the_whole_conversation(api: httpx.AsyncClient) -> None:
    queue = (await named(api, "queues"))["VIP"]
    original = await create(api, topic="t", summary="s", priority="HIGH", queueId=queue, channel="SMS")
    replaced = ok(await api.put(f"{CONVERSATIONS}/{original['id']}", json={"status": "SOLVED", "topic": "new"}))
    assert (replaced["topic"], replaced["summary"], replaced["status"], replaced["priority"]) == (
        "new", None, "SOLVED", "NORMAL",
    )  # fmt: skip
    assert (replaced["queueId"], replaced["channel"]) == (None, "NO_CHANNEL")


async def test_put_requires_status(api: httpx.AsyncClient) -> None:
    conversation = await create(api, topic="keep")
    assert "status" in failed(await api.put(f"{CONVERSATIONS}/{conversation['id']}", json={"topic": "x"}), 400)
    assert ok(await api.get(f"{CONVERSATIONS}/{conversation['id']}"))["topic"] == "keep"


async def test_put_keeps_the_assignee_when_agent_id_is_omitted(api: httpx.AsyncClient) -> None:
    agent = (await named(api, "agents"))["Ola Nordmann"]
    conversation = await create(api, agentId=agent)
    replaced = ok(await api.put(f"{CONVERSATIONS}/{conversation['id']}", json={"status": "OPEN"}))
    assert replaced["agentId"] == agent


async def test_patch_changes_only_the_given_fields(api: httpx.AsyncClient) -> None:
    conversation = await create(api, topic="t", summary="s", priority="LOW", channel="VIBER")
    patched = ok(await api.patch(f"{CONVERSATIONS}/{conversation['id']}", json={"priority": "URGENT", "summary": None}))
    assert patched == conversation | {"priority": "URGENT", "summary": None, "updatedAt": patched["updatedAt"]}


async def test_patch_and_put_may_repeat_but_not_change_the_agent(api: httpx.AsyncClient) -> None:
    agents = await named(api, "agents")
    conversation = await create(api, agentId=agents["Maria Lund"])
    path = f"{CONVERSATIONS}/{conversation['id']}"
    assert ok(await api.patch(path, json={"agentId": agents["Maria Lund"], "topic": "x"}))["topic"] == "x"
    assert "assignee" in failed(await api.patch(path, json={"agentId": agents["Sam Carter"]}), 400)
    assert "assignee" in failed(await api.put(path, json={"status": "OPEN", "agentId": None}), 400)
    assert ok(await api.get(path))["agentId"] == agents["Maria Lund"]


async def test_patch_to_an_unknown_queue_is_404(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    failed(await api.patch(f"{CONVERSATIONS}/{conversation['id']}", json={"queueId": "nope"}), 404)


async def test_a_closed_conversation_refuses_every_change_but_not_a_no_op(api: httpx.AsyncClient) -> None:
    conversation = await closed(api)
    path = f"{CONVERSATIONS}/{conversation['id']}"
    expected = f"Conversation '{conversation['id']}' is closed and cannot be changed"
    assert failed(await api.patch(path, json={"topic": "reopen?"}), 400) == expected
    assert failed(await api.patch(path, json={"status": "OPEN"}), 400) == expected
    assert failed(await api.put(path, json={"status": "CLOSED"}), 400) == expected  # PUT would clear the topic
    assert ok(await api.patch(path, json={"status": "CLOSED", "topic": "Done"})) == conversation


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("PUT", "/assignee"), ("DELETE", "/assignee"), ("POST", "/route"), ("GET", "/simulate-routing"),
     ("POST", "/messages")],
)  # fmt: skip
async def test_a_closed_conversation_refuses_assignment_routing_and_messages(
    api: httpx.AsyncClient, method: str, suffix: str
) -> None:
    conversation = await closed(api)
    bodies = {"PUT /assignee": {"agentId": (await named(api, "agents"))["Sam Carter"]}, "POST /messages": TEXT_MESSAGE}
    payload = bodies.get(f"{method} {suffix}")
    response = await api.request(method, f"{CONVERSATIONS}/{conversation['id']}{suffix}", json=payload)
    assert "is closed" in failed(response, 400)
    assert ok(await api.get(f"{CONVERSATIONS}/{conversation['id']}")) == conversation


async def test_updated_at_moves_on_every_change_even_when_the_clock_stands_still(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    path = f"{CONVERSATIONS}/{conversation['id']}"
    ok(await api.post(f"{API}/tags", json={"name": "vip"}))
    ok(await api.patch(path, json={"topic": "a"}))
    ok(await api.post(f"{path}/tags", json={"tagName": "vip"}))
    ok(await api.post(f"{path}/messages", json=TEXT_MESSAGE))
    assert ok(await api.get(path))["updatedAt"] == "2024-03-01T12:00:00.003+0000"
    ok(await api.patch(path, json={"topic": "a"}))  # no change, no new time
    ok(await api.post(f"{path}/tags", json={"tagName": "vip"}))
    assert ok(await api.get(path))["updatedAt"] == "2024-03-01T12:00:00.003+0000"
    await advance_clock(api, 5)
    assert ok(await api.patch(path, json={"topic": "b"}))["updatedAt"] == "2024-03-01T12:00:05.000+0000"


# -- assignment and routing ------------------------------------------------------------------------


async def test_assign_and_unassign_through_the_assignee_endpoint(api: httpx.AsyncClient) -> None:
    agent = (await named(api, "agents"))["Aiko Tanaka"]
    conversation = await create(api)
    path = f"{CONVERSATIONS}/{conversation['id']}/assignee"
    assigned = ok(await api.put(path, json={"agentId": agent}))
    assert assigned["agentId"] == agent
    assert ok(await api.put(path, json={"agentId": agent})) == assigned  # the same agent again changes nothing
    unassigned = ok(await api.delete(path))
    assert unassigned["agentId"] is None and unassigned["updatedAt"] > assigned["updatedAt"]
    assert ok(await api.delete(path)) == unassigned


async def test_assign_needs_a_known_agent(api: httpx.AsyncClient) -> None:
    path = f"{CONVERSATIONS}/{(await create(api))['id']}/assignee"
    assert failed(await api.put(path, json={"agentId": "ghost"}), 404) == (
        "Invalid agentId 'ghost' given! No such entity exists."
    )
    assert "agentId" in failed(await api.put(path, json={}), 400)


async def test_route_unassigns_and_queues_on_the_default_queue_keeping_priority(api: httpx.AsyncClient) -> None:
    queues, agents = await named(api, "queues"), await named(api, "agents")
    conversation = await create(api, agentId=agents["Sam Carter"], queueId=queues["VIP"], priority="HIGH")
    routed = ok(await api.post(f"{CONVERSATIONS}/{conversation['id']}/route"))
    assert (routed["agentId"], routed["queueId"], routed["priority"]) == (None, queues["General support"], "HIGH")


async def test_route_takes_queue_and_priority_from_the_first_enabled_rule(api: httpx.AsyncClient) -> None:
    queues = await named(api, "queues")
    rules = [
        {"name": "off", "queueId": queues["VIP"], "enabled": False, "expression": '{"customer.country": "NO"}'},
        {"name": "billing", "queueId": queues["Billing"], "priority": "URGENT", "expression": "{}"},
        {"name": "later", "queueId": queues["VIP"], "expression": "{}"},
    ]
    stored = ok(await api.put(f"{API}/routing", json=rules))
    assert stored[1] == {**rules[1], "enabled": True} and stored[2]["priority"] == "NORMAL"
    assert ok(await api.get(f"{API}/routing")) == stored
    conversation = await create(api)
    simulated = ok(await api.get(f"{CONVERSATIONS}/{conversation['id']}/simulate-routing"))
    assert simulated == {"id": conversation["id"], "queueId": queues["Billing"], "priority": "URGENT"}
    assert ok(await api.get(f"{CONVERSATIONS}/{conversation['id']}")) == conversation  # simulation changes nothing
    routed = ok(await api.post(f"{CONVERSATIONS}/{conversation['id']}/route"))
    assert (routed["queueId"], routed["priority"]) == (queues["Billing"], "URGENT")


async def test_routing_setup_is_validated_and_all_or_nothing(api: httpx.AsyncClient) -> None:
    queue = (await named(api, "queues"))["VIP"]
    good = {"queueId": queue, "expression": "{}"}
    assert "expression" in failed(await api.put(f"{API}/routing", json=[{"queueId": queue}]), 400)
    failed(await api.put(f"{API}/routing", json=[good, {"queueId": "nope", "expression": "{}"}]), 404)
    failed(await api.put(f"{API}/routing", json={"rules": []}), 400)
    assert ok(await api.get(f"{API}/routing")) == []


# -- tags ------------------------------------------------------------------------------------------


async def test_account_tags_are_created_listed_refused_twice_and_deleted(api: httpx.AsyncClient) -> None:
    assert ok(await api.post(f"{API}/tags", json={"name": "vip"})) == {
        "name": "vip", "createdAt": T0_TEXT, "updatedAt": T0_TEXT,
    }  # fmt: skip
    ok(await api.post(f"{API}/tags", json={"name": "billing"}))
    assert failed(await api.post(f"{API}/tags", json={"name": "vip"}), 400) == "Tag 'vip' already exists"
    page = await listed(api, f"{API}/tags")
    assert [tag["name"] for tag in page["tags"]] == ["billing", "vip"]
    assert page["pagination"] == {"totalItems": 2, "page": 0, "limit": 10, "orderBy": "name:asc"}
    assert "name" in failed(await api.post(f"{API}/tags", json={"name": "x" * 101}), 400)
    succeeded(await api.delete(f"{API}/tags/vip"), "Tag deleted successfully.")
    failed(await api.delete(f"{API}/tags/vip"), 404)


async def test_linking_needs_an_existing_tag_and_is_idempotent(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    path = f"{CONVERSATIONS}/{conversation['id']}/tags"
    text = failed(await api.post(path, json={"tagName": "INVALID_TAG_NAME"}), 404)
    assert text == "Invalid tagName 'INVALID_TAG_NAME' given! No such entity exists."
    ok(await api.post(f"{API}/tags", json={"name": "needs review"}))
    for _ in range(2):
        succeeded(await api.post(path, json={"tagName": "needs review"}), "Tag added to conversation successfully.")
    page = await listed(api, path)
    assert page["tags"] == [{"name": "needs review", "createdAt": T0_TEXT, "updatedAt": T0_TEXT}]
    assert page["pagination"]["totalItems"] == 1
    assert "tagName" in failed(await api.post(path, json={}), 400)


async def test_unlinking_keeps_tag_and_conversation(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    path = f"{CONVERSATIONS}/{conversation['id']}/tags"
    ok(await api.post(f"{API}/tags", json={"name": "a/b"}))
    ok(await api.post(path, json={"tagName": "a/b"}))
    succeeded(await api.delete(f"{path}/a%2Fb"), "Tag removed successfully.")
    succeeded(await api.delete(f"{path}/a%2Fb"), "Tag removed successfully.")  # no longer linked: still fine
    failed(await api.delete(f"{path}/unknown"), 404)
    assert await tagged(api, conversation["id"]) == []
    assert [tag["name"] for tag in (await listed(api, f"{API}/tags"))["tags"]] == ["a/b"]
    ok(await api.get(f"{CONVERSATIONS}/{conversation['id']}"))


async def test_deleting_an_account_tag_unlinks_it_everywhere(api: httpx.AsyncClient) -> None:
    first, second = await create(api), await create(api)
    for name in ("vip", "billing"):
        ok(await api.post(f"{API}/tags", json={"name": name}))
    for conversation in (first, second):
        ok(await api.post(f"{CONVERSATIONS}/{conversation['id']}/tags", json={"tagName": "vip"}))
    ok(await api.post(f"{CONVERSATIONS}/{first['id']}/tags", json={"tagName": "billing"}))
    ok(await api.delete(f"{API}/tags/vip"))
    assert (await tagged(api, first["id"]), await tagged(api, second["id"])) == (["billing"], [])


async def test_tags_can_be_linked_and_unlinked_on_a_closed_conversation(api: httpx.AsyncClient) -> None:
    conversation = await closed(api)
    ok(await api.post(f"{API}/tags", json={"name": "archived"}))
    ok(await api.post(f"{CONVERSATIONS}/{conversation['id']}/tags", json={"tagName": "archived"}))
    assert await tagged(api, conversation["id"]) == ["archived"]
    ok(await api.delete(f"{CONVERSATIONS}/{conversation['id']}/tags/archived"))


# -- messages --------------------------------------------------------------------------------------


async def test_sending_a_message_returns_it_as_outbound(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    message = ok(await api.post(f"{CONVERSATIONS}/{conversation['id']}/messages", json=TEXT_MESSAGE))
    assert list(message) == [
        "id", "from", "to", "channel", "direction", "conversationId",
        "createdAt", "updatedAt", "contentType", "content",
    ]  # fmt: skip
    assert message | {"id": None} == {
        "id": None,
        "from": "447700900000",
        "to": "447700900123",
        "channel": "WHATSAPP",
        "direction": "OUTBOUND",
        "conversationId": conversation["id"],
        "createdAt": T0_TEXT,
        "updatedAt": T0_TEXT,
        "contentType": "TEXT",
        "content": {"text": "Your parcel is on its way."},
    }


async def test_a_message_missing_fields_is_refused_naming_each_of_them(api: httpx.AsyncClient) -> None:
    path = f"{CONVERSATIONS}/{(await create(api))['id']}/messages"
    assert failed(await api.post(path, json={"from": "1", "contentType": "TEXT"}), 400) == (
        "to, channel, content are required"
    )
    assert failed(await api.post(path, json={k: v for k, v in TEXT_MESSAGE.items() if k != "to"}), 400) == (
        "to is required"
    )


@pytest.mark.parametrize(
    ("change", "named_field"),
    [
        ({"content": {"text": ""}}, "content.text"),
        ({"content": {"text": "x" * 1001}}, "content.text"),
        ({"content": "plain"}, "content"),
        ({"channel": "PIGEON"}, "channel"),
        ({"contentType": "GIF"}, "contentType"),
    ],
)
async def test_message_content_channel_and_type_are_validated(
    api: httpx.AsyncClient, change: Json, named_field: str
) -> None:
    path = f"{CONVERSATIONS}/{(await create(api))['id']}/messages"
    assert named_field in failed(await api.post(path, json={**TEXT_MESSAGE, **change}), 400)
    assert ok(await api.post(path, json={**TEXT_MESSAGE, "content": {"text": "x" * 1000}}))["content"]["text"]


async def test_a_conversation_without_channel_takes_the_channel_of_its_first_message(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    path = f"{CONVERSATIONS}/{conversation['id']}"
    ok(await api.post(f"{path}/messages", json={**TEXT_MESSAGE, "channel": "VIBER"}))
    ok(await api.post(f"{path}/messages", json=TEXT_MESSAGE))
    assert ok(await api.get(path))["channel"] == "VIBER"
    sms = await create(api, channel="SMS")
    ok(await api.post(f"{CONVERSATIONS}/{sms['id']}/messages", json=TEXT_MESSAGE))
    assert ok(await api.get(f"{CONVERSATIONS}/{sms['id']}"))["channel"] == "SMS"


async def test_message_list_filters_and_orders(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    sent = ok(await api.post(path, json=TEXT_MESSAGE))
    await advance_clock(api, 10)
    inbound = {"from": "447700900123", "to": "447700900000", "channel": "WHATSAPP", "text": "Thanks"}
    received = ok(await api.post("/_sandbox/inbound", json={**inbound, "conversationId": conversation["id"]}))
    await advance_clock(api, 10)
    sms = ok(await api.post(path, json={**TEXT_MESSAGE, "channel": "SMS"}))
    in_time = [sent["id"], received["id"], sms["id"]]

    async def message_ids(**params: Any) -> list[str]:
        return [item["id"] for item in (await listed(api, path, **params))["messages"]]

    assert await message_ids() == sorted(in_time)
    assert await message_ids(orderBy="createdAt:desc") == in_time[::-1]
    assert await message_ids(direction="INBOUND") == [received["id"]]
    assert await message_ids(channel="SMS") == [sms["id"]]
    assert await message_ids(messageIds=f"{sent['id']},{sms['id']}", orderBy="createdAt") == [sent["id"], sms["id"]]
    assert await message_ids(createdAfter=sent["createdAt"], createdBefore=sms["createdAt"]) == [received["id"]]
    assert "direction" in failed(await api.get(path, params={"direction": "SIDEWAYS"}), 400)
    assert "orderBy" in failed(await api.get(path, params={"orderBy": "channel:asc"}), 400)


async def test_plain_text_content_option_writes_the_legacy_string_form() -> None:
    async with sandbox_client(plain_text_content=True) as client:
        conversation = await create(client)
        path = f"{CONVERSATIONS}/{conversation['id']}/messages"
        assert ok(await client.post(path, json=TEXT_MESSAGE))["content"] == "Your parcel is on its way."
        image = {**TEXT_MESSAGE, "contentType": "IMAGE", "content": {"url": "https://cdn.example.com/a.png"}}
        assert ok(await client.post(path, json=image))["content"] == {"url": "https://cdn.example.com/a.png"}
        listed_contents = [item["content"] for item in (await listed(client, path, orderBy="createdAt"))["messages"]]
        assert "Your parcel is on its way." in listed_contents


# -- inbound simulation ----------------------------------------------------------------------------


INBOUND = {"from": "447700900555", "to": "447700900000", "channel": "WHATSAPP", "text": "Hello, is anyone there?"}


async def test_inbound_from_a_new_customer_opens_a_routed_conversation(api: httpx.AsyncClient) -> None:
    queues = await named(api, "queues")
    message = ok(await api.post("/_sandbox/inbound", json=INBOUND))
    assert (message["direction"], message["from"], message["to"], message["content"]) == (
        "INBOUND", "447700900555", "447700900000", {"text": "Hello, is anyone there?"},
    )  # fmt: skip
    conversation = ok(await api.get(f"{CONVERSATIONS}/{message['conversationId']}"))
    assert (conversation["status"], conversation["channel"], conversation["queueId"], conversation["agentId"]) == (
        "OPEN", "WHATSAPP", queues["General support"], None,
    )  # fmt: skip


async def test_inbound_threads_by_sender_and_channel_into_the_newest_open_conversation(
    api: httpx.AsyncClient,
) -> None:
    first = ok(await api.post("/_sandbox/inbound", json=INBOUND))["conversationId"]
    await advance_clock(api, 1)
    other_channel = ok(await api.post("/_sandbox/inbound", json={**INBOUND, "channel": "SMS"}))["conversationId"]
    assert other_channel != first
    await advance_clock(api, 1)
    newer = await create(api)
    ok(await api.post("/_sandbox/inbound", json={**INBOUND, "conversationId": newer["id"]}))
    assert ok(await api.post("/_sandbox/inbound", json=INBOUND))["conversationId"] == newer["id"]
    await api.patch(f"{CONVERSATIONS}/{newer['id']}", json={"status": "CLOSED"})
    assert ok(await api.post("/_sandbox/inbound", json=INBOUND))["conversationId"] == first
    await api.patch(f"{CONVERSATIONS}/{first}", json={"status": "CLOSED"})
    fresh = ok(await api.post("/_sandbox/inbound", json=INBOUND))["conversationId"]
    assert fresh not in (first, newer["id"], other_channel)


async def test_inbound_into_a_named_conversation_must_find_it_open(api: httpx.AsyncClient) -> None:
    failed(await api.post("/_sandbox/inbound", json={**INBOUND, "conversationId": "nope"}), 404)
    conversation = await closed(api)
    response = await api.post("/_sandbox/inbound", json={**INBOUND, "conversationId": conversation["id"]})
    assert "closed" in failed(response, 400)


@pytest.mark.parametrize(("missing", "value"), [("from", None), ("text", ""), ("channel", "PIGEON")])
async def test_inbound_is_validated(api: httpx.AsyncClient, missing: str, value: str | None) -> None:
    assert missing in failed(await api.post("/_sandbox/inbound", json={**INBOUND, missing: value}), 400)


# -- agents and queues -----------------------------------------------------------------------------


async def test_seeded_agents_filter_by_queue_name_role_status_and_enabled(api: httpx.AsyncClient) -> None:
    queues, agents = await named(api, "queues"), await named(api, "agents")
    page = await listed(api, f"{API}/agents")
    assert page["pagination"] == {"totalItems": 5, "page": 0, "limit": 10, "orderBy": "id:asc"}
    assert set(page["agents"][0]) == {"id", "displayName", "status", "role", "enabled", "createdAt", "updatedAt"}

    async def names(**params: Any) -> list[str]:
        found = await listed(api, f"{API}/agents", orderBy="displayName:asc", **params)
        return [item["displayName"] for item in found["agents"]]

    assert await names(queueIds=queues["Billing"]) == ["Maria Lund", "Sam Carter"]
    assert await names(displayName="LUND") == ["Maria Lund"]
    assert await names(role="SUPERVISOR") == ["Maria Lund"]
    assert await names(status="BUSY") == ["Sam Carter"]
    assert await names(enabled="false") == ["Lars Nilsen"]
    assert await names(agentIds=[agents["Ola Nordmann"], agents["Aiko Tanaka"]]) == ["Aiko Tanaka", "Ola Nordmann"]
    assert "role" in failed(await api.get(f"{API}/agents", params={"role": "BOSS"}), 400)


async def test_agents_are_created_with_defaults_and_read_by_id(api: httpx.AsyncClient) -> None:
    agent = ok(await api.post(f"{API}/agents", json={"displayName": "New Hire"}))
    assert (agent["status"], agent["role"], agent["enabled"], agent["createdAt"]) == (
        "INVISIBLE", "AGENT", True, T0_TEXT,
    )  # fmt: skip
    assert ok(await api.get(f"{API}/agents/{agent['id']}")) == agent
    text = failed(await api.get(f"{API}/agents/nobody"), 404)
    assert text == "Invalid agentId 'nobody' given! No such entity exists."
    assert "displayName" in failed(await api.post(f"{API}/agents", json={}), 400)


async def test_queues_are_created_and_agents_added_to_them(api: httpx.AsyncClient) -> None:
    queue = ok(await api.post(f"{API}/queues", json={"name": "Returns"}))
    assert ok(await api.get(f"{API}/queues/{queue['id']}")) == queue
    agent = (await named(api, "agents"))["Aiko Tanaka"]
    added = await api.post(f"{API}/queues/{queue['id']}/agents", json={"agentId": agent})
    succeeded(added, "Agent added to queue successfully.")
    found = await listed(api, f"{API}/queues", agentId=agent, orderBy="name:asc")
    assert [item["name"] for item in found["queues"]] == ["Orders & delivery", "Returns"]
    failed(await api.post(f"{API}/queues/{queue['id']}/agents", json={"agentId": "ghost"}), 404)
    assert failed(await api.get(f"{API}/queues/nope"), 404) == "Invalid queueId 'nope' given! No such entity exists."


# -- webhooks --------------------------------------------------------------------------------------


async def test_webhooks_report_each_change_with_the_state_after_it() -> None:
    async with hooked() as (client, hooks):
        conversation = await create(client)
        path = f"{CONVERSATIONS}/{conversation['id']}"
        ok(await client.patch(path, json={"priority": "HIGH", "status": "WAITING", "topic": "Late parcel"}))
        ok(await client.post(f"{API}/tags", json={"name": "vip"}))
        ok(await client.post(f"{path}/tags", json={"tagName": "vip"}))
        sent = ok(await client.post(f"{path}/messages", json=TEXT_MESSAGE))
        ok(await client.patch(path, json={"topic": "Late parcel"}))  # no change: no event
        ok(await client.post(f"{path}/route"))
        bodies = await hooks.wait_for(7)
        await asyncio.sleep(0.02)
    assert [body["type"] for body in bodies] == [
        "CONVERSATION_CREATED",
        "CONVERSATION_TOPIC_CHANGED",
        "CONVERSATION_STATUS_CHANGED",
        "CONVERSATION_PRIORITY_CHANGED",
        "CONVERSATION_TAG_ADDED",
        "OUTBOUND_MESSAGE_SENT",
        "CONVERSATION_QUEUE_CHANGED",
    ]
    created = {"type": "CONVERSATION_CREATED", "timestamp": T0_TEXT, "payload": {"conversation": conversation}}
    assert bodies[0] == created
    assert bodies[1]["payload"]["conversation"]["priority"] == "HIGH"  # the state after the whole call
    assert bodies[4]["payload"]["tag"] == {"name": "vip"}
    assert bodies[5]["payload"]["message"] == sent


async def test_inbound_fires_created_then_inbound_message_received() -> None:
    async with hooked() as (client, hooks):
        message = ok(await client.post("/_sandbox/inbound", json=INBOUND))
        bodies = await hooks.wait_for(2)
    assert [body["type"] for body in bodies] == ["CONVERSATION_CREATED", "INBOUND_MESSAGE_RECEIVED"]
    assert bodies[1]["payload"]["message"] == message
    assert bodies[1]["payload"]["conversation"]["id"] == message["conversationId"]


async def test_webhook_field_names_are_configurable() -> None:
    fields = WebhookFields(type="eventType", timestamp="occurredAt", payload="data", conversation="conv")
    async with hooked(webhook_fields=fields) as (client, hooks):
        conversation = await create(client)
        (body,) = await hooks.wait_for(1)
    assert body == {"eventType": "CONVERSATION_CREATED", "occurredAt": T0_TEXT, "data": {"conv": conversation}}


async def test_a_failing_webhook_is_logged_and_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        raise httpx.ConnectError("connection refused", request=request)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as hook_client,
        sandbox_client(webhook_url="http://hooks.invalid/in", webhook_client=hook_client) as client,
    ):
        with caplog.at_level(logging.WARNING, logger="sandboxes.infobip"):
            assert (await client.post(CONVERSATIONS, json={})).status_code == 200
            for _ in range(100):
                if caplog.records:
                    break
                await asyncio.sleep(0.005)
    assert attempts == ["http://hooks.invalid/in"]
    assert "CONVERSATION_CREATED" in caplog.records[0].getMessage()


# -- gate: faults, rate limit, request log, clock --------------------------------------------------


async def test_injected_faults_use_the_platform_or_service_error_shape(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"status": 429, "retryAfter": 7, "times": 1})
    await api.post("/_sandbox/faults", json={"status": 500, "times": 1})
    throttled = await api.get(CONVERSATIONS)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json() == {
        "requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS", "text": "Too many requests"}}
    }
    assert failed(await api.get(CONVERSATIONS), 500) == "injected fault: HTTP 500"
    ok(await api.get(CONVERSATIONS))


async def test_the_optional_token_bucket_refills_on_the_sandbox_clock() -> None:
    async with sandbox_client(rate_limit=RateLimit(burst=2, per_second=0.5)) as client:
        for _ in range(3):
            assert (await client.get(CONVERSATIONS, headers={"Authorization": "App wrong"})).status_code == 401
        assert [(await client.get(CONVERSATIONS)).status_code for _ in range(2)] == [200, 200]
        throttled = await client.get(CONVERSATIONS)
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
        assert throttled.json()["requestError"]["serviceException"]["messageId"] == "TOO_MANY_REQUESTS"
        await advance_clock(client, 2)
        assert (await client.get(CONVERSATIONS)).status_code == 200
        assert (await client.get(CONVERSATIONS)).status_code == 429


async def test_rate_limit_is_off_by_default(api: httpx.AsyncClient) -> None:
    assert {(await api.get(CONVERSATIONS)).status_code for _ in range(30)} == {200}


async def test_request_log_records_vendor_calls_but_not_sandbox_controls(api: httpx.AsyncClient) -> None:
    await api.get(CONVERSATIONS, params={"queueIds": ["a", "b"], "limit": 5})
    await api.post(CONVERSATIONS, json={"topic": "t"})
    await api.post("/_sandbox/inbound", json=INBOUND)
    log = ok(await api.get("/_sandbox/requests"))["requests"]
    assert log == [
        {"method": "GET", "path": CONVERSATIONS, "query": {"queueIds": ["a", "b"], "limit": "5"}, "body": None},
        {"method": "POST", "path": CONVERSATIONS, "query": {}, "body": {"topic": "t"}},
    ]


async def test_clock_control_reports_time_in_the_vendor_format(api: httpx.AsyncClient) -> None:
    assert ok(await api.get("/_sandbox/clock")) == {"now": T0_TEXT}
    await advance_clock(api, 90.5)
    assert ok(await api.get("/_sandbox/clock")) == {"now": "2024-03-01T12:01:30.500+0000"}
    assert (await create(api))["createdAt"] == "2024-03-01T12:01:30.500+0000"


# -- demo data -------------------------------------------------------------------------------------


async def demo_snapshot(seed: int, count: int = 24) -> tuple[list[Json], dict[str, list[Json]], list[str]]:
    async with sandbox_client(demo_conversations=count, seed=seed) as client:
        conversations = (await listed(client, limit=999, orderBy="createdAt:asc"))["conversations"]
        messages = {}
        for item in conversations:
            thread = await listed(client, f"{CONVERSATIONS}/{item['id']}/messages", limit=999, orderBy="createdAt")
            messages[item["id"]] = thread["messages"]
        tags = [name for item in conversations for name in await tagged(client, item["id"])]
        return conversations, messages, tags


async def test_demo_data_is_deterministic_by_seed_and_six_show_every_status_and_priority() -> None:
    first, again, other = await demo_snapshot(7, 6), await demo_snapshot(7, 6), await demo_snapshot(8, 6)
    assert first == again and first != other
    assert {item["status"] for item in first[0]} == {"OPEN", "WAITING", "SOLVED", "CLOSED"}
    assert {item["priority"] for item in first[0]} == {"LOW", "NORMAL", "HIGH", "URGENT"}


async def test_demo_data_is_a_realistic_mix_over_the_last_two_weeks() -> None:
    conversations, messages, tags = await demo_snapshot(3)
    assert len(conversations) == 24
    assert {item["status"] for item in conversations} == {"OPEN", "WAITING", "SOLVED", "CLOSED"}
    assert {item["priority"] for item in conversations} == {"LOW", "NORMAL", "HIGH", "URGENT"}
    assert len({item["channel"] for item in conversations}) >= 3
    assert len({item["agentId"] for item in conversations if item["agentId"]}) >= 2
    assert any(item["agentId"] is None for item in conversations) and len(set(tags)) >= 3
    assert all("2024-02-16T12:00" <= item["createdAt"] < T0_TEXT for item in conversations)
    assert all(item["createdAt"] <= item["updatedAt"] < T0_TEXT for item in conversations)
    directions = {m["direction"] for items in messages.values() for m in items}
    assert directions == {"INBOUND", "OUTBOUND"} and all(messages.values())
    for item in conversations:
        thread = messages[item["id"]]
        assert {m["channel"] for m in thread} == {item["channel"]}
        if item["status"] in ("WAITING", "SOLVED"):
            assert thread[-1]["direction"] == "OUTBOUND"
        if item["status"] == "OPEN" and item["agentId"] is None:
            assert {m["direction"] for m in thread} == {"INBOUND"}


async def test_demo_references_only_existing_agents_and_queues() -> None:
    async with sandbox_client(demo_conversations=12, seed=5) as client:
        agents, queues = set((await named(client, "agents")).values()), set((await named(client, "queues")).values())
        conversations = (await listed(client, limit=999))["conversations"]
    assert {item["queueId"] for item in conversations} <= queues
    assert {item["agentId"] for item in conversations if item["agentId"]} <= agents


async def test_without_demo_data_the_account_has_agents_and_queues_only(api: httpx.AsyncClient) -> None:
    assert (await listed(api))["pagination"]["totalItems"] == 0
    assert (await listed(api, f"{API}/tags"))["tags"] == []
    assert len(await named(api, "agents")) == 5 and len(await named(api, "queues")) == 4


async def test_times_are_kept_to_the_millisecond_so_a_time_read_back_is_an_exact_bound() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    app = create_app(api_key="k", clock=lambda: moment)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ib", headers={"Authorization": "App k"}) as api:
        created = (await api.post("/ccaas/1/conversations", json={})).json()
        after = (await api.get("/ccaas/1/conversations", params={"createdAfter": created["createdAt"]})).json()
        before = (await api.get("/ccaas/1/conversations", params={"createdBefore": created["createdAt"]})).json()
    assert created["createdAt"] == "2024-05-01T12:00:00.123+0000"
    assert after["conversations"] == [] and before["conversations"] == []
