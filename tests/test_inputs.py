"""Input rules on the embedded engine (docs/semantics.md, "Inputs"), through the CLI and the API.

Each case is one of issue 7's "wrong answers", "tracebacks" or "misleading messages" about data:
it must give the right answer, or exit 1 with a message naming the file or source, the row or
line, the column and the value; never a traceback (exit 2).
"""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import featc
from featc.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
SPINE = EXAMPLE / "data" / "spine.csv"

FEAT = """
entity user {
  key uid: int
}
source events {
  table: TABLE
  timestamp: at
  columns {
    uid: int
    at: timestamp
    n: int
    tag: string
  }
}
features act {
  entity: user
  source: events
  features {
    total = sum(n) over 1d
    hits = count(*) over 1h
    last_tag = last(tag) over 1d
  }
}
"""
HEADER = "uid,at,n,tag\n"
EVENTS = HEADER + "1,2024-05-01T00:00:00Z,2,a\n1,2024-05-01T00:30:00Z,3,b\n2,2024-05-01T00:10:00Z,5,c\n"
SPINE_CSV = "uid,ts\n1,2024-05-01T01:00:00Z\n2,2024-05-01T01:00:00Z\n"
EXPECTED = [
    {"uid": "1", "ts": "2024-05-01T01:00:00.000000Z", "act__total": "5", "act__hits": "2", "act__last_tag": "b"},
    {"uid": "2", "ts": "2024-05-01T01:00:00.000000Z", "act__total": "5", "act__hits": "1", "act__last_tag": "c"},
]


