"""Hashes that cannot forget: data, metadata and parents kept apart; every IR field hashed or declared."""

from __future__ import annotations

import collections

import pytest

import featc
from featc.compiler import ir
from featc.compiler.hashing import UNHASHED, FeatureHashes, dump, fingerprints, needs_rebuild

BASE = """
entity user {
  key user_id: int
}
source events {
  table: app.events
  timestamp: at
  columns {
    user_id: int
    at: timestamp
    amount: double
    kind: string
    note: string
  }
}
request r {
  b: double
}
features f {
  entity: user
  source: events
  filter: kind <> 'x'
  refresh: every 1h
  features {
    total = sum(amount) over 1d
    n = count(*) over 1h
  }
}
derived d {
  entity: user
  features {
    ratio = r.b / f.total
  }
}
label l {
  entity: user
  source: events
  features {
    next_total = sum(amount) over next 1d
  }
}
"""


def hashes(text: str) -> dict[str, FeatureHashes]:
    return dict(fingerprints(featc.compile_text(text)).features)


def changed(text: str, old: str, new: str) -> dict[str, FeatureHashes]:
    assert old in text, old
    return hashes(text.replace(old, new))


def test_hashes_are_stable_and_distinct() -> None:
    h = hashes(BASE)
    assert h == hashes(BASE)
    prints = [x.fingerprint for x in h.values()]
    assert len(set(prints)) == len(prints)
    assert all(len(v) == 16 for x in h.values() for v in (x.data, x.metadata, x.parents, x.fingerprint))


def test_whitespace_comments_and_unrelated_definitions_do_not_change_hashes() -> None:
    noisy = BASE.replace("total = sum(amount) over 1d", "total   =   SUM( amount )   over 1d   # revenue")
    noisy = "# header\n" + noisy + "\nfeatures other {\n entity: user\n source: events\n features {\n z = count(*)\n }\n}\n"
    h, n = hashes(BASE), hashes(noisy)
    assert all(n[k] == v for k, v in h.items())


def test_reordering_blocks_does_not_change_hashes() -> None:
    head, rest = BASE.split("features f {")
    fblock, dblock = ("features f {" + rest).split("derived d {")
    assert hashes(head + "derived d {" + dblock + fblock) == hashes(BASE)


@pytest.mark.parametrize(
    "old, new",
    [
        ("sum(amount) over 1d", "sum(amount) over 2d"),
        ("sum(amount) over 1d", "avg(amount) over 1d"),
        ("sum(amount) over 1d", "sum(amount) filter (where kind = 'a') over 1d"),
        ("sum(amount) over 1d", "sum(amount + 1) over 1d"),
        ("filter: kind <> 'x'", "filter: kind <> 'y'"),
        ("refresh: every 1h", "refresh: every 2h"),
        ("refresh: every 1h", "refresh: every 1h lag 5m"),
        ("refresh: every 1h", "refresh: continuous"),
        ("table: app.events", "table: app.events_v2"),
        ("timestamp: at", "timestamp: at2"),
        ("    amount: double", "    amount: int"),
        ("user_id: int", "user_id: string"),
    ],
)
def test_a_data_change_changes_the_data_hash_and_its_readers_through_parents(old: str, new: str) -> None:
    base = BASE.replace("    note: string\n", "    note: string\n    at2: timestamp\n")
    h, c = hashes(base), changed(base, old, new)
    assert c["f__total"].data != h["f__total"].data
    assert c["f__total"].fingerprint != h["f__total"].fingerprint
    ratio, was = c["d__ratio"], h["d__ratio"]
    if old not in ("user_id: int", "    amount: double"):  # the reader's own entity keys, the parent's type as read
        assert ratio.data == was.data, "a parent's change is not the reader's own"
    assert ratio.parents != was.parents and ratio.fingerprint != was.fingerprint


def test_a_derived_expression_change_is_its_own_data_only() -> None:
    h, c = hashes(BASE), changed(BASE, "ratio = r.b / f.total", "ratio = r.b * f.total")
    assert c["d__ratio"].data != h["d__ratio"].data
    assert c["d__ratio"].parents == h["d__ratio"].parents
    assert c["f__total"] == h["f__total"]


def test_a_change_to_one_feature_leaves_its_siblings_alone() -> None:
    h, c = hashes(BASE), changed(BASE, "count(*) over 1h", "count(*) over 2h")
    assert c["f__n"].data != h["f__n"].data
    assert c["f__total"] == h["f__total"] and c["d__ratio"] == h["d__ratio"]


def test_a_new_or_unread_source_column_changes_nothing() -> None:
    h = hashes(BASE)
    assert changed(BASE, "    note: string\n", "    note: string\n    extra: int\n") == h
    assert changed(BASE, "    note: string", "    note: int") == h  # no feature reads `note`


