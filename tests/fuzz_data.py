"""Hostile inputs for the CLI fuzz test (tests/test_cli_fuzz.py): data files, featc.toml, .feat, flags.

A `Scenario` is one `featc` run over a copy of examples/food_delivery cut to 50 rows per CSV: the
files that differ from that copy (replaced, deleted, or turned into a directory) and the command
line, with `{root}` standing for the copy's directory. Scenarios are plain frozen data so that
hypothesis prints a shrunk failure as something one can paste into a shell.

The strategies here only build inputs; the property lives in the test module.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
ROWS = 50
DIR = "<dir>"  # a file entry with this content becomes an empty directory
FileContent = bytes | str | None  # bytes: written; DIR: a directory; None: deleted


def _base() -> dict[str, bytes]:
    files = {p: (EXAMPLE / p).read_bytes() for p in ("featc.toml", "features.feat")}
    for name in ("orders", "prep_events", "spine"):
        lines = (EXAMPLE / "data" / f"{name}.csv").read_bytes().splitlines(keepends=True)
        files[f"data/{name}.csv"] = b"".join(lines[: ROWS + 1])
    return files


BASE = _base()
FEAT = BASE["features.feat"].decode()
# Declared columns of each CSV (the spine's come from the entity key and the request).
TYPES: dict[str, dict[str, str]] = {
    "orders": {
        "order_id": "string",
        "restaurant_id": "string",
        "customer_id": "string",
        "total": "double",
        "status": "string",
        "created_at": "timestamp",
    },
    "prep_events": {"restaurant_id": "string", "prep_minutes": "double", "ready_at": "timestamp"},
    "spine": {"restaurant_id": "string", "ts": "timestamp", "basket_total": "double"},
}
TABLES = list(TYPES)


@dataclass(frozen=True)
class Scenario:
    """One command over the example with some files replaced: what to reproduce a failure from."""

    command: str
    args: tuple[str, ...] = ()
    files: tuple[tuple[str, FileContent], ...] = ()
    readonly: tuple[str, ...] = ()  # directories made unwritable (chmod 0o500) for the run

    def argv(self, root: Path) -> list[str]:
        return [self.command, *(a.replace("{root}", str(root)) for a in self.args)]

    def shell(self) -> str:
        """The command line, for a report: `featc check {root}`."""
        return "featc " + " ".join(repr(a) if not a.isprintable() or " " in a else a for a in self.argv(Path("{root}")))


def materialise(scenario: Scenario, root: Path) -> None:
    """Writes the example, then the scenario's files, under ``root``."""
    overrides = dict(scenario.files)
    for rel, data in BASE.items():
        if rel not in overrides:
            _write(root / rel, data)
    for rel, content in scenario.files:
        _write(root / rel, content)
    for rel in scenario.readonly:
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel).chmod(0o500)


def link(target: str) -> str:
    """A file entry that becomes a symbolic link to ``target`` (relative to the link's directory)."""
    return f"<link:{target}>"


def _write(path: Path, content: FileContent) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == DIR:
        path.mkdir()
    elif isinstance(content, str) and content.startswith("<link:"):
        path.symlink_to(content[len("<link:") : -1])
    elif content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256: before a run, those are all inputs."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def restore_permissions(root: Path, scenario: Scenario) -> None:
    for rel in scenario.readonly:
        (root / rel).chmod(0o700)


# ---------------------------------------------------------------- CSV

# Values that break a reader or a type rule: bad numbers, the instant range and precision, text.
HOSTILE_VALUES = [
    "1.7", "2.5", "2.0", "-2", "+2", " 2 ", "1e3", "lots", "", "NaN", "nan", "inf", "infinity", "-infinity",
    "Infinity", "true", "FALSE", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e400",
    "-1e400", "0x10", "2024-05-01T00:59:59.9999999Z", "2024-05-01 00:59:59.123456789", "10000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.9999999-01:00", "1969-12-31T23:59:59.9999999Z", "1900-01-01", "2024-05-01",
    "2024-02-30T00:00:00Z", "2024-05-01T25:00:00Z", "-1", "-86400", "1714521600", "2024-05-01T00:00:00+14:00",
    "2024-05-01T00:00:00-12:00", "2024-05-01T00:00:00 Europe/Paris", "epoch", "now", "\x1b[31mred", "é", "😀",
    "a,b", 'a"b', "a\nb", "\t", "\x00", "__rid", "rowid",
]  # fmt: skip
# Header names featc might invent itself, reserved words, and names that are not names.
HOSTILE_NAMES = [
    "", "__rid", "rowid", "__featc_row", "featc_spine", "__spine", "ts", "restaurant_id", "select", "group",
    "order", "a b", 'a"b', "a,b", "é", "\ufeffts", "TS", "restaurant_activity__orders_30m", "orders_30m",
    "a\nb", " ts", "ts ", "\x1b[31m",
]  # fmt: skip
BAD_BYTES = [b"\xff", b"\xc3\x28", b"\x00", b"\x80abc", b'"', b"\r", b"\xef\xbb\xbf", b"\n\n", b",,,", b"\x1b[2J"]

