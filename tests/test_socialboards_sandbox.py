"""The Socialboards sandbox, exercised over HTTP the way an adapter would use it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandboxes.socialboards.app import create_app

from .helpers import WebhookReceiver, advance_clock

pytestmark = pytest.mark.asyncio

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0_TEXT = "2024-03-01T12:00:00.0000000+00:00"
TOKEN_FORM = {"grant_type": "refresh_token", "client_id": "sandbox-client", "refresh_token": "sandbox-refresh"}
CONVERSATIONS = "/chat/conversations"
SEED_CREATE_BODY = {  # verbatim from the vendor's "Create conversation" page
    "author": {"name": "John", "customIdentifier": "CUS-12345"},
    "title": "Chat API Client Problems",
    "url": "https://thejohndow.com",
    "sentiment": "question",
    "categoryId": 1505,
}
Json = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------------


@asynccontextmanager
async def sandbox_client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    options.setdefault("clock", lambda: T0)
    transport = httpx.ASGITransport(app=create_app(**options))
    async with httpx.AsyncClient(transport=transport, base_url="http://sb") as client:
        yield client


async def login(client: httpx.AsyncClient, path: str = "/token") -> None:
    response = await client.post(path, data=TOKEN_FORM)
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as client:
        await login(client)
        yield client


def data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["errorCode"], body["errorText"]) == (-1, None)
    return body["data"]


def error(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["data"] is None and body["errorCode"] == code
    text: str = body["errorText"]
    return text


def message(text: str, *, author: Json | None = None, at: datetime | None = None, team: bool | None = None) -> Json:
    item: Json = {"author": author or {"email": "ann@example.com"}, "message": text}
    if at is not None:
        item["creationTime"] = at.isoformat()
    if team is not None:
        item["isByTeam"] = team
    return item


async def create(client: httpx.AsyncClient, **overrides: Any) -> Json:
    body = {"author": {"name": "Ann", "email": "ann@example.com"}, "title": "Help", "url": "https://shop.example.com"}
    conversation: Json = data(await client.post(CONVERSATIONS, json={**body, **overrides}))
    return conversation


async def add(client: httpx.AsyncClient, conversation_id: int, *items: Json, kind: str = "messages") -> httpx.Response:
    return await client.post(f"{CONVERSATIONS}/{conversation_id}/{kind}", json=list(items))


async def fetch(client: httpx.AsyncClient, conversation_id: int, **params: str) -> Json:
    conversation: Json = data(await client.get(f"{CONVERSATIONS}/{conversation_id}", params=params))
    return conversation


async def position(client: httpx.AsyncClient, conversation_id: int) -> int:
    info: Json = data(await client.get(f"{CONVERSATIONS}/{conversation_id}/queue"))
    return int(info["position"])


@pytest.fixture
async def hooked() -> AsyncIterator[tuple[httpx.AsyncClient, WebhookReceiver]]:
    hooks = WebhookReceiver()
    async with (
        hooks.client() as hook_client,
        sandbox_client(webhook_url="http://hooks/hooks", webhook_client=hook_client, community="acme") as client,
    ):
        await login(client)
        yield client, hooks


# -- token and auth --------------------------------------------------------------------------------


async def test_token_endpoint_issues_a_bearer_token_for_the_configured_client() -> None:
    async with sandbox_client(token_ttl_seconds=120) as client:
        response = await client.post("/token", data=TOKEN_FORM)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 120 and len(body["access_token"]) >= 32
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await client.post(CONVERSATIONS, json=SEED_CREATE_BODY, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"), [("grant_type", "password"), ("client_id", "someone-else"), ("refresh_token", "stale")]
)
async def test_token_endpoint_refuses_wrong_grant_client_or_refresh_token(field: str, value: str) -> None:
    async with sandbox_client() as client:
        response = await client.post("/token", data={**TOKEN_FORM, field: value})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        assert field in response.json()["error_description"]


async def test_api_calls_without_a_known_bearer_token_get_401_envelope() -> None:
    async with sandbox_client() as client:
        text = error(await client.post(CONVERSATIONS, json=SEED_CREATE_BODY), 401, 10)
        assert "Authorization: Bearer" in text
        unknown = await client.get(f"{CONVERSATIONS}/1", headers={"Authorization": "Bearer made-up"})
        assert "not recognised" in error(unknown, 401, 10)
        assert unknown.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


async def test_access_token_expires_after_its_ttl_on_the_sandbox_clock() -> None:
    async with sandbox_client(token_ttl_seconds=60) as client:
        await login(client)
        await advance_clock(client, 59)
        assert (await client.post("/tickets/list", json={})).status_code == 200
        await advance_clock(client, 1)
        assert "expired" in error(await client.post("/tickets/list", json={}), 401, 10)
        await login(client)
        assert (await client.post("/tickets/list", json={})).status_code == 200


# -- create and users ------------------------------------------------------------------------------


async def test_create_with_the_docs_example_returns_full_conversation(api: httpx.AsyncClient) -> None:
    conversation = data(await api.post(CONVERSATIONS, json=SEED_CREATE_BODY))
    author = conversation["author"]
    assert author["customIdentifier"] == "cus-12345"
    assert (author["name"], author["status"], author["isBot"], author["email"]) == ("John", "client", False, None)
    assert uuid.UUID(author["id"]).version == 4
    assert conversation["id"] == 254626
    assert conversation["initialPageUrl"] == conversation["latestPageUrl"] == "https://thejohndow.com"
    assert (conversation["isClosed"], conversation["isTakeoverEnabled"]) == (False, True)
    assert (conversation["messages"], conversation["totalMessagesCount"], conversation["fields"]) == ([], 0, [])
    assert conversation["queuePositionInfo"] == {"position": 1, "waitTime": 3}
    assert conversation["creationTime"] == conversation["lastModifiedTime"] == T0_TEXT
    assert conversation["feedback"] is None


async def test_create_keeps_custom_field_values_and_accepts_key_alias(api: httpx.AsyncClient) -> None:
    conversation = await create(api, fields=[{"id": 42623, "value": "Oslo"}, {"key": 18464, "value": "Option 2"}])
    assert conversation["fields"] == [{"id": 42623, "value": "Oslo"}, {"id": 18464, "value": "Option 2"}]


async def test_user_lookup_precedence_is_id_then_email_then_custom_identifier(api: httpx.AsyncClient) -> None:
    ann = (await create(api, author={"name": "Ann", "email": "ann@example.com"}))["author"]
    bob = (await create(api, author={"name": "Bob", "customIdentifier": "bob-1"}))["author"]
    cid = (await create(api))["id"]
    by_id = message("a", author={"id": ann["id"], "email": "zed@example.com", "customIdentifier": "bob-1"})
    by_email = message("b", author={"email": "ANN@example.com", "customIdentifier": "bob-1"})
    by_custom = message("c", author={"id": str(uuid.uuid4()), "customIdentifier": "  BOB-1 "})
    authors = [item["author"]["id"] for item in data(await add(api, cid, by_id, by_email, by_custom))]
    assert authors == [ann["id"], ann["id"], bob["id"]]
    # Once the id matched, lower identifiers are ignored: a free customIdentifier is not attached.
    by_id_only = data(await add(api, cid, message("d", author={"id": ann["id"], "customIdentifier": "free-1"})))
    assert by_id_only[0]["author"]["customIdentifier"] is None


async def test_email_match_attaches_custom_identifier_only_when_unset(api: httpx.AsyncClient) -> None:
    conversation = await create(api, author={"email": "ann@example.com"})
    ann, cid = conversation["author"], conversation["id"]
    attach = message("x", author={"email": "ann@example.com", "customIdentifier": " CRM-9 "})
    attached = data(await add(api, cid, attach))[0]["author"]
    assert (attached["id"], attached["customIdentifier"]) == (ann["id"], "crm-9")
    keep = message("y", author={"email": "ann@example.com", "customIdentifier": "other"})
    assert data(await add(api, cid, keep))[0]["author"]["customIdentifier"] == "crm-9"
    by_custom = message("z", author={"customIdentifier": "crm-9"})
    assert data(await add(api, cid, by_custom))[0]["author"]["id"] == ann["id"]


async def test_unknown_identifiers_create_a_new_client_with_a_fresh_guid(api: httpx.AsyncClient) -> None:
    supplied = str(uuid.uuid4())
    author = (await create(api, author={"id": supplied, "name": "Cy"}))["author"]
    assert author["id"] != supplied and author["status"] == "client" and author["name"] == "Cy"
    again = (await create(api, author={"customIdentifier": "new-one"}))["author"]
    assert again["id"] not in (author["id"], supplied)


async def test_author_without_any_identifier_is_refused(api: httpx.AsyncClient) -> None:
    text = error(await api.post(CONVERSATIONS, json={"author": {"name": "Nobody"}}), 400, 2)
    assert "id, email or customIdentifier" in text


async def test_malformed_image_url_is_refused(api: httpx.AsyncClient) -> None:
    body = {"author": {"email": "ann@example.com", "image": "not a url"}}
    assert "'not a url'" in error(await api.post(CONVERSATIONS, json=body), 400, 2)


async def test_bot_and_team_authors_resolve_to_bot_and_agent_users(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    bot_msg, agent_msg = data(
        await add(
            api,
            cid,
            message("hi", author={"isBot": True, "email": "ann@example.com"}),
            message("hello", author={"email": "maria@acme.example", "name": "Maria"}, team=True),
        )
    )
    assert (bot_msg["author"]["isBot"], bot_msg["author"]["email"]) == (True, None)
    assert (agent_msg["author"]["status"], agent_msg["author"]["isBot"]) == ("agent", False)


# -- messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["messages", "previousMessages"])
async def test_creation_time_over_30_seconds_ahead_refuses_the_whole_batch(api: httpx.AsyncClient, kind: str) -> None:
    cid = (await create(api))["id"]
    response = await add(api, cid, message("fine"), message("late", at=T0 + timedelta(seconds=31)), kind=kind)
    assert "[1].creationTime" in error(response, 400, 3)
    assert (await fetch(api, cid))["totalMessagesCount"] == 0
    assert data(await api.get(f"{CONVERSATIONS}/{cid}/messages")) == []
    assert len(data(await add(api, cid, message("ok", at=T0 + timedelta(seconds=29)), kind=kind))) == 1


async def test_messages_sort_by_creation_time_and_default_to_now(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    stored = data(
        await add(
            api,
            cid,
            message("first", at=T0 - timedelta(minutes=10)),
            message("now"),
            message("between", at=T0 - timedelta(minutes=5)),
        )
    )
    assert stored[1]["creationTime"] == T0_TEXT and stored[1]["lastModifiedTime"] == T0_TEXT
    assert stored[0]["creationTime"] == "2024-03-01T11:50:00.0000000+00:00"
    assert [item["id"] for item in stored] == sorted(item["id"] for item in stored)
    listed = data(await api.get(f"{CONVERSATIONS}/{cid}/messages", params={"orderBy": "creation_time_asc"}))
    assert [item["message"] for item in listed] == ["first", "between", "now"]


async def test_closed_conversation_refuses_new_messages(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    closed = data(await api.patch(f"{CONVERSATIONS}/{cid}/close"))
    assert (closed["isClosed"], closed["queuePositionInfo"]) == (True, {"position": -1, "waitTime": None})
    assert "closed" in error(await add(api, cid, message("hello?")), 400, 4)
    error(await add(api, cid, message("history"), kind="previousMessages"), 400, 4)
    error(await api.post(f"/_sandbox/conversations/{cid}/agent-reply", json={"message": "hi"}), 400, 4)
    assert (await fetch(api, cid))["totalMessagesCount"] == 0


async def test_get_by_id_returns_a_100_message_window_in_either_spelling(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    start = T0 - timedelta(hours=1)
    await add(api, cid, *(message(f"m{n}", at=start + timedelta(seconds=n)) for n in range(105)))
    assert (await fetch(api, cid))["messages"] == []
    latest = await fetch(api, cid, includeMessages="true")
    assert latest["totalMessagesCount"] == 105 and len(latest["messages"]) == 100
    assert (latest["messages"][0]["message"], latest["messages"][-1]["message"]) == ("m104", "m5")
    for spelling in ("orderyBy", "orderBy"):
        earliest = await fetch(api, cid, includeMessages="true", **{spelling: "creation_time_asc"})
        assert (earliest["messages"][0]["message"], earliest["messages"][-1]["message"]) == ("m0", "m99")
    bad = await api.get(f"{CONVERSATIONS}/{cid}", params={"orderyBy": "newest"})
    assert "orderyBy='newest'" in error(bad, 400, 1)


async def test_list_messages_pages_with_skip_take_and_order(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    await add(api, cid, *(message(f"m{n}", at=T0 - timedelta(minutes=10 - n)) for n in range(5)))
    url = f"{CONVERSATIONS}/{cid}/messages"
    assert [m["message"] for m in data(await api.get(url))] == ["m4", "m3", "m2", "m1", "m0"]
    page = data(await api.get(url, params={"skip": 1, "take": 2, "orderBy": "creation_time_asc"}))
    assert [m["message"] for m in page] == ["m1", "m2"]
    assert data(await api.get(url, params={"take": 100})) != []
    assert "between 1 and 100" in error(await api.get(url, params={"take": 101}), 400, 1)
    error(await api.get(url, params={"skip": -1}), 400, 1)


async def test_unknown_conversation_is_404(api: httpx.AsyncClient) -> None:
    assert "999" in error(await api.get(f"{CONVERSATIONS}/999"), 404, 20)
    error(await add(api, 999, message("x")), 404, 20)
    error(await api.get(f"{CONVERSATIONS}/abc/queue"), 404, 20)


async def test_invalid_json_and_wrong_types_are_400(api: httpx.AsyncClient) -> None:
    raw = await api.post(CONVERSATIONS, content=b"{nope", headers={"content-type": "application/json"})
    assert "not valid JSON" in error(raw, 400, 1)
    cid = (await create(api))["id"]
    assert "body must be a JSON array" in error(await api.post(f"{CONVERSATIONS}/{cid}/messages", json={}), 400, 1)
    assert "[0].message" in error(await add(api, cid, {"author": {"email": "a@b.c"}}), 400, 1)


# -- queue, takeover, feedback, url, close ---------------------------------------------------------


async def test_queue_positions_move_up_when_conversations_ahead_leave(api: httpx.AsyncClient) -> None:
    first, second, third = [(await create(api))["id"] for _ in range(3)]
    infos = [data(await api.get(f"{CONVERSATIONS}/{cid}/queue")) for cid in (first, second, third)]
    assert infos == [{"position": 1, "waitTime": 3}, {"position": 2, "waitTime": 6}, {"position": 3, "waitTime": 9}]
    await api.patch(f"{CONVERSATIONS}/{first}/close")
    assert [await position(api, cid) for cid in (second, third)] == [1, 2]
    await add(api, second, message("On it!", author={"email": "maria@acme.example"}, team=True))
    assert [await position(api, cid) for cid in (second, third)] == [-1, 1]
    await add(api, third, message("still waiting"))  # a customer message keeps its place
    assert await position(api, third) == 1


async def test_bot_conversation_stays_out_of_the_queue_until_takeover(api: httpx.AsyncClient) -> None:
    cid = (await create(api, isBotEnabled=True))["id"]
    conversation = await fetch(api, cid)
    assert conversation["isTakeoverEnabled"] is False and conversation["queuePositionInfo"]["position"] == -1
    assert data(await api.get(f"{CONVERSATIONS}/{cid}/takeover")) == {"isAssignedToBot": True}
    taken = await api.patch(f"{CONVERSATIONS}/{cid}/takeover", json={"isAssignedToBot": False})
    assert data(taken) == {"isAssignedToBot": False}
    assert (await fetch(api, cid))["isTakeoverEnabled"] is True and await position(api, cid) == 1
    assigned = {"isAssignedToBot": False, "assigneeId": str(uuid.uuid4())}
    assert data(await api.patch(f"{CONVERSATIONS}/{cid}/takeover", json=assigned)) == {"isAssignedToBot": False}
    assert await position(api, cid) == -1


async def test_takeover_with_assignee_takes_a_queued_conversation_out(api: httpx.AsyncClient) -> None:
    first, second = [(await create(api))["id"] for _ in range(2)]
    body = {"isAssignedToBot": False, "assigneeId": str(uuid.uuid4())}
    await api.patch(f"{CONVERSATIONS}/{first}/takeover", json=body)
    assert [await position(api, cid) for cid in (first, second)] == [-1, 1]


async def test_takeover_body_is_validated(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    url = f"{CONVERSATIONS}/{cid}/takeover"
    assert "isAssignedToBot is required" in error(await api.patch(url, json={}), 400, 1)
    assert "not a GUID" in error(await api.patch(url, json={"isAssignedToBot": False, "assigneeId": "x"}), 400, 1)


async def test_feedback_is_stored_and_allowed_after_close(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    await api.patch(f"{CONVERSATIONS}/{cid}/close")
    body = {"isPositive": True, "text": "Nice, thank you!"}
    assert data(await api.patch(f"{CONVERSATIONS}/{cid}/feedback", json=body)) == body
    assert (await fetch(api, cid))["feedback"] == body
    error(await api.patch(f"{CONVERSATIONS}/{cid}/feedback", json={"text": "meh"}), 400, 1)


async def test_latest_url_changes_latest_page_only(api: httpx.AsyncClient) -> None:
    cid = (await create(api, url="https://shop.example.com/start"))["id"]
    updated = data(await api.patch(f"{CONVERSATIONS}/{cid}/latestUrl", json={"url": "https://shop.example.com/cart"}))
    assert (updated["initialPageUrl"], updated["latestPageUrl"]) == (
        "https://shop.example.com/start",
        "https://shop.example.com/cart",
    )
    error(await api.patch(f"{CONVERSATIONS}/{cid}/latestUrl", json={"url": ""}), 400, 1)


async def test_last_modified_time_moves_on_every_change(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    changes: list[Callable[[], Awaitable[httpx.Response]]] = [
        lambda: add(api, cid, message("hi")),
        lambda: add(api, cid, message("old", at=T0 - timedelta(days=1)), kind="previousMessages"),
        lambda: api.patch(f"{CONVERSATIONS}/{cid}/feedback", json={"isPositive": False, "text": "slow"}),
        lambda: api.patch(f"{CONVERSATIONS}/{cid}/latestUrl", json={"url": "https://shop.example.com/x"}),
        lambda: api.patch(f"{CONVERSATIONS}/{cid}/takeover", json={"isAssignedToBot": True}),
        lambda: api.patch(f"{CONVERSATIONS}/{cid}/close"),
    ]
    seen = [(await fetch(api, cid))["lastModifiedTime"]]
    for change in changes:
        assert (await change()).status_code == 200
        seen.append((await fetch(api, cid))["lastModifiedTime"])
    assert seen == sorted(set(seen)), seen  # strictly increasing even though the clock stands still
    await advance_clock(api, 90)
    await api.patch(f"{CONVERSATIONS}/{cid}/feedback", json={"isPositive": True, "text": "ok"})
    assert (await fetch(api, cid))["lastModifiedTime"] == "2024-03-01T12:01:30.0000000+00:00"


async def test_previous_messages_count_but_do_not_dequeue(api: httpx.AsyncClient) -> None:
    cid = (await create(api))["id"]
    history = message("from the CRM", author={"email": "maria@acme.example"}, team=True, at=T0 - timedelta(days=3))
    await add(api, cid, history, kind="previousMessages")
    conversation = await fetch(api, cid, includeMessages="true")
    assert conversation["totalMessagesCount"] == 1 and conversation["queuePositionInfo"]["position"] == 1
    assert conversation["messages"][0]["creationTime"] == "2024-02-27T12:00:00.0000000+00:00"


# -- tickets/list ----------------------------------------------------------------------------------


async def test_ticket_list_orders_filters_and_pages(api: httpx.AsyncClient) -> None:
    ids = []
    for title in ("a", "b", "c", "d"):
        ids.append((await create(api, title=title))["id"])
        await advance_clock(api, 60)
    await add(api, ids[0], message("bump"))  # now the most recently modified
    await api.patch(f"{CONVERSATIONS}/{ids[1]}/close")

    async def titles(**body: Any) -> list[str]:
        return [ticket["title"] for ticket in data(await api.post("/tickets/list", json=body))]

    assert await titles() == ["b", "a", "d", "c"]
    assert await titles(orderBy="last_modified_time_asc") == ["c", "d", "a", "b"]
    assert await titles(orderBy="creation_time_asc") == ["a", "b", "c", "d"]
    assert await titles(orderBy="creation_time_desc", skip=1, take=2) == ["c", "b"]
    assert await titles(isClosed=True) == ["b"] and await titles(isClosed=False) == ["a", "d", "c"]
    assert await titles(modifiedAfter="2024-03-01T12:03:00+00:00") == ["b", "a"]
    first = data(await api.post("/tickets/list", json={"take": 1}))[0]
    assert set(first) == {"id", "title", "isClosed", "creationTime", "lastModifiedTime", "sentiment", "category"} and first["isClosed"]
    assert "between 1 and 50" in error(await api.post("/tickets/list", json={"take": 51}), 400, 1)
    error(await api.post("/tickets/list", json={"orderBy": "title"}), 400, 1)


async def test_ticket_ids_fetch_tickets_by_id_with_their_titles(api: httpx.AsyncClient) -> None:
    """Documented on list-tickets: `ticketIds` "can be used to fetch tickets by id(s)"; the ticket is
    where a conversation's title, sentiment and category are, as the Conversation object has none."""
    ids = [(await create(api, title=title, sentiment="Complaint", categoryId=7))["id"] for title in ("a", "b", "c")]
    assert {"title", "sentiment", "categoryId", "category"}.isdisjoint(data(await api.get(f"{CONVERSATIONS}/{ids[1]}")))
    picked = data(await api.post("/tickets/list", json={"ticketIds": [ids[2], ids[0]], "orderBy": "creation_time_asc"}))
    assert [(t["id"], t["title"], t["sentiment"], t["category"]) for t in picked] == [
        (ids[0], "a", "complaint", {"id": 7}), (ids[2], "c", "complaint", {"id": 7}),
    ]
    assert data(await api.post("/tickets/list", json={"ticketIds": [999999]})) == []
    assert "ticketIds must be an array of integers" in error(await api.post("/tickets/list", json={"ticketIds": ["1"]}), 400, 1)


