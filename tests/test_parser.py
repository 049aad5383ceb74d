"""Golden tests per construct: what the parser and resolver make of each piece of syntax."""

from __future__ import annotations

import pytest

import featc
from featc.compiler import ir
from featc.compiler.parser import parse
from featc.compiler.source import SourceFile
from featc.compiler.types import DataType as T

HEAD = """
entity user {
  key user_id: int
}
source events {
  table: app.events
  timestamp: at
  columns {
    user_id: int
    at: timestamp
    amount: double
    kind: string
  }
}
"""


def features(body: str, extra: str = "") -> ir.Project:
    return featc.compile_text(HEAD + extra + "features f {\n entity: user\n source: events\n" + body + "\n}\n")


def feature(line: str) -> ir.Feature:
    return features(f"features {{\n x = {line}\n }}").group("f").features[0]


def test_entity_source_and_request_declarations() -> None:
    p = featc.compile_text(HEAD + "request r {\n  basket: double\n  channel: string\n}\n")
    assert p.entity("user").keys == (ir.Column(name="user_id", type=T.INT),)
    src = p.source("events")
    assert (src.table, src.timestamp) == ("app.events", "at")
    assert [c.name for c in src.columns] == ["user_id", "at", "amount", "kind"]
    assert p.requests[0].fields == (ir.Column(name="basket", type=T.DOUBLE), ir.Column(name="channel", type=T.STRING))


def test_source_table_defaults_to_its_name() -> None:
    p = featc.compile_text("source s {\n timestamp: t\n columns {\n t: timestamp\n }\n}\n")
    assert p.source("s").table == "s"


@pytest.mark.parametrize(
    ("text", "fn", "window"),
    [
        ("count(*) over 30m", "count", ir.Window(kind="trailing", us=30 * 60_000_000)),
        ("COUNT(*) OVER 1h30m", "count", ir.Window(kind="trailing", us=90 * 60_000_000)),
        ("count(*)", "count", ir.Window(kind="lifetime")),
        ("sum(amount) over 90s", "sum", ir.Window(kind="trailing", us=90_000_000)),
        ("count_distinct(kind) over 2d", "count_distinct", ir.Window(kind="trailing", us=2 * 86_400_000_000)),
        ("count(DISTINCT kind)", "count_distinct", ir.Window(kind="lifetime")),
        ("last(kind) over 1d", "last", ir.Window(kind="trailing", us=86_400_000_000)),
        ("first(amount)", "first", ir.Window(kind="lifetime")),
    ],
)
def test_aggregations_and_windows(text: str, fn: str, window: ir.Window) -> None:
    f = feature(text)
    assert f.agg is not None
    assert (f.agg.fn, f.agg.window) == (fn, window)


def test_count_star_has_no_argument_and_count_x_has_one() -> None:
    star, col = feature("count(*) over 1h"), feature("count(amount) over 1h")
    assert star.agg and star.agg.arg is None
    assert col.agg and col.agg.arg == ir.ColumnRef(type=T.DOUBLE, name="amount")


def test_feature_filter_is_folded_into_the_aggregate() -> None:
    f = feature("count(*) filter (where amount > 100) over 1h")
    assert f.agg is not None and f.agg.where is not None
    assert f.agg.where.fn == "gt"  # type: ignore[union-attr]


def test_result_types() -> None:
    assert feature("sum(user_id)").type == T.INT
    assert feature("sum(amount)").type == T.DOUBLE
    assert feature("avg(user_id)").type == T.DOUBLE
    assert feature("count(kind)").type == T.INT
    assert feature("max(kind)").type == T.STRING
    assert feature("last(at)").type == T.TIMESTAMP


def test_refresh_forms() -> None:
    assert features("refresh: every 10m lag 2m\nfeatures {\n n = count(*) over 1h\n}").group("f").refresh == ir.Refresh(
        mode="batch", every_us=600_000_000, lag_us=120_000_000
    )
    assert features("refresh: every 1h\nfeatures {\n n = count(*) over 1h\n}").group("f").refresh.lag_us == 0
    assert features("refresh: continuous\nfeatures {\n n = count(*)\n}").group("f").refresh.mode == "continuous"
    assert features("features {\n n = count(*)\n}").group("f").refresh.mode == "continuous"


def test_block_filter_and_comments() -> None:
    p = features("filter: kind != 'x'  -- trailing comment\n# a comment line\nfeatures {\n n = count(*) # c\n}")
    g = p.group("f")
    assert g.filter is not None and g.filter.fn == "ne"  # type: ignore[union-attr]


def test_multiline_expression_inside_parentheses() -> None:
    f = feature("sum(CASE WHEN amount > 1\n      THEN amount\n      ELSE 0 END) over 1d")
    assert f.agg is not None and f.agg.arg is not None and f.agg.arg.fn == "case"  # type: ignore[union-attr]


def test_string_with_hash_and_quotes_is_not_a_comment() -> None:
    f = feature("count(*) filter (where kind = 'a#b''c') over 1h")
    assert f.agg is not None and f.agg.where is not None
    lit = f.agg.where.args[1]  # type: ignore[union-attr]
    assert lit == ir.Lit(type=T.STRING, value="a#b'c")


