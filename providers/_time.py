"""Vendor timestamps: parsed leniently (any ISO-8601 with offset), written as UTC ISO-8601."""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime.min.replace(tzinfo=UTC)  # the earliest aware time there is: 0001-01-01T00:00:00Z


def parse_datetime(value: object) -> datetime | None:
    """An aware datetime, or None when the vendor sent nothing usable (never raises)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")  # all a datetime holds: the instant sent is the one kept
