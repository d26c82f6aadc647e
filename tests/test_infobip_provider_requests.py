"""The Infobip client and provider against `httpx.MockTransport` handlers written from the docs.

`FakeInfobip` is a small Conversations API (docs + docs/infobip.md decisions): enough state to check
what the adapter sends, in which order, and how it reads the answers. It is not the sandbox.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers import _retry
from providers._time import parse_datetime
from providers.cursors import encode_cursor
from providers.errors import (
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
    UnsupportedOperationError,
)
from providers.infobip import mapping
from providers.infobip.client import MAX_SCAN_ROUNDS, Keyset, format_time, to_ms, wire_params
from providers.infobip.provider import HYDRATE_CONCURRENCY, InfobipProvider
from providers.models import (
    Channel,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    NewConversation,
    NewMessage,
    ParticipantInput,
    Priority,
    Role,
    SortOrder,
)

FIXTURES = Path(__file__).parent / "fixtures" / "infobip"
BASE = "https://xyz.api.infobip.com/"
KEY = "test-key"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALL = ConversationFilter()
AGENT = ParticipantInput(name="Ana", role=Role.AGENT)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": "ERROR", "message": message}, headers=headers)


def documented(status: int, name: str) -> httpx.Response:
    """A verbatim error body from the vendor's docs (tests/fixtures/infobip)."""
    return httpx.Response(status, content=(FIXTURES / name).read_bytes(), headers={"content-type": "application/json"})


def platform_error(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"requestError": {"serviceException": {"messageId": code, "text": text}}}, headers=headers
    )


