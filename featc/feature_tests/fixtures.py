"""Reading `*.test.toml` fixtures and checking them against the project (docs/feature-tests.md).

A fixture is data a data scientist writes in two minutes, so every mistake in it must come back
as a located message saying how to fix it, never as a traceback or as a test that checks
nothing. Values go through the input rules of the contract here, once (``runtime.values``,
docs/semantics.md "Inputs"), so DuckDB, a warehouse and the evaluator all get the same canonical
values, and a value that does not fit is reported at its own line before anything runs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..compiler import ir
from ..compiler.diagnostics import did_you_mean, escape
from ..compiler.lineage import lineage
from ..compiler.source import SourceFile
from ..compiler.toml_spans import KeyPath
from ..compiler.types import DataType
from ..inputs import HINTS
from ..runtime.errors import DataError
from ..runtime.values import PARSERS
from .locations import Locator, Position

INSTANT = "t"
"""The key of an expectation that holds its instant."""
NULLS = "nulls"
"""The key that lists the names whose value is null (TOML has no null)."""
MODES = {"served": False, "exact": True}
"""Mode name -> ``exact``; "served" is the contract's default."""
TEST_KEYS = ("name", "mode", "sources", "expect")
HELP = "see docs/feature-tests.md for the format"


@dataclass(frozen=True)
class Check:
    """One expected value: a feature of one spine row, with the line that states it."""

    row: int
    feature: str
    """``block.feature``, as the fixture names it."""
    column: str
    """The output column, ``block__feature``."""
    type: DataType
    expected: Any
    path: KeyPath
    """Where it is written, inside its test's table."""
    line: int = 0


@dataclass(frozen=True)
class Table:
    """The rows of one `table:`: every source reading it reads them all (the contract), on every path."""

    sources: tuple[str, ...]
    columns: dict[str, DataType]
    """The union of those sources' declared columns (their types agree, or the project would not run)."""
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class FeatureTest:
    """One valid test: canonical source rows, the spine and what to check."""

    name: str
    file: str
    line: int
    exact: bool
    tables: list[Table]
    spine: list[dict[str, Any]]
    """Every key column, the instant and every request field (null where the fixture gives none)."""
    spine_types: dict[str, DataType]
    given: list[dict[str, Any]]
    """What each expectation gives for its spine row, to show in a diff."""
    checks: list[Check]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def mode(self) -> str:
        return "exact" if self.exact else "served"


@dataclass(frozen=True)
class FixtureError:
    """A mistake in a fixture, located: rendered like a compiler diagnostic, with a help line."""

    file: str
    line: int
    column: int
    message: str
    help: str
    text: str
    """The source line, for the caret."""

    @classmethod
    def at(cls, file: str, where: Position, message: str, help: str) -> FixtureError:
        return cls(file, where.line, where.column, message, help, where.text)

    def render(self) -> str:
        """As `featc check` shows a diagnostic: ``file:line:col: error: ...``, the line, a caret, the help."""
        if not self.line:
            return f"{escape(self.file)}: error: {escape(self.message)}"
        gutter = " " * len(str(self.line))
        before = escape(self.text[: self.column - 1].replace("\t", " "))
        lines = [
            f"{escape(self.file)}:{self.line}:{self.column}: error: {escape(self.message)}",
            f"{gutter} |",
            f"{self.line} | {escape(self.text.replace(chr(9), ' '))}",
            f"{gutter} | {' ' * len(before)}^",
        ]
        return "\n".join([*lines, f"  = help: {escape(self.help)}"] if self.help else lines)


@dataclass(frozen=True)
class Invalid:
    """A test (or, with no name, a whole file) that cannot run because its fixture is wrong."""

    name: str | None
    file: str
    line: int
    error: FixtureError

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class _Bad(Exception):
    """Internal: the first mistake in one test, at a key path inside that test's table."""

    def __init__(self, path: KeyPath, message: str, help: str = "") -> None:
        super().__init__(message)
        self.path, self.message, self.help = path, message, help


