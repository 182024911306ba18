"""The contract as Spark reads it, and drift of the data from it.

Everything is derived from ``contracts``: :func:`spark_schema` walks the pydantic model (wire
names, PII-tagged fields left out, ``ingested_at`` added from the warehouse mapping); leaf types
come from the warehouse column a path maps to (``numeric(18,3)`` -> ``decimal(18,3)``), else from
the annotation. The JSON reader uses it (never schema inference), so unknown fields and PII fields
in an object are not read at all. :func:`detect_drift` compares the fields seen in the data (a
crawl, a sample) with it.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, FutureDatetime, NaiveDatetime, PastDatetime
from pyspark.sql import types as T

from contracts.pii import PII_FIELDS
from contracts.transaction import Transaction
from contracts.warehouse import COLUMNS
from glue_jobs import glue_types

CORRUPT_RECORD = "_corrupt_record"
#: Decimals are read wider than the warehouse column so that a value which does not fit
#: numeric(18,3) is rejected with a reason; reading it as decimal(18,3) would round it silently.
READ_DECIMAL = T.DecimalType(38, 18)

_SQL_TYPE = re.compile(r"^(?P<name>[a-z ]+?)\s*(?:\((?P<args>[0-9, ]+)\))?$")


def spark_type(sql_type: str) -> T.DataType:
    """Spark type of a warehouse column type (PostgreSQL/Redshift spelling)."""
    match = _SQL_TYPE.match(sql_type.strip().lower())
    if not match:
        raise ValueError(f"unknown warehouse type {sql_type!r}")
    name, args = match["name"], [int(a) for a in (match["args"] or "").replace(" ", "").split(",") if a]
    if name in {"varchar", "char", "character varying", "character", "text"}:
        return T.StringType()
    if name in {"numeric", "decimal"}:
        return T.DecimalType(*args) if args else T.DecimalType(38, 18)
    if name == "timestamp":
        return T.TimestampType()
    if name == "date":
        return T.DateType()
    if name in {"bigint", "int8"}:
        return T.LongType()
    if name in {"integer", "int", "int4"}:
        return T.IntegerType()
    if name == "boolean":
        return T.BooleanType()
    if name in {"double precision", "float8"}:
        return T.DoubleType()
    raise ValueError(f"no Spark type for warehouse type {sql_type!r}")


def text_length_limit(sql_type: str) -> int | None:
    match = _SQL_TYPE.match(sql_type.strip().lower())
    if match and match["name"] in {"varchar", "char", "character varying", "character"} and match["args"]:
        return int(match["args"])
    return None


_COLUMN_BY_SOURCE = {c.source: c for c in COLUMNS if c.source}
PII_PATHS = {".".join(p) for p in PII_FIELDS}


def unwrap(annotation: Any) -> Any:
    """``X | None`` -> X (the reader makes every field nullable anyway)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        raise TypeError(f"no Spark type for union {annotation!r}")
    return annotation


def _model_type(model: type[BaseModel], prefix: str = "") -> T.StructType:
    fields: list[T.StructField] = []
    for name, info in model.model_fields.items():
        wire = info.alias or name
        path = f"{prefix}{wire}"
        if path in PII_PATHS:
            continue  # the analytics copy never carries it; reading it would bring it back
        fields.append(T.StructField(wire, _annotation_type(unwrap(info.annotation), path), nullable=True))
    return T.StructType(fields)


_DATETIME_TYPES: tuple[Any, ...] = (dt.datetime, AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime)


def _annotation_type(annotation: Any, path: str) -> T.DataType:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_type(annotation, prefix=f"{path}.")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum | str):
        return T.StringType()
    if annotation is Decimal:  # precision and scale: those of the warehouse column it lands in
        return spark_type(_COLUMN_BY_SOURCE[path].sql_type) if path in _COLUMN_BY_SOURCE else READ_DECIMAL
    if annotation in _DATETIME_TYPES:
        return T.TimestampType()
    if annotation is dt.date:
        return T.DateType()
    if annotation is bool:
        return T.BooleanType()
    if annotation is int:
        return T.LongType()
    if annotation is float:
        return T.DoubleType()
    raise TypeError(f"no Spark type for contract field {path} ({annotation!r}): extend schema.spark_schema")


