"""``--ingest SOURCE=PATH`` for a ``memory://`` demo: source rows ingested before the server starts.

Standard library only: CSV files here (every field text, parsed by the input rules, an empty field
null, as ``featc ingest`` reads them). ``featc serve`` also reads Parquet, and materialises the batch
views with the embedded engine; ``python -m featc.runtime.serve`` has no engine, so it refuses
batch views here and says to use ``featc serve``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..csvrows import Rows, csv_rows
from ..errors import DataError, unknown_name
from ..online import OnlineStore
from ..spec import SourceSpec

Reader = Callable[[Path, SourceSpec, int], Iterator[Rows]]
BATCH = 5000
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(text: str, option: str) -> float:
    """A duration option (``90s``, ``15m``, ``1h``, ``7d``; a bare number is seconds)."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise DataError(f"{option} {text!r}: give a duration such as 90s, 15m, 1h or 7d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def pairs(given: Iterable[str], store: OnlineStore) -> dict[str, Path]:
    """``SOURCE=PATH`` options, each a source of the build and an existing .csv/.parquet file."""
    out: dict[str, Path] = {}
    sources = [s.name for s in store.spec.sources]
    for pair in given:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise DataError(f"--ingest {pair!r}: expected SOURCE=PATH")
        if name not in sources:
            raise DataError(f"--ingest {pair!r}: {unknown_name('source', name, sources)}")
        file = Path(path)
        if file.suffix.lower() not in (".csv", ".parquet"):
            raise DataError(f"--ingest {pair!r}: name a .csv or .parquet file")
        if not file.is_file():
            raise DataError(f"--ingest {pair!r}: no such file")
        out[name] = file
    return out


def read_csv(path: Path, source: SourceSpec, batch: int = BATCH) -> Iterator[Rows]:
    """The file's rows, only the source's columns, as text (an empty field is null), ``batch`` at a time
    (``csvrows``: a row with too few or too many fields is an error giving its line)."""
    return csv_rows(path, [c.name for c in source.columns], batch, f"--ingest {source.name}={path}")


def ingest(store: OnlineStore, files: dict[str, Path], read: Reader, say: Callable[[str], None]) -> None:
    """Every file's rows into the store; continuous views not fed by any file are named (not served)."""
    for name, path in files.items():
        source = store.spec.source(name)
        count = 0
        for rows in read(path, source, BATCH):
            count += store.ingest(name, rows).rows
        say(f"ingested {count} rows of {name} from {path}")
    batch = batch_views(store)
    for g in store.spec.groups:
        if g.kind == "features" and g.name not in batch and g.source not in files:
            say(f"block {g.name} reads source {g.source}, not given with --ingest: it is not served")


def batch_views(store: OnlineStore) -> list[str]:
    return [
        g.name
        for g in store.spec.groups
        if g.kind == "features" and g.refresh.mode == "batch" and g.refresh.every_us > 0
    ]
