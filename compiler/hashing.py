"""Content hashes: a feature's hash changes exactly when its meaning changes.

Meaning is what decides its values: the aggregation, the block filter and refresh, the
source's relation and event time, the entity keys, and (for derived features) the hashes of
what they read. Names, spans, comments, whitespace and unrelated definitions are left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import ir


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _expr(e: ir.Expr | None, hashes: dict[tuple[str, str], str]) -> Any:
    """An expression's dump with feature references replaced by the referenced feature's hash."""
    if e is None:
        return None
    if isinstance(e, ir.FeatureRef):
        return {"ref": hashes[(e.group, e.name)], "type": e.type.value}
    if isinstance(e, ir.Call):
        return {"fn": e.fn, "type": e.type.value, "args": [_expr(a, hashes) for a in e.args]}
    return e.model_dump(mode="json")


def _aggregate_payload(p: ir.Project, g: ir.Group, f: ir.Feature) -> Any:
    assert f.agg is not None and g.source is not None
    src = p.source(g.source)
    return {
        "kind": g.kind,
        "agg": f.agg.model_dump(mode="json"),
        "filter": _expr(g.filter, {}),
        "refresh": g.refresh.model_dump(mode="json"),
        "source": {"table": src.table, "timestamp": src.timestamp},
        "keys": [k.model_dump(mode="json") for k in p.entity(g.entity).keys],
    }


def with_hashes(p: ir.Project) -> ir.Project:
    """The project with every feature's ``hash`` set (derived after what they read)."""
    hashes: dict[tuple[str, str], str] = {}
    for g in p.groups:
        for f in g.features:
            if f.agg is not None:
                hashes[(g.name, f.name)] = _digest(_aggregate_payload(p, g, f))
    derived = {(g.name, f.name): f for g in p.groups if g.kind == "derived" for f in g.features}

    def derived_hash(key: tuple[str, str]) -> str:
        if key not in hashes:
            f = derived[key]
            for ref in ir.walk(f.expr) if f.expr else []:
                if isinstance(ref, ir.FeatureRef) and (ref.group, ref.name) in derived:
                    derived_hash((ref.group, ref.name))
            hashes[key] = _digest({"kind": "derived", "type": f.type.value, "expr": _expr(f.expr, hashes)})
        return hashes[key]

    groups = []
    for g in p.groups:
        feats = tuple(
            f.model_copy(update={"hash": hashes.get((g.name, f.name)) or derived_hash((g.name, f.name))})
            for f in g.features
        )
        groups.append(g.model_copy(update={"features": feats}))
    return p.model_copy(update={"groups": tuple(groups)})
