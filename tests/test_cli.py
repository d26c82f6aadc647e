"""`parley serve` with no configuration, started the way a newcomer does, answers the README's query."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from .helpers import free_port

ROOT = Path(__file__).parent.parent


def readme_example_body() -> dict:
    """The JSON body of the README's curl example, so the README cannot drift from what works."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"```sh\n(curl .*?)\n```", readme, re.S)
    assert command, "README has no curl example in a ```sh block"
    args = shlex.split(command.group(1).replace("\\\n", " "))
    return json.loads(args[args.index("-d") + 1])


def test_parley_serve_answers_the_readme_query_with_demo_data(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PARLEY_PORT": str(port), "PARLEY_HOST": "127.0.0.1"}
    env.pop("PARLEY_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        body = None
        for _ in range(100):
            try:
                body = httpx.post(f"http://127.0.0.1:{port}/graphql", json=readme_example_body(), timeout=5).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert body is not None, "parley serve did not start"
        assert "errors" not in body, body
        edges = body["data"]["conversations"]["edges"]
        assert len(edges) == 3 and all(e["node"]["id"] and e["node"]["status"] for e in edges)
        everything = {"query": "{ providers { name } conversations(first: 100) { edges { node { provider } } } }"}
        data = httpx.post(f"http://127.0.0.1:{port}/graphql", json=everything, timeout=5).json()["data"]
        assert sorted(p["name"] for p in data["providers"]) == ["clevertap", "infobip", "socialboards"]
        assert {e["node"]["provider"] for e in data["conversations"]["edges"]} == {"clevertap", "infobip", "socialboards"}
        assert asyncio.run(websocket_extensions(f"ws://127.0.0.1:{port}/graphql")) is None
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/graphql" in output


async def websocket_extensions(url: str) -> str | None:
    """The extensions `parley serve` accepts from a client offering permessage-deflate (as browsers do),
    after a graphql-transport-ws handshake. None: it declines compression, which costs a zlib state per
    socket (about 40 KiB) and a compression per frame and subscriber."""
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        assert ws.request is not None and "permessage-deflate" in ws.request.headers.get("Sec-WebSocket-Extensions", "")
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions")


@pytest.mark.parametrize(
    ("vendor", "path", "headers"),
    [
        ("socialboards", "/chat/conversations/1", {}),
        ("infobip", "/ccaas/1/conversations", {"Authorization": "App sandbox-key"}),
        ("clevertap", "/1/conversation.json?id=cv_01HQWY5CG0R84P57VFQVC2R1ZZ", {
            "X-CleverTap-Account-Id": "SANDBOX-ACCOUNT", "X-CleverTap-Passcode": "sandbox-passcode"}),
    ],
)
def test_parley_sandbox_runs_each_vendor_alone(tmp_path: Path, vendor: str, path: str, headers: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "sandbox", vendor, "--port", str(port), "--demo", "3"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        response = None
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None, f"parley sandbox {vendor} did not start"
        assert response.status_code in (200, 401, 404), response.text  # the vendor's own answer, not a crash
        log = httpx.get(f"http://127.0.0.1:{port}/_sandbox/requests", timeout=5).json()["requests"]
        assert [entry["path"] for entry in log] == [path.split("?")[0]]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"{vendor} sandbox on http://127.0.0.1:{port}/" in output


@contextlib.contextmanager
def two_workers(tmp_path: Path, **env: str) -> Iterator[tuple[str, list[str]]]:
    """`parley serve --workers 2` over an Infobip sandbox in its own process: the GraphQL URL, and the
    serve output (filled in when the block ends)."""
    sandbox_port, port = free_port(), free_port()
    started = [subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "sandbox", "infobip", "--port", str(sandbox_port), "--demo", "4"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    config = tmp_path / "parley.toml"
    config.write_text(f'[providers.ib]\nvendor = "infobip"\nbase_url = "http://127.0.0.1:{sandbox_port}/"\napi_key = "sandbox-key"\n')
    environment = {**os.environ, "PARLEY_CONFIG": str(config), "PARLEY_PORT": str(port), "PARLEY_HOST": "127.0.0.1", **env}
    started.append(subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--workers", "2"], cwd=tmp_path, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ))
    output: list[str] = []
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        for _ in range(150):
            try:
                httpx.post(url, json={"query": "{ providers { name } }"}, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("parley serve --workers 2 did not start")
        yield url, output
    finally:
        for process in reversed(started):
            process.terminate()
        output.append(started[1].communicate(timeout=15)[0])
        started[0].wait(timeout=10)


def test_parley_serve_with_two_workers_answers_from_a_configured_vendor_and_says_what_workers_do_not_share(
    tmp_path: Path,
) -> None:
    query = {"query": "{ conversations(first: 10) { edges { node { provider tags lastMessage { text } } } } }"}
    with two_workers(tmp_path) as (url, output):
        body = httpx.post(url, json=query, timeout=5).json()
        assert "errors" not in body, body
        assert [e["node"]["provider"] for e in body["data"]["conversations"]["edges"]] == ["ib"] * 4
    assert "2 workers, each with its own event bus" in output[0]


def test_two_workers_sharing_a_redis_bus_deliver_every_message_to_a_subscriber_on_either(tmp_path: Path, redis_url: str) -> None:
    with two_workers(tmp_path, PARLEY_BUS_URL=redis_url.rsplit("/", 1)[0] + "/2") as (url, output):
        edges = httpx.post(url, json={"query": "{ conversations(first: 1) { edges { node { id } } } }"}, timeout=5).json()
        conversation = edges["data"]["conversations"]["edges"][0]["node"]["id"]
        texts = [f"reply {i}" for i in range(8)]
        seen: list[str] = []
        subscribe = {"query": "subscription($id: ID) { messageAdded(conversationId: $id) { message { text } } }",
                     "variables": {"id": conversation}}

        def listen() -> None:
            with httpx.stream("POST", url, json=subscribe, headers={"accept": "text/event-stream"}, timeout=10) as events:
                for line in events.iter_lines():
                    if line.startswith("data:") and "messageAdded" in line:
                        seen.append(json.loads(line.removeprefix("data:"))["data"]["messageAdded"]["message"]["text"])
                        if len(seen) == len(texts):
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.5)
        add = "mutation($id: ID!, $t: String!) { addMessages(conversationId: $id, messages: [{text: $t}]) { __typename } }"
        for text in texts:  # a new connection each: the kernel hands them to either worker
            answer = httpx.post(url, json={"query": add, "variables": {"id": conversation, "t": text}}, timeout=5).json()
            assert answer["data"]["addMessages"]["__typename"] == "AddMessagesPayload", answer
        listener.join(timeout=10)
    assert seen == texts
    assert "each with its own event bus" not in output[0]


def test_parley_serve_refuses_to_start_when_the_configured_bus_does_not_answer(tmp_path: Path) -> None:
    env = {**os.environ, "PARLEY_BUS_URL": "redis://127.0.0.1:9/0", "PARLEY_PORT": str(free_port())}  # nothing listens on 9
    env.pop("PARLEY_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "serve"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "bad setting: PARLEY_BUS_URL / server.bus_url: the event bus cannot reach Redis" in done.stderr
