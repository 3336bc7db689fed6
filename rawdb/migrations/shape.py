"""A database schema reduced to what baseline compares: tables, columns, CHECKs,
indexes and triggers, named the same way on every dialect.

``baseline(N)`` builds the expected shape by running scripts v001..vN on a
scratch database of the same dialect (an in-memory SQLite file, a PostgreSQL
schema inside a rolled-back transaction, a throwaway MySQL database), reads the
real one the same way, and compares. Missing tables or columns block the
baseline; everything else is reported, because adopting a database must never
silently rewrite (or drop) what it holds.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec

Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Sequence[Sequence[Any]]]]
"""Run a query with ``:name`` parameters, return rows as sequences."""


class Column(msgspec.Struct, frozen=True):
    type: str
    notnull: bool
    default: str | None


class Table(msgspec.Struct, frozen=True):
    columns: dict[str, Column]
    checks: int = 0


class Index(msgspec.Struct, frozen=True):
    table: str
    definition: str
    """Columns and uniqueness (normalised), so a same-named index on other columns differs."""


class Shape(msgspec.Struct, frozen=True):
    tables: dict[str, Table]
    indexes: dict[str, Index]
    triggers: dict[str, str]
    """Trigger name -> table."""


_SPACES = re.compile(r"\s+")


def norm(text: str | None) -> str | None:
    if text is None:
        return None
    return _SPACES.sub(" ", str(text)).strip().lower()


def compare(expected: Shape, actual: Shape, version: int) -> tuple[list[str], list[str]]:
    """Return (blocking, differences): missing tables/columns, then everything else."""
    blocking: list[str] = []
    differences: list[str] = []
    v = f"v{version:03d}"
    for name, table in expected.tables.items():
        have = actual.tables.get(name)
        if have is None:
            blocking.append(f"table {name} is missing")
            continue
        for column in table.columns:
            if column not in have.columns:
                blocking.append(f"column {name}.{column} is missing")
    for name, table in actual.tables.items():
        want = expected.tables.get(name)
        if want is None:
            differences.append(f"table {name} exists here but not in {v} (kept as is)")
            continue
        for column, got in table.columns.items():
            exp = want.columns.get(column)
            if exp is None:
                differences.append(f"column {name}.{column} exists here but not in {v}")
                continue
            if norm(got.type) != norm(exp.type):
                differences.append(
                    f"column {name}.{column}: type {got.type or '(none)'} here, {exp.type or '(none)'} in {v}"
                )
            if got.notnull != exp.notnull:
                here = "NOT NULL" if got.notnull else "nullable"
                there = "NOT NULL" if exp.notnull else "nullable"
                differences.append(f"column {name}.{column}: {here} here, {there} in {v}")
            if norm(got.default) != norm(exp.default):
                differences.append(
                    f"column {name}.{column}: default {got.default or 'none'} here, {exp.default or 'none'} in {v}"
                )
        if table.checks != want.checks:
            differences.append(f"table {name}: {table.checks} CHECK constraint(s) here, {want.checks} in {v}")
    for name, index in expected.indexes.items():
        got_index = actual.indexes.get(name)
        if got_index is None:
            differences.append(f"index {name} on {index.table} is missing")
        elif norm(got_index.definition) != norm(index.definition):
            differences.append(f"index {name}: {got_index.definition} here, {index.definition} in {v}")
    for name, index in actual.indexes.items():
        if name not in expected.indexes:
            differences.append(f"index {name} on {index.table} exists here but not in {v}")
    for name, table_name in expected.triggers.items():
        if name not in actual.triggers:
            differences.append(f"trigger {name} on {table_name} is missing")
    for name, table_name in actual.triggers.items():
        if name not in expected.triggers:
            differences.append(f"trigger {name} on {table_name} exists here but not in {v}")
    return blocking, differences


def own_table(name: str) -> bool:
    """rawdb's bookkeeping tables are not part of any application schema."""
    return name.lower().startswith("rawdb_")
