"""What a provider's operations cost in vendor calls, declared as data like `capabilities`, so a caller
can bound a request before making any call (the gateway's cost analysis).

Each number bounds one operation on its documented path: no retries, no fallback the adapter takes
only when a vendor refuses the usual call. The calls a request really makes are counted by
`_budget`, which stops it at its limit whatever was declared. An adapter declares `call_costs`; one
that does not is costed as `UNDECLARED`, generously.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# Every listed row carries its id and sort times; these are known from an id without any read.
ALWAYS_LISTED = frozenset({"provider", "vendor", "remote_id", "created_at", "updated_at"})


@dataclass(frozen=True)
class Read:
    """A read per conversation that gives fields its listing lacks: those of `fields`, or with
    `fields=None` every field the listing lacks (the conversation object behind a summary row)."""

    fields: frozenset[str] | None
    calls: int = 1
    rows: bool = True  # False: listed rows carry these fields; only a read by id makes the call


@dataclass(frozen=True)
class CallCosts:
    """Vendor calls per operation. Field names are those of `models.Conversation`; operations in
    `writes` and `per_item` are `Provider` method names (absent: no call, e.g. unsupported)."""

    listing_rows: int  # rows one listing call returns at most
    listing_setup: int = 0  # calls a listing makes before its first rows (opening a cursor)
    listed: frozenset[str] | None = None  # fields a listed row carries; None: all but those of `reads`
    reads: tuple[Read, ...] = ()
    scan_rounds: int = 1  # listing rounds of one page when a filter is applied after fetching
    scan_rows: int = 0  # rows such a round reads at least, however small the page
    get: int = 1  # one conversation by id, with the `fields=None` read; the other reads add to it
    messages: int = 1  # one page of messages, up to 100
    probe: int = 1  # a health check
    session: int = 0  # calls to sign in, at most once per request (a token grant)
    writes: Mapping[str, int] = field(default_factory=dict)
    per_item: Mapping[str, int] = field(default_factory=dict)  # per message or tag given to the write

    def listing(self, rows: int) -> int:
        """Calls to list `rows` rows (ids and sort times)."""
        return self.listing_setup + math.ceil(rows / self.listing_rows) if rows > 0 else 0

    def row_reads(self, fields: frozenset[str]) -> int:
        """Calls per listed row to give it `fields`."""
        lacking = fields & self._explicit() if self.listed is None else fields - ALWAYS_LISTED - self.listed
        return sum(
            r.calls for r in self.reads if r.rows and ((r.fields is None and lacking) or (r.fields is not None and r.fields & fields))
        )

    def by_id(self, fields: frozenset[str] | None) -> int:
        """Calls to read one conversation by id with `fields` (None: all of them)."""
        return self.get + sum(r.calls for r in self.reads if r.fields is not None and (fields is None or r.fields & fields))

    def write(self, operation: str, items: int = 0) -> int:
        return self.writes.get(operation, 0) + self.per_item.get(operation, 0) * items

    def _explicit(self) -> frozenset[str]:
        return frozenset().union(*(r.fields for r in self.reads if r.fields is not None))


UNDECLARED = CallCosts(
    listing_rows=20,
    listing_setup=1,
    listed=frozenset(),
    reads=(Read(None, calls=3),),
    scan_rounds=4,
    get=1,
    messages=2,
    session=1,
    writes={name: 4 for name in (
        "create_conversation", "add_messages", "update_conversation", "assign", "route", "add_tags",
        "remove_tags", "set_bot_active", "set_feedback", "set_latest_page_url", "close",
    )},
    per_item={"create_conversation": 2, "add_messages": 2, "add_tags": 2, "remove_tags": 2},
)


def call_costs(provider: object) -> CallCosts:
    """The provider's declared costs, or `UNDECLARED`."""
    declared = getattr(provider, "call_costs", None)
    return declared if isinstance(declared, CallCosts) else UNDECLARED