async def test_ticket_list_defaults_to_25_and_accepts_an_empty_body() -> None:
    async with sandbox_client(demo_conversations=30) as client:
        await login(client)
        assert len(data(await client.post("/tickets/list"))) == 25
        assert len(data(await client.post("/tickets/list", json={"skip": 25}))) == 5


# -- faults and the request log --------------------------------------------------------------------


async def test_status_fault_applies_the_given_number_of_times(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"status": 503, "times": 2})
    statuses = [(await api.post("/tickets/list", json={})).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await api.get("/_sandbox/faults")).json() == {"faults": []}  # used up, so removed


async def test_gateway_5xx_is_html_and_500_is_an_envelope(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"status": 502, "times": 1})
    await api.post("/_sandbox/faults", json={"status": 500, "times": 1})
    bad_gateway = await api.post("/tickets/list")
    assert bad_gateway.status_code == 502 and bad_gateway.headers["content-type"].startswith("text/html")
    assert error(await api.post("/tickets/list"), 500, 50) == "injected fault: HTTP 500"


async def test_rate_limit_fault_sends_retry_after(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"status": 429, "retryAfter": 7, "times": 1})
    response = await api.get(f"{CONVERSATIONS}/1")
    error(response, 429, 30)
    assert response.headers["Retry-After"] == "7"