def discover(root: Path) -> list[Path]:
    """Every `*.test.toml` under ``root``, sorted, skipping `.venv` (as `.feat` files are found)."""
    found = (p for p in root.rglob("*.test.toml") if ".venv" not in p.relative_to(root).parts and p.is_file())
    return sorted(found)


def load(path: Path, project: ir.Project) -> list[FeatureTest | Invalid]:
    """The tests of one file, each valid or not; a file that is not a list of tests is one Invalid."""
    try:
        source = SourceFile.read(path, str(path))
    except OSError as e:
        error = FixtureError(str(path), 0, 0, f"cannot read the file: {e.strerror or e}", "", "")
        return [Invalid(None, str(path), 0, error)]
    where = Locator(source)
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as e:
        at = where.at(*_decode_position(str(e)))
        message = f"not valid TOML: {str(e).split(' (at ')[0]}"
        return [Invalid(None, source.path, at.line, FixtureError.at(source.path, at, message, HELP))]
    tables = data.get("test")
    extra = sorted(set(data) - {"test"})
    if extra or not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        problem = f"unknown top-level key `{extra[0]}`" if extra else "no tests in this file"
        at = where.position(None, (extra[0],) if extra else ())
        error = FixtureError.at(source.path, at, problem, "a test starts with a [[test]] table")
        return [Invalid(None, source.path, at.line, error)]
    checker = _Checker(project)
    return [_test(checker, where, i, table) for i, table in enumerate(tables)]


def _decode_position(message: str) -> tuple[int, int]:
    found = re.search(r"at line (\d+), column (\d+)", message)
    return (int(found.group(1)), int(found.group(2))) if found else (1, 1)


def _test(checker: _Checker, where: Locator, index: int, table: dict[str, Any]) -> FeatureTest | Invalid:
    """One test, with the line of each check; or why it cannot run."""
    name = table.get("name")
    shown = name if isinstance(name, str) and name else f"test {index + 1}"
    line = where.line(index, ())
    try:
        test = checker.test(table, shown, where.file, line)
    except _Bad as bad:
        error = FixtureError.at(where.file, where.position(index, bad.path), bad.message, bad.help)
        return Invalid(shown, where.file, line, error)
    return replace(test, checks=[replace(c, line=where.line(index, c.path)) for c in test.checks])


class _Checker:
    """Checks test tables against one project, turning every value into its canonical form."""

    def __init__(self, project: ir.Project) -> None:
        self.project = project
        self.sources = {s.name: s for s in project.sources}
        self.features = {f"{g.name}.{f.name}": (g, f) for g in project.groups for f in g.features}
        self.keys = {k.name: k.type for e in project.entities for k in e.keys}
        self.fields = {f.name: f.type for r in project.requests for f in r.fields}
        self.spine_types = {**self.keys, INSTANT: DataType.TIMESTAMP, **self.fields}
        self.lineage = lineage(project)

    def test(self, table: Mapping[str, Any], name: str, file: str, line: int) -> FeatureTest:
        if INSTANT in {**self.keys, **self.fields}:
            message = f"the project declares a key or request field `{INSTANT}`, the name fixtures give the instant"
            raise _Bad((), message, "rename it in the .feat file to test the features that read it")
        for key in table:
            if key not in TEST_KEYS:
                raise _Bad((key,), f"unknown key `{key}` in a test", _valid(key, TEST_KEYS, "keys of a test"))
        if not isinstance(table.get("name"), str) or not table["name"]:
            raise _Bad(("name",) if "name" in table else (), "a test needs a name", 'add name = "what it shows"')
        sources = self._sources(table.get("sources", {}))
        entries = table.get("expect")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            at: KeyPath = ("expect",) if "expect" in table else ()
            raise _Bad(at, "a test needs expectations", "add [[test.expect]] tables: keys, t and expected values")
        given, checks = [], []
        for row, entry in enumerate(entries):
            values, found = self._expectation(row, entry, ("expect", row))
            given.append(values)
            checks += found
        spine = [{c: values.get(c) for c in self.spine_types} for values in given]
        tables = self._tables(sources)
        return FeatureTest(name, file, line, self._mode(table), tables, spine, self.spine_types, given, checks)

    def _mode(self, table: Mapping[str, Any]) -> bool:
        mode = table.get("mode", "served")
        if not isinstance(mode, str) or mode not in MODES:
            raise _Bad(
                ("mode",), f"unknown mode {mode!r}", 'mode is "served" (the default: values as served) or "exact"'
            )
        return MODES[mode]

    # ------------------------------------------------------------ source rows

    def _sources(self, sources: Any) -> dict[str, list[dict[str, Any]]]:
        if not isinstance(sources, dict):
            raise _Bad(
                ("sources",), "`sources` is a table of rows per source", "write [test.sources] then orders = [...]"
            )
        out = {}
        for name, rows in sources.items():
            src = self.sources.get(name)
            if src is None:
                raise _Bad(("sources", name), f"unknown source `{name}`", _valid(name, self.sources, "sources"))
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                hint = f"write {name} = [ {{column = value, ...}}, ... ] or one [[test.sources.{name}]] table per row"
                raise _Bad(("sources", name), f"the rows of `{name}` are a list of tables", hint)
            out[name] = [self._row(src, row, ("sources", name, i)) for i, row in enumerate(rows)]
        return out

    def _row(self, src: ir.Source, row: Mapping[str, Any], path: KeyPath) -> dict[str, Any]:
        """One source row in canonical form; a column left out is null, but the event time must be written."""
        columns = {c.name: c.type for c in src.columns}
        nulls = _nulls(row, path, columns, f"columns of `{src.name}`")
        out: dict[str, Any] = dict.fromkeys(nulls)
        for key, value in row.items():
            if key == NULLS:
                continue
            if key not in columns:
                raise _Bad((*path, key), f"`{src.name}` has no column `{key}`", _valid(key, columns, "columns"))
            out[key] = _value(value, columns[key], (*path, key), f"column `{key}`")
        if src.timestamp is not None and src.timestamp not in out:
            hint = f"add {src.timestamp} = 2024-05-01T12:00:00Z (or list it in nulls: such a row is never an input)"
            raise _Bad(path, f"this `{src.name}` row has no event time `{src.timestamp}`", hint)
        return out

    def _tables(self, rows: Mapping[str, list[dict[str, Any]]]) -> list[Table]:
        """Rows per `table:`: sources sharing a table read the same rows, on every path (the contract)."""
        groups: dict[str, list[ir.Source]] = {}
        for src in self.project.sources:
            groups.setdefault(src.table.casefold(), []).append(src)
        out = []
        for sources in groups.values():
            columns = {c.name: c.type for s in sources for c in s.columns}
            found = [r for s in sources for r in rows.get(s.name, [])]
            out.append(Table(tuple(s.name for s in sources), columns, found))
        return out

    # ------------------------------------------------------------ expectations

    def _expectation(self, row: int, entry: Mapping[str, Any], path: KeyPath) -> tuple[dict[str, Any], list[Check]]:
        """The spine row an expectation gives, and its checks (``block.feature`` keys, quoted or dotted)."""
        names = [*self.features, INSTANT, *self.keys, *self.fields]
        nulls = _nulls(entry, path, names, "features and spine columns")
        values: dict[str, Any] = {}
        expected: dict[str, tuple[Any, KeyPath]] = {}
        for key, value in entry.items():
            if isinstance(value, dict):  # `block.feature = 1` without quotes is a table in TOML
                for name, v in value.items():
                    _expect_once(expected, f"{key}.{name}", v, (*path, key, name))
            elif "." in key:
                _expect_once(expected, key, value, (*path, key))
            elif key != NULLS:
                values[key] = self._spine_value(key, value, (*path, key))
        for name in nulls:
            if "." in name:
                expected[name] = (None, (*path, NULLS))
            else:
                values[name] = None
        checks = [self._check(row, name, value, at) for name, (value, at) in expected.items()]
        self._complete(values, checks, path)
        return values, checks

    def _spine_value(self, name: str, value: Any, path: KeyPath) -> Any:
        types = {INSTANT: DataType.TIMESTAMP, **self.keys, **self.fields}
        if name not in types:
            valid = _valid(name, types, "spine columns")
            raise _Bad(path, f"unknown column `{name}`: not `t`, an entity key or a request field", valid)
        return _value(value, types[name], path, f"`{name}`")

    def _check(self, row: int, name: str, value: Any, path: KeyPath) -> Check:
        if name not in self.features:
            block = name.partition(".")[0]
            known = [n for n in self.features if n.startswith(f"{block}.")]
            if known:
                raise _Bad(path, f"unknown feature `{name}`", _valid(name, known, f"features of `{block}`"))
            blocks = dict.fromkeys(n.partition(".")[0] for n in self.features)
            at = path if path[-1] == name else path[:-1]  # unquoted `block.feature`: point at the block
            raise _Bad(at, f"unknown block `{block}` in `{name}`", _valid(block, blocks, "blocks with features"))
        group, feature = self.features[name]
        expected = None if value is None else _value(value, feature.type, path, f"`{name}`")
        return Check(row, name, group.column(feature), feature.type, expected, path)

    def _complete(self, values: Mapping[str, Any], checks: list[Check], path: KeyPath) -> None:
        """An expectation gives `t`, the keys of what it checks and the request fields those read."""
        if not checks:
            raise _Bad(path, "this expectation checks no feature", 'add "block.feature" = value, or list one in nulls')
        if INSTANT not in values:
            raise _Bad(path, "this expectation has no `t`", "add t = 2024-05-01T12:00:00Z: the instant to ask at")
        for check in checks:
            needed = [k.name for e in sorted(self.lineage.entities[check.column]) for k in self.project.entity(e).keys]
            needed += sorted(self.lineage.request_fields[check.column])
            missing = [n for n in needed if n not in values]
            if missing:
                what = "request field" if missing[0] in self.fields else "key"
                raise _Bad(
                    path,
                    f"this expectation checks `{check.feature}` but gives no {what} `{missing[0]}`",
                    f"add {missing[0]} = ... (or list it in nulls)",
                )


