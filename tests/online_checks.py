"""Asking the online store and judging its answers against DuckDB, for tests/test_online_consistency.py.

The store is asked as a client would (``get_many`` per instant, ``get`` per question, and the
continuous features alone where the batch view has nothing to serve); an answer is judged
against DuckDB's training row for the same question by the serving contract (docs/semantics.md,
"Tiles"; runtime/online.py): equal, or one of the documented departures (a refusal older than the
horizon, a stale or missing batch boundary), each counted for hypothesis' statistics.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import online_history as oh
import pytest
from engines import canonical, column_types, instant, run_duckdb, same

import featc
from featc.runtime import Boundary, NotServed, OnlineStore, Vector, open_store
from featc.runtime.times import asof, from_us

CONTINUOUS = ("cust", "shop_live")
REFUSED = "needs the events of source"
NO_BOUNDARY = "no boundary of batch view shop_batch"
NOT_LOADED = "block shop_batch has no state in"  # nothing ever loaded: not started
PROJECT = featc.compile_text(oh.TEXT, filename="consistency.feat", name="consistency")
TYPES = column_types(PROJECT, oh.example({}, [], None))
COLUMNS = {g.name: [g.column(f) for f in g.features] for g in PROJECT.groups}
FEATURES = [c for g in PROJECT.groups if g.kind != "label" for c in COLUMNS[g.name]]
EXACT = [*COLUMNS["cust"], *COLUMNS["shop_live"], *COLUMNS["cust_signals"]]  # answerable with exact=True
STALE_SKIP = set(COLUMNS["shop_signals"])  # derived from a batch value: DuckDB's is of the expected boundary


def fresh(build: Path, url: str, retain: int, keep: int = 4) -> OnlineStore:
    """A store for one example: the build's namespaces emptied first (examples share the Redis database)."""
    store = open_store(build, url, retain=timedelta(microseconds=retain), keep=keep)
    for namespace in store.namespaces().values():
        store.state.drop(namespace)
    return store


# ---------------------------------------------------------------- questions and answers


@dataclass
class Served:
    """What the batch view holds: the landed boundaries and their rows (sid -> values by column)."""

    landed: list[int]
    rows: dict[int, dict[Any, dict[str, Any]]]

    def served(self, t: int) -> tuple[int, int | None]:
        """The boundary the contract expects at ``t``, and the one the store must serve (None: none)."""
        expected = asof(t, oh.EVERY, oh.LAG)
        return expected, max((b for b in self.landed if b <= expected), default=None)


@dataclass
class Answer:
    """A question's answer: its values, or the NotServed it raised (and then the continuous
    features alone, where only the batch view could not be served)."""

    got: dict[str, Any] | NotServed
    partial: dict[str, Any] | None = None
    boundary: Boundary | None = None


def keys(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"cid": row["cid"], "sid": row["sid"]}