async def test_malformed_fault_returns_200_with_a_body_that_is_not_json(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"malformed": True, "times": 1})
    response = await api.post("/tickets/list")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_latency_fault_delays_then_serves_normally(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"latencyMs": 60, "times": 1})
    started = time.perf_counter()
    assert data(await api.post("/tickets/list")) == []
    assert time.perf_counter() - started >= 0.055


async def test_faults_match_path_first_come_first_served_and_clear(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"status": 404, "pathContains": "/queue"})
    await api.post("/_sandbox/faults", json={"status": 500})
    error(await api.get(f"{CONVERSATIONS}/1/queue"), 404, 20)
    error(await api.get(f"{CONVERSATIONS}/1/queue"), 404, 20)  # times: null → until cleared
    error(await api.post("/tickets/list"), 500, 50)
    assert (await api.get("/_sandbox/requests")).status_code == 200  # sandbox controls are never faulted
    assert (await api.delete("/_sandbox/faults")).json() == {"faults": []}
    assert data(await api.post("/tickets/list")) == []


async def test_request_log_records_vendor_calls_with_query_and_body() -> None:
    async with sandbox_client() as client:
        await login(client)
        await client.get(f"{CONVERSATIONS}/5/messages", params={"skip": 0, "take": 10})
        await client.post("/tickets/list", json={"take": 3})
        await client.get("/_sandbox/faults")
        log = (await client.get("/_sandbox/requests")).json()["requests"]
        assert log == [
            {"method": "POST", "path": "/token", "query": {}, "body": TOKEN_FORM},
            {
                "method": "GET",
                "path": f"{CONVERSATIONS}/5/messages",
                "query": {"skip": "0", "take": "10"},
                "body": None,
            },
            {"method": "POST", "path": "/tickets/list", "query": {}, "body": {"take": 3}},
        ]
        assert (await client.delete("/_sandbox/requests")).json() == {"requests": []}
        assert (await client.get("/_sandbox/requests")).json() == {"requests": []}