@pytest.mark.parametrize(
    "old, new",
    [
        ("features f {\n", "#: Spend per user.\nfeatures f {\n  owner: risk\n  tags: [money]\n"),
        ("    total = sum", "    #: Total spend in a day.\n    total = sum"),
    ],
)
def test_metadata_changes_only_the_metadata_hash(old: str, new: str) -> None:
    before, after = featc.compile_text(BASE), featc.compile_text(BASE.replace(old, new))
    h, c = fingerprints(before), fingerprints(after)
    assert c.features["f__total"].metadata != h.features["f__total"].metadata
    for column, was in h.features.items():
        assert (c.features[column].data, c.features[column].fingerprint) == (was.data, was.fingerprint)
    assert c.groups == h.groups and c.build == h.build


def test_a_rename_keeps_data_and_fingerprints_and_changes_the_build() -> None:
    h = fingerprints(featc.compile_text(BASE))
    c = fingerprints(featc.compile_text(BASE.replace("total = sum", "spend = sum").replace("f.total", "f.spend")))
    assert c.features["f__spend"] == h.features["f__total"]
    assert c.features["d__ratio"] == h.features["d__ratio"], "a parent's name is not the reader's data"
    assert c.groups == h.groups
    assert c.build != h.build, "the build's output columns changed"


def test_metadata_reaches_the_ir() -> None:
    text = BASE.replace("features f {\n", "#: Spend.\n#: Per user.\nfeatures f {\n  owner: 'Risk team'\n  tags: [a, b-c]\n")
    g = featc.compile_text(text.replace("    n = count", "    #: Orders.\n    n = count")).group("f")
    assert (g.description, g.owner, g.tags) == ("Spend.\nPer user.", "Risk team", ("a", "b-c"))
    assert [f.description for f in g.features] == ["", "Orders."]


def test_needs_rebuild_is_one_rule() -> None:
    assert needs_rebuild(None, "a") and needs_rebuild("a", "b")
    assert not needs_rebuild("a", "a") and not needs_rebuild("a", None)


# ---------------------------------------------------------------- nothing forgotten


ABSTRACT = (ir.Node, ir.Described, ir.Block)


def _concrete_classes() -> list[type]:
    """Every IR class: the models below ``ir.Node`` and the leaves."""
    found, stack = list(ir.LEAVES), [ir.Node]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls not in ABSTRACT:
            found.append(cls)
    return found


def _instances(project: ir.Project) -> dict[type, object]:
    """One node of each IR class found in ``project`` (spans included)."""
    found: dict[type, object] = {}
    stack: list[object] = [project]
    while stack:
        x = stack.pop()
        if ir.is_node(x):
            found.setdefault(type(x), x)
            stack.extend(getattr(x, k) for k in ir.fields(type(x)))
        elif isinstance(x, tuple):
            stack.extend(x)
    return found


def test_every_unhashed_field_exists_and_says_why() -> None:
    for cls, fields in UNHASHED.items():
        for name, reason in fields.items():
            assert name in ir.fields(cls), f"{cls.__name__}.{name} is declared unhashed but does not exist"
            assert reason.strip(), f"{cls.__name__}.{name}: say why it is not data"


def test_every_ir_field_is_hashed_or_declared() -> None:
    """A field added to the IR is hashed unless declared unhashed with a reason; a new IR class must appear here."""
    found = _instances(featc.compile_text(BASE))
    for cls in _concrete_classes():
        assert cls in found, f"tests/test_hashing.py BASE has no {cls.__name__}: add one, so its fields are checked"
        parents = collections.defaultdict(int)  # every feature reference is "parent 0" here
        if cls is ir.FeatureRef:  # dumped as the index of a parent (compiler/hashing.py)
            assert dump(found[cls], parents) == {"kind": "feature", "parent": 0, "type": "double"}
            continue
        hashed = set(dump(found[cls], parents))
        assert hashed == set(ir.fields(cls)) - set(UNHASHED.get(cls, {})), cls.__name__


def test_the_manifest_carries_hashes_lineage_and_metadata() -> None:
    from featc.artifacts import manifest

    text = BASE.replace("features f {\n", "#: Spend.\nfeatures f {\n  owner: risk\n  tags: [money]\n")
    p = featc.compile_text(text.replace("    total = sum", "    #: A day of spend.\n    total = sum"))
    m, h = manifest(p), fingerprints(p)
    assert (m["hash_scheme"], m["build"]) == (2, h.build)
    assert {b["block"]: b["fingerprint"] for b in m["blocks"]} == h.groups
    by = {f["column"]: f for f in m["features"]}
    total, ratio = by["f__total"], by["d__ratio"]
    assert total["hashes"] == dict(h.features["f__total"].__dict__)
    assert (total["description"], total["owner"], total["type"]) == ("A day of spend.", "risk", "double")
    assert total["lineage"] == {"parents": [], "labels": [], "requests": [], "sources": {"events": ["amount", "at", "kind"]}}
    assert ratio["lineage"] == {
        "parents": ["f__total"],
        "labels": [],
        "requests": ["b"],
        "sources": {"events": ["amount", "at", "kind"]},
    }
    assert next(b for b in m["blocks"] if b["block"] == "f")["tags"] == ["money"]
