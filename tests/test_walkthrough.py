"""The README's "Play the customer" walk-through, run as written against `parley serve`: a subscription
over SSE, a conversation picked by a query, a customer writing in through the embedded sandbox's hook,
and the message delivered to the subscriber exactly once."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .helpers import free_port

ROOT = Path(__file__).parent.parent
QUIET_SECONDS = 1.0  # how long to wait for a duplicate after the event arrived


def walkthrough_commands() -> list[list[str]]:
    """Each curl command of the README's "Play the customer" section, split as a shell would."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Play the customer", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("curl ")]


def as_request(command: list[str], base: str) -> tuple[str, dict[str, str], bytes | None]:
    """URL (re-rooted at `base`), headers and body of a curl command."""
    url, headers, body = "", {}, None
    args = iter(command[1:])
    for arg in args:
        if arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            body = next(args).encode()
        elif not arg.startswith("-"):
            url = arg
    return url.replace("http://127.0.0.1:8000", base), headers, body


def read_events(response: httpx.Response, events: queue.Queue[dict[str, object]]) -> None:
    try:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.put(json.loads(line[len("data: "):]))
    except (httpx.HTTPError, RuntimeError):  # the test closed the stream
        return


def test_a_customer_writing_in_through_the_embedded_sandbox_reaches_the_subscriber_once(tmp_path: Path) -> None:
    subscribe, pick, write = walkthrough_commands()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")} | {"PARLEY_PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # stderr: the logs
    try:
        assert server.stdout is not None and "Parley GraphQL on" in server.stdout.readline()
        with httpx.Client(timeout=10) as client:
            url, headers, body = as_request(subscribe, base)
            events: queue.Queue[dict[str, object]] = queue.Queue()
            with client.stream("POST", url, headers=headers, content=body) as stream:
                assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
                threading.Thread(target=read_events, args=(stream, events), daemon=True).start()
                time.sleep(0.3)  # the subscription is registered before the customer writes

                url, headers, body = as_request(pick, base)
                picked = client.post(url, headers=headers, content=body).json()
                remote_id = picked["data"]["conversations"]["edges"][0]["node"]["remoteId"]
                url, headers, body = as_request(write, base)
                written = client.post(url.replace("REMOTE_ID", remote_id), headers=headers, content=body)
                assert written.status_code < 300, written.text

                event = events.get(timeout=10)
                message = event["data"]["messageAdded"]["message"]  # type: ignore[index]
                assert message["text"] == "Hello, is anyone there?"
                assert message["author"]["role"] == "CUSTOMER"
                assert message["conversation"]["remoteId"] == remote_id
                time.sleep(QUIET_SECONDS)
                assert events.empty(), "the message was delivered twice"
    finally:
        server.terminate()
        server.communicate(timeout=10)
