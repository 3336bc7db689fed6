"""Rows into msgspec Structs, by column name, with converters prepared once per shape.

Mapping is the cost of a list query, so the per-row work is a single generated
function: ``Struct(row[3], conv(row[0]), ...)`` — positional construction, no
per-row dicts, and a converter only where a value must change type (JSON text to a
typed value, SQLite/MySQL 0/1 to bool, timestamp text to an aware datetime). The
column set is checked against the Struct once per result shape. When a converter
fails, the slow path finds the column and raises `MappingError` naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import msgspec
from msgspec import inspect as mi

from rawdb.errors import MappingError

UTC = dt.UTC
T = TypeVar("T")
Converter = Callable[[Any], Any]
RowMapper = Callable[[Any], Any]


class ValueProfile:
    """How one dialect's driver hands over booleans and timestamps."""

    __slots__ = ("bool_conv", "datetime_conv", "name")

    def __init__(self, name: str, bool_conv: Converter | None, datetime_conv: Converter) -> None:
        self.name = name
        self.bool_conv = bool_conv
        self.datetime_conv = datetime_conv


def int_to_bool(value: Any) -> Any:
    if value is None or value is True or value is False:
        return value
    if value == 1:
        return True
    if value == 0:
        return False
    if isinstance(value, str):
        return msgspec.json.decode(value, type=bool)
    raise ValueError(f"{value!r} is not a boolean")


_fromisoformat = dt.datetime.fromisoformat
_combine = dt.datetime.combine
_datetime = dt.datetime


def text_to_datetime(value: Any) -> Any:
    """SQLite text (``YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]``) to aware UTC."""
    if type(value) is str:  # the common case first: one check, one parse
        try:
            # Naive text (what rawdb writes) is UTC: parse it as such in one C call;
            # datetime.replace(tzinfo=...) alone costs ~7x this parse. Text that
            # already has an offset cannot take a second one and lands below.
            return _fromisoformat(value + "+00:00")
        except ValueError:
            parsed = _fromisoformat(value)
    elif value is None:
        return None
    elif isinstance(value, str):
        parsed = _fromisoformat(value)
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise ValueError(f"{value!r} is not a timestamp")
    if parsed.tzinfo is None:
        return _combine(parsed.date(), parsed.time(), UTC)
    return parsed.astimezone(UTC)


def naive_to_utc(value: Any) -> Any:
    """Server values: naive ones are UTC (the session time zone rawdb sets)."""
    if value is None:
        return None
    if value.__class__ is _datetime:
        tz = value.tzinfo
        if tz is UTC:  # asyncpg's timestamptz
            return value
        if tz is None:  # MySQL DATETIME; combine() is ~4x cheaper than replace(tzinfo=)
            return _combine(value.date(), value.time(), UTC)
        return value.astimezone(UTC)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    return text_to_datetime(value)


_PLAIN = (mi.StrType, mi.BytesType, mi.AnyType, mi.NoneType, mi.ByteArrayType, mi.MemoryViewType)
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _json_converter(annotation: Any) -> Converter:
    decoder = _decoders.get(annotation)
    if decoder is None:
        decoder = _decoders[annotation] = msgspec.json.Decoder(annotation)

    decode = decoder.decode  # an Optional annotation already reads JSON null as None

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, bytes)):
            return decode(value)
        return msgspec.convert(value, annotation)

    _json_decoders[convert] = decode
    return convert


# A JSON converter's decode function: the generated mapper calls it directly for text.
_json_decoders: dict[Converter, Callable[[Any], Any]] = {}


def _scalar_converter(annotation: Any) -> Converter:
    """int/float fields: numbers pass through; JSON text (a JSON column) is decoded."""
    json = _json_converter(annotation)

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return json(value)
        return value

    _scalars.add(convert)
    return convert


# The int/float converters: the generated mapper calls them only for text.
_scalars: set[Converter] = set()


def _exact_scalar(annotation: Any) -> type | None:
    """``int`` or ``float`` when the field is one of them (or it or None)."""
    for exact in (int, float):
        if annotation is exact or annotation == (exact | None):
            return exact
    return None


def _convert_with(annotation: Any) -> Converter:
    def convert(value: Any) -> Any:
        return None if value is None else msgspec.convert(value, annotation)

    return convert