def _expect_once(expected: dict[str, tuple[Any, KeyPath]], name: str, value: Any, path: KeyPath) -> None:
    """`"block.feature" = 1` and `block.feature = 2` are different keys to TOML, but one feature here."""
    if name in expected:
        raise _Bad(path, f"`{name}` is expected twice in this expectation", "keep one of the two")
    expected[name] = (value, path)


def _nulls(table: Mapping[str, Any], path: KeyPath, valid: Any, what: str) -> list[str]:
    """The names a table lists in ``nulls``: known, and not also given a value."""
    nulls = table.get(NULLS, [])
    if not isinstance(nulls, list) or not all(isinstance(n, str) for n in nulls):
        raise _Bad((*path, NULLS), "`nulls` is a list of names", 'write nulls = ["block.feature", "column"]')
    for name in nulls:
        if name not in valid:
            raise _Bad((*path, NULLS), f"`nulls` names `{name}`, which is unknown here", _valid(name, valid, what))
        block, _, feature = name.partition(".")
        if name in table or (feature and isinstance(table.get(block), dict) and feature in table[block]):
            raise _Bad((*path, NULLS), f"`{name}` is given a value and listed in nulls", "keep one of the two")
    return nulls


def _value(value: Any, type_: DataType, path: KeyPath, what: str) -> Any:
    """``value`` by the input rule of ``type_``; a misfit is located, with the rule's hint."""
    rule = PARSERS.get(type_.value)
    if rule is None:  # a feature whose type is null: only null can be expected
        raise _Bad(path, f"{what} is always null", "list it in nulls")
    if isinstance(value, (dict, list)):
        raise _Bad(path, f"{what} ({type_}): a {type(value).__name__} is not a value", HINTS[type_])
    try:
        return rule(value)
    except DataError as e:
        raise _Bad(path, f"{what} ({type_}): {e}", HINTS[type_]) from None


def _valid(name: str, known: Any, what: str) -> str:
    """Help for an unknown name: the closest known one, and the list."""
    names = list(known)
    close = did_you_mean(name, names)
    listed = f"{what}: {', '.join(names) or 'none'}"
    return f"{close} {listed}" if close else listed


__all__ = ["Check", "FeatureTest", "FixtureError", "Invalid", "Table", "discover", "load"]
