"""The front end at its edges: byte-order marks, missing braces, unknown aggregations, featc.toml
locations, control characters in diagnostics, zero lags, every cast rule, and a large project.

CLI cases go through click's runner, as a user would meet them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import featc
from featc.cli import main
from featc.compiler.diagnostics import escape, render_all, render_github
from featc.compiler.explain import PRELUDE  # the entity and source every explanation's example uses
from featc.compiler.hashing import fingerprints
from featc.compiler.parser import parse
from featc.compiler.project import Config, compile_files, load_dir
from featc.compiler.source import SourceFile
from featc.compiler.toml_spans import locate
from featc.compiler.types import DataType as T

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest's importlib mode: tests/ is no package
import reference_types

BOM = "\ufeff"


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout + result.stderr


def group(body: str, extra: str = "") -> str:
    return PRELUDE + extra + f"features f {{\n  entity: user\n  source: events\n{body}\n}}\n"


def features(*lines: str) -> str:
    return group("  features {\n" + "".join(f"    {line}\n" for line in lines) + "  }")


def codes(text: str) -> list[str]:
    compiled = compile_files([SourceFile("a.feat", text)], Config("p"))
    return [d.code for d in compiled.diagnostics]


def project(tmp_path: Path, feat: str, toml: str | bytes | None = None) -> Path:
    (tmp_path / "a.feat").write_text(feat, encoding="utf-8")
    if isinstance(toml, bytes):
        (tmp_path / "featc.toml").write_bytes(toml)
    elif toml is not None:
        (tmp_path / "featc.toml").write_text(toml, encoding="utf-8")
    return tmp_path


# ---------------------------------------------------------------- byte-order marks


def test_bom_at_the_start_of_a_feat_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "a.feat"
    path.write_bytes((BOM + features("n = count(*) over 1h")).encode("utf-8"))
    code, out = run("check", path)
    assert code == 0, out
    assert "\ufeff" not in out


def test_bom_does_not_shift_spans_or_columns() -> None:
    src = SourceFile("a.feat", BOM + "entity user {\n  key user_id: int\n}\nentity user {\n  key id: int\n}\n")
    assert not src.text.startswith(BOM)
    compiled = compile_files([src], Config("p"))
    (dup,) = compiled.diagnostics
    assert dup.code == "E102" and dup.span is not None
    assert src.line_col(dup.span.start) == (4, 8)
    assert src.text[dup.span.start : dup.span.end] == "user"
    blocks, _ = parse(src)
    assert src.line_col(blocks[0].name.span.start) == (1, 8)


def test_bom_in_featc_toml_is_accepted(tmp_path: Path) -> None:
    root = project(tmp_path, PRELUDE, (BOM + '[project]\nname = "bommed"\n').encode("utf-8"))
    compiled = load_dir(root)
    assert compiled.diagnostics == [], render_all(compiled.diagnostics, compiled.files)
    assert compiled.config.name == "bommed"


def test_bom_in_featc_toml_keeps_error_locations(tmp_path: Path) -> None:
    root = project(tmp_path, PRELUDE, (BOM + "[project]\nname = 3\n").encode("utf-8"))
    code, out = run("check", root)
    assert code == 1
    assert "featc.toml:2:8: error[E001]" in out


# ---------------------------------------------------------------- missing braces


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (PRELUDE + "features f {\n  entity: user\n  source: events\n  features {\n    n = count(*) over 1h\n  }\n", 15),
        (PRELUDE + "features f {\n  entity: user\n  source: events\n  features {\n    n = count(*) over 1h\n}\n", 18),
        (
            PRELUDE.replace("    kind: string\n  }\n}", "    kind: string\n}")
            + "features f {\n  entity: user\n  source: events\n  features {\n    n = count(*) over 1h\n  }\n}\n",
            8,
        ),
        (
            PRELUDE
            + "features f {\n  entity: user\n  source: events\n  features {\n    n = count(*) over 1h\n  }\n\n"
            + "features g {\n  entity: user\n  source: events\n  refresh: every 1h\n  features {\n    m = sum(amount)\n  }\n}\n"
            + "derived d {\n  entity: user\n  features {\n    x = f.n + g.m\n  }\n}\n",
            15,
        ),
    ],
    ids=["end_of_features_block", "nested_features", "nested_columns", "middle_of_file"],
)
def test_missing_brace_is_one_e005_at_the_unclosed_brace(text: str, line: int) -> None:
    src = SourceFile("a.feat", text)
    compiled = compile_files([src], Config("p"))
    assert [d.code for d in compiled.diagnostics] == ["E005"], render_all(compiled.diagnostics, compiled.files)
    (d,) = compiled.diagnostics
    assert d.span is not None and src.text[d.span.start] == "{"
    assert src.line_col(d.span.start)[0] == line


def test_blocks_after_a_missing_brace_still_compile() -> None:
    text = features("n = count(*) over 1h").rstrip().removesuffix("}") + "\nfeatures g {\n  entity: user\n"
    text += "  source: events\n  features {\n    m = count(*) over 1d\n  }\n}\n"
    compiled = compile_files([SourceFile("a.feat", text)], Config("p"))
    assert [d.code for d in compiled.diagnostics] == ["E005"]
    assert [g.name for g in compiled.project.groups] == ["f", "g"]


def test_missing_brace_through_the_cli_prints_one_error(tmp_path: Path) -> None:
    text = PRELUDE + "features f {\n  entity: user\n  source: events\n  features {\n    n = count(*) over 1h\n  }\n\n"
    text += "features g {\n  entity: user\n  source: events\n  refresh: every 10m lag 0m\n  features {\n"
    text += "    m = count(*) over 1h\n  }\n}\n"
    code, out = run("check", project(tmp_path, text))
    assert code == 1
    assert out.count("error[") == 1 and "warning[" not in out
    assert "a.feat:15:12: error[E005]: `features f` is never closed" in out


# ---------------------------------------------------------------- unknown aggregations


@pytest.mark.parametrize(
    ("expr", "name", "close"),
    [
        ("median(amount) over 1d", "median", ""),
        ("stddev(amount)", "stddev", ""),
        ("variance(amount) filter (where amount > 0) over 1h", "variance", ""),
        ("avrg(amount) over 1h", "avrg", "did you mean `avg`?"),
        ("count_distinc(kind)", "count_distinc", "did you mean `count_distinct`?"),
        ("string_agg(kind, ',')", "string_agg", ""),
    ],
)
def test_unknown_aggregation_is_named_with_the_known_ones(expr: str, name: str, close: str) -> None:
    with pytest.raises(featc.CompileError) as e:
        featc.compile_text(features(f"x = {expr}"))
    (d,) = e.value.diagnostics
    assert (d.code, d.message) == ("E103", f"unknown aggregation `{name}`")
    assert d.help.startswith(close)
    assert d.help.endswith("aggregations are: count, count_distinct, sum, avg, min, max, first, last")


def test_unknown_aggregation_in_a_label_block() -> None:
    label = "label l {\n  entity: user\n  source: events\n  features {\n    y = median(amount) over next 1d\n  }\n}\n"
    assert codes(PRELUDE + label) == ["E103"]


@pytest.mark.parametrize("expr", ["amount * 2", "abs(amount)", "sum(amount) / count(*)", "now()", "concat(kind, kind)"])
def test_other_non_aggregations_keep_e108(expr: str) -> None:
    assert codes(features(f"x = {expr}")) == ["E108"]


def test_unknown_aggregation_through_the_cli(tmp_path: Path) -> None:
    code, out = run("check", project(tmp_path, features("typical = median(amount) over 1d")))
    assert code == 1
    assert "error[E103]: unknown aggregation `median`" in out and "E108" not in out
    assert "did you mean `min`" not in out


# ---------------------------------------------------------------- featc.toml locations


@pytest.mark.parametrize(
    ("toml", "where", "message"),
    [
        ("[project]\nname = 3\n", "2:8", "`[project] name` must be a string, got int"),
        (
            '[project]\nname = "p"\n\n[duckdb.sources]\nevents = 1\n',
            "5:10",
            "`[duckdb.sources] events` must be a string",
        ),
        ('[project]\nname = "p"\n[duckdb]\nfoo = "x"\n', "4:1", "unknown key `foo` in [duckdb]"),
        ("# sources\nduckdb.sources.events = 1\n", "2:25", "`[duckdb.sources] events` must be a string"),
        ('duckdb = { sources = { events = 1 } }\n[project]\nname = "p"\n', "1:33", "`[duckdb.sources] events`"),
        ('[duckdb]\n  sources = "x"\n', "2:13", "`duckdb.sources` must be a table, got str"),
        ('name = "x"\n\n[projct]\nname = "p"\n', "1:1", "unknown table `[name]`"),
        ('[project]\nname = "p"\n\n[projct]\nname = "p"\n', "4:2", "unknown table `[projct]`"),
        ('[duckdb.sources]\n"evnts" = "e.csv"\n', "2:1", "binds unknown source `evnts`"),
        (
            '[project]\nname = """a\nb"""\n[duckdb.sources.events]\npath = "e.csv"\n',
            "4:1",
            "must be a string, got dict",
        ),
    ],
    ids=[
        "project_name_int",
        "source_binding_int",
        "unknown_duckdb_key",
        "dotted_key",
        "inline_table",
        "sources_not_a_table",
        "top_level_key",
        "unknown_table",
        "quoted_unknown_source",
        "binding_is_a_table",
    ],
)
def test_featc_toml_errors_point_at_the_key(tmp_path: Path, toml: str, where: str, message: str) -> None:
    code, out = run("check", project(tmp_path, PRELUDE, toml))
    assert code == 1, out
    line = next(x for x in out.splitlines() if message in x)
    assert f"featc.toml:{where}: error[" in line, out


def test_toml_locator_covers_headers_dotted_keys_inline_tables_arrays_and_strings() -> None:
    text = (
        '# c\n[a]\nx = 1  # n\n"q k" = \'v\'\nml = """one\n\\""" two"""\narr = [1, [2, 3],\n  "}", # c\n]\n'
        'd.e = { f = 1, g = { h = "}" } }\nwhen = 1979-05-27 07:32:00Z\n[[t]]\nk = 1\n[[t]]\nk = 2\n'
    )
    found = locate(text)

    def key(*path: str | int) -> str:
        start, end = found[path].key
        return text[start:end]

    def value(*path: str | int) -> str:
        start, end = found[path].value
        return text[start:end]

    assert (key("a"), value("a")) == ("a", "[a]")
    assert (key("a", "x"), value("a", "x")) == ("x", "1")
    assert (key("a", "q k"), value("a", "q k")) == ('"q k"', "'v'")
    assert value("a", "ml") == '"""one\n\\""" two"""'
    assert value("a", "arr", 1, 1) == "3" and value("a", "arr", 2) == '"}"'
    assert (key("a", "d", "e", "g", "h"), value("a", "d", "e", "g", "h")) == ("h", '"}"')
    assert value("a", "when") == "1979-05-27 07:32:00Z"
    assert value("t", 1, "k") == "2"


