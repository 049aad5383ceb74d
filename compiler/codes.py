"""The registry of diagnostic codes. Codes are grouped by phase and never reused.

E0xx: syntax; E1xx: names and structure; E2xx: types; E3xx: leakage and time travel;
W3xx: time-related warnings; E4xx: what a target engine cannot express. Each code's long explanation lives in docs/diagnostics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: Severity
    summary: str


def _codes(*codes: Code) -> dict[str, Code]:
    return {c.code: c for c in codes}


CODES = _codes(
    Code("E001", "syntax-error", "error", "the text is not valid featc syntax"),
    Code("E002", "invalid-expression", "error", "an expression is not valid SQL"),
    Code("E003", "invalid-duration", "error", "a duration is malformed, zero or negative"),
    Code("E004", "unknown-type", "error", "a type name is not one of the language's types"),
    Code("E005", "unclosed-block", "error", "a block is missing its closing brace"),
    Code("E101", "unknown-name", "error", "a name does not refer to anything defined"),
    Code("E102", "duplicate-name", "error", "a name is defined twice"),
    Code("E103", "unknown-function", "error", "a function is not in the catalogue"),
    Code("E104", "missing-property", "error", "a block lacks a required property"),
    Code("E105", "entity-key-missing", "error", "a source lacks an entity key column"),
    Code("E106", "wrong-arity", "error", "a function is called with the wrong number of arguments"),
    Code("E107", "aggregation-misplaced", "error", "an aggregation where a row value is expected"),
    Code("E108", "not-an-aggregation", "error", "a feature or label is not one aggregation"),
    Code("E109", "unknown-property", "error", "a block has a property it does not understand"),
    Code("E110", "name-shadowed", "error", "a request field has the name of another spine column"),
    Code("E111", "unaggregated-column", "error", "a source column is used outside an aggregation"),
    Code("E201", "type-mismatch", "error", "an operation is applied to values of the wrong type"),
    Code("E202", "cast-not-allowed", "error", "a CAST between types the contract does not define"),
    Code("E203", "non-boolean-condition", "error", "a filter or condition is not a boolean"),
    Code("E204", "literal-out-of-range", "error", "a number does not fit in a 64-bit integer"),
    Code("E301", "label-leak", "error", "a feature reads a label: future data would leak"),
    Code("E302", "forward-window", "error", "a window looks into the future outside a label"),
    Code("E303", "non-deterministic", "error", "a clock or random function makes values irreproducible"),
    Code("E304", "no-event-time", "error", "a source without event time is used where history matters"),
    Code("E305", "derived-cycle", "error", "derived features depend on each other in a cycle"),
    Code("E306", "label-needs-forward-window", "error", "a label aggregation must look forward"),
    Code("E401", "unsupported-by-dialect", "error", "the chosen SQL dialect cannot express an operation faithfully"),
    Code("W301", "window-shorter-than-refresh", "warning", "a window is shorter than the refresh cadence"),
    Code("W302", "lag-exceeds-cadence", "warning", "the refresh lag is larger than the cadence"),
)
