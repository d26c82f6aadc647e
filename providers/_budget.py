"""A per-request limit on vendor calls: whoever runs a request (the gateway) opens a `call_budget`
around it, and `_http.send` spends one call of it before each vendor call it makes, retries included.

The budget lives in a ContextVar, so every task the request starts (gathers, DataLoader batches)
carries it, and calls made outside any request (webhook reads, health checks at start) have none.
A spent budget raises `CallBudgetExceededError` instead of calling; so does a closed one, so a task
the request left behind (its deadline passed) cannot call a vendor on its behalf any more.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
import contextvars
from contextvars import ContextVar

from .errors import CallBudgetExceededError

_current: ContextVar[CallBudget | None] = ContextVar("parley_call_budget", default=None)


class CallBudget:
    """`limit` vendor calls for one request; `spent` counts those made, `refused` those not made."""

    __slots__ = ("limit", "spent", "refused", "closed")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self.refused = 0
        self.closed = False

    def spend(self, provider: str) -> None:
        if self.closed:
            self.refused += 1
            raise CallBudgetExceededError("the request this call was for has ended", provider=provider, limit=self.limit)
        if self.spent >= self.limit:
            self.refused += 1
            raise CallBudgetExceededError(
                f"the request has made its {self.limit} vendor calls", provider=provider, limit=self.limit
            )
        self.spent += 1


@contextlib.contextmanager
def call_budget(limit: int) -> Iterator[CallBudget]:
    """The vendor calls made inside the block (and by tasks it starts) count against `limit`."""
    budget = CallBudget(limit)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        budget.closed = True
        _current.reset(token)


def spend(provider: str) -> None:
    """Counts one call against the current request's budget; raises when none is left."""
    budget = _current.get()
    if budget is not None:
        budget.spend(provider)


def background_context() -> contextvars.Context:
    """A copy of the current context without a request's budget or deadline, for work a request
    starts that outlives it (a migration job): its vendor calls are its own, not the request's."""
    from . import _deadline

    context = contextvars.copy_context()
    context.run(_current.set, None)
    context.run(_deadline._current.set, None)
    return context