class FakeInfobip:
    """Conversations, messages and tags as the docs describe them; `queue(...)` answers the next
    matching request instead; `requests` is every request seen, in order."""

    def __init__(self) -> None:
        self.conversations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.links: dict[str, list[str]] = {}
        self.account_tags: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.queued: list[tuple[str, str, httpx.Response]] = []
        self.now = T0
        self.ids = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.hidden_precision = timedelta()  # added to row times when filtering: a vendor keeping microseconds

    # -- seeding ----------------------------------------------------------------------------------

    def tick(self) -> str:
        self.now += timedelta(milliseconds=1)
        return stamp(self.now)

    def conversation(self, id: str | None = None, *, at: datetime | None = None, **fields: Any) -> str:
        self.ids += 1
        cid = id or f"c{self.ids:03d}"
        when = stamp(at) if at else self.tick()
        self.conversations[cid] = {
            "id": cid,
            "topic": None,
            "summary": None,
            "status": "OPEN",
            "priority": "NORMAL",
            "queueId": None,
            "agentId": None,
            "createdAt": when,
            "updatedAt": when,
            "channel": "NO_CHANNEL",
            **fields,
        }
        self.messages[cid], self.links[cid] = [], []
        return cid

    def inbound(
        self, cid: str, text: str, *, sender: str = "447700900001", to: str = "447700900999", channel: str = "WHATSAPP"
    ) -> None:
        self.add_message(
            cid, {"from": sender, "to": to, "channel": channel, "direction": "INBOUND", "content": {"text": text}}
        )

    def touch(self, cid: str) -> None:
        self.conversations[cid]["updatedAt"] = self.tick()

    def queue(self, method: str, path: str, response: httpx.Response) -> None:
        self.queued.append((method, path, response))

    def seen(self, method: str | None = None, pattern: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if (method is None or r.method == method) and re.search(pattern, r.url.path)]

    # -- the API ----------------------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self._answer(request)
        finally:
            self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        for item in self.queued:
            if item[0] == method and re.fullmatch(item[1], path):
                self.queued.remove(item)
                return item[2]
        if request.headers.get("authorization") != f"App {KEY}":
            return platform_error(401, "UNAUTHORIZED", "Invalid login details")
        body = None if not request.content else httpx.Response(200, content=request.content).json()
        routes: list[tuple[str, str, Callable[..., httpx.Response]]] = [
            ("GET", r"/ccaas/1/conversations", self._list),
            ("POST", r"/ccaas/1/conversations", self._create),
            ("POST", r"/ccaas/1/tags", self._create_tag),
            ("GET", r"/ccaas/1/conversations/([^/]+)", self._get),
            ("PATCH", r"/ccaas/1/conversations/([^/]+)", self._patch),
            ("PUT", r"/ccaas/1/conversations/([^/]+)", self._patch),
            ("PUT", r"/ccaas/1/conversations/([^/]+)/assignee", self._assign),
            ("DELETE", r"/ccaas/1/conversations/([^/]+)/assignee", self._assign),
            ("POST", r"/ccaas/1/conversations/([^/]+)/route", self._route),
            ("GET", r"/ccaas/1/conversations/([^/]+)/tags", self._tags),
            ("POST", r"/ccaas/1/conversations/([^/]+)/tags", self._link),
            ("DELETE", r"/ccaas/1/conversations/([^/]+)/tags/([^/]+)", self._unlink),
            ("GET", r"/ccaas/1/conversations/([^/]+)/messages", self._list_messages),
            ("POST", r"/ccaas/1/conversations/([^/]+)/messages", self._send),
        ]
        for verb, pattern, route in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                ids = match.groups()
                if ids and ids[0] not in self.conversations:
                    return error(404, f"Invalid id '{ids[0]}' given! No such entity exists.")
                return route(request, body, *ids)
        return error(404, f"no route {method} {path}")

    def _list(self, request: httpx.Request, body: Any) -> httpx.Response:
        q = request.url.params
        rows = list(self.conversations.values())
        for name in ("status", "priority", "agentId"):
            if name in q:
                rows = [r for r in rows if r[name] == q[name]]
        if "conversationIds" in q:
            rows = [r for r in rows if r["id"] in q.get_list("conversationIds")]
        if "queueIds" in q:
            rows = [r for r in rows if r["queueId"] in q.get_list("queueIds")]
        rows = _time_filtered(rows, q, "created", self.hidden_precision)
        rows = _time_filtered(rows, q, "updated", self.hidden_precision)
        return httpx.Response(200, json={"conversations": _paged(rows, q), "pagination": {"totalItems": len(rows)}})

    def _create(self, request: httpx.Request, body: Any) -> httpx.Response:
        return self._get(request, None, self.conversation(**body))

    def _get(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        return httpx.Response(200, json=self.conversations[cid])

    def _patch(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        current = self.conversations[cid]
        if current["status"] == "CLOSED":
            return error(400, f"Conversation '{cid}' is closed and cannot be changed")
        current.update(body)
        self.touch(cid)
        return self._get(request, None, cid)

    def _assign(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        self.conversations[cid]["agentId"] = body["agentId"] if body else None
        self.touch(cid)
        return self._get(request, None, cid)

    def _route(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        self.conversations[cid].update(agentId=None, queueId="q-routing")
        self.touch(cid)
        return self._get(request, None, cid)

    def _tags(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        tags = [{"name": t, "createdAt": stamp(T0), "updatedAt": stamp(T0)} for t in self.links[cid]]
        return httpx.Response(200, json={"tags": tags, "pagination": {"totalItems": len(tags)}})

    def _link(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        name = body["tagName"]
        if name not in self.account_tags:
            return error(404, f"Invalid tagName '{name}' given! No such entity exists.")
        if name not in self.links[cid]:
            self.links[cid].append(name)
        return httpx.Response(200, json={"statusCode": "SUCCESS", "message": "Tag added to conversation successfully."})

    def _unlink(self, request: httpx.Request, body: Any, cid: str, name: str) -> httpx.Response:
        if name not in self.account_tags:
            return error(404, f"Invalid tagName '{name}' given! No such entity exists.")
        self.links[cid] = [t for t in self.links[cid] if t != name]
        return httpx.Response(200, json={"statusCode": "SUCCESS", "message": "Tag removed successfully."})

    def _create_tag(self, request: httpx.Request, body: Any) -> httpx.Response:
        if body["name"] in self.account_tags:
            return error(400, f"Tag '{body['name']}' already exists")
        self.account_tags.add(body["name"])
        return httpx.Response(200, json={"name": body["name"], "createdAt": stamp(T0), "updatedAt": stamp(T0)})

    def _list_messages(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        q = request.url.params
        rows = [m for m in self.messages[cid] if "direction" not in q or m["direction"] == q["direction"]]
        rows = _time_filtered(rows, q, "created", self.hidden_precision)
        return httpx.Response(200, json={"messages": _paged(rows, q), "pagination": {"totalItems": len(rows)}})

    def _send(self, request: httpx.Request, body: Any, cid: str) -> httpx.Response:
        if self.conversations[cid]["status"] == "CLOSED":
            return error(400, f"Conversation '{cid}' is closed and cannot be changed")
        return httpx.Response(200, json=self.add_message(cid, {**body, "direction": "OUTBOUND"}))

    def add_message(self, cid: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        when = self.tick()
        row = {
            "id": f"m{self.ids:03d}",
            "conversationId": cid,
            "createdAt": when,
            "updatedAt": when,
            "contentType": "TEXT",
            **fields,
        }
        self.messages[cid].append(row)
        self.conversations[cid]["updatedAt"] = when
        return row


def _time_filtered(
    rows: list[dict[str, Any]], q: httpx.QueryParams, prefix: str, hidden: timedelta
) -> list[dict[str, Any]]:
    def moment(row: dict[str, Any]) -> datetime:
        return parse_datetime(row[f"{prefix}At"]) + hidden  # type: ignore[operator]

    if f"{prefix}After" in q:
        rows = [r for r in rows if moment(r) > parse_datetime(q[f"{prefix}After"])]  # type: ignore[operator]
    if f"{prefix}Before" in q:
        rows = [r for r in rows if moment(r) < parse_datetime(q[f"{prefix}Before"])]  # type: ignore[operator]
    return rows


def _paged(rows: list[dict[str, Any]], q: httpx.QueryParams) -> list[dict[str, Any]]:
    field, _, direction = q.get("orderBy", "id:asc").partition(":")
    rows = sorted(rows, key=lambda r: r["id"])  # ties by id ascending
    rows.sort(
        key=lambda r: parse_datetime(r[field]) if field.endswith("At") else r[field],
        reverse=direction.lower() == "desc",
    )
    limit, page = int(q.get("limit", 10)), int(q.get("page", 0))
    return rows[page * limit : (page + 1) * limit]


@pytest.fixture
def vendor() -> FakeInfobip:
    return FakeInfobip()


@pytest.fixture
async def http(vendor: FakeInfobip) -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(2.0, connect=1.0)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(vendor.handle), base_url=BASE, timeout=timeout
    ) as client:
        yield client


@pytest.fixture
def provider(http: httpx.AsyncClient) -> InfobipProvider:
    return InfobipProvider(name="ib", http=http, api_key=KEY)


async def list_ids(provider: InfobipProvider, **kw: Any) -> tuple[list[str], str | None]:
    page = await provider.list_conversations(
        **{"filter": ALL, "order": SortOrder.UPDATED_DESC, "first": 10, "after": None, **kw}
    )
    return [c.remote_id for c in page.items], page.next_cursor


# ---- transport and errors -----------------------------------------------------------------------


async def test_every_request_carries_the_app_key_under_the_account_root(provider, vendor) -> None:
    cid = vendor.conversation()
    await provider.get_conversation(cid)
    assert {str(r.url).split("?")[0] for r in vendor.requests} == {
        f"{BASE}ccaas/1/conversations/{cid}",
        f"{BASE}ccaas/1/conversations/{cid}/tags",
        f"{BASE}ccaas/1/conversations/{cid}/messages",
    }
    assert all(
        r.headers["authorization"] == "App test-key" and r.headers["accept"] == "application/json"
        for r in vendor.requests
    )


@pytest.mark.parametrize(
    ("response", "kind", "text"),
    [
        (
            documented(404, "error-invalid-id.json"),
            NotFoundError,
            "Invalid id '573711510E1C002E29679B12C7CB48AE' given!",
        ),
        (
            documented(400, "error-missing-body.json"),
            InvalidRequestError,
            "Required request body is missing or not valid",
        ),
        (documented(401, "error-unauthorized.json"), ProviderAuthError, "Invalid login details"),
        (error(403, "Forbidden for this API key"), ProviderAuthError, "Forbidden"),
        (documented(200, "error-missing-body.json"), InvalidRequestError, "Required request body"),  # ERROR body, 2xx
        (httpx.Response(400, text="<html>bad</html>"), InvalidRequestError, None),
    ],
)
async def test_both_error_shapes_become_typed_errors_with_the_vendor_message(
    provider, vendor, response, kind, text
) -> None:
    vendor.queue("GET", r"/ccaas/1/conversations/c9", response)
    with pytest.raises(kind, match="^ib: the vendor ") as caught:  # Parley's words...
        await provider.get_conversation("c9")
    assert caught.value.status_code == max(response.status_code, 400) and caught.value.provider == "ib"
    said = caught.value.vendor_message  # ... and the vendor's apart
    assert said is None if text is None else text in (said or ""), said


async def test_a_wrong_key_is_an_auth_error_carrying_the_platform_code(http, vendor) -> None:
    cid = vendor.conversation()
    with pytest.raises(ProviderAuthError, match="refused Parley's credentials") as caught:
        await InfobipProvider(name="ib", http=http, api_key="wrong").get_conversation(cid)
    assert (caught.value.status_code, caught.value.vendor_code) == (401, "UNAUTHORIZED")
    assert caught.value.vendor_message == "Invalid login details"
    assert "wrong" not in str(caught.value)


async def test_a_long_retry_after_is_rate_limited_without_waiting(provider, vendor) -> None:
    vendor.queue("GET", r".*/c1", platform_error(429, "TOO_MANY_REQUESTS", "Too many requests", {"Retry-After": "30"}))
    with pytest.raises(RateLimitedError) as caught:
        await provider.get_conversation("c1")
    assert (caught.value.retry_after, caught.value.vendor_code) == (30, "TOO_MANY_REQUESTS")
    assert len(vendor.requests) == 1


async def test_a_short_retry_after_is_waited_for_and_retried(provider, vendor) -> None:
    cid = vendor.conversation()
    vendor.queue(
        "GET", rf".*/{cid}", platform_error(429, "TOO_MANY_REQUESTS", "Too many requests", {"Retry-After": "0"})
    )
    assert (await provider.get_conversation(cid)).remote_id == cid
    assert len(vendor.seen("GET", rf"/{cid}$")) == 2


async def test_a_429_without_retry_after_backs_off_before_retrying_even_a_send(provider, vendor, monkeypatch) -> None:
    monkeypatch.setattr(_retry.random, "uniform", lambda low, high: high)  # the longest wait full jitter may pick
    cid = vendor.conversation()
    vendor.inbound(cid, "hi")
    vendor.queue("POST", r".*/messages", platform_error(429, "TOO_MANY_REQUESTS", "Too many requests"))
    started = time.monotonic()
    [sent] = await provider.add_messages(cid, [NewMessage(text="hello", author=AGENT)])
    posts = vendor.seen("POST", "/messages")
    assert len(posts) == 2 and sent.text == "hello"
    assert time.monotonic() - started >= 2 * _retry.BACKOFF_BASE  # the shared back-off, not an immediate retry


async def test_a_send_is_not_repeated_after_a_5xx_but_a_read_is(provider, vendor) -> None:
    cid = vendor.conversation()
    vendor.inbound(cid, "hi")
    vendor.queue("POST", r".*/messages", httpx.Response(503, text="<html>503</html>"))
    with pytest.raises(ProviderUnavailableError):
        await provider.add_messages(cid, [NewMessage(text="hello", author=AGENT)])
    assert len(vendor.seen("POST", "/messages")) == 1
    vendor.queue("GET", rf".*/{cid}", httpx.Response(503, text="<html>503</html>"))
    assert (await provider.get_conversation(cid)).remote_id == cid


async def test_bodies_not_in_the_documented_shape_are_malformed(provider, vendor) -> None:
    vendor.queue("GET", r".*/c1", httpx.Response(200, content=b'{"conversations": [{"id": "7f3c", "topic": "Ord'))
    with pytest.raises(MalformedResponseError):
        await provider.get_conversation("c1")
    vendor.queue("GET", r"/ccaas/1/conversations", httpx.Response(200, json={"items": []}))
    with pytest.raises(MalformedResponseError, match="conversations"):
        await list_ids(provider)


# ---- listing: parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [({"topic": "no id", "createdAt": "2024-05-01T12:00:00.000+0000", "updatedAt": "2024-05-01T12:00:00.000+0000"}, "a list row without an id"),
     ({"id": "c9", "createdAt": "2024-05-01T12:00:00.000+0000", "updatedAt": "yesterday"}, "list: a row without updatedAt"),
     ("c9", "a list row without an id")],
    ids=["no id", "no sort time", "not an object"],
)
async def test_a_listed_row_without_an_id_or_a_sort_time_is_malformed(provider, vendor, row, message) -> None:
    vendor.queue("GET", r"/ccaas/1/conversations", httpx.Response(200, json={"conversations": [row]}))
    with pytest.raises(MalformedResponseError, match=message):
        await list_ids(provider)
    rows = [row] if not isinstance(row, dict) else [{**row, "updatedAt": None, "createdAt": row["updatedAt"]}]
    vendor.queue("GET", r"/ccaas/1/conversations/c1/messages", httpx.Response(200, json={"messages": rows}))
    with pytest.raises(MalformedResponseError, match=message.replace("updatedAt", "createdAt")):
        await provider.list_messages("c1", first=5, after=None)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (ConversationFilter(status=(ConversationStatus.PENDING,)), [("status", "WAITING")]),
        (ConversationFilter(priority=(Priority.URGENT,)), [("priority", "URGENT")]),
        (ConversationFilter(assignee_id="agent-1"), [("agentId", "agent-1")]),
        (ConversationFilter(queue_ids=("q1", "q2")), [("queueIds", "q1"), ("queueIds", "q2")]),
        (ConversationFilter(remote_ids=("c1", "c2")), [("conversationIds", "c1"), ("conversationIds", "c2")]),
        (ConversationFilter(created_after=T0), [("createdAfter", "2024-05-01T12:00:00.000+0000")]),
        (ConversationFilter(created_before=T0), [("createdBefore", "2024-05-01T12:00:00.000+0000")]),
        (
            ConversationFilter(updated_after=T0 + timedelta(microseconds=1500)),
            [("updatedAfter", "2024-05-01T12:00:00.001+0000")],
        ),
        (
            ConversationFilter(updated_before=T0 + timedelta(microseconds=1500)),
            [("updatedBefore", "2024-05-01T12:00:00.002+0000")],
        ),
    ],
)
async def test_each_filter_infobip_supports_is_sent_as_its_query_parameter(provider, vendor, filter, expected) -> None:
    await list_ids(provider, filter=filter)
    [listing] = vendor.seen("GET", r"/conversations$")
    sent = [(k, v) for k, v in listing.url.params.multi_items() if k not in ("orderBy", "limit", "page")]
    assert sent == expected
    assert "%2B0000" in str(listing.url) or not any("+0000" in v for _, v in expected)


@pytest.mark.parametrize(
    ("order", "order_by"),
    [
        (SortOrder.UPDATED_DESC, "updatedAt:desc"),
        (SortOrder.UPDATED_ASC, "updatedAt:asc"),
        (SortOrder.CREATED_DESC, "createdAt:desc"),
        (SortOrder.CREATED_ASC, "createdAt:asc"),
    ],
)
async def test_each_order_is_sent_as_order_by_and_followed(provider, vendor, order, order_by) -> None:
    first = vendor.conversation()
    second = vendor.conversation()
    vendor.touch(first)  # first: older by creation, newer by update
    expected = {
        SortOrder.UPDATED_DESC: [first, second],
        SortOrder.UPDATED_ASC: [second, first],
        SortOrder.CREATED_DESC: [second, first],
        SortOrder.CREATED_ASC: [first, second],
    }
    assert (await list_ids(provider, order=order))[0] == expected[order]
    assert vendor.seen("GET", r"/conversations$")[0].url.params["orderBy"] == order_by


async def test_a_status_set_infobip_cannot_filter_is_applied_after_fetching(provider, vendor) -> None:
    wanted = [vendor.conversation(status="OPEN"), vendor.conversation(status="SOLVED")]
    vendor.conversation(status="WAITING")
    vendor.conversation(status="ARCHIVED")
    ids, _ = await list_ids(
        provider, filter=ConversationFilter(status=(ConversationStatus.OPEN, ConversationStatus.SOLVED))
    )
    assert sorted(ids) == sorted(wanted)
    assert "status" not in vendor.seen("GET", r"/conversations$")[0].url.params
    unknown, _ = await list_ids(provider, filter=ConversationFilter(status=(ConversationStatus.UNKNOWN,)))
    assert [vendor.conversations[i]["status"] for i in unknown] == ["ARCHIVED"]


async def test_a_status_no_infobip_conversation_has_is_answered_without_a_call(provider, vendor) -> None:
    vendor.conversation()
    assert await list_ids(provider, filter=ConversationFilter(status=(ConversationStatus.NEW,))) == ([], None)
    assert vendor.requests == []


@pytest.mark.parametrize(
    ("filter", "name"),
    [(ConversationFilter(campaign="spring"), "campaign"), (ConversationFilter(active=True), "active")],
)
async def test_filters_infobip_cannot_honour_are_unsupported_before_any_call(provider, vendor, filter, name) -> None:
    with pytest.raises(UnsupportedOperationError, match=f"filter.{name} is not supported") as caught:
        await list_ids(provider, filter=filter)
    assert caught.value.operation == f"filter.{name}" and vendor.requests == []


# ---- listing: keyset paging ---------------------------------------------------------------------


def test_wire_times_have_milliseconds_a_plus0000_offset_and_widen_outwards() -> None:
    moment = datetime(2024, 1, 1, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2024-01-01T01:04:05.678+0000"
    assert wire_params({"updatedAfter": moment, "createdBefore": moment, "queueIds": ["a", "b"]}) == {
        "updatedAfter": "2024-01-01T01:04:05.678+0000",
        "createdBefore": "2024-01-01T01:04:05.679+0000",
        "queueIds": ["a", "b"],
    }
    exact = datetime(2024, 1, 1, 1, 4, 5, 678000, tzinfo=UTC)
    assert wire_params({"createdBefore": exact})["createdBefore"] == "2024-01-01T01:04:05.678+0000"


def test_a_keyset_window_widens_the_exclusive_bound_by_a_millisecond() -> None:
    at = to_ms(datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC))
    newest_first = Keyset("updatedAt", True, at, ["c1"])
    assert newest_first.window({}) == {"updatedBefore": datetime(2024, 5, 1, 12, 0, 0, 251000, tzinfo=UTC)}
    narrower = datetime(2024, 5, 1, 12, 0, 0, 100000, tzinfo=UTC)
    assert newest_first.window({"updatedBefore": narrower}) == {"updatedBefore": narrower}
    oldest_first = Keyset("createdAt", False, at, ["c1"])
    assert oldest_first.window({}) == {"createdAfter": datetime(2024, 5, 1, 12, 0, 0, 249000, tzinfo=UTC)}


def test_a_keyset_passes_rows_before_it_and_rows_read_at_its_key() -> None:
    position = Keyset("updatedAt", True)
    row = {"id": "c1", "updatedAt": "2024-05-01T12:00:00.250+0000"}
    position.advance(row)
    position.advance({"id": "c2", "updatedAt": "2024-05-01T12:00:00.250+0000"})
    assert position.state() == {"t": to_ms(datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)), "ids": ["c1", "c2"]}
    assert position.behind(row) and not position.behind({**row, "id": "c9"})
    newer = {"id": "c7", "updatedAt": "2024-05-01T12:00:00.251+0000"}
    assert position.behind(newer)  # newest first: a newer row sorts before the position
    position.advance({"id": "c3", "updatedAt": "2024-05-01T11:00:00.000+0000"})
    assert position.state()["ids"] == ["c3"]
    with pytest.raises(ValueError, match="ids"):
        Keyset.restore("updatedAt", True, {"t": 5, "ids": []})


async def test_paging_neither_repeats_nor_skips_when_conversations_change_between_pages(provider, vendor) -> None:
    ids = [vendor.conversation() for _ in range(6)]  # newest last
    page1 = await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=2, after=None)
    assert [c.remote_id for c in page1.items] == [ids[5], ids[4]]
    vendor.touch(ids[0])  # an older one changes: it moves to the top
    fresh = vendor.conversation()  # and a new one arrives
    rest, after = [], page1.next_cursor
    for _ in range(10):
        page = await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=2, after=after)
        rest += [c.remote_id for c in page.items]
        if (after := page.next_cursor) is None:
            break
    assert rest == [ids[3], ids[2], ids[1]]  # ids[0] and the new one sort above the window now
    assert fresh not in rest
    second = vendor.seen("GET", r"/conversations$")[1]
    last_read = parse_datetime(vendor.conversations[ids[4]]["updatedAt"])
    assert second.url.params["updatedBefore"] == stamp(last_read + timedelta(milliseconds=1))  # type: ignore[operator]


