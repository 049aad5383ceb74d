"""The project model of a generated example and random data to match it.

Data is chosen so engines can agree exactly: doubles are multiples of 0.25 in a modest range
(sums of them are exact in any order), integers are small, timestamps lie on a whole-minute
grid in two short clusters (one straddling the Unix epoch) so ties, events exactly at ``t``
and at ``t - D`` are common.

The edges mutation testing found uncovered are weighted up: zeros (so ``x / 0`` and ``x % 0``
are common), halves at several scales (``x.5``, ``x.25`` for ``round(x, 1)``, ``x.125`` for
``round(x, 2)``: half-even and half-away-from-zero rounding differ on them), and "huge" double
columns holding values near the largest double, whose sums leave the double range (null by the
contract). Instants may come as timezone-aware values in random non-UTC zones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st
from strategies_exprs import STRINGS, Draw, T, one_in

from featc.compiler.types import DataType

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
CLUSTERS = (
    int(datetime(2024, 3, 3, 9, 30, tzinfo=UTC).timestamp()) * 1_000_000,  # a Sunday
    -2 * HOUR,  # 1969-12-31T22:00, so windows and refresh boundaries straddle the epoch
)
EVENT_MINUTES = 90
STRING_KEYS = ("k1", "k2", "k3", "", "é")
INT_KEYS = (1, 2, 3, 0, -1)
# Values where half-even and half-away-from-zero rounding differ, at n = 0, 1, 2 and 3 digits
# (all dyadic and small, so sums of them stay exact in any order).
HALVES = (0.5, 2.5, -0.5, -2.5, 4.5, 10.5, 0.25, -0.25, 0.75, 0.125, -0.125, 0.375, 0.0625)
# Near the largest double (1.797e308): any two of one sign sum beyond it.
HUGE = (1e308, 1.5e308, 2.0**1023, 1.7976931348623157e308, 9e307)
# Non-UTC zones for aware instants: fixed offsets (half and quarter hours, both date-line
# extremes) and named zones with daylight saving (Lord Howe shifts by half an hour).
ZONES = ("+05:30", "-03:30", "+14:00", "-11:00", "+05:45", "America/New_York", "Asia/Kathmandu",
         "Australia/Lord_Howe", "America/St_Johns")  # fmt: skip


# ---------------------------------------------------------------- project model


@dataclass
class Column:
    name: str
    type: DataType


@dataclass
class Entity:
    name: str
    keys: list[Column]


@dataclass
class Source:
    name: str
    ts: str
    columns: list[Column]
    keys: frozenset[str] = frozenset()
    huge: dict[str, float] = field(default_factory=dict)  # huge double column -> the sign of its huge values


@dataclass
class FeatureDef:
    name: str
    text: str
    type: DataType
    huge: bool = False  # reads a huge column: no arithmetic on it (it would overflow mid-expression)


@dataclass
class Group:
    kind: str
    name: str
    entity: Entity
    source: Source | None
    features: list[FeatureDef]
    filter: str | None = None
    refresh: str | None = None
    windows: list[int] = field(default_factory=list)


@dataclass
class Example:
    """A generated project and data, in the reference's representation (ts as epoch us)."""

    text: str
    sources: dict[str, list[dict[str, Any]]]
    source_columns: dict[str, list[Column]]
    spine: list[dict[str, Any]]
    spine_columns: list[Column]
    ts_column: str = "ts"
    spine_zone: str | None = None  # instants of the spine given as aware values in this zone (else naive UTC)
    source_zone: str | None = None  # the same for every source
    spine_pandas: bool = False  # the spine as a pandas DataFrame (else an Arrow table)

    def __repr__(self) -> str:
        rows = "\n".join(f"  {name}: {rows!r}" for name, rows in self.sources.items())
        zones = f"spine zone {self.spine_zone}, source zone {self.source_zone}, pandas spine {self.spine_pandas}"
        return (f"--- gen.feat ---\n{self.text}\n--- sources ---\n{rows}\n--- spine ---\n  {self.spine!r}\n"
                f"--- instants ---\n  {zones}\n")  # fmt: skip


# ---------------------------------------------------------------- data