# ---------------------------------------------------------------- control characters


def test_escape_writes_controls_and_bidi_as_escapes() -> None:
    assert escape("a\x1b[31mb\x07\x7f\x9b\u202e\u2066c\td") == "a\\x1b[31mb\\x07\\x7f\\x9b\\u202e\\u2066c\\x09d"
    assert escape("plain ünïcode ✓") == "plain ünïcode ✓"
    assert escape("zero\u200bwidth\ufeff") == "zero\\u200bwidth\\ufeff"


def test_a_byte_order_mark_inside_a_file_is_shown_as_an_escape(tmp_path: Path) -> None:
    code, out = run("check", project(tmp_path, PRELUDE + "\ufefffeatures f {\n}\n"))
    assert code == 1 and "found `\\ufeff`" in out and "\ufeff" not in out


def test_control_characters_are_escaped_in_text_diagnostics_and_the_caret_lines_up(tmp_path: Path) -> None:
    text = features("x = sum(kind) filter (where kind = '\x1b[2J\u202e') over 1h", "y = count(nope\x1b)")
    code, out = run("check", project(tmp_path, text))
    assert code == 1
    assert "\x1b" not in out and "\u202e" not in out
    assert "'\\x1b[2J\\u202e'" in out
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if "^" in line and "|" in line and i > 0:
            caret = line.index("^")
            source = lines[i - 1]
            assert source[caret] not in " \\", (source, line)
    escaped = [lines[i - 1 : i + 1] for i, line in enumerate(lines) if "nope" in lines[i - 1] and "^" in line]
    assert escaped, out


