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
from .compiler.emit.dbt import GENERATED, dbt_package
from .compiler.emit.python import python_module
from .compiler.emit.sql import materialize_sql, training_sql
from .compiler.hashing import SCHEME, fingerprints
from .compiler.lineage import lineage
from .compiler.project import fewer_full_collections, is_file_path
from .outputs import prepare_dir, refuse_inputs, write_text
from .runtime.errors import DataError


def manifest(project: ir.Project) -> dict[str, Any]:
    """The build's inventory: every block and feature with its hashes, type, lineage and metadata, plus the full IR.

    Serving code and `featc plan` read the hashes (compiler/hashing.py); ``hash_scheme`` says how
    they were computed, ``build`` identifies the whole build.
    """
    hashes, graph = fingerprints(project), lineage(project)
    blocks = [
        {
            "block": g.name,
            "kind": g.kind,
            "entity": g.entity,
            "source": g.source,
            "fingerprint": hashes.groups[g.name],
            "description": g.description,
            "owner": g.owner,
            "tags": list(g.tags),
        }
        for g in project.groups
    ]
    features = []
    for column, node in graph.nodes.items():
        h, g, f = hashes.features[column], node.group, node.feature
        reads: dict[str, list[str]] = {}
        for source, col in sorted(graph.source_columns[column]):
            reads.setdefault(source, []).append(col)
        features.append(
            {
                "column": column,
                "block": g.name,
                "feature": f.name,
                "kind": g.kind,
                "entity": g.entity,
                "type": f.type.value,
                "description": f.description,
                "owner": g.owner,
                "hashes": {"data": h.data, "metadata": h.metadata, "parents": h.parents, "fingerprint": h.fingerprint},
                "lineage": {
                    "parents": list(node.parents),
                    "labels": sorted(graph.labels[column] - {column}),
                    "requests": sorted(graph.request_fields[column]),
                    "sources": reads,
                },
            }
        )
    return {
        "featc": __version__,
        "hash_scheme": SCHEME,
        "project": project.name,
        "build": hashes.build,
        "blocks": blocks,
        "features": features,
        "ir": project.model_dump(mode="json"),
    }


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
    return write_files(artifacts(project, dialect, tables), out, inputs)


def write_files(files: Mapping[str, str], out: Path, inputs: Iterable[Path] = ()) -> list[Path]:
    """Writes ``files`` (relative path -> content, all generated before this is called) into ``out``, each atomically."""
    kept = list(inputs)
    refuse_inputs(out, kept)
    prepare_dir(out)
    targets = [out / name for name in files]
    for path in targets:
        refuse_inputs(path, kept)
    for path, content in zip(targets, files.values(), strict=True):
        write_text(path, content)
    return targets


@fewer_full_collections()
def dbt_artifacts(project: ir.Project, dialect: str, tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """The dbt package `featc compile --target dbt` writes: relative path -> content (docs/dbt.md).

    A dbt source is a relation, so a `[spark.sources]` binding to Parquet files is refused.
    """
    files = sorted(name for name, value in (tables or {}).items() if dialect == "spark" and is_file_path(value))
    if files:
        raise DataError(
            f"[spark.sources] binds {', '.join(f'`{n}`' for n in files)} to files; a dbt source is a table: "
            "bind it to db.table for --target dbt"
        )
    return dbt_package(project, dialect, tables)


def write_dbt_artifacts(
    project: ir.Project,
    dialect: str,
    out: Path,
    inputs: Iterable[Path] = (),
    tables: Mapping[str, str] | None = None,
) -> list[Path]:
    """Writes the dbt package into ``out``; removes files an earlier compile generated there and this one does not.

    A features block that was deleted must not leave its model behind for dbt to build. Only files
    that start with featc's "generated" line are removed, so nothing a person wrote is touched.
    """
    files = dbt_artifacts(project, dialect, tables)
    written = write_files(files, out, inputs)
    for path in sorted(p for folder in ("models", "macros", "tests") for p in (out / folder).glob("**/*")):
        name = path.relative_to(out).as_posix()
        if name not in files and path.suffix in (".sql", ".yml") and path.is_file() and _generated(path):
            path.unlink()
    return written


def _generated(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as f:
        return f.readline().rstrip("\n").endswith(GENERATED)
