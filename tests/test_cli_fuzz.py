"""Fuzzing the command line: no user mistake makes featc exit 2, print a traceback or touch an input.

Every example is one `featc check|compile|training-data|materialize` run, through click's runner,
over a fresh copy of examples/food_delivery (50 rows per CSV) in which hypothesis has mutated
(tests/fuzz_data.py builds them):

* **spines and sources**: CSV text (ragged rows, extra and missing fields, empty files, header
  only, duplicate, empty and reserved header names, a BOM, CRLF and CR line ends, raw quotes and
  newlines, non-UTF-8 bytes, NUL, values of the wrong type in every column, the instant range
  and precision edges), Parquet files (columns of other types, nanosecond and zoned timestamps,
  decimals, dates, far instants, corrupt, truncated and empty files), a directory or nothing
  where a file is expected;
* **featc.toml and the .feat file**: wrong types, unknown keys, BOMs, bindings to missing files,
  directories and inputs, three-part and reserved table names, retyped columns, two entities,
  features and derived features at the engines' edges (int and double overflow, zero divisors,
  domain errors, casts, extreme windows), feature definitions with a token replaced;
* **flags**: unknown, misspelt and malformed `--source`, `--dialect`, `--at`, `--entity`,
  `--timestamp-column`, `--exact`, and `--out` naming a directory, a file inside a file, an
  input, a locked directory (not locked for root), an overlong name; NUL bytes in paths and names.

The property: the exit code is 0 or 1 (2 is featc's own bug), the runner saw SystemExit and not
an escaped exception, no output says `Traceback` or `internal error`, a failure prints an
`error:` line or a diagnostic, no input file is modified or deleted, a materialisation never
writes two entities to one file, and every Python module `compile` writes compiles. Hand-written examples cover each case of issue 7.

CI runs a bounded number of examples; run longer with ``FEATC_FUZZ_EXAMPLES=300`` (docs/testing.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis.control import currently_in_test_context

from featc.cli import main

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
import fuzz_data as fd
from fuzz_data import DIR, Scenario, materialize, scenario, training

F = TypeVar("F", bound=Callable[..., Any])
EXAMPLES = int(os.environ.get("FEATC_FUZZ_EXAMPLES", "120"))  # about 35 s with the written-out cases
TIME_LIMIT_S = 60  # a hang is a failure; the slowest written-out case (1,000 derived features) takes seconds
CLI_FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# A line that tells the user what went wrong: featc's `error:`, click's usage `Error:`, a diagnostic.
REPORTED = re.compile(r"^(error:|Error:|(\S+:\d+:\d+: )?(error|warning)\[[A-Z]\d+\]|::(error|warning) )", re.MULTILINE)
MATERIALISED = re.compile(r"^featc: materialised (\S+) as of \S+ to (.+)$", re.MULTILINE)


class Run(NamedTuple):
    """What one run did: enough to judge it after its directory is gone."""

    result: Result
    before: dict[str, str]  # every file under the copy before the run, with its hash
    after: dict[str, str]  # those of them still there after the run, with their hashes
    python: dict[str, str]  # the Python modules the run wrote, with their text


def invoke(s: Scenario) -> Run:
    """Runs the scenario in a fresh copy of the example."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        fd.materialise(s, root)
        before = fd.hashes(root)
        try:
            with contextlib.chdir(root), fd.time_limit(TIME_LIMIT_S):
                result = CliRunner().invoke(main, s.argv(root))
        finally:
            fd.restore_permissions(root, s)
        after = {rel: h for rel, h in fd.hashes(root).items() if rel in before}
        python = {str(p.relative_to(root)): p.read_text("utf-8", "replace") for p in root.rglob("*.py") if p.is_file()}
        return Run(result, before, after, python)


