"""IR -> a dbt package: sources, one incremental model per features block, training-data models, docs and tests.

Every model reuses featc's own point-in-time SQL (``training_sql``), so the package holds no second
definition of the semantics: a features block's model is the exact-at-t training query over a spine
of (entity keys, refresh boundary) generated in SQL; the training models are the training queries
over the user's spine model. featc's queries read plain relation names; the package binds them to
CTEs of the model (``select * from {{ source(...) }}``, the generated spine), which the nested
training query sees. Every name invented here comes from the project's namespace
(``compiler/names.py``), so none can be a user's table, column or feature. docs/dbt.md is the
user's guide; the output is a pure function of the IR, dialect and bindings, byte-identical on
re-run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from featc.dialects import get_dialect
from featc.dialects.base import Dialect, and_all, not_null, num

from .. import ir
from ..lineage import lineage
from ..names import Namespace, namespace
from ..plan import duration
from ..types import DataType
from .dbt_text import DBT_PROJECT, GENERATED, MACROS, UNIQUE_TEST, Raw, comment, jinja_safe, yaml_file
from .sql import training_sql
from .sqlbuild import alias, col, eq, ident, keys_of, select, table, table_parts

DBT_VERSION = ">=1.11.0,<1.12.0"
STRATEGY = {"bigquery": "merge", "spark": "merge"}
"""The incremental strategy where ``delete+insert`` (the default: DuckDB, PostgreSQL, Snowflake, Trino)
is not offered by the adapter; the var `featc_incremental_strategy` overrides it."""

# The integer boundary indexes k a run may compute, per engine: `{{ featc_range.* }}` come from the
# macro featc_boundary_range. Trino's SEQUENCE stops at 10,000 elements, hence two of them.
_SERIES = {
    "duckdb": "SELECT UNNEST(GENERATE_SERIES(featc_first, featc_last)) AS featc_k",
    "postgres": "SELECT GENERATE_SERIES(featc_first, featc_last) AS featc_k",
    "spark": "SELECT EXPLODE(SEQUENCE(featc_first, featc_last)) AS featc_k",
    "snowflake": "SELECT featc_first + ROW_NUMBER() OVER (ORDER BY SEQ4()) - 1 AS featc_k"
    " FROM TABLE(GENERATOR(ROWCOUNT => featc_count))",
    "bigquery": "SELECT featc_k FROM UNNEST(GENERATE_ARRAY(featc_first, featc_last)) AS featc_k",
    "trino": "SELECT featc_first + featc_hi * 10000 + featc_lo AS featc_k"
    " FROM UNNEST(SEQUENCE(0, (featc_count + 9999) / 10000)) AS featc_h(featc_hi)"
    " CROSS JOIN UNNEST(SEQUENCE(0, 9999)) AS featc_l(featc_lo)",
}


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


# Epoch microseconds -> a naive UTC timestamp, exactly (no floating point), per engine.
_FROM_EPOCH_US: dict[str, Callable[[exp.Expr], exp.Expr]] = {
    "duckdb": lambda us: _fn("MAKE_TIMESTAMP", us),
    "postgres": lambda us: exp.Add(
        this=exp.Cast(this=exp.Literal.string("1970-01-01 00:00:00"), to=exp.DataType.build("TIMESTAMP")),
        expression=exp.Mul(this=us, expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var("MICROSECOND"))),
    ),
    "spark": lambda us: _fn("TIMESTAMP_MICROS", us),
    "snowflake": lambda us: _fn("TO_TIMESTAMP_NTZ", us, num(6)),
    "bigquery": lambda us: _fn("TIMESTAMP_MICROS", us),
    "trino": lambda us: exp.Cast(
        this=_fn("FROM_UNIXTIME_NANOS", exp.Mul(this=us, expression=num(1000))),
        to=exp.DataType.build("TIMESTAMP(6)", dialect="trino"),
    ),
}


@dataclass(frozen=True)
class Names:
    """What the package invents: dbt names (package, models, sources) and SQL names, clear of the user's."""

    package: str
    models: dict[str, str]  # features block -> model
    training: str
    training_exact: str
    sources: dict[str, tuple[str, str]]  # featc source -> (dbt source, dbt table)
    ctes: dict[str, str]  # featc source -> the CTE the reused SQL reads it from
    boundary: str  # the boundary column of every block model
    row: str  # the training models' spine row number
    k: str
    first: str
    series: str
    keys: str
    todo: str
    spine: str
    values: str
    s: str

    @classmethod
    def of(cls, project: ir.Project, relations: Mapping[str, list[str]]) -> Names:
        """SQL names from the project's namespace (clear of every user name and bound relation); dbt names prefixed."""
        ns = namespace(project, [p for parts in relations.values() for p in parts])
        package = "featc_" + (_identifier(project.name) or "project")
        models = Namespace()
        blocks = {g.name: models.fresh(f"{package}__{_identifier(g.name) or 'block'}") for g in _blocks(project)}
        locations = Namespace()
        by_location: dict[tuple[str, ...], str] = {}
        sources = {}
        for s in project.sources:
            where = tuple(relations[s.name][:-1])
            if where not in by_location:
                by_location[where] = locations.fresh("__".join([package, *map(_identifier, where)]))
            sources[s.name] = (by_location[where], s.name)
        sql = {
            x: ns.fresh(f"featc_{x}") for x in ("boundary", "row", "k", "first", "boundaries", "keys", "todo", "spine")
        }
        return cls(
            package=package,
            models=blocks,
            training=models.fresh(f"{package}__training_data"),
            training_exact=models.fresh(f"{package}__training_data_exact"),
            sources=sources,
            ctes={s.name: ns.fresh(f"featc_source_{s.name}") for s in project.sources},
            boundary=sql["boundary"],
            row=sql["row"],
            k=sql["k"],
            first=sql["first"],
            series=sql["boundaries"],
            keys=sql["keys"],
            todo=sql["todo"],
            spine=sql["spine"],
            values=ns.fresh("featc_values"),
            s=ns.fresh("featc_s"),
        )


