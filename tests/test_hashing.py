"""A feature's hash changes exactly when its meaning changes."""

from __future__ import annotations

import featc
from featc.compiler import ir

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
"""


def hashes(text: str) -> dict[str, str]:
    p: ir.Project = featc.compile_text(text)
    return {g.column(f): f.hash for g in p.groups for f in g.features}


def test_hashes_are_stable_and_distinct() -> None:
    h = hashes(BASE)
    assert h == hashes(BASE)
    assert len(set(h.values())) == len(h)
    assert all(len(v) == 16 for v in h.values())


def test_whitespace_comments_and_unrelated_definitions_do_not_change_hashes() -> None:
    noisy = BASE.replace("total = sum(amount) over 1d", "total   =   SUM( amount )   over 1d   # revenue")
    noisy = (
        "# header comment\n"
        + noisy
        + "\nfeatures other {\n entity: user\n source: events\n features {\n z = count(*)\n }\n}\n"
    )
    h, n = hashes(BASE), hashes(noisy)
    assert all(n[k] == v for k, v in h.items())


def test_reordering_blocks_does_not_change_hashes() -> None:
    head, rest = BASE.split("features f {")
    fblock, dblock = ("features f {" + rest).split("derived d {")
    reordered = head + "derived d {" + dblock + fblock
    assert hashes(reordered) == hashes(BASE)


def test_meaning_changes_change_the_hash_and_its_dependents() -> None:
    h = hashes(BASE)
    for change in [
        ("sum(amount) over 1d", "sum(amount) over 2d"),
        ("sum(amount) over 1d", "avg(amount) over 1d"),
        ("filter: kind <> 'x'", "filter: kind <> 'y'"),
        ("refresh: every 1h", "refresh: every 2h"),
        ("table: app.events", "table: app.events_v2"),
    ]:
        changed = hashes(BASE.replace(*change))
        assert changed["f__total"] != h["f__total"], change
        assert changed["d__ratio"] != h["d__ratio"], change


def test_a_change_to_one_feature_leaves_its_siblings_alone() -> None:
    h, changed = hashes(BASE), hashes(BASE.replace("count(*) over 1h", "count(*) over 2h"))
    assert changed["f__n"] != h["f__n"]
    assert changed["f__total"] == h["f__total"]
    assert changed["d__ratio"] == h["d__ratio"]