@st.composite
def instant(draw: Draw, clusters: tuple[int, ...], minutes: int = EVENT_MINUTES) -> int:
    cluster = draw(st.sampled_from(clusters))
    return cluster + draw(st.integers(0, minutes)) * MINUTE


@st.composite
def value(draw: Draw, t: DataType, source: bool = False) -> Any:
    """A random value of a column type; about one in seven is null, numbers are often 0 or a half."""
    roll = draw(st.integers(0, 13))
    if roll >= 12:
        return None
    if t == T.INT:
        return 0 if roll == 6 else draw(st.integers(-20, 20))
    if t == T.DOUBLE:
        if source and one_in(draw, 40):  # the contract reads NaN and infinities in sources as null
            return draw(st.sampled_from((math.nan, math.inf, -math.inf)))
        if roll in (4, 5, 6):
            return draw(st.sampled_from((0.0, -0.0) if roll == 6 else HALVES))
        return draw(st.integers(-200, 200)) * 0.25
    if t == T.STRING:
        return draw(st.sampled_from(STRINGS))
    if t == T.BOOL:
        return draw(st.booleans())
    # other timestamps: whole minutes across a few weeks, for hour/dow variety
    return draw(st.sampled_from(CLUSTERS)) + draw(st.integers(-20_000, 20_000)) * MINUTE


def key_value(draw: Draw, t: DataType, spine: bool) -> Any:
    pool = STRING_KEYS if t == T.STRING else INT_KEYS
    if one_in(draw, 15):
        return None
    return draw(st.sampled_from(pool if spine else pool[:2] * 3 + pool[2:3]))


@st.composite
def source_rows(draw: Draw, src: Source, clusters: tuple[int, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 30))):
        row: dict[str, Any] = {}
        if rows and one_in(draw, 3):  # same key and instant as an earlier row: ties for last/first
            tied = draw(st.sampled_from(rows))
            row = {c: tied[c] for c in (*src.keys, src.ts)}
        for c in src.columns:
            if c.name in row:
                continue
            if c.name == src.ts:
                row[c.name] = None if one_in(draw, 20) else draw(instant(clusters))
            elif c.name in src.keys:
                row[c.name] = key_value(draw, c.type, spine=False)
            elif c.name in src.huge and one_in(draw, 2):
                row[c.name] = src.huge[c.name] * draw(st.sampled_from(HUGE))
            else:
                row[c.name] = draw(value(c.type, source=True))
        rows.append(row)
    return rows


@st.composite
def spine_instant(draw: Draw, events: list[int], deltas: list[int], clusters: tuple[int, ...]) -> int | None:
    """Often an event's own instant shifted by a window or cadence: edges are hit exactly."""
    if one_in(draw, 12):
        return None
    if draw(st.booleans()) or not events:
        base = draw(instant(clusters, EVENT_MINUTES + 40))
    else:
        base = draw(st.sampled_from(events)) + draw(st.sampled_from(deltas))
    return base + draw(st.sampled_from((0, 0, 0, 1, -1)))


@st.composite
def spine(
    draw: Draw,
    ents: list[Entity],
    request: list[Column],
    events: list[int],
    deltas: list[int],
    data_rows: list[dict[str, Any]],
    clusters: tuple[int, ...],
    ts: str,
) -> list[dict[str, Any]]:
    rows = []
    keys = [k for e in ents for k in e.keys]
    for _ in range(draw(st.integers(1, 12))):
        if data_rows and draw(st.integers(0, 2)) > 0:  # mostly keys that have data
            like = draw(st.sampled_from(data_rows))
            row: dict[str, Any] = {k.name: like[k.name] for k in keys}
        else:  # keys absent from the data, and null keys
            row = {k.name: key_value(draw, k.type, spine=True) for k in keys}
        row[ts] = draw(spine_instant(events, deltas, clusters))
        for c in request:  # request values may be NaN or infinite too: null by the contract
            row[c.name] = draw(value(c.type, source=True))
        row["note"] = draw(value(T.STRING))  # a column no feature reads: passed through unchanged
        rows.append(row)
    for _ in range(draw(st.integers(0, 2))):  # duplicates
        rows.insert(draw(st.integers(0, len(rows))), dict(draw(st.sampled_from(rows))))
    return rows