def request(row: Mapping[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in oh.REQUEST}


def differences(got: Mapping[str, Any], want: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """Columns where the store's answer and DuckDB's training row differ (type included)."""
    out = []
    for column, value in got.items():
        if column in skip:
            continue
        dtype = TYPES[column]
        status, mine = canonical(value, dtype)
        _, theirs = canonical(want[column], dtype)
        if status == "bad":
            out.append(f"{column} ({dtype}): wrong Python type {mine}")
        elif not same(mine, theirs, dtype):
            out.append(f"{column} ({dtype}): store {mine!r}, DuckDB {theirs!r}")
    return out


def load_boundaries(
    store: OnlineStore, data: dict[str, list[dict[str, Any]]], boundaries: Sequence[int], data_zone: str | None,
    twice: int | None, by_name: Sequence[bool]
) -> dict[int, dict[Any, dict[str, Any]]]:  # fmt: skip
    """Each boundary loaded with DuckDB's exact training rows at it for every shop (materialize --store);
    ``twice``: one boundary first loaded empty, then again (a reload replaces it)."""
    if not boundaries:
        return {}
    sids = sorted({*oh.SIDS, *(r["sid"] for rows in data.values() for r in rows if r["sid"] is not None)})
    spine = [{"cid": None, "sid": sid, "ts": b, "basket": None, "vip": None, "note": None}
             for b in boundaries for sid in sids]  # fmt: skip
    trained = run_duckdb(PROJECT, oh.example(data, spine, data_zone), exact=True)
    rows: dict[int, dict[Any, dict[str, Any]]] = {}
    for asked, got in zip(spine, trained, strict=True):
        rows.setdefault(asked["ts"], {})[asked["sid"]] = {c: got[c] for c in COLUMNS["shop_batch"]}
    for b, named in zip(boundaries, by_name, strict=True):
        if b == twice:
            assert store.load("shop_batch", from_us(b), []) == 0
        loaded = [{"sid": sid, **{(c.split("__", 1)[1] if named else c): v for c, v in values.items()}}
                  for sid, values in rows[b].items()]  # fmt: skip
        assert store.load("shop_batch", from_us(b), loaded) == len(sids)
    return rows


def ask(store: OnlineStore, asked: list[dict[str, Any]], zone: str | None) -> list[Answer]:
    """Each question's answer: one ``get_many`` per instant, and ``get`` for each question (they must
    agree); where the batch view has no boundary to serve, the continuous features alone."""
    out: list[Answer] = []
    many: dict[int, list[Vector] | NotServed] = {}
    for t in dict.fromkeys(row["ts"] for row in asked):
        rows = [row for row in asked if row["ts"] == t]
        try:
            many[t] = store.get_many([keys(r) for r in rows], [request(r) for r in rows], at=instant(t, zone))
        except NotServed as e:
            many[t] = e
    for row in asked:
        at = instant(row["ts"], zone)
        batch = many[row["ts"]]
        try:
            one = store.get(keys(row), request(row), at=at)
        except NotServed as e:
            assert isinstance(batch, NotServed), f"get refused what get_many answered: {e}"
            partial = None
            if NO_BOUNDARY in str(e) or NOT_LOADED in str(e):
                with contextlib.suppress(NotServed):
                    partial = store.get(keys(row), request(row), at=at, features=EXACT).values
            out.append(Answer(e, partial))
            continue
        assert one.build == store.build and one.at == from_us(row["ts"])
        if not isinstance(batch, NotServed):
            same_instant = [r for r in asked if r["ts"] == row["ts"]]
            twin = batch[next(n for n, r in enumerate(same_instant) if r is row)]
            assert (twin.values, twin.boundaries) == (one.values, one.boundaries), "get_many and get differ"
        out.append(Answer(one.values, boundary=one.boundaries["shop_batch"]))
    return out


def newest(data: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, Any], int]:
    """Each continuous (block, key)'s newest event."""
    out: dict[tuple[str, Any], int] = {}
    for block in CONTINUOUS:
        for source, rows in data.items():
            for r in rows:
                if oh.counts(block, source, r):
                    k = (block, oh.key_of(block, r))
                    out[k] = max(out.get(k, r["at"]), r["at"])
    return out


def refusable(row: Mapping[str, Any], newest_of: Mapping[tuple[str, Any], int], retain: int) -> bool:
    """Whether the contract lets the store refuse this question: older than its entity's newest - retain."""
    t = row["ts"]
    return any(t < newest_of.get((b, row["cid"] if b == "cust" else row["sid"]), t) - retain for b in CONTINUOUS)


def check_answers(
    answers: list[Answer],
    asked: list[dict[str, Any]],
    trained: list[dict[str, Any]],
    served: Served,
    may_refuse: Callable[[Mapping[str, Any]], bool],
) -> Counter[str]:
    """Every answer equals DuckDB's row (or departs as the contract allows); returns what happened."""
    seen: Counter[str] = Counter()
    problems = []
    for i, (answer, row, want) in enumerate(zip(answers, asked, trained, strict=True)):
        expected, boundary = served.served(row["ts"])
        got = answer.got
        if isinstance(got, NotServed):
            if NO_BOUNDARY in str(got) or NOT_LOADED in str(got):
                assert boundary is None, f"question {i}: refused, but boundary {boundary} has landed: {got}"
                if answer.partial is not None:
                    assert list(answer.partial) == EXACT
                    problems += [
                        f"question {i} {row} (continuous only): {p}" for p in differences(answer.partial, want)
                    ]
                seen["no boundary landed"] += 1
            else:
                assert REFUSED in str(got) and may_refuse(row), f"question {i} ({row}) refused: {got}"
                seen["refused (older than the horizon)"] += 1
            continue
        assert list(got) == FEATURES, f"question {i}: columns {list(got)}"
        assert boundary is not None, f"question {i}: answered with no boundary landed at or before {expected}"
        assert answer.boundary == Boundary(from_us(boundary), from_us(expected)), (i, answer.boundary)
        if boundary == expected:
            problems += [f"question {i} {row}: {p}" for p in differences(got, want)]
            seen["answered"] += 1
            continue
        # the batch values as loaded at the boundary served (an entity not loaded: empty at any boundary)
        stale = {**want, **served.rows[boundary].get(row["sid"], {})}
        problems += [f"question {i} {row} (stale): {p}" for p in differences(got, stale, STALE_SKIP)]
        seen["stale boundary"] += 1
    assert not problems, "\n".join(problems[:30])
    return seen


def check_exact(store: OnlineStore, asked: list[dict[str, Any]], answers: list[Answer], zone: str | None) -> None:
    """exact=True: continuous (and derived-from-continuous) features as get gave them; a batch view is refused."""
    for row, answer in zip(asked[:3], answers[:3], strict=False):
        if isinstance(answer.got, NotServed):
            continue
        at = instant(row["ts"], zone)
        exact = store.get(keys(row), request(row), at=at, exact=True, features=EXACT)
        assert exact.values == {c: answer.got[c] for c in EXACT} and exact.boundaries == {}
        with pytest.raises(NotServed, match="is a batch view"):
            store.get(keys(row), request(row), at=at, exact=True)
