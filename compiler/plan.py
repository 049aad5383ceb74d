"""IR -> plan: which source scans, probe instants and window stages a query needs.

The plan is engine-neutral. Each (source, entity, group filter) is scanned once with one
precomputed input column per aggregation; aggregations are then grouped into stages, one per
(scan, probe instant, shape), so the SQL reads each source once per instant kind rather than
once per feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from . import ir
from .catalog import agg_type
from .types import DataType

StageKind = Literal["frame", "distinct_trailing", "distinct_forward"]


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
    inputs: list[ScanInput] = field(default_factory=list)

    def input_for(self, agg: ir.Aggregate) -> ScanInput:
        """The input column for an aggregation, shared by identical (arg, where) pairs."""
        for inp in self.inputs:
            if inp.arg == agg.arg and inp.where == agg.where:
                return inp
        typ = agg.arg.type if agg.arg is not None else DataType.INT
        inp = ScanInput(f"in_{len(self.inputs) + 1}", agg.arg, agg.where, typ)
        self.inputs.append(inp)
        return inp


@dataclass(frozen=True)
class AggSpec:
    """One aggregate feature computed by a stage into output ``column``."""

    column: str
    fn: ir.AggFn
    input: ScanInput
    window: ir.Window
    type: DataType


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
    """Everything the SQL emitter needs, in a deterministic order."""

    project: ir.Project
    scans: list[Scan] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)

    def probes(self) -> list[tuple[ir.Entity, Instant]]:
        """Distinct (entity, instant) probe sets, in stage order."""
        out: list[tuple[ir.Entity, Instant]] = []
        for st in self.stages:
            if (st.scan.entity, st.instant) not in out:
                out.append((st.scan.entity, st.instant))
        return out

    def output(self, column: str) -> Output:
        return next(o for o in self.outputs if o.column == column)


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
    if agg.fn != "count_distinct" or agg.window.kind == "lifetime" or distinct_windows:
        return "frame"
    return "distinct_forward" if agg.window.kind == "forward" else "distinct_trailing"


class _Builder:
    """Accumulates scans and stages while walking groups in project order."""

    def __init__(self, project: ir.Project, distinct_windows: bool) -> None:
        self.plan = Plan(project)
        self.distinct_windows = distinct_windows

    def scan(self, group: ir.Group) -> Scan:
        assert group.source is not None, f"group {group.name} aggregates without a source"
        source = self.plan.project.source(group.source)
        entity = self.plan.project.entity(group.entity)
        for sc in self.plan.scans:
            if (sc.source, sc.entity, sc.filter) == (source, entity, group.filter):
                return sc
        same = sum(1 for sc in self.plan.scans if sc.source.name == source.name)
        name = f"scan_{source.name}" + (f"_{same + 1}" if same else "")
        sc = Scan(name, source, entity, group.filter)
        self.plan.scans.append(sc)
        return sc

    def stage(self, scan: Scan, instant: Instant, kind: StageKind) -> Stage:
        for st in self.plan.stages:
            if st.scan is scan and (st.instant, st.kind) == (instant, kind):
                return st
        suffix = "" if kind == "frame" else "_" + kind
        name = f"{scan.name.removeprefix('scan_')}_{instant.tag}{suffix}"
        st = Stage(name, kind, scan, instant)
        self.plan.stages.append(st)
        return st

    def add(self, group: ir.Group, feature: ir.Feature, exact: bool) -> None:
        column = group.column(feature)
        if feature.agg is None:
            self.plan.outputs.append(Output(column, group, feature, None))
            return
        agg = feature.agg
        scan = self.scan(group)
        st = self.stage(scan, instant_of(group, exact), stage_kind(agg, self.distinct_windows))
        inp = scan.input_for(agg)
        result = agg_type(agg.fn, agg.arg.type if agg.arg is not None else None)
        typ = result if isinstance(result, DataType) else feature.type
        st.aggs.append(AggSpec(column, agg.fn, inp, agg.window, typ))
        self.plan.outputs.append(Output(column, group, feature, st.name))


def plan_training(project: ir.Project, *, exact: bool = False, distinct_windows: bool = False) -> Plan:
    """Every feature of every group, in project order."""
    b = _Builder(project, distinct_windows)
    for group in project.groups:
        for feature in group.features:
            b.add(group, feature, exact)
    return b.plan


def plan_materialize(project: ir.Project, entity: str, *, distinct_windows: bool = False) -> Plan:
    """Exact values for one entity's servable features (no request fields, no labels)."""
    b = _Builder(project, distinct_windows)
    for group in project.groups:
        if group.entity != entity or group.kind == "label":
            continue
        for feature in group.features:
            if feature.agg is not None or servable(project, feature, entity):
                b.add(group, feature, True)
    return b.plan


def servable(project: ir.Project, feature: ir.Feature, entity: str) -> bool:
    """A derived feature that reads no request field, no label and no other entity."""
    if feature.expr is None:
        return True
    for node in ir.walk(feature.expr):
        if isinstance(node, ir.RequestRef):
            return False
        if isinstance(node, ir.FeatureRef):
            target = project.group(node.group)
            if target.kind == "label" or target.entity != entity:
                return False
            if not servable(project, project.feature(node.group, node.name), entity):
                return False
    return True


def feature_groups(project: ir.Project, entity: str) -> list[ir.Group]:
    """The features blocks of an entity: their sources define the materialised key set."""
    return [g for g in project.groups if g.entity == entity and g.kind == "features" and g.source is not None]
