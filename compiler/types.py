"""The value types of the language and the rules that combine them."""

from __future__ import annotations

from enum import StrEnum


class DataType(StrEnum):
    """A column, feature or expression type. ``NULL`` is the type of a bare ``NULL`` literal."""

    BOOL = "bool"
    INT = "int"
    DOUBLE = "double"
    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"
    NULL = "null"

    def __str__(self) -> str:
        return self.value

    @property
    def numeric(self) -> bool:
        return self in (DataType.INT, DataType.DOUBLE)


NUMERIC = (DataType.INT, DataType.DOUBLE)

# Spellings accepted in declarations (`total: double`) and in CAST targets.
TYPE_NAMES: dict[str, DataType] = {
    "bool": DataType.BOOL,
    "boolean": DataType.BOOL,
    "int": DataType.INT,
    "integer": DataType.INT,
    "bigint": DataType.INT,
    "long": DataType.INT,
    "double": DataType.DOUBLE,
    "float": DataType.DOUBLE,
    "float64": DataType.DOUBLE,
    "string": DataType.STRING,
    "varchar": DataType.STRING,
    "text": DataType.STRING,
    "timestamp": DataType.TIMESTAMP,
    "date": DataType.DATE,
}


def unify(a: DataType, b: DataType) -> DataType | None:
    """The common type of two operands (for CASE branches, COALESCE, IN lists), or None."""
    if a == b:
        return a
    if a == DataType.NULL:
        return b
    if b == DataType.NULL:
        return a
    if a.numeric and b.numeric:
        return DataType.DOUBLE
    return None
