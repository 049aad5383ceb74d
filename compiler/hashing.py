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
    return _digest_text(_json(payload))


def _json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _digest_text(text: str) -> str:
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


def _group_payload(g: ir.Group, src: ir.Source, entity: ir.Entity) -> dict[str, Any]:
    """What every aggregate feature of ``g`` shares; dumped once per group, not once per feature."""
    return {
        "kind": g.kind,
        "filter": _expr(g.filter, {}),
        "refresh": g.refresh.model_dump(mode="json"),
        "source": {"table": src.table, "timestamp": src.timestamp},
        "keys": [k.model_dump(mode="json") for k in entity.keys],
    }


def _aggregate_hashes(p: ir.Project) -> dict[tuple[str, str], str]:
    """Hashes of every aggregate feature (features and labels).

    The payload is the group's shared part plus the feature's `agg`; both are serialised once
    (the resolver shares equal aggregates, so one dump serves them all) and joined as
    ``json.dumps`` would have written the merged object: `agg` sorts before every shared key.
    """
    sources = {s.name: s for s in p.sources}  # Project.source() scans: once per feature would be quadratic
    entities = {e.name: e for e in p.entities}
    hashes: dict[tuple[str, str], str] = {}
    aggs: dict[int, str] = {}  # id of an Aggregate (alive throughout) -> its JSON
    for g in p.groups:
        aggregates = [f for f in g.features if f.agg is not None]
        if not aggregates or g.source is None:
            continue
        shared = _group_payload(g, sources[g.source], entities[g.entity])
        assert all(k > "agg" for k in shared), "the joined text would not be sorted"
        tail = "," + _json(shared)[1:]
        for f in aggregates:
            assert f.agg is not None
            text = aggs.get(id(f.agg))
            if text is None:
                text = aggs[id(f.agg)] = _json(f.agg.model_dump(mode="json"))
            hashes[(g.name, f.name)] = _digest_text('{"agg":' + text + tail)
    return hashes


def _derived_hashes(p: ir.Project, hashes: dict[tuple[str, str], str]) -> None:
    """Adds the hash of every derived feature, each after the derived features it reads.

    An explicit stack, not recursion: a chain of thousands of derived features is legal.
    """
    derived = {(g.name, f.name): f for g in p.groups if g.kind == "derived" for f in g.features}
    expanded: set[tuple[str, str]] = set()  # waiting for what they read; met again only in a cycle
    for root in derived:
        stack = [root]
        while stack:
            key = stack[-1]
            if key in hashes:
                stack.pop()
                continue
            f = derived[key]
            refs = [(r.group, r.name) for r in ir.walk(f.expr) if isinstance(r, ir.FeatureRef)] if f.expr else []
            pending = [r for r in dict.fromkeys(refs) if r in derived and r not in hashes]
            if pending:
                assert key not in expanded and not expanded.intersection(pending), "a derived cycle reached hashing"
                expanded.add(key)
                stack.extend(pending)
                continue
            hashes[key] = _digest({"kind": "derived", "type": f.type.value, "expr": _expr(f.expr, hashes)})
            stack.pop()


def with_hashes(p: ir.Project) -> ir.Project:
    """The project with every feature's ``hash`` set (derived after what they read)."""
    hashes = _aggregate_hashes(p)
    _derived_hashes(p, hashes)
    groups = []
    for g in p.groups:
        feats = tuple(f.model_copy(update={"hash": hashes[(g.name, f.name)]}) for f in g.features)
        groups.append(g.model_copy(update={"features": feats}))
    return p.model_copy(update={"groups": tuple(groups)})
