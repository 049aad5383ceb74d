"""The aggregation functions, over the rows one window of one entity holds.

Double sums use ``math.fsum`` so the answer does not depend on the order rows arrived in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .spec import AggSpec, Row
from .sqlfn import check_int, is_int, truth

Pairs = list[tuple[int, Any]]
"""(ts in epoch microseconds, non-null argument value) for each row that counts."""


def _sum(values: Sequence[Any]) -> Any:
    if not values:
        return None
    if all(is_int(v) for v in values):
        return check_int(sum(values))
    return _fsum(values)


def _fsum(values: Sequence[Any]) -> float:
    """Exactly rounded sum; an overflow is infinite (and so null as a feature value)."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf


def _avg(values: Sequence[Any]) -> float | None:
    if not values:
        return None
    if all(is_int(v) for v in values):
        return float(sum(values) / len(values))  # exact int sum, one correctly rounded division
    return _fsum(values) / len(values)


def _last(pairs: Pairs) -> Any:
    """Latest ts wins; among rows at that ts, the largest value."""
    return max(pairs)[1] if pairs else None


def _first(pairs: Pairs) -> Any:
    """Earliest ts wins; among rows at that ts, the smallest value."""
    return min(pairs)[1] if pairs else None


_BY_VALUES: dict[str, Callable[[list[Any]], Any]] = {
    "count": len,
    "count_distinct": lambda vs: len(set(vs)),
    "sum": _sum,
    "avg": _avg,
    "min": lambda vs: min(vs) if vs else None,
    "max": lambda vs: max(vs) if vs else None,
}
_BY_PAIRS: dict[str, Callable[[Pairs], Any]] = {"last": _last, "first": _first}

FUNCTIONS = frozenset(_BY_VALUES) | frozenset(_BY_PAIRS)


def aggregate(agg: AggSpec, ts: Sequence[int], rows: Sequence[Row]) -> Any:
    """``agg`` over rows already in its window and through the group filter."""
    kept = [(t, r) for t, r in zip(ts, rows, strict=True) if agg.where is None or truth(agg.where(r))]
    if agg.arg is None:
        if agg.fn != "count":
            raise ValueError(f"{agg.fn}(*) is not an aggregation")
        return len(kept)
    arg = agg.arg
    pairs = [(t, v) for t, v in ((t, arg(r)) for t, r in kept) if v is not None]
    if agg.fn in _BY_PAIRS:
        return _BY_PAIRS[agg.fn](pairs)
    if agg.fn not in _BY_VALUES:
        raise ValueError(f"unknown aggregation {agg.fn!r}")
    return _BY_VALUES[agg.fn]([v for _, v in pairs])