async def test_conversations_sharing_a_millisecond_are_each_listed_once(provider, vendor) -> None:
    tied = [vendor.conversation(f"t{i}", at=T0) for i in range(5)]
    older = vendor.conversation("old", at=T0 - timedelta(seconds=1))
    seen, after = [], None
    for _ in range(10):
        page = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_DESC, first=2, after=after)
        seen += [c.remote_id for c in page.items]
        if (after := page.next_cursor) is None:
            break
    assert seen == tied + [older]
    assert vendor.seen("GET", r"/conversations$")[1].url.params["createdBefore"] == "2024-05-01T12:00:00.001+0000"


@pytest.mark.parametrize("newest_first", [False, True])
async def test_a_vendor_keeping_finer_times_than_it_shows_still_pages_each_once(provider, vendor, newest_first) -> None:
    vendor.hidden_precision = timedelta(microseconds=500)  # the widened window also returns the previous millisecond
    cid = vendor.conversation()
    for index in range(9):
        vendor.now -= timedelta(microseconds=1000 if index % 3 else 0)  # three messages per millisecond
        vendor.inbound(cid, str(index))
    seen, after = [], None
    for _ in range(10):
        page = await provider.list_messages(cid, first=2, after=after, newest_first=newest_first)
        seen += [m.text for m in page.items]
        if (after := page.next_cursor) is None:
            break
    in_order = sorted(vendor.messages[cid], key=lambda m: m["id"])  # ties by id ascending either way
    in_order.sort(key=lambda m: m["createdAt"], reverse=newest_first)
    assert seen == [m["content"]["text"] for m in in_order]


