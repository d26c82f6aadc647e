"""Two counts over a sliding window of time, kept in buckets so that reading them costs the same
whatever the traffic (the circuit breaker's calls and failures, the retry budget's requests and retries)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

BUCKETS = 10  # the window slides in steps of a tenth of its length


class Window:
    """`calls` and `marked` added over the last `seconds` (to within a tenth of it)."""

    __slots__ = ("_width", "_clock", "_buckets")

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._width = seconds / BUCKETS
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [bucket number, calls, marked], oldest first

    def add(self, calls: int = 0, marked: int = 0) -> None:
        number = self._prune()
        if self._buckets and self._buckets[-1][0] == number:
            self._buckets[-1][1] += calls
            self._buckets[-1][2] += marked
        else:
            self._buckets.append([number, calls, marked])

    def totals(self) -> tuple[int, int]:
        """(calls, marked) within the window."""
        self._prune()
        return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)

    def clear(self) -> None:
        self._buckets.clear()

    def _prune(self) -> int:
        number = int(self._clock() // self._width)
        while self._buckets and self._buckets[0][0] <= number - BUCKETS:
            self._buckets.popleft()
        return number
