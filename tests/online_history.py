"""The project and random histories of the online consistency test (tests/test_online_consistency.py).

One fixed project covers what serving must get right: a continuous block with every aggregation
kind over every type it takes (count(*), count, count_distinct, int and double sums, avg, min,
max, first, last), trailing windows of several lengths, lifetimes, a block filter and a
feature filter; a second continuous block on another source and entity; a batch block
(``refresh: every 15m lag 2m``) on the first source; derived blocks reading both kinds and request
fields. Tile sizes (150 s and 75 s) divide the windows but are not whole minutes, so tile edges,
window edges and batch boundaries fall apart and together.

The data reuses tests/strategies_data.py (values of every type with nulls, NaN and infinities,
ties on key and instant, keys such as '' and 'é', clusters on both sides of the epoch, a column of
values near the largest double whose sums overflow to null) and adds
exact duplicate rows and instants a microsecond off a minute. ``arrivals`` draws how the rows
reach the store: shuffled across sources, cut into ingest calls, each with an offset of one of
the forms ``ingest`` takes, and some calls replayed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from strategies_data import (
    CLUSTERS,
    INT_KEYS,
    MINUTE,
    STRING_KEYS,
    Column,
    Entity,
    Example,
    Source,
    source_rows,
    spine,
    value,
)
from strategies_exprs import Draw, one_in

from featc.compiler.types import DataType

T = DataType
SECOND = 1_000_000
EVERY, LAG = 15 * MINUTE, 2 * MINUTE  # shop_batch's refresh
REACH = {"cust": 120 * MINUTE, "shop_live": 60 * MINUTE}  # each continuous block's longest window
TILE = {"cust": 150 * SECOND, "shop_live": 75 * SECOND}  # the tile rule's sizes (checked by the test)

TEXT = """\
entity customer {
  key cid: string
}
entity shop {
  key sid: int
}
source orders {
  table: raw.orders
  timestamp: at
  columns {
    cid: string
    sid: int
    at: timestamp
    amount: double
    qty: int
    item: string
    paid: bool
    promised: timestamp
  }
}
source clicks {
  table: raw.clicks
  timestamp: at
  columns {
    sid: int
    at: timestamp
    page: string
    dwell: double
    h: double
  }
}
request checkout {
  basket: double
  vip: bool
}
features cust {
  entity: customer
  source: orders
  filter: qty IS NULL OR qty > -15
  features {
    n_10m = count(*) over 10m
    n_amount_1h = count(amount) over 1h
    items_30m = count_distinct(item) over 30m
    qty_1h = sum(qty) over 1h
    amount_10m = sum(amount) over 10m
    amount_avg_30m = avg(amount) over 30m
    qty_avg_2h = avg(qty) over 2h
    amount_min_1h = min(amount) over 1h
    item_max_2h = max(item) over 2h
    promised_max_30m = max(promised) over 30m
    first_item_30m = first(item) over 30m
    last_paid_10m = last(paid) over 10m
    big_1h = count(*) filter (where amount > 5) over 1h
    last_amount = last(amount)
    first_promised = first(promised)
    paid_kinds = count_distinct(paid)
    qty_max = max(qty)
    paid_max_1h = max(paid) over 1h
    amount_kinds = count_distinct(amount)
    promised_kinds_30m = count_distinct(promised) over 30m
    qty_kinds_1h = count_distinct(qty) over 1h
    qty_all = sum(qty)
    n = count(*)
  }
}
features shop_live {
  entity: shop
  source: clicks
  features {
    views_5m = count(*) over 5m
    dwell_15m = sum(dwell) over 15m
    pages_1h = count_distinct(page) over 1h
    last_page_1h = last(page) over 1h
    dwell_min = min(dwell)
    h_sum = sum(h)
    h_max_15m = max(h) over 15m
    h_sum_5m = sum(h) over 5m
    views = count(*)
  }
}
features shop_batch {
  entity: shop
  source: orders
  filter: paid IS NULL OR paid
  refresh: every 15m lag 2m
  features {
    orders_1h = count(*) over 1h
    revenue_30m = sum(amount) over 30m
    qty_avg_1h = avg(qty) over 1h
    customers_1h = count_distinct(cid) over 1h
    first_cid_1h = first(cid) over 1h
    last_item = last(item)
    orders = count(*)
  }
}
derived shop_signals {
  entity: shop
  features {
    busy = shop_live.views_5m >= 2 OR checkout.vip
    basket_share = checkout.basket / shop_batch.revenue_30m
    activity = shop_live.views + shop_batch.orders_1h
  }
}
derived cust_signals {
  entity: customer
  features {
    over_avg = checkout.basket > cust.amount_avg_30m
    spend = COALESCE(cust.amount_10m, 0.0) + COALESCE(checkout.basket, 0.0)
    trend = cust.n_10m * 6 - cust.n_amount_1h
  }
}
"""

ORDERS = Source(
    "orders",
    "at",
    [Column("cid", T.STRING), Column("sid", T.INT), Column("at", T.TIMESTAMP), Column("amount", T.DOUBLE),
     Column("qty", T.INT), Column("item", T.STRING), Column("paid", T.BOOL), Column("promised", T.TIMESTAMP)],
    frozenset({"cid", "sid"}),
)  # fmt: skip
CLICKS = Source(
    "clicks",
    "at",
    [Column("sid", T.INT), Column("at", T.TIMESTAMP), Column("page", T.STRING), Column("dwell", T.DOUBLE),
     Column("h", T.DOUBLE)],
    frozenset({"sid"}),
    {"h": 1.0},  # values near the largest double half the time: sums leave the double range (null)
)  # fmt: skip
SOURCES = (ORDERS, CLICKS)
ENTITIES = [Entity("customer", [Column("cid", T.STRING)]), Entity("shop", [Column("sid", T.INT)])]
REQUEST = [Column("basket", T.DOUBLE), Column("vip", T.BOOL)]
SPINE_COLUMNS = [Column("cid", T.STRING), Column("sid", T.INT), Column("ts", T.TIMESTAMP), *REQUEST,
                 Column("note", T.STRING)]  # fmt: skip
CIDS, SIDS = STRING_KEYS, INT_KEYS  # every key a spine may ask about (strategies_data)
# Shifts from an event to a question: tiles, the lag, windows, the cadence, cadence plus lag.
DELTAS = sorted({0, 75 * SECOND, 150 * SECOND, LAG, 5 * MINUTE, 10 * MINUTE, EVERY, EVERY + LAG, 30 * MINUTE,
                 60 * MINUTE, 120 * MINUTE})  # fmt: skip
JITTER = (1, -1, 30 * SECOND, 75 * SECOND, -150 * SECOND)


# ---------------------------------------------------------------- which rows count where


def counts(block: str, source: str, row: dict[str, Any]) -> bool:
    """Whether ``row`` of ``source`` is an event of continuous ``block`` (its key, instant and filter)."""
    if row.get("at") is None:
        return False
    if block == "cust":
        return source == "orders" and row["cid"] is not None and (row["qty"] is None or row["qty"] > -15)
    return source == "clicks" and row["sid"] is not None


def key_of(block: str, row: dict[str, Any]) -> Any:
    return row["cid"] if block == "cust" else row["sid"]


# ---------------------------------------------------------------- histories


@st.composite
def history(draw: Draw, clusters: tuple[int, ...]) -> dict[str, list[dict[str, Any]]]:
    """Rows per source (epoch-us instants), with ties, exact duplicates and instants just off a minute."""
    data = {}
    for src in SOURCES:
        rows = draw(source_rows(src, clusters))
        for row in rows:
            if row["at"] is not None and one_in(draw, 4):
                row["at"] += draw(st.sampled_from(JITTER))
        for _ in range(draw(st.integers(0, 3)) if rows else 0):
            rows.insert(draw(st.integers(0, len(rows))), dict(draw(st.sampled_from(rows))))
        data[src.name] = rows
    return data


@st.composite
def questions(draw: Draw, data: dict[str, list[dict[str, Any]]], clusters: tuple[int, ...]) -> list[dict[str, Any]]:
    """Spine rows (strategies_data.spine: keys with data, absent and null; instants on window, tile
    and boundary edges and a microsecond off; request values with nulls and NaN), instants not null,
    plus a few aimed at one event's own edges: its key, its instant plus a window, tile or cadence,
    exactly or a microsecond either side."""
    rows = [r for rs in data.values() for r in rs]
    events = sorted({r["at"] for r in rows if r["at"] is not None})
    like = [{"cid": r.get("cid"), "sid": r["sid"]} for r in rows]  # clicks rows have no cid
    drawn = draw(spine(ENTITIES, REQUEST, events, DELTAS, like, clusters, "ts"))
    timed = [r for r in rows if r["at"] is not None]
    for _ in range(draw(st.integers(0, 4)) if timed else 0):
        r = draw(st.sampled_from(timed))
        t = r["at"] + draw(st.sampled_from(DELTAS)) + draw(st.sampled_from((0, 1, -1)))
        cid = r["cid"] if "cid" in r else draw(st.sampled_from(CIDS))
        drawn.insert(draw(st.integers(0, len(drawn))), {"cid": cid, "sid": r["sid"], "ts": t,
                     **{c.name: draw(value(c.type, source=True)) for c in REQUEST}, "note": None})  # fmt: skip
    return [r for r in drawn if r["ts"] is not None]


def example(data: dict[str, list[dict[str, Any]]], asked: list[dict[str, Any]], zone: str | None) -> Example:
    """What tests/engines.py runs on DuckDB."""
    return Example(
        text=TEXT,
        sources=data,
        source_columns={s.name: s.columns for s in SOURCES},
        spine=asked,
        spine_columns=SPINE_COLUMNS,
        source_zone=zone,
    )


# ---------------------------------------------------------------- arrival


@dataclass
class Call:
    source: str
    rows: list[int]  # indexes into the source's rows
    offset: Any = None


@dataclass
class Arrival:
    calls: list[Call]
    replays: list[int] = field(default_factory=list)  # indexes of calls sent again, after all calls

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls)


OFFSET_FORMS = ("none", "int", "stream", "partition")


def offset(form: str, partition: str, position: int) -> Any:
    """The offset of a call whose last row is at ``position`` of its partition, in one of ingest's forms."""
    if form == "int":
        return position
    if form == "stream":  # a Redis stream id: (milliseconds, sequence), compared as a pair
        return f"{1_700_000_000_000 + position // 3}-{position % 3}"
    if form == "partition":
        return (partition, position)
    return None


