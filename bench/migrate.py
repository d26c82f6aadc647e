"""The migration engine end to end: `parley migrate` between two vendor sandboxes, each in its own
process (`parley sandbox <vendor> --latency-ms L`), as a partner would run it.

For each direction (Socialboards → Infobip, Infobip → Socialboards), latency and size it starts both
sandboxes fresh, seeds the source with N conversations of 10 messages each (straight at the sandbox,
never through Parley), runs `parley migrate --from src --to dst --json` on a fresh SQLite store and
prints: conversations/s (the job's own start to finish), vendor calls per conversation at the target
(counted by the sandbox; the token call left out) next to the fewest the target's API allows, reads
per conversation at the source, the CPU time per conversation of `parley migrate` (user + system,
start-up included) and of each sandbox while it ran, and the peak RSS of the `parley migrate`
process (VmHWM). With `--runs N` each row is the median of N runs (all rates are printed beside it).

    .venv/bin/python bench/migrate.py [--sizes 1000,10000] [--latency-ms 0,20] [--directions sb-ib,ib-sb] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PARLEY = [sys.executable, "-m", "gateway.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HOST = "127.0.0.1"
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)
MESSAGES = 10
SEED_CONCURRENCY = 64
CREDENTIALS = {
    "socialboards": 'client_id = "sandbox-client"\nrefresh_token = "sandbox-refresh"',
    "infobip": 'api_key = "sandbox-key"',
}
DIRECTIONS = {"sb-ib": ("socialboards", "infobip"), "ib-sb": ("infobip", "socialboards")}
# The fewest calls per conversation the target's API allows for an open conversation of 10 messages:
MINIMUM = {
    "socialboards": (2, "create + one message-context call for up to 100 messages"),
    "infobip": (1 + MESSAGES, "create + one note per message (the notes API takes one at a time)"),
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandbox(vendor: str, latency_ms: int, log: Path) -> Iterator[tuple[str, int]]:
    """A sandbox in its own process: its URL and pid."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen([*PARLEY, "sandbox", vendor, "--host", HOST, "--port", str(port), "--demo", "0",
                                    "--latency-ms", str(latency_ms)], stdout=output, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://{HOST}:{port}/"
    try:
        for _ in range(300):
            try:
                httpx.get(url + "_sandbox/clock", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


async def seed(vendor: str, url: str, count: int) -> None:
    """`count` conversations of MESSAGES messages, through aiohttp (httpx costs a millisecond of CPU a
    request, which at 100,000 requests is minutes)."""
    import aiohttp

    limits = asyncio.Semaphore(SEED_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=SEED_CONCURRENCY)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as client:
        headers: dict[str, str] = {"authorization": "App sandbox-key"}
        if vendor == "socialboards":
            form = {"grant_type": "refresh_token", "client_id": "sandbox-client", "refresh_token": "sandbox-refresh"}
            async with client.post("/token", data=form) as answer:
                headers = {"authorization": f"Bearer {(await answer.json())['access_token']}"}

        async def post(path: str, body: Any) -> Any:
            async with client.post(path, json=body, headers=headers) as answer:
                assert answer.status == 200, await answer.text()
                return await answer.json()

        async def socialboards(n: int) -> None:
            customer = {"name": f"Customer {n}", "customIdentifier": f"bench-{n}"}
            agent = {"name": "Bench Agent", "email": "agent@example.com"}
            created = await post("/chat/conversations", {"author": customer, "title": f"Order {n}"})
            lines = [{"author": agent if i % 2 else customer, "message": f"line {i} of {n}", "isByTeam": bool(i % 2)} for i in range(MESSAGES)]
            await post(f"/chat/conversations/{created['data']['id']}/messages", lines)

        async def infobip(n: int) -> None:
            """Created through the API (the sandbox's inbound hook threads a first message by scanning
            every conversation); then the customer and an agent take turns."""
            customer, shop = f"44770{n:07d}", "447860099299"
            conversation = (await post("/ccaas/1/conversations", {"topic": f"Order {n}", "channel": "WHATSAPP"}))["id"]
            for i in range(MESSAGES):
                if i % 2 == 0:
                    body = {"from": customer, "to": shop, "channel": "WHATSAPP", "text": f"line {i} of {n}", "conversationId": conversation}
                    await post("/_sandbox/inbound", body)
                else:
                    body = {"from": shop, "to": customer, "channel": "WHATSAPP", "contentType": "TEXT", "content": {"text": f"line {i} of {n}"}}
                    await post(f"/ccaas/1/conversations/{conversation}/messages", body)

        async def one(n: int) -> None:
            async with limits:
                await (socialboards(n) if vendor == "socialboards" else infobip(n))

        await asyncio.gather(*(one(n) for n in range(count)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def calls(url: str) -> int:
    requests = httpx.get(url + "_sandbox/requests", timeout=60).json()["requests"]
    return sum(1 for r in requests if not r["path"].endswith("/token"))


def run_once(source: str, target: str, latency_ms: int, count: int, workdir: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        src, src_pid = stack.enter_context(sandbox(source, latency_ms, workdir / "src.log"))
        dst, dst_pid = stack.enter_context(sandbox(target, latency_ms, workdir / "dst.log"))
        started = time.monotonic()
        asyncio.run(seed(source, src, count))
        seeded = time.monotonic() - started
        httpx.delete(src + "_sandbox/requests", timeout=30)
        httpx.delete(dst + "_sandbox/requests", timeout=30)
        config = workdir / "parley.toml"
        store = workdir / f"jobs-{source}-{latency_ms}-{count}.sqlite"
        config.write_text(
            f'[providers.src]\nvendor = "{source}"\nbase_url = "{src}"\n{CREDENTIALS[source]}\n\n'
            f'[providers.dst]\nvendor = "{target}"\nbase_url = "{dst}"\n{CREDENTIALS[target]}\n\n'
            f'[migrations]\nstore_path = "{store}"\n'
        )
        env = {**ENV, "PARLEY_CONFIG": str(config)}
        sandboxes_before = cpu_seconds(src_pid), cpu_seconds(dst_pid)
        # GNU time reports the process's own peak RSS (its VmHWM); Python's wait4 rusage gave other numbers here.
        process = subprocess.run([TIME, "-f", "peak-rss-kb %M cpu %U %S", *PARLEY, "migrate", "--from", "src", "--to", "dst", "--json"],
                                 env=env, capture_output=True)
        src_cpu, dst_cpu = cpu_seconds(src_pid) - sandboxes_before[0], cpu_seconds(dst_pid) - sandboxes_before[1]
        measured = process.stderr.decode().strip().rsplit("peak-rss-kb ", 1)[1].split()
        peak_kb, cpu = int(measured[0]), float(measured[2]) + float(measured[3])
        report = json.loads(process.stdout)
        job = json.loads(subprocess.run([*PARLEY, "migrate", "status", report["job"], "--json"], env=env,
                                        capture_output=True, check=True).stdout)[0]
        seconds = job["finishedAt"] - job["createdAt"]
        return {
            "conversations": report["conversations"]["created"], "messages": report["messages"]["written"],
            "complete": report["complete"], "seconds": round(seconds, 1), "per_second": round(count / seconds, 1),
            "target_calls": round(calls(dst) / count, 2), "source_calls": round(calls(src) / count, 2),
            "peak_rss_mib": round(peak_kb / 1024, 1), "seeded_in": round(seeded, 1), "exit": process.returncode,
            "migrate_cpu_ms": round(cpu * 1000 / count, 2), "source_cpu_ms": round(src_cpu * 1000 / count, 2),
            "target_cpu_ms": round(dst_cpu * 1000 / count, 2), "load": os.getloadavg()[0],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--latency-ms", default="0,20")
    parser.add_argument("--directions", default="sb-ib,ib-sb")
    parser.add_argument("--runs", type=int, default=1, help="runs of each configuration; the row shows their median")
    args = parser.parse_args()
    print("| direction | latency | conversations | conversations/s (runs) | target calls/conv (minimum) | source reads/conv "
          "| CPU ms/conv: migrate, source sandbox, target sandbox | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for direction in args.directions.split(","):
        source, target = DIRECTIONS[direction]
        for latency in (int(v) for v in args.latency_ms.split(",")):
            for count in (int(v) for v in args.sizes.split(",")):
                results = []
                for _ in range(args.runs):
                    with tempfile.TemporaryDirectory(prefix="parley-bench-") as workdir:
                        results.append(run_once(source, target, latency, count, Path(workdir)))
                    print(f"<!-- {json.dumps(results[-1])} -->", file=sys.stderr, flush=True)
                row = {key: statistics.median(r[key] for r in results) for key in results[0] if isinstance(results[0][key], (int, float))}
                rates = ", ".join(str(r["per_second"]) for r in results)
                print(f"| {source} → {target} | {latency} ms | {count:,} | {row['per_second']:.1f} ({rates}) | "
                      f"{row['target_calls']:.2f} ({MINIMUM[target][0]}) | {row['source_calls']:.2f} | {row['migrate_cpu_ms']:.1f}, "
                      f"{row['source_cpu_ms']:.1f}, {row['target_cpu_ms']:.1f} | {row['peak_rss_mib']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
