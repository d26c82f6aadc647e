"""The CleverTap adapter against a mock vendor written here from the project's API design
(docs/clevertap-api.md): headers, the two-step cursor, filters, writes, errors, 429 and concurrency."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers import (
    Capability,
    Channel,
    ConflictError,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    InvalidRequestError,
    MalformedResponseError,
    NewConversation,
    NewMessage,
    NotFoundError,
    ParticipantInput,
    Priority,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    Role,
    SortOrder,
    UnsupportedOperationError,
)
from providers import _retry
from providers.clevertap.provider import CleverTapProvider

BASE = "https://eu1.api.clevertap.com/"
ACCOUNT, PASSCODE = "TEST-ACC-0001", "test-passcode"
ANA, BEN, MAX = "ana@shop.example", "ben@shop.example", "max@shop.example"
ALL = ConversationFilter()
NOW = 1717243200
FIXTURES = Path(__file__).parent / "fixtures" / "clevertap"
ERRORS = json.loads((FIXTURES / "claim-conflict.json").read_text()), json.loads((FIXTURES / "reply-inactive.json").read_text())


def fail(status: int, error: str) -> httpx.Response:
    return httpx.Response(status, json={"status": "fail", "error": error, "code": status})


def ok(**payload: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", **payload})


@dataclass
class FakeCleverTap:
    """Just enough of the API: records, snapshots behind cursors, claims, replies, ticket status."""

    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=lambda: {ANA: "Agent", BEN: "Agent", MAX: "Member"})
    requests: list[httpx.Request] = field(default_factory=list)
    scripted: list[httpx.Response] = field(default_factory=list)  # answered first, in order
    snapshots: dict[str, tuple[list[str], int, int, str]] = field(default_factory=dict)  # ids, start, size, kind
    latency: float = 0.0
    in_flight: int = 0
    peak: int = 0
    _ids: itertools.count = field(default_factory=itertools.count)

    def add(self, count: int, **fields: Any) -> list[str]:
        ids = []
        for _ in range(count):
            n = next(self._ids)
            cid = f"cv_{n:026d}"
            self.conversations[cid] = {
                "id": cid, "identity": f"user-{n}", "objectId": f"__obj{n}", "user_name": f"User {n}",
                "campaign_id": 100, "campaign_name": "Diwali Flash Sale", "labels": ["festive"],
                "channel": "whatsapp", "ticket_status": "New", "state": "active", "agent": None,
                "last_message": {"text": f"hello {n}", "ts": NOW + n, "direction": "inbound"},
                "last_user_reply_ts": NOW + n, "created_ts": NOW + n, "updated_ts": NOW + n, "message_count": 1,
                **fields,
            }
            self.messages[cid] = []
            ids.append(cid)
        return ids

    def calls(self, path: str, method: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path and (method is None or r.method == method)]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            if self.scripted:
                return self.scripted.pop(0)
            credentials = request.headers.get("X-CleverTap-Account-Id"), request.headers.get("X-CleverTap-Passcode")
            if credentials != (ACCOUNT, PASSCODE):
                return fail(401, "Invalid credentials")
            return self._route(request)
        finally:
            self.in_flight -= 1

    def _route(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        body = json.loads(request.content) if request.content else {}
        if path == "/1/conversations.json" and request.method == "POST":
            return self._open(self._select(body), int(params["batch_size"]), "conversations")
        if path in ("/1/conversations.json", "/1/conversation/messages.json") and "cursor" in params:
            return self._page(params["cursor"])
        if path == "/1/conversation/messages.json":
            if params["id"] not in self.messages:
                return fail(404, "Conversation not found")
            newest_first = params.get("sort_order") == "desc"
            rows = sorted(self.messages[params["id"]], key=lambda m: (m["ts"], m["id"]), reverse=newest_first)
            return self._open([m["id"] for m in rows], int(params["batch_size"]), "messages")
        cid = params.get("id") if request.method == "GET" else body.get("id")
        record = self.conversations.get(cid)
        if record is None:
            return fail(404, "Conversation not found")
        if path == "/1/conversation.json":
            return ok(record=record)
        if path == "/1/conversation/ticket_status.json":
            if body["ticket_status"] not in ("New", "Pending", "Closed"):
                return fail(400, "ticket_status must be one of New, Pending, Closed")
            record["ticket_status"] = body["ticket_status"]
            return ok(record=record)
        email = body["agent"]["email"]
        if self.agents.get(email) not in ("Agent", "Admin"):
            return fail(403, f"User {email} does not have the Agent or Admin role")
        if record["agent"] is not None and record["agent"]["email"] != email:
            return fail(409, "Conversation is handled by another agent")
        record["agent"] = {"id": f"ag_{email.split('@')[0]}", "email": email, "name": email.split("@")[0].title()}
        if path == "/1/conversation/claim.json":
            return ok(record=record)
        if record["state"] != "active":
            return fail(422, "Conversation is inactive: the 24-hour reply window has closed")
        message = {"id": f"msg_{len(self.messages[cid]):04d}", "conversation_id": cid, "direction": "outbound",
                   "type": "text", "text": body["message"]["text"], "ts": NOW + 999, "agent": record["agent"]}
        self.messages[cid].append(message)
        return ok(record=message)

    def _select(self, body: dict[str, Any]) -> list[str]:
        rows = list(self.conversations.values())
        if "ticket_status" in body:
            rows = [r for r in rows if r["ticket_status"] in body["ticket_status"]]
        if "label" in body:
            rows = [r for r in rows if body["label"].lower() in (label.lower() for label in r["labels"])]
        if "state" in body:
            rows = [r for r in rows if r["state"] == body["state"]]
        if "search" in body:
            rows = [r for r in rows if body["search"].lower() in r["user_name"].lower()]
        rows.sort(key=lambda r: (r[body.get("sort_by", "updated_ts")], r["id"]), reverse=body.get("sort_order") == "desc")
        return [r["id"] for r in rows]

    def _open(self, ids: list[str], size: int, kind: str) -> httpx.Response:
        if not 1 <= size <= 5000:
            return fail(400, "batch_size must be between 1 and 5000")
        cursor = f"c{len(self.snapshots)}"
        self.snapshots[cursor] = (ids, 0, size, kind)
        return ok(cursor=cursor)

    def _page(self, cursor: str) -> httpx.Response:
        if cursor not in self.snapshots:
            return fail(400, "Unknown or expired cursor")
        ids, start, size, kind = self.snapshots[cursor]
        chunk = ids[start : start + size]
        if kind == "conversations":
            records = [self.conversations[i] for i in chunk]
        else:
            by_id = {m["id"]: m for rows in self.messages.values() for m in rows}
            records = [by_id[i] for i in chunk]
        if start + size >= len(ids):
            return ok(records=records)
        following = f"{cursor}+"
        self.snapshots[following] = (ids, start + size, size, kind)
        return ok(records=records, next_cursor=following)


@pytest.fixture
def vendor() -> FakeCleverTap:
    return FakeCleverTap()


@pytest.fixture
async def http(vendor: FakeCleverTap) -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(1.0, connect=1.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor), base_url=BASE, timeout=timeout) as client:
        yield client


def make(http: httpx.AsyncClient, **kw: Any) -> CleverTapProvider:
    return CleverTapProvider(name="ct", http=http, account_id=ACCOUNT, passcode=PASSCODE, **kw)


@pytest.fixture
def provider(http: httpx.AsyncClient) -> CleverTapProvider:
    return make(http, agent_email=ANA)


async def drain(provider: CleverTapProvider, sizes: list[int], *, filter: ConversationFilter = ALL,
                order: SortOrder = SortOrder.UPDATED_DESC) -> list[str]:
    seen: list[str] = []
    after = None
    for first in itertools.cycle(sizes):
        page = await provider.list_conversations(filter=filter, order=order, first=first, after=after)
        assert len(page.items) <= first and len(page.cursors) == len(page.items)
        seen.extend(c.remote_id for c in page.items)
        if page.next_cursor is None:
            return seen
        after = page.next_cursor
    raise AssertionError("unreachable")


# ---- transport, headers, errors -----------------------------------------------------------------


async def test_every_request_carries_the_account_headers_and_json_content_type(provider, vendor) -> None:
    [cid] = vendor.add(1)
    await provider.get_conversation(cid)
    await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=5, after=None)
    await provider.assign(cid, agent_id=ANA)
    assert len(vendor.requests) == 4
    for request in vendor.requests:
        assert request.url.host == "eu1.api.clevertap.com"
        assert request.headers["X-CleverTap-Account-Id"] == ACCOUNT
        assert request.headers["X-CleverTap-Passcode"] == PASSCODE
        assert request.headers["Content-Type"] == "application/json"
    assert [r.url.path for r in vendor.requests] == [
        "/1/conversation.json", "/1/conversations.json", "/1/conversations.json", "/1/conversation/claim.json",
    ]


async def test_a_wrong_passcode_is_an_auth_error(http, vendor) -> None:
    [cid] = vendor.add(1)
    wrong = CleverTapProvider(name="ct", http=http, account_id=ACCOUNT, passcode="nope")
    with pytest.raises(ProviderAuthError, match="the vendor refused Parley's credentials") as caught:
        await wrong.get_conversation(cid)
    assert caught.value.status_code == 401 and "Invalid credentials" in (caught.value.vendor_message or "")


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, InvalidRequestError), (401, ProviderAuthError), (403, ProviderAuthError), (404, NotFoundError),
     (409, ConflictError), (422, InvalidRequestError), (500, ProviderUnavailableError)],
)
async def test_fail_bodies_become_typed_errors_with_the_vendor_message(provider, vendor, status, error) -> None:
    vendor.scripted = [fail(status, "Something specific went wrong")]
    with pytest.raises(error) as caught:
        await provider.get_conversation("cv_x")
    assert type(caught.value) is error
    assert caught.value.vendor_message == "Something specific went wrong"  # the vendor's text, apart
    assert "Something" not in caught.value.message and caught.value.message.startswith("the vendor")  # Parley's words
    assert (caught.value.status_code, caught.value.vendor_code) == (status, str(status))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "fail", "error": "Conversation is handled by another agent", "code": 409}, ConflictError),
        ({"status": "fail", "error": "No such conversation", "code": 404}, NotFoundError),
        ({"status": "partial", "processed": 0, "unprocessed": [
            {"status": "fail", "code": 523, "error": "Missing identity", "record": "{}"}]}, InvalidRequestError),
        ({"status": "success", "processed": 0, "unprocessed": [
            {"status": "fail", "code": 555, "error": "Miscellaneous server error", "record": "{}"}]}, ProviderUnavailableError),
    ],
)
async def test_failures_inside_an_http_200_body_are_typed_errors(provider, vendor, body, error) -> None:
    vendor.scripted = [httpx.Response(200, json=body)]
    with pytest.raises(error) as caught:
        await provider.get_conversation("cv_x")
    assert type(caught.value) is error and caught.value.vendor_code == str(body.get("code") or body["unprocessed"][0]["code"])


@pytest.mark.parametrize(
    "response",
    [httpx.Response(200, text="<html>oops</html>"), httpx.Response(200, json={"record": {"id": "cv_1"}}),
     httpx.Response(200, json={"status": "success"}), httpx.Response(200, json=["status", "success"])],
)
async def test_a_success_without_the_documented_shape_is_malformed(provider, vendor, response) -> None:
    vendor.scripted = [response]
    with pytest.raises(MalformedResponseError):
        await provider.get_conversation("cv_x")


async def test_an_error_page_that_is_not_json_keeps_its_status(provider, vendor) -> None:
    vendor.scripted = [httpx.Response(403, text="<html>Forbidden</html>")]
    with pytest.raises(ProviderAuthError) as caught:
        await provider.get_conversation("cv_x")
    assert caught.value.status_code == 403


async def test_a_429_without_retry_after_is_retried_after_a_back_off(provider, vendor) -> None:
    [cid] = vendor.add(1)
    vendor.scripted = [fail(429, "Too many concurrent requests"), fail(429, "Too many concurrent requests")]
    started = time.monotonic()
    assert (await provider.get_conversation(cid)).remote_id == cid
    assert time.monotonic() - started <= 0.2 + 0.4 + 0.2  # full jitter: up to 0.2 s, then up to 0.4 s
    assert len(vendor.requests) == 3


async def test_a_write_is_retried_on_429_too_since_the_vendor_did_nothing(provider, vendor) -> None:
    [cid] = vendor.add(1)
    vendor.scripted = [fail(429, "Too many concurrent requests")]
    [message] = await provider.add_messages(cid, [NewMessage(text="On it")])
    assert message.text == "On it" and len(vendor.messages[cid]) == 1


async def test_a_persistent_429_is_rate_limited_without_a_retry_after(provider, vendor, monkeypatch) -> None:
    monkeypatch.setattr(_retry, "BACKOFF_BASE", 0.001)
    vendor.scripted = [fail(429, "Too many concurrent requests")] * 3
    with pytest.raises(RateLimitedError, match="rate limit") as caught:
        await provider.get_conversation("cv_x")
    assert caught.value.retry_after is None and len(vendor.requests) == 3
    assert caught.value.vendor_message == "Too many concurrent requests"


async def test_a_retry_after_longer_than_the_wait_limit_is_handed_to_the_caller(provider, vendor) -> None:
    vendor.scripted = [httpx.Response(429, headers={"Retry-After": "30"}, json={"status": "fail", "error": "busy", "code": 429})]
    with pytest.raises(RateLimitedError) as caught:
        await provider.get_conversation("cv_x")
    assert caught.value.retry_after == 30 and len(vendor.requests) == 1


@pytest.mark.parametrize("limit", [3, 15])
async def test_requests_in_flight_never_exceed_max_concurrency(http, vendor, limit) -> None:
    ids = vendor.add(4)
    vendor.latency = 0.01
    provider = make(http, max_concurrency=limit)
    await asyncio.gather(*(provider.get_conversation(ids[i % 4]) for i in range(40)))
    assert vendor.peak == limit  # reached, never passed


async def test_the_default_limit_is_15_concurrent_requests(http, vendor) -> None:
    [cid] = vendor.add(1)
    vendor.latency = 0.01
    provider = make(http)
    await asyncio.gather(*(provider.get_conversation(cid) for _ in range(30)))
    assert vendor.peak == 15


def test_a_concurrency_below_one_is_refused_at_construction(http) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        make(http, max_concurrency=0)


# ---- reads --------------------------------------------------------------------------------------


async def test_get_maps_the_record_and_an_unknown_id_is_not_found(provider, vendor) -> None:
    [cid] = vendor.add(1, ticket_status="Pending", channel="sms")
    conversation = await provider.get_conversation(cid)
    assert (conversation.remote_id, conversation.status, conversation.channel) == (cid, ConversationStatus.PENDING, Channel.SMS)
    assert vendor.calls("/1/conversation.json")[0].url.params["id"] == cid
    with pytest.raises(NotFoundError) as caught:
        await provider.get_conversation("cv_missing")
    assert "Conversation not found" in (caught.value.vendor_message or "")


async def test_the_first_page_opens_a_listing_with_batch_size_first_then_reads_its_cursor(provider, vendor) -> None:
    vendor.add(5)
    page = await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=2, after=None)
    opened, read = vendor.requests
    assert (opened.method, opened.url.params["batch_size"]) == ("POST", "2")
    assert json.loads(opened.content) == {"sort_by": "updated_ts", "sort_order": "desc"}
    assert (read.method, read.url.params["cursor"]) == ("GET", "c0")
    assert [c.remote_id for c in page.items] == ["cv_00000000000000000000000004", "cv_00000000000000000000000003"]
    assert page.next_cursor is not None and len(page.cursors) == 2


async def test_paging_with_a_changing_first_yields_every_conversation_once_in_order(provider, vendor) -> None:
    ids = vendor.add(23)
    assert await drain(provider, [3, 5, 1, 7, 2]) == ids[::-1]
    assert len(vendor.calls("/1/conversations.json", "POST")) == 1  # one snapshot for the whole walk


async def test_a_page_larger_than_the_batch_spans_several_vendor_batches(provider, vendor) -> None:
    ids = vendor.add(9)
    first = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_ASC, first=2, after=None)
    second = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_ASC, first=5, after=first.next_cursor)
    assert [c.remote_id for c in first.items + second.items] == ids[:7]
    assert len(vendor.calls("/1/conversations.json", "GET")) == 1 + 3  # batches of 2: [2,3] [4,5] [6,7]


async def test_each_item_cursor_resumes_right_after_that_item(provider, vendor) -> None:
    ids = vendor.add(7)
    page = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_ASC, first=3, after=None)
    for index in range(3):
        rest = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_ASC, first=10, after=page.cursors[index])
        assert [c.remote_id for c in rest.items] == ids[index + 1 :]


async def test_native_filters_are_sent_in_the_listing_body(provider, vendor) -> None:
    wanted = ConversationFilter(
        status=(ConversationStatus.PENDING, ConversationStatus.CLOSED), search="user", campaign="100",
        tags=("FESTIVE",), active=True,
    )
    await provider.list_conversations(filter=wanted, order=SortOrder.CREATED_DESC, first=4, after=None)
    [opened] = vendor.calls("/1/conversations.json", "POST")
    assert json.loads(opened.content) == {
        "sort_by": "created_ts", "sort_order": "desc", "ticket_status": ["Pending", "Closed"], "search": "user",
        "campaign": "100", "label": "FESTIVE", "state": "active",
    }
    assert opened.url.params["batch_size"] == "4"


async def test_only_statuses_clevertap_cannot_hold_match_nothing_without_a_call(provider, vendor) -> None:
    vendor.add(3)
    wanted = ConversationFilter(status=(ConversationStatus.OPEN, ConversationStatus.SOLVED))
    page = await provider.list_conversations(filter=wanted, order=SortOrder.UPDATED_DESC, first=5, after=None)
    assert (page.items, page.next_cursor, vendor.requests) == ((), None, [])


async def test_several_tags_and_an_assignee_are_filtered_after_fetching(provider, vendor) -> None:
    vendor.add(4, labels=["spring"])
    tagged = vendor.add(3, labels=["Winter"])
    await provider.assign(tagged[1], agent_id=BEN)
    wanted = ConversationFilter(tags=("winter", "autumn"))
    assert sorted(await drain(provider, [2], filter=wanted)) == tagged
    [opened] = vendor.calls("/1/conversations.json", "POST")
    assert "label" not in json.loads(opened.content) and opened.url.params["batch_size"] == "8"  # 2 x scan factor
    assert await drain(provider, [5], filter=ConversationFilter(assignee_id=BEN)) == [tagged[1]]


async def test_a_page_reads_a_bounded_number_of_batches_when_filtering_after_fetching(provider, vendor) -> None:
    vendor.add(60, channel="sms")
    page = await provider.list_conversations(
        filter=ConversationFilter(channel=(Channel.WHATSAPP,)), order=SortOrder.UPDATED_DESC, first=1, after=None
    )
    assert page.items == () and page.next_cursor is not None
    assert len(vendor.calls("/1/conversations.json", "GET")) == 5


async def test_an_updated_after_bound_ends_the_list_once_records_are_older(provider, vendor) -> None:
    ids = vendor.add(100)
    bound = datetime.fromtimestamp(NOW + 96, UTC)
    wanted = ConversationFilter(updated_after=bound)
    page = await provider.list_conversations(filter=wanted, order=SortOrder.UPDATED_DESC, first=10, after=None)
    assert [c.remote_id for c in page.items] == ids[97:][::-1] and page.next_cursor is None
    assert len(vendor.calls("/1/conversations.json", "GET")) == 1  # of three batches of 40


@pytest.mark.parametrize(
    ("filter", "name"),
    [(ConversationFilter(priority=(Priority.HIGH,)), "filter.priority"),
     (ConversationFilter(queue_ids=("q1",)), "filter.queueId")],
)
async def test_filters_clevertap_cannot_honour_are_refused_naming_them(provider, vendor, filter, name) -> None:
    with pytest.raises(UnsupportedOperationError, match=name) as caught:
        await provider.list_conversations(filter=filter, order=SortOrder.UPDATED_DESC, first=5, after=None)
    assert caught.value.operation == name and vendor.requests == []


async def test_an_expired_vendor_cursor_says_to_start_again(provider, vendor) -> None:
    vendor.add(5)
    page = await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=2, after=None)
    vendor.snapshots.clear()
    with pytest.raises(InvalidRequestError, match="start again from the first page") as caught:
        await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=2, after=page.next_cursor)
    assert caught.value.field == "after"


async def test_a_cursor_of_another_filter_or_order_is_refused(provider, vendor) -> None:
    vendor.add(5)
    page = await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=2, after=None)
    for filter, order in [(ConversationFilter(search="x"), SortOrder.UPDATED_DESC), (ALL, SortOrder.CREATED_ASC)]:
        with pytest.raises(InvalidRequestError, match="cursor belongs to another list"):
            await provider.list_conversations(filter=filter, order=order, first=2, after=page.next_cursor)


async def test_messages_use_the_two_step_cursor_and_newest_first_asks_for_desc(provider, vendor) -> None:
    [cid] = vendor.add(1)
    texts = [f"r{i}" for i in range(5)]
    for i, text in enumerate(texts):
        vendor.messages[cid].append({"id": f"m{i}", "conversation_id": cid, "direction": "inbound", "type": "text",
                                     "text": text, "ts": NOW + i, "agent": None})
    oldest = await provider.list_messages(cid, first=2, after=None)
    rest = await provider.list_messages(cid, first=10, after=oldest.next_cursor)
    assert [m.text for m in oldest.items + rest.items] == texts and rest.next_cursor is None
    opened = vendor.calls("/1/conversation/messages.json")[0]
    assert dict(opened.url.params) == {"id": cid, "batch_size": "2", "sort_order": "asc"}
    newest = await provider.list_messages(cid, first=2, after=None, newest_first=True)
    assert [m.text for m in newest.items] == ["r4", "r3"]
    assert vendor.calls("/1/conversation/messages.json")[-2].url.params["sort_order"] == "desc"
    with pytest.raises(InvalidRequestError, match="cursor"):
        await provider.list_messages(cid, first=2, after=newest.next_cursor)  # a newest-first cursor, read oldest-first


async def test_messages_of_an_unknown_conversation_are_not_found(provider) -> None:
    with pytest.raises(NotFoundError):
        await provider.list_messages("cv_missing", first=5, after=None)


# ---- writes -------------------------------------------------------------------------------------


async def test_first_agent_wins_and_a_second_agent_gets_a_conflict(provider, vendor) -> None:
    [cid] = vendor.add(1)
    claimed = await provider.assign(cid, agent_id=ANA)
    assert claimed.assignee is not None and (claimed.assignee.id, claimed.assignee.role) == (ANA, Role.AGENT)
    assert json.loads(vendor.calls("/1/conversation/claim.json")[0].content) == {"id": cid, "agent": {"email": ANA}}
    assert (await provider.assign(cid, agent_id=ANA)).assignee == claimed.assignee  # the owner again: fine
    with pytest.raises(ConflictError, match="another agent handles this conversation"):
        await provider.assign(cid, agent_id=BEN)


async def test_unassigning_is_refused_before_any_call(provider, vendor) -> None:
    with pytest.raises(InvalidRequestError, match="cannot unassign") as caught:
        await provider.assign("cv_1", agent_id=None)
    assert caught.value.field == "agentId" and vendor.requests == []


async def test_an_agent_without_the_role_is_an_input_error_naming_the_agent(provider, vendor) -> None:
    [cid] = vendor.add(1)
    with pytest.raises(InvalidRequestError, match=f"refused agent '{MAX}'") as caught:
        await provider.assign(cid, agent_id=MAX)
    assert (caught.value.status_code, caught.value.field) == (403, "agentId")
    with pytest.raises(InvalidRequestError, match=f"refused agent '{MAX}'"):
        await provider.add_messages(cid, [NewMessage(text="hi", author=ParticipantInput(email=MAX, role=Role.AGENT))])


async def test_a_reply_is_sent_as_the_author_or_else_the_configured_agent(http, vendor) -> None:
    first, second = vendor.add(2)
    provider = make(http, agent_email=ANA)
    [sent] = await provider.add_messages(first, [NewMessage(text="Hello!")])
    assert json.loads(vendor.calls("/1/conversation/reply.json")[0].content) == {
        "id": first, "agent": {"email": ANA}, "message": {"type": "text", "text": "Hello!"},
    }
    assert sent.author is not None and (sent.author.id, sent.author.role) == (ANA, Role.AGENT)
    by_ben = NewMessage(text="Ben here", author=ParticipantInput(email=BEN, role=Role.AGENT))
    await provider.add_messages(second, [by_ben])
    assert json.loads(vendor.calls("/1/conversation/reply.json")[1].content)["agent"] == {"email": BEN}
    by_id = NewMessage(text="again", author=ParticipantInput(id=BEN, role=Role.AGENT))  # assignee.id is the email
    await provider.add_messages(second, [by_id])
    assert json.loads(vendor.calls("/1/conversation/reply.json")[2].content)["agent"] == {"email": BEN}


async def test_with_no_agent_anywhere_the_error_says_to_configure_agent_email(http, vendor) -> None:
    provider = make(http)
    with pytest.raises(InvalidRequestError, match="configure agent_email") as caught:
        await provider.add_messages("cv_1", [NewMessage(text="Hello!")])
    assert caught.value.field == "author" and vendor.requests == []


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "no messages"),
        ([NewMessage(text="ok"), NewMessage(text="  ")], "message 2 has no text"),
        ([NewMessage(text="a", author=ParticipantInput(email=ANA, role=Role.AGENT)),
          NewMessage(text="b", author=ParticipantInput(email=BEN, role=Role.AGENT))], "one agent at a time"),
        ([NewMessage(text="then", created_at=datetime(2024, 1, 1, tzinfo=UTC))], "stamps a reply with the time it is sent"),
    ],
)
async def test_replies_are_validated_before_anything_is_sent(provider, vendor, messages, match) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        await provider.add_messages("cv_1", messages)
    assert vendor.requests == []


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.BOT, Role.SYSTEM])
async def test_a_message_of_another_role_than_an_agents_is_unsupported_naming_agent(provider, vendor, role: Role) -> None:
    with pytest.raises(UnsupportedOperationError, match=f"a {role.value} message, and ct writes AGENT messages only"):
        await provider.add_messages("cv_1", [NewMessage(text="as Mia", author=ParticipantInput(name="Mia", role=role))])
    assert vendor.requests == []


async def test_a_reply_outside_the_24_hour_window_is_refused_clearly(provider, vendor) -> None:
    [cid] = vendor.add(1, state="inactive")
    with pytest.raises(InvalidRequestError, match="within 24 hours") as caught:
        await provider.add_messages(cid, [NewMessage(text="Still there?")])
    assert caught.value.status_code == 422 and vendor.messages[cid] == []


async def test_a_reply_to_a_conversation_another_agent_holds_is_a_conflict(provider, vendor) -> None:
    [cid] = vendor.add(1)
    await provider.assign(cid, agent_id=BEN)
    vendor.scripted = [httpx.Response(409, json=ERRORS[0])]
    with pytest.raises(ConflictError, match="another agent handles this conversation") as caught:
        await provider.add_messages(cid, [NewMessage(text="Mine now")])
    assert "handled by another agent" in (caught.value.vendor_message or "")


async def test_history_cannot_be_imported(provider, vendor) -> None:
    with pytest.raises(UnsupportedOperationError) as caught:
        await provider.add_messages("cv_1", [NewMessage(text="old")], as_context=True)
    assert caught.value.operation == "addMessages(asContext)" and vendor.requests == []


@pytest.mark.parametrize(
    ("status", "sent"),
    [(ConversationStatus.NEW, "New"), (ConversationStatus.PENDING, "Pending"), (ConversationStatus.CLOSED, "Closed")],
)
async def test_the_three_ticket_statuses_are_written(provider, vendor, status, sent) -> None:
    [cid] = vendor.add(1, ticket_status="Pending" if status is ConversationStatus.NEW else "New")
    updated = await provider.update_conversation(cid, ConversationChanges(status=status))
    assert (updated.status, updated.vendor_status) == (status, sent)
    assert json.loads(vendor.calls("/1/conversation/ticket_status.json")[0].content) == {"id": cid, "ticket_status": sent}


async def test_close_sets_the_ticket_status_closed(provider, vendor) -> None:
    [cid] = vendor.add(1)
    assert (await provider.close(cid)).status is ConversationStatus.CLOSED
    assert vendor.conversations[cid]["ticket_status"] == "Closed"


@pytest.mark.parametrize("status", [ConversationStatus.OPEN, ConversationStatus.SOLVED, ConversationStatus.UNKNOWN])
async def test_other_statuses_are_refused_before_any_call_naming_what_is_accepted(provider, vendor, status) -> None:
    with pytest.raises(InvalidRequestError, match="accepted values: NEW, PENDING, CLOSED") as caught:
        await provider.update_conversation("cv_1", ConversationChanges(status=status))
    assert caught.value.field == "status" and vendor.requests == []


async def test_fields_other_than_the_status_are_refused(provider, vendor) -> None:
    with pytest.raises(InvalidRequestError, match="accepts only: status") as caught:
        await provider.update_conversation("cv_1", ConversationChanges(topic="x", status=ConversationStatus.NEW))
    assert caught.value.field == "topic" and vendor.requests == []


def test_declared_capabilities_and_writable_statuses(provider) -> None:
    assert provider.capabilities == {
        Capability.LIST_CONVERSATIONS, Capability.ADD_MESSAGES, Capability.UPDATE_CONVERSATION, Capability.ASSIGN,
        Capability.CLAIM, Capability.CLOSE, Capability.FILTER_STATUS, Capability.FILTER_SEARCH,
        Capability.FILTER_CAMPAIGN, Capability.FILTER_TAGS, Capability.FILTER_ACTIVE,
    }
    assert provider.writable_statuses == {ConversationStatus.NEW, ConversationStatus.PENDING, ConversationStatus.CLOSED}
    assert provider.updatable_fields == {"status"}


async def test_operations_clevertap_lacks_are_unsupported_without_a_call(provider, vendor) -> None:
    calls = [
        provider.create_conversation(NewConversation(customer=ParticipantInput(name="Mia"))),
        provider.route("cv_1", queue_id=None), provider.add_tags("cv_1", ["vip"]), provider.remove_tags("cv_1", ["vip"]),
        provider.set_bot_active("cv_1", True), provider.set_feedback("cv_1", positive=True, comment=None),
        provider.set_latest_page_url("cv_1", "https://example.test/"), provider.queue_info("cv_1"),
    ]
    for call in calls:
        with pytest.raises(UnsupportedOperationError):
            await call
    assert vendor.requests == []


# ---- events and health --------------------------------------------------------------------------


def test_a_webhook_body_parley_does_not_understand_is_malformed(provider) -> None:
    with pytest.raises(MalformedResponseError, match="webhook body"):
        provider.parse_webhook({"event": "conversation.claimed", "record": None})
    assert provider.parse_webhook({"event": "conversation.deleted", "ts": 1}) == []


async def test_health_is_an_authenticated_call_that_never_raises(http, vendor, monkeypatch) -> None:
    monkeypatch.setattr(_retry, "BACKOFF_BASE", 0.001)
    assert await make(http).check_health() is True  # the probe id is unknown: 404 proves the credentials
    assert vendor.requests[-1].url.path == "/1/conversation.json"
    assert await CleverTapProvider(name="ct", http=http, account_id=ACCOUNT, passcode="nope").check_health() is False
    vendor.scripted = [fail(500, "down")]
    assert await make(http).check_health() is False

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url=BASE) as offline:
        assert await make(offline).check_health() is False
