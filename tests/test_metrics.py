"""Prometheus metrics at /metrics: parsed with prometheus-client's own parser, they move as requests,
vendor failures and subscriptions happen; labels stay few; scrapes are guarded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

import gateway.metrics as metrics
from gateway.app import create_app
from gateway.operation_settings import Operations
from gateway.settings import Settings, load_settings
from gateway.setting_values import SettingsError

from .helpers import (
    ADD,
    SB_PROVIDER,
    Gateway,
    create_conversation,
    forget_requests,
    gateway_over,
    gateway_settings,
    inject_fault,
    new_conversation,
    next_payload,
    post,
    remote_id_of,
    sandbox_requests,
    stoppable_redis,
    ws_subscribe,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TOKEN = "metrics-token-0123456789"
INBOX = "query Inbox { conversations(first: 3) { edges { node { id topic lastMessage { text } } } } }"
MESSAGES = "query Messages($id: ID!) { conversation(id: $id) { messages(first: 5) { edges { node { text } } } } }"


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: Samples, metric: str, **labels: str) -> float:
    """The sum of `metric`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (n, have), value in samples.items() if n == metric and wanted <= have)


def mover(before: Samples, after: Samples) -> Callable[..., float]:
    """`moved(metric, **labels)`: how much that total grew from `before` to `after`."""
    return lambda metric, **labels: total(after, metric, **labels) - total(before, metric, **labels)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(have)[label] for (n, have) in samples if n == name and label in dict(have)}


async def scrape(gateway: Gateway) -> Samples:
    response = await gateway.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_queries_and_vendor_calls_are_counted_by_operation_route_and_status(sb_app: Starlette, sb_hooks: httpx.AsyncClient) -> None:
    async with gateway_over((SB_PROVIDER, sb_app)) as gateway:
        conversation = await create_conversation(gateway)
        await forget_requests(sb_hooks)
        before = await scrape(gateway)
        assert "errors" not in (await gateway.client.post("/graphql", json={"query": INBOX})).json()
        made = len(await sandbox_requests(sb_hooks))
        after = await scrape(gateway)
    moved = mover(before, after)
    assert moved("parley_graphql_operations_total", type="query", name="Inbox", outcome="ok") == 1
    assert moved("parley_graphql_operation_duration_seconds_count", type="query", name="Inbox", outcome="ok") == 1
    assert made > 0 and moved("parley_vendor_calls_total", provider="sb") == made
    assert moved("parley_vendor_call_duration_seconds_count", provider="sb") == made
    assert moved("parley_http_requests_total", path="/graphql", status="200") == 1
    routes = label_values(after, "parley_vendor_calls_total", "operation")
    assert "POST tickets/list" in routes and "GET chat/conversations/{id}/messages" in routes
    remote_id = remote_id_of(conversation)  # the conversation whose messages were read: its id is in no label
    assert not [v for (_, labels) in after for _, v in labels if remote_id in v.split("/") or conversation in v]


async def test_a_failing_vendor_moves_the_failure_status_the_retries_and_the_outcome(sb_app: Starlette, sb_hooks: httpx.AsyncClient) -> None:
    async with gateway_over((SB_PROVIDER, sb_app)) as gateway:
        conversation = await create_conversation(gateway)
        before = await scrape(gateway)
        await inject_fault(sb_hooks, status=503, pathContains="/messages", times=3)
        body = (await gateway.client.post("/graphql", json={"query": MESSAGES, "variables": {"id": conversation}})).json()
        after = await scrape(gateway)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PROVIDER_UNAVAILABLE"]
    moved = mover(before, after)
    route = "GET chat/conversations/{id}/messages"
    assert moved("parley_vendor_calls_total", provider="sb", operation=route, status="503") == 3
    assert moved("parley_vendor_retries_total", provider="sb", operation=route) == 2
    assert moved("parley_graphql_operations_total", type="query", name="Messages", outcome="PROVIDER_UNAVAILABLE") == 1


def test_subscriptions_and_their_events_move_the_bus_metrics() -> None:
    settings = Settings(demo_conversations=1, operations=Operations(metrics_token=TOKEN))
    with TestClient(create_app(settings)) as client:
        def scraped() -> Samples:
            response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200, response.text
            return parse(response.text)

        conversation, _ = new_conversation(client)
        before = scraped()
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"id": conversation})
            time.sleep(0.05)  # the subscription registers with the bus
            live = scraped()
            post(client, ADD, {"id": conversation, "text": "hello"})
            post(client, ADD, {"id": conversation, "text": "again"})
            assert [next_payload(ws)["data"]["messageAdded"]["message"]["text"] for _ in range(2)] == ["hello", "again"]
        time.sleep(0.05)
        after = scraped()
    assert total(live, "parley_subscriptions_active") - total(before, "parley_subscriptions_active") == 1
    assert total(after, "parley_subscriptions_active") == total(before, "parley_subscriptions_active")
    moved = mover(before, after)
    assert moved("parley_events_published_total", kind="MESSAGE_ADDED") == 2
    assert moved("parley_events_delivered_total", kind="MESSAGE_ADDED") == 2
    # every event the bus hands the subscription (the mutations' conversation changes too, which the field skips)
    assert moved("parley_bus_lag_seconds_count") == moved("parley_events_delivered_total") == 4
    assert moved("parley_graphql_operations_total", type="subscription", name="S") == 1
    assert moved("parley_graphql_operations_total", type="mutation", name="A", outcome="ok") == 2