def test_control_characters_in_an_unexpected_character_message(tmp_path: Path) -> None:
    code, out = run("check", project(tmp_path, PRELUDE + "\x1b[31mfeatures f {\n}\n"))
    assert code == 1
    assert "\x1b" not in out and "found `\\x1b`" in out
    source, carets = next((a, b) for a, b in zip(out.splitlines(), out.splitlines()[1:], strict=False) if "^" in b)
    assert source.index("\\x1b") == carets.index("^")


def test_control_characters_github_format_escaped_json_kept(tmp_path: Path) -> None:
    root = project(tmp_path, PRELUDE + "\x1b[31mfeatures f {\n}\n")
    code, out = run("check", root, "--format", "github")
    assert code == 1 and "\x1b" not in out and "\\x1b" in out
    result = CliRunner().invoke(main, ["check", str(root), "--format", "json"])
    (d,) = json.loads(result.stdout)
    assert "\x1b" in d["message"]


def test_github_rendering_escapes_bidi_in_messages() -> None:
    compiled = compile_files([SourceFile("a.feat", PRELUDE + "\u202efeatures f {\n}\n")], Config("p"))
    out = render_github(compiled.diagnostics, compiled.files)
    assert "\u202e" not in out and "\\u202e" in out


# ---------------------------------------------------------------- refresh lag