async def test_an_item_cursor_resumes_right_after_that_item(provider, vendor) -> None:
    ids = [vendor.conversation() for _ in range(5)]
    page = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_ASC, first=5, after=None)
    assert len(page.cursors) == 5 and page.next_cursor is None
    rest = await provider.list_conversations(filter=ALL, order=SortOrder.CREATED_ASC, first=5, after=page.cursors[1])
    assert [c.remote_id for c in rest.items] == ids[2:]


async def test_a_cursor_from_another_provider_list_or_order_is_refused(provider, vendor) -> None:
    cid = vendor.conversation()
    vendor.inbound(cid, "a")
    vendor.inbound(cid, "b")
    listing = await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=1, after=None)
    messages = await provider.list_messages(cid, first=1, after=None)
    foreign = encode_cursor("other", "conversations", o="UPDATED_DESC", t=None, ids=[])
    calls = len(vendor.requests)
    for order, after in (
        (SortOrder.UPDATED_DESC, foreign),
        (SortOrder.UPDATED_DESC, messages.cursors[0]),
        (SortOrder.CREATED_DESC, listing.cursors[0]),
        (SortOrder.UPDATED_DESC, "bm90LWEtY3Vyc29y"),
    ):
        with pytest.raises(InvalidRequestError, match="cursor"):
            await provider.list_conversations(filter=ALL, order=order, first=1, after=after)
    with pytest.raises(InvalidRequestError, match="cursor"):
        await provider.list_messages(cid, first=1, after=listing.cursors[0])
    with pytest.raises(InvalidRequestError, match="cursor"):
        await provider.list_messages("another", first=1, after=messages.cursors[0])
    assert len(vendor.requests) == calls


