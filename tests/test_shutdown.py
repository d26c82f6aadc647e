"""`parley serve` stopped with SIGINT or SIGTERM while subscriptions are open: each client is told its
subscription is complete (graphql-transport-ws and graphql-ws `complete` then the close, SSE
`event: complete` and the end of the stream), the process is gone within the short drain, and nothing
prints a traceback. The two graphql-transport-ws subscribers of the same subscription are members of
one shared stream (gateway/live.py): each gets its own `complete`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from .helpers import free_port

ROOT = Path(__file__).parent.parent
SUBSCRIBE = "subscription { messageAdded(providers: [\"socialboards\"]) { cursor message { text } } }"
FIRST = "{ conversations(first: 1, filter: {providers: [\"socialboards\"]}) { edges { node { id } } } }"
ADD = "mutation($id: ID!, $t: String!) { addMessages(conversationId: $id, messages: [{text: $t}]) { __typename } }"


class SSEClient(threading.Thread):
    """A GraphQL-over-SSE subscription read line by line until the server ends the stream."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.lines, self.ended = url, list[str](), False

    def run(self) -> None:
        body = {"query": SUBSCRIBE}
        with httpx.stream("POST", self.url, json=body, headers={"accept": "text/event-stream"}, timeout=20) as stream:
            for line in stream.iter_lines():
                self.lines.append(line)
        self.ended = True


class WSClient(threading.Thread):
    """A subscription over graphql-transport-ws, or the legacy graphql-ws; every frame after the ack
    (but keep-alives), then the close code."""

    def __init__(self, url: str, protocol: str) -> None:
        super().__init__(daemon=True)
        self.url, self.protocol = url.replace("http", "ws", 1), protocol
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None

    def run(self) -> None:
        start = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        with connect(self.url, subprotocols=[Subprotocol(self.protocol)], open_timeout=5) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
            ws.send(json.dumps({"id": "1", "type": start, "payload": {"query": SUBSCRIBE}}))
            try:
                while True:
                    frame = json.loads(ws.recv(timeout=20))
                    if frame["type"] != "ka":
                        self.frames.append(frame)
            except ConnectionClosed as closed:
                self.close_code = closed.rcvd.code if closed.rcvd else None

    @property
    def types(self) -> list[str]:
        return [frame["type"] for frame in self.frames]


def wait_for(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_completes_open_subscriptions_and_exits_within_the_drain_without_tracebacks(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    env = {**os.environ, "PARLEY_PORT": str(port), "PARLEY_HOST": "127.0.0.1", "PARLEY_DEMO_CONVERSATIONS": "2",
           "PYTHONPATH": str(ROOT)}  # this checkout's code, whichever one the environment has installed
    env.pop("PARLEY_CONFIG", None)
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--log-level", "info"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        for _ in range(150):
            try:
                conversation = httpx.post(url, json={"query": FIRST}, timeout=5).json()["data"]["conversations"]["edges"][0]["node"]["id"]
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("parley serve did not start")
        sse, ws, legacy = SSEClient(url), WSClient(url, "graphql-transport-ws"), WSClient(url, "graphql-ws")
        member = WSClient(url, "graphql-transport-ws")  # the same subscription as `ws`: the two share one stream
        for client in (sse, ws, legacy, member):
            client.start()
        time.sleep(0.3)
        answer = httpx.post(url, json={"query": ADD, "variables": {"id": conversation, "t": "live"}}, timeout=5).json()
        assert answer["data"]["addMessages"]["__typename"] == "AddMessagesPayload", answer
        wait_for(lambda: any('"live"' in line for line in sse.lines) and "next" in ws.types and "next" in member.types
                 and "data" in legacy.types)
        begun = time.monotonic()
        process.send_signal(stop)
        out, err = process.communicate(timeout=10)
        took = time.monotonic() - begun
        for client in (sse, ws, legacy, member):
            client.join(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert took < 3, f"the server took {took:.1f} s to stop"
    assert sse.ended and "event: complete" in sse.lines, sse.lines
    assert ws.types == ["next", "complete"] and ws.frames[-1]["id"] == "1", ws.frames
    assert member.frames == ws.frames, member.frames
    assert legacy.types == ["data", "complete"] and legacy.frames[-1]["id"] == "1", legacy.frames
    assert None not in (ws.close_code, member.close_code, legacy.close_code), "a WebSocket was not closed by the server"
    for text in (out, err):
        assert "Traceback" not in text and "CancelledError" not in text, text