async def test_an_event_published_twice_is_counted_as_dropped_duplicate(sb_app: Starlette) -> None:
    from .helpers import message_event

    async with gateway_over((SB_PROVIDER, sb_app)) as gateway:
        bus = gateway.app.state.runtime.bus
        before = await scrape(gateway)
        assert await bus.publish(message_event("m-dup")) is not None
        assert await bus.publish(message_event("m-dup")) is None  # the webhook of a message a mutation published
        after = await scrape(gateway)
    assert total(after, "parley_events_dropped_total", reason="duplicate") - total(before, "parley_events_dropped_total", reason="duplicate") == 1
    assert total(after, "parley_events_published_total") - total(before, "parley_events_published_total") == 1


async def test_an_event_made_while_redis_is_away_waits_in_the_outbox_and_one_it_cannot_keep_is_dropped(sb_app: Starlette) -> None:
    with stoppable_redis() as (url, redis):
        settings = replace(gateway_settings(SB_PROVIDER), bus_url=url)
        app = create_app(settings, transports={"sb": httpx.ASGITransport(app=sb_app)})
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
                gateway = Gateway(app, client)
                before = await scrape(gateway)
                redis.terminate()
                await asyncio.to_thread(redis.wait, 10)
                await create_conversation(gateway)  # the vendor took it; its event waits for Redis
                kept = await scrape(gateway)
                gateway.app.state.runtime.bus.outbox.size = 1  # full: the next event cannot be kept
                await create_conversation(gateway)
                after = await scrape(gateway)
    assert total(before, "parley_bus_outbox_events") == 0 and total(kept, "parley_bus_outbox_events") == 1
    assert mover(before, kept)("parley_events_dropped_total", reason="bus_unavailable") == 0
    assert mover(kept, after)("parley_events_dropped_total", reason="bus_unavailable") == 1


def test_breaker_states_and_migration_hooks_are_gauges_the_other_modules_set() -> None:
    from providers._observe import breaker_state

    breaker_state("support-ib", "open")
    text = metrics.render().decode()
    assert total(parse(text), "parley_breaker_state", provider="support-ib") == 2
    breaker_state("support-ib", "closed")
    assert total(parse(metrics.render().decode()), "parley_breaker_state", provider="support-ib") == 0


def test_operation_names_are_cut_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_operation_names", set())
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 3)
    assert [metrics.operation_label(n) for n in (None, "", "Inbox", "Inbox", "x" * 200, "Two", "Three", "Four", "not-a-name")] == [
        "anonymous", "anonymous", "Inbox", "Inbox", "x" * 64, "Two", "other", "other", "other"]


# ---- who may scrape ------------------------------------------------------------------------------


async def statuses(app: Starlette, peers: Iterable[tuple[str, int]], headers: dict[str, str] | None = None) -> list[int]:
    found = []
    async with app.router.lifespan_context(app):
        for peer in peers:
            transport = httpx.ASGITransport(app=app, client=peer)
            async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
                found.append((await client.get("/metrics", headers=headers or {})).status_code)
    return found


LOCAL, OUTSIDE = ("127.0.0.1", 5000), ("198.51.100.4", 5000)


async def test_without_a_token_or_port_only_loopback_peers_may_scrape() -> None:
    assert await statuses(create_app(Settings(demo_conversations=1)), [LOCAL, ("::1", 5000), OUTSIDE]) == [200, 200, 403]


async def test_with_a_token_every_scrape_needs_it_even_from_loopback() -> None:
    app = create_app(Settings(demo_conversations=1, operations=Operations(metrics_token=TOKEN)))
    assert await statuses(app, [LOCAL, OUTSIDE]) == [401, 401]
    assert await statuses(app, [OUTSIDE], {"Authorization": "Bearer wrong-token-0123456789"}) == [401]
    assert await statuses(app, [OUTSIDE, LOCAL], {"Authorization": f"Bearer {TOKEN}"}) == [200, 200]


async def test_with_a_metrics_port_the_main_port_has_no_metrics() -> None:
    app = create_app(Settings(demo_conversations=1, operations=Operations(metrics_port=9464)))
    assert await statuses(app, [LOCAL]) == [404]


def test_metrics_settings_are_checked() -> None:
    assert load_settings({"PARLEY_METRICS_TOKEN": TOKEN}).operations.metrics_token == TOKEN
    assert load_settings({"PARLEY_METRICS_PORT": "9464"}).operations.metrics_port == 9464
    refusals = [
        ({"PARLEY_METRICS_TOKEN": "short"}, "at least 16 characters"),
        ({"PARLEY_METRICS_PORT": "8000"}, "not a port of its own"),
        ({"PARLEY_METRICS_PORT": "99999"}, "up to 65535"),
        ({"PARLEY_METRICS_PORT": "9464", "PARLEY_METRICS_TOKEN": TOKEN}, "choose one"),
    ]
    for env, message in refusals:
        with pytest.raises(SettingsError, match=message):
            load_settings(env)


def test_a_child_looked_up_once_is_the_one_labels_gives() -> None:
    """`metrics.child` (the hot path's lookup) counts into the same series `labels` does."""
    counter = metrics.HTTP_REQUESTS
    before = counter.labels("/graphql", "418")._value.get()
    metrics.child(counter, "/graphql", "418").inc()
    metrics.child(counter, "/graphql", "418").inc(2)
    assert metrics.child(counter, "/graphql", "418") is counter.labels("/graphql", "418")
    assert counter.labels("/graphql", "418")._value.get() == before + 3
    assert metrics.child(metrics.OPERATIONS, "query", "A", "ok") is not metrics.child(metrics.OPERATIONS, "query", "B", "ok")
