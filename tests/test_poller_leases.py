"""Pollers on several instances sharing the Redis bus: only the holder of a provider's lease polls it;
when the holder dies (SIGKILL, so it gives nothing back) another instance takes the lease over once
its TTL has run out and goes on from the mark its predecessor wrote, with no message announced twice
or lost across the switch; one that stops cleanly hands over at once; a holder that lost its lease
cannot overwrite its successor's mark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.redis_leases import RedisLeases
from gateway.settings import ProviderSettings, Settings

from .helpers import IB_SENDER, free_port, listening, next_payload

ROOT = Path(__file__).parent.parent
INTERVAL = 0.3
LEASE_SECONDS = 1.0  # pollers.MIN_LEASE_SECONDS: 3 x 0.3 s is less
SLOW_INTERVAL = 1.0  # a lease of 3 s: longer than the poll's overlap, so the successor needs the mark
MESSAGES = """subscription M($providers: [String!]) { messageAdded(providers: $providers) { message { text } } }"""
LEASE = "parley:lease:poll:ib"


@pytest.fixture
def bus_url(redis_url: str) -> Iterator[str]:
    """A Redis database of this test's own (the default prefix's keys would be shared otherwise)."""
    url = redis_url.rsplit("/", 1)[0] + "/5"
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    """An Infobip sandbox in its own process, which sends no webhooks: its provider must be polled."""
    port = free_port()
    with listening([sys.executable, "-m", "gateway.cli", "sandbox", "infobip", "--port", str(port), "--demo", "2"], port, tmp_path):
        yield f"http://127.0.0.1:{port}/"


class Customer:
    """An Infobip customer writing in at the sandbox, always in one conversation."""

    def __init__(self, sandbox: str) -> None:
        self.url, self.sender, self.conversation = f"{sandbox}_sandbox/inbound", f"4479{uuid.uuid4().int % 10**8:08d}", None

    def write(self, text: str) -> None:
        body: dict[str, Any] = {"from": self.sender, "to": IB_SENDER, "channel": "WHATSAPP", "text": text}
        if self.conversation:
            body["conversationId"] = self.conversation
        answer = httpx.post(self.url, json=body, timeout=5)
        assert answer.status_code == 200, answer.text
        self.conversation = answer.json()["conversationId"]


def holder(client: redis.Redis) -> str:
    value = client.get(LEASE)
    return value.decode() if value else ""


def wait_until(condition: Any, seconds: float = 10) -> float:
    begun = time.monotonic()
    while not condition():
        assert time.monotonic() - begun < seconds, "timed out"
        time.sleep(0.01)
    return time.monotonic() - begun


def texts(ws: Any, count: int) -> list[str]:
    return [next_payload(ws)["data"]["messageAdded"]["message"]["text"] for _ in range(count)]


def settings(sandbox: str, bus_url: str, interval: float = INTERVAL) -> Settings:
    provider = ProviderSettings("ib", "infobip", sandbox, {"api_key": "sandbox-key"}, poll_interval=interval)
    return Settings(providers=(provider,), graphiql=False, bus_url=bus_url)


def test_when_the_polling_instance_dies_another_takes_over_within_the_lease_and_nothing_is_lost_or_doubled(
    tmp_path: Path, sandbox: str, bus_url: str
) -> None:
    config = tmp_path / "parley.toml"
    config.write_text(f'[server]\nbus_url = "{bus_url}"\n[providers.ib]\nvendor = "infobip"\nbase_url = "{sandbox}"\n'
                      f'api_key = "sandbox-key"\npoll_interval = {SLOW_INTERVAL}\n')
    env = {**os.environ, "PARLEY_CONFIG": str(config), "PARLEY_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}
    leader = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = redis.Redis.from_url(bus_url)
    customer = Customer(sandbox)
    written: list[str] = []
    try:
        wait_until(lambda: f":{leader.pid}:" in holder(store), seconds=20)
        with TestClient(create_app(settings(sandbox, bus_url, SLOW_INTERVAL))) as follower:
            [poller] = follower.app.state.runtime.pollers.pollers  # type: ignore[attr-defined]
            with follower.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
                ws.send_json({"type": "connection_init", "payload": {}})
                assert ws.receive_json()["type"] == "connection_ack"
                ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": MESSAGES, "variables": {"providers": ["ib"]}}})
                time.sleep(0.2)
                for i in range(4):
                    written.append(f"before {i}")
                    customer.write(written[-1])
                    time.sleep(0.2)
                announced = texts(ws, 4)  # by the leader
                assert not poller.leading
                leader.kill()
                killed = time.monotonic()
                while not poller.leading:  # written while nobody polls
                    assert time.monotonic() - killed < 10, "nobody took over"
                    written.append(f"between {len(written)}")
                    customer.write(written[-1])
                    time.sleep(0.2)
                taken_over = time.monotonic() - killed
                for i in range(4):
                    written.append(f"after {i}")
                    customer.write(written[-1])
                announced += texts(ws, len(written) - 4)
                customer.write("sentinel")
                after = texts(ws, 1)
                assert after == ["sentinel"], (announced, written, after)  # nothing twice before it
            assert holder(store) == poller.holder
    finally:
        leader.kill()
        leader.wait(timeout=10)
    assert announced == written
    lease = 3 * SLOW_INTERVAL
    assert lease - 0.5 <= taken_over <= lease + SLOW_INTERVAL + 0.5, f"took over {taken_over:.2f} s after the kill"


def test_an_instance_that_stops_gives_its_lease_back_and_another_polls_at_its_next_turn(sandbox: str, bus_url: str) -> None:
    store = redis.Redis.from_url(bus_url)
    customer = Customer(sandbox)
    first = TestClient(create_app(settings(sandbox, bus_url)))
    with first:
        [leader] = first.app.state.runtime.pollers.pollers  # type: ignore[attr-defined]
        wait_until(lambda: leader.leading)
        with TestClient(create_app(settings(sandbox, bus_url))) as second:
            [follower] = second.app.state.runtime.pollers.pollers  # type: ignore[attr-defined]
            time.sleep(2 * INTERVAL)
            assert not follower.leading and holder(store) == leader.holder
            first.__exit__(None, None, None)  # the leader's app stops
            took = wait_until(lambda: follower.leading)
            assert took < INTERVAL + 0.5 and holder(store) == follower.holder, f"took over {took:.2f} s after the stop"
            with second.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
                ws.send_json({"type": "connection_init", "payload": {}})
                assert ws.receive_json()["type"] == "connection_ack"
                ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": MESSAGES, "variables": {"providers": ["ib"]}}})
                time.sleep(0.2)
                customer.write("after the handover")
                assert texts(ws, 1) == ["after the handover"]
            first.__enter__()  # so that leaving the block stops it again without complaint


async def test_a_holder_that_lost_its_lease_cannot_write_the_mark(bus_url: str) -> None:
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(bus_url, decode_responses=True)
    leases = RedisLeases(client, f"test-{uuid.uuid4().hex[:8]}")
    try:
        assert await leases.take("poll:x", "a", 0.2)
        assert not await leases.take("poll:x", "b", 0.2)  # held
        assert await leases.write_mark("poll:x", "a", "2024-01-01T00:00:00+00:00")
        time.sleep(0.3)  # a's lease runs out (a paused)
        assert await leases.take("poll:x", "b", 5)
        assert not await leases.write_mark("poll:x", "a", "2024-06-01T00:00:00+00:00")
        assert await leases.read_mark("poll:x") == "2024-01-01T00:00:00+00:00"
        await leases.give_back("poll:x", "a")  # not its own: nothing happens
        assert not await leases.take("poll:x", "c", 5)
        await leases.give_back("poll:x", "b")
        assert await leases.take("poll:x", "c", 5)
    finally:
        await client.aclose()