def test_zero_lag_is_no_lag(tmp_path: Path) -> None:
    text = group("  refresh: every 10m lag 0m\n  features {\n    n = count(*) over 1h\n  }")
    code, out = run("check", project(tmp_path, text))
    assert code == 0, out
    g = featc.compile_text(text).group("f")
    assert (g.refresh.mode, g.refresh.every_us, g.refresh.lag_us) == ("batch", 600_000_000, 0)
    no_lag = featc.compile_text(group("  refresh: every 10m\n  features {\n    n = count(*) over 1h\n  }"))
    assert no_lag.group("f").refresh == g.refresh


@pytest.mark.parametrize("refresh", ["every 0m", "every 0m lag 1m", "every 0s lag 0s"])
def test_zero_cadence_stays_an_error(refresh: str) -> None:
    assert codes(group(f"  refresh: {refresh}\n  features {{\n    n = count(*) over 1h\n  }}")) == ["E003"]


def test_zero_window_stays_an_error() -> None:
    assert codes(features("n = count(*) over 0m")) == ["E003"]


# ---------------------------------------------------------------- casts

# The contract's cast rules are the reference's (tests/reference_types.py, written from
# docs/semantics.md), not the compiler's, so that a wrongly allowed or refused cast fails.
ALLOWED = reference_types.CASTS
VALUE_OF = {  # a row-level value of each type
    T.BOOL: "flag",
    T.INT: "qty",
    T.DOUBLE: "amount",
    T.STRING: "kind",
    T.TIMESTAMP: "at",
    T.DATE: "day",
    T.NULL: "NULL",
}
SQL_TYPE = {T.BOOL: "BOOLEAN", T.INT: "BIGINT", T.DOUBLE: "DOUBLE", T.STRING: "VARCHAR", T.TIMESTAMP: "TIMESTAMP"}
SQL_TYPE[T.DATE] = "DATE"
CAST_PRELUDE = PRELUDE.replace("    kind: string\n", "    kind: string\n    qty: int\n    flag: bool\n    day: date\n")
PAIRS = [(a, b) for a in T for b in T if b != T.NULL]


