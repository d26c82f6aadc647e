"""The DateTime scalar's fast output path answers exactly as the general formula it replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from gateway.scalars import serialize_datetime
from providers._time import parse_datetime


def reference(value: datetime) -> str:
    """The general formula: any datetime taken to UTC, written field by field."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:" \
           f"{moment.second:02d}.{moment.microsecond:06d}Z"


OFFSETS = st.one_of(
    st.none(),
    st.just(UTC),
    st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)),
)
# Within a day of the ends, so that every offset still has a UTC equivalent.
TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS)


@given(TIMES)
def test_every_datetime_is_written_as_the_general_formula_writes_it(value: datetime) -> None:
    assert serialize_datetime(value) == reference(value)


def test_the_edges_of_the_range_and_a_zero_microsecond_keep_four_digit_years_and_six_digits() -> None:
    assert serialize_datetime(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"
    assert serialize_datetime(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "9999-12-31T23:59:59.999999Z"
    assert serialize_datetime(datetime(999, 5, 6, 7, 8, 9)) == "0999-05-06T07:08:09.000000Z"


def test_a_vendor_time_with_a_zero_offset_is_written_as_any_other_utc_time() -> None:
    parsed = parse_datetime("2019-10-14T09:45:57.898+0000")
    assert parsed is not None and parsed.tzinfo is UTC  # the case the fast path takes
    assert serialize_datetime(parsed) == reference(parsed) == "2019-10-14T09:45:57.898000Z"
