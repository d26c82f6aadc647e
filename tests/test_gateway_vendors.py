"""The gateway over all three vendors' sandboxes at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from .helpers import (
    CT_HEADERS,
    IB_BASE,
    IB_HEADERS,
    PROVIDERS,
    SB_CREDENTIALS,
    SHORT_TIMEOUT,
    Gateway,
    asgi_client,
    ct_user_writes,
    every_edge,
    forget_requests,
    gateway_over,
    ib_customer_writes,
    infobip_app,
    inject_fault,
    remote_id_of,
    sandbox_requests,
    vendor_apps,
)

LIST = """query L($first: Int!, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { node { provider remoteId campaign { name } } } pageInfo { hasNextPage endCursor } } }"""
IDS = """query Ids($first: Int!, $filter: ConversationFilter) {
  conversations(first: $first, filter: $filter) { edges { node { id } } } }"""
RAW_HEADERS = {"ib": IB_HEADERS, "ct": CT_HEADERS, "sb": {}}


@pytest.fixture
def apps() -> dict[str, Starlette]:
    return vendor_apps(demo_conversations=24)


@pytest.fixture
async def gateway(apps: dict[str, Starlette]) -> AsyncIterator[Gateway]:
    async with gateway_over(*((PROVIDERS[name], app) for name, app in apps.items())) as running:
        yield running


@contextlib.asynccontextmanager
async def raw(apps: dict[str, Starlette], name: str, *, sign_in: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Straight to a sandbox, as the vendor's own API (no Parley code in between); `sign_in=False`
    for the /_sandbox controls only, so counting requests adds none."""
    async with asgi_client(apps[name], "http://raw", headers=RAW_HEADERS[name]) as client:
        if name == "sb" and sign_in:
            form = {"grant_type": "refresh_token", **SB_CREDENTIALS}
            token = (await client.post("/token", data=form)).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
        yield client


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
    app = infobip_app()
    settings = replace(PROVIDERS["ib"], webhook_secret="s3")
    async with asgi_client(app, IB_BASE, headers=IB_HEADERS) as hooks:
        remote_id = await ib_customer_writes(hooks, "hi", sender="447700900001", channel="SMS")
        await hooks.post("/ccaas/1/tags", json={"name": "vip"})
        await hooks.post(f"/ccaas/1/conversations/{remote_id}/tags", json={"tagName": "vip"})
        conversation = (await hooks.get(f"/ccaas/1/conversations/{remote_id}")).json()
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


async def test_one_sandbox_down_gives_the_other_two_and_exactly_one_coded_error(
    gateway: Gateway, apps: dict[str, Starlette]
) -> None:
    async with raw(apps, "ib") as ib:
        await inject_fault(ib, status=503)
    response = await gateway.execute(LIST, {"first": 100})
    providers = {edge["node"]["provider"] for edge in response["data"]["conversations"]["edges"]}
    assert providers == {"sb", "ct"}
    assert [(e["extensions"]["code"], e["extensions"]["provider"]) for e in response["errors"]] == [("PROVIDER_UNAVAILABLE", "ib")]
    assert response["data"]["conversations"]["pageInfo"]["hasNextPage"] is True  # ib's place is kept


async def test_one_sandbox_slower_than_the_timeout_is_answered_within_the_timeout(
    gateway: Gateway, apps: dict[str, Starlette]
) -> None:
    async with raw(apps, "ct") as ct:
        await inject_fault(ct, latencyMs=5000)
    started = time.perf_counter()
    response = await gateway.execute(LIST, {"first": 100})
    elapsed = time.perf_counter() - started
    providers = {edge["node"]["provider"] for edge in response["data"]["conversations"]["edges"]}
    assert providers == {"sb", "ib"}
    assert [(e["extensions"]["code"], e["extensions"]["provider"]) for e in response["errors"]] == [("PROVIDER_TIMEOUT", "ct")]
    assert elapsed < SHORT_TIMEOUT * 2.5, elapsed  # one timeout (0.5 s) plus the others' work, not 5 s


# -- a filter equals a direct scan of the vendors' own APIs -------------------------------------------

SB_STATUS = {"closed": "CLOSED", "queued": "NEW", "active": "OPEN"}
CT_STATUS = {"New": "NEW", "Pending": "PENDING", "Closed": "CLOSED"}
IB_STATUS = {"OPEN": "OPEN", "WAITING": "PENDING", "SOLVED": "SOLVED", "CLOSED": "CLOSED"}