@st.composite
def arrivals(draw: Draw, data: dict[str, list[dict[str, Any]]]) -> Arrival:
    """Every row once, shuffled across sources, cut into calls (one source each), with offsets."""
    every = [(name, i) for name, rows in data.items() for i in range(len(rows))]
    order = draw(st.permutations(every), label="arrival order")
    cuts = sorted(draw(st.lists(st.integers(0, len(every)), max_size=5), label="cuts"))
    forms = {name: draw(st.sampled_from(OFFSET_FORMS), label=f"offsets of {name}") for name in data}
    positions: dict[tuple[str, str], int] = {}
    calls: list[Call] = []
    for a, b in zip([0, *cuts], [*cuts, len(every)], strict=True):
        part = order[a:b]
        start = 0
        for i in range(1, len(part) + 1):
            if i == len(part) or part[i][0] != part[start][0]:
                name = part[start][0]
                partition = draw(st.sampled_from(("p0", "p1"))) if forms[name] == "partition" else ""
                position = positions.get((name, partition), -1) + (i - start)
                positions[name, partition] = position
                calls.append(Call(name, [j for _, j in part[start:i]], offset(forms[name], partition, position)))
                start = i
    with_offsets = [i for i, c in enumerate(calls) if c.offset is not None]
    replays = draw(st.lists(st.sampled_from(with_offsets), max_size=2)) if with_offsets else []
    return Arrival(calls, replays)


def keys_pool() -> list[tuple[str, int]]:
    """(cid, sid) pairs covering every key a question may name."""
    return list(zip(CIDS, SIDS, strict=True))


def source(name: str) -> Source:
    return next(s for s in SOURCES if s.name == name)


__all__ = ["CLUSTERS", "MINUTE", "TEXT", "Arrival", "Call", "arrivals", "history", "questions", "source_rows"]
