"""PostgreSQL probe: a server-side prepare, plus the plan for where each column comes from.

``prepare()`` parses, resolves and plans the statement without running it and
reports the type of every parameter and result column. The protocol does not
say whether a result column can be NULL, so for columns that are plain
references to a table column the probe looks it up: the generic plan of the
statement (``EXPLAIN (VERBOSE)`` of a prepared statement, which does not execute
it) names the table behind each output column, and ``pg_attribute`` says
whether that column is NOT NULL. Expressions stay "unknown".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import asyncpg

from rawdb.checker.probe import PrepareFailed, ResultColumn, line_of_offset
from rawdb.config import DatabaseURL
from rawdb.errors import QueryError
from rawdb.sql import compile_sql

__all__ = ["PostgresProbe", "postgres_kind"]

_KINDS = {
    "int2": "int", "int4": "int", "int8": "int", "oid": "int",
    "float4": "float", "float8": "float", "numeric": "decimal", "money": "decimal",
    "bool": "bool",
    "text": "text", "varchar": "text", "bpchar": "text", "char": "text", "name": "text", "citext": "text",
    "timestamp": "datetime", "timestamptz": "datetime", "date": "date", "time": "time", "timetz": "time",
    "json": "json", "jsonb": "json", "uuid": "uuid", "bytea": "bytes",
}
# "alias.column", or a bare "column" when the plan reads a single relation.
_COLUMN_REF = re.compile(r'^(?:("?)([^".]+)\1\.)?("?)([^".]+)\3$')
_STATEMENT = "rawdb_check_statement"


def postgres_kind(type_name: str, type_kind: str) -> str:
    if type_kind == "array":
        return "array"
    return _KINDS.get(type_name, "unknown")


class PostgresProbe:
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._not_null: dict[tuple[str, str], dict[str, bool]] = {}

    @classmethod
    async def open(cls, url: DatabaseURL, schema: str, connect_timeout: float = 10) -> PostgresProbe:
        conn = await asyncpg.connect(
            host=url.host or "localhost",
            port=url.port or 5432,
            user=url.user,
            password=url.password,
            database=url.database,
            timeout=connect_timeout,
            statement_cache_size=0,
            # A generic plan keeps every parameter a parameter, so the plan shows the
            # columns behind the output even where a NULL argument would fold them away.
            server_settings={"search_path": schema, "plan_cache_mode": "force_generic_plan",
                             "TimeZone": "UTC", "application_name": "rawdb check"},
        )
        return cls(conn)

    async def prepare(self, sql: str) -> tuple[ResultColumn, ...] | None:
        try:
            compiled = compile_sql(sql, "dollar")
        except QueryError as exc:
            raise PrepareFailed(str(exc)) from None
        try:
            statement = await self._conn.prepare(compiled.text)
        except asyncpg.PostgresError as exc:
            position = getattr(exc, "position", None)
            line = line_of_offset(compiled.text, int(position) - 1) if position else None
            message = getattr(exc, "message", None) or str(exc)
            raise PrepareFailed(message, line) from None
        attributes = statement.get_attributes()
        if not attributes:
            return ()
        origins = await self._origins(compiled.text, len(compiled.names), len(attributes))
        return tuple(
            ResultColumn(a.name, postgres_kind(a.type.name, a.type.kind), a.type.name, *origins[i])
            for i, a in enumerate(attributes)
        )

    async def _origins(self, text: str, params: int, width: int) -> list[tuple[bool | None, str | None]]:
        """Per output column: (nullable, table column) for plain column references, else (None, None)."""
        unknown: list[tuple[bool | None, str | None]] = [(None, None)] * width
        try:
            await self._conn.execute(f"PREPARE {_STATEMENT} AS {text}")
        except asyncpg.PostgresError:
            return unknown
        try:
            args = f"({', '.join(['NULL'] * params)})" if params else ""
            raw = await self._conn.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {_STATEMENT}{args}")
        except asyncpg.PostgresError:
            return unknown
        finally:
            await self._conn.execute(f"DEALLOCATE {_STATEMENT}")
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        relations: dict[str, set[tuple[str, str]]] = {}
        for node in _nodes(plan):
            if "Relation Name" in node and "Alias" in node:
                relations.setdefault(node["Alias"], set()).add((node.get("Schema", ""), node["Relation Name"]))
        result = list(unknown)
        for i, expression in enumerate(plan.get("Output", [])[:width]):
            match = _COLUMN_REF.match(expression)
            if match is None:
                continue
            alias = match.group(2)
            tables = relations.get(alias, set()) if alias else set().union(*relations.values())
            if len(tables) != 1:
                continue
            origin = match.group(4)
            not_null = (await self._columns(*next(iter(tables)))).get(origin)
            if not_null is not None:
                result[i] = (not not_null, origin)
        return result

    async def _columns(self, schema: str, table: str) -> dict[str, bool]:
        key = (schema, table)
        if key not in self._not_null:
            rows = await self._conn.fetch(
                "SELECT a.attname, a.attnotnull FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
                schema, table,
            )
            self._not_null[key] = {row[0]: row[1] for row in rows}
        return self._not_null[key]

    async def close(self) -> None:
        await self._conn.close()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)
