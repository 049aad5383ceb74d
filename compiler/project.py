"""The pipeline's front door: files -> parse -> resolve -> validate -> hashed IR.

A project directory holds `featc.toml` and any number of `.feat` files (searched
recursively, read in sorted order so that output never depends on the file system).
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ir
from .diagnostics import Diagnostic, did_you_mean
from .parser import parse
from .passes import validate
from .resolve import resolve
from .source import SourceFile
from .sql_parse import clear_cache
from .toml_spans import locate

CONFIG = "featc.toml"
WAREHOUSES = ("postgres", "snowflake", "spark")
"""Engines whose [ENGINE.sources] bind sources to relations (schema.table) rather than files."""
CONFIG_KEYS = {"project": {"name"}, "duckdb": {"sources"}, **{w: {"sources"} for w in WAREHOUSES}}


@dataclass
class Config:
    """What `featc.toml` says: the project name and, per engine, where each source's data is."""

    name: str
    bindings: dict[str, str] = field(default_factory=dict)  # source -> path (embedded DuckDB)
    relations: dict[str, dict[str, str]] = field(default_factory=dict)  # warehouse -> source -> relation


@dataclass
class Compiled:
    project: ir.Project
    diagnostics: list[Diagnostic]
    files: dict[str, SourceFile]
    config: Config
    root: Path | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def compile_files(
    files: list[SourceFile],
    config: Config,
    extra: list[Diagnostic] | None = None,
    config_file: SourceFile | None = None,
) -> Compiled:
    """Runs the whole front end; the IR holds every definition that compiled cleanly."""
    with fewer_full_collections():
        return _compile(files, config, extra, config_file)


def _compile(
    files: list[SourceFile], config: Config, extra: list[Diagnostic] | None, config_file: SourceFile | None
) -> Compiled:
    diagnostics = list(extra or [])
    blocks = []
    for src in files:
        found, diags = parse(src)
        blocks += found
        diagnostics += diags
    found = []  # the last file's blocks too: nothing but ``blocks`` may keep the syntax tree alive
    by_path = {f.path: f for f in files}
    project, diags = resolve(by_path, blocks, config.name)
    del blocks  # the syntax tree is as large as the IR: free it before the passes
    diagnostics += diags
    if config_file is not None:
        by_path[config_file.path] = config_file
        diagnostics += _check_bindings(project, config, config_file)
    diagnostics += validate(project)  # the IR holds only what resolved cleanly, so passes are safe
    return Compiled(project, diagnostics, by_path, config)


_GC_LOCK = threading.Lock()
_GC_USERS = [0]  # compilations under way (threads may compile at once); the last one out restores the thresholds


