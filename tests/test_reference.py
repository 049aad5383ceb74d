"""Hand-computed cases for the reference implementation: it judges every engine, so it is proven first.

IR is built by hand here (not compiled), so these tests depend on nothing but the IR model.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import pytest

from featc.compiler import ir
from featc.compiler.types import DataType

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
import reference as R
import reference_types as RT

T = DataType
MIN = 60_000_000
NULL = None


def lit(value: Any, t: DataType | None = None) -> ir.Lit:
    if t is None:
        t = {bool: T.BOOL, int: T.INT, float: T.DOUBLE, str: T.STRING, type(None): T.NULL}[type(value)]
    return ir.Lit(type=t, value=value)


def call(fn: str, t: DataType, *args: ir.Expr) -> ir.Call:
    return ir.Call(type=t, fn=fn, args=args)


def ev(expr: ir.Expr, row: dict[str, Any] | None = None) -> Any:
    return R.evaluate(expr, R.Scope(row=row or {}))


def col(name: str, t: DataType) -> ir.ColumnRef:
    return ir.ColumnRef(type=t, name=name)


def same(a: Any, b: Any) -> bool:
    """Exact equality that also tells 3 from 3.0 and True from 1."""
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------- scalar functions

B = [True, False, None]


@pytest.mark.parametrize("a", B)
@pytest.mark.parametrize("b", B)
def test_three_valued_logic(a: Any, b: Any) -> None:
    truth = {True: 1.0, None: 0.5, False: 0.0}
    back = {1.0: True, 0.5: None, 0.0: False}
    assert ev(call("and", T.BOOL, lit(a, T.BOOL), lit(b, T.BOOL))) is back[min(truth[a], truth[b])]
    assert ev(call("or", T.BOOL, lit(a, T.BOOL), lit(b, T.BOOL))) is back[max(truth[a], truth[b])]


def test_not_and_null_tests() -> None:
    assert ev(call("not", T.BOOL, lit(None, T.BOOL))) is None
    assert ev(call("not", T.BOOL, lit(False))) is True
    assert ev(call("is_null", T.BOOL, lit(None))) is True
    assert ev(call("is_not_null", T.BOOL, lit(0))) is True


@pytest.mark.parametrize(
    ("fn", "t", "a", "b", "want"),
    [
        ("add", T.INT, 2, 3, 5),
        ("sub", T.INT, 2, 3, -1),
        ("mul", T.DOUBLE, 2, 0.25, 0.5),
        ("add", T.INT, 2, None, None),
        ("div", T.DOUBLE, 7, 2, 3.5),
        ("div", T.DOUBLE, 1, 0, None),
        ("div", T.DOUBLE, 1.5, 0.0, None),
        ("div", T.DOUBLE, 0, 0, None),
        ("mod", T.INT, -7, 3, -1),
        ("mod", T.INT, 7, -3, 1),
        ("mod", T.INT, -7, -3, -1),
        ("mod", T.INT, 7, 0, None),
        ("mod", T.DOUBLE, -7.5, 2, -1.5),
        ("mod", T.DOUBLE, 7.5, -2.0, 1.5),
        ("mod", T.DOUBLE, 7.5, 0.0, None),
    ],
)
def test_arithmetic(fn: str, t: DataType, a: Any, b: Any, want: Any) -> None:
    got = ev(call(fn, t, lit(a, T.NULL if a is None else None), lit(b, T.NULL if b is None else None)))
    assert same(got, want)


@pytest.mark.parametrize(
    ("x", "n", "want"),
    [
        (2.5, None, 3.0),
        (-2.5, None, -3.0),
        (0.5, None, 1.0),
        (1.5, None, 2.0),
        (0.49999999999999994, None, 0.0),  # naive floor(x + 0.5) gets this wrong
        (2.675, 2, 2.68),  # 2.675 * 100 is the double 267.5: half away from zero
        (1.005, 2, 1.0),  # 1.005 * 100 is 100.49999999999999
        (-0.125, 2, -0.13),
        (0.125, 0, 0.0),
        (7, 2, 7),  # an int stays an int
        (-7, None, -7),
    ],
)
def test_round_half_away_from_zero(x: Any, n: int | None, want: Any) -> None:
    t = T.INT if isinstance(x, int) else T.DOUBLE
    args = (lit(x),) if n is None else (lit(x), lit(n))
    assert same(ev(call("round", t, *args)), want)


def test_floor_ceil_abs_keep_type() -> None:
    assert same(ev(call("floor", T.DOUBLE, lit(-1.5))), -2.0)
    assert same(ev(call("ceil", T.DOUBLE, lit(-1.5))), -1.0)
    assert same(ev(call("floor", T.INT, lit(-3))), -3)
    assert same(ev(call("abs", T.INT, lit(-3))), 3)
    assert same(ev(call("abs", T.DOUBLE, lit(-0.25))), 0.25)
    assert same(ev(call("neg", T.INT, lit(4))), -4)


@pytest.mark.parametrize(
    ("fn", "args", "want"),
    [
        ("ln", (0,), None),
        ("ln", (-1.0,), None),
        ("ln", (1,), 0.0),
        ("sqrt", (-0.25,), None),
        ("sqrt", (6.25,), 2.5),
        ("exp", (0,), 1.0),
        ("exp", (1000,), None),  # overflows a double
        ("exp", (-1000,), 0.0),  # underflow is fine: 0
        ("power", (0, -1), None),
        ("power", (0.0, -0.5), None),
        ("power", (-8, 0.5), None),
        ("power", (-8, 2), 64.0),
        ("power", (-2, -1), -0.5),
        ("power", (0, 0), 1.0),
    ],
)
def test_math_domains(fn: str, args: tuple[Any, ...], want: Any) -> None:
    assert same(ev(call(fn, T.DOUBLE, *(lit(a) for a in args))), want)


def test_non_finite_doubles() -> None:
    """A whole feature that overflows is null; an infinite intermediate is outside the contract."""
    big = call("power", T.DOUBLE, lit(10), lit(400))
    assert R.evaluate(big, R.Scope(), root=True) is None
    with pytest.raises(R.Unspecified):
        ev(call("gt", T.BOOL, big, lit(0)))
    assert R.normalise(float("nan"), T.DOUBLE) is None  # NaN and infinities in inputs are null
    assert R.normalise(float("-inf"), T.DOUBLE) is None


def test_least_greatest_skip_nulls_and_unify() -> None:
    assert same(ev(call("least", T.INT, lit(3), lit(None), lit(-1))), -1)
    assert same(ev(call("greatest", T.DOUBLE, lit(3), lit(None), lit(2.5))), 3.0)
    assert ev(call("least", T.NULL, lit(None), lit(None))) is None
    assert same(ev(call("greatest", T.STRING, lit("Z"), lit("a"), lit("é"))), "é")


@pytest.mark.parametrize(
    ("a", "items", "want"),
    [(1, (1, None), True), (2, (1, None), None), (None, (1,), None), (2, (1, 3), False), (None, (None,), None)],
)
def test_in(a: Any, items: tuple[Any, ...], want: Any) -> None:
    assert ev(call("in", T.BOOL, lit(a, T.NULL if a is None else T.INT), *(lit(i) for i in items))) is want


def test_between_and_nullif_follow_sql() -> None:
    """BETWEEN is exactly a >= lo AND a <= hi; NULLIF(a, b) is null only when a = b is true."""
    assert ev(call("between", T.BOOL, lit(2), lit(1), lit(2))) is True
    assert ev(call("between", T.BOOL, lit(4), lit(None), lit(3))) is False
    assert ev(call("between", T.BOOL, lit(2), lit(None), lit(3))) is None
    assert ev(call("between", T.BOOL, lit(None, T.INT), lit(1), lit(3))) is None
    assert ev(call("nullif", T.INT, lit(1), lit(1))) is None
    assert same(ev(call("nullif", T.INT, lit(1), lit(2))), 1)
    assert same(ev(call("nullif", T.INT, lit(1), lit(None))), 1)
    assert ev(call("nullif", T.INT, lit(None, T.INT), lit(1))) is None


def test_case_and_coalesce() -> None:
    case = call("case", T.INT, lit(None, T.BOOL), lit(1), lit(False), lit(2), lit(True), lit(3), lit(4))
    assert same(ev(case), 3)
    no_else = call("case", T.INT, lit(False), lit(1))
    assert ev(no_else) is None
    assert same(ev(call("coalesce", T.DOUBLE, lit(None), lit(2), lit(0.5))), 2.0)


def test_comparisons() -> None:
    assert ev(call("lt", T.BOOL, lit("Z"), lit("a"))) is True  # code points
    assert ev(call("gt", T.BOOL, lit("é"), lit("z"))) is True
    assert ev(call("eq", T.BOOL, lit(1), lit(1.0))) is True
    assert ev(call("ne", T.BOOL, lit(1), lit(None))) is None


def test_strings() -> None:
    assert ev(call("lower", T.STRING, lit("ÉÜÑA"))) == "éüña"
    assert ev(call("upper", T.STRING, lit("éüñß"))) == "ÉÜÑß"  # simple mapping: ß stays
    assert same(ev(call("length", T.INT, lit("ñé"))), 2)
    assert same(ev(call("length", T.INT, lit(""))), 0)
    assert ev(call("concat", T.STRING, lit("a"), lit(None, T.STRING))) is None
    assert ev(call("concat", T.STRING, lit("é"), lit(""))) == "é"


@pytest.mark.parametrize(
    ("us", "hour", "dow"),
    [
        (0, 0, 4),  # 1970-01-01 was a Thursday
        (-1, 23, 3),  # one microsecond earlier: Wednesday 23:59:59.999999
        (1709424000000000, 0, 0),  # 2024-03-03 is a Sunday
        (1709424000000000 - 1, 23, 6),
        (-86_400_000_000 * 4 + 5 * 3_600_000_000, 5, 0),  # 1969-12-28 05:00, a Sunday
    ],
)
def test_hour_and_dow_in_utc(us: int, hour: int, dow: int) -> None:
    ts = col("t", T.TIMESTAMP)
    assert ev(call("hour", T.INT, ts), {"t": us}) == hour
    assert ev(call("dow", T.INT, ts), {"t": us}) == dow
    day = call("cast", T.DATE, ts)
    assert ev(call("dow", T.INT, day), {"t": us}) == dow


@pytest.mark.parametrize(
    ("value", "src", "dst", "want"),
    [
        (2.5, T.DOUBLE, T.INT, 3),
        (-2.5, T.DOUBLE, T.INT, -3),
        (0.49999999999999994, T.DOUBLE, T.INT, 0),
        (3, T.INT, T.DOUBLE, 3.0),
        (0, T.INT, T.BOOL, False),
        (-5, T.INT, T.BOOL, True),
        (True, T.BOOL, T.INT, 1),
        (True, T.BOOL, T.DOUBLE, 1.0),
        (False, T.BOOL, T.STRING, "false"),
        (-5, T.INT, T.STRING, "-5"),
        (-1, T.TIMESTAMP, T.DATE, -1),  # 1969-12-31T23:59:59.999999 is on 1969-12-31
        (86_400_000_000, T.TIMESTAMP, T.DATE, 1),
        (-1, T.DATE, T.TIMESTAMP, -86_400_000_000),
        (None, T.INT, T.STRING, None),
    ],
)
def test_casts(value: Any, src: DataType, dst: DataType, want: Any) -> None:
    assert same(ev(call("cast", dst, col("x", src)), {"x": value}), want)


# ---------------------------------------------------------------- aggregations over time


EXACT = ir.Refresh()


def project(
    aggs: dict[str, ir.Aggregate],
    refresh: ir.Refresh = EXACT,
    *,
    where: ir.Expr | None = None,
    label: dict[str, ir.Aggregate] | None = None,
    derived: dict[str, tuple[ir.Expr, DataType]] | None = None,
) -> ir.Project:
    """One entity ``e`` (key k: string), one source ``s`` (k, ts, v: int, d: double, x: string)."""

    def feats(aggs: dict[str, ir.Aggregate]) -> tuple[ir.Feature, ...]:
        return tuple(
            ir.Feature(name=n, type=RT.aggregation_type(a.fn, a.arg.type if a.arg else None), agg=a)  # type: ignore[arg-type]
            for n, a in aggs.items()
        )

    groups = [
        ir.Group(kind="features", name="g", entity="e", source="s", filter=where, refresh=refresh, features=feats(aggs))
    ]
    if label:
        groups.append(ir.Group(kind="label", name="lab", entity="e", source="s", features=feats(label)))
    if derived:
        groups.append(
            ir.Group(
                kind="derived",
                name="dv",
                entity="e",
                features=tuple(ir.Feature(name=n, type=t, expr=e) for n, (e, t) in derived.items()),
            )
        )
    return ir.Project(
        name="p",
        entities=(ir.Entity(name="e", keys=(ir.Column(name="k", type=T.STRING),)),),
        sources=(
            ir.Source(
                name="s",
                table="raw.s",
                timestamp="ts",
                columns=(
                    ir.Column(name="k", type=T.STRING),
                    ir.Column(name="ts", type=T.TIMESTAMP),
                    ir.Column(name="v", type=T.INT),
                    ir.Column(name="d", type=T.DOUBLE),
                    ir.Column(name="x", type=T.STRING),
                ),
            ),
        ),
        requests=(ir.Request(name="rq", fields=(ir.Column(name="amount", type=T.DOUBLE),)),),
        groups=tuple(groups),
    )


V, D, X = col("v", T.INT), col("d", T.DOUBLE), col("x", T.STRING)


def agg(
    fn: str, arg: ir.Expr | None = None, minutes: int | None = None, where: ir.Expr | None = None, forward: bool = False
) -> ir.Aggregate:
    if minutes is None:
        window = ir.Window(kind="lifetime")
    else:
        window = ir.Window(kind="forward" if forward else "trailing", us=minutes * MIN)
    return ir.Aggregate(fn=fn, arg=arg, where=where, window=window)  # type: ignore[arg-type]


def row(ts_min: int | None, v: Any = None, d: Any = None, x: Any = None, k: str | None = "a") -> dict[str, Any]:
    return {"k": k, "ts": None if ts_min is None else ts_min * MIN, "v": v, "d": d, "x": x}


def run(
    p: ir.Project, rows: list[dict[str, Any]], spine: list[dict[str, Any]], exact: bool = False
) -> list[dict[str, Any]]:
    return R.training_data(p, {"s": rows}, spine, "ts", exact)


def at(minute: int | None, k: str | None = "a", **extra: Any) -> dict[str, Any]:
    return {"k": k, "ts": None if minute is None else minute * MIN, **extra}


def test_window_edges() -> None:
    """t - D <= ts < t: the row at t - D is in, the row at t is out."""
    p = project({"n10": agg("count", None, 10), "life": agg("count"), "s10": agg("sum", V, 10)})
    rows = [row(90, 1), row(91, 2), row(100, 4), row(99, 8)]
    (out,) = run(p, rows, [at(100)])
    assert out["g__n10"] == 3 and out["g__life"] == 3 and out["g__s10"] == 11
    (just_after,) = run(p, rows, [{"k": "a", "ts": 100 * MIN + 1}])
    assert just_after["g__n10"] == 3 and just_after["g__s10"] == 14  # 90 is out, 100 is in


def test_label_looks_forward() -> None:
    """t <= ts < t + D."""
    p = project({"n": agg("count")}, label={"y": agg("max", V, 10, forward=True)})
    rows = [row(100, 1), row(109, 5), row(110, 9), row(99, 7)]
    (out,) = run(p, rows, [at(100)])
    assert out["lab__y"] == 5 and out["g__n"] == 1


def test_last_first_ties_and_nulls() -> None:
    """Latest non-null x; ties at one ts by value: largest for last, smallest for first."""
    p = project({"last": agg("last", V), "first": agg("first", V), "lastx": agg("last", X)})
    rows = [row(1, 3), row(1, 5), row(1, None), row(5, 2, x="b"), row(5, 7, x="a"), row(6, None, x=None)]
    (out,) = run(p, rows, [at(10)])
    assert out["g__last"] == 7 and out["g__first"] == 3 and out["g__lastx"] == "b"


def test_empty_and_null_inputs() -> None:
    p = project(
        {
            "n": agg("count"),
            "nv": agg("count", V),
            "cd": agg("count_distinct", V),
            "s": agg("sum", V),
            "a": agg("avg", V),
            "mn": agg("min", X),
            "l": agg("last", D),
        }
    )
    (out,) = run(p, [row(1, None), row(2, None)], [at(10)])
    assert (out["g__n"], out["g__nv"], out["g__cd"]) == (2, 0, 0)
    assert out["g__s"] is None and out["g__a"] is None and out["g__mn"] is None and out["g__l"] is None


def test_sum_avg_types_and_distinct() -> None:
    p = project(
        {
            "s": agg("sum", V),
            "a": agg("avg", V),
            "sd": agg("sum", D),
            "cd": agg("count_distinct", D),
            "mx": agg("max", X),
            "mn": agg("min", X),
        }
    )
    rows = [row(1, 1, 0.0, "Z"), row(2, 2, -0.0, "a"), row(3, 2, 0.25, "é"), row(4, None, None, "")]
    (out,) = run(p, rows, [at(10)])
    assert same(out["g__s"], 5) and same(out["g__a"], 5 / 3) and same(out["g__sd"], 0.25)
    assert out["g__cd"] == 2  # 0.0 and -0.0 are one value
    assert out["g__mx"] == "é" and out["g__mn"] == ""


def test_filters_null_is_false() -> None:
    big = call("gt", T.BOOL, V, lit(1))
    p = project({"n": agg("count"), "nb": agg("count", None, where=call("gt", T.BOOL, D, lit(0.0)))}, where=big)
    rows = [row(1, 2, 1.0), row(2, None, 1.0), row(3, 5, None), row(4, 0, 1.0)]
    (out,) = run(p, rows, [at(10)])
    assert out["g__n"] == 2 and out["g__nb"] == 1


def test_rows_with_null_time_or_key_are_never_inputs() -> None:
    p = project({"n": agg("count")})
    (out,) = run(p, [row(None, 1), row(1, 1, k=None), row(2, 1)], [at(10)])
    assert out["g__n"] == 1


def test_as_served_and_exact() -> None:
    """every 10m lag 2m: served at t is the value as of floor((t - 2m) / 10m) * 10m."""
    p = project({"n": agg("count", None, 30)}, ir.Refresh(mode="batch", every_us=10 * MIN, lag_us=2 * MIN))
    rows = [row(m) for m in (45, 49, 50, 51, 58, 60)]
    served = run(p, rows, [at(61), at(62), at(72)])
    assert [r["g__n"] for r in served] == [2, 5, 6]  # as of 50, 60, 70
    exact = run(p, rows, [at(61), at(62), at(72)], exact=True)
    assert [r["g__n"] for r in exact] == [6, 6, 6]


def test_as_served_before_the_epoch_floors_down() -> None:
    p = project({"n": agg("count")}, ir.Refresh(mode="batch", every_us=10 * MIN, lag_us=1 * MIN))
    rows = [row(m) for m in (-25, -20, -15, -11, -10, -1)]
    (out,) = run(p, rows, [at(-1)])  # floor((-1m - 1m) / 10m) * 10m = -10m
    assert out["g__n"] == 4  # -25, -20, -15, -11: strictly before -10m
    assert R.asof(-2 * MIN, ir.Refresh(mode="batch", every_us=10 * MIN, lag_us=0), False) == -10 * MIN


def test_labels_are_always_exact() -> None:
    p = project(
        {"n": agg("count")},
        ir.Refresh(mode="batch", every_us=10 * MIN, lag_us=2 * MIN),
        label={"y": agg("count", None, 5, forward=True)},
    )
    (out,) = run(p, [row(m) for m in (59, 61, 64, 66)], [at(61)])
    assert out["g__n"] == 0 and out["lab__y"] == 2  # g as of 50; label from 61 itself


def test_spine_rows_nulls_duplicates_and_order() -> None:
    p = project(
        {"n": agg("count"), "s": agg("sum", V)},
        derived={"r": (ir.RequestRef(type=T.DOUBLE, request="rq", field="amount"), T.DOUBLE)},
    )
    rows = [row(1, 2), row(2, 3)]
    spine = [at(10, amount=1.5), at(None, amount=2.5), at(10, k=None), at(10, k="zz"), at(10, amount=1.5)]
    out = run(p, rows, spine)
    assert [r["g__n"] for r in out] == [2, None, 0, 0, 2]  # null instant: null, counts too
    assert [r["g__s"] for r in out] == [5, None, None, None, 5]
    assert [r["dv__r"] for r in out] == [1.5, None, None, None, 1.5]
    assert list(out[0]) == ["k", "ts", "amount", "g__n", "g__s", "dv__r"]


def test_derived_reads_served_features_and_other_derived() -> None:
    n = ir.FeatureRef(type=T.INT, group="g", name="n")
    ratio = call("div", T.DOUBLE, ir.RequestRef(type=T.DOUBLE, request="rq", field="amount"), n)
    big = call("gt", T.BOOL, ir.FeatureRef(type=T.DOUBLE, group="dv", name="ratio"), lit(1))
    p = project(
        {"n": agg("count")},
        ir.Refresh(mode="batch", every_us=10 * MIN, lag_us=0),
        derived={"big": (big, T.BOOL), "ratio": (ratio, T.DOUBLE)},
    )
    rows = [row(1), row(2), row(12)]
    served, exact = run(p, rows, [at(15, amount=3.0)]), run(p, rows, [at(15, amount=3.0)], exact=True)
    assert served[0]["dv__ratio"] == 1.5 and served[0]["dv__big"] is True  # n as of 10 is 2
    assert exact[0]["dv__ratio"] == 1.0 and exact[0]["dv__big"] is False
    (zero,) = run(p, [], [at(15, amount=3.0)])
    assert zero["dv__ratio"] is None and zero["dv__big"] is None  # x / 0 is null


def test_c_round_matches_half_away_from_zero_exactly() -> None:
    for k in range(-2000, 2001):
        x = k / 4
        want = math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)  # exact for quarters
        assert R.c_round(x) == want


@pytest.mark.parametrize(
    "node",
    [call("add", T.DOUBLE, lit(1), lit(2)),  # int + int is int
     call("div", T.INT, lit(1), lit(2)),  # / is double
     call("length", T.INT, lit(1)),  # length of a number
     call("cast", T.INT, lit("7")),  # string to int is not a contract cast
     call("cast", T.STRING, lit(1.5)),  # nor double to string
     call("nullif", T.INT, lit(1), lit("1")),  # 1 = '1' does not type
     call("round", T.DOUBLE, lit(2), lit(1)),  # round keeps the type of x
     call("lt", T.BOOL, lit(True), lit(1))],  # bool and int share no type
    ids=lambda n: n.fn,
)  # fmt: skip
def test_the_judge_refuses_types_the_contract_does_not_give(node: ir.Call) -> None:
    """The reference checks every node's type with its own rules, so a compiler typing bug cannot pass."""
    with pytest.raises(RT.TypeRuleBroken):
        ev(node)


def test_the_judge_refuses_aggregations_the_contract_does_not_type() -> None:
    wrong = ir.Feature(name="n", type=T.DOUBLE, agg=agg("sum", V))  # sum of int is int
    p = project({"n": agg("sum", V)})
    p = p.model_copy(update={"groups": (p.groups[0].model_copy(update={"features": (wrong,)}),)})
    with pytest.raises(RT.TypeRuleBroken, match="sum"):
        run(p, [row(1, 2)], [at(10)])