Rows = list[list[str]]
RowMutation = Callable[[Rows, st.DrawFn], Rows]


def parse_csv(data: bytes) -> Rows:
    return [line.split(",") for line in data.decode().splitlines()]


def _cell(rows: Rows, draw: st.DrawFn) -> tuple[int, int]:
    r = draw(st.integers(1, max(1, len(rows) - 1))) if len(rows) > 1 else 0
    return r, draw(st.integers(0, max(0, len(rows[r]) - 1)))


def set_value(rows: Rows, draw: st.DrawFn) -> Rows:
    r, c = _cell(rows, draw)
    if rows[r]:
        rows[r][c] = draw(st.sampled_from(HOSTILE_VALUES) | st.text(max_size=8))
    return rows


def ragged(rows: Rows, draw: st.DrawFn) -> Rows:
    r = draw(st.integers(0, len(rows) - 1))
    how = draw(st.sampled_from(["drop", "extra", "single", "empty"]))
    rows[r] = {"drop": rows[r][:-1], "extra": [*rows[r], "x"], "single": rows[r][:1], "empty": []}[how]
    return rows


def header(rows: Rows, draw: st.DrawFn) -> Rows:
    head = rows[0]
    j = draw(st.integers(0, len(head) - 1))
    how = draw(st.sampled_from(["duplicate", "rename", "drop_column", "add_column"]))
    if how == "duplicate":
        head[j] = head[draw(st.integers(0, len(head) - 1))]
    elif how == "rename":
        head[j] = draw(st.sampled_from(HOSTILE_NAMES))
    elif how == "drop_column":
        rows = [row[:j] + row[j + 1 :] for row in rows]
    else:
        name = draw(st.sampled_from(HOSTILE_NAMES))
        rows = [[*row, name if i == 0 else str(i)] for i, row in enumerate(rows)]
    return rows


def shape(rows: Rows, draw: st.DrawFn) -> Rows:
    keep = draw(st.sampled_from([0, 1, 2]))
    return rows[:keep]


ROW_MUTATIONS: list[RowMutation] = [set_value, set_value, set_value, ragged, header, shape]


def serialise(rows: Rows, draw: st.DrawFn) -> bytes:
    """RFC 4180 quoting most of the time, raw fields (so quotes and newlines break rows) otherwise."""
    quote = draw(st.booleans())
    end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))

    def field(v: str) -> str:
        if quote and any(ch in v for ch in ',"\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v

    text = "".join(",".join(map(field, row)) + end for row in rows)
    if draw(st.booleans()):
        text = text.rstrip(end)
    return text.encode("utf-8", "surrogatepass")


def byte_mutation(data: bytes, draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["bom", "insert", "insert", "truncate"]))
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    at = draw(st.integers(0, len(data)))
    if how == "truncate":
        return data[:at]
    return data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]


@st.composite
def csv_bytes(draw: st.DrawFn, table: str) -> bytes:
    rows = parse_csv(BASE[f"data/{table}.csv"])
    for _ in range(draw(st.integers(1, 2))):
        if rows:
            rows = draw(st.sampled_from(ROW_MUTATIONS))(rows, draw)
    data = serialise(rows, draw)
    for _ in range(draw(st.integers(0, 1))):
        data = byte_mutation(data, draw)
    return data


def huge_field_csv(table: str, size: int = 2_100_000) -> bytes:
    """A CSV with one field longer than DuckDB's default line limit (2 MB)."""
    rows = parse_csv(BASE[f"data/{table}.csv"])
    rows[1][0] = "x" * size
    return "".join(",".join(r) + "\n" for r in rows).encode()


def long_csv(table: str, last: bytes, copies: int = 500) -> bytes:
    """The table's rows ``copies`` times (past DuckDB's 20,480-row sniffing sample), then ``last``."""
    lines = BASE[f"data/{table}.csv"].splitlines(keepends=True)
    return lines[0] + b"".join(lines[1:] * copies) + last