def field_converter(annotation: Any, profile: ValueProfile) -> Converter | None:
    """The converter one field needs on this dialect, or None when values pass as they are."""
    info = mi.type_info(annotation)
    if isinstance(info, mi.UnionType):
        members = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(members) == 1:
            info = members[0]
    if isinstance(info, _PLAIN):
        return None
    if isinstance(info, mi.BoolType):
        return profile.bool_conv
    if isinstance(info, mi.DateTimeType):
        return profile.datetime_conv
    if isinstance(info, (mi.IntType, mi.FloatType)):
        return _scalar_converter(annotation)
    if isinstance(info, (mi.EnumType, mi.LiteralType, mi.DateType, mi.TimeType, mi.UUIDType,
                         mi.DecimalType)):
        return _convert_with(annotation)
    return _json_converter(annotation)


Check = tuple[str, int, Converter | None, Any]
# Per shape: the one-row mapper with conversions inlined for the common values, the
# general one-row mapper (the same function when nothing inlined could refuse a
# value), each also as a whole-list function (construction inside one comprehension:
# no call per row), and the checks that name a column that does not fit.
ListMapper = Callable[[Sequence[Any]], list[Any]]
_shapes: dict[tuple[type, tuple[str, ...], str],
              tuple[RowMapper, RowMapper, ListMapper, ListMapper, list[Check]]] = {}


def map_rows(into: type[T], columns: Sequence[str], profile: ValueProfile, rows: Sequence[Any]) -> list[T]:
    """Driver rows into ``into`` Structs, by a function generated once per shape and dialect.

    The generated function has no error handling of its own (a frame per row saved);
    when a row does not fit, the rows are gone through again to name the column."""
    key = (into, tuple(columns), profile.name)
    shape = _shapes.get(key)
    if shape is None:
        shape = _shapes[key] = _build_mapper(into, key[1], profile)
    quick, fast, quick_all, fast_all, checks = shape
    if quick is not fast:
        try:
            return quick_all(rows)
        except Exception:
            pass  # a value the inlined parse does not cover (SQLite text with an offset): the general mapper decides
    try:
        return fast_all(rows)
    except Exception as exc:
        for row in rows:
            try:
                fast(row)
            except Exception as row_exc:
                _diagnose(into, row, checks, row_exc)
        raise MappingError(f"rows do not fit {into.__name__}: {exc}") from exc


def map_row(into: type[T], columns: Sequence[str], profile: ValueProfile, row: Any) -> T:
    """One row (``fetch_one``): `map_rows` without building a list."""
    shape = _shapes.get((into, tuple(columns), profile.name))
    if shape is not None:
        try:
            return shape[0](row)  # type: ignore[no-any-return]
        except Exception:
            pass  # the general mapper decides, and names the column that does not fit
    return map_rows(into, columns, profile, (row,))[0]


