"""Inputs into the embedded DuckDB: files, DataFrames and Arrow tables as tables with invented column names.

Every input is first copied into a table whose columns are named by position (``c0``, ``c1``,
...) and whose table name comes from the query's Namespace, so no user name can collide with
anything featc relies on: a user column called `rowid` cannot shadow DuckDB's row id, which
gives each row its number (1-based in messages) and the spine its order. Only then are values
checked against the declared types (``inputs.rule``) and converted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from .compiler.names import Namespace
from .compiler.types import DataType
from .csvfiles import load_error, read_header, reason, scan_sql, shown
from .inputs import HINTS, describe, rule
from .runtime.errors import DataError

Input = Any  # a path (str | Path), a pandas DataFrame or a pyarrow Table


def q(name: str) -> str:
    """A quoted identifier."""
    return exp.to_identifier(name, quoted=True).sql("duckdb")


@dataclass(frozen=True)
class Raw:
    """An input in DuckDB: column ``c<i>`` of ``table`` holds the user's ``names[i]``, of DuckDB type ``types[i]``."""

    table: str
    names: list[str]
    types: list[str]
    what: str
    source: Input = None  # what was read: a path or an object, for messages

    def column(self, name: str) -> str:
        return q(f"c{self.names.index(name)}")

    def have(self, name: str) -> str:
        return self.types[self.names.index(name)]


def describe_input(obj: Input, what: str) -> str:
    """``what``, plus the file when the input is one: messages say where to look."""
    return f"{what} ({obj})" if is_path(obj) else what


def is_path(obj: Input) -> bool:
    return isinstance(obj, (str, os.PathLike))


def load(con: duckdb.DuckDBPyConnection, obj: Input, ns: Namespace, base: str, what: str, *, copy: bool = True) -> Raw:
    """An input under a fresh name with positional column names: a table (``copy``), or a view over the input.

    A table numbers its rows (DuckDB's rowid, in input order); a view costs no copy, and its rows
    are numbered only if a message must name one (``copy_checked``).
    """
    table = ns.fresh(base)
    if is_path(obj):
        names, scan = _file_scan(con, Path(obj), what)
    else:
        names, scan = _object_scan(con, obj, ns.fresh(f"{base}_in"), what)
    positional = ", ".join(q(f"c{i}") for i in range(len(names)))
    kind = "TABLE" if copy else "VIEW"
    try:
        con.execute(f"CREATE {kind} {q(table)} AS SELECT * FROM {scan} AS featc_input({positional})")
    except duckdb.Error as e:
        raise _read_error(e, obj, what) from None
    types = [r[1] for r in con.execute(f"DESCRIBE {q(table)}").fetchall()]
    return Raw(table, names, types, describe_input(obj, what), obj)


def copy_checked(
    con: duckdb.DuckDBPyConnection, raw: Raw, cols: Mapping[str, DataType], target: str, ns: Namespace
) -> None:
    """Fills the (existing, empty) table ``target`` with ``cols`` converted, reading the input once.

    Each row carries a flag saying whether one of its values does not fit; only when one does is
    the input copied with row numbers, so that ``check`` names the first such row exactly.
    """
    flag = ns.fresh("featc_misfit")
    misfit = " OR ".join(_misfit(raw, name, t) for name, t in cols.items()) or "false"
    con.execute(f"ALTER TABLE {target} ADD COLUMN {q(flag)} BOOLEAN")
    try:
        con.execute(f"INSERT INTO {target} SELECT {', '.join(typed(raw, cols, False))}, {misfit} FROM {q(raw.table)}")
    except duckdb.Error as e:
        raise _read_error(e, raw.source, raw.what) from None
    if con.execute(f"SELECT 1 FROM {target} WHERE {q(flag)} LIMIT 1").fetchone():
        numbered = ns.fresh(f"{raw.table}_rows")
        con.execute(f"CREATE TABLE {q(numbered)} AS SELECT * FROM {q(raw.table)}")
        check(con, Raw(numbered, raw.names, raw.types, raw.what, raw.source), cols)
        raise AssertionError(f"{raw.what}: a value was flagged but check found none")  # a bug in the rules
    con.execute(f"ALTER TABLE {target} DROP COLUMN {q(flag)}")


def _read_error(e: duckdb.Error, obj: Input, what: str) -> DataError:
    where = describe_input(obj, what)
    if not is_path(obj):
        return DataError(f"{where} cannot be read: {reason(str(e))}")
    if Path(obj).suffix.lower() == ".csv":
        return load_error(e, where)
    return DataError(f"{where} is not a readable Parquet file: {reason(str(e), Path(obj))}")


