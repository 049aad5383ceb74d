"""The OpenAPI 3.1 document of one build, served at /openapi.json: typed per key, request field and feature.

Declared types map to JSON Schema as the wire format has them (``wire``): ``int`` an integer
(int64; a string of digits is accepted, and answered with ``int_as_string``), ``double`` a number,
``string``, ``bool`` a boolean, ``timestamp`` a ``date-time`` string, ``date`` a ``date`` string.
Features and request fields may be null; keys may not. The request fields the derived features
answered read are required (per entity given, or per selected column). Every error is the ``Error``
schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..spec import ProjectSpec
from .config import ServeConfig

INT_PATTERN = "^-?[0-9]{1,19}$"
_BASE: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1},
    "double": {"type": "number", "format": "double"},
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "timestamp": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def input_schema(type_: str, nullable: bool) -> dict[str, Any]:
    """A key (not null) or request field (nullable) of a declared type."""
    schema = dict(_BASE[type_])
    types = [schema["type"]]
    if type_ == "int":
        types.append("string")
        schema["pattern"] = INT_PATTERN
    if nullable:
        types.append("null")
    schema["type"] = types[0] if len(types) == 1 else types
    return schema


def output_schema(type_: str) -> dict[str, Any]:
    """A feature value: its type or null; an int is a decimal string when ``int_as_string`` is asked."""
    schema = {k: v for k, v in _BASE[type_].items() if k not in ("minimum", "maximum")}
    if type_ == "int":
        schema.update(type=["integer", "string", "null"], pattern="^-?[0-9]+$")
    else:
        schema["type"] = [schema["type"], "null"]
    return schema


def _object(properties: Mapping[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def _needs(spec: ProjectSpec, manifest: Mapping[str, Any]) -> dict[str, set[str]]:
    """Per output column, the request fields a question selecting it must give: those read by every
    derived block it brings in (a derived column brings in its parents' blocks, as the store does)."""
    served = [g for g in spec.groups if g.kind != "label"]
    block_of = {g.column(f): g for g in served for f in g.features}
    parents = {f["column"]: list(f["lineage"]["parents"]) for f in manifest.get("features", ())}
    reads = {g.name: {r for f in g.features for r in f.requests} for g in served if g.kind == "derived"}
    out = {}
    for column in block_of:
        blocks: set[str] = set()
        todo = [column]
        while todo:
            c = todo.pop()
            g = block_of.get(c)
            if g is None or (g.name in blocks and g.kind != "derived"):
                continue
            blocks.add(g.name)
            todo.extend(p for p in parents.get(c, ()) if block_of.get(p) is not g)
        out[column] = set().union(*(reads.get(b, set()) for b in blocks))
    return out


def _required(fields: Iterable[str]) -> dict[str, Any]:
    return {"required": ["request"], "properties": {"request": {"type": "object", "required": sorted(fields)}}}


def _conditions(spec: ProjectSpec, manifest: Mapping[str, Any], batch: bool) -> list[dict[str, Any]]:
    """When request fields must be given: without a selection, those the derived blocks of each entity whose
    keys are given read; with one, those of the derived blocks the selected columns bring in."""
    needs = _needs(spec, manifest)
    served = [g for g in spec.groups if g.kind != "label"]
    out = []
    for e in spec.entities:
        fields = {
            r for g in served if g.entity == e.name and g.kind == "derived" for f in g.features for r in f.requests
        }
        if fields:
            entity: dict[str, Any] = {
                "if": {"properties": {"keys": {"required": list(e.key_names)}}},
                "then": _required(fields),
            }
            unselected = {"properties": {"features": {"type": "null"}}}
            then = {"properties": {"items": {"items": entity}}} if batch else entity
            out.append({"if": unselected, "then": then})
    for field in sorted({f for fields in needs.values() for f in fields}):
        columns = sorted(c for c, fields in needs.items() if field in fields)
        selected = {
            "required": ["features"],
            "properties": {"features": {"type": "array", "contains": {"enum": columns}}},
        }
        then = {"properties": {"items": {"items": _required([field])}}} if batch else _required([field])
        out.append({"if": selected, "then": then})
    return out


def _schemas(spec: ProjectSpec, manifest: Mapping[str, Any], config: ServeConfig) -> dict[str, Any]:
    served = [g for g in spec.groups if g.kind != "label"]
    key_types = {k.name: k.type for e in spec.entities for k in e.keys}
    keys = _object(
        {n: input_schema(t, False) for n, t in key_types.items()},
        description="Entity key columns by name: every key column of at least one entity.",
    )
    if len(spec.entities) == 1:
        keys["required"] = list(spec.entities[0].key_names)
    elif spec.entities:
        keys["anyOf"] = [{"required": list(e.key_names)} for e in spec.entities]
    fields = {f.name: f.type for r in spec.requests for f in r.fields}
    columns = {g.column(f): f.type for g in served for f in g.features}
    selection = {
        "type": ["array", "null"],
        "items": _ref("FeatureName"),
        "description": "Output columns to answer (default: every feature of the entities given).",
    }
    at = {
        "type": ["string", "null"],
        "format": "date-time",
        "description": "The instant to answer as of, ISO-8601 (naive means UTC); absent or null: now.",
    }
    flag = {"type": ["boolean", "null"], "description": "Answer int features as decimal strings (exact beyond 2^53)."}
    instant = {"type": "string", "format": "date-time"}
    boundary = _object(
        {"served": instant, "expected": instant, "staleness_seconds": {"type": "number", "minimum": 0}},
        ["served", "expected", "staleness_seconds"],
    )
    boundaries = {
        "type": "object",
        "additionalProperties": _ref("Boundary"),
        "description": "Per batch view answered: the boundary served and the one the contract expects.",
    }
    features = _object(
        {c: output_schema(t) for c, t in columns.items()},
        description="Feature values by output column (block__feature).",
    )
    return {
        "Error": _object(
            {"error": _object({"code": {"type": "string"}, "message": {"type": "string"}}, ["code", "message"])},
            ["error"],
        ),
        "Keys": keys,
        "Request": _object(
            {n: input_schema(t, True) for n, t in fields.items()},
            description="Request fields by name, as the derived features answered read them.",
        ),
        "FeatureName": {"type": "string", "enum": sorted(columns)},
        "VectorRequest": _object(
            {
                "keys": _ref("Keys"),
                "request": {"anyOf": [_ref("Request"), {"type": "null"}]},
                "at": at,
                "features": selection,
                "int_as_string": flag,
            },
            ["keys"],
            allOf=_conditions(spec, manifest, batch=False),
        ),
        "BatchItem": _object(
            {"keys": _ref("Keys"), "request": {"anyOf": [_ref("Request"), {"type": "null"}]}}, ["keys"]
        ),
        "BatchRequest": _object(
            {
                "items": {"type": "array", "items": _ref("BatchItem"), "maxItems": config.max_batch},
                "at": at,
                "features": selection,
                "int_as_string": flag,
            },
            ["items"],
            allOf=_conditions(spec, manifest, batch=True),
        ),
        "Features": features,
        "Boundary": boundary,
        "Vector": _object(
            {"features": _ref("Features"), "build": {"type": "string"}, "at": instant, "boundaries": boundaries},
            ["features", "build", "at", "boundaries"],
        ),
        "BatchResult": _object({"features": _ref("Features"), "boundaries": boundaries}, ["features", "boundaries"]),
        "Batch": _object(
            {"results": {"type": "array", "items": _ref("BatchResult")}, "build": {"type": "string"}, "at": instant},
            ["results", "build", "at"],
        ),
        "Build": {
            "type": "object",
            "required": ["project", "build", "blocks"],
            "properties": {
                "project": {"type": "string"},
                "build": {"type": "string"},
                "blocks": {"type": "array", "items": {"type": "object"}},
            },
        },
        "Health": _object({"status": {"type": "string", "enum": ["ok"]}}, ["status"]),
        "Ready": {
            "type": "object",
            "required": ["ready", "build", "blocks"],
            "properties": {
                "ready": {"type": "boolean"},
                "build": {"type": "string"},
                "reason": {"type": "string"},
                "blocks": {"type": "object"},
            },
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _answer(schema: str, description: str, auth: bool) -> dict[str, Any]:
    responses = {
        "200": {"description": description, "content": {"application/json": {"schema": _ref(schema)}}},
        "400": _error("The body is not JSON (code malformed_json)."),
        "409": _error(
            "The store cannot answer this correctly (code not_served): state missing for this "
            "build's definitions, no boundary landed, or a question behind the horizon."
        ),
        "413": _error("The body is larger than the server's limit (code body_too_large)."),
        "422": _error(
            "The question does not fit the build: invalid_body, batch_too_large, unknown_key, missing_key, "
            "unknown_request_field, unknown_feature, invalid_value, invalid_query, invalid_input."
        ),
        "503": _error(
            "The store is unreachable or did not answer in time (code store_unavailable), or --max-in-flight "
            "requests are being answered already (code overloaded); retry after a short back-off."
        ),
    }
    if auth:
        responses["401"] = _error("No valid bearer token (code unauthorized).")
    return responses


def document(spec: ProjectSpec, manifest: Mapping[str, Any], config: ServeConfig, auth: bool) -> dict[str, Any]:
    """The OpenAPI document of the build ``spec`` as this server serves it."""
    flag = {
        "name": "int_as_string",
        "in": "query",
        "required": False,
        "schema": {"type": "boolean"},
        "description": "Answer int features as decimal strings (exact beyond 2^53).",
    }

    def post(schema: str, request: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "post": {
                "operationId": summary.replace(" ", "_"),
                "summary": summary,
                "description": description,
                "parameters": [flag],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}}},
                "responses": _answer(schema, "The answer.", auth),
            }
        }

    def get(schema: str, summary: str, *, ready: bool = False, text: bool = False) -> dict[str, Any]:
        content = (
            {"text/plain": {"schema": {"type": "string"}}} if text else {"application/json": {"schema": _ref(schema)}}
        )
        responses: dict[str, Any] = {"200": {"description": summary, "content": content}}
        if ready:
            responses["503"] = {"description": "Not ready, and why.", "content": content}
        if auth:
            responses["401"] = _error("No valid bearer token (code unauthorized).")
        return {"get": {"operationId": summary.replace(" ", "_"), "summary": summary, "responses": responses}}

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"featc feature server: {spec.name}",
            "version": spec.build,
            "description": f"Feature vectors of project {spec.name}, build {spec.build} (docs/server.md). "
            "Int features are JSON integers, exact up to 2^53 for clients that parse numbers as doubles; "
            "int_as_string answers them as decimal strings.",
        },
        "paths": {
            "/v1/features": post(
                "Vector",
                "VectorRequest",
                "get features",
                "One feature vector for the entity keys given, as of `at` (absent: now).",
            ),
            "/v1/features/batch": post(
                "Batch",
                "BatchRequest",
                "get features batch",
                "One vector per item, from one read of the store; refused whole if any item is.",
            ),
            "/v1/build": get("Build", "describe build"),
            "/health": get("Health", "health"),
            "/ready": get("Ready", "ready", ready=True),
            "/metrics": get("", "metrics", text=True),
        },
        "components": {"schemas": _schemas(spec, manifest, config)},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