def run(*args: Any) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def make_project(root: Path, table: str = "ev", events: str | bytes = EVENTS, name: str = "events.csv") -> Path:
    """A small project whose source `events` is bound to ``name`` with content ``events``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "p.feat").write_text(FEAT.replace("TABLE", table))
    (root / "featc.toml").write_text(f'[project]\nname = "p"\n[duckdb.sources]\nevents = "{name}"\n')
    data = root / name
    if isinstance(events, bytes):
        data.write_bytes(events)
    else:
        data.write_text(events, encoding="utf-8")
    return root


def training(
    project: Path, spine: str | bytes | Path = SPINE_CSV, *extra: Any
) -> tuple[int, list[dict[str, str]], str]:
    """Runs `featc training-data`; returns the exit code, the rows written and stderr."""
    if isinstance(spine, Path):
        spine_path = spine
    else:
        spine_path = project / "spine.csv"
        if isinstance(spine, bytes):
            spine_path.write_bytes(spine)
        else:
            spine_path.write_text(spine, encoding="utf-8")
    out = project / "out" / "train.csv"
    out.unlink(missing_ok=True)
    code, _, err = run("training-data", project, "--spine", spine_path, "--out", out, *extra)
    assert "Traceback" not in err and "internal error" not in err, err
    return code, read_csv(out) if code == 0 else [], err


def failing(project: Path, spine: str | bytes | Path = SPINE_CSV, *extra: Any) -> str:
    code, _, err = training(project, spine, *extra)
    assert code == 1, err
    return err


def test_baseline(tmp_path: Path) -> None:
    code, rows, err = training(make_project(tmp_path))
    assert code == 0, err
    assert rows == EXPECTED


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("column", ["__rid", "rowid", "__featc_row", "featc_spine", "__spine", "featc_row", "c0"])
def test_spine_columns_named_like_featc_internals_pass_through(tmp_path: Path, column: str) -> None:
    spine = f"{column},uid,ts\nx1,1,2024-05-01T01:00:00Z\nx2,2,2024-05-01T01:00:00Z\n"
    code, rows, err = training(make_project(tmp_path), spine)
    assert code == 0, err
    assert "wrote 2 rows" in err
    assert [r.pop(column) for r in rows] == ["x1", "x2"]
    assert rows == EXPECTED


def test_spine_row_id_like_columns_through_pandas_and_arrow(tmp_path: Path) -> None:
    project = featc.load_project(make_project(tmp_path))
    spine = pd.DataFrame(
        {
            "rowid": [9, 8],
            "__rid": [7, 7],
            "uid": [1, 2],
            "ts": pd.to_datetime(["2024-05-01T01:00:00", "2024-05-01T01:00:00"]),
        }
    )
    out = project.training_data(spine)
    assert out["rowid"].tolist() == [9, 8] and out["__rid"].tolist() == [7, 7]
    assert out["act__total"].tolist() == [5, 5] and out["act__hits"].tolist() == [2, 1]
    arrow = project.training_data(pa.Table.from_pandas(spine, preserve_index=False))
    assert arrow.column("act__last_tag").to_pylist() == ["b", "c"]


@pytest.mark.parametrize(
    "table",
    [
        "featc_spine",
        "featc_spine_read",
        "featc_raw_events",
        "main.featc_spine",
        "__spine",
    ],
)
def test_source_tables_named_like_featc_internals_read_their_own_data(tmp_path: Path, table: str) -> None:
    code, rows, err = training(make_project(tmp_path, table=table))
    assert code == 0, err
    assert rows == EXPECTED


def test_three_part_table_names_are_attached_in_memory(tmp_path: Path) -> None:
    code, rows, err = training(make_project(tmp_path, table="lake.raw.ev"))
    assert code == 0, err
    assert rows == EXPECTED
    code, _, err = run("materialize", tmp_path, "--at", "2024-05-01T01:00:00Z", "--out", tmp_path / "m.csv")
    assert code == 0, err
    assert [r["act__total"] for r in read_csv(tmp_path / "m.csv")] == ["5", "5"]


def test_a_table_duckdb_cannot_create_is_a_located_error(tmp_path: Path) -> None:
    err = failing(make_project(tmp_path, table="system.main.ev"))
    assert "source `events`" in err and "system.main.ev" in err and "choose another `table:` name" in err


def test_unknown_source_and_entity_names_are_errors_with_suggestions(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    err = failing(project, SPINE_CSV, "--source", f"evnts={project / 'events.csv'}")
    assert "'evnts' is not a source of this project; sources: events. Did you mean `events`?" in err
    code, _, err = run(
        "materialize", project, "--at", "2024-05-01T00:00:00Z", "--entity", "usr", "--out", tmp_path / "m"
    )
    assert code == 1 and "--entity 'usr' is not an entity of this project; entities: user" in err
    assert "entities: user. Did you mean `user`?" in err
    with pytest.raises(featc.DataError, match="'evnts' is not a source of this project"):
        featc.load_project(project).training_data(pd.DataFrame({"uid": [1]}), sources={"evnts": "x.csv"})


# ---------------------------------------------------------------- int: exactly integral, never rounded


@pytest.mark.parametrize("value", ["1.7", "2.5", "1e3", "lots", "true", "9223372036854775808", "0x10", "2,0"])
def test_non_integral_int_text_is_an_error_with_row_column_and_value(tmp_path: Path, value: str) -> None:
    events = EVENTS + f'3,2024-05-01T00:20:00Z,"{value}",d\n'
    err = failing(make_project(tmp_path, events=events))
    data = tmp_path / "events.csv"
    assert f"source `events` ({data}): row 4, column `n` is declared int but has the value {value!r}" in err
    assert "is not rounded" in err


@pytest.mark.parametrize("value", ["2", "+2", " 2 ", "2.0", "2.", "002", "-0"])
def test_exactly_integral_int_text_is_accepted(tmp_path: Path, value: str) -> None:
    events = EVENTS.replace(",2,a", f',"{value}",a')
    code, rows, err = training(make_project(tmp_path, events=events))
    assert code == 0, err
    assert rows[0]["act__total"] == str(int(float(value)) + 3)


def _parquet(path: Path, columns: dict[str, pa.Array]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _events_table(n: pa.Array, at: pa.Array | None = None) -> dict[str, pa.Array]:
    rows = len(n)
    return {
        "uid": pa.array([1] * rows, pa.int64()),
        "at": at if at is not None else pa.array([datetime(2024, 5, 1, 0, 30)] * rows, pa.timestamp("us")),
        "n": n,
        "tag": pa.array(["a"] * rows),
    }


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (pa.array([2.0, 2.5], pa.float64()), "2.5"),
        (pa.array([Decimal("2.00"), Decimal("2.50")], pa.decimal128(5, 2)), "2.50"),
        (pa.array([1.0, float("inf")], pa.float64()), "inf"),
        (pa.array([1.0, 1e19], pa.float64()), "1e+19"),
        (pa.array([None, True], pa.bool_()), "true"),
    ],
)
def test_parquet_values_that_are_not_exact_ints_are_errors(tmp_path: Path, n: pa.Array, shown: str) -> None:
    project = make_project(tmp_path)
    data = _parquet(tmp_path / "events.parquet", _events_table(n))
    err = failing(project, SPINE_CSV, "--source", f"events={data}")
    assert f"source `events` ({data}): row 2, column `n` is declared int but has the value" in err
    assert shown in err.lower()


def test_parquet_integral_doubles_and_decimals_are_ints(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    for i, n in enumerate([pa.array([2.0, 3.0]), pa.array([Decimal("2.00"), Decimal("3.00")], pa.decimal128(5, 2))]):
        data = _parquet(tmp_path / f"e{i}.parquet", _events_table(n))
        code, rows, err = training(project, SPINE_CSV, "--source", f"events={data}")
        assert code == 0, err
        assert rows[0]["act__total"] == "5"


def test_pandas_source_with_a_fractional_int_is_an_error() -> None:
    project = featc.compile_text(FEAT.replace("TABLE", "ev"))
    events = pd.DataFrame({"uid": [1, 1], "at": pd.to_datetime(["2024-05-01", "2024-05-01"]), "n": [2.0, 1.7]})
    events["tag"] = ["a", "b"]
    spine = pd.DataFrame({"uid": [1], "ts": pd.to_datetime(["2024-05-01T01:00:00"])})
    with pytest.raises(
        featc.DataError, match=r"source `events`: row 2, column `n` is declared int but has the value 1.7"
    ):
        featc.training_data(project, spine, {"events": events})
    events["n"] = [2.0, None]  # pandas keeps an int column with a null as float64: integral values are ints
    assert featc.training_data(project, spine, {"events": events})["act__total"].tolist() == [2]


def test_the_sql_path_and_ingest_accept_the_same_int_values(tmp_path: Path) -> None:
    """One value, one verdict: loading a CSV and `Evaluator.ingest` of the same rows agree."""
    verdicts = []
    for i, value in enumerate(["2", "2.0", "-3", "1.7", "2.5", "lots", "1e3"]):
        events = HEADER + f'1,2024-05-01T00:00:00Z,"{value}",a\n'
        project_dir = make_project(tmp_path / f"p{i}", events=events)
        sql_ok = training(project_dir)[0] == 0
        with (project_dir / "events.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        evaluator = featc.load_project(project_dir).evaluator()
        try:
            evaluator.ingest("events", rows)
            ingest_ok = True
        except featc.DataError:
            ingest_ok = False
        verdicts.append((value, sql_ok, ingest_ok))
    assert [(v, s) for v, s, _ in verdicts] == [
        ("2", True),
        ("2.0", True),
        ("-3", True),
        ("1.7", False),
        ("2.5", False),
        ("lots", False),
        ("1e3", False),
    ]
    assert [(v, s) for v, s, _ in verdicts] == [(v, i) for v, _, i in verdicts]


# ---------------------------------------------------------------- one verdict per value, SQL and runtime alike

TEXTS = {
    "int": [
        "2",
        "+2",
        " 2 ",
        "2.0",
        "2.",
        "-0",
        "",
        " ",
        "1.7",
        "1e3",
        "0x10",
        "2,0",
        "+",
        ".0",
        "9223372036854775808",
        "\u00a02",
    ],
    "double": ["2", "2.5", "1e3", ".5", "5.", "inf", "-Infinity", "nan", "1_0", "0x10", " 1 ", "1e400", "true", "e3"],
    "bool": ["true", " TRUE ", "False", "t", "1", "yes", ""],
    "string": ["", " x ", "1.5"],
    "timestamp": [
        "2024-05-01",
        "2024-05-01Z",
        "2024-05-01+02:00",
        "2024-05-01T12:00:00,5Z",
        "2024-05-01t12:00:00z",
        "2024-05-01T12:00:00.1234567+02:00",
        "2024-05-01 12:00+0530",
        "2024-05-01T23:59:60Z",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+02:99",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.9999999Z",
        "9999-12-31T23:59:59-01:00",
        "infinity",
        "10000-01-01",
        " 2024-05-01",
        "1969-12-31T23:59:59.9999999Z",
        "2024-02-30",
        "2024-05-01T12:00:00.Z",
        "epoch",
    ],
    "date": ["2024-05-01", "2024-5-1", "0000-01-01", "2024-02-30", "infinity", "2024-05-01T00:00:00", ""],
}


@pytest.mark.parametrize("type_name", sorted(TEXTS))
def test_sql_rules_and_runtime_values_agree_on_text(type_name: str) -> None:
    from featc.compiler.types import DataType
    from featc.inputs import rule
    from featc.runtime.values import parse

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    r = rule("x", DataType(type_name), "VARCHAR")
    for text in TEXTS[type_name]:
        ok, value = con.execute(
            f"SELECT x IS NULL OR {r.ok}, {r.value} FROM (SELECT ?::VARCHAR AS x)", [text]
        ).fetchone()
        try:
            expected, accepted = parse(text, type_name), True
        except featc.DataError:
            expected, accepted = None, False
        assert (text, bool(ok)) == (text, accepted)
        if accepted:
            assert (text, value) == (text, expected)


TYPED = [
    (pa.array([2.0, 2.5, float("inf"), float("nan"), 1e19, -0.0]), "int"),
    (pa.array([Decimal("2.00"), Decimal("2.50"), Decimal("-7")], pa.decimal128(5, 2)), "int"),
    (pa.array([True, False]), "int"),
    (pa.array([2**62, -(2**63)], pa.int64()), "int"),
    (pa.array([7, -1], pa.int64()), "string"),
    (pa.array([1.5]), "string"),
    (pa.array([True]), "string"),
    (pa.array([1, 2**62], pa.int64()), "double"),
    (pa.array([True]), "double"),
    (pa.array([1.0]), "bool"),
    (pa.array([-1, 1714525199999999900, 5], pa.timestamp("ns")), "timestamp"),
    (pa.array([-1, 1714525199999999900], pa.timestamp("ns", tz="Asia/Tokyo")), "timestamp"),
    (pa.array([-1, 1714525199999999900], pa.timestamp("ns")), "date"),
    (pa.array([0, 1714525199999999], pa.timestamp("us", tz="America/New_York")), "date"),
    (pa.array([0, 19000], pa.date32()), "timestamp"),
    (pa.array([0], pa.int64()), "timestamp"),
    (pa.array([1.5]), "date"),
]


@pytest.mark.parametrize(("values", "type_name"), TYPED, ids=[f"{v.type}-{t}" for v, t in TYPED])
def test_sql_rules_and_runtime_values_agree_on_typed_values(values: pa.Array, type_name: str) -> None:
    """Parquet and Arrow bring their own types: the SQL path and `ingest` still give one verdict per value."""
    from featc.compiler.types import DataType
    from featc.inputs import rule
    from featc.runtime.values import parse

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", pa.table({"x": values}))
    have = con.execute("SELECT column_type FROM (DESCRIBE t)").fetchone()[0]
    r = rule('"x"', DataType(type_name), have)
    got = con.execute(f"SELECT {r.ok}, {r.value} FROM t").fetchall()
    for python, (ok, value) in zip(values.to_pylist(), got, strict=True):
        try:
            expected, accepted = parse(python, type_name), True
        except featc.DataError:
            expected, accepted = None, False
        assert (python, bool(ok)) == (python, accepted)
        if accepted:
            assert (python, value) == (python, expected)


# ---------------------------------------------------------------- other types


@pytest.mark.parametrize(
    ("column", "value"),
    [("tag", "1.5"), ("tag", "true")],
)
def test_string_columns_take_text_and_integers_only_from_parquet(tmp_path: Path, column: str, value: str) -> None:
    project = make_project(tmp_path)
    cols = _events_table(pa.array([1, 2]))
    cols["tag"] = pa.array([float(value), 2.0]) if value == "1.5" else pa.array([True, False])
    data = _parquet(tmp_path / "events.parquet", cols)
    err = failing(project, SPINE_CSV, "--source", f"events={data}")
    assert f"row 1, column `{column}` is declared string but has the value {value}" in err
    cols["tag"] = pa.array([7, 8])
    data = _parquet(tmp_path / "ints.parquet", cols)
    code, rows, err = training(project, SPINE_CSV, "--source", f"events={data}")
    assert code == 0 and rows[0]["act__last_tag"] == "8", err


def test_pandas_categories_are_text_for_string_columns() -> None:
    project = featc.compile_text(FEAT.replace("TABLE", "ev"))
    events = pd.DataFrame({"uid": [1], "at": ["2024-05-01T00:10:00Z"], "n": [1], "tag": pd.Categorical(["a"])})
    spine = pd.DataFrame({"uid": [1], "ts": ["2024-05-01T01:00:00Z"]})
    assert featc.training_data(project, spine, {"events": events})["act__last_tag"].tolist() == ["a"]


def test_bool_text_is_only_true_or_false(tmp_path: Path) -> None:
    feat = FEAT.replace("tag: string", "tag: string\n    ok: bool").replace(
        "last_tag = last(tag) over 1d", "oks = count(*) filter (where ok) over 1d"
    )
    (tmp_path / "p.feat").write_text(feat.replace("TABLE", "ev"))
    (tmp_path / "featc.toml").write_text('[project]\nname = "p"\n[duckdb.sources]\nevents = "events.csv"\n')
    (tmp_path / "events.csv").write_text(
        "uid,at,n,tag,ok\n1,2024-05-01T00:00:00Z,1,a, TRUE \n1,2024-05-01T00:01:00Z,1,a,False\n"
    )
    code, rows, err = training(tmp_path)
    assert code == 0 and rows[0]["act__oks"] == "1", err
    (tmp_path / "events.csv").write_text("uid,at,n,tag,ok\n1,2024-05-01T00:00:00Z,1,a,yes\n")
    assert "row 1, column `ok` is declared bool but has the value 'yes'" in failing(tmp_path)


# ---------------------------------------------------------------- instants: range and the sub-microsecond floor


@pytest.mark.parametrize(
    "value",
    ["infinity", "-infinity", "10000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "epoch", "2024-05-01 12:00 CET"],
)
def test_instants_outside_the_range_or_not_iso_are_errors(tmp_path: Path, value: str) -> None:
    events = EVENTS + f"1,{value},1,x\n"
    err = failing(make_project(tmp_path, events=events))
    assert f"row 4, column `at` is declared timestamp but has the value {value!r}" in err
    assert "between 0001-01-01 and 9999-12-31 23:59:59.999999 UTC" in err


def test_spine_instants_outside_the_range_are_errors(tmp_path: Path) -> None:
    err = failing(make_project(tmp_path), "uid,ts\n1,2024-05-01T01:00:00Z\n2,-infinity\n")
    assert "spine (" in err and "row 2, column `ts` is declared timestamp but has the value '-infinity'" in err


def test_parquet_instants_outside_the_range_are_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    for i, literal in enumerate(["infinity", "10000-01-01", "-infinity"]):
        data = tmp_path / f"e{i}.parquet"
        duckdb.sql(
            f"COPY (SELECT 1::BIGINT AS uid, TIMESTAMP '{literal}' AS at, 1::BIGINT AS n, 'a' AS tag) TO '{data}'"
        )
        err = failing(project, SPINE_CSV, "--source", f"events={data}")
        assert "row 1, column `at` is declared timestamp but has the value" in err and literal in err


def test_sub_microsecond_parts_are_floored_identically_from_text_and_parquet(tmp_path: Path) -> None:
    """An event at 00:59:59.9999999 is at 00:59:59.999999, so a window ending (exclusively) at 01:00 counts it."""
    project = make_project(tmp_path)
    spine = "uid,ts\n1,2024-05-01T01:00:00Z\n1,1970-01-01T00:00:00Z\n"
    text = HEADER + "1,2024-05-01T00:59:59.9999999Z,1,a\n1,1969-12-31T23:59:59.9999999Z,1,a\n"
    (tmp_path / "text.csv").write_text(text)
    ns = pa.array([1714525199999999900, -100], pa.timestamp("ns"))
    data = _parquet(tmp_path / "ns.parquet", _events_table(pa.array([1, 1]), ns))
    results = []
    for bound in (tmp_path / "text.csv", data):
        code, rows, err = training(project, spine, "--source", f"events={bound}")
        assert code == 0, err
        results.append([(r["ts"], r["act__hits"]) for r in rows])
    assert results[0] == results[1] == [("2024-05-01T01:00:00.000000Z", "1"), ("1970-01-01T00:00:00.000000Z", "1")]
    spine_ns = _parquet(tmp_path / "spine.parquet", {"uid": pa.array([1]), "ts": pa.array([-1], pa.timestamp("ns"))})
    code, rows, err = training(project, spine_ns)
    assert code == 0 and rows[0]["ts"] == "1969-12-31T23:59:59.999999Z", err


def test_zone_aware_nanosecond_pandas_and_arrow_instants_are_floored(tmp_path: Path) -> None:
    project = featc.load_project(make_project(tmp_path))
    instant = pd.Timestamp("1969-12-31 23:59:59.9999999", tz="UTC")
    spine = pd.DataFrame({"uid": [1], "ts": pd.Series([instant]).astype("datetime64[ns, UTC]")})
    out = project.training_data(spine)
    assert out["ts"].tolist() == [pd.Timestamp("1969-12-31 23:59:59.999999")]
    arrow = pa.table({"uid": pa.array([1]), "ts": pa.array([-1], pa.timestamp("ns", tz="Europe/Paris"))})
    assert project.training_data(arrow).column("ts").to_pylist() == [datetime(1969, 12, 31, 23, 59, 59, 999999)]


def test_materialize_at_out_of_range_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    code, _, err = run("materialize", project, "--at", "0001-01-01T00:00:00+01:00", "--out", tmp_path / "m.csv")
    assert code == 1 and "'0001-01-01T00:00:00+01:00' is out of range in UTC" in err
    assert "Traceback" not in err and not (tmp_path / "m.csv").exists()
    with pytest.raises(featc.DataError, match="outside featc's instants"):
        featc.load_project(project).materialize(
            "user", datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=1)))
        )


# ---------------------------------------------------------------- CSV structure: RFC 4180, never sniffed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            HEADER + "1,2024-05-01T00:00:00Z,2,a\n1,2024-05-01T00:30:00Z,3,b,extra\n",
            "line 3 has 5 fields but the header has 4",
        ),
        (HEADER + "1,2024-05-01T00:00:00Z,2,a,extra\n", "line 2 has 5 fields but the header has 4"),
        (HEADER + "1,2024-05-01T00:00:00Z,2\n", "line 2 has 3 fields but the header has 4"),
        (EVENTS * 1 + "".join(f"1,2024-05-01T00:00:00Z,{i},a\n" for i in range(30000)) + "1,x\n", "line 30005 has 2"),
        ("", "is empty; a CSV file needs a header row"),
        ("uid,at,,tag\n", "header column 3 has no name"),
        ("uid,at,n,n,tag\n", "header columns 3 and 4 are both named 'n'"),
        ('uid,at,n,tag\n1,2024-05-01T00:00:00Z,2,"a\n', "has a quoted field that is not closed"),
        (
            "uid;at;n;tag\n1;2024-05-01T00:00:00Z;2;a\n",
            "it has 'uid;at;n;tag' (the header is one column: featc reads comma-separated CSV only)",
        ),
    ],
)
def test_malformed_csv_sources_are_located_errors(tmp_path: Path, content: str, message: str) -> None:
    err = failing(make_project(tmp_path, events=content))
    assert f"source `events` ({tmp_path / 'events.csv'})" in err
    assert message in err


def test_non_utf8_bytes_give_the_line(tmp_path: Path) -> None:
    content = (EVENTS + "1,2024-05-01T00:40:00Z,1,caf\xe9\n").encode("latin-1")
    err = failing(make_project(tmp_path, events=content))
    assert "line 5 is not UTF-8; save the file as UTF-8" in err
    err = failing(make_project(tmp_path / "h", events=b"uid,at,n,t\xe9g\n"))
    assert "line 1 is not UTF-8" in err


def test_a_line_over_the_line_limit_is_a_located_error(tmp_path: Path) -> None:
    content = EVENTS + "1,2024-05-01T00:40:00Z,1," + "x" * 2_100_000 + "\n"
    err = failing(make_project(tmp_path, events=content))
    assert "line 5 is 2100025 bytes long, over the limit of 2000000 bytes per line" in err
    assert len(err) < 1000


def test_bom_crlf_quotes_and_empty_fields_follow_rfc4180(tmp_path: Path) -> None:
    content = '\ufeffuid,at,n,tag\r\n1,2024-05-01T00:00:00Z,2,"a,""q"""\r\n1,2024-05-01T00:30:00Z,,"b\r\nc"\r\n'
    project = make_project(tmp_path, events=content)
    code, rows, err = training(project)
    assert code == 0, err
    assert rows[0]["act__total"] == "2" and rows[0]["act__last_tag"] == "b\r\nc"


@pytest.mark.parametrize(
    ("spine", "message"),
    [
        (",uid,ts\nx,1,2024-05-01T01:00:00Z\n", "header column 1 has no name"),
        ("uid,ts,ts\n1,2024-05-01T01:00:00Z,x\n", "header columns 2 and 3 are both named 'ts'"),
        ("uid,ts\n1,2024-05-01T01:00:00Z,extra\n", "line 2 has 3 fields but the header has 2"),
        (b"", "is empty"),
    ],
)
def test_spine_headers_are_never_renamed_or_guessed(tmp_path: Path, spine: str | bytes, message: str) -> None:
    err = failing(make_project(tmp_path), spine)
    assert "spine" in err and message in err


def test_directories_and_corrupt_parquet_are_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (tmp_path / "dir.csv").mkdir()
    err = failing(project, SPINE_CSV, "--source", f"events={tmp_path / 'dir.csv'}")
    assert "is a directory; name a .csv or .parquet file" in err
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    err = failing(project, SPINE_CSV, "--source", f"events={corrupt}")
    assert f"source `events` ({corrupt}) is not a readable Parquet file" in err
    truncated = tmp_path / "cut.parquet"
    _parquet(tmp_path / "whole.parquet", _events_table(pa.array([1, 2])))
    truncated.write_bytes((tmp_path / "whole.parquet").read_bytes()[:-20])
    err = failing(project, SPINE_CSV, "--source", f"events={truncated}")
    assert f"({truncated}) is not a readable Parquet file: No magic bytes found at end of file" in err