async def test_a_filter_applied_after_fetching_reads_a_bounded_number_of_vendor_pages(provider, vendor) -> None:
    for _ in range(300):
        vendor.conversation()
    tagged = vendor.conversation(at=T0 - timedelta(days=1))  # the oldest one carries the tag
    vendor.account_tags.add("vip")
    vendor.links[tagged].append("vip")
    page = await provider.list_conversations(
        filter=ConversationFilter(tags=("vip",)), order=SortOrder.UPDATED_DESC, first=5, after=None
    )
    assert page.items == () and page.next_cursor is not None  # a short page that resumes, not a full scan
    assert len(vendor.seen("GET", r"/conversations$")) == MAX_SCAN_ROUNDS
    assert not vendor.seen("GET", "/messages")  # untagged conversations cost one read (their tags)
    found = await provider.list_conversations(
        filter=ConversationFilter(tags=("vip",)), order=SortOrder.UPDATED_DESC, first=5, after=page.next_cursor
    )
    assert [c.remote_id for c in found.items] == [tagged] and found.next_cursor is None


async def test_channel_and_search_are_applied_after_fetching(provider, vendor) -> None:
    sms = vendor.conversation(channel="SMS")
    whatsapp = vendor.conversation(channel="WHATSAPP")
    vendor.inbound(whatsapp, "Where is my REFUND?")
    assert (await list_ids(provider, filter=ConversationFilter(channel=(Channel.SMS,))))[0] == [sms]
    assert (await list_ids(provider, filter=ConversationFilter(search="refund")))[0] == [whatsapp]


