"""IR -> plan: which source scans, probe instants and window stages a query needs.

The plan is engine-neutral. Each (source, entity, group filter) is scanned once with one
precomputed input column per aggregation; aggregations are then grouped into stages, one per
(scan, probe instant, shape), so the SQL reads each source once per instant kind rather than
once per feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from featc.runtime.aggregates import AGGREGATIONS as AGGREGATION_TABLE

from . import ir
from .catalog import agg_type
from .lineage import lineage
from .names import Namespace, namespace
from .types import DataType

StageKind = Literal["frame", "distinct_trailing", "distinct_forward"]

STAGE_SIZE = 200
"""Aggregations per stage at most. DuckDB binds the window expressions of one SELECT in time
quadratic in their number (1,000 take 1 s, 4,000 take 9 s); stages of 200 keep a query of any
size linear, at the price of one more join on the row id per 200 features (bench/features_scaling.py)."""


@dataclass(frozen=True)
class Instant:
    """Where a probe looks: at t (``every_us == 0``) or as served under a batch refresh."""

    every_us: int = 0
    lag_us: int = 0

    @property
    def exact(self) -> bool:
        return self.every_us == 0

    @property
    def tag(self) -> str:
        if self.exact:
            return "exact"
        return f"served_{duration(self.every_us)}_lag_{duration(self.lag_us)}"


EXACT = Instant()

_UNITS = (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000), ("us", 1))


def duration(us: int) -> str:
    """A readable, exact spelling of a duration for CTE names: 600000000 -> '10m'."""
    if us == 0:
        return "0"
    unit, size = next((u, n) for u, n in _UNITS if us % n == 0)
    return f"{us // size}{unit}"


@dataclass(frozen=True)
class ScanInput:
    """One precomputed scan column: ``arg`` (None: count(*)) kept only where ``where`` holds."""

    name: str
    arg: ir.Expr | None
    where: ir.Expr | None
    type: DataType


@dataclass
class Scan:
    """One read of a source for an entity under a group filter."""

    name: str
    source: ir.Source
    entity: ir.Entity
    filter: ir.Expr | None
    names: Namespace = field(default_factory=Namespace)  # the scan's own columns: a scope of the query's
    inputs: list[ScanInput] = field(default_factory=list)
    _by_expr: dict[tuple[ir.Expr | None, ir.Expr | None], ScanInput] = field(default_factory=dict, repr=False)

    def input_for(self, agg: ir.Aggregate) -> ScanInput:
        """The input column for an aggregation, shared by identical (arg, where) pairs (a dict: linear)."""
        key = (agg.arg, agg.where)
        inp = self._by_expr.get(key)
        if inp is None:
            typ = agg.arg.type if agg.arg is not None else DataType.INT
            inp = ScanInput(self.names.fresh(f"in_{len(self.inputs) + 1}"), agg.arg, agg.where, typ)
            self.inputs.append(inp)
            self._by_expr[key] = inp
        return inp


@dataclass(frozen=True)
class AggSpec:
    """One aggregate feature computed by a stage into output ``column``."""

    column: str
    fn: ir.AggFn
    input: ScanInput
    window: ir.Window
    type: DataType
    feature: str = ""  # `block.feature`, for messages the engine raises (an int sum overflowing)


@dataclass
class Stage:
    """Aggregations over one scan probed at one instant kind with one SQL shape."""

    name: str
    kind: StageKind
    scan: Scan
    instant: Instant
    aggs: list[AggSpec] = field(default_factory=list)


@dataclass(frozen=True)
class Output:
    """One output feature column, in output order; ``stage`` is None for expressions."""

    column: str
    group: ir.Group
    feature: ir.Feature
    stage: str | None


@dataclass
class Plan:
    """Everything the SQL emitter needs, in a deterministic order.

    ``names`` is the query's namespace: every scan, stage and input name here came from it, and the
    emitter draws its own invented names from it too, so none can collide with a user name.
    """

    project: ir.Project
    names: Namespace
    scans: list[Scan] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    _by_column: dict[str, Output] = field(default_factory=dict, repr=False)

    def probes(self) -> list[tuple[ir.Entity, Instant]]:
        """Distinct (entity, instant) probe sets, in stage order."""
        return list(dict.fromkeys((st.scan.entity, st.instant) for st in self.stages))

    def add_output(self, out: Output) -> None:
        self.outputs.append(out)
        self._by_column[out.column] = out

    def output(self, column: str) -> Output | None:
        """The planned output for a feature column, or None when this query does not compute it."""
        return self._by_column.get(column)


def instant_of(group: ir.Group, exact: bool) -> Instant:
    """As served for batch-refreshed features blocks unless ``exact``; labels always exact."""
    if exact or group.kind != "features" or group.refresh.mode != "batch":
        return EXACT
    return Instant(group.refresh.every_us, group.refresh.lag_us)


def stage_kind(agg: ir.Aggregate, distinct_windows: bool) -> StageKind:
    """Windowed count_distinct is a frame where the engine has COUNT(DISTINCT) OVER a RANGE frame.

    Elsewhere (PostgreSQL, Spark) it needs the join shape, which costs a row per (spine row, event
    in window): on DuckDB the frame is about twice as fast and a fifth of the memory (bench/).
    """
    if AGGREGATION_TABLE[agg.fn].sql != "distinct" or agg.window.kind == "lifetime" or distinct_windows:
        return "frame"
    return "distinct_forward" if agg.window.kind == "forward" else "distinct_trailing"


class _Builder:
    """Accumulates scans and stages while walking groups in project order."""

    def __init__(self, project: ir.Project, distinct_windows: bool, names: Namespace | None) -> None:
        self.plan = Plan(project, names if names is not None else namespace(project))
        self.distinct_windows = distinct_windows
        self._scans: dict[tuple[str, str, ir.Expr | None], Scan] = {}
        self._stages: dict[tuple[str, Instant, StageKind], Stage] = {}  # the open (not yet full) stage

    def scan(self, group: ir.Group) -> Scan:
        assert group.source is not None, f"group {group.name} aggregates without a source"
        key = (group.source, group.entity, group.filter)
        sc = self._scans.get(key)
        if sc is None:
            project = self.plan.project
            source, entity = project.source(group.source), project.entity(group.entity)
            name = self.plan.names.fresh(f"scan_{source.name}")
            sc = Scan(name, source, entity, group.filter, self.plan.names.scope())
            self._scans[key] = sc
            self.plan.scans.append(sc)
        return sc

    def stage(self, scan: Scan, instant: Instant, kind: StageKind) -> Stage:
        key = (scan.name, instant, kind)
        st = self._stages.get(key)
        if st is None or len(st.aggs) >= STAGE_SIZE:
            suffix = "" if kind == "frame" else "_" + kind
            name = self.plan.names.fresh(f"{scan.name.removeprefix('scan_')}_{instant.tag}{suffix}")
            st = Stage(name, kind, scan, instant)
            self._stages[key] = st
            self.plan.stages.append(st)
        return st

    def add(self, group: ir.Group, feature: ir.Feature, exact: bool) -> None:
        column = group.column(feature)
        if feature.agg is None:
            self.plan.add_output(Output(column, group, feature, None))
            return
        agg = feature.agg
        scan = self.scan(group)
        st = self.stage(scan, instant_of(group, exact), stage_kind(agg, self.distinct_windows))
        inp = scan.input_for(agg)
        result = agg_type(agg.fn, agg.arg.type if agg.arg is not None else None)
        typ = result if isinstance(result, DataType) else feature.type
        st.aggs.append(AggSpec(column, agg.fn, inp, agg.window, typ, f"{group.name}.{feature.name}"))
        self.plan.add_output(Output(column, group, feature, st.name))


def plan_training(
    project: ir.Project, *, exact: bool = False, distinct_windows: bool = False, names: Namespace | None = None
) -> Plan:
    """Every feature of every group, in project order; names come from ``names`` (the query's namespace)."""
    b = _Builder(project, distinct_windows, names)
    for group in project.groups:
        for feature in group.features:
            b.add(group, feature, exact)
    return b.plan


def plan_materialize(
    project: ir.Project, entity: str, *, distinct_windows: bool = False, names: Namespace | None = None
) -> Plan:
    """Exact values for one entity's servable features (no request fields, no labels)."""
    b = _Builder(project, distinct_windows, names)
    graph = lineage(project)
    for group in project.groups:
        if group.entity != entity or group.kind == "label":
            continue
        for feature in group.features:
            if feature.agg is not None or graph.servable(group.column(feature)):
                b.add(group, feature, True)
    return b.plan


def feature_groups(project: ir.Project, entity: str) -> list[ir.Group]:
    """The features blocks of an entity: their sources define the materialised key set."""
    return [g for g in project.groups if g.entity == entity and g.kind == "features" and g.source is not None]