def _file_scan(con: duckdb.DuckDBPyConnection, path: Path, what: str) -> tuple[list[str], str]:
    where = f"{what} ({path})"
    if "\x00" in str(path):
        raise DataError(f"{what}: {str(path)!r} contains a NUL byte, which no file name can hold")
    if not path.exists():
        raise DataError(f"{where}: file not found")
    if path.is_dir():
        raise DataError(f"{where} is a directory; name a .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header = read_header(path, where)
        return header, scan_sql(path, [f"c{i}" for i in range(len(header))])
    if suffix in (".parquet", ".pq"):
        scan = f"read_parquet({exp.Literal.string(str(path)).sql('duckdb')})"
        try:
            names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
        except duckdb.Error as e:
            raise DataError(f"{where} is not a readable Parquet file: {reason(str(e), path)}") from None
        return _checked_names(names, where), scan
    raise DataError(f"{where} is neither .csv nor .parquet (the extension picks the format)")


def _object_scan(con: duckdb.DuckDBPyConnection, obj: Input, name: str, what: str) -> tuple[list[str], str]:
    module = type(obj).__module__
    if module.startswith("pandas") and hasattr(obj, "columns"):
        names = _checked_names(list(obj.columns), what)
        obj = _utc_naive_frame(obj)
    elif module.startswith("pyarrow") and hasattr(obj, "column_names"):
        names = _checked_names(list(obj.column_names), what)
    else:
        raise DataError(f"{what}: expected a path, a pandas DataFrame or a pyarrow Table, got {type(obj).__name__}")
    con.register(name, obj)
    return names, q(name)


def _utc_naive_frame(df: Any) -> Any:
    """Zone-aware pandas columns as naive UTC: DuckDB's pandas scan truncates their nanoseconds towards zero."""
    aware = [c for c in df.columns if getattr(df[c].dtype, "tz", None) is not None]
    if not aware:
        return df
    df = df.copy(deep=False)
    for c in aware:
        df[c] = df[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


def _checked_names(names: list[Any], what: str) -> list[str]:
    """Column names must be text, non-empty and unique, as for a CSV header."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if not isinstance(name, str) or not name:
            raise DataError(f"{what}: column {i} has no name (or a name that is not text: {shown(name)})")
        if name in seen:
            raise DataError(f"{what}: columns {seen[name]} and {i} are both named {shown(name)}; rename one")
        seen[name] = i
    return [str(n) for n in names]


def require(raw: Raw, needed: list[str], hint: str = "") -> None:
    """Every column featc reads must be there."""
    missing = [c for c in needed if c not in raw.names]
    if missing:
        if len(raw.names) == 1 and any(sep in raw.names[0] for sep in ";\t|"):
            hint += " (the header is one column: featc reads comma-separated CSV only)"
        have = ", ".join(map(shown, raw.names)) or "none"
        raise DataError(f"{raw.what}: missing column(s) {', '.join(map(shown, missing))}; it has {have}{hint}")


def check(con: duckdb.DuckDBPyConnection, raw: Raw, cols: Mapping[str, DataType]) -> None:
    """Finds the first row with a value that does not fit its declared type, in one scan."""
    if not cols:
        return
    bad = {name: _misfit(raw, name, t) for name, t in cols.items()}
    flags = ", ".join(bad.values())
    found = con.execute(
        f"SELECT rowid, {flags} FROM {q(raw.table)} WHERE {' OR '.join(bad.values())} ORDER BY rowid LIMIT 1"
    ).fetchone()
    if found is None:
        return
    row, *which = found
    name = next(n for n, flag in zip(cols, which, strict=True) if flag)
    shown_col = raw.column(name) if raw.have(name) == "VARCHAR" else f"CAST({raw.column(name)} AS VARCHAR)"
    value = con.execute(f"SELECT {shown_col} FROM {q(raw.table)} WHERE rowid = {int(row)}").fetchone()
    raise DataError(
        f"{raw.what}: row {int(row) + 1}, column `{name}` is declared {cols[name]} but has the value "
        f"{describe(value[0] if value else None, raw.have(name))}; {HINTS[cols[name]]}"
    )


def _misfit(raw: Raw, name: str, t: DataType) -> str:
    """True where the column holds a value (not null) that does not fit ``t``."""
    col = raw.column(name)
    return f"({col} IS NOT NULL AND NOT coalesce({rule(col, t, raw.have(name)).ok}, false))"


def typed(raw: Raw, cols: Mapping[str, DataType], keep_others: bool) -> list[str]:
    """SELECT items: declared columns converted, the others (``keep_others``) as they are, under user names."""
    items = []
    for name in raw.names:
        if name in cols:
            items.append(f"{rule(raw.column(name), cols[name], raw.have(name)).value} AS {q(name)}")
        elif keep_others:
            items.append(f"{raw.column(name)} AS {q(name)}")
    return items


__all__ = ["Input", "Raw", "check", "copy_checked", "describe_input", "is_path", "load", "q", "require", "typed"]
