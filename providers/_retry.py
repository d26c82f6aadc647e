"""How long to wait before a retry (full jitter), and how many retries a provider may make (its budget).

Full jitter (a uniform wait between 0 and the exponential cap) spreads the retries of clients that
failed together, instead of sending them back together a fixed time later.

The budget keeps retries from multiplying the load on a vendor that is failing: over the last
`WINDOW` seconds, the retries to one provider may be at most `ratio` of the calls it was asked for
(first attempts), plus `min_per_second` × `WINDOW` so that a quiet provider can still retry. With the
defaults (0.2 and 3 per second) an outage adds at most 20 % to a busy vendor's calls, where three
attempts per call would triple them. A retry the budget refuses is not made: the caller gets the
failure of the attempt it made.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ._window import Window

BACKOFF_BASE = 0.1  # seconds: the first retry waits up to twice this, the second up to four times
MAX_BACKOFF = 2.0
WINDOW = 10.0


def backoff(attempt: int) -> float:
    """The wait after failed attempt number `attempt` (from 1): uniform in [0, min(cap, base × 2^attempt)]."""
    return random.uniform(0, min(MAX_BACKOFF, BACKOFF_BASE * 2**attempt))


class RetryBudget:
    """One provider's retries: `deposit` for each call, `withdraw` before each retry."""

    def __init__(self, *, ratio: float, min_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ratio, self.min_per_second = ratio, min_per_second
        self._window = Window(WINDOW, clock=clock)

    def deposit(self) -> None:
        self._window.add(calls=1)

    def withdraw(self) -> bool:
        """True, and counted, when a retry fits the budget now."""
        calls, retries = self._window.totals()
        if retries + 1 > self.ratio * calls + self.min_per_second * WINDOW:
            return False
        self._window.add(marked=1)
        return True
