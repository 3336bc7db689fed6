"""UPDATEs built at run time: each one prepared, and the type of every column it sets compared.

The store's update operations set the columns their caller names, so their SQL
is built per call by ``Columns.update_sql(key, columns)``. `rawdb.checker.usage`
works out which key and columns reach that call from each operation (the whole
allow-list when the caller chooses the keys). Here each such UPDATE is built by
the binder's own ``update_sql`` — the code path the operation runs, not a copy
of it — and prepared on the scratch database, which proves the table, the key
and every column exist. Then the value each column is set to is compared with
the column's type: the value is what the column's converter in ``Columns``
returns, so its return annotation is the Python type bound. A column without a
converter, or a converter whose return type is not annotated, is reported
rather than guessed.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from rawdb.checker.probe import PrepareFailed, Probe, ResultColumn
from rawdb.checker.usage import UpdateUsage
from rawdb.errors import QueryError
from rawdb.sql import compile_sql

__all__ = ["UpdateMisfit", "UpdateProbe", "bound_types", "column_misfit", "update_statement"]

# For each Python type a converter returns (most specific first: a bool is an int), the
# column kinds that store it as that value on every dialect.
_ACCEPTS: tuple[tuple[type, frozenset[str]], ...] = (
    (bool, frozenset({"bool"})),
    (int, frozenset({"int", "float", "decimal"})),
    (float, frozenset({"float", "decimal"})),
    (Decimal, frozenset({"decimal", "float"})),
    (str, frozenset({"text", "json", "uuid"})),
    (datetime, frozenset({"datetime"})),
    (date, frozenset({"date"})),
    (time, frozenset({"time"})),
    (bytes, frozenset({"bytes"})),
    (UUID, frozenset({"uuid", "text"})),
)
# MySQL and SQLite have no boolean type: a bool is stored as 0/1 in an integer column.
_INT_BOOLS = frozenset({"mysql", "sqlite"})
# SQLite has no date and time types: the driver stores them as ISO text.
_TEXT_TIMES = frozenset({"sqlite"})


class UpdateMisfit(NamedTuple):
    kind: str
    """``prepare``, ``type`` or ``parameter``."""
    message: str
    at_call: bool
    """True: the call that runs the UPDATE is at fault (its parameters); False: the
    ``update_sql`` call that builds it (the columns it sets)."""


def update_statement(binder: Any, key: str, columns: Iterable[str]) -> str:
    """The UPDATE ``binder`` builds for ``columns``, in the order it declares its converters."""
    declared = {name: i for i, name in enumerate(getattr(binder, "converters", {}))}
    ordered = sorted(columns, key=lambda name: (declared.get(name, len(declared)), name))
    sql: str = binder.update_sql(key, ordered)
    return sql


def bound_types(converter: Any) -> tuple[type, ...] | None:
    """The Python types a converter's return annotation names (None dropped), or None when it names none."""
    target = converter if inspect.isroutine(converter) or not callable(converter) else type(converter).__call__
    try:
        annotation = typing.get_type_hints(target).get("return")
    except Exception:  # an annotation that does not evaluate says nothing usable
        return None
    return None if annotation is None else _classes(annotation)


def _classes(annotation: Any) -> tuple[type, ...] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return tuple(sorted({type(v) for v in typing.get_args(annotation)}, key=lambda t: t.__name__))
    parts = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    found: list[type] = []
    for part in parts:
        if part is type(None):
            continue
        part = typing.get_origin(part) or part  # dict[str, Any] binds a dict
        if part is Any or part is object or not isinstance(part, type):  # Any is a class since 3.11
            return None
        found.append(part)
    return tuple(found)


def column_misfit(table: str, column: str, converter: Any, described: ResultColumn | None,
                  dialect: str) -> str | None:
    """Why the value ``converter`` binds does not fit ``table.column`` as the server describes it."""
    if converter is None:
        return (f"sets {table}.{column}, which has no converter in its Columns, so the type of the value "
                "it gets cannot be checked")
    bound = bound_types(converter)
    if bound is None:
        return (f"cannot tell which type {table}.{column} is set to: annotate the return type of "
                "its converter")
    if described is None or described.kind == "unknown":
        return None
    for python_type in bound:
        accepted = next((kinds for cls, kinds in _ACCEPTS if issubclass(python_type, cls)), None)
        if accepted is None:
            continue  # a type rawdb adapts on the way in (a dict into JSON, …): not compared
        if python_type is bool and dialect in _INT_BOOLS:
            accepted = accepted | {"int"}
        if issubclass(python_type, (date, time)) and dialect in _TEXT_TIMES:
            accepted = accepted | {"text"}
        if described.kind not in accepted:
            return (f"column {table}.{column} is {described.type_name} ({described.kind}), but its "
                    f"converter binds {python_type.__name__}")
    return None


class UpdateProbe:
    """Prepares each built UPDATE once on one dialect and describes the tables they set."""

    def __init__(self, probe: Probe, dialect: str) -> None:
        self.probe = probe
        self.dialect = dialect
        self.statements = 0
        self.updates: dict[str, PrepareFailed | None] = {}
        """Each UPDATE prepared, and how the server refused it."""
        self._tables: dict[str, dict[str, ResultColumn] | None] = {}

    async def check(self, usage: UpdateUsage) -> list[UpdateMisfit]:
        ref = usage.update
        binder = ref.binder
        sql = update_statement(binder, ref.key, ref.columns)
        misfits = self._parameters(usage, sql)
        if sql not in self.updates:
            self.statements += 1
            try:
                await self.probe.prepare(sql)
                self.updates[sql] = None
            except PrepareFailed as exc:
                self.updates[sql] = exc
        failure = self.updates[sql]
        if failure is not None:
            misfits.append(UpdateMisfit("prepare", f"{failure.message} (in the UPDATE it builds: {sql})", False))
            return misfits
        table: str = binder.table
        described = await self._columns(table)
        converters: dict[str, Any] = getattr(binder, "converters", {})
        for column in sorted(ref.columns):
            found = described.get(column) if described is not None else None
            message = column_misfit(table, column, converters.get(column), found, self.dialect)
            if message is not None:
                misfits.append(UpdateMisfit("type", message, False))
        return misfits

    async def _columns(self, table: str) -> dict[str, ResultColumn] | None:
        if table not in self._tables:
            self.statements += 1
            try:
                described = await self.probe.prepare(f"SELECT * FROM {table}")
            except PrepareFailed:
                described = None  # the UPDATE's own prepare says what is wrong with the table
            self._tables[table] = {c.name: c for c in described} if described else None
        return self._tables[table]

    @staticmethod
    def _parameters(usage: UpdateUsage, sql: str) -> list[UpdateMisfit]:
        try:
            expected = compile_sql(sql, "qmark").name_set
        except QueryError as exc:
            return [UpdateMisfit("prepare", f"{exc} (in the UPDATE it builds: {sql})", False)]
        if expected in usage.params:
            return []
        closest = min(usage.params, key=lambda a: (len(a ^ expected), sorted(a)))
        parts = []
        missing, unused = sorted(expected - closest), sorted(closest - expected)
        if missing:
            parts.append(f"{', '.join(':' + n for n in missing)} {'is' if len(missing) == 1 else 'are'} not passed")
        if unused:
            parts.append(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} passed but not in the SQL")
        return [UpdateMisfit("parameter", f"{'; '.join(parts)} (the UPDATE it runs: {sql})", True)]
