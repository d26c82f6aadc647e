"""The CleverTap-style Conversations sandbox, exercised over HTTP the way an adapter would use it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandboxes.clevertap.app import create_app

from .helpers import WebhookReceiver, advance_clock

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0_TS = int(T0.timestamp())
HOUR, DAY = 3600, 86400
HEADERS = {"X-CleverTap-Account-Id": "SANDBOX-ACCOUNT", "X-CleverTap-Passcode": "sandbox-passcode"}
SPRING, ORDERS, FLIGHTS = 1700000101, 1700000102, 1700000103  # default campaigns
ASHA, BEN, CHEN = "asha.rao@example.com", "ben.okafor@example.com", "chen.wei@example.com"  # Agents
DANA, ELI = "dana.kim@example.com", "eli.novak@example.com"  # Admin, Member
LIST, ONE, MESSAGES = "/1/conversations.json", "/1/conversation.json", "/1/conversation/messages.json"
CLAIM, REPLY, STATUS = "/1/conversation/claim.json", "/1/conversation/reply.json", "/1/conversation/ticket_status.json"
INBOUND = "/1/conversation/inbound.json"
RECORD_KEYS = {
    "id", "identity", "objectId", "user_name", "campaign_id", "campaign_name", "labels", "channel", "ticket_status",
    "state", "agent", "last_message", "last_user_reply_ts", "created_ts", "updated_ts", "message_count",
}  # fmt: skip
Json = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------------


@asynccontextmanager
async def sandbox_client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    options.setdefault("clock", lambda: T0)
    transport = httpx.ASGITransport(app=create_app(**options))
    async with httpx.AsyncClient(transport=transport, base_url="http://ct", headers=HEADERS) as client:
        yield client


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as client:
        yield client


def ok(response: httpx.Response) -> Json:
    assert response.status_code == 200, response.text
    body: Json = response.json()
    assert body["status"] == "success"
    return body


def failed(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "fail" and body["code"] == status and set(body) == {"status", "error", "code"}
    text: str = body["error"]
    return text


async def inbound(client: httpx.AsyncClient, identity: str, text: str = "Hi!", **extra: Any) -> Json:
    body = {"identity": identity, "campaign_id": SPRING, "text": text, **extra}
    record: Json = ok(await client.post(INBOUND, json=body))["record"]
    return record


async def fetch(client: httpx.AsyncClient, conversation_id: str) -> Json:
    record: Json = ok(await client.get(ONE, params={"id": conversation_id}))["record"]
    return record


async def listing(client: httpx.AsyncClient, body: Json | None = None, batch_size: int = 100) -> list[Json]:
    """Every record of a listing, walking the cursors; checks the last page has no next_cursor."""
    cursor = ok(await client.post(LIST, params={"batch_size": batch_size}, json=body or {}))["cursor"]
    records: list[Json] = []
    while cursor is not None:
        page = ok(await client.get(LIST, params={"cursor": cursor}))
        assert len(page["records"]) <= batch_size
        records += page["records"]
        cursor = page.get("next_cursor")
    return records


async def ids(client: httpx.AsyncClient, body: Json | None = None) -> list[str]:
    return [record["user_name"] for record in await listing(client, body)]


async def claim(client: httpx.AsyncClient, conversation_id: str, email: str) -> httpx.Response:
    return await client.post(CLAIM, json={"id": conversation_id, "agent": {"email": email}})


async def reply(client: httpx.AsyncClient, conversation_id: str, email: str, text: str = "Hello!") -> httpx.Response:
    body = {"id": conversation_id, "agent": {"email": email}, "message": {"type": "text", "text": text}}
    return await client.post(REPLY, json=body)


async def set_status(client: httpx.AsyncClient, conversation_id: str, status: str, **extra: Any) -> httpx.Response:
    return await client.post(STATUS, json={"id": conversation_id, "ticket_status": status, **extra})


# -- auth, envelope, routing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {**HEADERS, "X-CleverTap-Passcode": "guess"}, {**HEADERS, "X-CleverTap-Account-Id": "OTHER-ACCOUNT"}],
)
async def test_missing_or_wrong_credentials_are_401_invalid_credentials(headers: dict[str, str]) -> None:
    async with sandbox_client(account_id="948-4KK-444Z", passcode="p4ss") as client:
        client.headers.clear()
        assert failed(await client.post(LIST, json={}, headers=headers), 401) == "Invalid credentials"
        good = {"X-CleverTap-Account-Id": "948-4KK-444Z", "X-CleverTap-Passcode": "p4ss"}
        ok(await client.post(LIST, json={}, headers=good))


async def test_unknown_path_is_404_and_wrong_method_is_405_in_the_fail_envelope(api: httpx.AsyncClient) -> None:
    assert "/1/profiles.json" in failed(await api.get("/1/profiles.json"), 404)
    response = await api.delete(LIST)
    assert "DELETE" in failed(response, 405)
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
    failed(await api.get(REPLY), 405)


async def test_bad_json_unknown_keys_and_wrong_types_are_400_naming_the_field(api: httpx.AsyncClient) -> None:
    assert "not valid JSON" in failed(await api.post(LIST, content=b"{nope"), 400)
    assert "ticketStatus" in failed(await api.post(LIST, json={"ticketStatus": ["New"]}), 400)
    assert "body.state" in failed(await api.post(LIST, json={"state": "open"}), 400)
    assert "body.campaign" in failed(await api.post(LIST, json={"campaign": SPRING}), 400)
    assert "body.sort_by" in failed(await api.post(LIST, json={"sort_by": "ts"}), 400)
    assert "body.ticket_status" in failed(await api.post(LIST, json={"ticket_status": []}), 400)
    assert "body.campaign_id" in failed(await api.post(INBOUND, json={"identity": "u1", "text": "x"}), 400)
    assert "query id" in failed(await api.get(ONE), 400)


# -- inbound replies and records -------------------------------------------------------------------


async def test_inbound_reply_creates_a_conversation_with_the_documented_record(api: httpx.AsyncClient) -> None:
    body = ok(await api.post(INBOUND, json={"identity": "ann@example.com", "campaign_id": SPRING, "text": "Hi!"}))
    record, message = body["record"], body["message"]
    assert set(record) == RECORD_KEYS and re.fullmatch(r"cv_[0-9A-HJKMNP-TV-Z]{26}", record["id"])
    assert record["identity"] == "ann@example.com" and record["objectId"]
    assert (record["campaign_id"], record["campaign_name"]) == (SPRING, "Spring Sale")
    assert (record["labels"], record["channel"]) == (["promo", "seasonal"], "whatsapp")
    assert (record["ticket_status"], record["state"], record["agent"]) == ("New", "active", None)
    assert record["message_count"] == 1
    assert record["last_message"] == {"id": message["id"], "text": "Hi!", "ts": T0_TS, "direction": "inbound"}
    assert record["created_ts"] == record["updated_ts"] == record["last_user_reply_ts"] == T0_TS
    assert message == {
        "id": message["id"], "conversation_id": record["id"], "direction": "inbound", "type": "text",
        "text": "Hi!", "ts": T0_TS, "agent": None,
    }  # fmt: skip
    assert await fetch(api, record["id"]) == record


async def test_a_user_reply_sets_new_whatever_the_status_and_restarts_the_window(api: httpx.AsyncClient) -> None:
    first = await inbound(api, "ann@example.com")
    for status in ("Pending", "Closed"):
        ok(await set_status(api, first["id"], status))
        await advance_clock(api, 25 * HOUR)
        assert (await fetch(api, first["id"]))["state"] == "inactive"
        again = await inbound(api, "ann@example.com", "Me again")
        assert again["id"] == first["id"]  # one conversation per identity
        assert (again["ticket_status"], again["state"]) == ("New", "active")
        assert again["last_user_reply_ts"] == again["last_message"]["ts"] > first["last_user_reply_ts"]
    assert (await fetch(api, first["id"]))["message_count"] == 3


async def test_a_reply_to_another_campaign_moves_the_campaign_fields(api: httpx.AsyncClient) -> None:
    first = await inbound(api, "ann@example.com", user_name="Ann")
    moved = await inbound(api, "ann@example.com", campaign_id=FLIGHTS, user_name="Ann Lee")
    assert moved["id"] == first["id"]
    assert (moved["campaign_id"], moved["campaign_name"], moved["channel"]) == (FLIGHTS, "Flight Reminders", "sms")
    assert (moved["labels"], moved["user_name"]) == (["transactional", "travel"], "Ann Lee")


async def test_inbound_checks_campaign_and_ts_and_accepts_a_back_dated_reply(api: httpx.AsyncClient) -> None:
    assert "Campaign 42" in failed(await api.post(INBOUND, json={"identity": "a", "campaign_id": 42, "text": "x"}), 404)
    future = {"identity": "a", "campaign_id": SPRING, "text": "x", "ts": T0_TS + 1}
    assert "body.ts" in failed(await api.post(INBOUND, json=future), 400)
    old = await inbound(api, "bob@example.com", "Yesterday", ts=T0_TS - DAY)
    assert (old["created_ts"], old["last_user_reply_ts"], old["state"]) == (T0_TS - DAY, T0_TS - DAY, "inactive")


# -- the 24-hour window and the 15-day listing -----------------------------------------------------


async def test_state_turns_inactive_exactly_24_hours_after_the_last_user_reply(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    await advance_clock(api, DAY - 1)
    assert (await fetch(api, conversation["id"]))["state"] == "active"
    assert await ids(api, {"state": "active"}) == ["ann@example.com"]
    await advance_clock(api, 1)
    assert (await fetch(api, conversation["id"]))["state"] == "inactive"
    assert await ids(api, {"state": "active"}) == [] and await ids(api, {"state": "inactive"}) == ["ann@example.com"]


async def test_listings_hide_conversations_older_than_15_days_but_get_still_finds_them(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    await advance_clock(api, 15 * DAY)
    assert await ids(api) == ["ann@example.com"]
    await advance_clock(api, 1)
    assert await ids(api) == [] and await ids(api, {"state": "inactive"}) == []
    assert (await fetch(api, conversation["id"]))["state"] == "inactive"
    await inbound(api, "ann@example.com")
    assert await ids(api) == ["ann@example.com"]  # a new reply brings it back


async def test_a_reply_outside_the_24_hour_window_is_422_and_claims_nothing(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    await advance_clock(api, DAY)
    text = failed(await reply(api, conversation["id"], ASHA), 422)
    assert text == "Conversation is inactive: the 24-hour reply window has closed"
    after = await fetch(api, conversation["id"])
    assert (after["agent"], after["message_count"], after["updated_ts"]) == (None, 1, conversation["updated_ts"])


# -- ownership -------------------------------------------------------------------------------------


async def test_first_agent_wins_and_later_agents_get_409(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    claimed = ok(await claim(api, conversation["id"], ASHA))["record"]
    assert claimed["agent"] == {"id": "u_1001", "email": ASHA, "name": "Asha Rao"}
    assert failed(await claim(api, conversation["id"], BEN), 409) == "Conversation is handled by another agent"
    assert failed(await reply(api, conversation["id"], DANA), 409) == "Conversation is handled by another agent"
    again = ok(await claim(api, conversation["id"], ASHA.upper()))["record"]
    assert again == claimed  # the owner claiming again changes nothing


async def test_concurrent_claims_have_exactly_one_winner(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    contenders = [ASHA, BEN, CHEN, DANA, BEN, CHEN]
    answers = await asyncio.gather(*(claim(api, conversation["id"], email) for email in contenders))
    winners = [email for email, response in zip(contenders, answers, strict=True) if response.status_code == 200]
    assert len(winners) == 1
    assert sorted(response.status_code for response in answers) == [200, 409, 409, 409, 409, 409]
    assert (await fetch(api, conversation["id"]))["agent"]["email"] == winners[0]


async def test_a_reply_claims_an_unowned_conversation_and_keeps_the_ticket_status(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    ok(await set_status(api, conversation["id"], "Pending"))
    message = ok(await reply(api, conversation["id"], BEN, "How can I help?"))["record"]
    assert re.fullmatch(r"msg_[0-9A-HJKMNP-TV-Z]{26}", message["id"])
    assert (message["direction"], message["type"], message["text"]) == ("outbound", "text", "How can I help?")
    assert message["agent"] == {"id": "u_1002", "email": BEN, "name": "Ben Okafor"}
    after = await fetch(api, conversation["id"])
    assert (after["agent"]["email"], after["ticket_status"], after["message_count"]) == (BEN, "Pending", 2)
    assert after["last_message"] == {"id": message["id"], "text": "How can I help?", "ts": T0_TS, "direction": "outbound"}
    assert after["last_user_reply_ts"] == T0_TS
    failed(await claim(api, conversation["id"], ASHA), 409)
    empty = {"id": conversation["id"], "agent": {"email": BEN}, "message": {"type": "text", "text": "  "}}
    assert "body.message.text" in failed(await api.post(REPLY, json=empty), 400)


async def test_only_agent_and_admin_users_may_claim_or_reply(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    assert "Member" in failed(await claim(api, conversation["id"], ELI), 403)
    assert "nobody@example.com" in failed(await reply(api, conversation["id"], "nobody@example.com"), 403)
    assert "Member" in failed(await set_status(api, conversation["id"], "Closed", agent={"email": ELI}), 403)
    assert (await fetch(api, conversation["id"]))["ticket_status"] == "New"
    assert ok(await claim(api, conversation["id"], DANA))["record"]["agent"]["email"] == DANA  # Admin


async def test_ownership_survives_closing_and_inactivity(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    ok(await claim(api, conversation["id"], ASHA))
    ok(await set_status(api, conversation["id"], "Closed"))
    await advance_clock(api, 3 * DAY)
    failed(await claim(api, conversation["id"], BEN), 409)
    await inbound(api, "ann@example.com")
    failed(await reply(api, conversation["id"], BEN), 409)
    ok(await reply(api, conversation["id"], ASHA))


# -- ticket status and updated_ts ------------------------------------------------------------------


async def test_ticket_status_accepts_exactly_new_pending_and_closed(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    for wrong in ("closed", "Solved", "OPEN"):
        text = failed(await set_status(api, conversation["id"], wrong), 400)
        assert '"New", "Pending", "Closed"' in text
    for status in ("Pending", "Closed", "New"):
        changed = ok(await set_status(api, conversation["id"], status, agent={"email": CHEN}))["record"]
        assert changed["ticket_status"] == status
    failed(await set_status(api, "cv_00000000000000000000000000", "Closed"), 404)


async def test_updated_ts_moves_on_every_change_even_within_one_second(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    seen = [conversation["updated_ts"]]
    seen.append(ok(await claim(api, conversation["id"], ASHA))["record"]["updated_ts"])
    ok(await reply(api, conversation["id"], ASHA))
    seen.append((await fetch(api, conversation["id"]))["updated_ts"])
    seen.append(ok(await set_status(api, conversation["id"], "Closed"))["record"]["updated_ts"])
    seen.append((await inbound(api, "ann@example.com"))["updated_ts"])
    assert seen == sorted(set(seen)) and seen[0] == T0_TS
    unchanged = ok(await set_status(api, conversation["id"], "New"))["record"]["updated_ts"]
    assert unchanged == seen[-1]  # setting the status it already has is no change


# -- listings --------------------------------------------------------------------------------------


async def test_listing_pages_with_two_step_cursors_and_no_next_cursor_on_the_last_page(api: httpx.AsyncClient) -> None:
    for index in range(7):
        await inbound(api, f"user{index}@example.com")
    assert len(await listing(api, batch_size=3)) == 7
    cursor = ok(await api.post(LIST, params={"batch_size": 3}))["cursor"]  # no body at all: no filters
    first = ok(await api.get(LIST, params={"cursor": cursor}))
    assert len(first["records"]) == 3 and first["next_cursor"]
    assert ok(await api.get(LIST, params={"cursor": cursor})) == first  # a cursor can be read again
    second = ok(await api.get(LIST, params={"cursor": first["next_cursor"]}))
    last = ok(await api.get(LIST, params={"cursor": second["next_cursor"]}))
    assert len(last["records"]) == 1 and "next_cursor" not in last
    exact = ok(await api.post(LIST, params={"batch_size": 7}))["cursor"]  # a full last page has none either
    assert "next_cursor" not in ok(await api.get(LIST, params={"cursor": exact}))
    assert len(await listing(api)) == 7  # default batch_size 100


@pytest.mark.parametrize("batch_size", ["5001", "0", "-3", "ten"])
async def test_batch_size_outside_1_to_5000_is_refused(api: httpx.AsyncClient, batch_size: str) -> None:
    assert "batch_size" in failed(await api.post(LIST, params={"batch_size": batch_size}, json={}), 400)
    conversation = await inbound(api, "ann@example.com")
    refused = await api.get(MESSAGES, params={"id": conversation["id"], "batch_size": batch_size})
    assert "batch_size" in failed(refused, 400)
    ok(await api.post(LIST, params={"batch_size": 5000}, json={}))


async def test_a_listing_is_a_snapshot_of_ids_served_as_current_records(api: httpx.AsyncClient) -> None:
    first = await inbound(api, "ann@example.com")
    await inbound(api, "bob@example.com")
    cursor = ok(await api.post(LIST, json={"ticket_status": ["New"]}))["cursor"]
    await inbound(api, "cid@example.com")
    ok(await set_status(api, first["id"], "Closed"))
    records = ok(await api.get(LIST, params={"cursor": cursor}))["records"]
    assert [record["identity"] for record in records] == ["ann@example.com", "bob@example.com"]
    assert records[0]["ticket_status"] == "Closed"


async def test_cursors_expire_an_hour_after_use_and_unknown_ones_are_400(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com")
    cursor = ok(await api.post(LIST, json={}))["cursor"]
    await advance_clock(api, HOUR)
    ok(await api.get(LIST, params={"cursor": cursor}))
    await advance_clock(api, HOUR + 1)
    assert "expired" in failed(await api.get(LIST, params={"cursor": cursor}), 400)
    failed(await api.get(LIST, params={"cursor": "made-up"}), 400)
    failed(await api.get(LIST), 400)
    listing_cursor = ok(await api.post(LIST, json={}))["cursor"]
    failed(await api.get(MESSAGES, params={"cursor": listing_cursor}), 400)  # a cursor of another listing
    messages_cursor = ok(await api.get(MESSAGES, params={"id": conversation["id"]}))["cursor"]
    failed(await api.get(LIST, params={"cursor": messages_cursor}), 400)


async def test_filters_match_as_documented_and_combine_with_and(api: httpx.AsyncClient) -> None:
    await inbound(api, "a@example.com", "Where is my ORDER?", user_name="Ann Lee")
    await inbound(api, "b@example.com", "Can I change my flight?", user_name="Bob Annan", campaign_id=FLIGHTS)
    cid = await inbound(api, "c@example.com", "Thanks", user_name="Cid", campaign_id=ORDERS)
    ok(await set_status(api, cid["id"], "Pending"))
    await advance_clock(api, DAY)
    await inbound(api, "d@example.com", "Is the sale still on?", user_name="Dee")
    assert sorted(await ids(api, {"search": "ann"})) == ["Ann Lee", "Bob Annan"]
    assert await ids(api, {"search": "order"}) == ["Ann Lee"]  # latest message text, case-insensitive
    assert sorted(await ids(api, {"campaign": "spring sale"})) == ["Ann Lee", "Dee"]
    assert await ids(api, {"campaign": str(FLIGHTS)}) == ["Bob Annan"]
    assert sorted(await ids(api, {"label": "TRANSACTIONAL"})) == ["Bob Annan", "Cid"]
    assert await ids(api, {"label": "trans"}) == []  # labels match exactly, not by substring
    assert await ids(api, {"ticket_status": ["Pending"]}) == ["Cid"]
    assert await ids(api, {"state": "active"}) == ["Dee"]
    assert await ids(api, {"label": "promo", "state": "inactive", "search": "a"}) == ["Ann Lee"]
    assert await ids(api, {"campaign": "Spring Sale", "ticket_status": ["Closed", "Pending"]}) == []


async def test_listings_sort_by_updated_or_created_with_ties_by_id(api: httpx.AsyncClient) -> None:
    late = await inbound(api, "late@example.com", ts=T0_TS - HOUR, user_name="late")
    early = await inbound(api, "early@example.com", ts=T0_TS - 2 * HOUR, user_name="early")
    await advance_clock(api, 60)
    ok(await set_status(api, late["id"], "Pending"))  # late is now the most recently updated
    assert await ids(api) == ["late", "early"]
    assert await ids(api, {"sort_by": "updated_ts", "sort_order": "asc"}) == ["early", "late"]
    assert await ids(api, {"sort_by": "created_ts"}) == ["late", "early"]
    assert await ids(api, {"sort_by": "created_ts", "sort_order": "asc"}) == ["early", "late"]
    twins = [await inbound(api, f"twin{n}@example.com", user_name=f"twin{n}") for n in range(3)]
    ordered = [record["id"] for record in await listing(api, {"sort_by": "created_ts", "search": "twin"})]
    assert ordered == sorted(record["id"] for record in twins) and early["created_ts"] < twins[0]["created_ts"]


# -- messages --------------------------------------------------------------------------------------


async def test_messages_page_oldest_first_by_default_or_newest_first(api: httpx.AsyncClient) -> None:
    conversation = await inbound(api, "ann@example.com", "one")
    for author, text in ((ASHA, "two"), (None, "three"), (ASHA, "four")):
        await advance_clock(api, 60)
        if author is None:
            await inbound(api, "ann@example.com", text)
        else:
            ok(await reply(api, conversation["id"], author, text))
    cursor = ok(await api.get(MESSAGES, params={"id": conversation["id"], "batch_size": 3}))["cursor"]
    page = ok(await api.get(MESSAGES, params={"cursor": cursor}))
    assert [m["text"] for m in page["records"]] == ["one", "two", "three"]
    assert [m["direction"] for m in page["records"]] == ["inbound", "outbound", "inbound"]
    rest = ok(await api.get(MESSAGES, params={"cursor": page["next_cursor"]}))
    assert [m["text"] for m in rest["records"]] == ["four"] and "next_cursor" not in rest
    newest = ok(await api.get(MESSAGES, params={"id": conversation["id"], "sort_order": "desc"}))["cursor"]
    assert [m["text"] for m in ok(await api.get(MESSAGES, params={"cursor": newest}))["records"]] == [
        "four", "three", "two", "one",
    ]  # fmt: skip
    failed(await api.get(MESSAGES, params={"id": conversation["id"], "sort_order": "newest"}), 400)


async def test_unknown_conversation_ids_are_404(api: httpx.AsyncClient) -> None:
    missing = "cv_01HZZZZZZZZZZZZZZZZZZZZZZZ"
    assert missing in failed(await api.get(ONE, params={"id": missing}), 404)
    failed(await api.get(MESSAGES, params={"id": missing}), 404)
    failed(await claim(api, missing, ASHA), 404)
    failed(await reply(api, missing, ASHA), 404)


# -- the concurrency limit -------------------------------------------------------------------------


async def test_the_16th_concurrent_request_gets_429_at_once() -> None:
    async with sandbox_client() as client:
        await client.post("/_sandbox/faults", json={"latencyMs": 150, "pathContains": "/1/"})
        answers = await asyncio.gather(*(client.post(LIST, json={}) for _ in range(16)))
        refused = [response for response in answers if response.status_code == 429]
        assert len(refused) == 1 and sum(response.status_code == 200 for response in answers) == 15
        assert refused[0].json() == {"status": "fail", "error": "Too many concurrent requests", "code": 429}
        assert len((await client.get("/_sandbox/requests")).json()["requests"]) == 16  # refused ones are logged
        await client.delete("/_sandbox/faults")
        ok(await client.post(LIST, json={}))  # in-flight count released


@pytest.mark.parametrize(("limit", "expected_refusals"), [(2, 3), (None, 0)])
async def test_max_concurrency_is_configurable_or_off(limit: int | None, expected_refusals: int) -> None:
    async with sandbox_client(max_concurrency=limit) as client:
        await client.post("/_sandbox/faults", json={"latencyMs": 100})
        answers = await asyncio.gather(*(client.get(ONE, params={"id": "x"}) for _ in range(5)))
        assert sum(response.status_code == 429 for response in answers) == expected_refusals
        assert all(response.status_code in (404, 429) for response in answers)


# -- events ----------------------------------------------------------------------------------------


async def test_events_are_posted_in_order_with_the_account_header() -> None:
    hooks = WebhookReceiver("/events")
    async with (
        hooks.client() as hook_client,
        sandbox_client(webhook_url="http://hooks/events", webhook_client=hook_client) as client,
    ):
        body = ok(await client.post(INBOUND, json={"identity": "ann@example.com", "campaign_id": SPRING, "text": "Hi"}))
        conversation_id = body["record"]["id"]
        ok(await reply(client, conversation_id, ASHA))  # claims implicitly
        ok(await claim(client, conversation_id, ASHA))  # already the owner: no event
        ok(await set_status(client, conversation_id, "Closed"))
        ok(await set_status(client, conversation_id, "Closed"))  # unchanged: no event
        events = await hooks.wait_for(3)
        await asyncio.sleep(0.02)
    assert [event["event"] for event in events] == [
        "conversation.user_replied", "conversation.claimed", "conversation.ticket_status_changed",
    ]  # fmt: skip
    assert [headers.get("x-clevertap-account-id") for headers in hooks.headers] == ["SANDBOX-ACCOUNT"] * 3
    assert events[0] == {
        "event": "conversation.user_replied", "ts": T0_TS, "record": body["record"], "message": body["message"],
    }  # fmt: skip
    assert events[1]["record"]["agent"]["email"] == ASHA and "message" not in events[1]
    assert events[2]["record"]["ticket_status"] == "Closed" and set(events[2]) == {"event", "ts", "record"}


async def test_event_delivery_failure_is_logged_and_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        raise httpx.ConnectError("connection refused", request=request)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as hook_client,
        sandbox_client(webhook_url="http://hooks.invalid/in", webhook_client=hook_client) as client,
    ):
        with caplog.at_level(logging.WARNING, logger="sandboxes.clevertap"):
            await inbound(client, "ann@example.com")
            for _ in range(100):
                if caplog.records:
                    break
                await asyncio.sleep(0.005)
    assert attempts == ["http://hooks.invalid/in"]
    assert "conversation.user_replied" in caplog.records[0].getMessage()


# -- faults, the request log, the clock ------------------------------------------------------------


async def test_injected_faults_answer_in_the_fail_envelope_or_as_the_kit_documents(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"status": 429, "retryAfter": 7, "times": 1})
    await api.post("/_sandbox/faults", json={"status": 500, "times": 1})
    await api.post("/_sandbox/faults", json={"status": 503, "times": 1})
    await api.post("/_sandbox/faults", json={"malformed": True, "times": 1})
    limited = await api.post(LIST, json={})
    assert failed(limited, 429) == "injected fault: HTTP 429" and limited.headers["retry-after"] == "7"
    assert failed(await api.post(LIST, json={}), 500) == "injected fault: HTTP 500"
    unavailable = await api.post(LIST, json={})
    assert unavailable.status_code == 503 and unavailable.headers["content-type"].startswith("text/html")
    malformed = await api.post(LIST, json={})
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    ok(await api.post(LIST, json={}))


async def test_faults_match_by_path_and_hit_even_unauthenticated_calls() -> None:
    async with sandbox_client() as client:
        await client.post("/_sandbox/faults", json={"status": 404, "pathContains": "/claim.json", "times": 1})
        ok(await client.post(LIST, json={}))
        failed(await client.post(CLAIM, json={}, headers={"X-CleverTap-Passcode": "wrong"}), 404)
        failed(await client.post(CLAIM, json={}, headers={"X-CleverTap-Passcode": "wrong"}), 401)


async def test_request_log_records_api_calls_with_query_and_body_but_not_controls(api: httpx.AsyncClient) -> None:
    await api.post(LIST, params={"batch_size": 10}, json={"search": "ann"})
    await api.get(ONE, params={"id": "x"}, headers={"X-CleverTap-Passcode": "wrong"})
    await api.get("/_sandbox/clock")
    log = (await api.get("/_sandbox/requests")).json()["requests"]
    assert log == [
        {"method": "POST", "path": LIST, "query": {"batch_size": "10"}, "body": {"search": "ann"}},
        {"method": "GET", "path": ONE, "query": {"id": "x"}, "body": None},
    ]
    assert (await api.delete("/_sandbox/requests")).json() == {"requests": []}


async def test_clock_control_reports_and_moves_the_sandbox_clock(api: httpx.AsyncClient) -> None:
    assert (await api.get("/_sandbox/clock")).json() == {"now": "2024-03-01T12:00:00.000Z"}
    await advance_clock(api, 90)
    assert (await inbound(api, "ann@example.com"))["created_ts"] == T0_TS + 90


# -- configuration and demo data -------------------------------------------------------------------


async def test_custom_agents_and_campaigns_replace_the_defaults() -> None:
    agents = [{"id": "a1", "email": "sam@acme.test", "name": "Sam", "role": "Agent"}]
    campaigns = [{"id": 7, "name": "Welcome", "labels": ["onboarding"], "channel": "WhatsApp"}]
    async with sandbox_client(agents=agents, campaigns=campaigns) as client:
        record = ok(await client.post(INBOUND, json={"identity": "u", "campaign_id": 7, "text": "hi"}))["record"]
        assert (record["campaign_name"], record["labels"], record["channel"]) == ("Welcome", ["onboarding"], "whatsapp")
        assert ok(await claim(client, record["id"], "sam@acme.test"))["record"]["agent"]["id"] == "a1"
        failed(await client.post(INBOUND, json={"identity": "u", "campaign_id": SPRING, "text": "hi"}), 404)
        failed(await claim(client, record["id"], ASHA), 403)
    with pytest.raises(ValueError, match="role 'Owner'"):
        create_app(agents=[{"email": "x@acme.test", "name": "X", "role": "Owner"}])


async def demo_records(seed: int, count: int = 24) -> tuple[list[Json], list[Json]]:
    """(every demo conversation by id, the default listing) for a sandbox seeded with ``seed``."""
    app = create_app(demo_conversations=count, seed=seed, clock=lambda: T0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ct", headers=HEADERS) as client:
        every = [await fetch(client, conversation_id) for conversation_id in app.state.sandbox.conversations]
        return every, await listing(client)


async def test_demo_conversations_are_deterministic_by_seed_and_varied() -> None:
    (every, listed), (again, _), (other, _) = await demo_records(7), await demo_records(7), await demo_records(8)
    assert every == again and every != other
    assert len(every) == 24 and 0 < len(listed) < 24  # some are older than 15 days: hidden
    hidden = [record for record in every if T0_TS - record["last_user_reply_ts"] > 15 * DAY]
    assert len(listed) == 24 - len(hidden) and hidden
    assert {record["state"] for record in listed} == {"active", "inactive"}
    assert {record["ticket_status"] for record in every} == {"New", "Pending", "Closed"}
    assert any(record["agent"] for record in every) and any(record["agent"] is None for record in every)
    assert len({record["campaign_name"] for record in every}) >= 3 and len({r["identity"] for r in every}) == 24
    assert {record["last_message"]["direction"] for record in every} == {"inbound", "outbound"}
    assert all(r["created_ts"] <= r["last_user_reply_ts"] <= r["updated_ts"] <= T0_TS for r in every)
    awaiting_answer = [r for r in every if r["last_message"]["direction"] == "inbound" and r["agent"] is not None]
    assert all(record["ticket_status"] == "New" for record in awaiting_answer)  # a user reply always makes it New


async def test_a_fresh_sandbox_has_no_conversations_by_default(api: httpx.AsyncClient) -> None:
    assert await listing(api) == []