def importable(python: dict[str, str]) -> list[str]:
    """The generated modules Python cannot compile (user text written raw into code), with the reason."""
    broken = []
    for name, text in python.items():
        try:
            compile(text, name, "exec")
        except (SyntaxError, ValueError) as e:
            broken.append(f"{name}: {type(e).__name__}: {e}")
    return broken


def excerpt(output: str, head: int = 4, tail: int = 12, width: int = 240) -> str:
    """The start and end of the output (the error line and a traceback's last frames), lines cut short."""
    lines = [line if len(line) <= width else line[:width] + f"... ({len(line)} chars)" for line in output.splitlines()]
    if len(lines) > head + tail:
        lines = [*lines[:head], f"... ({len(lines) - head - tail} lines)", *lines[-tail:]]
    return "\n".join(lines)


def _reported(result: Result) -> bool:
    if REPORTED.search(result.stdout + result.stderr):
        return True
    with contextlib.suppress(ValueError):  # --format json: the diagnostics are the JSON list on stdout
        return bool(json.loads(result.stdout))
    return False


def inputs(s: Scenario, files: dict[str, str]) -> list[str]:
    """The files the run may read: all of them, but not the spine where a command takes none, nor a
    source's CSV that `--source` replaces with another file, nor what is under out/ (outputs may replace
    files that are no input, and featc may replace a symbolic link at --out rather than write through it)."""
    reads_spine = s.command == "training-data" or any("spine" in a for a in s.args if a.startswith("--") or "=" in a)
    replaced = {
        f"data/{name}.csv"
        for flag, value in zip(s.args, s.args[1:], strict=False)
        if flag == "--source"
        for name, _, path in [value.partition("=")]
        if name in fd.TABLES and not path.endswith(f"data/{name}.csv")
    }
    return [
        rel
        for rel in files
        if (reads_spine or not rel.startswith("data/spine.")) and rel not in replaced and not rel.startswith("out/")
    ]


def machine_readable(s: Scenario, result: Result) -> bool:
    """`check --format json` prints one JSON list on stdout and `github` only workflow commands, so CI can
    read them; anything for people (the summary, click's usage errors) goes to stderr."""
    if s.command != "check" or "--format" not in s.args or "Usage:" in result.stderr:
        return True
    fmt = s.args[s.args.index("--format") + 1]
    if fmt == "json":
        with contextlib.suppress(ValueError):
            return isinstance(json.loads(result.stdout), list)
        return False
    return fmt != "github" or all(line.startswith("::") for line in result.stdout.splitlines() if line)


def check(s: Scenario) -> None:
    """The property for one run (see the module docstring)."""
    if currently_in_test_context():
        note(s.shell())
    result, before, after, python = invoke(s)
    output = result.stdout + result.stderr
    where = f"\n$ {s.shell()}\nexit {result.exit_code}\n{excerpt(output)}"
    assert isinstance(result.exception, SystemExit) or result.exception is None, f"escaped {result.exception!r}{where}"
    assert result.exit_code in (0, 1), f"exit {result.exit_code} (featc's own bug){where}"
    assert "Traceback" not in output and "internal error" not in output, f"traceback{where}"
    assert result.exit_code == 0 or _reported(result), f"exit 1 without an error line{where}"
    changed = sorted(rel for rel in inputs(s, before) if after.get(rel) != before[rel])
    assert not changed, f"inputs modified or deleted: {changed}{where}"
    assert not importable(python), f"generated Python does not compile: {importable(python)}{where}"
    assert machine_readable(s, result), f"--format {s.args[s.args.index('--format') + 1]} output is not{where}"
    targets = [t for _, t in MATERIALISED.findall(result.stderr)]
    assert len(targets) == len(set(targets)), f"two entities written to one file: {targets}{where}"


# ---------------------------------------------------------------- issue 7, one case at a time

NAME_INJECTION = '[project]\nname = \'x"""; import os\'\n[duckdb.sources]\norders = "data/orders.csv"\n'
TWO_ENTITIES = {"features.feat": fd.second_entity()}
INT_TOTAL = {"features.feat": fd.retype_feat("total", "int")}