def test_derived_features_reference_features_requests_and_each_other() -> None:
    text = (
        HEAD
        + "request r {\n b: double\n}\nderived d {\n entity: user\n features {\n  y = x * 2\n  x = f.n + r.b\n }\n}\n"
        + "features f {\n entity: user\n source: events\n features {\n n = count(*) over 1h\n }\n}\n"
    )
    p = featc.compile_text(text)
    d = p.group("d")
    assert [f.name for f in d.features] == ["y", "x"]
    x = d.features[1].expr
    assert isinstance(x, ir.Call) and x.type == T.DOUBLE
    assert x.args == (
        ir.FeatureRef(type=T.INT, group="f", name="n"),
        ir.RequestRef(type=T.DOUBLE, request="r", field="b"),
    )
    assert d.features[0].expr == ir.Call(
        type=T.DOUBLE, fn="mul", args=(ir.FeatureRef(type=T.DOUBLE, group="d", name="x"), ir.Lit(type=T.INT, value=2))
    )


def test_case_branches_are_unified_with_explicit_casts() -> None:
    f = feature("max(CASE WHEN amount > 0 THEN user_id ELSE amount END)")
    case = f.agg.arg  # type: ignore[union-attr]
    assert isinstance(case, ir.Call) and case.type == T.DOUBLE
    assert case.args[1] == ir.Call(type=T.DOUBLE, fn="cast", args=(ir.ColumnRef(type=T.INT, name="user_id"),))


def test_label_forward_window() -> None:
    p = featc.compile_text(
        HEAD + "label l {\n entity: user\n source: events\n features {\n y = max(amount) over next 1h\n }\n}\n"
    )
    g = p.group("l")
    assert g.kind == "label" and g.features[0].agg.window == ir.Window(kind="forward", us=3_600_000_000)  # type: ignore[union-attr]


def test_negative_literals_fold() -> None:
    f = feature("count(*) filter (where amount > -2.5)")
    assert f.agg.where.args[1] == ir.Lit(type=T.DOUBLE, value=-2.5)  # type: ignore[union-attr]


def test_spans_point_at_the_text() -> None:
    src = SourceFile("x.feat", "entity user {\n  key user_id: int\n}\n")
    blocks, diags = parse(src)
    assert not diags
    key = blocks[0].keys[0]
    assert src.text[key.name.span.start : key.name.span.end] == "user_id"
    assert src.line_col(key.type.span.start) == (2, 16)


def test_all_errors_in_a_file_are_reported() -> None:
    bad = (
        HEAD
        + "features f {\n entity: user\n source: events\n features {\n a = sum(nope) over 1h\n b = sum(kind) over 1h\n c = frob(1)\n }\n}\n"
    )
    with pytest.raises(featc.CompileError) as e:
        featc.compile_text(bad)
    assert [d.code for d in e.value.diagnostics] == ["E101", "E201", "E103"]  # `frob(1)`: an unknown aggregation


def test_label_read_through_derived_is_reported_in_any_order() -> None:
    label = HEAD + "label l {\n entity: user\n source: events\n features {\n y = count(*) over next 1h\n }\n}\n"
    inner = "derived d {\n entity: user\n features {\n leaky = l.y > 0\n }\n}\n"
    outer = "derived e {\n entity: user\n features {\n indirect = d.leaky\n }\n}\n"
    for text in (label + inner + outer, label + outer + inner):
        with pytest.raises(featc.CompileError) as e:
            featc.compile_text(text)
        assert sorted(d.code for d in e.value.diagnostics) == ["E301", "E301"], str(e.value)


CLOCKS = [
    "at > now()", "at > current_timestamp", "at > CURRENT_TIMESTAMP()", "d = current_date", "at > localtimestamp",
    "at > localtime", "at > current_time", "at > systimestamp", "at > sysdate()", "at > getdate()",
    "at > sysdatetime()", "at > current_datetime()", "at > utc_timestamp()", "at > clock_timestamp()",
    "at > transaction_timestamp", "d = today()", "d = curdate()", "unix_timestamp() > 0", "random() < 0.5",
    "rand() < 0.5", "uuid() IS NULL", "gen_random_uuid() IS NULL", "random_uuid() IS NULL", "newid() IS NULL",
    "uuid_string() IS NULL",
]  # fmt: skip


@pytest.mark.parametrize("condition", CLOCKS)
def test_every_spelling_of_clock_and_random_functions_is_e303(condition: str) -> None:
    text = (
        "entity u {\n key id: int\n}\nsource s {\n timestamp: at\n columns {\n id: int\n at: timestamp\n d: date\n }\n}\n"
        f"features f {{\n entity: u\n source: s\n features {{\n n = count(*) filter (where {condition}) over 1h\n }}\n}}\n"
    )
    with pytest.raises(featc.CompileError) as e:
        featc.compile_text(text)
    (d,) = e.value.diagnostics
    assert d.code == "E303"
    src = next(iter(e.value.files.values()))
    assert d.span is not None
    assert src.text[d.span.start : d.span.end].lower() in condition.lower()
