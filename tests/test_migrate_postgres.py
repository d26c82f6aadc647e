"""Migrations shared by instances on one PostgreSQL (a real server the tests start on loopback): a job
started on one instance is seen and cancelled on another, and when its runner dies another instance
takes it over and finishes it. Two `parley serve` processes: start on A, watch on B, kill A."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import websockets

from gateway.migration_settings import MigrationSettings

from .helpers import free_port, wait_for_port
from .migrate_kit import conversations, migrate, vendor
from .test_migrate_cli import ENV, sandboxes

START = """mutation S($input: StartMigrationInput!) { startMigration(input: $input) { __typename
  ... on MigrationPayload { migration { id status } } ... on Error { message } } }"""
WATCH = """subscription W($id: ID!) { migrationProgress(id: $id) { final
  migration { status error progress { done total } report { complete created handled } } } }"""


async def test_a_job_started_on_one_instance_is_cancelled_from_another(tmp_path: Path, postgres_url: str) -> None:
    from gateway.migrate.service import MigrationService

    async with vendor("socialboards", "src", demo=200) as a, vendor("socialboards", "dst") as b:
        await b.hooks.post("/_sandbox/faults", json={"latencyMs": 300, "pathContains": "/chat/conversations"})
        providers = {"src": a.provider, "dst": b.provider}
        settings = MigrationSettings(store_url=postgres_url, lease_seconds=5, concurrency=16)  # the cancel lands with most to do
        first, second = await MigrationService.open(settings, providers), await MigrationService.open(settings, providers)
        try:
            job = await first.start(source="src", target="dst")
            seen = await second.get(job.id)
            assert seen is not None and seen.status == "RUNNING" and seen.lease_owner == first.owner
            while (await second.store.tally(job.id))["CREATED"] < 2:
                await asyncio.sleep(0.05)
            assert (await second.cancel(job.id)).status == "CANCELLING"
            async for state in second.watch(job.id):
                final = state
            assert final.status == "CANCELLED" and 2 <= final.report["conversations"]["created"] < 200  # type: ignore[index]
        finally:
            await first.close()
            await second.close()
        assert len(await conversations(b.provider)) == final.report["conversations"]["created"]  # type: ignore[index]


async def test_another_instance_finishes_a_job_whose_runner_was_killed(tmp_path: Path, postgres_url: str) -> None:
    with sandboxes(tmp_path, {"src": ("socialboards", 150, 0), "dst": ("socialboards", 0, 40)}) as stack:
        config = stack.config.read_text().replace('store_path = "jobs.sqlite"', f'store_url = "{postgres_url}"\nlease_seconds = 2')
        stack.config.write_text(config)
        ports = [free_port(), free_port()]
        servers = [
            subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=tmp_path,
                             env={**ENV, "PARLEY_CONFIG": str(stack.config)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for port in ports
        ]
        try:
            for port in ports:
                wait_for_port(port)
            started = graphql(ports[0], START, {"input": {"from": "src", "to": "dst"}})["startMigration"]
            assert started["__typename"] == "MigrationPayload", started
            job_id = started["migration"]["id"]
            events = await watch_until_killed(ports[1], job_id, servers[0])
            final = events[-1]["migration"]
            assert final["status"] == "COMPLETED" and final["report"]["complete"] is True, final
            assert final["report"]["handled"] == 150
            assert any(e["migration"]["progress"]["done"] for e in events[:-1])  # B saw A's progress before A died
        finally:
            for server in servers:
                if server.poll() is None:
                    server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(timeout=20)
        async with stack.provider("dst") as dst:
            assert len(await conversations(dst)) == 150  # no duplicate from the write A was killed in


async def watch_until_killed(port: int, job_id: str, runner: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    """Watches the job on instance B; kills A (the runner) once B has seen it copy a few conversations."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": WATCH, "variables": {"id": job_id}}}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            assert frame["type"] == "next", frame
            event = frame["payload"]["data"]["migrationProgress"]
            events.append(event)
            if runner.poll() is None and event["migration"]["progress"]["done"] >= 10:
                os.kill(runner.pid, signal.SIGKILL)
                runner.wait(timeout=10)
            if event["final"]:
                assert runner.poll() is not None, "the job ended before its first runner was killed"
                return events


def graphql(port: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables}, timeout=10).json()
    assert "errors" not in body, body
    return body["data"]


async def test_migrate_kit_migrates_against_postgres_too(tmp_path: Path, postgres_url: str) -> None:
    """The engine's tests run on SQLite; one whole run (and a delta) on PostgreSQL."""
    from gateway.migrate.service import MigrationService

    async with vendor("socialboards", "src", demo=8) as a, vendor("socialboards", "dst") as b:
        svc = await MigrationService.open(MigrationSettings(store_url=postgres_url), {"src": a.provider, "dst": b.provider})
        try:
            job = await migrate(svc, a, b)
            again = await migrate(svc, a, b)
        finally:
            await svc.close()
        assert job.report["conversations"]["created"] == 8 and again.report["conversations"]["unchanged"] == 8  # type: ignore[index]
        assert len(await conversations(b.provider)) == 8
