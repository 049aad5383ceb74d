"""Serving code imports featc.runtime: it must stay light (standard library only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("sqlglot", "duckdb", "pydantic", "featc.compiler")

PROBE = f"""
import json, sys
import featc.runtime
from featc.runtime import Evaluator, load_module, sqlfn, aggregates, rawrows, evaluator
heavy = {HEAVY!r}
loaded = [m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy)]
print(json.dumps(sorted(loaded)))
"""


def test_runtime_imports_no_compiler_nor_heavy_dependencies() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_generated_module_runs_without_the_compiler(tmp_path: Path) -> None:
    from featc.compiler import ir
    from featc.compiler.emit.python import python_module
    from featc.compiler.types import DataType as T

    project = ir.Project(
        name="tiny",
        entities=(ir.Entity(name="u", keys=(ir.Column(name="uid", type=T.INT),)),),
        sources=(
            ir.Source(
                name="ev",
                table="raw.ev",
                timestamp="at",
                columns=(
                    ir.Column(name="uid", type=T.INT),
                    ir.Column(name="at", type=T.TIMESTAMP),
                ),
            ),
        ),
        groups=(
            ir.Group(
                kind="features",
                name="g",
                entity="u",
                source="ev",
                features=(
                    ir.Feature(
                        name="n",
                        type=T.INT,
                        agg=ir.Aggregate(fn="count", arg=None, window=ir.Window(kind="lifetime")),
                    ),
                ),
            ),
        ),
    )
    path = tmp_path / "tiny_features.py"
    path.write_text(python_module(project))
    probe = PROBE.replace(
        "heavy = ",
        "from datetime import datetime\n"
        f"ev = Evaluator(load_module({str(path)!r}))\n"
        "ev.ingest('ev', [{'uid': 1, 'at': datetime(2024, 1, 1)}])\n"
        "assert ev.features({'uid': 1}, datetime(2024, 1, 2)) == {'g__n': 1}\n"
        "heavy = ",
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []
