"""PostgreSQL: transactional DDL, a polled advisory lock, the version in the history.

A script and its history row commit in one transaction. The lock is a
session-level advisory lock on the dedicated connection, taken with
``pg_try_advisory_lock`` in a loop rather than a blocking call, so the wait is
bounded by ``lock_timeout`` and a cancelled migrator never sits inside a
statement; closing the connection releases it whatever happened. The lock key
includes the schema, so migrators of different schemas in one database (tests)
do not wait for each other. Session advisory locks need a session: point
migrations at the server (or a session-mode pooler), not at pgbouncer in
transaction mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from rawdb.errors import MigrationError, QueryError, RawDBError
from rawdb.migrations.base import HISTORY_TABLE, Backend, poll
from rawdb.migrations.discovery import Script
from rawdb.migrations.shape import Column, Fetch, Index, Shape, Table, own_table
from rawdb.migrations.splitter import Statement
from rawdb.session import Session


def lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory-lock key for this schema's migrations."""
    digest = hashlib.sha256(f"rawdb-migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresBackend(Backend):
    name = "postgresql"
    history_ddl = f"""CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
    version integer NOT NULL PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL,
    duration_ms double precision NOT NULL,
    success boolean NOT NULL,
    statements_done integer NOT NULL DEFAULT 0,
    progress_checksum text,
    dirty boolean NOT NULL DEFAULT false,
    error text,
    method text NOT NULL DEFAULT 'migrate'
)"""

    @contextlib.asynccontextmanager
    async def session_lock(self, deadline: float) -> AsyncIterator[None]:
        conn = self.conn
        # A killed migrator's backend would otherwise run its current statement to the
        # end (holding the lock) before noticing the client is gone (PostgreSQL >= 14).
        with contextlib.suppress(QueryError):
            await conn.execute_verbatim("SET client_connection_check_interval = 1000")
        schema = str(await conn.fetch_val("SELECT current_schema()"))
        key = lock_key(schema)

        async def attempt() -> bool:
            got = await conn.fetch_val("SELECT pg_try_advisory_lock(CAST(:k AS bigint))", {"k": key})
            return bool(got)

        if not await poll(deadline, attempt):
            raise self.locked_error(self.lock_timeout, f"the migration lock of schema {schema!r}")
        try:
            yield
        finally:
            # Closing the dedicated connection releases it too; this is for :memory:-like reuse.
            with contextlib.suppress(Exception):
                await conn.fetch_val("SELECT pg_advisory_unlock(CAST(:k AS bigint))", {"k": key})

    async def history_exists(self) -> bool:
        return bool(await self.conn.fetch_val("SELECT to_regclass(:name) IS NOT NULL", {"name": HISTORY_TABLE}))

    # -- introspection -------------------------------------------------------------
    async def tables(self) -> set[str]:
        rows = await self.conn.fetch_all(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {str(r[0]).lower() for r in rows if not own_table(str(r[0]))}

    async def columns(self, tables: set[str]) -> dict[str, set[str]]:
        rows = await self.conn.fetch_all(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        )
        result: dict[str, set[str]] = {t: set() for t in tables}
        for table, column in rows:
            if str(table).lower() in result:
                result[str(table).lower()].add(str(column).lower())
        return result

    def _fetch(self, session: Session) -> Fetch:
        async def fetch(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            rows: list[Any] = await session.fetch_all(sql, params)
            return rows

        return fetch

    async def actual_shape(self) -> Shape:
        schema = str(await self.conn.fetch_val("SELECT current_schema()"))
        return await read_shape(self._fetch(self.conn), schema)

    async def expected_shape(self, scripts: Sequence[tuple[Script, list[Statement]]]) -> Shape:
        """Run the scripts in a scratch schema inside a transaction that is rolled back."""
        scratch = f"rawdb_baseline_{secrets.token_hex(6)}"
        shape: Shape | None = None

        class _Rollback(Exception):
            pass

        try:
            async with self.conn.transaction() as tx:
                await tx.execute_verbatim(f"CREATE SCHEMA {scratch}")
                await tx.execute_verbatim(f"SET LOCAL search_path TO {scratch}")
                for script, statements in scripts:
                    for statement in statements:
                        try:
                            await tx.execute_verbatim(statement.text)
                        except RawDBError as exc:
                            raise MigrationError(
                                f"cannot build the schema of the scripts to compare with: "
                                f"{script.name} statement {statement.index} failed on a scratch "
                                f"schema: {exc}"
                            ) from exc
                shape = await read_shape(self._fetch(tx), scratch)
                raise _Rollback
        except _Rollback:
            pass
        assert shape is not None
        return shape


async def read_shape(fetch: Fetch, schema: str) -> Shape:
    """Tables, columns, CHECKs, indexes and triggers of one schema, from pg_catalog."""
    tables: dict[str, Table] = {}
    rows = await fetch(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY c.relname, a.attnum",
        {"s": schema},
    )
    columns: dict[str, dict[str, Column]] = {}
    for table, column, ctype, notnull, default in rows:
        if own_table(str(table)):
            continue
        columns.setdefault(str(table), {})[str(column)] = Column(
            type=str(ctype),
            notnull=bool(notnull),
            default=None if default is None else str(default),
        )
    checks = {
        str(t): int(n)
        for t, n in await fetch(
            "SELECT c.relname, count(*) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND k.contype "
            "= 'c' "
            "GROUP BY c.relname",
            {"s": schema},
        )
    }
    for table, cols in columns.items():
        tables[table] = Table(columns=cols, checks=checks.get(table, 0))
    indexes = {
        str(name): Index(
            table=str(table),
            definition=str(definition).replace(f"{schema}.", "").split(" USING ", 1)[-1]
            + (" unique" if " UNIQUE " in str(definition) else ""),
        )
        for name, table, definition in await fetch(
            "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = :s",
            {"s": schema},
        )
        if not own_table(str(table))
    }
    triggers = {
        str(name): str(table)
        for name, table in await fetch(
            "SELECT DISTINCT trigger_name, event_object_table FROM information_schema.triggers "
            "WHERE trigger_schema = :s",
            {"s": schema},
        )
    }
    return Shape(tables=tables, indexes=indexes, triggers=triggers)