def allowed(source: T, target: T) -> bool:
    return source == target or source == T.NULL or (source, target) in ALLOWED


def cast_case(source: T, target: T) -> str:
    expr = f"last(CAST({VALUE_OF[source]} AS {SQL_TYPE[target]}))"
    return CAST_PRELUDE + f"features f {{\n  entity: user\n  source: events\n  features {{\n    x = {expr}\n  }}\n}}\n"


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_every_cast_pair_compiles_or_gets_e202(source: T, target: T) -> None:
    compiled = compile_files([SourceFile("a.feat", cast_case(source, target))], Config("p"))
    if allowed(source, target):
        assert compiled.diagnostics == [], render_all(compiled.diagnostics, compiled.files)
        (f,) = compiled.project.group("f").features
        assert f.type == target
    else:
        (d,) = compiled.diagnostics
        assert (d.code, d.message) == ("E202", f"CAST from {source} to {target} is not allowed")
        assert d.label == f"{source} -> {target}"


def test_a_refused_cast_through_the_cli(tmp_path: Path) -> None:
    code, out = run("check", project(tmp_path, cast_case(T.STRING, T.INT)))
    assert code == 1 and "error[E202]: CAST from string to int is not allowed" in out


# ---------------------------------------------------------------- size


def test_a_one_megabyte_project_checks_cleanly(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed
    from bench.check_scaling import generate

    size, units = generate(tmp_path / "big", 1)
    assert size >= 1_000_000
    compiled = load_dir(tmp_path / "big")
    assert compiled.diagnostics == [], render_all(compiled.diagnostics[:5], compiled.files)
    assert len(compiled.project.groups) == 2 * units
    assert sum(len(g.features) for g in compiled.project.groups) == 5 * units


# ---------------------------------------------------------------- hashes kept through the speed work

# Fingerprints of tests/cases/valid/labels.feat (features, labels and derived features) under hash
# scheme 2 (compiler/hashing.py): speed work on the front end must not change a single one.
LABELS_HASHES = {
    "driver_signals.busy": "b78a97906b002d05",
    "driver_signals.fare_per_trip": "85d55ebf68c9b324",
    "driver_stats.fare_7d": "697edf945a653748",
    "driver_stats.rating_7d": "ccd133ff644af3fd",
    "driver_stats.trips_7d": "549d7decac086d84",
    "outcome.distinct_fares": "dea434f642bcbf07",
    "outcome.first_fare_1d": "8b4ba6bf2d7ede39",
    "outcome.last_rating_1d": "c68773ab14110821",
    "outcome.trips_next_1d": "43a6a6a29a427adf",
}


def test_hash_values_are_unchanged() -> None:
    path = Path(__file__).parent / "cases" / "valid" / "labels.feat"
    p = compile_files([SourceFile("labels.feat", path.read_text())], Config("labels")).project
    hashes = fingerprints(p).features
    assert {f"{g.name}.{f.name}": hashes[g.column(f)].fingerprint for g in p.groups for f in g.features} == LABELS_HASHES


def test_repeated_expressions_over_sources_of_other_types_are_lowered_apart() -> None:
    """The lowering memo keys on the named columns' types: `sum(amount)` is int over one source, double over another."""
    text = (
        PRELUDE
        + "source other {\n  timestamp: at\n  columns {\n    user_id: int\n    at: timestamp\n    amount: int\n  }\n}\n"
    )
    text += "features a {\n  entity: user\n  source: events\n  features {\n    s = sum(amount)\n  }\n}\n"
    text += "features b {\n  entity: user\n  source: other\n  features {\n    s = sum(amount)\n  }\n}\n"
    text += "features c {\n  entity: user\n  source: events\n  features {\n    s = sum(kind)\n  }\n}\n"
    text += "features d {\n  entity: user\n  source: events\n  features {\n    s = sum(kind)\n  }\n}\n"
    compiled = compile_files([SourceFile("a.feat", text)], Config("p"))
    assert [(d.code, d.span.start if d.span else 0) for d in compiled.diagnostics] == [
        ("E201", text.index("sum(kind)")),
        ("E201", text.rindex("sum(kind)")),
    ]
    types = {g.name: g.features[0].type for g in compiled.project.groups if g.features}
    assert types == {"a": T.DOUBLE, "b": T.INT}


# ---------------------------------------------------------------- encodings


def test_a_feat_file_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "a.feat").write_bytes(PRELUDE.encode() + b"# caf\xe9\n")
    code, out = run("check", tmp_path)
    assert code == 1 and "Traceback" not in out
    assert "a.feat:15:6: error[E001]: `" in out and "is not valid UTF-8: byte 0xe9" in out


