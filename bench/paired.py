"""Two checkouts of Parley compared on the shapes of bench/shapes.py, side by side in one run: Parley's CPU
per request of checkout B against checkout A, as the median of paired ratios.

On a shared machine a run of bench/shapes.py moves by 15% or more from one minute to the next, more than
most single changes save, so runs of two checkouts made one after the other compare the machine's
minutes as much as the code. Here both stacks (a sandbox and `parley serve` each, from their own
checkout) are up at once and the load goes to one of them at a time, in short windows: A then B, then
B then A, and so on. Each pair of neighbouring windows saw nearly the same machine, so their ratio
is the code's; printed per shape are the median CPU per request of each side over its windows, the
median of the pairs' B/A ratios and their quartiles. Comparing a checkout with itself shows how fine a
difference a run can tell apart.

    .venv/bin/python bench/paired.py A_CHECKOUT B_CHECKOUT [--latency-ms 0,20] [--shapes by-id,list,nested]
                                     [--window 1.5] [--pairs 16] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

import stack
from load import closed_loop
from shapes import VENDOR, seed, shapes
from wire import Pool


def cpu_seconds(pid: int) -> float:
    """CPU time of process `pid` so far, to the nanosecond (the scheduler's own count)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


class Side:
    """One checkout's stack, driven through one shape at a time."""

    def __init__(self, name: str, checkout: str, running: stack.Stack, seeded: list[str]) -> None:
        self.name, self.checkout, self.stack, self.seeded = name, checkout, running, seeded
        self.pool = Pool(running.graphql_url)

    async def window(self, shape: str, seconds: float, clients: int) -> float:
        """CPU milliseconds per request of this side's Parley over `seconds` of load."""
        call = shapes(self.pool, self.seeded)[shape][1]
        before = cpu_seconds(self.stack.parley_pid)
        outcome = await closed_loop(call, clients=clients, seconds=seconds)
        if outcome.errors or not outcome.completed:
            raise SystemExit(f"{self.name} ({self.checkout}) {shape}: {dict(outcome.errors) or 'no request completed'}")
        return (cpu_seconds(self.stack.parley_pid) - before) * 1000 / outcome.completed


async def compare(options: argparse.Namespace, latency_ms: int) -> None:
    with ExitStack() as exits, tempfile.TemporaryDirectory() as workdir:
        sides = []
        for name, checkout in (("A", options.a), ("B", options.b)):
            stack.CHECKOUT = str(Path(checkout).resolve())  # whose code `parley` runs (its PYTHONPATH)
            folder = Path(workdir) / name
            folder.mkdir()
            up = exits.enter_context(stack.running(latency_ms=latency_ms, workers=1, workdir=folder, vendors=(VENDOR,)))
            async with httpx.AsyncClient(timeout=30) as http:
                seeded = await seed(http, up.sandboxes[VENDOR])
            sides.append(Side(name, checkout, up, seeded))
        for shape in options.shapes.split(","):
            for side in sides:
                await side.window(shape, 1.0, options.concurrency)  # warm-up
            used: dict[str, list[float]] = {"A": [], "B": []}
            for pair in range(options.pairs):
                for side in sides if pair % 2 == 0 else sides[::-1]:
                    used[side.name].append(await side.window(shape, options.window, options.concurrency))
            ratios = [b / a for a, b in zip(used["A"], used["B"])]
            low, _, high = statistics.quantiles(ratios, n=4)
            print(f"{latency_ms:>3} ms  {shape:7s} {statistics.median(used['A']):8.3f} {statistics.median(used['B']):8.3f}"
                  f"   {statistics.median(ratios):6.3f}   {low:.3f}-{high:.3f}", flush=True)
        for side in sides:
            side.pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="checkout A (the before)")
    parser.add_argument("b", help="checkout B (the after)")
    parser.add_argument("--latency-ms", default="0,20", help="upstream latencies, comma-separated (default 0,20)")
    parser.add_argument("--shapes", default="by-id,list,nested", help="shapes, comma-separated (default all three)")
    parser.add_argument("--window", type=float, default=1.5, help="seconds of load per window (default 1.5)")
    parser.add_argument("--pairs", type=int, default=16, help="pairs of windows per shape (default 16)")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients (default 8)")
    options = parser.parse_args()
    if options.pairs < 2:
        parser.error("--pairs must be at least 2 (quartiles of the ratios)")
    print(f"A = {options.a}\nB = {options.b}\nInfobip alone · {options.concurrency} clients · {options.pairs} pairs of "
          f"{options.window} s windows per shape, alternating A B / B A · CPU of parley serve from /proc/<pid>/schedstat")
    print(f"{'latency':>6s}  {'shape':7s} {'A ms/req':>8s} {'B ms/req':>8s}   {'B/A':>6s}   quartiles")
    for latency_ms in (int(value) for value in options.latency_ms.split(",")):
        asyncio.run(compare(options, latency_ms))


if __name__ == "__main__":
    main()