# ---------------------------------------------------------------- Parquet


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _typed_columns(table: str) -> dict[str, pa.Array]:
    rows = parse_csv(BASE[f"data/{table}.csv"])
    names, body = rows[0], rows[1:]
    out: dict[str, pa.Array] = {}
    for j, name in enumerate(names):
        values = [r[j] for r in body]
        kind = TYPES[table][name]
        if kind == "double":
            out[name] = pa.array([float(v) if v else None for v in values], pa.float64())
        elif kind == "timestamp":
            out[name] = pa.array([_parse_ts(v) if v else None for v in values], pa.timestamp("us"))
        else:
            out[name] = pa.array(values, pa.string())
    return out


def _each(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    return [None if v is None else fn(v) for v in values]


def _retype(col: pa.Array, kind: str, how: str) -> pa.Array:
    """One column in a type the project did not declare (or in a declared type at its edges)."""
    n = len(col)
    if how == "strings":
        return col.cast(pa.string())
    if how == "int" and kind == "double":
        return pa.array(_each(int, col.to_pylist()), pa.int64())
    if how == "decimal" and kind == "double":
        return pa.array(
            _each(lambda v: Decimal(str(v)).quantize(Decimal("0.001")), col.to_pylist()), pa.decimal128(12, 3)
        )
    if how == "ns" and kind == "timestamp":
        return pa.array(_each(lambda v: v * 1000 + 999, col.cast(pa.int64()).to_pylist()), pa.timestamp("ns"))
    if how == "ns_before_1970" and kind == "timestamp":  # negative epochs with a sub-microsecond part
        return pa.array([-(i * 1_000_003 + 1) for i in range(n)], pa.timestamp("ns"))
    if how == "tz" and kind == "timestamp":
        return col.cast(pa.timestamp("us", tz="+14:00"))
    if how == "date" and kind == "timestamp":
        return col.cast(pa.date32())
    if how == "far" and kind == "timestamp":
        seconds = _each(lambda v: v // 1_000_000, col.cast(pa.int64()).to_pylist())
        far = [253402300800, -62135596801, *seconds[2:]]  # year 10000, and one second before year 1
        return pa.array(far, pa.timestamp("s"))
    if how == "float_for_text" and kind == "string":
        return pa.array([float(i) + 0.5 for i in range(n)], pa.float64())
    if how == "int_for_text" and kind == "string":
        return pa.array(list(range(n)), pa.int64())
    if how == "binary":
        return pa.array([b"\xff\xfe" + bytes([i]) for i in range(n)], pa.binary())
    if how == "bool":
        return pa.array([i % 2 == 0 for i in range(n)], pa.bool_())
    if how == "null":
        return pa.nulls(n)
    if how == "uint64":
        return pa.array([2**64 - 1] * n, pa.uint64())
    if how == "dictionary":
        return col.cast(pa.string()).dictionary_encode()
    return _exotic(col, how)


def _exotic(col: pa.Array, how: str) -> pa.Array:
    """Arrow types no declared featc type maps to (nested, time of day, durations, small ints)."""
    n = len(col)
    if how == "list":
        return pa.array([[i] for i in range(n)], pa.list_(pa.int64()))
    if how == "struct":
        return pa.array([{"a": i} for i in range(n)], pa.struct([("a", pa.int64())]))
    if how == "time":
        return pa.array([i * 1_000_000 for i in range(n)], pa.time64("us"))
    if how == "duration":
        return pa.array([i for i in range(n)], pa.duration("s"))
    if how == "int8":
        return pa.array([i % 100 for i in range(n)], pa.int8())
    if how == "float32":
        return pa.array([i + 0.1 for i in range(n)], pa.float32())
    if how == "large_string":
        return col.cast(pa.large_string())
    if how == "zoned_paris" and pa.types.is_timestamp(col.type):
        return col.cast(pa.timestamp("us", tz="Europe/Paris"))
    return col


RETYPES = ["strings", "int", "decimal", "ns", "ns_before_1970", "tz", "date", "far", "float_for_text",
           "int_for_text", "binary", "bool", "null", "uint64", "dictionary", "list", "struct", "time", "duration",
           "int8", "float32", "large_string", "zoned_paris", "none"]  # fmt: skip
BROKEN = ["corrupt", "truncated", "garbage", "csv_text", "empty_file", "zero_rows", "missing_column", "extra_column",
          "duplicate_column", "empty_name", "extra_list", "extra_struct", "extra_time", "extra_duration"]  # fmt: skip


def parquet_bytes(table: str, column: str | None, how: str) -> bytes:
    """The table as Parquet with ``column`` retyped by ``how``, or the whole file broken by ``how``."""
    cols = _typed_columns(table)
    if column is not None and how in RETYPES:
        cols[column] = _retype(cols[column], TYPES[table][column], how)
    if how == "missing_column" and column is not None:
        del cols[column]
    if how == "extra_column":
        cols["__rid"] = pa.array(range(ROWS), pa.int64())
    if how.startswith("extra_") and how != "extra_column":  # a column featc does not read, of an odd type
        cols["extra"] = _exotic(pa.array([""] * ROWS), how.removeprefix("extra_"))
    data = pa.table(cols)
    if how in ("duplicate_column", "empty_name") and column is not None:  # Parquet allows both; CSV headers do not
        names = [("" if how == "empty_name" else next(iter(cols))) if n == column else n for n in cols]
        data = pa.Table.from_arrays(list(data.columns), names=names)
    if how == "zero_rows":
        data = data.slice(0, 0)
    sink = io.BytesIO()
    pq.write_table(data, sink)
    raw = sink.getvalue()
    if how == "corrupt":
        mid = len(raw) // 2
        return raw[:mid] + bytes(b ^ 0xFF for b in raw[mid : mid + 64]) + raw[mid + 64 :]
    if how == "truncated":
        return raw[: len(raw) // 2]
    if how == "garbage":
        return bytes(range(256)) * 4
    if how == "csv_text":
        return BASE[f"data/{table}.csv"]
    if how == "empty_file":
        return b""
    return raw


@st.composite
def parquet_file(draw: st.DrawFn, table: str) -> bytes:
    column = draw(st.sampled_from(list(TYPES[table])))
    return parquet_bytes(table, column, draw(st.sampled_from(RETYPES + BROKEN)))


# ---------------------------------------------------------------- .feat and featc.toml

TYPE_NAMES = ["int", "double", "bool", "string", "timestamp", "date", "decimal", "integer"]


def retype_feat(column: str, new: str) -> str:
    """The example with one declared column (its first declaration: source or request) given another type."""
    text, n = re.subn(rf"(?m)^(\s+){column}: \w+$", rf"\g<1>{column}: {new}", FEAT, count=1)
    assert n == 1, f"no declaration of {column}"  # a bug in this module, not in featc
    return text


def second_entity() -> str:
    """The example plus a customer entity with features: materialize then has two entities."""
    return FEAT + (
        "\nentity customer {\n  key customer_id: string\n}\n\n"
        "features customer_orders {\n  entity: customer\n  source: orders\n"
        "  features {\n    n_orders_1d = count(*) over 1d\n  }\n}\n"
    )


def derived_chain(n: int) -> str:
    """The example plus ``n`` derived features, each the previous one plus 1."""
    blocks = [
        f"derived chain{i} {{\n  entity: restaurant\n  features {{\n    x = chain{i + 1}.x + 1\n  }}\n}}\n"
        for i in range(n)
    ]
    last = (
        f"derived chain{n} {{\n  entity: restaurant\n  features {{\n    x = restaurant_activity.orders_30m\n  }}\n}}\n"
    )
    return FEAT + "\n" + "".join(blocks) + last


FEAT_TABLES = ["a.b.c", "a.b.c.d", "featc_spine", "__spine", "__featc_row", "main.orders", '"weird name"', "x"]
COLUMNS = [(t, c) for t in ("orders", "prep_events") for c in TYPES[t]] + [("spine", "basket_total")]


# Feature expressions at the edges of the engines: overflow, zero divisors, domain errors, casts,
# empty and extreme windows. Each is added to restaurant_activity, so it runs on the example's data.
EDGE_FEATURES = [
    "sum(total * 1e308) over 1d", "sum(total / 0) over 1d", "max(total / (total - total)) over 1d",
    "sum(CAST(total AS int)) over 1d", "sum(CAST(total * 1e17 AS int)) over 1d", "max(ln(total - 1000)) over 1d",
    "max(sqrt(-total)) over 1d", "max(power(total, 1000)) over 1d", "max(exp(total * 100)) over 1d",
    "avg(round(total, 400)) over 1d", "sum(9223372036854775807) over 1d", "sum(-9223372036854775807 - 2) over 1d",
    "max(CAST(created_at AS date)) over 1d", "count(*) over 0s", "count(*) over 36500d", "last(created_at) over 1d",
    "min(status) over 1d", "count_distinct(total) over 1h", "first(total) over 1d", "max(length(status)) over 1d",
    "count(*) filter (where total / 0 > 1) over 1d", "max(EXTRACT(HOUR FROM created_at)) over 1d",
    "avg(CASE WHEN total > 100 THEN NULL ELSE total END) over 1d", "max(lower(status) || upper(order_id)) over 1d",
    "max(total % 0) over 1d", "max(CAST(total AS int) % 0) over 1d", "max(CAST(total AS int) / 0) over 1d",
]  # fmt: skip
# Row-level expressions over features and the request, added to checkout_signals.
EDGE_DERIVED = [
    "restaurant_activity.revenue_1d * 1e308", "restaurant_activity.orders_30m * 9223372036854775807",
    "restaurant_activity.lifetime_orders + 9223372036854775807", "checkout.basket_total / 0",
    "ln(-checkout.basket_total)", "power(restaurant_activity.revenue_1d, 1000)", "sqrt(-checkout.basket_total)",
    "CAST(checkout.basket_total * 1e300 AS int)", "restaurant_activity.lifetime_orders % 0",
    "restaurant_activity.lifetime_orders / 0", "exp(checkout.basket_total * 1000)",
    "round(checkout.basket_total, -400)",
    "-9223372036854775807 - restaurant_activity.lifetime_orders - 2",
    "CAST(restaurant_activity.last_status AS double)",
    "restaurant_activity.customers_7d * restaurant_activity.orders_30m",
]  # fmt: skip
FEAT_VOCABULARY = """count sum avg min max first last count_distinct coalesce nullif abs round ln sqrt CAST AS int
double string bool date timestamp over next 0s 1h 30m 1d 100000d every continuous lag NULL TRUE 0 -1 1e308
9223372036854775807 '' + - * / % || = != < > AND OR NOT IS ( ) ,""".split()
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+[smhd]\b|\d+(?:\.\d+)?|'[^'\n]*'|[^\sA-Za-z0-9_]")
FEATURES_AT = FEAT.index("    orders_30m ")


def with_feature(expr: str) -> str:
    """The example with one more feature, ``edge``, in restaurant_activity."""
    return FEAT[:FEATURES_AT] + f"    edge = {expr}\n" + FEAT[FEATURES_AT:]


def with_derived(expr: str) -> str:
    """The example with one more derived feature, ``edge``, in checkout_signals."""
    at = FEAT.index("    busy ")
    return FEAT[:at] + f"    edge = {expr}\n" + FEAT[at:]


def replace_token(text: str, draw: st.DrawFn) -> str:
    """One token in the feature definitions becomes a keyword, function, literal or another token."""
    tokens = [m for m in TOKEN.finditer(text) if m.start() >= FEATURES_AT and not text[: m.start()].endswith("#")]
    m = draw(st.sampled_from(tokens))
    new = draw(st.sampled_from(FEAT_VOCABULARY) | st.sampled_from([t.group() for t in tokens]))
    return text[: m.start()] + new + text[m.end() :]


@st.composite
def feat_text(draw: st.DrawFn) -> str:
    how = draw(
        st.sampled_from(
            ["retype", "retype", "edge", "edge", "derived", "derived", "token", "table", "bom", "entities", "crlf"]
        )
    )
    if how == "retype":
        return retype_feat(draw(st.sampled_from(COLUMNS))[1], draw(st.sampled_from(TYPE_NAMES)))
    if how == "edge":
        return with_feature(draw(st.sampled_from(EDGE_FEATURES)))
    if how == "derived":
        return with_derived(draw(st.sampled_from(EDGE_DERIVED)))
    if how == "token":
        return replace_token(FEAT, draw)
    if how == "table":
        old = draw(st.sampled_from(["raw.orders", "raw.prep_events"]))
        return FEAT.replace(f"table: {old}", f"table: {draw(st.sampled_from(FEAT_TABLES))}")
    if how == "bom":
        return "\ufeff" + FEAT
    if how == "crlf":
        return FEAT.replace("\n", "\r\n")
    return second_entity()


TOML = BASE["featc.toml"].decode()
TOML_VARIANTS = [
    "",
    "project = 3\n",
    "[project]\nname = 3\n",
    '[project]\nname = "x\\"\\"\\"; import os"\n[duckdb.sources]\norders = "data/orders.csv"\n',
    '[project]\nname = "\\u001b[31mred"\n',
    '[project]\nname = "a\\u0000b"\n',
    '[project]\nname = "x\\\\"\n',
    '[project]\nname = "x\\r\\ny = 1"\n',
    '[project]\nname = "x\\u2028y"\n',
    "[project]\nname = '''x\"\"\"\\n'''\n",
    '[project]\nname = "{name}"\n',
    '[project]\nname = ""\n',
    '[duckdb.sources]\norders = "data/ord\\u0000ers.csv"\nprep_events = "data/prep_events.csv"\n',
    '[project]\nnam = "typo"\n',
    '[projekt]\nname = "typo"\n',
    "[duckdb]\nsources = 3\n",
    "[duckdb.sources]\norders = 3\n",
    '[duckdb.sources]\norders = ["data/orders.csv"]\n',
    '[duckdb.sources]\norders = "data/missing.csv"\nprep_events = "data/prep_events.csv"\n',
    '[duckdb.sources]\norders = "data"\nprep_events = "data/prep_events.csv"\n',
    '[duckdb.sources]\norders = ""\nprep_events = "data/prep_events.csv"\n',
    '[duckdb.sources]\norders = "features.feat"\nprep_events = "featc.toml"\n',
    '[duckdb.sources]\norders = "data/orders.txt"\nprep_events = "data/prep_events.csv"\n',
    '[duckdb.sources]\norders = "data/orders.parquet"\nprep_events = "data/prep_events.csv"\n',
    '[duckdb.sources]\nevnt = "data/orders.csv"\norders = "data/orders.csv"\nprep_events = "data/prep_events.csv"\n',
    '[duckdb.sources]\na.b.c = "data/orders.csv"\n',
    '[duckdb.sources]\n"raw.orders.x" = "data/orders.csv"\n',
    '[duckdb.sources]\norders = "data/orders.csv"\norders = "data/orders.csv"\n',
    "[duckdb.sources\n",
    "name = \n",
    "\x00",
    '[postgres.sources]\norders = "data/orders.csv"\n',
]
TOML_MUTANTS = st.sampled_from(TOML_VARIANTS) | st.sampled_from(
    ["\ufeff" + TOML, TOML.replace("\n", "\r\n"), TOML + "\n[extra]\nkey = 1\n", TOML.replace("orders =", "order =")]
)


def toml_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- flags

DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "trino", "spark", "", "DUCKDB", "duck db", "sqlite"]
INSTANTS = [
    "2024-05-04T00:00:00Z", "2024-05-04", "2024-05-04T00:00:00+14:00", "2024-05-04T00:00:00-12:00",
    "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999+00:00", "2024-13-01", "2024-05-04T24:00:00",
    "2024-05-04T00:00:00.1234567Z", "1970-01-01T00:00:00Z", "1900-01-01", "now", "", "garbage", "+14:00",
    "2024-05-04T00:00:00+99:00", "2024-05-04T00:00:00+23:59", "10000-01-01", "-2024-05-04", "2024-05-04T00:00:00\x00Z",
]  # fmt: skip
ENTITIES = [
    "restaurant",
    "customer",
    "Restaurant",
    "restaurnt",
    "",
    "checkout",
    "prep_time",
    "orders",
    "rest\x00aurant",
]
TIMESTAMP_COLUMNS = ["ts", "created_at", "time", "", "restaurant_id", "basket_total", "__rid", "rowid",
                     "__featc_row", 'a"b', "t s", "TS", "t\x00s"]  # fmt: skip
OUTS = {
    "training-data": ["out/train.csv", "out/train.parquet", "out/new/deeper/train.csv", "out/train.json", "out/train",
                      "data", "data/spine.csv/x.csv", "data/spine.csv", "data/orders.csv", "features.feat",
                      "featc.toml", "locked/train.csv", "", ".", "out/" + "n" * 300 + ".csv", "out/a\x00b.csv",
                      "data/prep_events.csv"],
    "materialize": ["out/m", "out/m.csv", "out/m.parquet", "out/m.json", "data", "data/spine.csv/x.csv",
                    "data/spine.csv", "data/orders.csv", "features.feat", "featc.toml", "locked/m.csv", "locked",
                    "", "out/" + "n" * 300, "out/a\x00b.csv"],
    "compile": ["out/c", ".", "data", "data/spine.csv", "data/spine.csv/x", "features.feat", "featc.toml",
                "locked/c", "locked", "", "out/" + "n" * 300, "out/a\x00b"],
}  # fmt: skip
SOURCE_FLAGS = [
    "orders={root}/data/orders.csv", "order={root}/data/orders.csv", "evnt={root}/data/orders.csv",
    "orders", "=x", "orders=", "orders={root}/data/missing.csv", "orders={root}/data", "orders={root}/features.feat",
    "orders={root}/data/orders.parquet", "prep_events={root}/data/prep_events.parquet", "Orders={root}/data/orders.csv",
    "orders=data/orders.csv", "orders={root}/data/spine.csv", "raw.orders={root}/data/orders.csv",
    "orders={root}/data/ord\x00ers.csv", "ord\x00ers={root}/data/orders.csv",
]  # fmt: skip


# What a scenario may break; each example breaks one or two of them and leaves the rest as in the
# working example, so that most runs get past the first check and reach the engine.
AXES = ["data", "data", "data", "parquet", "parquet", "feat", "toml", "tree", "out", "out", "flags", "flags", "project",
        "extra"]  # fmt: skip
COMMANDS = ["training-data", "training-data", "training-data", "materialize", "materialize", "compile", "check"]
DEFAULT_OUT = {"training-data": "{root}/out/train.csv", "materialize": "{root}/out/m", "compile": "{root}/out/c"}


def out_arg(command: str, draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    """An --out value (relative ones resolve against {root}, the run's working directory) and dirs to lock."""
    out = draw(st.sampled_from(OUTS[command]))
    locked = ("locked",) if out.startswith("locked") else ()
    return (f"{{root}}/{out}" if out and out != "." and draw(st.booleans()) else out), locked


def sources_args(draw: st.DrawFn) -> list[str]:
    flags = draw(st.lists(st.sampled_from(SOURCE_FLAGS), min_size=1, max_size=2))
    return [arg for flag in flags for arg in ("--source", flag)]


def csv_file(draw: st.DrawFn) -> dict[str, FileContent]:
    """One data file replaced by mutated CSV text, a directory, a broken symbolic link, or nothing."""
    table = draw(st.sampled_from(TABLES))
    how = draw(st.sampled_from(["csv", "csv", "csv", "csv", "dir", "missing", "loop", "dangling", "to_dir"]))
    content: FileContent = {"dir": DIR, "missing": None, "loop": link(f"{table}.csv"), "dangling": link("nowhere.csv"),
                            "to_dir": link(".")}.get(how) if how != "csv" else draw(csv_bytes(table))  # fmt: skip
    return {f"data/{table}.csv": content}


# The project's own files in odd states: a directory or a loop where a file is, a second file.
TREES: list[dict[str, FileContent]] = [
    {"x.feat": DIR}, {"featc.toml": DIR}, {"y.feat": link("y.feat")}, {"featc.toml": link("featc.toml")},
    {"featc.toml": link("nowhere.toml")}, {"features.feat": link("nowhere.feat")}, {"copy.feat": link("features.feat")},
    {"z.feat": link("data")}, {"x.feat": b"entity \xff {\n}\n"}, {"x.feat": b""}, {"x.feat": "\ufeff"},
    {"sub/x.feat": FEAT}, {"featc.toml": b"[project]\nname = \"\xff\"\n"}, {"data": DIR, "features.feat": None},
]  # fmt: skip
# --out already taken by something other than an earlier output.
OUT_TAKEN: dict[str, list[FileContent]] = {
    "training-data": [link("../data/spine.csv"), link("../data/orders.csv"), link("train.csv"), link("nowhere/x.csv"),
                      link("../data"), DIR],
    "materialize": [link("../data"), link("m"), link("../features.feat"), b"a file"],
    "compile": [link(".."), link("c"), link("../data/spine.csv"), b"a file"],
}  # fmt: skip


def parquet_input(draw: st.DrawFn, command: str) -> tuple[dict[str, FileContent], list[str]]:
    """A source (or the spine) as a hostile Parquet file, with the flag that makes featc read it."""
    table = draw(st.sampled_from(TABLES if command == "training-data" else TABLES[:2]))
    path = f"data/{table}.parquet"
    flag = ["--spine", f"{{root}}/{path}"] if table == "spine" else ["--source", f"{table}={{root}}/{path}"]
    return {path: draw(parquet_file(table))}, flag


def flags(command: str, draw: st.DrawFn) -> list[str]:
    """The command's own options, at least one of them hostile."""
    if command == "check":
        return draw(st.sampled_from([["--strict"], ["--format", "json"], ["--format", "github"], ["--format", "x"]]))
    if command == "compile":
        return [*draw(st.sampled_from([[], ["--strict"]])), "--dialect", draw(st.sampled_from(DIALECTS))]
    which = draw(st.sampled_from(["sources", "sources", "other"]))
    if which == "sources":
        return sources_args(draw)
    if command == "training-data":
        spine = draw(
            st.sampled_from(
                ["data/orders.csv", "features.feat", "data", "data/missing.csv", "featc.toml", "data/spi\x00ne.csv"]
            )
        )
        return draw(
            st.sampled_from(
                [["--spine", f"{{root}}/{spine}"], ["--timestamp-column", draw(st.sampled_from(TIMESTAMP_COLUMNS))]]
            )
        )
    return draw(
        st.sampled_from([["--at", draw(st.sampled_from(INSTANTS))], ["--entity", draw(st.sampled_from(ENTITIES))]])
    )


def base_args(command: str, out: str) -> list[str]:
    """The working command line; options given later (a hostile one) win, as click keeps the last."""
    if command == "training-data":
        return ["{root}", "--spine", "{root}/data/spine.csv", "--out", out]
    if command == "materialize":
        return ["{root}", "--at", "2024-05-04T00:00:00Z", "--out", out]
    return ["{root}", "--out", out] if command == "compile" else ["{root}"]


@st.composite
def scenarios(draw: st.DrawFn, commands: tuple[str, ...] = tuple(COMMANDS), most: int = 2) -> Scenario:
    """One command with one to `most` things broken (see AXES), the rest as in the working example."""
    command = draw(st.sampled_from(commands))
    axes = set(draw(st.lists(st.sampled_from(AXES), min_size=1, max_size=most)))
    files: dict[str, FileContent] = {}
    extra: list[str] = []
    locked: tuple[str, ...] = ()
    out = DEFAULT_OUT.get(command, "")
    if "out" in axes and command != "check":
        if draw(st.booleans()):
            out, locked = out_arg(command, draw)
        else:
            files[DEFAULT_OUT[command].removeprefix("{root}/")] = draw(st.sampled_from(OUT_TAKEN[command]))
    if "tree" in axes:
        files.update(draw(st.sampled_from(TREES)))
    if "data" in axes:
        files.update(csv_file(draw))
    if "parquet" in axes and command in ("training-data", "materialize"):
        written, flag = parquet_input(draw, command)
        files.update(written)
        extra += flag
    if "feat" in axes:
        files["features.feat"] = draw(feat_text()).encode("utf-8", "surrogatepass")
    if "toml" in axes:
        files["featc.toml"] = toml_bytes(draw(TOML_MUTANTS))
        if "orders.parquet" in files["featc.toml"].decode("utf-8", "replace"):
            files.setdefault("data/orders.parquet", draw(parquet_file("orders")))
    if "flags" in axes:
        extra += flags(command, draw)
    args = base_args(command, out) + extra
    if command == "training-data" and draw(st.booleans()):
        args.append("--exact")
    if "project" in axes:
        args[0] = draw(st.sampled_from(["{root}/missing", "{root}/features.feat", "{root}/data", "", "{root}/\x00"]))
    if "extra" in axes:
        args += draw(st.sampled_from([["--sorce", "orders=x"], ["--exact"], ["--at"], ["--out"], ["--help"], ["-x"]]))
    if any("orders.parquet" in a for a in args):
        files.setdefault("data/orders.parquet", parquet_bytes("orders", None, "none"))
    return Scenario(command, tuple(args), tuple(sorted(files.items())), locked)


def scenario(
    command: str, *args: str, files: Mapping[str, FileContent] | None = None, readonly: tuple[str, ...] = ()
) -> Scenario:
    """A hand-written scenario: `scenario("check", "{root}", files={"featc.toml": b"..."})`."""
    return Scenario(command, args, tuple(sorted((files or {}).items())), readonly)


def training(*extra: str, files: Mapping[str, FileContent] | None = None) -> Scenario:
    """training-data on the example's spine into out/train.csv, with extra flags."""
    args = ("{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/out/train.csv", *extra)
    return scenario("training-data", *args, files=files)


def materialize(
    *extra: str, at: str = "2024-05-04T00:00:00Z", files: Mapping[str, FileContent] | None = None
) -> Scenario:
    return scenario("materialize", "{root}", "--at", at, "--out", "{root}/out/m", *extra, files=files)


def csv_with(table: str, row: int, column: str, value: str) -> bytes:
    """The table's CSV with one value replaced (row counted from 1 after the header), RFC 4180 quoted."""
    rows = parse_csv(BASE[f"data/{table}.csv"])
    rows[row][rows[0].index(column)] = value
    quoted = [[f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in ',"\r\n') else v for v in r] for r in rows]
    return "".join(",".join(r) + "\n" for r in quoted).encode("utf-8", "surrogatepass")


def csv_column(table: str, column: str, value: str) -> bytes:
    """The table's CSV with every value of ``column`` replaced."""
    rows = parse_csv(BASE[f"data/{table}.csv"])
    j = rows[0].index(column)
    return "".join(
        ",".join(v if i == 0 or k != j else value for k, v in enumerate(r)) + "\n" for i, r in enumerate(rows)
    ).encode()


def csv_plus_column(table: str, name: str) -> bytes:
    """The table's CSV with one more column, ``name``, numbering the rows."""
    rows = parse_csv(BASE[f"data/{table}.csv"])
    return "".join(",".join([*r, name if i == 0 else str(i)]) + "\n" for i, r in enumerate(rows)).encode()


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Turns a hang into a failure (SIGALRM; a no-op off the main thread or off Unix)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(*_: object) -> None:
        raise TimeoutError(f"featc did not finish in {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
