"""Pollers: a provider without webhooks is polled, and what its customers write reaches subscribers
once, for each vendor (Socialboards and Infobip filter by update time themselves, CleverTap is read
newest first); a mutation, a webhook and the poller together announce each message and each state
once; more changes than one poll handles are announced over the next polls, in order; a vendor
failure delays nothing for good; `poll_interval` settings are checked."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from gateway import pollers
from gateway.app import create_app
from gateway.pollers import DEFAULT_POLL_INTERVAL
from gateway.settings import ProviderSettings, Settings, SettingsError, load_settings

from .helpers import (
    ADD,
    CT_BASE,
    CT_HEADERS,
    IB_BASE,
    IB_HEADERS,
    PROVIDERS,
    SB_BASE,
    Json,
    asgi_client,
    clevertap_app,
    ct_user_writes,
    from_the_start,
    ib_customer_writes,
    infobip_app,
    inject_fault,
    next_payload,
    sb_customer_writes,
    socialboards_app,
    ws_subscribe,
)

INTERVAL = 0.1
MESSAGES = """subscription M($providers: [String!]) {
  messageAdded(providers: $providers) { cursor message { text conversation { remoteId } } } }"""
CHANGES = """subscription C($filter: ConversationFilter) {
  conversationChanged(filter: $filter) { cursor conversation { remoteId status updatedAt } } }"""
MESSAGES_SINCE = """subscription M($since: String) { messageAdded(since: $since) { message { text } } }"""
OPEN = """query O($providers: [String!]) { conversations(first: 20, filter: {providers: $providers, status: [NEW, OPEN]}) {
  edges { node { id remoteId } } } }"""


@dataclass
class Vendor:
    """A sandbox of one vendor, and how its customers write in (a new conversation per customer)."""

    make: Callable[..., Starlette]
    base: str
    headers: dict[str, str]

    async def write(self, hooks: httpx.AsyncClient, customer: str, text: str, known: dict[str, str]) -> None:
        if self.base == SB_BASE:
            await sb_customer_writes(hooks, known[customer], text)
        elif self.base == IB_BASE:
            known[customer] = await ib_customer_writes(hooks, text, conversation=known.get(customer), sender=customer)
        else:
            known[customer] = await ct_user_writes(hooks, text, identity=customer)


VENDORS = {
    "sb": Vendor(socialboards_app, SB_BASE, {}),
    "ib": Vendor(infobip_app, IB_BASE, IB_HEADERS),
    "ct": Vendor(clevertap_app, CT_BASE, CT_HEADERS),
}


class Later:
    """An ASGI app that forwards to one given after it was made (the gateway, for a sandbox's webhooks)."""

    app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class Polled:
    client: TestClient
    sandbox: Starlette
    vendor: Vendor
    name: str
    customers: dict[str, str]  # customer -> conversation (remote id)

    def at_vendor(self, call: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
        async def run() -> Any:
            async with asgi_client(self.sandbox, self.vendor.base, headers=self.vendor.headers) as hooks:
                return await call(hooks)

        return self.client.portal.call(run)  # type: ignore[union-attr]

    def write(self, customer: str, text: str) -> None:
        self.at_vendor(lambda hooks: self.vendor.write(hooks, customer, text, self.customers))


@contextlib.contextmanager
def polled(name: str, *, webhooks: bool = False, demo: int = 4) -> Iterator[Polled]:
    """The gateway over one vendor's in-process sandbox, polled every INTERVAL (and with webhooks, if
    asked, sent back into the gateway), once the poller has started."""
    vendor, later = VENDORS[name], Later()
    options: dict[str, Any] = {"demo_conversations": demo}
    if webhooks:
        options |= {"webhook_url": "http://parley.test/webhooks/sb?secret=hook-secret",
                    "webhook_client": httpx.AsyncClient(transport=httpx.ASGITransport(app=later))}
    sandbox = vendor.make(**options)
    provider = replace(PROVIDERS[name], poll_interval=INTERVAL, webhook_secret="hook-secret" if webhooks else None)
    app = create_app(Settings(providers=(provider,), graphiql=False), transports={name: httpx.ASGITransport(app=sandbox)})
    later.app = app
    with TestClient(app) as client:
        runtime = app.state.runtime
        wait_until(lambda: all(p.leading for p in runtime.pollers.pollers))
        customers: dict[str, str] = {}
        if name == "sb":  # Socialboards' customers write into conversations that exist
            edges = client.post("/graphql", json={"query": OPEN, "variables": {"providers": [name]}}).json()["data"]["conversations"]["edges"]
            customers = {f"customer-{i}": edge["node"]["remoteId"] for i, edge in enumerate(edges)}
        yield Polled(client, sandbox, vendor, name, customers)


def wait_until(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def subscribe_both(ws: Any, name: str) -> None:
    ws.send_json({"type": "connection_init", "payload": {}})
    assert ws.receive_json()["type"] == "connection_ack"
    ws.send_json({"id": "m", "type": "subscribe", "payload": {"query": MESSAGES, "variables": {"providers": [name]}}})
    ws.send_json({"id": "c", "type": "subscribe", "payload": {"query": CHANGES, "variables": {"filter": {"providers": [name]}}}})
    time.sleep(0.1)


def until_message(ws: Any, text: str, seen: dict[str, list[Json]]) -> None:
    """Reads both subscriptions' events into `seen` ("m": messages, "c": changes) until `text` arrives."""
    while True:
        frame = ws.receive_json()
        assert frame["type"] == "next", frame
        data = frame["payload"]["data"]
        seen[frame["id"]].append(data["messageAdded"] if frame["id"] == "m" else data["conversationChanged"])
        if frame["id"] == "m" and data["messageAdded"]["message"]["text"] == text:
            return


def texts(seen: dict[str, list[Json]]) -> list[str]:
    return [event["message"]["text"] for event in seen["m"]]


def states(seen: dict[str, list[Json]]) -> list[tuple[str, str, str]]:
    c = [event["conversation"] for event in seen["c"]]
    return [(x["remoteId"], x["status"], x["updatedAt"]) for x in c]


@pytest.mark.parametrize("name", ["sb", "ib", "ct"])
def test_a_customer_writing_to_a_provider_without_webhooks_reaches_subscribers_once_through_the_poller(name: str) -> None:
    with polled(name) as vendor, vendor.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe_both(ws, name)
        seen: dict[str, list[Json]] = {"m": [], "c": []}
        vendor.write("customer-1", "hello")
        until_message(ws, "hello", seen)
        time.sleep(5 * INTERVAL)  # polls that find the same message and state again
        vendor.write("customer-1", "again")
        until_message(ws, "again", seen)
    assert texts(seen) == ["hello", "again"]
    conversation = vendor.customers["customer-1"]
    assert {event["message"]["conversation"]["remoteId"] for event in seen["m"]} == {conversation}
    changes = states(seen)
    assert changes and {c[0] for c in changes} == {conversation} and len(changes) == len(set(changes)), changes


def test_what_customers_wrote_just_before_the_first_poll_is_not_announced() -> None:
    sandbox = infobip_app(demo_conversations=2)

    async def before_start() -> str:
        async with asgi_client(sandbox, IB_BASE, headers=IB_HEADERS) as hooks:
            return await ib_customer_writes(hooks, "before the gateway started", sender="447900000001")

    conversation = asyncio.run(before_start())  # the newest change, and so within the poll's overlap
    provider = replace(PROVIDERS["ib"], poll_interval=INTERVAL)
    app = create_app(Settings(providers=(provider,), graphiql=False), transports={"ib": httpx.ASGITransport(app=sandbox)})
    with TestClient(app) as client:
        [poller] = app.state.runtime.pollers.pollers
        wait_until(lambda: poller.polls >= 3)
        Polled(client, sandbox, VENDORS["ib"], "ib", {"447900000001": conversation}).write("447900000001", "after")
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"since": from_the_start(client)}, MESSAGES_SINCE)  # everything the bus ever published
            assert next_payload(ws)["data"]["messageAdded"]["message"]["text"] == "after"


def test_a_busy_conversation_whose_vendor_time_runs_ahead_hides_no_other_conversation_s_change() -> None:
    with polled("ct") as vendor, vendor.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe_both(ws, "ct")
        busy = [f"busy {i}" for i in range(6)]
        for text in busy:  # CleverTap moves the conversation's time a second ahead per change within a second
            vendor.write("busy", text)
        seen: dict[str, list[Json]] = {"m": [], "c": []}
        until_message(ws, busy[-1], seen)
        vendor.write("quiet", "quiet one")  # at the real time: seconds behind the busy one's
        until_message(ws, "quiet one", seen)
    assert texts(seen) == [*busy, "quiet one"]


def test_a_message_added_through_the_gateway_is_announced_once_though_the_poller_finds_it_too() -> None:
    with polled("ib") as vendor, vendor.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe_both(ws, "ib")
        vendor.write("customer-1", "from the customer")
        seen: dict[str, list[Json]] = {"m": [], "c": []}
        until_message(ws, "from the customer", seen)
        conversation = "Conversation:ib:" + vendor.customers["customer-1"]
        answer = vendor.client.post("/graphql", json={"query": ADD, "variables": {
            "id": base64.b64encode(conversation.encode()).decode(), "text": "from the agent"}}).json()
        assert answer["data"]["addMessages"]["__typename"] == "AddMessagesPayload", answer
        until_message(ws, "from the agent", seen)
        time.sleep(5 * INTERVAL)
        vendor.write("customer-1", "sentinel")
        until_message(ws, "sentinel", seen)
    assert texts(seen) == ["from the customer", "from the agent", "sentinel"]
    assert len(states(seen)) == len(set(states(seen)))


def test_webhooks_and_a_poller_together_announce_each_message_and_each_state_once() -> None:
    with polled("sb", webhooks=True) as vendor, vendor.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe_both(ws, "sb")
        seen: dict[str, list[Json]] = {"m": [], "c": []}
        for text in ("one", "two"):
            vendor.write("customer-1", text)
            until_message(ws, text, seen)
            time.sleep(5 * INTERVAL)
        vendor.write("customer-2", "three")
        until_message(ws, "three", seen)
    assert texts(seen) == ["one", "two", "three"]
    assert len(states(seen)) == len(set(states(seen))), states(seen)


@pytest.mark.parametrize("name", ["sb", "ct"])
def test_more_changes_than_one_poll_handles_are_all_announced_over_the_next_polls_in_order(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pollers, "PAGE", 3)
    with polled(name, demo=10) as vendor, vendor.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe_both(ws, name)
        [poller] = vendor.client.app.state.runtime.pollers.pollers  # type: ignore[attr-defined]
        poller.interval = 1.5
        polls = poller.polls
        wait_until(lambda: poller.polls > polls)  # every write below lands before the next poll
        # customer-0's conversation changes first and last: it is read in the last poll, after the
        # polls that moved past the time of its first message
        written = [(f"customer-{i}", f"from customer-{i}") for i in range(8)] + [("customer-0", "more"), ("customer-0", "last")]
        for customer, text in written:
            vendor.write(customer, text)
        seen: dict[str, list[Json]] = {"m": [], "c": []}
        until_message(ws, "last", seen)
        assert poller.polls >= polls + 3  # 8 conversations, 3 a poll
    assert texts(seen) == [text for _, text in written[1:8]] + ["from customer-0", "more", "last"]
    assert len(states(seen)) == len(set(states(seen)))


def test_a_vendor_failing_a_poll_delays_the_message_but_loses_nothing() -> None:
    with polled("ib") as vendor, vendor.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        subscribe_both(ws, "ib")
        vendor.at_vendor(lambda hooks: inject_fault(hooks, status=503, times=12, pathContains="/messages", method="GET"))
        vendor.write("customer-1", "while it fails")
        seen: dict[str, list[Json]] = {"m": [], "c": []}
        until_message(ws, "while it fails", seen)
        failed = vendor.at_vendor(lambda hooks: hooks.get("/_sandbox/faults"))
        vendor.write("customer-1", "after")
        until_message(ws, "after", seen)
    assert failed.json()["faults"] == [], "the fault was not used up before the message came through"
    assert texts(seen) == ["while it fails", "after"]


# -- settings --------------------------------------------------------------------------------------

IB_TOML = """
[providers.acme-ib]
vendor = "infobip"
base_url = "https://ib.example.test/"
api_key = "fake-key"
"""


def load(tmp_path: Path, extra: str) -> Settings:
    config = tmp_path / "parley.toml"
    config.write_text(IB_TOML + extra)
    return load_settings({"PARLEY_CONFIG": str(config)})


@pytest.mark.parametrize(("extra", "interval"), [
    ("", DEFAULT_POLL_INTERVAL),  # no webhooks: polled by default
    ('webhook_secret = "s"\n', None),  # webhooks: not polled unless asked
    ('webhook_secret = "s"\npoll_interval = 30\n', 30.0),  # both, on purpose
    ("poll_interval = 0.5\n", 0.5),
    ("poll_interval = 0\n", None),  # off
])
def test_poll_interval_defaults_to_polling_providers_without_webhooks(tmp_path: Path, extra: str, interval: float | None) -> None:
    [provider] = load(tmp_path, extra).providers
    assert provider.poll_interval == interval and "poll_interval" not in provider.options


@pytest.mark.parametrize("value", ['"soon"', "-1", "0.01", "100000", "true", "nan"])
def test_a_bad_poll_interval_is_named(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match=r"providers\.acme-ib\.poll_interval: expected seconds between 0\.1 and 86400"):
        load(tmp_path, f"poll_interval = {value}\n")


def test_poll_interval_from_the_environment() -> None:
    env = {"PARLEY_INFOBIP_BASE_URL": "https://ib.test", "PARLEY_INFOBIP_API_KEY": "k", "PARLEY_INFOBIP_POLL_INTERVAL": "2.5"}
    [provider] = load_settings(env).providers
    assert provider.poll_interval == 2.5
    with pytest.raises(SettingsError, match="PARLEY_INFOBIP_POLL_INTERVAL: expected seconds"):
        load_settings({**env, "PARLEY_INFOBIP_POLL_INTERVAL": "often"})


def test_a_provider_set_up_in_code_is_polled_only_when_asked() -> None:
    assert ProviderSettings("x", "infobip", IB_BASE).poll_interval is None