def test_featc_toml_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    root = project(tmp_path, PRELUDE, BOM.encode() + b'[project]\nname = "x\xff"\n')
    code, out = run("check", root)
    assert code == 1
    assert "featc.toml:2:10: error[E001]:" in out and "byte 0xff" in out


# ---------------------------------------------------------------- long derived chains


def test_a_chain_of_thousands_of_derived_features_resolves_and_hashes() -> None:
    n = 3000
    block = "derived d{i} {{\n  entity: user\n  features {{\n    x = {expr}\n  }}\n}}\n"
    chain = "".join(block.format(i=i, expr=f"d{i + 1}.x + 1") for i in range(n)) + block.format(i=n, expr="f.n")
    compiled = compile_files([SourceFile("a.feat", features("n = count(*) over 1h") + chain)], Config("p"))
    assert compiled.diagnostics == []
    hashes = {h.fingerprint for h in fingerprints(compiled.project).features.values()}
    assert len(hashes) == n + 2


def test_a_directory_named_like_a_feat_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "x.feat").mkdir()
    code, out = run("check", project(tmp_path, PRELUDE))
    assert code == 0, out


def test_a_feat_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    root = project(tmp_path, PRELUDE)
    (root / "gone.feat").symlink_to(root / "missing.feat")
    code, out = run("check", root)
    assert code == 1 and "Traceback" not in out
    assert "error[E001]: cannot read `" in out and "gone.feat`" in out


def test_a_feat_symlink_loop_is_an_error(tmp_path: Path) -> None:
    root = project(tmp_path, PRELUDE)
    (root / "loop.feat").symlink_to(root / "loop.feat")
    code, out = run("check", root)
    assert code == 1 and "Traceback" not in out and "cannot read `" in out


def test_a_nul_character_in_a_binding_is_a_located_error(tmp_path: Path) -> None:
    code, out = run("check", project(tmp_path, PRELUDE, '[duckdb.sources]\nevents = "a\\u0000b.csv"\n'))
    assert code == 1 and "Traceback" not in out
    assert "featc.toml:2:10: error[E001]: invalid featc.toml: `[duckdb.sources] events` contains a NUL" in out


@pytest.mark.parametrize(
    "gap",
    [" " * 5000, "\t \r" * 2000, "# " + "# -- " * 2000 + "\n    ", "\n" * 3000],
    ids=["spaces", "mixed_blanks", "comment_of_markers", "newlines"],
)
def test_long_blank_runs_before_a_missing_token_fail_at_once(gap: str) -> None:
    """Blanks before an expected `=` or `:` are scanned once; a backtracking scanner never returned here."""
    text = f"entity e {{\n  key id{gap}int\n}}\nfeatures f {{\n  entity: e\n  features {{\n    x{gap}y\n  }}\n}}\n"
    compiled = compile_files([SourceFile("a.feat", text)], Config("a"))
    assert "E001" in {d.code for d in compiled.errors}


@pytest.mark.parametrize("target", ["missing.toml", "featc.toml"], ids=["dangling", "loop"])
def test_a_featc_toml_link_that_leads_nowhere_is_an_error(tmp_path: Path, target: str) -> None:
    """A broken featc.toml must not be read as no featc.toml: its bindings would silently be lost."""
    (tmp_path / "a.feat").write_text("entity e {\n  key id: int\n}\n")
    (tmp_path / "featc.toml").symlink_to(tmp_path / target)
    code, err = run("check", tmp_path)
    assert code == 1 and "cannot read" in err and "featc.toml" in err, err
