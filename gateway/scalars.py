"""The gateway's `DateTime`: ISO-8601 in and out, every value read as an aware UTC time.

Strawberry's own DateTime hands resolvers whatever the client wrote: a time without an offset
becomes a naive datetime that cannot be compared with a vendor's aware times, and one whose offset
pushes it past year 1 or 9999 in UTC overflows the first time it is converted. Here a time without
an offset is UTC (for every vendor alike), and a time with no UTC equivalent is refused as input.
How far each vendor reaches is the adapters' to say (`providers/_time.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from providers import echo

DESCRIPTION = (
    "A date and time in ISO-8601, such as `2024-01-31T09:30:00Z` or `2024-01-31T11:30:00+02:00`. "
    "A value without an offset is taken as UTC. Answers are in the vendor's offset, usually UTC."
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
    return value.isoformat()


DATETIME: ScalarDefinition = strawberry.scalar(
    name="DateTime", description=DESCRIPTION, serialize=serialize_datetime, parse_value=parse_datetime
)
SCALAR_MAP: Mapping[object, ScalarDefinition] = {datetime: DATETIME}