async def test_a_listed_conversation_costs_three_concurrent_reads_under_the_semaphore(provider, vendor) -> None:
    for _ in range(12):
        vendor.inbound(vendor.conversation(), "hi")
    vendor.delay = 0.01
    ids, _ = await list_ids(provider, first=12)
    assert len(ids) == 12
    assert len(vendor.requests) == 1 + 3 * 12
    assert 3 * 12 > HYDRATE_CONCURRENCY  # so the limit is what keeps the reads in flight down
    assert 1 < vendor.max_in_flight <= HYDRATE_CONCURRENCY


async def test_get_and_list_give_the_same_conversation_with_its_reads(provider, vendor) -> None:
    cid = vendor.conversation(agentId="agent-1", queueId="q1")
    vendor.inbound(cid, "first", sender="447700900111")
    vendor.inbound(cid, "second", sender="447700900222")
    vendor.account_tags.add("vip")
    vendor.links[cid].append("vip")
    [listed] = (await provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=1, after=None)).items
    got = await provider.get_conversation(cid)
    assert listed == got
    assert got.customer is not None and got.customer.id == "447700900111"
    assert got.tags == ("vip",) and got.message_count == 2
    assert got.last_message is not None and got.last_message.text == "second"
    assert got.last_message_at == got.last_message.created_at


async def test_a_conversation_gone_while_listing_is_left_out(provider, vendor) -> None:
    keep, gone = vendor.conversation(), vendor.conversation()
    vendor.queue("GET", rf".*/{gone}/tags", error(404, f"Invalid id '{gone}' given! No such entity exists."))
    assert (await list_ids(provider))[0] == [keep]


# ---- messages -----------------------------------------------------------------------------------


async def test_messages_page_in_time_order_either_way(provider, vendor) -> None:
    cid = vendor.conversation()
    for text in "abcde":
        vendor.inbound(cid, text)
    for newest_first, expected in ((False, list("abcde")), (True, list("edcba"))):
        seen, after = [], None
        for _ in range(10):
            page = await provider.list_messages(cid, first=2, after=after, newest_first=newest_first)
            seen += [m.text for m in page.items]
            if (after := page.next_cursor) is None:
                break
        assert seen == expected


# ---- writes -------------------------------------------------------------------------------------


async def test_statuses_and_priorities_infobip_has_not_are_refused_before_any_call(provider, vendor) -> None:
    for changes, field in (
        (ConversationChanges(status=ConversationStatus.NEW), "status"),
        (ConversationChanges(status=ConversationStatus.UNKNOWN), "status"),
        (ConversationChanges(priority=Priority.UNKNOWN), "priority"),
        (ConversationChanges(channel=Channel.PUSH), "channel"),
    ):
        with pytest.raises(InvalidRequestError, match="accepted values: ") as caught:
            await provider.update_conversation("c1", changes)
        assert caught.value.field == field
        if field == "status":
            assert caught.value.message.endswith("accepted values: OPEN, PENDING, SOLVED, CLOSED")
    assert vendor.requests == []


async def test_an_update_patches_only_the_changed_fields_in_vendor_values(provider, vendor) -> None:
    cid = vendor.conversation()
    updated = await provider.update_conversation(
        cid, ConversationChanges(status=ConversationStatus.PENDING, queue_id="q7", topic="Refund")
    )
    [patch] = vendor.seen("PATCH")
    assert httpx.Response(200, content=patch.content).json() == {
        "topic": "Refund",
        "status": "WAITING",
        "queueId": "q7",
    }
    assert (updated.status, updated.vendor_status, updated.queue.id, updated.topic) == (
        ConversationStatus.PENDING,
        "WAITING",
        "q7",
        "Refund",
    )  # type: ignore[union-attr]


async def test_an_account_without_patch_gets_a_full_replacement(provider, vendor) -> None:
    cid = vendor.conversation(topic="Kept", agentId="agent-1")
    vendor.queue("PATCH", rf".*/{cid}", error(405, "Request method 'PATCH' not supported"))
    closed = await provider.close(cid)
    [put] = vendor.seen("PUT")
    assert httpx.Response(200, content=put.content).json() == {
        "topic": "Kept",
        "summary": None,
        "status": "CLOSED",
        "priority": "NORMAL",
        "queueId": None,
        "agentId": "agent-1",
        "channel": "NO_CHANNEL",
    }
    assert closed.status is ConversationStatus.CLOSED


@pytest.mark.parametrize(
    ("method", "path", "message", "field"),
    [
        ("PUT", r".*/assignee", "Invalid agentId 'a9' given! No such entity exists.", "agentId"),
        ("PATCH", r"/ccaas/1/conversations/[^/]+", "Invalid queueId 'q9' given! No such entity exists.", "queueId"),
    ],
)
async def test_an_unknown_agent_or_queue_is_bad_input_not_a_missing_conversation(
    provider, vendor, method, path, message, field
) -> None:
    cid = vendor.conversation()
    vendor.queue(method, path, error(404, message))
    with pytest.raises(InvalidRequestError, match=f"the vendor knows no such {field}") as caught:
        if field == "agentId":
            await provider.assign(cid, agent_id="a9")
        else:
            await provider.update_conversation(cid, ConversationChanges(queue_id="q9"))
    assert (caught.value.field, caught.value.status_code, caught.value.vendor_message) == (field, 404, message)


