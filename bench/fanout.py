"""Live fan-out: how fast one event reaches N WebSocket subscribers, and what an idle subscriber costs.

For each N in --subscribers and each layout in --instances (1: one `parley serve`; 2: two, sharing a
redis-server of the benchmark's own on loopback through `bus_url`), it starts a fresh stack (`parley
sandbox infobip` sending its webhooks to the first instance, Parley with a webhook secret), then:

1. opens N graphql-transport-ws connections (many per process, spread over --client-processes
   processes and over the instances), each subscribed to `messageAdded`. The client (--client,
   bench/fanout_clients.py) is by default a minimal one that parses the frames itself: the subscribers
   share the cores with Parley, and the `websockets` library's client (--client websockets, the only
   one before) took 1.8 times its CPU per frame (17 against 10 µs at 5,000 subscribers), more than
   Parley's own; a cheaper client measures the gateway more truly, it does not make it faster
   (Parley's CPU per delivery is printed beside);
2. memory per subscriber: the instances' resident memory (VmRSS, summed) once all are subscribed and
   idle, minus before they connected, divided by N;
3. injects events at --rate per second for --seconds: a customer writes in through the sandbox's
   `POST /_sandbox/inbound`, the sandbox sends Infobip's webhook to Parley, Parley publishes it and
   every subscriber receives it. Latency is from just before the inbound POST to the moment a
   subscriber's process reads the `next` message (one clock: CLOCK_MONOTONIC is system-wide);
4. reports deliveries (expected N x events), latency p50/p95/p99/max over every delivery, per event the
   latency of its first delivery and its spread (last delivery minus first), Parley's and the
   subscriber processes' CPU, and whether the target (p99 <= 100 ms at 10 events/s with 5,000
   subscribers on one instance; <= 20 KiB per idle subscriber) is met.

The subscriber processes share the machine with Parley (2 cores here), so at large N they take CPU
Parley would otherwise have; their own CPU (all, and the busiest process's) is printed to show it,
and how long Parley's event loop waited for a CPU. RLIMIT_NOFILE is raised to its hard limit here,
and the processes started inherit it.

    make bench-fanout
    .venv/bin/python bench/fanout.py [--subscribers 100,1000,5000] [--instances 1,2] [--rate 10] [--seconds 10] [--client raw|websockets]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fanout_clients import CLIENTS, MARKER, subscriber_process
from stack import HOST, CLOCK_TICKS, free_port, parley_toml, process

VENDOR = "infobip"
SECRET = "fanout-bench-secret"
SHOP_PHONE = "447860099299"
CUSTOMER_PHONE = "447700900777"
TEXT_PREFIX = MARKER.decode()
SUBSCRIPTION = """subscription Live {
  messageAdded(providers: ["infobip"]) { cursor message { id remoteId text createdAt direction author { id role } } }
}"""
SETTLE_SECONDS = 2.0  # after the last subscription: let the instances' memory settle before reading it
DRAIN_SECONDS = 5.0  # after the last event: deliveries still arriving count
P99_TARGET_MS = 100.0
TARGET_SUBSCRIBERS = 5000
KIB_TARGET = 20.0


# ---- the stack ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fanout:
    sandbox: str  # base URL
    ws_urls: list[str]
    parley_pids: list[int]


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench/fanout.py: two instances need redis-server (apt-get install redis-server)")
    port = free_port()
    log = (workdir / "redis.log").open("wb")
    server = subprocess.Popen([binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"redis://{HOST}:{port}/0"
    finally:
        server.terminate()
        server.wait(10)
        log.close()


@contextmanager
def fanout_stack(instances: int, workdir: Path) -> Iterator[Fanout]:
    with ExitStack() as stack:
        server = ""
        if instances > 1:
            server = f'bus_url = "{stack.enter_context(redis_server(workdir))}"\n'
        ports = [free_port() for _ in range(instances)]
        sandbox_port = free_port()
        webhook = f"http://{HOST}:{ports[0]}/webhooks/{VENDOR}?secret={SECRET}"
        command = ["sandbox", VENDOR, "--host", HOST, "--port", str(sandbox_port), "--demo", "0", "--webhook-url", webhook]
        sandbox = f"http://{HOST}:{sandbox_port}/"
        sandbox_ready = sandbox + "_sandbox/clock"
        stack.enter_context(process(command, workdir / "sandbox.log", sandbox_ready))
        config = workdir / "parley.toml"
        config.write_text(parley_toml({VENDOR: sandbox}, server, provider=f'webhook_secret = "{SECRET}"\n'), encoding="utf-8")
        pids = []
        for n, port in enumerate(ports):
            command = ["serve", "--host", HOST, "--port", str(port)]
            ready = f"http://{HOST}:{port}/graphql"
            pids.append(stack.enter_context(process(command, workdir / f"parley-{n}.log", ready, {"PARLEY_CONFIG": str(config)})).pid)
        yield Fanout(sandbox, [f"ws://{HOST}:{port}/graphql" for port in ports], pids)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _waited_seconds(pid: int) -> float:
    """How long the process's main thread (Parley's event loop) was runnable but waiting for a CPU
    (/proc/<pid>/schedstat, second field): the share of the machine it did not get."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# ---- one measurement ----------------------------------------------------------------------------


