"""Where a DuckDB query spends its time: its most expensive operators, from DuckDB's own profiler.

Used to say *why* featc is slower than the reference when it is: the benchmark stores the top
operators of both queries next to the timings, so the cause is in the results, not in a log.
Operator times are DuckDB's, summed over threads (so they add up to CPU time, not wall-clock).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb

DETAIL_KEYS = ("Conditions", "Groups", "Aggregates", "Projections", "Function", "Join Type")


def _detail(extra: Any) -> str:
    if not isinstance(extra, dict):
        return ""
    parts = []
    for key in DETAIL_KEYS:
        value = extra.get(key)
        if value:
            text = ", ".join(value) if isinstance(value, list) else str(value)
            parts.append(text.replace("\n", " "))
    return "; ".join(parts)[:160]


def _walk(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    out.append(
        {
            "operator": node.get("name", "?"),
            "detail": _detail(node.get("extra_info")),
            "seconds": round(float(node.get("timing", 0.0)), 3),
            "rows": node.get("intermediate_rows", 0),
        }
    )
    for child in node.get("children", []):
        _walk(child, out)


def top_operators(con: duckdb.DuckDBPyConnection, sql: str, n: int = 6) -> dict[str, Any]:
    """Runs ``sql`` once (COPY to a scratch Parquet file) with profiling; returns its top ``n`` operators."""
    with tempfile.TemporaryDirectory() as tmp:
        prof, out = Path(tmp) / "profile.json", Path(tmp) / "out.parquet"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{prof}'")
        con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
        con.execute("PRAGMA disable_profiling")
        data = json.loads(prof.read_text())
    ops: list[dict[str, Any]] = []
    for node in data.get("operator", []):
        _walk(node, ops)
    total = sum(o["seconds"] for o in ops) or 1.0
    ops.sort(key=lambda o: -o["seconds"])
    for o in ops:
        o["share"] = round(o["seconds"] / total, 3)
    return {"operator_seconds": round(total, 3), "top": ops[:n]}