async def test_a_closed_conversation_refusal_carries_the_vendor_message(provider, vendor) -> None:
    cid = vendor.conversation(status="CLOSED")
    with pytest.raises(InvalidRequestError, match="the conversation is closed") as caught:
        await provider.update_conversation(cid, ConversationChanges(topic="x"))
    assert "is closed and cannot be changed" in (caught.value.vendor_message or "")


async def test_assign_and_unassign_use_the_assignee_endpoint(provider, vendor) -> None:
    cid = vendor.conversation()
    assigned = await provider.assign(cid, agent_id="agent-9")
    assert assigned.assignee is not None and assigned.assignee.id == "agent-9"
    assert (await provider.assign(cid, agent_id=None)).assignee is None
    assert [(r.method, r.url.path) for r in vendor.seen(pattern="/assignee")] == [
        ("PUT", f"/ccaas/1/conversations/{cid}/assignee"),
        ("DELETE", f"/ccaas/1/conversations/{cid}/assignee"),
    ]


async def test_route_sets_the_asked_queue_only_when_routing_picked_another(provider, vendor) -> None:
    cid = vendor.conversation(agentId="agent-1")
    routed = await provider.route(cid, queue_id=None)
    assert (routed.assignee, routed.queue.id) == (None, "q-routing")  # type: ignore[union-attr]
    assert not vendor.seen("PATCH")
    assert (await provider.route(cid, queue_id="q-routing")).queue.id == "q-routing"  # type: ignore[union-attr]
    assert not vendor.seen("PATCH")
    moved = await provider.route(cid, queue_id="q-vip")
    [patch] = vendor.seen("PATCH")
    assert httpx.Response(200, content=patch.content).json() == {"queueId": "q-vip"} and moved.queue.id == "q-vip"  # type: ignore[union-attr]
    assert [r.method for r in vendor.requests if "/route" in r.url.path or r.method == "PATCH"][-2:] == [
        "POST",
        "PATCH",
    ]


async def test_a_missing_tag_is_created_in_the_account_then_linked(provider, vendor) -> None:
    cid = vendor.conversation()
    vendor.account_tags.add("billing")
    tagged = await provider.add_tags(cid, ["billing", "vip", "vip"])
    assert tagged.tags == ("billing", "vip")
    writes = [(r.method, r.url.path) for r in vendor.requests if r.method == "POST"]
    link = f"/ccaas/1/conversations/{cid}/tags"
    assert writes == [("POST", link), ("POST", link), ("POST", "/ccaas/1/tags"), ("POST", link)]


async def test_a_tag_created_concurrently_by_someone_else_is_linked_anyway(provider, vendor) -> None:
    cid = vendor.conversation()
    vendor.queue("POST", rf".*/{cid}/tags", documented(404, "error-invalid-tag-name.json"))
    vendor.account_tags.add("vip")  # created by someone else between our link and our create
    assert (await provider.add_tags(cid, ["vip"])).tags == ("vip",)


async def test_without_auto_create_a_missing_tag_is_refused_naming_it(http, vendor) -> None:
    provider = InfobipProvider(name="ib", http=http, api_key=KEY, create_missing_tags=False)
    cid = vendor.conversation()
    with pytest.raises(InvalidRequestError, match="tag 'vip' does not exist") as caught:
        await provider.add_tags(cid, ["vip"])
    assert caught.value.field == "tags" and not vendor.seen("POST", r"/ccaas/1/tags$")
    with pytest.raises(NotFoundError) as missing:
        await provider.add_tags("missing", ["vip"])
    assert "Invalid id" in (missing.value.vendor_message or "")


async def test_removing_a_tag_the_account_lacks_is_a_no_op_but_a_missing_conversation_is_not(provider, vendor) -> None:
    cid = vendor.conversation()
    vendor.account_tags.add("vip")
    vendor.links[cid].append("vip")
    assert (await provider.remove_tags(cid, ["vip", "never-created"])).tags == ()
    assert vendor.seen("DELETE")[0].url.path == f"/ccaas/1/conversations/{cid}/tags/vip"
    with pytest.raises(NotFoundError):
        await provider.remove_tags("missing", ["vip"])


async def test_a_reply_goes_to_the_latest_inbound_sender_on_its_channel(http, vendor) -> None:
    provider = InfobipProvider(name="ib", http=http, api_key=KEY, senders={"viber": "InfoViber"})
    cid = vendor.conversation()
    vendor.inbound(cid, "hi", sender="447700900111", channel="WHATSAPP", to="447700900999")
    vendor.inbound(cid, "there?", sender="447700900222", channel="VIBER", to="viber-bot")
    [reply] = await provider.add_messages(cid, [NewMessage(text="Hello!", author=AGENT)])
    [post] = vendor.seen("POST", "/messages")
    assert httpx.Response(200, content=post.content).json() == {
        "from": "InfoViber",
        "to": "447700900222",
        "channel": "VIBER",
        "contentType": "TEXT",
        "content": {"text": "Hello!"},
    }
    assert (reply.text, reply.author.role, reply.channel) == ("Hello!", Role.AGENT, Channel.VIBER)  # type: ignore[union-attr]


