"""The input rules of docs/semantics.md ("Inputs") as DuckDB SQL: which values fit a declared type, and as what.

For every declared column and the type DuckDB reads it as (text for CSV; Parquet, pandas and
Arrow bring their own), ``rule`` gives two expressions: ``ok``, true where a value fits, and
``value``, the value converted. Nothing relies on DuckDB's own casts where they round
(`CAST('1.7' AS BIGINT)` is 2, a nanosecond timestamp is rounded): text must match a pattern
first, integers must be exactly integral, and sub-microsecond parts are floored in integer
arithmetic, so the SQL path accepts what `Evaluator.ingest` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from .compiler.types import DataType

SPACES = " \t\n\r\f\v"  # what surrounds a number or a boolean in text and is ignored
INT_TEXT = r"[+-]?[0-9]+(\.0*)?"
DOUBLE_TEXT = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)"
TIMESTAMP_TEXT = (  # runtime/values.py's _INSTANT_TEXT, with offsets below 24 hours
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?"
)
DATE_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
ZERO_FRACTION = r"\.0*$"
EXTRA_DIGITS, KEEP_MICROS = r"([.,][0-9]{6})[0-9]+", r"\1"
DATE_THEN_ZONE, AT_MIDNIGHT = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})([Zz+-])", r"\1T00:00:00\2"
MIN_TS = "TIMESTAMP '0001-01-01 00:00:00'"
MAX_TS = "TIMESTAMP '9999-12-31 23:59:59.999999'"

INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
INTEGERS |= {"UHUGEINT"}
FLOATS = {"FLOAT", "DOUBLE"}
NANO = {"TIMESTAMP_NS", "TIMESTAMPTZ_NS", "TIMESTAMP_NS WITH TIME ZONE"}
INSTANTS = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE", "DATE"} | NANO
NULL_TYPES = {"NULL", '"NULL"'}

HINTS = {
    DataType.INT: "an int is a whole number within int64 (`2`, `-2`, `2.0`); `1.7` is not rounded",
    DataType.DOUBLE: "a double is a number, in decimal or scientific notation",
    DataType.BOOL: "a bool is `true` or `false`",
    DataType.STRING: "a string is text (integers are taken as their decimal text)",
    DataType.TIMESTAMP: (
        "a timestamp is ISO-8601 (`2024-05-01T12:00:00Z`) between 0001-01-01 and 9999-12-31 23:59:59.999999 UTC"
    ),
    DataType.DATE: "a date is `YYYY-MM-DD` between 0001-01-01 and 9999-12-31",
}


@dataclass(frozen=True)
class Rule:
    """``ok`` is true where a non-null value fits; ``value`` is the converted value (only read where ok)."""

    ok: str
    value: str


def _lit(text: str) -> str:
    return exp.Literal.string(text).sql("duckdb")


def _matches(expr: str, pattern: str, flags: str = "") -> str:
    options = f", {_lit(flags)}" if flags else ""
    return f"regexp_full_match({expr}, {_lit(pattern)}{options})"


def _trimmed(col: str) -> str:
    return f"trim({col}, {_lit(SPACES)})"


def base(have: str) -> str:
    """The family of a DuckDB type name: DECIMAL(5,2) is DECIMAL; ENUM('a', 'b') (pandas categories) is ENUM."""
    for family in ("DECIMAL", "ENUM"):
        if have.startswith(family):
            return family
    return have


def rule(col: str, t: DataType, have: str) -> Rule:
    """How a column of DuckDB type ``have`` is read as ``t``; ``col`` is a quoted column reference."""
    kind = base(have)
    if kind in NULL_TYPES:
        return Rule("true", f"CAST(NULL AS {_DUCK[t]})")
    found = _RULES[t](col, kind)
    if found is None:
        return Rule("false", f"CAST(NULL AS {_DUCK[t]})")
    if kind == "VARCHAR" and t != DataType.STRING:  # empty text is null, as an empty CSV field is
        return Rule(f"({col} = '' OR {found.ok})", f"CASE WHEN {col} <> '' THEN {found.value} END")
    return found


def _int(col: str, kind: str) -> Rule | None:
    if kind == "VARCHAR":
        digits = f"regexp_replace({_trimmed(col)}, {_lit(ZERO_FRACTION)}, '')"
        return Rule(
            f"{_matches(_trimmed(col), INT_TEXT)} AND TRY_CAST({digits} AS BIGINT) IS NOT NULL", _bigint(digits)
        )
    if kind in INTEGERS:
        return Rule(f"{_bigint(col)} IS NOT NULL", _bigint(col))
    if kind in FLOATS:
        # NaN is null, as in a double column (it is how pandas marks a missing int); TRY_CAST(NaN) is null too
        whole = f"isfinite({col}) AND {col} = trunc({col}) AND {_bigint(col)} IS NOT NULL"
        return Rule(f"(isnan({col}) OR ({whole}))", _bigint(col))
    if kind == "DECIMAL":
        return Rule(f"{col} = trunc({col}) AND {_bigint(col)} IS NOT NULL", _bigint(col))
    return None


def _bigint(col: str) -> str:
    return f"TRY_CAST({col} AS BIGINT)"


def _double(col: str, kind: str) -> Rule | None:
    if kind == "VARCHAR":
        number = f"TRY_CAST({_trimmed(col)} AS DOUBLE)"
        return Rule(f"{_matches(_trimmed(col), DOUBLE_TEXT, 'i')} AND {number} IS NOT NULL", _finite(number))
    if kind in INTEGERS | FLOATS | {"DECIMAL"}:
        return Rule("true", _finite(f"CAST({col} AS DOUBLE)"))
    return None


def _finite(number: str) -> str:
    """The contract: NaN and infinities in the data are null."""
    return f"CASE WHEN isfinite({number}) THEN {number} END"


def _bool(col: str, kind: str) -> Rule | None:
    if kind == "VARCHAR":
        word = f"lower({_trimmed(col)})"
        return Rule(f"{word} IN ('true', 'false')", f"({word} = 'true')")
    if kind == "BOOLEAN":
        return Rule("true", col)
    return None


def _string(col: str, kind: str) -> Rule | None:
    if kind == "VARCHAR":
        return Rule("true", col)
    if kind in INTEGERS or kind == "ENUM":
        return Rule("true", f"CAST({col} AS VARCHAR)")
    return None


def instant(col: str, kind: str) -> str | None:
    """An instant column as naive UTC microseconds, nanoseconds floored (DuckDB's own cast rounds)."""
    if kind == "VARCHAR":  # DuckDB reads neither a `,` fraction nor a zone on a date alone: normalise first
        micros = f"replace(regexp_replace(upper({col}), {_lit(EXTRA_DIGITS)}, {_lit(KEEP_MICROS)}), ',', '.')"
        text = f"regexp_replace({micros}, {_lit(DATE_THEN_ZONE)}, {_lit(AT_MIDNIGHT)})"
        return f"TRY_CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if kind in NANO:
        ns = f"epoch_ns({col})"
        return f"make_timestamp(({ns} - (({ns} % 1000) + 1000) % 1000) // 1000)"
    if kind in INSTANTS:
        return f"CAST({col} AS TIMESTAMP)"
    return None


def _in_range(ts: str) -> str:
    return f"isfinite({ts}) AND {ts} BETWEEN {MIN_TS} AND {MAX_TS}"


def _timestamp(col: str, kind: str) -> Rule | None:
    ts = instant(col, kind)
    if ts is None:
        return None
    shape = f"{_matches(col, TIMESTAMP_TEXT)} AND " if kind == "VARCHAR" else ""
    return Rule(f"{shape}{ts} IS NOT NULL AND {_in_range(ts)}", ts)


def _date(col: str, kind: str) -> Rule | None:
    if kind == "VARCHAR":
        day = f"TRY_CAST({col} AS DATE)"
        return Rule(f"{_matches(col, DATE_TEXT)} AND {day} IS NOT NULL AND {_in_range(day)}", day)
    ts = instant(col, kind)
    if ts is None:
        return None
    return Rule(f"{_in_range(ts)}", f"CAST({ts} AS DATE)")


_RULES = {
    DataType.INT: _int,
    DataType.DOUBLE: _double,
    DataType.BOOL: _bool,
    DataType.STRING: _string,
    DataType.TIMESTAMP: _timestamp,
    DataType.DATE: _date,
}
_DUCK = {
    DataType.BOOL: "BOOLEAN",
    DataType.INT: "BIGINT",
    DataType.DOUBLE: "DOUBLE",
    DataType.STRING: "VARCHAR",
    DataType.TIMESTAMP: "TIMESTAMP",
    DataType.DATE: "DATE",
}


def describe(value: object, have: str) -> str:
    """A bad value for a message: text quoted (control characters escaped), other values as DuckDB prints them."""
    from .csvfiles import shown

    if base(have) == "VARCHAR" or not isinstance(value, str):
        return shown(value)
    return shown(value)[1:-1]


__all__ = ["HINTS", "Rule", "describe", "instant", "rule"]
