"""What `featc compile` writes: SQL per query, the evaluator module and a manifest.

Everything is a pure function of the IR, written with sorted keys and no timestamps, so a
re-run is byte-identical and the output can be committed and diffed. Each file is written
atomically (``outputs``), so an interrupted compile never leaves a truncated file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .compiler import ir
from .compiler.emit.python import python_module
from .compiler.emit.sql import materialize_sql, training_sql
from .compiler.project import fewer_full_collections
from .outputs import prepare_dir, refuse_inputs, write_text


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


@fewer_full_collections()
def artifacts(project: ir.Project, dialect: str, tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """File name -> content. The SQL reads ``tables`` (source -> relation: `[D.sources]`) where given, else `table:`.

    Bindings change only where the SQL reads; the manifest and the evaluator describe the
    definitions, so their hashes are the same for every dialect and binding.
    """
    sql = project.with_tables(tables or {})
    out = {
        "training.sql": training_sql(sql, dialect) + "\n",
        "training_exact.sql": training_sql(sql, dialect, exact=True) + "\n",
        "features.py": python_module(project),
        "manifest.json": json.dumps(manifest(project), indent=2, sort_keys=True) + "\n",
    }
    for entity in project.materialized_entities():
        out[f"materialize_{entity}.sql"] = materialize_sql(sql, entity, dialect) + "\n"
    return dict(sorted(out.items()))


def write_artifacts(
    project: ir.Project,
    dialect: str,
    out: Path,
    inputs: Iterable[Path] = (),
    tables: Mapping[str, str] | None = None,
) -> list[Path]:
    """Writes every artifact into ``out`` (created if missing), each atomically; never over one of ``inputs``."""
    files = artifacts(project, dialect, tables)  # everything is generated before anything is written
    kept = list(inputs)
    refuse_inputs(out, kept)
    prepare_dir(out)
    targets = [out / name for name in files]
    for path in targets:
        refuse_inputs(path, kept)
    for path, content in zip(targets, files.values(), strict=True):
        write_text(path, content)
    return targets