def _orders(value: str, column: str = "created_at") -> dict[str, fd.FileContent]:
    return {"data/orders.csv": fd.csv_with("orders", 3, column, value)}


def _spine(value: str, column: str = "ts") -> dict[str, fd.FileContent]:
    return {"data/spine.csv": fd.csv_with("spine", 3, column, value)}


def _parquet_source(how: str, column: str | None = None, **feat: str) -> dict[str, fd.FileContent]:
    return {"data/orders.parquet": fd.parquet_bytes("orders", column, how), **feat}


PQ = ("--source", "orders={root}/data/orders.parquet")

ISSUE_CASES = [
    # internal names colliding with user names
    training(files={"data/spine.csv": fd.csv_plus_column("spine", "__rid")}),
    training(files={"data/spine.csv": fd.csv_plus_column("spine", "rowid")}),
    training(files={"data/spine.csv": fd.csv_plus_column("spine", "__featc_row")}),
    training(files={"features.feat": fd.FEAT.replace("table: raw.orders", "table: featc_spine")}),
    training(files={"features.feat": fd.FEAT.replace("table: raw.orders", "table: __spine")}),
    # non-integral values in int columns, from CSV, Parquet doubles and decimals
    training(files={**INT_TOTAL, "data/orders.csv": fd.csv_with("orders", 1, "total", "1.7")}),
    materialize(files={**INT_TOTAL, "data/orders.csv": fd.csv_with("orders", 1, "total", "1.7")}),
    training(*PQ, files={**INT_TOTAL, **_parquet_source("none")}),
    training(*PQ, files={**INT_TOTAL, **_parquet_source("decimal", "total")}),
    # unknown and misspelt names
    training("--source", "evnt={root}/data/orders.csv"),
    training("--source", "order={root}/data/orders.csv"),
    training("--source", "orders"),
    materialize("--entity", "restaurnt"),
    training("--timestamp-column", "time"),
    # timestamp limits
    training(*PQ, files=_parquet_source("ns", "created_at")),
    training(files=_orders("infinity")),
    training(files=_orders("-infinity")),
    training(files=_orders("10000-01-01T00:00:00Z")),
    training(files=_orders("0000-01-01T00:00:00Z")),
    training(files=_orders("2024-05-01T00:59:59.9999999Z")),
    training(files=_orders("-86400")),
    training(files=_spine("infinity")),
    training(files=_spine("10000-01-01T00:00:00Z")),
    training(*PQ, files=_parquet_source("far", "created_at")),
    # generated code from user text
    scenario("compile", "{root}", "--out", "{root}/out/c", files={"featc.toml": NAME_INJECTION}),
    # lost data: --out naming an input, two entities into one file
    scenario("training-data", "{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/data/spine.csv"),
    scenario("training-data", "{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/data/orders.csv"),
    scenario("training-data", "{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/features.feat"),
    scenario("materialize", "{root}", "--at", "2024-05-04T00:00:00Z", "--out", "{root}/featc.toml"),
    scenario(
        "materialize", "{root}", "--at", "2024-05-04T00:00:00Z", "--out", "{root}/out/all.csv", files=TWO_ENTITIES
    ),
    # tracebacks for user mistakes
    training(files={"features.feat": fd.FEAT.replace("table: raw.orders", "table: a.b.c")}),
    training(files={"features.feat": fd.FEAT.replace("table: raw.orders", "table: a.b.c.d")}),
    materialize(
        at="2024-05-01T03:00:00Z",  # after the 50 orders, so that the 1d sum overflows
        files={**INT_TOTAL, "data/orders.csv": fd.csv_column("orders", "total", "9223372036854775807")},
    ),
    training(files={"data/orders.csv": fd.BASE["data/orders.csv"].replace(b"r001", b"r\xff01")}),
    training(files={"data/spine.csv": fd.BASE["data/spine.csv"].replace(b"r005", b"r\xc3\x28")}),
    training(files={"data/orders.csv": fd.BASE["data/orders.csv"].rstrip(b"\n") + b",extra\n"}),
    training(files={"data/orders.csv": fd.BASE["data/orders.csv"] + b"o9,r001\n"}),
    training(files={"data/orders.csv": bytes(range(256)) * 8}),
    training(files={"data/orders.csv": DIR}),
    training("--source", "orders={root}/data"),
    scenario("compile", "{root}", "--out", "{root}/out/c", "--dialect", "postgres"),
    scenario("compile", "{root}", "--out", "{root}/out/c", "--dialect", "nosuch"),
    scenario("training-data", "{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/data/spine.csv/x.csv"),
    scenario("materialize", "{root}", "--at", "2024-05-04T00:00:00Z", "--out", "{root}/data/spine.csv/m.csv"),
    scenario("compile", "{root}", "--out", "{root}/data/spine.csv/c"),
    scenario("training-data", "{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/new/deeper/t.csv"),
    scenario("materialize", "{root}", "--at", "2024-05-04T00:00:00Z", "--out", "{root}/new/deeper/m.parquet"),
    materialize(at="0001-01-01T00:00:00+01:00"),
    materialize(at="9999-12-31T23:59:59-01:00"),
    materialize(at="2024-05-04T00:00:00+14:00"),
    training(*PQ, files=_parquet_source("corrupt")),
    training(*PQ, files=_parquet_source("truncated")),
    scenario(
        "training-data",
        "{root}",
        "--spine",
        "{root}/data/spine.parquet",
        "--out",
        "{root}/out/t.csv",
        files={"data/spine.parquet": fd.parquet_bytes("spine", None, "corrupt")},
    ),
    scenario("compile", "{root}", "--out", "{root}/out/c", files={"features.feat": fd.derived_chain(1000)}),
    # a NUL byte in a path, a name or an instant (click's own path check raises ValueError)
    scenario("check", "{root}/\x00"),
    scenario("compile", "{root}", "--out", "{root}/out/a\x00b"),
    scenario("training-data", "{root}", "--spine", "{root}/data/spi\x00ne.csv", "--out", "{root}/out/t.csv"),
    scenario("training-data", "{root}", "--spine", "{root}/data/spine.csv", "--out", "{root}/out/a\x00b.csv"),
    scenario("materialize", "{root}", "--at", "2024-05-04T00:00:00Z", "--out", "{root}/out/m\x00"),
    training("--source", "orders={root}/data/ord\x00ers.csv"),
    training("--timestamp-column", "t\x00s"),
    materialize("--entity", "rest\x00aurant"),
    # the project's files as directories and symbolic links (a loop, to a directory, dangling)
    scenario("check", "{root}", files={"x.feat": DIR}),
    scenario("check", "{root}", files={"featc.toml": DIR}),
    scenario("check", "{root}", files={"y.feat": fd.link("y.feat")}),
    scenario("check", "{root}", files={"featc.toml": fd.link("featc.toml")}),
    training(files={"data/orders.csv": fd.link("orders.csv")}),
    training(files={"data/orders.csv": fd.link(".")}),
    training(files={"out/train.csv": fd.link("train.csv")}),
    training(files={"out/train.csv": fd.link("../data/spine.csv")}),
    materialize(files={"out/m": fd.link("../data")}),
    # messages that mislead (here: only that they are not tracebacks)
    training(files={"data/orders.csv": b""}),
    training(files={"data/orders.csv": fd.BASE["data/orders.csv"].split(b"\n")[0] + b"\n"}),
    training(files={"data/spine.csv": fd.BASE["data/spine.csv"].replace(b"basket_total", b"ts", 1)}),
    training(files={"data/spine.csv": fd.BASE["data/spine.csv"].replace(b"basket_total", b"", 1)}),
    scenario("check", "{root}", files={"features.feat": "\ufeff" + fd.FEAT, "featc.toml": "\ufeff" + fd.TOML}),
    scenario("check", "{root}", files={"featc.toml": '[project]\nname = "\\u001b[2Jx"\n'}),
    # machine-readable check output, clean and with diagnostics
    scenario("check", "{root}", "--format", "json"),
    scenario("check", "{root}", "--format", "github"),
    scenario("check", "{root}", "--format", "json", files={"featc.toml": "[duckdb.sources]\norders = 3\n"}),
    scenario("check", "{root}", "--format", "github", files={"features.feat": fd.retype_feat("total", "string")}),
    # featc.toml: wrong types, unknown keys, bindings to nothing
    scenario("check", "{root}", files={"featc.toml": "[duckdb.sources]\norders = 3\n"}),
    training(files={"featc.toml": '[duckdb.sources]\norders = "data/missing.csv"\nprep_events = "data"\n'}),
    training(files={"featc.toml": '[duckdb.sources]\na.b.c = "data/orders.csv"\n'}),
    # an unwritable --out (effective unless the tests run as root)
    scenario("compile", "{root}", "--out", "{root}/locked/c", readonly=("locked",)),
    scenario(
        "training-data",
        "{root}",
        "--spine",
        "{root}/data/spine.csv",
        "--out",
        "{root}/locked/t.csv",
        readonly=("locked",),
    ),
]


