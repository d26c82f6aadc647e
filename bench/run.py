"""What Parley costs next to calling the vendors directly, end to end on this machine.

For each upstream latency L in --latency-ms it starts the three vendor sandboxes
(`parley sandbox <vendor> --demo 60 --latency-ms L`) and `parley serve` in front of them (a
`parley.toml` named by PARLEY_CONFIG), seeds one 50-message conversation per vendor straight at the
sandboxes, then drives a closed-loop load (--concurrency clients, --duration seconds after a
--warmup) through each scenario:

  inbox          conversations(first: 20) with customer, tags and lastMessage, through Parley
  direct inbox   the same page from the sandboxes by a hand-written client (bench/direct.py), at
                 its best cap on calls in flight per vendor (a short run with each of 4, 16, 64)
  by-id          conversation(id) with messages(first: 50), through Parley, over the seeded ones
  direct by-id   the same page from the sandboxes by the hand-written client
  addMessages    one reply per request to the seeded conversations, through Parley

The clients send their GraphQL requests to Parley with bench/wire.py (one keep-alive connection each,
requests written as bytes), so the load generator takes little of the CPU Parley is measured on; the
direct scenarios are the httpx client itself. It prints per scenario: requests, errors, req/s,
p50/p95/p99 latency, upstream requests per request (counted by the sandboxes, warm-up excluded),
Parley's peak RSS (VmHWM of `parley serve`; with --workers > 1 the sum over its workers) and the CPU
used meanwhile by this process (load generator and direct client), Parley and the sandboxes; then
the Parley/direct ratios. --repeat N repeats
everything and prints medians. --cost-model measures upstream requests and unloaded p50 per query
shape instead (bench/cost.py).

    make bench                     # both modes at the defaults and bench/execute.py, about two minutes
    .venv/bin/python bench/run.py [--latency-ms 0,20] [--duration 5] [--concurrency 8] [--repeat 1]
                                  [--workers 1] [--json results.json] [--cost-model]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

import cost
import direct
from load import closed_loop, median
from queries import BY_ID, INBOX, Refused, conversation_id, graphql, reply, vendor_key
from seed import seed
from wire import Pool
from rounds import every_round, load_options, medians, write_json
from stack import Stack, clear_upstream, cpu_seconds, peak_rss_mib, running, upstream_counts

SEEDED_MESSAGES = 50
INBOX_SIZE = 20
HTTP_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)
HTTP_TIMEOUT = httpx.Timeout(30.0)
METRICS = ("requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "upstream/req", "Parley RSS MiB",
           "CPU% runner", "CPU% Parley", "CPU% sandboxes", "in flight/vendor")
COUNTS = ("requests", "errors", "in flight/vendor")
CALIBRATION_SECONDS = 1.0  # per choice of the direct client's cap on calls in flight

Call = Callable[[int], Awaitable[object]]


def scenarios(parley: Pool, api: direct.VendorApi, seeded: dict[str, str]) -> dict[str, Call]:
    targets = list(seeded.items())
    ids = [conversation_id(vendor, remote_id) for vendor, remote_id in targets]

    async def inbox(_: int) -> None:
        edges = (await graphql(parley, INBOX, {"first": INBOX_SIZE}))["conversations"]["edges"]
        _expect(len(edges) == INBOX_SIZE, f"inbox: {len(edges)} rows")

    async def direct_inbox(_: int) -> None:
        rows = await direct.inbox(api, INBOX_SIZE)
        _expect(len(rows) == INBOX_SIZE, f"direct inbox: {len(rows)} rows")

    async def by_id(n: int) -> None:
        found = (await graphql(parley, BY_ID, {"id": ids[n % len(ids)]}))["conversation"]
        _expect(found is not None and len(found["messages"]["edges"]) == SEEDED_MESSAGES, "by-id: missing or short")

    async def direct_by_id(n: int) -> None:
        _, messages = await direct.conversation(api, *targets[n % len(targets)], messages=SEEDED_MESSAGES)
        _expect(len(messages) == SEEDED_MESSAGES, f"direct by-id: {len(messages)} messages")

    async def add_messages(n: int) -> None:
        await reply(parley, ids[n % len(ids)])

    return {"inbox": inbox, "direct inbox": direct_inbox, "by-id": by_id, "direct by-id": direct_by_id,
            "addMessages": add_messages}


def _expect(ok: bool, failure: str) -> None:
    if not ok:
        raise Refused(failure)


async def best_in_flight(call: Call, api: direct.VendorApi, args: argparse.Namespace) -> int:
    """The direct client's best cap on calls in flight per vendor, by a short run with each."""
    throughput = {}
    for cap in direct.IN_FLIGHT_CHOICES:
        api.limit(cap)
        throughput[cap] = (await closed_loop(call, clients=args.concurrency, seconds=CALIBRATION_SECONDS)).throughput
    best = max(throughput, key=lambda cap: throughput[cap])
    api.limit(best)
    return best