async def test_faulted_and_unauthorised_calls_are_logged_too() -> None:
    async with sandbox_client() as client:
        await client.post("/_sandbox/faults", json={"status": 503, "times": 1})
        await client.post("/tickets/list")
        await client.post("/tickets/list")
        assert [entry["path"] for entry in (await client.get("/_sandbox/requests")).json()["requests"]] == [
            "/tickets/list",
            "/tickets/list",
        ]


# -- webhooks --------------------------------------------------------------------------------------


async def test_conversation_created_webhook_uses_the_pascal_case_envelope(
    hooked: tuple[httpx.AsyncClient, WebhookReceiver],
) -> None:
    client, hooks = hooked
    created = data(await client.post(CONVERSATIONS, json={**SEED_CREATE_BODY, "fields": [{"id": 1, "value": "x"}]}))
    (payload,) = await hooks.wait_for(1)
    cid = created["id"]
    assert set(payload) == {"CommunityName", "EventType", "Events", "TicketId"}
    assert (payload["CommunityName"], payload["EventType"], payload["TicketId"]) == (
        "acme",
        "conversation_created",
        cid,
    )
    (event,) = payload["Events"]
    assert event["InboxLink"] == f"https://inbox.socialboards.com/acme/tickets?ticketId={cid}"
    assert (event["ConversationId"], event["EventTime"]) == (cid, T0_TEXT)
    snapshot = event["Conversation"]
    assert (snapshot["Fields"], snapshot["Messages"], snapshot["TotalMessagesCount"]) == (None, [], 0)
    assert snapshot["QueuePositionInfo"] == {"Position": 1, "WaitTime": 3}
    assert snapshot["Author"] == {
        "CustomIdentifier": "cus-12345",
        "Id": created["author"]["id"],
        "Name": "John",
        "Image": None,
        "Email": None,
        "Status": "client",
        "IsBot": False,
    }
    assert (snapshot["Id"], snapshot["IsClosed"], snapshot["IsTakeoverEnabled"]) == (cid, False, True)