async def scan(apps: dict[str, Starlette]) -> list[dict[str, Any]]:
    """Every conversation of the three sandboxes as (provider, id, status, tags, name, latest text),
    read through each vendor's documented API only."""
    rows: list[dict[str, Any]] = []
    async with raw(apps, "sb") as sb:
        tickets = (await sb.post("/tickets/list", json={"take": 50})).json()["data"]
        for ticket in tickets:
            c = (await sb.get(f"/chat/conversations/{ticket['id']}")).json()["data"]
            latest = (await sb.get(f"/chat/conversations/{ticket['id']}/messages", params={"take": 1, "orderBy": "creation_time_desc"})).json()["data"]
            position = (c.get("queuePositionInfo") or {}).get("position")
            state = "closed" if c["isClosed"] else ("queued" if position is not None and position >= 0 else "active")
            rows.append({"p": "sb", "id": str(c["id"]), "status": SB_STATUS[state], "tags": set(),
                         "name": (c.get("author") or {}).get("name"), "text": latest[0]["message"] if latest else None})
    async with raw(apps, "ib") as ib:
        for c in (await ib.get("/ccaas/1/conversations", params={"limit": 999})).json()["conversations"]:
            tags = {t["name"] for t in (await ib.get(f"/ccaas/1/conversations/{c['id']}/tags")).json()["tags"]}
            latest = (await ib.get(f"/ccaas/1/conversations/{c['id']}/messages", params={"limit": 1, "orderBy": "createdAt:desc"})).json()["messages"]
            content = latest[0]["content"] if latest else None
            text = content.get("text") if isinstance(content, dict) else content
            rows.append({"p": "ib", "id": c["id"], "status": IB_STATUS[c["status"]], "tags": tags, "name": None, "text": text})
    async with raw(apps, "ct") as ct:
        cursor = (await ct.post("/1/conversations.json", params={"batch_size": 5000}, json={})).json()["cursor"]
        for r in (await ct.get("/1/conversations.json", params={"cursor": cursor})).json()["records"]:
            rows.append({"p": "ct", "id": r["id"], "status": CT_STATUS[r["ticket_status"]], "tags": set(r["labels"]),
                         "name": r["user_name"], "text": (r["last_message"] or {}).get("text")})
    return rows


def found(row: dict[str, Any], needle: str) -> bool:
    return any(value is not None and needle.casefold() in value.casefold() for value in (row["name"], row["text"]))


async def everything(gateway: Gateway, filter: dict[str, Any]) -> set[tuple[str, str]]:
    edges = await every_edge(gateway, LIST, {"first": 7, "filter": filter})
    return {(e["node"]["provider"], e["node"]["remoteId"]) for e in edges}