async def test_a_reply_that_cannot_be_routed_says_what_to_configure_and_sends_nothing(provider, vendor) -> None:
    cid = vendor.conversation(channel="WHATSAPP")
    with pytest.raises(InvalidRequestError, match=r"senders\.WHATSAPP") as caught:
        await provider.add_messages(cid, [NewMessage(text="Hello", author=AGENT)])
    assert caught.value.field == "senders" and not vendor.seen("POST")
    vendor.add_message(cid, {"from": "447700900111", "channel": "SMS", "direction": "INBOUND", "content": "hi"})  # no `to`
    with pytest.raises(InvalidRequestError, match=r"configure senders\.SMS"):
        await provider.add_messages(cid, [NewMessage(text="Hello", author=AGENT)])
    assert not vendor.seen("POST")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (NewMessage(text="x" * 1001), "text"),
        (NewMessage(text="  "), "text"),
        (NewMessage(text="old", created_at=T0), "createdAt"),
    ],
)
async def test_every_message_is_checked_before_any_is_sent(provider, vendor, bad: NewMessage, field: str) -> None:
    cid = vendor.conversation()
    vendor.inbound(cid, "hi")
    with pytest.raises(InvalidRequestError) as caught:
        await provider.add_messages(cid, [NewMessage(text="fine"), bad])
    assert caught.value.field == field and vendor.requests == []


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.BOT, Role.SYSTEM])
async def test_only_agent_messages_are_written_and_another_role_is_unsupported_before_any_call(provider, vendor, role: Role) -> None:
    cid = vendor.conversation()
    vendor.inbound(cid, "hi")
    with pytest.raises(UnsupportedOperationError, match=f"message 2 is a {role.value} message, and ib writes AGENT messages only"):
        await provider.add_messages(cid, [NewMessage(text="fine"), NewMessage(text="me", author=ParticipantInput(name="Eve", role=role))])
    assert vendor.requests == []


async def test_a_new_conversation_sends_its_first_messages_to_the_customer(http, vendor) -> None:
    provider = InfobipProvider(name="ib", http=http, api_key=KEY, senders={"WHATSAPP": "447700900999"})
    new = NewConversation(
        customer=ParticipantInput(id="447700900001"),
        topic="Order 42",
        channel=Channel.WHATSAPP,
        priority=Priority.HIGH,
        messages=(NewMessage(text="Your parcel is late"),),
    )
    created = await provider.create_conversation(new)
    [create] = vendor.seen("POST", r"/conversations$")
    assert httpx.Response(200, content=create.content).json() == {
        "topic": "Order 42",
        "priority": "HIGH",
        "channel": "WHATSAPP",
    }
    [send] = vendor.seen("POST", "/messages")
    assert httpx.Response(200, content=send.content).json()["to"] == "447700900001"
    assert created.message_count == 1 and created.last_message.text == "Your parcel is late"  # type: ignore[union-attr]


async def test_a_new_conversation_refuses_what_infobip_cannot_store_before_any_call(provider, vendor) -> None:
    customer = ParticipantInput(id="447700900001")
    for new, field in (
        (NewConversation(customer=customer, url="https://shop.test/"), "url"),
        (NewConversation(customer=customer, bot_active=True), "botActive"),
        (NewConversation(customer=customer, messages=(NewMessage(text="hi"),)), "senders"),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            await provider.create_conversation(new)
        assert caught.value.field == field
    assert vendor.requests == []


def test_senders_must_name_infobip_messaging_channels(http) -> None:
    with pytest.raises(ValueError, match="senders.PIGEON"):
        InfobipProvider(name="ib", http=http, api_key=KEY, senders={"PIGEON": "x"})
    with pytest.raises(ValueError, match="senders.NO_CHANNEL"):
        InfobipProvider(name="ib", http=http, api_key=KEY, senders={"NO_CHANNEL": "x"})


async def test_instagram_senders_are_keyed_by_either_name(http, vendor) -> None:
    provider = InfobipProvider(name="ib", http=http, api_key=KEY, senders={"INSTAGRAM": "shop"})
    cid = vendor.conversation()
    vendor.inbound(cid, "hi", channel="INSTAGRAM_MESSAGING", to="other")
    await provider.add_messages(cid, [NewMessage(text="hey", author=AGENT)])
    assert httpx.Response(200, content=vendor.seen("POST")[0].content).json()["from"] == "shop"


# ---- health and webhooks ------------------------------------------------------------------------


async def test_health_is_an_authenticated_cheap_call_that_never_raises(http, provider, vendor) -> None:
    assert await provider.check_health() is True
    assert vendor.requests[-1].url.params["limit"] == "1"
    assert await InfobipProvider(name="ib", http=http, api_key="wrong").check_health() is False
    vendor.queue("GET", r"/ccaas/1/conversations", httpx.Response(200, content=b"not json"))
    assert await provider.check_health() is False


def test_a_webhook_body_parley_does_not_understand_is_malformed(provider) -> None:
    with pytest.raises(MalformedResponseError, match="webhook body"):
        provider.parse_webhook({"type": "CONVERSATION_CREATED", "payload": {}})
    assert provider.parse_webhook({"type": "AGENT_STATUS_CHANGED", "payload": {}}) == []
    [event] = provider.parse_webhook(
        {"type": "CONVERSATION_CREATED", "payload": {"conversation": {"id": "c1", "status": "OPEN"}}}
    )
    assert event.conversation is not None and event.conversation.provider == "ib"


def test_declared_capabilities_and_writable_values() -> None:
    assert {c.value for c in InfobipProvider.capabilities if c.value.startswith("FILTER_")} == {
        "FILTER_STATUS",
        "FILTER_PRIORITY",
        "FILTER_ASSIGNEE",
        "FILTER_QUEUE",
        "FILTER_IDS",
        "FILTER_CREATED_AFTER",
        "FILTER_CREATED_BEFORE",
        "FILTER_UPDATED_AFTER",
        "FILTER_UPDATED_BEFORE",
    }
    assert InfobipProvider.writable_statuses == {
        ConversationStatus.OPEN,
        ConversationStatus.PENDING,
        ConversationStatus.SOLVED,
        ConversationStatus.CLOSED,
    }
    assert mapping.STATUS_TO_VENDOR[ConversationStatus.PENDING] == "WAITING"