async def test_message_takeover_and_close_webhooks(hooked: tuple[httpx.AsyncClient, WebhookReceiver]) -> None:
    client, hooks = hooked
    cid = (await create(client, isBotEnabled=True))["id"]
    added = data(await add(client, cid, message("one"), message("two")))
    await client.patch(f"{CONVERSATIONS}/{cid}/takeover", json={"isAssignedToBot": False})
    await client.patch(f"{CONVERSATIONS}/{cid}/close")
    bodies = await hooks.wait_for(4)
    assert [body["EventType"] for body in bodies] == [
        "conversation_created",
        "conversation_message_added",
        "conversation_takeover_state_changed",
        "conversation_closed",
    ]
    messages = [event["Message"] for event in bodies[1]["Events"]]
    assert [(item["Id"], item["Message"], item["Author"]["Email"]) for item in messages] == [
        (added[0]["id"], "one", "ann@example.com"),
        (added[1]["id"], "two", "ann@example.com"),
    ]
    assert bodies[1]["Events"][0]["Conversation"]["TotalMessagesCount"] == 2
    takeover = bodies[2]["Events"][0]
    assert takeover["IsAssignedToBot"] is False and takeover["Conversation"]["IsTakeoverEnabled"] is True
    closed = bodies[3]["Events"][0]["Conversation"]
    assert closed["IsClosed"] is True and closed["QueuePositionInfo"] == {"Position": -1, "WaitTime": None}


async def test_previous_messages_fire_no_webhook(hooked: tuple[httpx.AsyncClient, WebhookReceiver]) -> None:
    client, hooks = hooked
    cid = (await create(client))["id"]
    await add(client, cid, message("history", at=T0 - timedelta(days=1)), kind="previousMessages")
    await client.patch(f"{CONVERSATIONS}/{cid}/close")
    bodies = await hooks.wait_for(2)  # deliveries are ordered, so a message event would come before close
    assert [body["EventType"] for body in bodies] == ["conversation_created", "conversation_closed"]
    assert bodies[1]["Events"][0]["Conversation"]["TotalMessagesCount"] == 1


async def test_sandbox_agent_and_customer_messages_fire_webhooks(hooked: tuple[httpx.AsyncClient, WebhookReceiver]) -> None:
    client, hooks = hooked
    conversation = await create(client)
    cid = conversation["id"]
    reply = data(
        await client.post(
            f"/_sandbox/conversations/{cid}/agent-reply", json={"message": "How can I help?", "agentName": "Maria Lund"}
        )
    )
    assert (reply["author"]["name"], reply["author"]["status"], reply["message"]) == (
        "Maria Lund",
        "agent",
        "How can I help?",
    )
    assert await position(client, cid) == -1
    answer = data(await client.post(f"/_sandbox/conversations/{cid}/customer-message", json={"message": "Thanks"}))
    assert answer["author"] == conversation["author"]
    bodies = await hooks.wait_for(3)
    assert [body["Events"][0]["Message"]["Message"] for body in bodies[1:]] == ["How can I help?", "Thanks"]
    error(await client.post("/_sandbox/conversations/999/customer-message", json={"message": "x"}), 404, 20)


