"""What `featc compile` writes: SQL per query, the evaluator module and a manifest.

Everything is a pure function of the IR, written with sorted keys and no timestamps, so a
re-run is byte-identical and the output can be committed and diffed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import __version__
from .compiler import ir
from .compiler.emit.python import python_module
from .compiler.emit.sql import materialize_sql, training_sql


def manifest(project: ir.Project) -> dict[str, Any]:
    """Feature inventory with content hashes, plus the full IR."""
    features = [
        {
            "column": g.column(f),
            "block": g.name,
            "feature": f.name,
            "kind": g.kind,
            "entity": g.entity,
            "source": g.source,
            "type": f.type.value,
            "hash": f.hash,
        }
        for g in project.groups
        for f in g.features
    ]
    return {"featc": __version__, "project": project.name, "features": features, "ir": project.model_dump(mode="json")}


def artifacts(project: ir.Project, dialect: str) -> dict[str, str]:
    """File name -> content."""
    out = {
        "training.sql": training_sql(project, dialect) + "\n",
        "training_exact.sql": training_sql(project, dialect, exact=True) + "\n",
        "features.py": python_module(project),
        "manifest.json": json.dumps(manifest(project), indent=2, sort_keys=True) + "\n",
    }
    for entity in project.materialized_entities():
        out[f"materialize_{entity}.sql"] = materialize_sql(project, entity, dialect) + "\n"
    return dict(sorted(out.items()))


def write_artifacts(project: ir.Project, dialect: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in artifacts(project, dialect).items():
        path = out / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