def dbt_package(project: ir.Project, dialect: str, tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """Relative path -> file text of the dbt package for ``project`` in ``dialect``.

    ``tables`` binds sources to relations (`[D.sources]`), as for `featc compile`; unbound sources
    read their `table:`.
    """
    d = get_dialect(dialect)
    relations = {s.name: table_parts((tables or {}).get(s.name, s.table)) for s in project.sources}
    n = Names.of(project, relations)
    reading = project.with_tables(n.ctes)
    files = {
        "dbt_project.yml": _dbt_project(project, n),
        "macros/featc.sql": comment("--") + MACROS,
        "tests/generic/featc_unique_combination.sql": comment("--") + UNIQUE_TEST,
        "models/sources.yml": yaml_file(_sources(project, d, n, relations)),
        "models/schema.yml": yaml_file(_schema(project, d, n)),
    }
    for g in _blocks(project):
        files[f"models/{n.models[g.name]}.sql"] = _block_model(reading, g, d, n)
    for exact in (False, True):
        files[f"models/{n.training_exact if exact else n.training}.sql"] = _training_model(reading, d, n, exact)
    return dict(sorted(files.items()))


def _blocks(project: ir.Project) -> list[ir.Group]:
    """The features blocks with a source: one model each."""
    return [g for g in project.groups if g.kind == "features" and g.source is not None]


def _identifier(text: str) -> str:
    """``text`` as a lower-case identifier: what dbt accepts as a project, model or source name."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


# ---------------------------------------------------------------- models


def _block_model(project: ir.Project, g: ir.Group, d: Dialect, n: Names) -> str:
    """A features block at its refresh boundaries: featc's exact-at-t query over (keys, boundary)."""
    entity = project.entity(g.entity)
    every: exp.Expr = num(g.refresh.every_us) if g.refresh.mode == "batch" else exp.Var(this="{{ featc_range.every }}")
    keys = keys_of(entity)
    unique = ", ".join(json.dumps(d.generate(ident(c))) for c in [*keys, n.boundary])
    strategy = STRATEGY.get(d.name, "delete+insert")
    cadence = f"{g.refresh.every_us}, {g.refresh.lag_us}" if g.refresh.mode == "batch" else "none, 0"
    head = (
        f"{{{{ config(materialized='incremental', unique_key=[{unique}], on_schema_change='fail',\n"
        f"    incremental_strategy=var('featc_incremental_strategy', none) or '{strategy}') }}}}\n"
        f"{{%- set featc_range = featc_boundary_range({cadence}) %}}\n"
        f"-- {_refresh_text(g)}; one row per key with an event before the boundary, per boundary from var\n"
        f"-- featc_start to var featc_end: the values `featc materialize --at BOUNDARY` computes (docs/dbt.md).\n"
    )
    sql = training_sql(
        project.model_copy(update={"groups": (g,)}),
        d.name,
        spine=n.spine,
        timestamp_column=n.boundary,
        spine_columns=[*keys, n.boundary],
        exact=True,
    )
    assert g.source is not None
    ctes = [
        (n.ctes[g.source], _source_cte(n, g.source)),
        (n.series, _template(_SERIES[d.name], d, n)),
        (n.keys, _first_events(project.source(g.source), entity, d, n)),
        (n.todo, _todo(d, n, every)),
        (n.spine, _block_spine(entity, d, n, every)),
    ]
    final = select(*[col(c) for c in [*keys, n.boundary, *(g.column(f) for f in g.features)]])
    final = final.from_(_nested_query(sql, n.values), copy=False)
    return comment("--") + head + d.generate(_with(final, ctes)) + "\n"


def _refresh_text(g: ir.Group) -> str:
    if g.refresh.mode == "batch":
        lag = f" lag {duration(g.refresh.lag_us)}" if g.refresh.lag_us else ""
        return f"features block `{g.name}` at its refresh boundaries k * {duration(g.refresh.every_us)}{lag}"
    return f"features block `{g.name}` (continuous) at boundaries k * var featc_continuous_every"


def _source_cte(n: Names, source: str) -> exp.Select:
    name, tbl = n.sources[source]
    ref = exp.Var(this=f"{{{{ source({json.dumps(name)}, {json.dumps(tbl)}) }}}}")
    return select(exp.Star()).from_(exp.Table(this=ref), copy=False)


def _template(sql: str, d: Dialect, n: Names) -> exp.Expr:
    """A fixed per-engine snippet (no user text): its `featc_*` columns become Jinja or our names."""
    tree = sqlglot.parse_one(sql, read=d.sqlglot_name)
    jinja = {"featc_first": "first", "featc_last": "last", "featc_count": "count"}
    for c in list(tree.find_all(exp.Column)):
        if c.name in jinja:  # k * every must not overflow a 32-bit integer (PostgreSQL types the literal int)
            value = exp.Var(this=f"{{{{ featc_range.{jinja[c.name]} }}}}")
            c.replace(value if c.name == "featc_count" else d.cast(value, DataType.INT))
    for i in tree.find_all(exp.Identifier):
        if i.name == "featc_k":
            i.replace(ident(n.k))
    return tree


def _first_events(source: ir.Source, entity: ir.Entity, d: Dialect, n: Names) -> exp.Select:
    """Each key's first event instant (epoch microseconds): a key is in the model from the next boundary."""
    assert source.timestamp is not None
    ts = col(source.timestamp)
    keys = [d.cast(col(k.name), k.type) for k in entity.keys]
    conds = [not_null(ts.copy())] + [not_null(col(k)) for k in keys_of(entity)]
    q = select(*[alias(k, c) for k, c in zip(keys, keys_of(entity), strict=True)])
    q = q.select(alias(exp.Min(this=d.epoch_us(ts)), n.first), copy=False).from_(table(n.ctes[source.name]), copy=False)
    return q.where(and_all(conds), copy=False).group_by(*[k.copy() for k in keys], copy=False)


def _todo(d: Dialect, n: Names, every: exp.Expr) -> exp.Var:
    """The boundaries this run computes: all in range; on an incremental run, only those after the table's last."""
    k = col(n.k)
    in_range = exp.Between(
        this=k, low=exp.Var(this="{{ featc_range.first }}"), high=exp.Var(this="{{ featc_range.last }}")
    )
    full = select(col(n.k)).from_(table(n.series), copy=False).where(in_range, copy=False)
    back = exp.Paren(this=exp.Add(this=col(n.k), expression=exp.Var(this="{{ featc_range.lookback }}")))
    at = exp.Mul(this=back, expression=every.copy())  # (k + lookback) * every: k is a BIGINT
    done = select(d.epoch_us(exp.Max(this=col(n.boundary)))).from_(exp.Table(this=exp.Var(this="{{ this }}")))
    since = exp.Coalesce(this=exp.Subquery(this=done), expressions=[exp.Sub(this=at.copy(), expression=num(1))])
    newer = full.copy().where(exp.GT(this=at, expression=since), copy=False)
    text = f"{{% if is_incremental() %}}\n{d.generate(newer)}\n{{% else %}}\n{d.generate(full)}\n{{% endif %}}"
    return exp.Var(this=text)


def _block_spine(entity: ir.Entity, d: Dialect, n: Names, every: exp.Expr) -> exp.Select:
    """(keys, boundary) for every key whose first event is before the boundary."""
    at = exp.Mul(this=col(n.k, n.todo), expression=every)
    boundary = _FROM_EPOCH_US[d.name](at.copy())
    q = select(*[col(k, n.keys) for k in keys_of(entity)], alias(boundary, n.boundary)).from_(table(n.keys), copy=False)
    return q.join(table(n.todo), on=exp.LT(this=col(n.first, n.keys), expression=at.copy()), copy=False)


def _training_model(project: ir.Project, d: Dialect, n: Names, exact: bool) -> str:
    """Training data for the spine model named by var featc_spine: its columns, then every feature."""
    outputs = [g.column(f) for g in project.groups for f in g.features]
    check = ", ".join(json.dumps(c) for c in [n.row, *outputs])
    head = (
        "{%- set featc_spine_model = var('featc_spine', none) %}\n"
        "{{ config(materialized='table', enabled=featc_spine_model is not none) }}\n"
        "{%- if featc_spine_model is not none %}\n"
        "{%- set featc_spine_relation = ref(*(featc_spine_model.split('.', 1) if '.' in featc_spine_model"
        " else [project_name, featc_spine_model])) %}\n"
        f"{{%- set featc_columns = featc_spine_columns(featc_spine_relation, [{check}]) %}}\n"
        f"-- featc training data{' (exact)' if exact else ' (as served)'} for every row of the spine model "
        "var featc_spine: its columns, then every feature (docs/dbt.md).\n"
    )
    sql = training_sql(project, d.name, spine=n.spine, spine_columns=[n.row], row_id=n.row, exact=exact)
    used = list(dict.fromkeys(g.source for g in project.groups if g.source))
    ctes: list[tuple[str, exp.Expr]] = [(n.ctes[s], _source_cte(n, s)) for s in used]
    ctes.append((n.spine, _numbered_spine(project, d, n)))
    each = f"{d.generate(ident(n.spine))}.{{{{ adapter.quote(c.name) }}}}"
    passed = f"{{% for c in featc_columns %}}{{{{ ', ' if not loop.first }}}}{each}{{% endfor %}}"
    final = select(exp.Var(this=passed), *[col(c, n.values) for c in outputs]).from_(table(n.spine), copy=False)
    final = final.join(_nested_query(sql, n.values), on=eq(col(n.row, n.spine), col(n.row, n.values)), copy=False)
    return comment("--") + head + d.generate(_with(final, ctes)) + "\n{%- endif %}\n"


def _numbered_spine(project: ir.Project, d: Dialect, n: Names) -> exp.Select:
    """The spine with a row number ordered by what the features depend on: keys, instant, request fields.

    The query reads this CTE twice (the training query, the join back); rows that tie have the same
    keys, instant and request values, so their features are equal whichever number each gets.
    """
    types: dict[str, DataType] = {"ts": DataType.TIMESTAMP}
    for g in project.groups:
        types.update({k.name: k.type for k in project.entity(g.entity).keys})
    used = lineage(project).used_request_fields()
    for r in project.requests:
        types.update({f.name: f.type for f in r.fields if f.name in used})
    order = exp.Order(expressions=[exp.Ordered(this=d.ordered(col(c), t), nulls_first=False) for c, t in types.items()])
    number = alias(exp.Window(this=exp.RowNumber(), order=order), n.row)
    ref = exp.Table(this=exp.Var(this="{{ featc_spine_relation }}"), alias=exp.TableAlias(this=ident(n.s)))
    return select(exp.Column(this=exp.Star(), table=ident(n.s)), number).from_(ref, copy=False)


def _nested_query(sql: str, name: str) -> exp.Table:
    """featc's query, as printed, as the relation ``name`` (its text kept: it is the reviewed SQL of `featc compile`)."""
    return exp.Table(this=exp.Var(this=f"(\n{jinja_safe(sql)}\n)"), alias=exp.TableAlias(this=ident(name)))


def _with(final: exp.Select, ctes: Sequence[tuple[str, exp.Expr]]) -> exp.Select:
    final.set("with_", exp.With(expressions=[exp.CTE(this=q, alias=exp.TableAlias(this=ident(c))) for c, q in ctes]))
    return final


# ---------------------------------------------------------------- YAML


def _dbt_project(project: ir.Project, n: Names) -> str:
    return comment("#") + DBT_PROJECT.format(
        name=json.dumps(n.package), project=json.dumps(project.name), version=json.dumps(DBT_VERSION)
    )


def _quoting(d: Dialect, part: str) -> bool:
    """Whether featc's SQL quotes this name (not plain lower case, or a keyword): dbt must quote it too."""
    return d.generate(ident(part)) != part


def _sources(project: ir.Project, d: Dialect, n: Names, relations: Mapping[str, list[str]]) -> dict[str, Any]:
    keys = {k.name: e.name for e in project.entities for k in e.keys}
    out: dict[str, dict[str, Any]] = {}
    for s in project.sources:
        *where, name = relations[s.name]
        dbt_source, _ = n.sources[s.name]
        if dbt_source not in out:
            out[dbt_source] = _source_location(d, dbt_source, where, project.name)
        cols = [_source_column(d, c, s, keys) for c in s.columns]
        quoting = {"identifier": _quoting(d, name)}
        text = s.description or f"featc source `{s.name}`" + (f", event time `{s.timestamp}`" if s.timestamp else "")
        meta = {"featc_source": s.name, "owner": s.owner} if s.owner else {"featc_source": s.name}
        config = {"meta": meta, "tags": list(s.tags)} if s.tags else {"meta": meta}
        table_doc = {"name": s.name, "identifier": name, "description": text, "quoting": quoting, "config": config}
        out[dbt_source]["tables"].append({**table_doc, "columns": cols})
    return {"version": 2, "sources": list(out.values())}


def _source_location(d: Dialect, name: str, where: list[str], project: str) -> dict[str, Any]:
    *database, schema = where or [Raw("{{ target.schema }}")]
    doc: dict[str, Any] = {"name": name, "description": f"Relations the featc project `{project}` reads."}
    if database:
        doc["database"] = database[0]
    doc["schema"] = schema
    doc["quoting"] = {
        "database": bool(database) and _quoting(d, database[0]),
        "schema": bool(where) and _quoting(d, schema),
    }
    doc["tables"] = []
    return doc


def _source_column(d: Dialect, c: ir.Column, s: ir.Source, keys: Mapping[str, str]) -> dict[str, Any]:
    what = f"Declared `{c.type.value}`"
    if c.name == s.timestamp:
        what += "; the event time"
    if c.name in keys:
        what += f"; key of entity `{keys[c.name]}`"
    doc = {"name": c.name, "description": getattr(c, "description", "") or what, "data_type": _type(d, c.type)}
    return {**doc, "quote": True} if _quoting(d, c.name) else doc


def _type(d: Dialect, t: DataType) -> str:
    return d.generate(d.sql_type(t))


def _schema(project: ir.Project, d: Dialect, n: Names) -> dict[str, Any]:
    models = [_block_doc(project, g, d, n) for g in _blocks(project)]
    models += [_training_doc(project, d, n, exact) for exact in (False, True)]
    return {"version": 2, "models": models}


def _column(d: Dialect, name: str, description: str, t: DataType, tests: list[str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "description": description, "data_type": _type(d, t)}
    if _quoting(d, name):
        doc["quote"] = True
    if tests:
        doc["data_tests"] = tests
    return doc


def _features(project: ir.Project, d: Dialect, groups: Sequence[ir.Group]) -> list[dict[str, Any]]:
    out = []
    for g in groups:
        for f in g.features:
            doc = _column(d, g.column(f), f.description or f"{g.kind} `{g.name}.{f.name}` ({f.type.value})", f.type)
            meta: dict[str, Any] = {"featc_block": g.name, "featc_feature": f.name, "featc_type": f.type.value}
            doc["config"] = {"meta": meta}
            out.append(doc)
    return out


def _block_config(g: ir.Group) -> dict[str, Any]:
    meta: dict[str, Any] = {"featc_block": g.name, "featc_entity": g.entity, "featc_source": g.source}
    if g.refresh.mode == "batch":
        meta["featc_refresh_every_us"], meta["featc_refresh_lag_us"] = g.refresh.every_us, g.refresh.lag_us
    if g.owner:
        meta["owner"] = g.owner
    return {"meta": meta, "tags": list(g.tags)} if g.tags else {"meta": meta}


def _block_doc(project: ir.Project, g: ir.Group, d: Dialect, n: Names) -> dict[str, Any]:
    entity = project.entity(g.entity)
    about = (
        f"The values of {_refresh_text(g)}, one row per `{entity.name}` key with an event in "
        f"`{g.source}` before the boundary and per boundary from var featc_start; equal to "
        "`featc materialize --at BOUNDARY` for those keys. "
        + (
            "Served at t: the row at boundary floor((t - lag) / every) * every (docs/semantics.md)."
            if g.refresh.mode == "batch"
            else "A continuous block is served exactly at t: these rows are its values at the boundaries."
        )
    )
    keys = [_column(d, k.name, f"Key of entity `{entity.name}`", k.type, ["not_null"]) for k in entity.keys]
    boundary = _column(
        d,
        n.boundary,
        "The refresh boundary k * every (UTC) the values are computed at",
        DataType.TIMESTAMP,
        ["not_null"],
    )
    unique = [d.generate(ident(c)) for c in [*keys_of(entity), n.boundary]]
    return {
        "name": n.models[g.name],
        "description": "\n\n".join(x for x in (g.description, about) if x),
        "config": _block_config(g),
        "columns": [*keys, boundary, *_features(project, d, [g])],
        "data_tests": [{"featc_unique_combination": {"arguments": {"columns": unique}}}],
    }


def _training_doc(project: ir.Project, d: Dialect, n: Names, exact: bool) -> dict[str, Any]:
    how = (
        "exactly at each row's instant `ts`"
        if exact
        else "as served at each row's instant `ts` (the last refresh landed)"
    )
    about = (
        f"Training data of the featc project `{project.name}`, {how}: every row of the spine model named by var "
        "featc_spine with its columns unchanged, then one column per feature; built only when featc_spine is set. "
        f"Equal to `featc training-data{' --exact' if exact else ''}` for that spine."
    )
    known: dict[str, tuple[str, DataType]] = {"ts": ("The spine's instant", DataType.TIMESTAMP)}
    for g in project.groups:
        known.update(
            {k.name: (f"Key of entity `{g.entity}` (from the spine)", k.type) for k in project.entity(g.entity).keys}
        )
    for r in project.requests:
        known.update({f.name: (f"Request field `{r.name}.{f.name}` (from the spine)", f.type) for f in r.fields})
    spine = [_column(d, c, text, t) for c, (text, t) in known.items()]
    return {
        "name": n.training_exact if exact else n.training,
        "description": about,
        "config": {"meta": {"featc_exact": exact}},
        "columns": [*spine, *_features(project, d, project.groups)],
    }


__all__ = ["DBT_VERSION", "GENERATED", "dbt_package"]