async def test_webhook_delivery_failure_is_logged_and_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        raise httpx.ConnectError("connection refused", request=request)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as hook_client,
        sandbox_client(webhook_url="http://hooks.invalid/in", webhook_client=hook_client) as client,
    ):
        await login(client)
        with caplog.at_level(logging.WARNING, logger="sandboxes.socialboards"):
            assert (await client.post(CONVERSATIONS, json=SEED_CREATE_BODY)).status_code == 200
            for _ in range(100):
                if caplog.records:
                    break
                await asyncio.sleep(0.005)
    assert attempts == ["http://hooks.invalid/in"]
    assert "conversation_created" in caplog.records[0].getMessage()


# -- prefix, clock, demo data ----------------------------------------------------------------------


async def test_prefix_roots_the_api_and_token_answers_at_both_places() -> None:
    async with sandbox_client(prefix="/v2/") as client:
        await login(client, "/v2/token")
        assert (await client.post("/token", data=TOKEN_FORM)).status_code == 200
        assert data(await client.post("/v2/chat/conversations", json=SEED_CREATE_BODY))["id"] == 254626
        error(await client.post(CONVERSATIONS, json=SEED_CREATE_BODY), 404, 21)


async def test_clock_endpoint_reports_and_advances_time(api: httpx.AsyncClient) -> None:
    assert (await api.get("/_sandbox/clock")).json() == {"now": T0_TEXT}
    moved = await api.post("/_sandbox/clock", json={"advanceSeconds": 3600})
    assert moved.json() == {"now": "2024-03-01T13:00:00.0000000+00:00"}
    refused = await api.post("/_sandbox/clock", json={"advanceSeconds": -1})
    assert refused.status_code == 400 and "advanceSeconds" in refused.json()["error"]