@contextlib.contextmanager
def fewer_full_collections() -> Iterator[None]:
    """Makes the cyclic garbage collector's full collections rarer while compiling; frees the parse cache after.

    The front end creates millions of small objects that all stay alive (syntax tree, IR), and
    every full collection walks all of them: on a 5 MB project that was a third of `check`'s
    time, and more the larger the project. The emitters (SQL, Python) likewise build large
    sqlglot trees over a long-lived IR: at 5,000 features a third of their time was full
    collections, which made emitting grow faster than the project. Young collections still run
    as usual, so cyclic garbage is still freed; only the walks over long-lived objects become rare.
    """
    with _GC_LOCK:
        if _GC_USERS[0] == 0:
            _GC_SAVED[:] = gc.get_threshold()
            gc.set_threshold(_GC_SAVED[0], _GC_SAVED[1], max(_GC_SAVED[2], 1000))
        _GC_USERS[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_USERS[0] -= 1
            if _GC_USERS[0] == 0:
                gc.set_threshold(*_GC_SAVED)
                clear_cache()


_GC_SAVED: list[int] = []


def load_dir(root: Path, display: Callable[[Path], str] | None = None) -> Compiled:
    """Compiles the project in ``root`` (a directory, or a single `.feat` file).

    ``display`` names each file in diagnostics and spans (default: relative to the working directory).
    """
    show = display or _display
    cfg_file = None
    extra: list[Diagnostic] = []
    if root.is_file():
        files, cfg = [_read(root, extra, show)], Config(root.stem)
    else:
        paths = sorted(p for p in root.rglob("*.feat") if ".venv" not in p.parts and not p.is_dir())
        files = [_read(p, extra, show) for p in paths]
        cfg, cfg_extra, cfg_file = read_config(root, show)
        extra += cfg_extra
        if not paths:
            extra.append(
                Diagnostic.make(
                    "E104",
                    f"no .feat files in `{show(root)}`",
                    None,
                    help="put feature definitions in files ending in .feat",
                )
            )
    compiled = compile_files(files, cfg, extra, cfg_file)
    compiled.root = root if root.is_dir() else root.parent
    return compiled


def _read(path: Path, diagnostics: list[Diagnostic], display: Callable[[Path], str] | None = None) -> SourceFile:
    """The file as UTF-8; bytes that are not UTF-8 are an error at the first of them (read as U+FFFD)."""
    shown = (display or _display)(path)
    try:
        data = path.read_bytes()
    except OSError as e:  # unreadable, vanished, a special file: say so, and compile the rest
        message = f"cannot read `{shown}`: {e.strerror or type(e).__name__}"
        diagnostics.append(Diagnostic.make("E001", message, None, help="check that the file exists and can be read"))
        return SourceFile(shown, "")
    src = SourceFile(shown, data.decode("utf-8", errors="replace"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        bom = 1 if data.startswith(b"\xef\xbb\xbf") else 0  # SourceFile drops the mark: offsets count after it
        at = len(data[: e.start].decode("utf-8", errors="replace")) - bom
        diagnostics.append(
            Diagnostic.make(
                "E001",
                f"`{src.path}` is not valid UTF-8: byte 0x{data[e.start]:02x} at byte offset {e.start}",
                src.span(at, at + 1),
                label="not UTF-8",
                help="save the file as UTF-8 (featc reads .feat files and featc.toml as UTF-8 only)",
            )
        )
    return src


def _absolute(p: Path) -> str:
    """``p`` resolved; as an absolute path when it cannot be (a symlink loop: reading it will say so)."""
    try:
        return str(p.resolve())
    except (OSError, RuntimeError):
        return str(p.absolute())


def _display(p: Path) -> str:
    """Paths in diagnostics: relative to the working directory where possible."""
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # elsewhere; or a symlink loop (RuntimeError before 3.13)
        return str(p)


def read_config(
    root: Path, display: Callable[[Path], str] | None = None
) -> tuple[Config, list[Diagnostic], SourceFile | None]:
    path = root / CONFIG
    name = root.resolve().name
    if not path.exists() and not path.is_symlink():  # a dangling link or a loop is a broken featc.toml, not none
        return Config(name), [], None
    bad: list[Diagnostic] = []
    src = _read(path, bad, display)
    if bad:
        return Config(name), bad, src
    try:
        data = tomllib.loads(src.text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+), column (\d+)", str(e))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        offset = sum(len(s) + 1 for s in src.text.split("\n")[: line - 1]) + col - 1
        msg = str(e).split(" (at")[0]
        return (
            Config(name),
            [
                Diagnostic.make(
                    "E001",
                    f"invalid featc.toml: {msg}",
                    src.span(offset, offset + 1),
                    help="see docs/project.md for the format",
                )
            ],
            src,
        )
    where = ConfigSpans(src)
    diags = _unknown_keys(data, where)
    project, p_diags = _table(data, ("project",), where)
    per_engine = {}
    for engine in ("duckdb", *WAREHOUSES):
        table, t_diags = _table(data, (engine,), where)
        per_engine[engine], s_diags = _table(table, (engine, "sources"), where)
        diags += t_diags + s_diags
    sources = per_engine["duckdb"]
    diags += p_diags
    typed = [(("project", "name"), project["name"])] if "name" in project else []
    bound = [((e, "sources", k), v) for e, table in per_engine.items() for k, v in table.items()]
    for keys, value in [*typed, *bound]:
        if not isinstance(value, str):
            shown = f"[{'.'.join(keys[:-1])}] {keys[-1]}"
            message = f"`{shown}` must be a string, got {type(value).__name__}"
            diags.append(where.error(keys, message, value=True, help=f'quote it, e.g. `{keys[-1]} = "..."`'))
    bindings = {}
    for k, v in sources.items():
        if isinstance(v, str) and "\x00" in v:
            message = f"`[duckdb.sources] {k}` contains a NUL character"
            diags.append(where.error(("duckdb", "sources", k), message, value=True, help="write the path of the file"))
        elif isinstance(v, str):
            bindings[k] = v if re.match(r"^\w+://", v) else _absolute(root / v)
    relations = {w: {k: _relation(w, v, root) for k, v in per_engine[w].items() if isinstance(v, str)} for w in WAREHOUSES}
    project_name = project.get("name")
    return Config(project_name if isinstance(project_name, str) else name, bindings, relations), diags, src


def is_file_path(value: str) -> bool:
    """A Spark source value naming files (``x.parquet``, ``dir/``, ``s3a://...``) rather than a table (``db.table``)."""
    return value.endswith((".parquet", ".pq")) or "/" in value or "\\" in value


def _relation(engine: str, value: str, root: Path) -> str:
    """A warehouse binding as given; a relative Parquet path on Spark is relative to featc.toml, like DuckDB's files."""
    if engine == "spark" and is_file_path(value) and not re.match(r"^\w+://", value):
        return _absolute(root / value)
    return value


class ConfigSpans:
    """Spans in featc.toml by key path, so that a diagnostic points at the key or value it is about."""

    def __init__(self, src: SourceFile) -> None:
        self.src = src
        self.located = locate(src.text)

    def span(self, path: tuple[str, ...], value: bool = False) -> ir.Span:
        """The key (or its value) at ``path``; the closest enclosing key that was located otherwise."""
        for depth in range(len(path), 0, -1):
            found = self.located.get(path[:depth])
            if found is not None:
                start, end = found.value if value else found.key
                return self.src.span(start, end)
        return self.src.span(0, 0)

    def error(self, path: tuple[str, ...], message: str, value: bool = False, help: str = "") -> Diagnostic:
        span = self.span(path, value)
        return Diagnostic.make("E001", f"invalid featc.toml: {message}", span, help=help or "see docs/project.md")


def _table(data: dict[str, Any], path: tuple[str, ...], where: ConfigSpans) -> tuple[dict[str, Any], list[Diagnostic]]:
    """``data[path[-1]]`` when it is a table; a diagnostic (and an empty table) when it is something else."""
    value = data.get(path[-1], {})
    if isinstance(value, dict):
        return value, []
    message = f"`{'.'.join(path)}` must be a table, got {type(value).__name__}"
    return {}, [where.error(path, message, value=True)]


def _unknown_keys(data: dict[str, Any], where: ConfigSpans) -> list[Diagnostic]:
    out = []
    for table, value in data.items():
        allowed = CONFIG_KEYS.get(table)
        if allowed is None:
            out.append(
                Diagnostic.make(
                    "E109",
                    f"unknown table `[{table}]` in featc.toml",
                    where.span((table,)),
                    help=did_you_mean(table, CONFIG_KEYS) or "tables are: [project], [ENGINE.sources] for " + ", ".join(list(CONFIG_KEYS)[1:]),
                )
            )
            continue
        for key in value if isinstance(value, dict) else {}:
            if key not in allowed:
                out.append(
                    Diagnostic.make(
                        "E109",
                        f"unknown key `{key}` in [{table}]",
                        where.span((table, key)),
                        help=did_you_mean(key, allowed) or f"[{table}] takes: {', '.join(sorted(allowed))}",
                    )
                )
    return out


def _check_bindings(project: ir.Project, config: Config, src: SourceFile) -> list[Diagnostic]:
    known = [s.name for s in project.sources]
    where = ConfigSpans(src)
    out = []
    bound = [("duckdb", n) for n in config.bindings] + [(e, n) for e, t in config.relations.items() for n in t]
    for engine, name in bound:
        if name not in known:
            out.append(
                Diagnostic.make(
                    "E101",
                    f"featc.toml binds unknown source `{name}` in [{engine}.sources]",
                    where.span((engine, "sources", name)),
                    help=did_you_mean(name, known) or f"sources are: {', '.join(known)}",
                )
            )
    return out