def spark_schema() -> T.StructType:
    """The analytics record as Spark reads it: the contract model without PII, plus ``ingested_at``."""
    schema = _model_type(Transaction)
    present = set(_paths(schema))
    for column in COLUMNS:
        if column.source and column.source not in present:
            if "." in column.source:
                raise TypeError(f"warehouse column {column.name} maps {column.source}, not in the contract")
            schema = schema.add(T.StructField(column.source, spark_type(column.sql_type), nullable=True))
    return schema


def read_schema() -> T.StructType:
    """:func:`spark_schema` as the JSON reader gets it: decimals widened, plus the corrupt-record column."""

    def widen(t: T.DataType) -> T.DataType:
        if isinstance(t, T.StructType):
            return T.StructType([T.StructField(f.name, widen(f.dataType), True) for f in t.fields])
        if isinstance(t, T.DecimalType):
            return READ_DECIMAL
        return t

    schema = widen(spark_schema())
    assert isinstance(schema, T.StructType)
    return schema.add(T.StructField(CORRUPT_RECORD, T.StringType(), True))


def _paths(schema: T.StructType, prefix: str = "") -> Iterator[str]:
    for f in schema.fields:
        yield f"{prefix}{f.name}"
        if isinstance(f.dataType, T.StructType):
            yield from _paths(f.dataType, prefix=f"{prefix}{f.name}.")


def leaves(schema: T.StructType, prefix: str = "") -> Iterator[tuple[str, T.DataType]]:
    for f in schema.fields:
        path = f"{prefix}{f.name}"
        yield path, f.dataType
        if isinstance(f.dataType, T.StructType):
            yield from leaves(f.dataType, prefix=f"{path}.")


def warehouse_schema() -> T.StructType:
    """The schema :func:`flatten` returns (nullability aside)."""
    return T.StructType([T.StructField(c.name, spark_type(c.sql_type), c.nullable) for c in COLUMNS])


@dataclass(frozen=True)
class SchemaDrift:
    #: Fields in the data the contract does not know: ignored by the job, reported.
    unknown_fields: tuple[str, ...] = ()
    #: PII fields in the analytics data: never read by the job; a privacy incident upstream.
    pii_fields: tuple[str, ...] = ()
    #: Contract fields of another JSON type in the data (rows will be rejected).
    type_conflicts: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return bool(self.unknown_fields or self.pii_fields or self.type_conflicts)


_COMPATIBLE: dict[type[T.DataType], set[str]] = {
    T.StringType: {"string"},
    T.DecimalType: {"bigint", "double", "int", "string"},  # Glue infers JSON numbers; strings may parse
    T.TimestampType: {"string", "timestamp"},
    T.DateType: {"string", "date"},
    T.StructType: {"struct"},
    T.LongType: {"bigint", "int"},
    T.IntegerType: {"bigint", "int"},
    T.DoubleType: {"double", "bigint", "int"},
    T.BooleanType: {"boolean"},
}


def detect_drift(observed: Mapping[str, glue_types.GlueType], expected: T.StructType | None = None) -> SchemaDrift:
    """Compare columns seen in the data (Glue types, e.g. from a crawl or a sample) with the contract."""
    seen = glue_types.leaf_paths(observed)
    want = {path.lower(): t for path, t in leaves(expected or spark_schema())}
    pii = {p.lower() for p in PII_PATHS}
    unknown = sorted(p for p in seen if p not in want and p not in pii and p.rsplit(".", 1)[0] not in pii)
    conflicts = sorted(
        f"{path}: {kind} (contract: {want[path].simpleString()})"
        for path, kind in seen.items()
        if path in want and kind not in _COMPATIBLE.get(type(want[path]), set())
    )
    # a field nested under an unknown field is reported once, as its parent
    unknown = [p for p in unknown if not any(p.startswith(f"{q}.") for q in unknown)]
    return SchemaDrift(tuple(unknown), tuple(sorted(p for p in seen if p in pii)), tuple(conflicts))
