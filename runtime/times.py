"""Instants as integer epoch microseconds, so window arithmetic has no float error."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1)
ONE_US = timedelta(microseconds=1)  # an instant minus EPOCH, floor-divided by it: epoch microseconds

# The instants featc accepts anywhere (sources, spines, request values, `at=`, `--at`): the
# range of Python's datetime, in UTC (docs/semantics.md, "Inputs").
MIN_INSTANT = datetime(1, 1, 1)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999_999)
MIN_INSTANT_US = (MIN_INSTANT - EPOCH) // ONE_US
MAX_INSTANT_US = (MAX_INSTANT - EPOCH) // ONE_US


def utc_naive(value: datetime) -> datetime:
    """A datetime as naive UTC: naive is taken as UTC already, aware is converted."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def to_us(value: datetime | date) -> int:
    """Epoch microseconds of an instant (a date means its midnight UTC)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return (utc_naive(value) - EPOCH) // ONE_US


def from_us(us: int) -> datetime:
    """The naive UTC datetime of epoch microseconds."""
    return EPOCH + timedelta(microseconds=us)


def asof(t_us: int, every_us: int, lag_us: int) -> int:
    """The batch boundary served at t: floor((t - lag) / every) * every, floor towards -inf."""
    if every_us <= 0:
        return t_us
    return (t_us - lag_us) // every_us * every_us
