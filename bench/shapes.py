"""Parley over one Infobip sandbox alone, on the three shapes issue 17 measured Hive Gateway 2.15.1 on.

For each upstream latency L it starts `parley sandbox infobip --demo 60 --latency-ms L` in its own
process and `parley serve` in front of it (one provider configured, one worker), seeds 20 Infobip
conversations of 50 messages each (the 20 most recently updated, through the sandbox's inbound
hook), and drives --concurrency closed-loop clients (bench/wire.py) through each shape:

  by-id    conversation(id) with messages(first: 50)                       2 vendor calls
  list     conversations(first: 20), fields of the conversation object     1 vendor call
  nested   conversations(first: 20), each with messages(first: 50)        21 vendor calls

It prints per shape: req/s, p50/p95/p99, p99/p50, Parley's CPU per request (user + system time of
`parley serve` from /proc over the measured seconds, divided by the requests), vendor calls per
request, Parley's peak RSS (VmHWM, so it only grows down the table), and beside them the issue's Hive
Gateway figures and the targets (CPU per request at most 0.6x Hive's, p99 at most 2x p50, RSS at most
100 MiB). Hive Gateway itself is not run here: no Node gateway is part of this repository, so the
comparison is with the issue's numbers as given (same sandbox, same 8 clients, same 2 cores).

    .venv/bin/python bench/shapes.py [--latency-ms 0,20] [--duration 5] [--concurrency 8] [--repeat 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from direct import decode, loads
from load import closed_loop
from queries import BY_ID, Refused, conversation_id, graphql
from rounds import every_round, load_options, medians, write_json
from stack import Stack, clear_upstream, cpu_seconds, peak_rss_mib, running, upstream_counts
from wire import Pool

VENDOR = "infobip"
CONVERSATIONS = 20
MESSAGES = 50
SHOP_PHONE = "447860099299"

LIST = """query List($first: Int!) {
  conversations(first: $first) {
    edges { node { id topic status priority channel createdAt updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""

NESTED = """query Nested($first: Int!) {
  conversations(first: $first) {
    edges { node { id topic status updatedAt
      messages(first: 50) { edges { node { id text createdAt direction author { name role } } } } } }
  }
}"""

# Issue 17: Hive Gateway 2.15.1 over the same sandbox, medians of two runs (req/s, p99 ms, CPU ms/request).
HIVE = {
    0: {"by-id": (336, 46, 3.45), "list": (629, 23, 1.72), "nested": (80, 184, 13.8)},
    20: {"by-id": (242, 49, 3.91), "list": (324, 33, 2.08), "nested": (76, 194, 14.2)},
}
HIVE_RSS_MIB = 652  # the largest of the three Hive rows
CPU_TARGET = 0.6  # of Hive's CPU per request
TAIL_TARGET = 2.0  # p99 / p50
RSS_TARGET_MIB = 100
METRICS = ("requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "p99/p50", "CPU ms/req", "CPU% Parley",
           "CPU% sandbox", "upstream/req", "RSS MiB")

Call = Callable[[int], Awaitable[object]]


async def seed(http: httpx.AsyncClient, base_url: str) -> list[str]:
    """CONVERSATIONS new conversations of MESSAGES inbound messages each, one customer each (a new
    sender opens a new conversation; later messages name it)."""

    async def one(n: int) -> str:
        body = {"from": f"4477009{n:05d}", "to": SHOP_PHONE, "channel": "WHATSAPP", "text": "Customer line 0"}
        created = decode(await http.post(base_url + "_sandbox/inbound", json=body))["conversationId"]
        for line in range(1, MESSAGES):
            body = {**body, "text": f"Customer line {line}", "conversationId": created}
            decode(await http.post(base_url + "_sandbox/inbound", json=body))
        return str(created)

    return list(await asyncio.gather(*(one(n) for n in range(CONVERSATIONS))))


def shapes(parley: Pool, seeded: list[str]) -> dict[str, tuple[str, Call]]:
    ids = [conversation_id(VENDOR, remote_id) for remote_id in seeded]

    async def by_id(n: int) -> None:
        found = (await graphql(parley, BY_ID, {"id": ids[n % len(ids)]}))["conversation"]
        _expect(found is not None and len(found["messages"]["edges"]) == MESSAGES, "by-id: missing or short")

    async def listing(_: int) -> None:
        edges = (await graphql(parley, LIST, {"first": CONVERSATIONS}))["conversations"]["edges"]
        _expect(len(edges) == CONVERSATIONS, f"list: {len(edges)} rows")

    async def nested(_: int) -> None:
        edges = (await graphql(parley, NESTED, {"first": CONVERSATIONS}))["conversations"]["edges"]
        short = [e for e in edges if len(e["node"]["messages"]["edges"]) != MESSAGES]
        _expect(len(edges) == CONVERSATIONS and not short, f"nested: {len(edges)} rows, {len(short)} short")

    return {"by-id": (BY_ID, by_id), "list": (LIST, listing), "nested": (NESTED, nested)}


def documents(seeded: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each shape's document and variables, for one request in process (by-id: the first conversation)."""
    return {"by-id": (BY_ID, {"id": conversation_id(VENDOR, seeded[0])}),
            "list": (LIST, {"first": CONVERSATIONS}), "nested": (NESTED, {"first": CONVERSATIONS})}


def _expect(ok: bool, failure: str) -> None:
    if not ok:
        raise Refused(failure)


async def estimated_cost(parley: Pool, query: str, variables: dict[str, Any]) -> Any:
    """Parley's cost estimate of one request (`extensions.cost`), checked against `max_cost` before it runs."""
    status, content = await parley.post_json({"query": query, "variables": variables, "extensions": {"cost": True}})
    body = loads(content)
    cost = (body.get("extensions") or {}).get("cost") or {}
    return {"status": status, "estimated": cost.get("estimated"), "limit": cost.get("limit"),
            "errors": [e.get("message") for e in body.get("errors") or []]}


async def measure(call: Call, stack: Stack, http: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    await closed_loop(call, clients=args.concurrency, seconds=args.warmup)
    await clear_upstream(http, stack)
    before = cpu_seconds(stack)
    outcome = await closed_loop(call, clients=args.concurrency, seconds=args.duration)
    used = {who: seconds - before[who] for who, seconds in cpu_seconds(stack).items()}
    upstream = sum((await upstream_counts(http, stack)).values())
    p50, p99 = outcome.percentile(50), outcome.percentile(99)
    done = outcome.completed or None
    return {
        "requests": outcome.completed,
        "errors": sum(outcome.errors.values()),
        "req/s": outcome.throughput,
        "p50 ms": p50,
        "p95 ms": outcome.percentile(95),
        "p99 ms": p99,
        "p99/p50": p99 / p50 if p50 and p99 else None,
        "CPU ms/req": used["Parley"] / done * 1000 if done else None,
        "CPU% Parley": used["Parley"] / outcome.seconds * 100,
        "CPU% sandbox": used["sandboxes"] / outcome.seconds * 100,
        "upstream/req": upstream / done if done else None,
        "RSS MiB": peak_rss_mib(stack),
        "error kinds": dict(outcome.errors),
    }


async def one_round(latency_ms: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with running(latency_ms=latency_ms, workers=1, workdir=workdir, vendors=(VENDOR,)) as stack:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            seeded = await seed(http, stack.sandboxes[VENDOR])
            parley = Pool(stack.graphql_url)
            result: dict[str, Any] = {"cost": {}, "shapes": {}}
            for name, (query, call) in shapes(parley, seeded).items():
                variables = {"id": conversation_id(VENDOR, seeded[0])} if name == "by-id" else {"first": CONVERSATIONS}
                result["cost"][name] = await estimated_cost(parley, query, variables)
                result["shapes"][name] = await measure(call, stack, http, args)
                row = result["shapes"][name]
                print(f"  {latency_ms} ms {name}: {row['req/s']:.1f} req/s, p99/p50 {_cell(row['p99/p50'], 2)}, "
                      f"{_cell(row['CPU ms/req'], 2)} CPU ms/req", flush=True)
            parley.close()
            return result


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(latency_ms: int, table: dict[str, dict[str, Any]], runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nInfobip alone · upstream latency {latency_ms} ms · {args.concurrency} clients · {args.duration:g} s per shape "
          f"after {args.warmup:g} s warm-up · Parley 1 worker · median of {len(runs)} run(s)")
    columns = (*METRICS, "Hive req/s", "Hive p99", "Hive CPU", "CPU target")
    widths = [max(8, len(c) + 2) for c in columns]
    print(f"{'shape':<8}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for name, row in table.items():
        hive = HIVE.get(latency_ms, {}).get(name)
        cells = [_cell(row[m], 0 if m in ("requests", "errors") else 2 if m in ("p99/p50", "CPU ms/req") else 1) for m in METRICS]
        cells += [f"{hive[0]}", f"{hive[1]}", f"{hive[2]:.2f}", f"{hive[2] * CPU_TARGET:.2f}"] if hive else ["-"] * 4
        print(f"{name:<8}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    print("(CPU: user + system time of parley serve per request; RSS: its VmHWM so far; Hive: issue 17's figures, "
          "not run here)")
    for name, row in table.items():
        hive = HIVE.get(latency_ms, {}).get(name)
        verdicts = []
        if hive and row["CPU ms/req"] is not None:
            target = hive[2] * CPU_TARGET
            verdicts.append(f"CPU {row['CPU ms/req']:.2f} {'<=' if row['CPU ms/req'] <= target else '>'} {target:.2f} ms "
                            f"({'met' if row['CPU ms/req'] <= target else 'NOT met'})")
        if row["p99/p50"] is not None:
            ok = row["p99/p50"] <= TAIL_TARGET
            verdicts.append(f"p99/p50 {row['p99/p50']:.2f} ({'met' if ok else 'NOT met'})")
        if hive:
            verdicts.append(f"req/s {row['req/s'] / hive[0]:.2f}x Hive, p99 {row['p99 ms'] / hive[1]:.2f}x Hive")
        ok = row["RSS MiB"] is not None and row["RSS MiB"] <= RSS_TARGET_MIB
        verdicts.append(f"RSS {_cell(row['RSS MiB'])} MiB ({'met' if ok else 'NOT met'}; Hive up to {HIVE_RSS_MIB})")
        print(f"  {name}: " + "; ".join(verdicts))
        for kind, count in row["error kinds"].items():
            print(f"  errors in {name}: {count} x {kind}")
    costs = runs[0]["cost"]
    print("  cost estimate (max_cost): " + ", ".join(f"{name} {c['estimated']} of {c['limit']}" for name, c in costs.items()))


async def main(args: argparse.Namespace) -> None:
    runs = await every_round(args, one_round, prefix="parley-shapes-", label="Infobip alone, ")
    report = {str(latency): medians(rounds, "shapes", METRICS) for latency, rounds in runs.items()}
    for latency, table in report.items():
        print_table(int(latency), table, runs[int(latency)], args)
    write_json(args, report, runs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    load_options(parser, "shape")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
