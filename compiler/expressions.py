"""Expressions: SQL text -> sqlglot tree -> typed IR, restricted to the scalar catalogue.

One lowering serves every place an expression is written; a ``Scope`` says what names mean
there (source columns inside aggregations and filters, features and request fields in
derived blocks). Errors are recorded and lowering goes on, so one run reports them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlglot import exp

from . import ir
from .catalog import CASTS, FUNCTIONS, spelling
from .diagnostics import did_you_mean
from .scope import Failed, Scope
from .sql_parse import parse_sql
from .types import DataType

T = DataType
INT64 = (-(2**63), 2**63 - 1)

# sqlglot node -> catalogue function, for nodes whose arguments are `this` [, `expression`].
BINARY: dict[type[exp.Expr], str] = {
    exp.Add: "add",
    exp.Sub: "sub",
    exp.Mul: "mul",
    exp.Div: "div",
    exp.Mod: "mod",
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.LT: "lt",
    exp.LTE: "le",
    exp.GT: "gt",
    exp.GTE: "ge",
    exp.And: "and",
    exp.Or: "or",
    exp.DPipe: "concat",
    exp.Nullif: "nullif",
    exp.Pow: "power",
}
UNARY: dict[type[exp.Expr], str] = {
    exp.Abs: "abs",
    exp.Floor: "floor",
    exp.Ceil: "ceil",
    exp.Ln: "ln",
    exp.Exp: "exp",
    exp.Sqrt: "sqrt",
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Length: "length",
}
VARIADIC: dict[type[exp.Expr], str] = {
    exp.Coalesce: "coalesce",
    exp.Least: "least",
    exp.Greatest: "greatest",
}
CLOCK_NODES = (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime, exp.Rand, exp.Uuid)
# Clock and random functions in the spellings of the engines featc targets (and their neighbours).
CLOCK_NAMES = frozenset(
    """NOW RANDOM RAND RANDN UUID GEN_RANDOM_UUID RANDOM_UUID UUID_GENERATE_V4 UUID_STRING NEWID SYSDATE GETDATE
    GETUTCDATE SYSDATETIME SYSUTCDATETIME LOCALTIMESTAMP LOCALTIME CURRENT_TIMESTAMP CURRENT_DATE CURRENT_TIME
    CURRENT_DATETIME CURRENT_LOCALTIMESTAMP CURDATE CURTIME UTC_TIMESTAMP UTC_DATE UTC_TIME UNIX_TIMESTAMP SYSTIMESTAMP
    CLOCK_TIMESTAMP STATEMENT_TIMESTAMP TRANSACTION_TIMESTAMP TODAY GET_CURRENT_TIME""".split()
)
AGG_NODES: dict[type[exp.Expr], str] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
    exp.First: "first",
    exp.Last: "last",
}
CAST_TYPES: dict[str, DataType] = {
    "BOOLEAN": T.BOOL,
    "INT": T.INT,
    "BIGINT": T.INT,
    "SMALLINT": T.INT,
    "TINYINT": T.INT,
    "DOUBLE": T.DOUBLE,
    "FLOAT": T.DOUBLE,
    "VARCHAR": T.STRING,
    "TEXT": T.STRING,
    "CHAR": T.STRING,
    "NVARCHAR": T.STRING,
    "TIMESTAMP": T.TIMESTAMP,
    "DATE": T.DATE,
}
UNIFYING = {"case", "coalesce", "least", "greatest"}
SURFACE_NAMES = sorted(
    {
        "count",
        "count_distinct",
        "sum",
        "avg",
        "min",
        "max",
        "first",
        "last",
        "coalesce",
        "nullif",
        "abs",
        "round",
        "floor",
        "ceil",
        "ln",
        "exp",
        "power",
        "sqrt",
        "least",
        "greatest",
        "lower",
        "upper",
        "length",
        "cast",
        "extract",
    }
)


# ---------------------------------------------------------------- scalar lowering


def call(fn: str, args: list[ir.Expr], node: exp.Expr, scope: Scope) -> ir.Expr:
    """Type-checks a catalogue call; inserts the casts that unification implies."""
    sig = FUNCTIONS[fn]
    if len(args) < sig.min_args or (sig.max_args is not None and len(args) > sig.max_args):
        want = f"{sig.min_args}" if sig.max_args == sig.min_args else f"{sig.min_args} or more"
        raise scope.fail(
            "E106", f"`{fn}` takes {want} argument(s), got {len(args)}", node, label="wrong number of arguments"
        )
    result = sig.rule([a.type for a in args])
    if not isinstance(result, DataType):
        shown = scope.text(node)
        raise scope.fail(
            "E201",
            f"type mismatch in `{shown}`: `{spelling(fn)}` {result}",
            node,
            label=", ".join(str(a.type) for a in args),
            help=_type_help(fn, args),
        )
    if fn in UNIFYING and result == T.DOUBLE:
        values = range(1, len(args), 2) if fn == "case" else range(len(args))
        last = len(args) - 1
        args = [_to_double(a) if (i in values or (fn == "case" and i == last)) else a for i, a in enumerate(args)]
    return ir.Call(type=result, fn=fn, args=tuple(args))


def _to_double(e: ir.Expr) -> ir.Expr:
    return ir.Call(type=T.DOUBLE, fn="cast", args=(e,)) if e.type == T.INT else e


def _type_help(fn: str, args: list[ir.Expr]) -> str:
    types = {a.type for a in args}
    if T.STRING in types and (T.INT in types or T.DOUBLE in types):
        return "strings and numbers do not compare or combine; use CAST on the number, or fix the column"
    if fn in ("add", "sub", "mul", "div", "mod", "neg", "abs", "round", "floor", "ceil", "ln", "exp", "power", "sqrt"):
        return "arithmetic needs int or double operands"
    return f"`{fn}`: {FUNCTIONS[fn].doc}"


def lower(node: exp.Expr, scope: Scope) -> ir.Expr:
    """SQL node -> IR expression; raises Failed after recording a diagnostic."""
    if isinstance(node, exp.Paren):
        return lower(node.this, scope)
    if isinstance(node, exp.Column):
        return _column(node, scope)
    if isinstance(node, (exp.Literal, exp.Boolean, exp.Null)):
        return _literal(node, scope)
    if isinstance(node, exp.Neg):
        inner = lower(node.this, scope)
        if isinstance(inner, ir.Lit) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
            return _checked_lit(inner.type, -inner.value, node, scope)
        return call("neg", [inner], node, scope)
    if isinstance(node, exp.Not):
        return _not(node, scope)
    for table in (BINARY, UNARY, VARIADIC):
        fn = table.get(type(node))
        if fn:
            _no_extra_args(node, _operands(node), scope)
            return call(fn, _lower_all(_operands(node), scope), node, scope)
    special = SPECIAL.get(type(node))
    if special:
        return special(node, scope)
    raise _unsupported(node, scope)


def _operands(node: exp.Expr) -> list[exp.Expr]:
    return [a for a in (node.this, node.args.get("expression"), *node.expressions) if isinstance(a, exp.Expr)]


def _no_extra_args(node: exp.Expr, used: list[exp.Expr], scope: Scope) -> None:
    """sqlglot keeps arguments a function does not take in other slots; never drop them silently."""
    extra = [v for v in node.args.values() if isinstance(v, exp.Expr) and not any(v is u for u in used)]
    if extra:
        name = node.sql_name().lower() if isinstance(node, exp.Func) else node.key
        raise scope.fail("E106", f"too many arguments for `{name}`", node, label="unexpected argument")


def _lower_all(nodes: list[exp.Expr], scope: Scope) -> list[ir.Expr]:
    """Lowers every node even after a failure, so all errors in an expression are reported."""
    out, failed = [], False
    for n in nodes:
        try:
            out.append(lower(n, scope))
        except Failed:
            failed = True
    if failed:
        raise Failed()
    return out


def _column(node: exp.Column, scope: Scope) -> ir.Expr:
    name, qualifier = node.name, node.table or None
    if node.args.get("db") or node.args.get("catalog"):
        raise scope.fail(
            "E101", f"`{scope.text(node)}` has too many qualifiers", node, help="write `block.feature` or `column`"
        )
    if scope.kind == "derived":
        assert scope.lookup is not None
        if qualifier is None and name.upper() in CLOCK_NAMES:
            raise _clock(node, scope)
        return scope.lookup(qualifier, name, lambda: scope.span(node))
    assert scope.source is not None
    col = scope.columns.get(name)
    if col is None and qualifier is None and name.upper() in CLOCK_NAMES:
        raise _clock(node, scope)
    if qualifier not in (None, scope.source.name) or col is None:
        what = f"`{scope.text(node)}`"
        names = [c.name for c in scope.source.columns]
        raise scope.fail(
            "E101",
            f"unknown column {what} in source `{scope.source.name}`",
            node,
            label=f"not a column of `{scope.source.name}`",
            help=did_you_mean(name, names) or f"columns are: {', '.join(names)}",
        )
    return col


def _checked_lit(t: DataType, value: int | float, node: exp.Expr, scope: Scope) -> ir.Lit:
    if t == T.INT and not INT64[0] <= int(value) <= INT64[1]:
        raise scope.fail(
            "E204", f"integer literal {value} does not fit in 64 bits", node, help="write it as a double, e.g. `1e20`"
        )
    return ir.Lit(type=t, value=value)


def _literal(node: exp.Expr, scope: Scope) -> ir.Lit:
    if isinstance(node, exp.Null):
        return ir.Lit(type=T.NULL, value=None)
    if isinstance(node, exp.Boolean):
        return ir.Lit(type=T.BOOL, value=bool(node.this))
    assert isinstance(node, exp.Literal)
    if node.is_string:
        return ir.Lit(type=T.STRING, value=node.this)
    text = node.this
    if text.isdigit():
        if len(text.lstrip("0")) > 19:  # longer than any int64; also keeps int() within Python's digit limit
            raise scope.fail(
                "E204",
                f"integer literal {scope.text(node)} does not fit in 64 bits",
                node,
                help="write it as a double, e.g. `1e20`",
            )
        return _checked_lit(T.INT, int(text), node, scope)
    value = float(text)
    if not math.isfinite(value):
        raise scope.fail(
            "E204",
            f"number {scope.text(node)} does not fit in a double",
            node,
            label="overflows to infinity",
            help="doubles reach about 1.8e308",
        )
    return ir.Lit(type=T.DOUBLE, value=value)


def _not(node: exp.Not, scope: Scope) -> ir.Expr:
    inner = node.this
    if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
        return call("is_not_null", [lower(inner.this, scope)], node, scope)
    return call("not", [lower(inner, scope)], node, scope)


def _is(node: exp.Is, scope: Scope) -> ir.Expr:
    if not isinstance(node.expression, exp.Null):
        raise scope.fail("E002", f"`{scope.text(node)}` is not supported", node, help="use `x = TRUE`, or `x IS NULL`")
    return call("is_null", [lower(node.this, scope)], node, scope)


def _in(node: exp.In, scope: Scope) -> ir.Expr:
    if node.args.get("query") or node.args.get("unnest") or not node.expressions:
        raise scope.fail("E002", "IN needs a list of values", node, help="write `x IN (1, 2, 3)`")
    return call("in", _lower_all([node.this, *node.expressions], scope), node, scope)


def _between(node: exp.Between, scope: Scope) -> ir.Expr:
    return call("between", _lower_all([node.this, node.args["low"], node.args["high"]], scope), node, scope)


def _case(node: exp.Case, scope: Scope) -> ir.Expr:
    parts: list[exp.Expr] = []
    for when in node.args.get("ifs") or []:
        # copies: building a node re-parents its children, and parsed trees are cached and shared
        cond = when.this if node.this is None else exp.EQ(this=node.this.copy(), expression=when.this.copy())
        parts += [cond, when.args["true"]]
    parts.append(node.args.get("default") or exp.Null())
    return call("case", _lower_all(parts, scope), node, scope)


def _if(node: exp.If, scope: Scope) -> ir.Expr:
    parts = [node.this, node.args["true"], node.args.get("false") or exp.Null()]
    return call("case", _lower_all(parts, scope), node, scope)


def _round(node: exp.Round, scope: Scope) -> ir.Expr:
    args = [node.this] + ([node.args["decimals"]] if node.args.get("decimals") else [])
    _no_extra_args(node, args, scope)
    lowered = _lower_all(args, scope)
    if len(lowered) == 2:
        digits = lowered[1]
        if not (isinstance(digits, ir.Lit) and isinstance(digits.value, int) and 0 <= digits.value <= 15):
            raise scope.fail(
                "E201",
                "round's digits must be a whole number from 0 to 15",
                node.args["decimals"],
                label="not a literal from 0 to 15",
                help="write e.g. `round(x, 2)`",
            )
    return call("round", lowered, node, scope)


def _cast(node: exp.Cast, scope: Scope) -> ir.Expr:
    arg = lower(node.this, scope)
    type_name = node.to.this.name if isinstance(node.to.this, exp.DataType.Type) else str(node.to.this)
    target = CAST_TYPES.get(type_name)
    if target is None:
        raise scope.fail(
            "E004",
            f"unknown type `{node.to.sql()}` in CAST",
            node.to,
            help="types are: bool, int, double, string, timestamp, date",
        )
    if (arg.type, target) not in CASTS:
        raise scope.fail(
            "E202",
            f"CAST from {arg.type} to {target} is not allowed",
            node,
            label=f"{arg.type} -> {target}",
            help="engines parse and format these differently; featc allows only casts with one meaning everywhere (see docs/semantics.md)",
        )
    return ir.Call(type=target, fn="cast", args=(arg,))


def _extract(node: exp.Extract, scope: Scope) -> ir.Expr:
    part = node.this.name.upper() if isinstance(node.this, (exp.Var, exp.Column, exp.Identifier)) else ""
    fn = {"HOUR": "hour", "DOW": "dow", "DAYOFWEEK": "dow"}.get(part)
    if fn is None:
        raise scope.fail(
            "E103", f"EXTRACT({part or node.this.sql()}) is not supported", node, help="EXTRACT supports HOUR and DOW"
        )
    return call(fn, [lower(node.expression, scope)], node, scope)


def _anonymous(node: exp.Anonymous, scope: Scope) -> ir.Expr:
    name = str(node.this).upper()
    if name in CLOCK_NAMES:
        raise _clock(node, scope)
    if name == "COUNT_DISTINCT":
        raise _aggregate_here(node, scope)
    raise scope.fail(
        "E103",
        f"unknown function `{str(node.this).lower()}`",
        node,
        label="not in the catalogue",
        help=did_you_mean(str(node.this).lower(), SURFACE_NAMES) or "see docs/language.md for the functions",
    )


def _clock(node: exp.Expr, scope: Scope) -> Failed:
    return scope.fail(
        "E303",
        f"`{scope.text(node)}` is not deterministic",
        node,
        label="changes with the clock or at random",
        help="features must be a function of the data and the instant t; "
        "compute time differences against the event time instead",
    )


def _aggregate_here(node: exp.Expr, scope: Scope) -> Failed:
    where = "a derived feature" if scope.kind == "derived" else "a row-level expression"
    return scope.fail(
        "E107",
        f"aggregation `{scope.text(node, 40)}` inside {where}",
        node,
        label="aggregation not allowed here",
        help="aggregations go in a `features` block; derived features combine their results",
    )


def _is_clock(node: exp.Expr) -> bool:
    """sqlglot models many clock functions as their own classes (CurrentDatetime, UtcTimestamp, ...)."""
    name = type(node).__name__
    spelled = node.sql_name().upper() if isinstance(node, exp.Func) else ""
    return isinstance(node, CLOCK_NODES) or spelled in CLOCK_NAMES or name.startswith(("Current", "Utc", "Localtime"))


def _unsupported(node: exp.Expr, scope: Scope) -> Failed:
    if _is_clock(node):
        return _clock(node, scope)
    if isinstance(node, (*AGG_NODES, exp.Filter, exp.Window)):
        return _aggregate_here(node, scope)
    if isinstance(node, exp.Concat):
        return scope.fail(
            "E103", "`concat()` is not supported", node, help="use `a || b` (null when either side is null)"
        )
    if isinstance(node, exp.Func):
        fname = node.sql_name().lower()
        return scope.fail(
            "E103",
            f"unknown function `{fname}`",
            node,
            label="not in the catalogue",
            help=did_you_mean(fname, SURFACE_NAMES) or "see docs/language.md for the functions",
        )
    return scope.fail(
        "E002",
        f"`{scope.text(node)}` is not supported in featc expressions",
        node,
        help="see docs/language.md for the expression language",
    )


SPECIAL: dict[type[exp.Expr], Callable[..., ir.Expr]] = {
    exp.Is: _is,
    exp.In: _in,
    exp.Between: _between,
    exp.Case: _case,
    exp.If: _if,
    exp.Round: _round,
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.Extract: _extract,
    exp.Anonymous: _anonymous,
}


# ---------------------------------------------------------------- entry points


def row_expression(text: str, scope: Scope) -> ir.Expr:
    return lower(parse_sql(text, scope), scope)


def condition(text: str, scope: Scope, what: str) -> ir.Expr:
    """A boolean row-level expression (filters)."""
    return _boolean(parse_sql(text, scope), scope, what)


def _boolean(tree: exp.Expr, scope: Scope, what: str) -> ir.Expr:
    e = lower(tree, scope)
    if e.type not in (T.BOOL, T.NULL):
        raise scope.fail(
            "E203",
            f"{what} must be a boolean, got {e.type}",
            tree,
            label=f"this is {e.type}",
            help="compare it, e.g. `x > 0` or `x IS NOT NULL`",
        )
    return e
