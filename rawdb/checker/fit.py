"""Do a statement's result columns fill a Struct, the way rawdb's row mapping would?

Mapping is by column name. A column the Struct lacks is dropped silently by the
mapper, and a field no column fills fails only when the first row arrives (or
keeps its default), so both are reported. Types are compared by kind: a column
fits a field when the mapper hands the field a value of its type, converting
where it does (JSON text into a Struct, 0/1 into a bool on MySQL and SQLite,
timestamp text into a datetime). A Struct is never validated when it is built,
so a misfit is not an error at run time either: an ``int`` field would quietly
hold a ``Decimal``. That is why misfits are reported here.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import msgspec
from msgspec import inspect as mi

from rawdb.checker.probe import ResultColumn

__all__ = ["Misfit", "field_kind", "fit"]

# For each field kind, the column kinds whose values reach it as that type.
_ACCEPTS: dict[str, frozenset[str]] = {
    "str": frozenset({"text", "json"}),
    "int": frozenset({"int", "json"}),
    "float": frozenset({"int", "float", "json"}),
    "decimal": frozenset({"int", "float", "decimal", "text", "json"}),
    "bool": frozenset({"bool", "json"}),
    "datetime": frozenset({"datetime", "text"}),
    "date": frozenset({"date", "text"}),
    "time": frozenset({"time", "text"}),
    "uuid": frozenset({"uuid", "text"}),
    "bytes": frozenset({"bytes"}),
    "enum": frozenset({"text", "int", "json"}),
    "json": frozenset({"json", "text", "array"}),
}
# MySQL and SQLite have no boolean type: rawdb maps their 0/1 integers into bool fields.
_INT_BOOLS = frozenset({"mysql", "sqlite"})


class Misfit(NamedTuple):
    kind: str
    """``column`` (a column the Struct lacks), ``field`` (a field no column fills),
    ``type`` or ``null``."""
    message: str


class FieldKind(NamedTuple):
    kind: str
    optional: bool
    text: str


def field_kind(annotation: Any) -> FieldKind:
    info = mi.type_info(annotation)
    optional = False
    if isinstance(info, mi.UnionType):
        members = [t for t in info.types if not isinstance(t, mi.NoneType)]
        optional = len(members) < len(info.types)
        if len(members) != 1:
            return FieldKind("any", optional, _type_text(annotation))
        info = members[0]
    return FieldKind(_kind(info), optional, _type_text(annotation))


def _kind(info: mi.Type) -> str:
    simple: list[tuple[type[mi.Type] | tuple[type[mi.Type], ...], str]] = [
        (mi.AnyType, "any"), (mi.BoolType, "bool"), (mi.IntType, "int"), (mi.FloatType, "float"),
        (mi.StrType, "str"), ((mi.BytesType, mi.ByteArrayType, mi.MemoryViewType), "bytes"),
        (mi.DateTimeType, "datetime"), (mi.DateType, "date"), (mi.TimeType, "time"),
        (mi.DecimalType, "decimal"), (mi.UUIDType, "uuid"), ((mi.EnumType, mi.LiteralType), "enum"),
        (mi.NoneType, "any"),
    ]
    for cls, kind in simple:
        if isinstance(info, cls):
            return kind
    return "json"  # Structs, dicts, lists, …: decoded from JSON text


def fit(struct: type[msgspec.Struct], columns: tuple[ResultColumn, ...], dialect: str, sql: str) -> list[Misfit]:
    """Everything about ``columns`` that does not fill ``struct`` as it should."""
    misfits: list[Misfit] = []
    name = struct.__name__
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    by_name = {f.encode_name: f for f in info.fields}
    annotations = {f.name: f.type for f in msgspec.structs.fields(struct)}
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            misfits.append(Misfit("column", f"the result has two columns named {column.name!r}; alias one"))
            continue
        seen.add(column.name)
        field = by_name.get(column.name)
        if field is None:
            misfits.append(Misfit("column", f"column {column.name!r} has no field in {name}"))
            continue
        kind = field_kind(annotations[field.name])
        accepted = _ACCEPTS.get(kind.kind)
        if accepted is not None and column.kind != "unknown":
            if kind.kind == "bool" and dialect in _INT_BOOLS:
                accepted = accepted | {"int"}
            if column.kind not in accepted:
                misfits.append(Misfit(
                    "type",
                    f"column {column.name!r} is {column.type_name} ({column.kind}), which does not convert "
                    f"to {name}.{field.name}: {kind.text}",
                ))
        if column.nullable and not kind.optional and kind.kind != "any" and not _filtered(column, sql):
            misfits.append(Misfit(
                "null",
                f"column {column.name!r} can be NULL but {name}.{field.name} is {kind.text}, not Optional",
            ))
    for field in info.fields:
        if field.required and field.encode_name not in seen:
            misfits.append(Misfit("field", f"{name}.{field.name} is filled by no column of the result"))
    return misfits


def _filtered(column: ResultColumn, sql: str) -> bool:
    # "WHERE secret IS NOT NULL" makes a nullable table column non-NULL in this result;
    # the server's column metadata cannot know that, the statement's text says it.
    if column.origin is None:
        return False
    return re.search(rf"(?<![\w$]){re.escape(column.origin)}\s+IS\s+NOT\s+NULL\b", sql, re.IGNORECASE) is not None


def _type_text(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None)
    if text is not None and not getattr(annotation, "__args__", None):
        return str(text)
    return re.sub(r"\b(?:typing|builtins|datetime|decimal|uuid)\.", "", repr(annotation))
