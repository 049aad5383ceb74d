"""Evaluator ingest in any order: 200k rows in order, newest first and shuffled, into its default store.

The store (tiles since issue 10: runtime/tiles.py; results/ingest.json was measured on the raw
RawRowStore before) appends events that arrive in order and sorts the others lazily, on the next
read of their series, so the cost that matters is ingest plus the first read: both
are timed, separately and together. Before timing, every order is checked to give the same
answers as in-order ingest at a few instants. Runs are interleaved (in order, reversed,
shuffled, in order, ...) so that load from elsewhere hits all three alike; the ratios to
in-order ingest come from one run of this script, and no time is asserted anywhere.

    .venv/bin/python -m bench.ingest [--rows 200000] [--runs 3]

writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from featc.compiler import ir
from featc.compiler.emit.python import python_module
from featc.compiler.types import DataType as T
from featc.runtime import Evaluator, load_module

from .measure import ROOT, git_commit, machine, timed

T0 = datetime(2024, 1, 1)
ENTITIES = 100
HOUR_US = 3_600_000_000


def _project() -> ir.Project:
    """One source (key, amount, event time), one block: count and sum over a lifetime and an hour."""
    amount = ir.ColumnRef(name="amount", type=T.DOUBLE)

    def agg(name: str, fn: str, t: T, arg: ir.Expr | None, us: int | None) -> ir.Feature:
        window = ir.Window(kind="lifetime" if us is None else "trailing", us=us or 0)
        return ir.Feature(name=name, type=t, agg=ir.Aggregate(fn=fn, arg=arg, window=window))

    return ir.Project(
        name="bench_ingest",
        entities=(ir.Entity(name="user", keys=(ir.Column(name="uid", type=T.INT),)),),
        sources=(
            ir.Source(
                name="events",
                table="raw.events",
                timestamp="at",
                columns=(
                    ir.Column(name="uid", type=T.INT),
                    ir.Column(name="amount", type=T.DOUBLE),
                    ir.Column(name="at", type=T.TIMESTAMP),
                ),
            ),
        ),
        groups=(
            ir.Group(
                kind="features",
                name="g",
                entity="user",
                source="events",
                features=(
                    agg("n", "count", T.INT, None, None),
                    agg("n_1h", "count", T.INT, None, HOUR_US),
                    agg("amount_1h", "sum", T.DOUBLE, amount, HOUR_US),
                    agg("last_amount", "last", T.DOUBLE, amount, None),
                ),
            ),
        ),
    )


def _rows(n: int) -> list[dict[str, Any]]:
    """n events, one a second, round-robin over the users, two at each instant (ties)."""
    return [{"uid": i % ENTITIES, "amount": float(i % 97), "at": T0 + timedelta(seconds=i // 2)} for i in range(n)]


def _orders(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    return {"in_order": rows, "reversed": rows[::-1], "shuffled": shuffled}


def _answers(ev: Evaluator, n: int) -> list[dict[str, Any]]:
    """Every user at three instants (the first read of each series is what merges pending rows)."""
    instants = [T0 + timedelta(seconds=s) for s in (n // 8, n // 4, n // 2 + 1)]
    return [ev.features({"uid": u}, t) for t in instants for u in range(ENTITIES)]


def _load(module: ModuleType, rows: list[dict[str, Any]], n: int) -> tuple[float, float, list[dict[str, Any]]]:
    ev = Evaluator(module)
    ingest_s, _ = timed(lambda: ev.ingest("events", rows))
    read_s, answers = timed(lambda: _answers(ev, n))
    return ingest_s, read_s, answers


def _verify(module: ModuleType, orders: dict[str, list[dict[str, Any]]], n: int) -> dict[str, Any]:
    want = _load(module, orders["in_order"], n)[2]
    wrong = [name for name, rows in orders.items() if _load(module, rows, n)[2] != want]
    return {"ok": not wrong, "answers_per_order": len(want), "differs": wrong}


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    ingest = statistics.median(s[0] for s in samples)
    read = statistics.median(s[1] for s in samples)
    total = statistics.median(s[0] + s[1] for s in samples)
    return {"ingest_s": round(ingest, 3), "first_reads_s": round(read, 3), "total_s": round(total, 3)}


def run(n: int, runs: int) -> dict[str, Any]:
    """Verification, then ``runs`` interleaved rounds of every order; medians and ratios to in order."""
    module = load_module(python_module(_project()))
    orders = _orders(_rows(n))
    result: dict[str, Any] = {"benchmark": "ingest", "rows": n, "entities": ENTITIES, "runs": runs}
    result["verification"] = _verify(module, orders, n)
    if not result["verification"]["ok"]:
        return {**result, "status": "wrong answers"}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in orders}
    for _ in range(runs):
        for name, rows in orders.items():
            ingest_s, read_s, _ = _load(module, rows, n)
            samples[name].append((ingest_s, read_s))
    times = {name: _summary(s) for name, s in samples.items()}
    base = times["in_order"]["total_s"]
    for t in times.values():
        t["ratio_to_in_order"] = round(t["total_s"] / base, 2) if base else 0.0
        t["rows_per_s"] = round(n / t["total_s"]) if t["total_s"] else 0
    return {**result, "status": "ok", "orders": times}


def _stamp(result: dict[str, Any]) -> dict[str, Any]:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**result, "when": when, "commit": git_commit(), "machine": machine()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the result, do not write the JSON")
    args = parser.parse_args(argv)
    result = _stamp(run(args.rows, args.runs))
    text = json.dumps(result, indent=2) + "\n"
    if not args.no_write:
        path = ROOT / "bench" / "results" / "ingest.json"
        path.write_text(text)
    print(text, end="")
    return result


if __name__ == "__main__":
    main()
