"""A bounded closed-loop load and what it measured: `clients` concurrent clients, each sending its next
request as soon as the previous one answered, until `seconds` have passed (requests in flight then
are finished and counted, and the time includes them).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Outcome:
    completed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # of the requests that succeeded
    errors: Counter[str] = field(default_factory=Counter)  # kind -> how many

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float | None:
        """The p-th percentile of the latencies in ms (None with fewer than two)."""
        if len(self.latencies_ms) < 2:
            return None
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the known values (None when there are none)."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


async def closed_loop(call: Callable[[int], Awaitable[object]], *, clients: int, seconds: float) -> Outcome:
    """Runs `call(n)` (n = 0, 1, 2, … across all clients); any exception is an error of its kind."""
    outcome = Outcome()
    sequence = itertools.count()
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                await call(next(sequence))
            except Exception as exc:  # the benchmark counts every failure, whatever it is
                outcome.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
            else:
                outcome.latencies_ms.append((time.perf_counter() - sent) * 1000)
            outcome.completed += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    outcome.seconds = time.perf_counter() - started
    return outcome
