"""Upstream requests and unloaded latency per query shape (`bench/run.py --cost-model`).

Shapes: the inbox query with pages of 10, 50 and 100 over the first 1, 2 and 3 providers (restricted
with `ConversationFilter.providers`, so nothing restarts), then by-id and addMessages on each vendor's
seeded conversation. Each shape is sent once unmeasured, then `samples` times one after another;
upstream requests are what each sandbox logged divided by `samples`, latency is the median.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx

from load import median
from queries import BY_ID, INBOX, conversation_id, graphql, reply
from stack import VENDORS, Stack, clear_upstream, upstream_counts
from wire import Pool

PAGE_SIZES = (10, 50, 100)
NUMBERS = (*VENDORS, "total", "p50 ms", "errors")


async def shapes(http: httpx.AsyncClient, stack: Stack, seeded: dict[str, str], samples: int) -> list[dict[str, Any]]:
    parley = Pool(stack.graphql_url)
    rows = []
    for count in (1, 2, 3):
        providers = list(VENDORS[:count])
        for first in PAGE_SIZES:
            call = partial(graphql, parley, INBOX, {"first": first, "providers": providers})
            rows.append(await _shape(f"inbox first={first}", providers, call, http, stack, samples))
    for vendor, remote_id in seeded.items():
        global_id = conversation_id(vendor, remote_id)
        by_id = partial(graphql, parley, BY_ID, {"id": global_id})
        rows.append(await _shape("by-id, 50 messages", [vendor], by_id, http, stack, samples))
        rows.append(await _shape("addMessages, 1 message", [vendor], partial(reply, parley, global_id), http, stack, samples))
    parley.close()
    return rows


async def _shape(
    name: str, providers: list[str], call: Callable[[], Awaitable[object]], http: httpx.AsyncClient, stack: Stack, samples: int
) -> dict[str, Any]:
    await call()  # unmeasured: connections, the Socialboards token
    await clear_upstream(http, stack)
    latencies, errors = [], []
    for _ in range(samples):
        sent = time.perf_counter()
        try:
            await call()
        except Exception as exc:  # counted and shown, never hidden
            errors.append(f"{type(exc).__name__}: {exc}"[:120])
        else:
            latencies.append((time.perf_counter() - sent) * 1000)
    counts = await upstream_counts(http, stack)
    return {
        "shape": name,
        "providers": ",".join(providers),
        **{vendor: counts[vendor] / samples for vendor in VENDORS},
        "total": sum(counts.values()) / samples,
        "p50 ms": median(latencies),
        "errors": len(errors),
        "error kinds": sorted(set(errors)),
    }


def medians(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each shape's numbers as the median over the rounds; error kinds from all of them."""
    table = []
    for measured in zip(*(r["shapes"] for r in rounds), strict=True):
        row = {"shape": measured[0]["shape"], "providers": measured[0]["providers"]}
        for key in NUMBERS:
            row[key] = median([m[key] for m in measured])
        row["error kinds"] = sorted({kind for m in measured for kind in m["error kinds"]})
        table.append(row)
    return table


def print_table(latency_ms: int, table: list[dict[str, Any]], samples: int, repeat: int) -> None:
    print(f"\ncost model · upstream latency {latency_ms} ms · {samples} sequential requests per shape · "
          f"median of {repeat} run(s) · upstream requests per request, by sandbox")
    print(f"{'shape':<24}{'providers':<34}" + "".join(f"{key:>14}" for key in NUMBERS))
    for row in table:
        cells = ["-" if row[key] is None else f"{row[key]:.{0 if key == 'errors' else 1}f}" for key in NUMBERS]
        print(f"{row['shape']:<24}{row['providers']:<34}" + "".join(f"{cell:>14}" for cell in cells))
        for kind in row["error kinds"]:
            print(f"  error: {kind}")