async def demo_snapshot(seed: int) -> list[Json]:
    async with sandbox_client(demo_conversations=12, seed=seed) as client:
        await login(client)
        tickets = data(await client.post("/tickets/list", json={"take": 50, "orderBy": "creation_time_asc"}))
        return [await fetch(client, ticket["id"], includeMessages="true") for ticket in tickets]


async def test_demo_conversations_are_deterministic_and_varied() -> None:
    first, again, other = await demo_snapshot(7), await demo_snapshot(7), await demo_snapshot(8)
    assert first == again and first != other
    assert len(first) == 12 and all(2 <= item["totalMessagesCount"] <= 15 for item in first)
    states = {
        "closed"
        if item["isClosed"]
        else "bot"
        if not item["isTakeoverEnabled"]
        else "queued"
        if item["queuePositionInfo"]["position"] > 0
        else "handled"
        for item in first
    }
    assert states == {"closed", "bot", "queued", "handled"}
    queued = sorted(
        item["queuePositionInfo"]["position"] for item in first if item["queuePositionInfo"]["position"] > 0
    )
    assert queued == list(range(1, len(queued) + 1))
    statuses = {m["author"]["status"] for item in first for m in item["messages"]}
    assert statuses == {"client", "agent"}
    assert any(item["feedback"] for item in first) and any(item["fields"] for item in first)
    assert all(item["creationTime"] < T0_TEXT and item["creationTime"] > "2024-02-16" for item in first)