def _build_mapper(into: type[Any], columns: tuple[str, ...], profile: ValueProfile
                  ) -> tuple[RowMapper, RowMapper, ListMapper, ListMapper, list[Check]]:
    if not (isinstance(into, type) and issubclass(into, msgspec.Struct)):
        raise MappingError(f"into= must be a msgspec.Struct type, got {into!r}")
    info = mi.type_info(into)
    assert isinstance(info, mi.StructType)
    position = {name: i for i, name in enumerate(columns)}
    if len(position) != len(columns):
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        raise MappingError(f"result has duplicate column names {dupes}; alias them to map into {into.__name__}")
    fields = info.fields
    encoded = {f.encode_name: f for f in fields}
    unknown = [c for c in columns if c not in encoded]
    if unknown and info.forbid_unknown_fields:
        raise MappingError(f"{into.__name__} has no field for column(s) {', '.join(unknown)}")
    missing = [f.encode_name for f in fields if f.required and f.encode_name not in position]
    if missing:
        raise MappingError(f"{into.__name__} requires column(s) {', '.join(missing)} missing from the result")

    hints = msgspec.structs.fields(into)
    annotations = {f.name: f.type for f in hints}
    env: dict[str, Any] = {"_T": into, "_dt": _datetime, "_UTC": UTC, "_fi": _fromisoformat, "_comb": _combine}
    args: list[str] = []
    quick_args: list[str] = []
    checks: list[Check] = []
    all_positional = all(f.encode_name in position for f in fields)
    for f in fields:
        if f.encode_name not in position:
            continue
        idx = position[f.encode_name]
        annotation = annotations[f.name]
        conv = field_converter(annotation, profile)
        expr = quick = f"row[{idx}]"
        if conv is not None:
            # The converter's common cases are inlined (a call per value is most of
            # the mapping's cost on a list); what they do not cover still calls it.
            env[f"_c{idx}"] = conv
            v = f"v{idx}"
            if conv is naive_to_utc:
                # asyncpg's timestamptz as it is, MySQL's naive DATETIME as UTC;
                # combine() is ~4x cheaper than replace(tzinfo=).
                expr = quick = (f"({v} if ({v} := {expr}) is None else ({v} if {v}.tzinfo is _UTC else "
                                f"_comb({v}.date(), {v}.time(), _UTC) if {v}.tzinfo is None else _c{idx}({v})) "
                                f"if {v}.__class__ is _dt else _c{idx}({v}))")
            elif conv is profile.datetime_conv:
                # Already what every converter returns (an aware UTC datetime): no call.
                expr = (f"({v} if ({v} := {expr}) is None or ({v}.__class__ is _dt "
                        f"and {v}.tzinfo is _UTC) else _c{idx}({v}))")
                if conv is text_to_datetime:
                    # SQLite text as rawdb writes it (naive UTC): text_to_datetime's first
                    # step, without the call. Text it does not parse raises, and the
                    # rows are mapped again by the general function.
                    quick = f"(None if ({v} := row[{idx}]) is None else _fi({v} + '+00:00'))"
                else:
                    quick = expr
            elif conv in _scalars:
                # A number as it is; text (a JSON column) decoded by the converter. The
                # exact-class test (no call) passes the common case; anything else (None,
                # an int for a float field, text) goes through the converter.
                exact = _exact_scalar(annotation)
                if exact is None:
                    expr = quick = f"(_c{idx}({v}) if isinstance({v} := {expr}, str) else {v})"
                else:
                    env[exact.__name__] = exact
                    expr = quick = f"({v} if ({v} := {expr}).__class__ is {exact.__name__} else _c{idx}({v}))"
            elif conv in _json_decoders:
                env[f"_d{idx}"] = _json_decoders[conv]
                expr = quick = (f"(_d{idx}({v}) if ({v} := {expr}).__class__ is str else "
                                f"None if {v} is None else _c{idx}({v}))")
            else:
                expr = quick = f"_c{idx}({expr})"
        args.append(expr if all_positional else f"{f.name}={expr}")
        quick_args.append(quick if all_positional else f"{f.name}={quick}")
        checks.append((f.encode_name, idx, conv, annotation))
    call, quick_call = f"_T({', '.join(args)})", f"_T({', '.join(quick_args)})"
    exec(f"def _map(row):\n    return {call}\n\n"
         f"def _map_all(rows):\n    return [{call} for row in rows]\n", env)
    if quick_args == args:
        return env["_map"], env["_map"], env["_map_all"], env["_map_all"], checks
    exec(f"def _quick(row):\n    return {quick_call}\n\n"
         f"def _quick_all(rows):\n    return [{quick_call} for row in rows]\n", env)
    return env["_quick"], env["_map"], env["_quick_all"], env["_map_all"], checks


def _diagnose(into: type, row: Any, checks: list[Check], exc: Exception) -> None:
    for column, idx, conv, annotation in checks:
        if conv is None:
            continue
        try:
            conv(row[idx])
        except Exception as inner:
            raise MappingError(
                f"column {column!r} does not fit {into.__name__}.{column}: {_type_name(annotation)} "
                f"({type(inner).__name__}: {inner})"
            ) from inner
    raise MappingError(f"row does not fit {into.__name__}: {exc}") from exc


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


class Row(tuple[Any, ...]):
    """A row addressable by position and by column name (``row[0]``, ``row["id"]``)."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise KeyError(f"no column {key!r} (columns: {', '.join(self._index)})") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)

    def get(self, key: str, default: Any = None) -> Any:
        idx = self._index.get(key)
        return default if idx is None else tuple.__getitem__(self, idx)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(self._index, self, strict=True))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in zip(self._index, self, strict=True))
        return f"Row({inner})"


_row_classes: dict[tuple[str, ...], type[Row]] = {}


def row_class(columns: Sequence[str]) -> type[Row]:
    key = tuple(columns)
    cls = _row_classes.get(key)
    if cls is None:
        index: dict[str, int] = {}
        for i, name in enumerate(key):
            index.setdefault(name, i)
        cls = _row_classes[key] = type("Row", (Row,), {"__slots__": (), "_index": index})
    return cls
