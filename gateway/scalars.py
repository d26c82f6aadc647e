"""The gateway's `DateTime`: ISO-8601 in and out, every value read as an aware UTC time.

Strawberry's own DateTime hands resolvers whatever the client wrote: a time without an offset
becomes a naive datetime that cannot be compared with a vendor's aware times, and one whose offset
pushes it past year 1 or 9999 in UTC overflows the first time it is converted. Here a time without
an offset is UTC (for every vendor alike), and a time with no UTC equivalent is refused as input.
How far each vendor reaches is the adapters' to say (`providers/_time.py`).

Every answer has one form, whatever the vendor wrote (Socialboards seven fractional digits and an
offset, Infobip milliseconds, CleverTap whole seconds): UTC with `Z` and exactly six fractional
digits. Six, because a Python datetime holds microseconds: every instant Parley holds is written
exactly, so a time a client reads and sends back (`updatedAfter`, `since`, a message's `createdAt`)
is the same instant, never one rounded to either side of it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from providers import echo

DESCRIPTION = (
    "A date and time in ISO-8601, such as `2024-01-31T09:30:00Z` or `2024-01-31T11:30:00+02:00`. "
    "A value without an offset is taken as UTC. Every answer is UTC with exactly six fractional digits "
    "(`2024-01-31T09:30:00.000000Z`) on every vendor, so a time read can be sent back as the same instant."
)
EXAMPLE = "2024-01-31T09:30:00Z"


def parse_datetime(value: object) -> datetime:
    """An aware UTC datetime; a `StrawberryInputCoercionError` (a client error) for anything else."""
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(
            f"DateTime: expected an ISO-8601 string such as {EXAMPLE}, got {type(value).__name__}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise StrawberryInputCoercionError(
            f"DateTime: {echo(value)} is not an ISO-8601 date and time such as {EXAMPLE}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise StrawberryInputCoercionError(
            f"DateTime: {echo(value)} lies outside years 1 to 9999 once taken to UTC"
        ) from None


def serialize_datetime(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC; a naive value (none should reach here) is taken as UTC."""
    if value.tzinfo is not UTC:  # vendor times parsed with a zero offset already hold this very object
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # Written from its parts: `isoformat` (0.85 µs, most of it formatting the offset) was the largest
    # single cost of a nested page's 1,020 times; this takes about 0.6 µs. A day's text is kept (the
    # times of a page fall on a few days), the rest are two-digit strings looked up.
    return f"{_day(value.toordinal())}T{_TWO[value.hour]}:{_TWO[value.minute]}:{_TWO[value.second]}.{value.microsecond:06d}Z"


_TWO = tuple(f"{number:02d}" for number in range(60))
DAYS_KEPT = 1024


@functools.lru_cache(maxsize=DAYS_KEPT)
def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()  # four-digit years, as strftime's %Y does not write year 1


DATETIME: ScalarDefinition = strawberry.scalar(
    name="DateTime", description=DESCRIPTION, serialize=serialize_datetime, parse_value=parse_datetime
)
SCALAR_MAP: Mapping[object, ScalarDefinition] = {datetime: DATETIME}
