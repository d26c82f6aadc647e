"""The shared bus when Redis goes away and comes back, on a real redis-server restarted mid-stream:
events of writes made meanwhile wait in each instance's outbox and reach the stream when Redis
returns, merged in the order they happened; a client replaying with `since` gets every one, once, in
order, and so does one that stayed subscribed; the first subscription after the restart works; the
writes do not wait for Redis."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.redis_bus import RedisBus
from gateway.settings import ProviderSettings, Settings

from .helpers import (
    ADD,
    free_port,
    listening,
    message_event,
    new_conversation,
    next_payload,
    post,
    remote_ids,
    take,
    wait_for_port,
    ws_subscribe,
)

WRITES = 300
OUTAGE = range(100, 200)  # the writes made while Redis is away


class RedisServer:
    """A redis-server of the test's own that keeps its data across a restart (append-only file, every
    write synced), as one should be run under a bus that must not lose events."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                      "--appendfsync", "always", "--dir", str(workdir)]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def redis_server(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    """`redis_url` only for its skip when redis-server is missing."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with listening([sys.executable, "-m", "gateway.cli", "sandbox", "socialboards", "--port", str(port)], port, tmp_path):
        yield f"http://127.0.0.1:{port}/"


def texts(ws: Any, count: int) -> list[str]:
    return [next_payload(ws)["data"]["messageAdded"]["message"]["text"] for _ in range(count)]


@pytest.mark.timeout(60)
def test_writes_on_two_instances_across_a_redis_restart_reach_a_replaying_client_all_once_in_order(
    redis_server: RedisServer, sandbox_url: str
) -> None:
    credentials = {"client_id": "sandbox-client", "refresh_token": "sandbox-refresh", "agent_email": "ana@agents.example.com"}
    settings = Settings(providers=(ProviderSettings("sb", "socialboards", sandbox_url, credentials),), graphiql=False,
                        bus_url=redis_server.url)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        conversation, _ = new_conversation(a, "sb")
        with b.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"id": conversation})
            time.sleep(0.2)
            post(a, ADD, {"id": conversation, "text": "m0"})
            seen = next_payload(ws)["data"]["messageAdded"]["cursor"]
        took = []
        with b.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as live:
            ws_subscribe(live, {"id": conversation})
            time.sleep(0.2)
            for i in range(1, WRITES + 1):
                if i == OUTAGE.start:
                    redis_server.stop()
                if i == OUTAGE.stop:
                    redis_server.start()
                begun = time.monotonic()
                assert post(a if i % 2 else b, ADD, {"id": conversation, "text": f"m{i}"})["addMessages"]["__typename"] == "AddMessagesPayload"
                took.append(time.monotonic() - begun)
            assert texts(live, WRITES) == [f"m{i}" for i in range(1, WRITES + 1)]  # a subscriber that stayed
        outboxes = [client.app.state.runtime.bus.outbox for client in (a, b)]  # type: ignore[attr-defined]
        assert all(o.kept_total >= len(OUTAGE) // 2 and o.handed_over_total == o.kept_total for o in outboxes)
        with a.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"id": conversation, "since": seen})  # the first subscription from a cursor since Redis returned
            replayed = texts(ws, WRITES)
            post(b, ADD, {"id": conversation, "text": "after"})
            assert texts(ws, 1) == ["after"]  # nothing more, nothing twice, in between
    assert replayed == [f"m{i}" for i in range(1, WRITES + 1)]
    assert max(took) < 1.0, f"a write took {max(took):.2f} s"  # no waiting on Redis while it is away


async def test_the_first_replay_after_a_redis_restart_works_on_a_pool_of_connections_from_before(
    redis_server: RedisServer,
) -> None:
    bus = RedisBus(redis_server.url)
    await bus.start()
    try:
        published = [await bus.publish(message_event(f"m{i}")) for i in range(3)]
        await asyncio.gather(*(bus.publish(message_event(f"n{i}")) for i in range(10)))  # ten pooled connections
        redis_server.stop()
        redis_server.start()
        first = published[0]
        assert first is not None
        assert remote_ids(await take(bus.subscribe(since=first.cursor), 2)) == ["m1", "m2"]
    finally:
        await bus.stop()
