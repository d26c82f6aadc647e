"""One circuit breaker per provider, shared by every request of a gateway instance.

    CLOSED ──(`failures` failures within `window` s, at least half of the calls)──► OPEN
    OPEN ──(`cooldown` s later, the next call)──► HALF_OPEN: that one call is the probe
    HALF_OPEN ──(probe succeeds)──► CLOSED      HALF_OPEN ──(probe fails)──► OPEN again

A failure is a connection error, a timeout of the upstream timeout, or a 5xx other than 501. An
answer is a success, whatever its status (a 4xx is the vendor working and refusing the input). A 429
is neither: the vendor is up and asks for fewer calls, and `_http.send` does as its Retry-After says
(waits it out and retries, within the retry budget, or hands it to the caller). A call cut by the
request's own deadline, or cancelled, is neither: the vendor was not given its full timeout.

Counting failures within a window rather than in a row keeps one slow or failed call among many
from mattering; the ratio keeps a busy provider with a steady trickle of errors closed. While OPEN,
and in HALF_OPEN while the probe is out, calls are refused at once with `CircuitOpenError`, whose
`retry_after` is the time until the next probe may go. One probe at a time: an outage ends with one
call finding out, not with every waiting client trying together.

A written state machine rather than a library: pybreaker's asynchronous calls need tornado, and
purgatory's half-open state lets every concurrent call through and counts failures only in a row.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable

from . import _observe, signals
from ._window import Window
from .errors import CircuitOpenError

FAILURE_RATIO = 0.5  # of the calls in the window that must have failed, as well as `failures` of them


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"  # says nothing about the vendor's health (429, our own deadline, cancelled)


def outcome_of_status(status: int) -> Outcome:
    if status == 429:
        return Outcome.NEUTRAL
    return Outcome.FAILURE if status >= 500 and status != 501 else Outcome.SUCCESS


class CircuitBreaker:
    """The breaker of `provider`. `admit` before each call, `record` its outcome after (always, also
    when the call raised or was cancelled: a probe that is never recorded would hold the breaker)."""

    def __init__(
        self, provider: str, *, failures: int, window: float, cooldown: float, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.failures, self.window, self.cooldown = failures, window, cooldown
        self._clock = clock
        self._calls = Window(window, clock=clock)
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        return self._state

    def refusing(self) -> bool:
        """Whether a call now would be refused (open within its cooldown, or a probe already out)."""
        if self._state is BreakerState.OPEN:
            return self._clock() < self._opened_at + self.cooldown
        return self._state is BreakerState.HALF_OPEN and self._probing

    def retry_after(self) -> float:
        """Seconds until a call may be let through (0 when one would be now)."""
        if self._state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self.cooldown - self._clock())
        if self._state is BreakerState.HALF_OPEN and self._probing:
            return self.cooldown  # the probe's answer is pending; if it fails, the next comes a cooldown later
        return 0.0

    def admit(self) -> bool:
        """Lets a call through, or raises `CircuitOpenError`. True when this call is the probe of a
        half-open breaker."""
        if self.refusing():
            seconds = max(1, math.ceil(self.retry_after()))
            raise CircuitOpenError(
                f"calls to the vendor are paused after repeated failures (circuit breaker); next try in {seconds} s",
                provider=self.provider, retry_after=seconds,
            )
        if self._state is BreakerState.OPEN:
            self._change(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            self._probing = True
            return True
        return False

    def record(self, probe: bool, outcome: Outcome) -> None:
        """The outcome of a call `admit` let through (`probe`: what it returned)."""
        if probe:
            self._probing = False
            if outcome is Outcome.SUCCESS:
                self._calls.clear()
                self._change(BreakerState.CLOSED)
            elif outcome is Outcome.FAILURE:
                self._open()
            return  # NEUTRAL: still half-open; the next call probes
        if self._state is not BreakerState.CLOSED or outcome is Outcome.NEUTRAL:
            return  # a call admitted before the breaker opened, ending after: already accounted for
        failed = outcome is Outcome.FAILURE
        self._calls.add(calls=1, marked=int(failed))
        if failed:
            calls, failures = self._calls.totals()
            if failures >= self.failures and failures >= FAILURE_RATIO * calls:
                self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._change(BreakerState.OPEN)

    def _change(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            signals.emit(signals.BREAKER_STATE, self.provider, state.value)
            _observe.breaker_state(self.provider, state.value)