async def test_filters_on_status_tags_and_search_equal_a_direct_scan(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    async with raw(apps, "ib") as ib:
        await ib.post("/ccaas/1/tags", json={"name": "vip"})
        listed = (await ib.get("/ccaas/1/conversations", params={"limit": 2})).json()["conversations"]
        await ib.post(f"/ccaas/1/conversations/{listed[0]['id']}/tags", json={"tagName": "vip"})
        await ib_customer_writes(ib, "A Zebra crossing", sender="447700900555", to="4478600", channel="SMS")
    async with raw(apps, "ct") as ct:
        await ct_user_writes(ct, "hi", identity="z1", name="Zebra Jones")
        await ct_user_writes(ct, "zebra?", identity="z2")
        await ct_user_writes(ct, "never mind", identity="z2")
    rows = await scan(apps)
    cases = [
        ({"status": ["NEW", "PENDING"]}, lambda r: r["status"] in ("NEW", "PENDING")),
        ({"search": "zebra"}, lambda r: found(r, "zebra")),
        ({"search": "e"}, lambda r: found(r, "e")),
        ({"status": ["NEW"], "search": "a"}, lambda r: r["status"] == "NEW" and found(r, "a")),
        ({"tags": ["vip"]}, lambda r: "vip" in r["tags"]),
    ]
    for filter, wanted in cases:
        got = await everything(gateway, filter)
        expected = {(r["p"], r["id"]) for r in rows if wanted(r)}
        assert expected, f"the scan finds nothing for {filter}: the case proves nothing"
        assert got == expected, filter


# -- upstream requests per query (the bounds the README states) ------------------------------------

INBOX = """{ conversations(first: 20) { edges { node { provider customer { name } tags lastMessage { text } } } } }"""
# Providers list ids and sort times only; the merge picks the page and only its rows are read further:
# per row shown, Socialboards 1 GET of the conversation + 1 latest message, Infobip 3 (tags, first
# inbound message for the customer, latest message), CleverTap none (its records carry everything).
# Plus up to 3 listing calls (and a token) per provider.
COST_PER_ROW_SHOWN = {"sb": 2, "ib": 3, "ct": 0}
UPSTREAM_BOUND_PER_PROVIDER = 4


async def upstream(apps: dict[str, Starlette]) -> dict[str, int]:
    counts = {}
    for name in apps:
        async with raw(apps, name, sign_in=False) as client:
            counts[name] = len(await sandbox_requests(client))
            await forget_requests(client)
    return counts


async def test_an_inbox_page_of_20_across_three_providers_makes_a_bounded_number_of_upstream_requests(
    gateway: Gateway, apps: dict[str, Starlette]
) -> None:
    await upstream(apps)  # forget seeding
    edges = (await gateway.data(INBOX))["conversations"]["edges"]
    counts = await upstream(apps)
    per_provider = {name: sum(1 for e in edges if e["node"]["provider"] == name) for name in apps}
    assert len(edges) == 20 and all(per_provider.values())
    for name, cost in COST_PER_ROW_SHOWN.items():
        assert counts[name] <= cost * per_provider[name] + UPSTREAM_BOUND_PER_PROVIDER, (name, per_provider, counts)
    assert sum(counts.values()) <= 3 * 20 + 3 * UPSTREAM_BOUND_PER_PROVIDER, counts  # 72, the README's bound


async def test_an_inbox_page_reads_nothing_per_row_for_fields_the_listing_carries(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    await upstream(apps)
    edges = (await gateway.data("{ conversations(first: 20) { edges { node { id provider status updatedAt } } } }"))["conversations"]["edges"]
    assert any(e["node"]["provider"] == "ib" for e in edges)
    async with raw(apps, "ib", sign_in=False) as ib:
        paths = [r["path"] for r in await sandbox_requests(ib)]
    assert paths and set(paths) == {"/ccaas/1/conversations"}  # no tags or messages read per row


async def test_a_conversation_by_id_reads_only_what_the_query_selects(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    edges = await gateway.data(IDS, {"first": 1, "filter": {"providers": ["ib"]}})
    gid = edges["conversations"]["edges"][0]["node"]["id"]
    cases = [("topic status", 1), ("topic tags", 2), ("customer { name } lastMessage { text } messageCount", 3), ("tags customer { name } lastMessage { text }", 4)]
    for selection, expected in cases:
        await upstream(apps)
        data = await gateway.data(f"query($id: ID!) {{ conversation(id: $id) {{ id {selection} }} }}", {"id": gid})
        assert data["conversation"]["id"] == gid
        assert (await upstream(apps))["ib"] == expected, selection


async def test_fifty_messages_of_one_conversation_is_one_upstream_request_where_the_vendor_allows(
    gateway: Gateway, apps: dict[str, Starlette]
) -> None:
    edges = (await gateway.data("{ conversations(first: 100) { edges { node { id provider } } } }"))["conversations"]["edges"]
    one = {e["node"]["provider"]: e["node"]["id"] for e in edges}
    query = "query($id: ID!) { conversation(id: $id) { id messages(first: 50) { edges { node { text } } } } }"
    expected = {"sb": 1, "ib": 1, "ct": 2}  # CleverTap's message history is a two-step cursor by design
    for name, gid in one.items():
        await upstream(apps)
        await gateway.data(query, {"id": gid})
        async with raw(apps, name, sign_in=False) as client:
            log = [(r["method"], r["path"]) for r in await sandbox_requests(client)]
        assert len(log) == expected[name], (name, log)


async def test_many_infobip_conversations_by_id_are_one_listing_call(gateway: Gateway, apps: dict[str, Starlette]) -> None:
    edges = await gateway.data(IDS, {"first": 100, "filter": {"providers": ["ib"]}})
    ids = [e["node"]["id"] for e in edges["conversations"]["edges"]][:4]
    aliases = [f"c{i}" for i in range(len(ids))]  # one conversation field per id, each id a variable
    definitions = ", ".join(f"${alias}: ID!" for alias in aliases)
    fields = " ".join(f"{alias}: conversation(id: ${alias}) {{ status tags }}" for alias in aliases)
    await upstream(apps)
    data = await gateway.data(f"query({definitions}) {{ {fields} }}", dict(zip(aliases, ids)))
    assert all(data[f"c{i}"]["status"] for i in range(len(ids)))
    async with raw(apps, "ib") as ib:
        log = await sandbox_requests(ib)
    lists = [r for r in log if r["path"] == "/ccaas/1/conversations"]
    assert len(lists) == 1 and sorted(lists[0]["query"]["conversationIds"]) == sorted(
        remote_id_of(gid) for gid in ids
    )
    assert not any(r["path"].startswith("/ccaas/1/conversations/") and r["path"].count("/") == 4 for r in log)  # no GET by id


@pytest.mark.parametrize("name", ["sb", "ib", "ct"])
async def test_a_conversation_by_id_and_its_messages_are_read_at_the_same_time(
    gateway: Gateway, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two round trips to the vendor at once, not one after the other: the conversation read waits
    until the messages read has started (it would time out if they ran in sequence)."""
    edges = await gateway.data(IDS, {"first": 1, "filter": {"providers": [name]}})
    gid = edges["conversations"]["edges"][0]["node"]["id"]
    provider = gateway.app.state.runtime.providers[name]
    messages_started = asyncio.Event()
    get_conversation, list_messages = provider.get_conversation, provider.list_messages

    async def get_after_messages_started(remote_id: str, **kw: Any) -> Any:
        await asyncio.wait_for(messages_started.wait(), timeout=2)
        return await get_conversation(remote_id, **kw)

    async def list_and_signal(remote_id: str, **kw: Any) -> Any:
        messages_started.set()
        return await list_messages(remote_id, **kw)

    monkeypatch.setattr(provider, "get_conversation", get_after_messages_started)
    monkeypatch.setattr(provider, "list_messages", list_and_signal)
    query = "query($id: ID!) { conversation(id: $id) { topic status messages(first: 50) { edges { node { text } } } } }"
    data = await gateway.data(query, {"id": gid})
    assert data["conversation"]["status"] and data["conversation"]["messages"]["edges"]