async def inject(http: httpx.AsyncClient, sandbox: str, conversation: str, rate: float, seconds: float) -> dict[int, float]:
    """Event number -> CLOCK_MONOTONIC just before its inbound POST, at `rate` per second."""
    sent: dict[int, float] = {}
    start = time.monotonic()
    tasks = []

    async def post(n: int) -> None:
        sent[n] = time.monotonic()
        body = {"from": CUSTOMER_PHONE, "to": SHOP_PHONE, "channel": "WHATSAPP", "text": f"{TEXT_PREFIX}{n}",
                "conversationId": conversation}
        (await http.post(sandbox + "_sandbox/inbound", json=body)).raise_for_status()

    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(post(n)))  # never waits for the previous one: a fixed rate
    await asyncio.gather(*tasks)
    return sent


async def measure(subscribers: int, instances: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with fanout_stack(instances, workdir) as stack:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            first = {"from": CUSTOMER_PHONE, "to": SHOP_PHONE, "channel": "WHATSAPP", "text": "hello"}
            response = await http.post(stack.sandbox + "_sandbox/inbound", json=first)
            conversation = response.raise_for_status().json()["conversationId"]
            await asyncio.sleep(0.5)  # the webhook of the first message reaches Parley and warms its path
            rss_before = sum(_status_kib(pid, "VmRSS") for pid in stack.parley_pids)
            processes = max(1, min(args.client_processes, subscribers // 100 or 1))
            context = multiprocessing.get_context("spawn")
            workers = []
            for n in range(processes):
                share = subscribers // processes + (n < subscribers % processes)
                ours, theirs = context.Pipe()
                worker = context.Process(target=subscriber_process, args=(args.client, stack.ws_urls, share, n, SUBSCRIPTION, theirs), daemon=True)
                worker.start()
                workers.append((worker, ours))
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            ready = [await loop.run_in_executor(None, pipe.recv) for _, pipe in workers]
            subscribe_seconds = time.monotonic() - started
            subscribed = sum(r[1] for r in ready)
            failures = [f for r in ready for f in r[2]]
            failed = sum(r[3] for r in ready)
            await asyncio.sleep(SETTLE_SECONDS)
            rss_idle = sum(_status_kib(pid, "VmRSS") for pid in stack.parley_pids)
            cpu_before = sum(_cpu_seconds(pid) for pid in stack.parley_pids)
            waited_before = sum(_waited_seconds(pid) for pid in stack.parley_pids)
            sent = await inject(http, stack.sandbox, conversation, args.rate, args.seconds)
            await asyncio.sleep(DRAIN_SECONDS)
            parley_cpu = sum(_cpu_seconds(pid) for pid in stack.parley_pids) - cpu_before
            parley_waited = sum(_waited_seconds(pid) for pid in stack.parley_pids) - waited_before
            rss_after = sum(_status_kib(pid, "VmRSS") for pid in stack.parley_pids)
            for _, pipe in workers:
                pipe.send("stop")
            results = [await loop.run_in_executor(None, pipe.recv) for _, pipe in workers]
            for worker, _ in workers:
                worker.join(30)
                if worker.is_alive():
                    worker.kill()
    latencies = sorted((at - sent[n]) * 1000 for r in results for n, at in r[1] if n in sent)
    first: dict[int, float] = {}  # per event: its first and last delivery
    last: dict[int, float] = {}
    for r in results:
        for n, at in r[1]:
            if n in sent:
                first[n], last[n] = min(first.get(n, at), at), max(last.get(n, at), at)
    firsts = sorted((first[n] - sent[n]) * 1000 for n in first)
    spreads = sorted((last[n] - first[n]) * 1000 for n in first)
    client_cpu = [(r[4] - before[4]) / (args.seconds + DRAIN_SECONDS) * 100 for r, before in zip(results, ready, strict=True)]
    failures += [f for r in results for f in r[2]]
    failed += sum(r[3] for r in results) - sum(r[3] for r in ready)
    window = args.seconds + DRAIN_SECONDS
    return {
        "subscribers": subscribers,
        "instances": instances,
        "subscribed": subscribed,
        "subscribe seconds": subscribe_seconds,
        "events": len(sent),
        "deliveries": len(latencies),
        "expected": subscribed * len(sent),
        "p50 ms": _percentile(latencies, 50),
        "p95 ms": _percentile(latencies, 95),
        "p99 ms": _percentile(latencies, 99),
        "max ms": latencies[-1] if latencies else None,
        "KiB/subscriber": (rss_idle - rss_before) / subscribers if subscribers else None,
        "RSS MiB idle": rss_idle / 1024,
        "RSS MiB after": rss_after / 1024,
        "CPU% Parley": parley_cpu / window * 100,
        "Parley µs/delivery": parley_cpu / len(latencies) * 1e6 if latencies else None,
        "Parley waited for CPU %": parley_waited / window * 100,
        "CPU% subscribers": sum(client_cpu),
        "CPU% busiest subscriber process": max(client_cpu),
        "first p50 ms": _percentile(firsts, 50),
        "first p99 ms": _percentile(firsts, 99),
        "spread p50 ms": _percentile(spreads, 50),
        "spread p99 ms": _percentile(spreads, 99),
        "failures": failed,
        "failure kinds": sorted(set(failures))[:5],
    }


def _percentile(values: list[float], p: int) -> float | None:
    if len(values) < 2:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# ---- the report ---------------------------------------------------------------------------------

COLUMNS = ("instances", "subscribers", "subscribed", "events", "deliveries", "expected", "p50 ms", "p95 ms", "p99 ms",
           "max ms", "first p50 ms", "first p99 ms", "spread p50 ms", "spread p99 ms", "KiB/subscriber", "RSS MiB idle",
           "CPU% Parley", "Parley µs/delivery", "Parley waited for CPU %", "CPU% subscribers", "CPU% busiest subscriber process", "failures")


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nlive fan-out · messageAdded over graphql-transport-ws · {args.rate:g} events/s for {args.seconds:g} s · "
          f"injected through Infobip's webhook · median of {args.repeat} run(s)")
    widths = [max(8, len(c) + 2) for c in COLUMNS]
    print("".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        cells = ["-" if row[c] is None else f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in COLUMNS]
        print("".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    print(f"(client: {args.client}; latency: inbound POST at the sandbox -> `next` read by a subscriber process; first: an "
          "event's first delivery (the sandbox, its webhook, Parley's execution, one write and read); spread: its last "
          "delivery minus its first (the fan-out's writes and the subscribers' reads); KiB/subscriber: VmRSS of the "
          "instances when all are subscribed and idle, minus before, over N; CPU%: of one core, over the events and drain; waited for CPU: the time Parley's event loop was "
          "runnable but not running, over the same window)")
    for row in rows:
        for kind in row["failure kinds"]:
            print(f"  failures with {row['subscribers']} on {row['instances']}: {kind}")
    for row in rows:
        if row["instances"] == 1 and row["subscribers"] == TARGET_SUBSCRIBERS:
            complete = row["deliveries"] == row["expected"] == TARGET_SUBSCRIBERS * row["events"]
            p99_ok = row["p99 ms"] is not None and row["p99 ms"] <= P99_TARGET_MS and complete
            print(f"target, {TARGET_SUBSCRIBERS} subscribers on one instance: p99 {row['p99 ms'] or 0:.0f} ms with "
                  f"{row['deliveries']} of {TARGET_SUBSCRIBERS * row['events']} deliveries "
                  f"({'met' if p99_ok else 'NOT met'}; target <= {P99_TARGET_MS:.0f} ms, all delivered)")
    kib = [row["KiB/subscriber"] for row in rows if row["KiB/subscriber"] is not None and row["subscribers"] >= 1000]
    if kib:
        print(f"memory per idle subscriber (N >= 1000): {min(kib):.1f}-{max(kib):.1f} KiB "
              f"({'met' if max(kib) <= KIB_TARGET else 'NOT met'}; target <= {KIB_TARGET:.0f} KiB)")


def medians(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    table = []
    for measured in zip(*runs, strict=True):
        row = dict(measured[-1])
        for key in COLUMNS:
            values = [m[key] for m in measured if m[key] is not None]
            if values and key not in ("instances", "subscribers"):
                row[key] = statistics.median(values)
        row["failure kinds"] = sorted({k for m in measured for k in m["failure kinds"]})[:5]
        table.append(row)
    return table


async def main(args: argparse.Namespace) -> None:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every process started below
    print(f"open files per process: {hard} (was {soft})", flush=True)
    runs: list[list[dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="parley-fanout-") as workdir:
        for repeat in range(args.repeat):
            rows = []
            for instances in args.instances:
                for subscribers in args.subscribers:
                    row = await measure(subscribers, instances, args, Path(workdir))
                    rows.append(row)
                    print(f"  run {repeat + 1}/{args.repeat}: {subscribers} subscribers on {instances} instance(s): "
                          f"{row['deliveries']}/{row['expected']} delivered, p50 {row['p50 ms'] or 0:.1f} ms, "
                          f"p99 {row['p99 ms'] or 0:.1f} ms, {row['KiB/subscriber'] or 0:.1f} KiB/subscriber", flush=True)
            runs.append(rows)
    table = medians(runs)
    print_table(table, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "median": table, "runs": runs}, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    numbers = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    parser.add_argument("--subscribers", type=numbers, default=[100, 1000, 5000], help="N, comma-separated")
    parser.add_argument("--instances", type=numbers, default=[1, 2], help="1 and/or 2 (over Redis), comma-separated")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second (default 10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of events per measurement (default 10)")
    parser.add_argument("--client-processes", type=int, default=2, help="subscriber processes at most (default 2)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw",
                        help="the subscribers' WebSocket client (bench/fanout_clients.py; default raw)")
    parser.add_argument("--repeat", type=int, default=1, help="repeat everything N times, report medians")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