async def measure(name: str, call: Call, stack: Stack, http: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    await closed_loop(call, clients=args.concurrency, seconds=args.warmup)
    await clear_upstream(http, stack)
    cpu_before = cpu_seconds(stack)
    outcome = await closed_loop(call, clients=args.concurrency, seconds=args.duration)
    cpu = {who: (used - cpu_before[who]) / outcome.seconds * 100 for who, used in cpu_seconds(stack).items()}
    upstream = sum((await upstream_counts(http, stack)).values())
    return {
        "requests": outcome.completed,
        "errors": sum(outcome.errors.values()),
        "req/s": outcome.throughput,
        "p50 ms": outcome.percentile(50),
        "p95 ms": outcome.percentile(95),
        "p99 ms": outcome.percentile(99),
        "upstream/req": upstream / outcome.completed if outcome.completed else None,
        "Parley RSS MiB": None if name.startswith("direct") else peak_rss_mib(stack),
        **{f"CPU% {who}": percent for who, percent in cpu.items()},
        "error kinds": dict(outcome.errors),
    }


async def inbox_check(parley: Pool, api: direct.VendorApi) -> str:
    """Whether Parley and the direct client show the same conversations, in the same order."""
    edges = (await graphql(parley, INBOX, {"first": INBOX_SIZE}))["conversations"]["edges"]
    through_parley = [vendor_key(edge["node"]["id"]) for edge in edges]
    straight = [(row.vendor, row.id) for row in await direct.inbox(api, INBOX_SIZE)]
    if through_parley == straight:
        return f"same {len(straight)} conversations in the same order"
    return f"DIFFERENT: Parley {through_parley} vs direct {straight}"


async def one_round(latency_ms: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with running(latency_ms=latency_ms, workers=args.workers, workdir=workdir) as stack:
        async with httpx.AsyncClient(limits=HTTP_LIMITS, timeout=HTTP_TIMEOUT) as http:
            api = await direct.VendorApi.connect(http, stack.sandboxes)
            seeded = await seed(http, api, stack.sandboxes, SEEDED_MESSAGES)
            if args.cost_model:
                return {"shapes": await cost.shapes(http, stack, seeded, args.samples)}
            parley = Pool(stack.graphql_url)
            result: dict[str, Any] = {"inbox check": await inbox_check(parley, api), "scenarios": {}}
            for name, call in scenarios(parley, api, seeded).items():
                cap = await best_in_flight(call, api, args) if name.startswith("direct") else None
                result["scenarios"][name] = await measure(name, call, stack, http, args)
                result["scenarios"][name]["in flight/vendor"] = cap
                print(f"  {latency_ms} ms {name}: {result['scenarios'][name]['req/s']:.1f} req/s", flush=True)
            parley.close()
            return result


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def _cell(value: float | None, metric: str) -> str:
    return "-" if value is None else f"{value:.{0 if metric in COUNTS else 1}f}"


def _spread(runs: list[dict[str, Any]], pair: str, metric: str) -> str:
    """The median and range of one Parley/direct ratio over the runs, each run's pair measured side by side."""
    ratios = sorted(run["scenarios"][pair][metric] / run["scenarios"][f"direct {pair}"][metric] for run in runs
                    if run["scenarios"][pair][metric] and run["scenarios"][f"direct {pair}"][metric])
    if not ratios:
        return f"{metric.split()[0]} -"
    return f"{metric.split()[0]} {median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def print_table(latency_ms: int, table: dict[str, dict[str, Any]], runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    workers = f"{args.workers} worker{'s, RSS summed over them' if args.workers > 1 else ''}"
    print(f"\nupstream latency {latency_ms} ms · {args.concurrency} clients · {args.duration:g} s per scenario after "
          f"{args.warmup:g} s warm-up · Parley {workers} · median of {args.repeat} run(s)")
    widths = [max(9, len(metric) + 2) for metric in METRICS]
    print(f"{'scenario':<14}" + "".join(f"{metric:>{width}}" for metric, width in zip(METRICS, widths, strict=True)))
    for name, row in table.items():
        cells = (_cell(row[metric], metric) for metric in METRICS)
        print(f"{name:<14}" + "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
    print("(RSS: VmHWM of parley serve, its peak since start, so it only grows down the table; "
          f"CPU%: of one core, this machine has {os.cpu_count()})")
    for pair in ("inbox", "by-id"):
        parley, straight = table[pair], table[f"direct {pair}"]
        line = (f"Parley/direct {pair}: throughput {_ratio(parley['req/s'], straight['req/s'])}, "
                f"p50 {_ratio(parley['p50 ms'], straight['p50 ms'])}")
        if len(runs) > 1:
            line += f" (of the medians); of each run's side-by-side pair: {_spread(runs, pair, 'req/s')}, {_spread(runs, pair, 'p50 ms')}"
        print(line)
    for name, row in table.items():
        for kind, count in row["error kinds"].items():
            print(f"errors in {name}: {count} x {kind}")
    print("inbox check (Parley vs direct): " + "; ".join(sorted({run["inbox check"] for run in runs})))


async def main(args: argparse.Namespace) -> None:
    runs = await every_round(args, one_round, prefix="parley-bench-")
    if args.cost_model:
        report: dict[str, Any] = {str(latency): cost.medians(rounds) for latency, rounds in runs.items()}
        for latency, shapes in report.items():
            cost.print_table(int(latency), shapes, args.samples, args.repeat)
    else:
        report = {str(latency): medians(rounds, "scenarios", METRICS) for latency, rounds in runs.items()}
        for latency, table in report.items():
            print_table(int(latency), table, runs[int(latency)], args)
    write_json(args, report, runs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    load_options(parser, "scenario")
    parser.add_argument("--workers", type=int, default=1, help="passed to parley serve --workers (default 1)")
    parser.add_argument("--cost-model", action="store_true", help="measure upstream requests per query shape instead")
    parser.add_argument("--samples", type=int, default=5, help="sequential requests per shape in --cost-model")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
