"""Whether the store serves this build: at start-up (refuse other definitions' state) and at /ready.

Every served block reads the namespace of its serving fingerprint (docs/serving.md, "Deploys").
At start-up, a block with no state in its namespace while state exists for other fingerprints of
the same block means the store was written for other definitions: the server refuses to start,
since serving that block would be refused (NotServed) or, worse, tempt someone to point it at the
old state. A block with no state at all yet is fine: the server starts, and /ready says it is not
ready until the block is loaded.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError
from ..online import OnlineStore


def _batch(store: OnlineStore) -> set[str]:
    return {
        g.name
        for g in store.spec.groups
        if g.kind == "features" and g.refresh.mode == "batch" and g.refresh.every_us > 0
    }


def _fingerprints(store: OnlineStore) -> dict[str, str]:
    return {g.name: g.fingerprint for g in store.spec.groups}


def startup_check(store: OnlineStore) -> list[str]:
    """The blocks with no state yet (notes for the operator); raises DataError if the store holds
    state of these blocks for other definitions only. Raises StoreError if the store is unreachable."""
    namespaces = store.namespaces()
    have = store.state.ready(namespaces.values())
    missing = [block for block, namespace in namespaces.items() if namespace not in have]
    if not missing:
        return []
    ours = _fingerprints(store)
    others: dict[str, set[str]] = {}
    for meta in store.state.namespaces(store.namespace_prefix).values():
        block = meta.get("block", "")
        if block in missing and meta.get("fingerprint") != ours[block]:
            others.setdefault(block, set()).add(meta.get("fingerprint", "?"))
    if others:
        listed = "; ".join(
            f"{block} (this build: {ours[block]}; the store: {', '.join(sorted(fps))})"
            for block, fps in sorted(others.items())
        )
        raise DataError(
            f"the store holds state for other definitions of block(s) {listed} and none for this build "
            f"({store.build}): serving it would be training/serving skew. Load this build's state first "
            "(featc materialize BUILD --store for batch views, featc ingest for continuous ones), then start "
            "the server; the old build's server keeps serving its own namespaces meanwhile"
        )
    return missing


def readiness(store: OnlineStore) -> tuple[bool, dict[str, Any]]:
    """(ready, per block what is served) from the store, now; raises StoreError if it is unreachable."""
    namespaces = store.namespaces()
    have = store.state.ready(namespaces.values())
    batch = _batch(store)
    ours = _fingerprints(store)
    blocks: dict[str, Any] = {}
    for block, namespace in namespaces.items():
        entry: dict[str, Any] = {"kind": "batch" if block in batch else "continuous", "ready": namespace in have}
        if namespace not in have:
            how = "featc materialize --store" if block in batch else "featc ingest (or an empty ingest call)"
            entry["reason"] = f"no state for this build's definition (fingerprint {ours[block]}): load it with {how}"
        elif block in batch:
            landed = store.boundaries(block)
            if landed:
                entry["newest_boundary"] = landed[-1]
            else:
                entry.update(ready=False, reason="no boundary has landed: featc materialize --store")
        blocks[block] = entry
    return all(b["ready"] for b in blocks.values()), blocks