def _with_examples(cases: list[Scenario]) -> Callable[[F], F]:
    """``@example`` for each case, in order (hypothesis runs explicit examples first)."""

    def apply(fn: F) -> F:
        for case in reversed(cases):
            fn = example(case)(fn)
        return fn

    return apply


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@CLI_FUZZ
@given(fd.scenarios())
@_with_examples(ISSUE_CASES)
def test_cli_never_exits_2_nor_touches_inputs(s: Scenario) -> None:
    check(s)


LARGE = {
    "orders field over 2 MB": ("orders", fd.huge_field_csv("orders")),
    "spine field over 2 MB": ("spine", fd.huge_field_csv("spine")),
    "short row after the sniffer sample": ("orders", fd.long_csv("orders", b"o9,r001\n")),
    "long row after the sniffer sample": (
        "orders",
        fd.long_csv("orders", b"o9,r001,c1,1.0,ok,2024-05-01T00:00:00Z,x\n"),
    ),
    "bad byte after the sniffer sample": (
        "orders",
        fd.long_csv("orders", b"o9,r\xff1,c1,1.0,ok,2024-05-01T00:00:00Z\n"),
    ),
    "spine short row after the sample": ("spine", fd.long_csv("spine", b"r001\n")),
}


LARGE_RUNS = [  # materialize reads no spine
    (case, command)
    for case in LARGE
    for command in ("training-data", "materialize")
    if (LARGE[case][0], command) != ("spine", "materialize")
]


@pytest.mark.parametrize(("case", "command"), LARGE_RUNS)
def test_large_files_with_one_defect(case: str, command: str) -> None:
    """Defects DuckDB meets only while reading (a line over its 2 MB limit, a bad row past the 20,480
    rows it sniffs): data errors with the line, not crashes. A few files of a few MB, so not drawn."""
    table, data = LARGE[case]
    files = {f"data/{table}.csv": data}
    check(training(files=files) if command == "training-data" else materialize(files=files))


def test_the_written_out_cases_are_distinct() -> None:
    """Each case of issue 7 above is its own run (a copy-paste slip would silently test one twice)."""
    assert len(set(ISSUE_CASES)) == len(ISSUE_CASES)


def test_the_harness_sees_a_clean_run_as_clean() -> None:
    """The unmodified example passes every command: the fuzzing starts from a working project."""
    for s in [scenario("check", "{root}"), training(), materialize(), scenario("compile", "{root}", "--out", "out")]:
        result, before, after, _ = invoke(s)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert before == after
