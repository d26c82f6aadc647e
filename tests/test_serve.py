"""`parley serve` with no configuration, started the way a newcomer does, answers the README's query."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/graphql" in output


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


def test_parley_serve_with_two_workers_answers_from_a_configured_vendor_and_says_what_workers_do_not_share(
    tmp_path: Path,
) -> None:
    sandbox_port, port = free_port(), free_port()
    started = [subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "sandbox", "infobip", "--port", str(sandbox_port), "--demo", "4"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    config = tmp_path / "parley.toml"
    config.write_text(f'[providers.ib]\nvendor = "infobip"\nbase_url = "http://127.0.0.1:{sandbox_port}/"\napi_key = "sandbox-key"\n')
    env = {**os.environ, "PARLEY_CONFIG": str(config), "PARLEY_PORT": str(port), "PARLEY_HOST": "127.0.0.1"}
    started.append(subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--workers", "2"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ))
    try:
        query = {"query": "{ conversations(first: 10) { edges { node { provider tags lastMessage { text } } } } }"}
        body = None
        for _ in range(150):
            try:
                body = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query, timeout=5).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert body is not None, "parley serve --workers 2 did not start"
        assert "errors" not in body, body
        assert [e["node"]["provider"] for e in body["data"]["conversations"]["edges"]] == ["ib"] * 4
    finally:
        for process in reversed(started):
            process.terminate()
        output, _ = started[1].communicate(timeout=15)
        started[0].wait(timeout=10)
    assert "2 workers, each with its own event bus" in output
