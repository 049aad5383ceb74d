"""The generated evaluator end to end: IR -> python_module -> load_module -> Evaluator.

Projects are built by hand from the IR; rows and expected values are hand-computed at the
edges the contract names (docs/semantics.md): t excluded, t - D included, ties, nulls,
as-served boundaries, labels, derived features with request fields, any ingest order.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest

from featc.compiler import ir
from featc.compiler.emit.python import PythonEmitError, python_module
from featc.compiler.types import DataType as T
from featc.runtime import Evaluator, load_module
from featc.runtime.errors import DataError

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
from ir_builders import call, col, feat, lit

MIN = 60_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = datetime(2024, 1, 1, 12, 0)
NO_BASKET = {"basket": None}  # the derived block reads the request field: it must be given (None is null)


def agg(
    name: str,
    fn: str,
    t: T,
    arg: ir.Expr | None = None,
    *,
    us: int | None = None,
    where: ir.Expr | None = None,
    kind: str | None = None,
) -> ir.Feature:
    window = ir.Window(kind=kind or ("lifetime" if us is None else "trailing"), us=us or 0)
    return ir.Feature(name=name, type=t, agg=ir.Aggregate(fn=fn, arg=arg, where=where, window=window))


def derived(name: str, t: T, expr: ir.Expr) -> ir.Feature:
    return ir.Feature(name=name, type=t, expr=expr)


AMOUNT = col("amount", T.DOUBLE)
QTY = col("qty", T.INT)
STATUS = col("status", T.STRING)
AT = col("at", T.TIMESTAMP)

ORDERS = ir.Source(
    name="orders",
    table="raw.orders",
    timestamp="at",
    columns=(
        ir.Column(name="customer_id", type=T.STRING),
        ir.Column(name="amount", type=T.DOUBLE),
        ir.Column(name="qty", type=T.INT),
        ir.Column(name="status", type=T.STRING),
        ir.Column(name="at", type=T.TIMESTAMP),
    ),
)
CUSTOMER = ir.Entity(name="customer", keys=(ir.Column(name="customer_id", type=T.STRING),))

ACTIVITY = ir.Group(
    kind="features",
    name="act",
    entity="customer",
    source="orders",
    filter=call("ne", T.BOOL, STATUS, lit("cancelled", T.STRING)),
    features=(
        agg("n_1h", "count", T.INT, us=HOUR),
        agg("n_life", "count", T.INT),
        agg("amounts_1h", "count", T.INT, AMOUNT, us=HOUR),
        agg("statuses_1d", "count_distinct", T.INT, STATUS, us=DAY),
        agg("qty_1d", "sum", T.INT, QTY, us=DAY),
        agg("amount_1d", "sum", T.DOUBLE, AMOUNT, us=DAY),
        agg("avg_qty_1d", "avg", T.DOUBLE, QTY, us=DAY),
        agg("min_status", "min", T.STRING, STATUS),
        agg("max_amount", "max", T.DOUBLE, AMOUNT),
        agg("last_amount", "last", T.DOUBLE, AMOUNT, us=DAY),
        agg("first_amount", "first", T.DOUBLE, AMOUNT, us=DAY),
        agg("big_1d", "count", T.INT, us=DAY, where=call("gt", T.BOOL, AMOUNT, lit(10.0, T.DOUBLE))),
        agg("last_at", "max", T.TIMESTAMP, AT),
    ),
)
BATCH = ir.Group(
    kind="features",
    name="batch",
    entity="customer",
    source="orders",
    refresh=ir.Refresh(mode="batch", every_us=10 * MIN, lag_us=2 * MIN),
    features=(agg("n_1h", "count", T.INT, us=HOUR), agg("n_life", "count", T.INT)),
)
LABEL = ir.Group(
    kind="label",
    name="lab",
    entity="customer",
    source="orders",
    features=(
        agg("n_next_1h", "count", T.INT, us=HOUR, kind="forward"),
        agg("max_next_1h", "max", T.DOUBLE, AMOUNT, us=HOUR, kind="forward"),
    ),
)
BASKET = ir.RequestRef(request="checkout", field="basket", type=T.DOUBLE)
DERIVED = ir.Group(
    kind="derived",
    name="sig",
    entity="customer",
    features=(
        # declared before what it reads: evaluation follows dependencies, output project order
        derived("twice", T.DOUBLE, call("mul", T.DOUBLE, feat("sig", "ratio", T.DOUBLE), lit(2, T.INT))),
        derived("ratio", T.DOUBLE, call("div", T.DOUBLE, BASKET, feat("act", "amount_1d", T.DOUBLE))),
        derived("busy", T.BOOL, call("ge", T.BOOL, feat("batch", "n_1h", T.INT), lit(2, T.INT))),
    ),
)
PROJECT = ir.Project(
    name="shop",
    entities=(CUSTOMER,),
    sources=(ORDERS,),
    requests=(ir.Request(name="checkout", fields=(ir.Column(name="basket", type=T.DOUBLE),)),),
    groups=(ACTIVITY, BATCH, LABEL, DERIVED),
)


def order(
    minutes: float,
    amount: float | None = 5.0,
    *,
    qty: int | None = 1,
    status: str | None = "ok",
    cid: str | None = "c1",
    at: datetime | None = None,
) -> dict[str, Any]:
    """An order ``minutes`` after T0 (negative: before)."""
    return {
        "customer_id": cid,
        "amount": amount,
        "qty": qty,
        "status": status,
        "at": at if at is not None else T0 + timedelta(minutes=minutes),
    }


@pytest.fixture(scope="module")
def module() -> ModuleType:
    return load_module(python_module(PROJECT))


def evaluator(module: ModuleType, rows: list[dict[str, Any]]) -> Evaluator:
    ev = Evaluator(module)
    ev.ingest("orders", rows)
    return ev


def at(ev: Evaluator, minutes: float = 0, **kw: Any) -> dict[str, Any]:
    kw.setdefault("request", NO_BASKET)
    return ev.features({"customer_id": "c1"}, T0 + timedelta(minutes=minutes), **kw)


# ------------------------------------------------------------------ windows


def test_event_at_t_is_excluded_and_t_minus_d_included(module: ModuleType) -> None:
    ev = evaluator(module, [order(0), order(-60), order(-60.001)])
    got = at(ev)
    assert got["act__n_1h"] == 1  # -60m exactly is in; the one 1us earlier and the one at t are not
    assert got["act__n_life"] == 2


def test_lifetime_sees_everything_before_t(module: ModuleType) -> None:
    ev = evaluator(module, [order(-100000), order(-1), order(0), order(1)])
    assert at(ev)["act__n_life"] == 2


def test_one_microsecond_before_window_start_is_out(module: ModuleType) -> None:
    start = T0 - timedelta(hours=1)
    ev = evaluator(module, [order(0, at=start), order(0, at=start - timedelta(microseconds=1))])
    assert at(ev)["act__n_1h"] == 1
    assert at(ev)["act__n_life"] == 2


def test_aggregates_over_a_window(module: ModuleType) -> None:
    rows = [
        order(-30, 4.0, qty=2, status="a"),
        order(-20, 20.0, qty=3, status="b"),
        order(-10, None, qty=None, status="a"),
        order(-90, 12.0, qty=5, status="c"),
    ]
    got = at(evaluator(module, rows))
    assert got["act__n_1h"] == 3
    assert got["act__amounts_1h"] == 2
    assert got["act__statuses_1d"] == 3
    assert got["act__qty_1d"] == 10
    assert got["act__amount_1d"] == 36.0
    assert got["act__avg_qty_1d"] == 10 / 3
    assert got["act__min_status"] == "a"
    assert got["act__max_amount"] == 20.0
    assert got["act__last_amount"] == 20.0  # the null at -10 does not count
    assert got["act__first_amount"] == 12.0
    assert got["act__big_1d"] == 2
    assert got["act__last_at"] == T0 - timedelta(minutes=10)


def test_types_out(module: ModuleType) -> None:
    got = at(evaluator(module, [order(-5, qty=3)]))
    assert type(got["act__qty_1d"]) is int
    assert type(got["act__avg_qty_1d"]) is float
    assert type(got["act__amount_1d"]) is float
    assert type(got["act__last_at"]) is datetime and got["act__last_at"].tzinfo is None


def test_empty_window_counts_zero_and_others_null(module: ModuleType) -> None:
    got = at(evaluator(module, []))
    assert got["act__n_1h"] == 0
    assert got["act__statuses_1d"] == 0
    assert got["act__big_1d"] == 0
    for name in (
        "qty_1d",
        "amount_1d",
        "avg_qty_1d",
        "min_status",
        "max_amount",
        "last_amount",
        "first_amount",
        "last_at",
    ):
        assert got[f"act__{name}"] is None, name


def test_only_nulls_give_null(module: ModuleType) -> None:
    got = at(evaluator(module, [order(-5, None, qty=None)]))
    assert got["act__n_1h"] == 1
    assert got["act__amounts_1h"] == 0
    assert got["act__qty_1d"] is None
    assert got["act__avg_qty_1d"] is None
    assert got["act__last_amount"] is None


def test_rows_with_null_ts_or_key_never_count(module: ModuleType) -> None:
    rows = [order(-5), order(-5, cid=None), {**order(-5), "at": None}]
    assert at(evaluator(module, rows))["act__n_life"] == 1


def test_ties_at_one_ts(module: ModuleType) -> None:
    rows = [order(-5, 3.0), order(-5, 7.0), order(-5, None), order(-50, 1.0), order(-50, 9.0)]
    got = at(evaluator(module, rows))
    assert got["act__last_amount"] == 7.0  # latest ts, largest x
    assert got["act__first_amount"] == 1.0  # earliest ts, smallest x


def test_group_filter_keeps_only_true(module: ModuleType) -> None:
    rows = [order(-5, status="cancelled"), order(-5, status=None), order(-5, status="ok")]
    assert at(evaluator(module, rows))["act__n_1h"] == 1  # null status: the filter is null


def test_feature_filter_null_is_false(module: ModuleType) -> None:
    rows = [order(-5, 11.0), order(-5, 10.0), order(-5, None)]
    assert at(evaluator(module, rows))["act__big_1d"] == 1


def test_int_sum_overflow_raises(module: ModuleType) -> None:
    ev = evaluator(module, [order(-5, qty=2**62), order(-6, qty=2**62)])
    with pytest.raises(DataError, match="act__qty_1d"):
        at(ev)


def test_entities_do_not_mix(module: ModuleType) -> None:
    ev = evaluator(module, [order(-5, cid="c1"), order(-5, cid="c2"), order(-6, cid="c2")])
    assert ev.features({"customer_id": "c2"}, T0, NO_BASKET)["act__n_1h"] == 2
    assert ev.features({"customer_id": "nobody"}, T0, NO_BASKET)["act__n_1h"] == 0
    assert ev.features({"customer_id": None}, T0, NO_BASKET)["act__n_1h"] == 0


# ------------------------------------------------------------------ as served


@pytest.mark.parametrize(
    ("minutes", "served_n_life"),
    [
        (0, 3),  # asof = floor((12:00 - 2m) / 10m) * 10m = 11:50: rows < 11:50
        (1.999, 3),  # 12:01:59.94 - 2m < 12:00
        (2, 4),  # asof = 12:00 exactly: the row at 11:59 is in, the one at 12:00 is not
        (11.99, 4),
        (7, 4),  # asof = 12:00
        (12, 6),  # asof = 12:10: the rows at 12:00 and 12:05 are in
    ],
)
def test_batch_block_served_as_of_last_boundary(module: ModuleType, minutes: float, served_n_life: int) -> None:
    rows = [order(-30), order(-20), order(-11), order(-1), order(0), order(5)]
    ev = evaluator(module, rows)
    served = at(ev, minutes)
    exact = at(ev, minutes, exact=True)
    assert served["batch__n_life"] == served_n_life
    assert exact["batch__n_life"] == sum(1 for m in (-30, -20, -11, -1, 0, 5) if m < minutes)
    assert served["act__n_life"] == exact["act__n_life"]  # continuous: always exact


def test_batch_window_is_relative_to_asof(module: ModuleType) -> None:
    # at 12:00 the batch view is as of 11:50, so its 1h window is [10:50, 11:50)
    ev = evaluator(module, [order(-70), order(-65), order(-5)])
    got = at(ev)
    assert got["batch__n_1h"] == 2
    assert at(ev, exact=True)["batch__n_1h"] == 1  # [11:00, 12:00): only -5


def test_asof_floors_towards_minus_infinity_before_the_epoch(module: ModuleType) -> None:
    epoch = datetime(1970, 1, 1)
    rows = [order(0, at=epoch - timedelta(minutes=15)), order(0, at=epoch - timedelta(minutes=9))]
    ev = evaluator(module, rows)
    # t = 23:59 on 1969-12-31: t - lag = 23:57 -> asof 23:50; only the row at 23:45 counts
    got = ev.features({"customer_id": "c1"}, epoch - timedelta(minutes=1), NO_BASKET)
    assert got["batch__n_life"] == 1


# ------------------------------------------------------------------ labels


def test_labels_look_forward_from_t(module: ModuleType) -> None:
    rows = [order(-1, 50.0), order(0, 3.0), order(59.99, 4.0), order(60, 99.0)]
    ev = evaluator(module, rows)
    assert "lab__n_next_1h" not in at(ev)
    got = at(ev, labels=True)
    assert got["lab__n_next_1h"] == 2  # t <= ts < t + 1h
    assert got["lab__max_next_1h"] == 4.0


def test_labels_are_exact_even_as_served(module: ModuleType) -> None:
    ev = evaluator(module, [order(1)])
    assert at(ev, 0.5, labels=True)["lab__n_next_1h"] == 1
    assert at(ev, 1.5, labels=True)["lab__n_next_1h"] == 0


# ------------------------------------------------------------------ derived


def test_derived_with_request_in_dependency_order(module: ModuleType) -> None:
    ev = evaluator(module, [order(-30, 4.0), order(-5, 6.0)])
    got = at(ev, request={"basket": 25})
    assert got["sig__ratio"] == 2.5
    assert got["sig__twice"] == 5.0
    assert got["sig__busy"] is False  # batch as of 11:50 sees one row
    assert at(ev, request={"basket": 25}, exact=True)["sig__busy"] is True
    assert list(got)[-3:] == ["sig__twice", "sig__ratio", "sig__busy"]  # project order


def test_derived_nulls(module: ModuleType) -> None:
    ev = evaluator(module, [])
    got = at(ev, request={"basket": 25.0})
    assert got["sig__ratio"] is None  # amount_1d is null
    assert at(ev)["sig__twice"] is None  # request field null: null
    ev.ingest("orders", [order(-5, 0.0)])
    assert at(ev, request={"basket": 1.0})["sig__ratio"] is None  # x / 0 is null


def test_output_order_is_project_order(module: ModuleType) -> None:
    got = at(evaluator(module, []), labels=True)
    groups = [c.split("__")[0] for c in got]
    assert groups == sorted(groups, key=["act", "batch", "lab", "sig"].index)


# ------------------------------------------------------------------ ingest


def test_shuffled_incremental_ingest_gives_the_same_answers(module: ModuleType) -> None:
    rng = random.Random(7)
    rows = [
        order(
            rng.uniform(-2000, 100),
            rng.choice([None, 0.1, 0.2, 0.3, 7.7]),
            qty=rng.choice([None, 1, 2]),
            status=rng.choice(["ok", "a", None, "cancelled"]),
            cid=rng.choice(["c1", "c2"]),
        )
        for _ in range(300)
    ]
    one = evaluator(module, rows)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    many = Evaluator(module)
    for i in range(0, len(shuffled), 17):
        many.ingest("orders", iter(shuffled[i : i + 17]))
    for minutes in (-1500, -600, -17, 0, 3.5, 200):
        for exact in (False, True):
            kw = {"request": {"basket": 3.0}, "exact": exact, "labels": True}
            assert at(one, minutes, **kw) == at(many, minutes, **kw)


def test_aware_timestamps_are_converted_to_utc(module: ModuleType) -> None:
    plus2 = timezone(timedelta(hours=2))
    ev = evaluator(module, [order(0, at=datetime(2024, 1, 1, 13, 30, tzinfo=plus2))])  # 11:30 UTC
    assert at(ev)["act__n_1h"] == 1
    assert at(ev)["act__last_at"] == datetime(2024, 1, 1, 11, 30)
    later = datetime(2024, 1, 1, 13, 31, tzinfo=plus2)
    assert ev.features({"customer_id": "c1"}, later, NO_BASKET, exact=True)["act__n_1h"] == 1


def test_ints_in_double_columns_become_floats(module: ModuleType) -> None:
    got = at(evaluator(module, [order(-5, 3)]))
    assert type(got["act__max_amount"]) is float


def test_unknown_source_is_an_error(module: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown source"):
        Evaluator(module).ingest("nope", [])


# ------------------------------------------------------------------ training rows


def test_training_rows(module: ModuleType) -> None:
    ev = evaluator(module, [order(-30, 4.0), order(-5, 6.0), order(10, 1.0)])
    spine: list[dict[str, Any]] = [
        {"customer_id": "c1", "ts": T0, "basket": 20.0, "extra": "x"},
        {"customer_id": "c1", "ts": None, "basket": 20.0, "extra": "y"},
        {"customer_id": "c2", "ts": T0, "basket": None, "extra": "z"},
    ]
    out = ev.training_rows(spine)
    assert [r["extra"] for r in out] == ["x", "y", "z"]
    assert out[0]["ts"] == T0 and out[0]["basket"] == 20.0
    assert out[0]["act__n_1h"] == 2
    assert out[0]["batch__n_life"] == 1  # as served by default
    assert out[0]["lab__n_next_1h"] == 1  # labels on by default
    assert out[0]["sig__ratio"] == 2.0
    assert all(v is None for k, v in out[1].items() if "__" in k)  # null instant: all null
    assert set(out[1]) == set(out[0])
    assert out[2]["act__n_1h"] == 0 and out[2]["sig__ratio"] is None
    exact = ev.training_rows(spine[:1], exact=True, labels=False)
    assert exact[0]["batch__n_life"] == 2
    assert "lab__n_next_1h" not in exact[0]


def test_training_rows_custom_timestamp_column(module: ModuleType) -> None:
    ev = evaluator(module, [order(-30)])
    spine: list[dict[str, Any]] = [{"customer_id": "c1", "when": T0, "basket": None}]
    out = ev.training_rows(spine, timestamp_column="when")
    assert out[0]["act__n_1h"] == 1


# ------------------------------------------------------------------ multi-key entities


def test_multi_key_entity_and_missing_keys() -> None:
    shop = ir.Entity(
        name="shop",
        keys=(ir.Column(name="region", type=T.STRING), ir.Column(name="shop_id", type=T.INT)),
    )
    sales = ir.Source(
        name="sales",
        table="raw.sales",
        timestamp="at",
        columns=(
            ir.Column(name="region", type=T.STRING),
            ir.Column(name="shop_id", type=T.INT),
            ir.Column(name="customer_id", type=T.STRING),
            ir.Column(name="at", type=T.TIMESTAMP),
        ),
    )
    project = PROJECT.model_copy(
        update={
            "entities": (CUSTOMER, shop),
            "sources": (ORDERS, sales),
            "groups": (
                ACTIVITY,
                ir.Group(
                    kind="features",
                    name="shop_sales",
                    entity="shop",
                    source="sales",
                    features=(agg("n", "count", T.INT),),
                ),
            ),
        }
    )
    ev = Evaluator(load_module(python_module(project)))
    ev.ingest(
        "sales",
        [
            {"region": "eu", "shop_id": 1, "customer_id": "c1", "at": T0},
            {"region": "us", "shop_id": 1, "customer_id": "c1", "at": T0},
        ],
    )
    later = T0 + timedelta(minutes=1)
    assert ev.features({"region": "eu", "shop_id": 1}, later) == {"shop_sales__n": 1}
    both = ev.features({"region": "us", "shop_id": 1, "customer_id": "c1"}, later)
    assert both["shop_sales__n"] == 1 and both["act__n_life"] == 0


# ------------------------------------------------------------------ the generated module


def test_module_is_deterministic_and_marked_generated() -> None:
    src = python_module(PROJECT)
    assert src == python_module(PROJECT)
    assert src.startswith("# Generated by featc")
    assert "DO NOT EDIT" in src.splitlines()[0]
    imports = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert all(
        ln.startswith(("from featc.runtime", "from __future__", "from collections.abc", "from typing"))
        for ln in imports
    ), imports
    compile(src, "features.py", "exec")


def test_load_module_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "shop_features.py"
    path.write_text(python_module(PROJECT))
    mod = load_module(path)
    assert mod.SPEC.name == "shop"
    assert load_module(str(path), name="x").SPEC.groups[0].name == "act"
    assert Evaluator(mod.SPEC).features({"customer_id": "c"}, T0, NO_BASKET)["act__n_life"] == 0


def test_case_does_not_evaluate_branches_not_taken() -> None:
    big = lit(2**63 - 1, T.INT)
    risky = call("add", T.INT, big, QTY)  # overflows for qty > 0
    expr = call("case", T.INT, call("gt", T.BOOL, QTY, lit(0, T.INT)), lit(1, T.INT), risky)
    project = PROJECT.model_copy(
        update={"groups": (ACTIVITY.model_copy(update={"features": (agg("s", "sum", T.INT, expr),)}),)}
    )
    ev = Evaluator(load_module(python_module(project)))
    ev.ingest("orders", [order(-1, qty=5), order(-2, qty=-1)])
    assert at(ev)["act__s"] == 1 + 2**63 - 2


def test_casts_and_literals_lower() -> None:
    exprs = {
        "to_int": (call("cast", T.INT, AMOUNT), 3),
        "to_str": (call("cast", T.STRING, call("gt", T.BOOL, QTY, lit(1, T.INT))), "true"),
        "same": (call("cast", T.INT, QTY), 2),
        "null": (call("cast", T.INT, lit(None, T.NULL)), None),
        "day": (call("dow", T.INT, call("cast", T.DATE, AT)), 1),
        "hr": (call("hour", T.INT, AT), 11),
        "rnd": (call("round", T.DOUBLE, AMOUNT, lit(0, T.INT)), 3.0),
        "inlist": (call("in", T.BOOL, QTY, lit(1, T.INT), lit(None, T.NULL)), None),
    }
    feats = tuple(agg(n, "max", T.INT, e) for n, (e, _) in exprs.items())
    project = PROJECT.model_copy(update={"groups": (ACTIVITY.model_copy(update={"features": feats}),)})
    ev = Evaluator(load_module(python_module(project)))
    ev.ingest("orders", [order(-30, 2.5, qty=2)])
    got = at(ev)
    assert got == {f"act__{n}": want for n, (_, want) in exprs.items()}


def test_unknown_function_is_a_clear_error() -> None:
    bad = ACTIVITY.model_copy(update={"features": (agg("x", "max", T.INT, call("frobnicate", T.INT, QTY)),)})
    with pytest.raises(PythonEmitError, match="frobnicate"):
        python_module(PROJECT.model_copy(update={"groups": (bad,)}))


def test_cast_outside_the_catalogue_is_an_error() -> None:
    bad = ACTIVITY.model_copy(update={"features": (agg("x", "max", T.DOUBLE, call("cast", T.DOUBLE, STATUS)),)})
    with pytest.raises(PythonEmitError, match="CAST from string to double"):
        python_module(PROJECT.model_copy(update={"groups": (bad,)}))


def test_derived_cycle_is_an_error() -> None:
    cyc = ir.Group(
        kind="derived",
        name="d",
        entity="customer",
        features=(
            derived("a", T.INT, feat("d", "b", T.INT)),
            derived("b", T.INT, feat("d", "a", T.INT)),
        ),
    )
    with pytest.raises(ValueError, match="cycle"):
        python_module(PROJECT.model_copy(update={"groups": (cyc,)}))


def test_columns_in_project_order(module: ModuleType) -> None:
    ev = Evaluator(module)
    assert ev.columns()[:2] == ["act__n_1h", "act__n_life"]
    assert "lab__n_next_1h" not in ev.columns()
    assert ev.columns(labels=True) == list(at(ev, labels=True))


def test_training_rows_accept_pandas_timestamps(module: ModuleType) -> None:
    pd = pytest.importorskip("pandas")
    ev = evaluator(module, [order(-30)])
    spine: list[dict[str, Any]] = [
        {"customer_id": "c1", "ts": pd.Timestamp(T0, tz="UTC"), "basket": None},
        {"customer_id": "c1", "ts": pd.NaT, "basket": None},
    ]
    out = ev.training_rows(spine)
    assert out[0]["act__n_1h"] == 1
    assert out[1]["act__n_1h"] is None
