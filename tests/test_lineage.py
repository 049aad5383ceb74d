"""The lineage graph: dependency answers on small hand-made projects, and deep graphs that compile in seconds.

A 1,000-deep chain used to overflow the stack in the planner; a 30-deep diamond
(``d_i = d_{i-1} + d_{i-1}``) used to take 2^30 steps. Both must compile every artifact quickly
(no timing assertion: they either finish in seconds or time out the suite).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ir_builders import call
from sqlcases import CHECKOUT, EV, USER, agg, at, derived, ev, group, materialize, train, win

from featc.compiler import ir
from featc.compiler.emit.python import python_module
from featc.compiler.emit.sql import materialize_sql, training_sql
from featc.compiler.lineage import Lineage, lineage
from featc.compiler.types import DataType as T
from featc.runtime import Evaluator, load_module

DRIVER = ir.Entity(name="driver", keys=(ir.Column(name="did", type=T.STRING),))


def ref(group: str, name: str, typ: T = T.INT) -> ir.FeatureRef:
    return ir.FeatureRef(type=typ, group=group, name=name)


def basket() -> ir.RequestRef:
    return ir.RequestRef(type=T.DOUBLE, request="checkout", field="basket")


def small() -> ir.Project:
    """Aggregates a.n (user), o.m (driver), label y.k; derived features reading them in every way."""
    return ir.Project(
        name="small",
        entities=(USER, DRIVER),
        sources=(EV,),
        requests=(CHECKOUT,),
        groups=(
            group("a", agg("n", "count")),
            group("o", agg("m", "count"), entity="driver"),
            group("y", agg("k", "count", window=win("forward", 10)), kind="label"),
            group(
                "d",
                derived("twice", call("add", T.INT, ref("a", "n"), ref("a", "n"))),
                derived("per", call("div", T.DOUBLE, basket(), ref("d", "twice"))),
                derived("deep", call("mul", T.INT, ref("d", "twice"), ref("d", "twice"))),
                derived("leak", call("add", T.INT, ref("y", "k"), ref("a", "n"))),
                derived("mixed", call("add", T.INT, ref("o", "m"), ref("d", "deep"))),
                kind="derived",
            ),
        ),
    )


def test_parents_children_and_levels() -> None:
    g = Lineage(small())
    assert g.parents("d__twice") == ("a__n",)  # read twice, kept once
    assert g.parents("d__per") == ("d__twice",)
    assert g.parents("a__n") == ()
    assert g.children["d__twice"] == ("d__per", "d__deep")
    assert g.levels() == [["d__twice", "d__leak"], ["d__per", "d__deep"], ["d__mixed"]]
    assert g.derived_order() == ("d__twice", "d__leak", "d__per", "d__deep", "d__mixed")
    assert ir.derived_levels(small()) == g.levels() and ir.derived_order(small()) == g.derived_order()


def test_request_fields_labels_entities_and_servability() -> None:
    g = Lineage(small())
    assert g.request_fields["d__per"] == {"basket"}
    assert g.request_fields["d__deep"] == frozenset()
    assert g.used_request_fields() == {"basket"}
    assert g.labels["d__leak"] == {"y__k"} and g.labels["d__mixed"] == frozenset()
    assert g.entities["d__mixed"] == {"user", "driver"}
    servable = {c: g.servable(c) for c in g.nodes}
    assert servable == {
        "a__n": True,
        "o__m": True,
        "y__k": False,  # a label
        "d__twice": True,
        "d__per": False,  # reads a request field
        "d__deep": True,
        "d__leak": False,  # reads a label
        "d__mixed": False,  # reads another entity's feature
    }


def test_cycle_is_reported_as_a_bug() -> None:
    p = ir.Project(
        name="cycle",
        entities=(USER,),
        sources=(EV,),
        groups=(
            group(
                "d",
                derived("x", call("neg", T.INT, ref("d", "y"))),
                derived("y", call("neg", T.INT, ref("d", "x"))),
                kind="derived",
            ),
        ),
    )
    with pytest.raises(ValueError, match="cycle"):
        Lineage(p).levels()


def test_graph_is_built_once_per_project() -> None:
    p = small()
    assert lineage(p) is lineage(p)


def chain(depth: int, diamond: bool) -> ir.Project:
    """``d0 = a.n + a.n``; ``d_i = d_{i-1} + d_{i-1}`` (diamond) or ``d_{i-1} + 1`` (chain)."""
    one = ir.Lit(type=T.INT, value=1)
    features = [derived("d0", call("add", T.INT, ref("a", "n"), ref("a", "n")))]
    for i in range(1, depth):
        prev = ref("x", f"d{i - 1}")
        features.append(derived(f"d{i}", call("add", T.INT, prev, prev if diamond else one)))
    return ir.Project(
        name="deep",
        entities=(USER,),
        sources=(EV,),
        groups=(group("a", agg("n", "count", window=win("lifetime"))), group("x", *features, kind="derived")),
    )


@pytest.mark.parametrize(("depth", "diamond"), [(1_000, False), (30, True)])
def test_deep_graphs_compile_every_artifact(depth: int, diamond: bool) -> None:
    p = chain(depth, diamond)
    for sql in (training_sql(p), training_sql(p, exact=True), materialize_sql(p, "user")):
        assert f"x__d{depth - 1}" in sql
    module = load_module(python_module(p), name="deep")
    assert len(module.SPEC.derived_order) == depth
    evaluator = Evaluator(module)
    evaluator.ingest("ev", [{"uid": "u", "ets": at(1), "amt": 1.0, "n": 1, "cat": "a", "ok": True}])
    got = evaluator.features({"uid": "u"}, at=at(5))
    assert got[f"x__d{depth - 1}"] == (2**depth if diamond else 2 + depth - 1)


def test_diamond_values_on_duckdb() -> None:
    """The 30-deep diamond runs: 2^30 times the count, in training data and materialisation."""
    p = chain(30, True)
    events = [ev("u", 1), ev("u", 2)]
    rows = train(p, events, [("u", at(5)), ("u", at(None))])
    assert rows[0]["x__d29"] == 2 * 2**30 and rows[1]["x__d29"] is None
    found = materialize(p, events, "user", at(5) or datetime(2024, 1, 1))
    assert found == [{"uid": "u", "a__n": 2, **{f"x__d{i}": 2 * 2 ** (i + 1) for i in range(30)}}]