def test_pandas_frames_with_duplicate_or_unnamed_columns_are_errors(tmp_path: Path) -> None:
    project = featc.load_project(make_project(tmp_path))
    dup = pd.DataFrame([[1, 2]], columns=["uid", "uid"])
    with pytest.raises(featc.DataError, match="spine: columns 1 and 2 are both named 'uid'"):
        project.training_data(dup)
    with pytest.raises(featc.DataError, match="spine: column 1 has no name"):
        project.training_data(pd.DataFrame([[1]], columns=[0]))
    with pytest.raises(featc.DataError, match="expected a path, a pandas DataFrame or a pyarrow Table, got list"):
        project.training_data([{"uid": 1}])


# ---------------------------------------------------------------- errors while computing


def test_int_overflow_while_computing_is_a_data_error(tmp_path: Path) -> None:
    big = 2**62
    events = HEADER + f"1,2024-05-01T00:00:00Z,{big},a\n1,2024-05-01T00:10:00Z,{big},a\n"
    project = make_project(tmp_path, events=events)
    (project / "spine.csv").write_text(SPINE_CSV)
    (project / "out").mkdir()
    (project / "out" / "train.csv").write_text("kept\n")
    code, _, err = run(
        "training-data", project, "--spine", project / "spine.csv", "--out", project / "out" / "train.csv"
    )
    assert code == 1 and "error: the sum in feature `act.total` overflows int64" in err
    assert (project / "out" / "train.csv").read_text() == "kept\n"  # the earlier output is untouched
    assert [p.name for p in (project / "out").iterdir()] == ["train.csv"]  # and no temporary file is left


def test_featc_guard_messages_from_the_sql_become_the_error() -> None:
    """The SQL's own guards raise `featc: ...` (e.g. a sum beyond int64, naming the feature): shown as is."""
    from featc.embedded import run_error

    try:
        duckdb.sql("SELECT error('featc: sum `act.total` left int64 at uid 1')").fetchall()
    except duckdb.Error as e:
        assert str(run_error(e, "features")) == "sum `act.total` left int64 at uid 1"
    else:
        raise AssertionError("DuckDB's error() did not raise")


def test_example_project_still_reads_its_data(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(EXAMPLE, project)
    code, rows, err = training(project, SPINE)
    assert code == 0, err
    assert len(rows) == 500


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2024-05-01\x0001:00", "is not an ISO-8601 instant"),
        ("2024-05-01T01:00:00\x00Z", "is not an ISO-8601 instant"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("10000-01-01", "instants range over"),
        ("", "an instant is required"),
    ],
)
def test_at_follows_the_input_rules_of_every_instant(tmp_path: Path, at: str, message: str) -> None:
    code, _, err = run("materialize", make_project(tmp_path), "--at", at, "--out", tmp_path / "m.csv")
    assert code == 1 and message in err and "Traceback" not in err, err


def test_at_floors_sub_microseconds_like_every_instant(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    code, _, err = run("materialize", project, "--at", "2024-05-01T00:59:59.9999999Z", "--out", tmp_path / "m.csv")
    assert code == 0 and "as of 2024-05-01T00:59:59.999999" in err, err


def test_a_missing_int_in_pandas_is_null_offline_and_online(tmp_path: Path) -> None:
    """pandas stores a missing int as NaN in a float column: null on the SQL path and through ingest alike."""
    import pandas as pd

    project = featc.load_project(make_project(tmp_path))
    at = pd.to_datetime(["2024-05-01T00:10:00", "2024-05-01T00:20:00"])
    events = pd.DataFrame({"uid": [1, 1], "at": at, "n": [2.0, None], "tag": ["a", "b"]})
    assert events["n"].dtype == "float64" and events["n"].isna().any()
    spine = pd.DataFrame({"uid": [1], "ts": pd.to_datetime(["2024-05-01T01:00:00"])})
    offline = project.training_data(spine, sources={"events": events}).to_dict("records")
    ev = project.evaluator()
    ev.ingest("events", events.to_dict("records"))
    online = ev.features({"uid": 1}, at=datetime(2024, 5, 1, 1))
    assert online["act__total"] == 2 and online["act__hits"] == 2
    assert {k: offline[0][k] for k in online} == online
