"""MySQL/MariaDB: DDL commits implicitly, so progress is recorded statement by statement.

There is no way to make a script atomic here: every ``CREATE``/``ALTER``
commits on its own. So the runner records, before each script, a history row
marked dirty, bumps ``statements_done`` after each statement, and clears the
mark only when the script completes. A failure or a killed process leaves the
mark (with the database's message, or none for "interrupted: the statement may
have completed"); ``migrate`` then refuses with `DirtyDatabase` until an
operator fixes the schema and runs ``repair``, after which the script resumes
at the statement that failed. Concurrent migrators are serialised by
``GET_LOCK`` on the dedicated connection (released when it closes).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from rawdb.errors import MigrationError, RawDBError
from rawdb.migrations.base import HISTORY_TABLE, Backend, poll
from rawdb.migrations.discovery import Script
from rawdb.migrations.shape import Column, Fetch, Index, Shape, Table, own_table
from rawdb.migrations.splitter import Statement


class MySQLBackend(Backend):
    name = "mysql"
    atomic = False
    history_ddl = f"""CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
    version INT NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    checksum CHAR(64) NOT NULL,
    applied_at DATETIME(6) NOT NULL,
    duration_ms DOUBLE NOT NULL,
    success BOOLEAN NOT NULL,
    statements_done INT NOT NULL DEFAULT 0,
    progress_checksum CHAR(64) NULL,
    dirty BOOLEAN NOT NULL DEFAULT FALSE,
    error TEXT NULL,
    method VARCHAR(16) NOT NULL DEFAULT 'migrate'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""

    @contextlib.asynccontextmanager
    async def session_lock(self, deadline: float) -> AsyncIterator[None]:
        conn = self.conn
        database = await conn.fetch_val("SELECT DATABASE()")
        if database is None:
            raise MigrationError("the MySQL URL names no database; migrations need one")
        # GET_LOCK names are server-wide (max 64 characters): scope them to the database.
        name = f"rawdb_migrate:{database}"[:64]

        async def attempt() -> bool:
            got = await conn.fetch_val("SELECT GET_LOCK(:n, 0)", {"n": name})
            return bool(got == 1)

        if not await poll(deadline, attempt):
            raise self.locked_error(self.lock_timeout, f"the migration lock of database {database!r}")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await conn.fetch_val("SELECT RELEASE_LOCK(:n)", {"n": name})

    async def history_exists(self) -> bool:
        found = await self.conn.fetch_val(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :name",
            {"name": HISTORY_TABLE},
        )
        return bool(found)

    # -- introspection -------------------------------------------------------------
    async def tables(self) -> set[str]:
        rows = await self.conn.fetch_all(
            "SELECT table_name AS t FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        )
        return {str(r[0]).lower() for r in rows if not own_table(str(r[0]))}

    async def columns(self, tables: set[str]) -> dict[str, set[str]]:
        rows = await self.conn.fetch_all(
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE()"
        )
        result: dict[str, set[str]] = {t: set() for t in tables}
        for table, column in rows:
            if str(table).lower() in result:
                result[str(table).lower()].add(str(column).lower())
        return result

    def _fetch(self) -> Fetch:
        async def fetch(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            rows: list[Any] = await self.conn.fetch_all(sql, params)
            return rows

        return fetch

    async def actual_shape(self) -> Shape:
        database = str(await self.conn.fetch_val("SELECT DATABASE()"))
        return await read_shape(self._fetch(), database)

    async def expected_shape(self, scripts: Sequence[tuple[Script, list[Statement]]]) -> Shape:
        """Run the scripts in a throwaway database (needs CREATE/DROP DATABASE rights)."""
        conn = self.conn
        original = str(await conn.fetch_val("SELECT DATABASE()"))
        scratch = f"rawdb_baseline_{secrets.token_hex(6)}"
        try:
            await conn.execute_verbatim(f"CREATE DATABASE `{scratch}`")
        except RawDBError as exc:
            raise MigrationError(
                f"baseline needs a scratch database to run the scripts in, and CREATE DATABASE failed: {exc}"
            ) from exc
        try:
            await conn.execute_verbatim(f"USE `{scratch}`")
            for script, statements in scripts:
                for statement in statements:
                    try:
                        await conn.execute_verbatim(statement.text)
                    except RawDBError as exc:
                        raise MigrationError(
                            "cannot build the schema of the scripts to compare with: "
                            f"{script.name} "
                            f"statement {statement.index} failed on a scratch database: {exc}"
                        ) from exc
            return await read_shape(self._fetch(), scratch)
        finally:
            await conn.execute_verbatim(f"USE `{original}`")
            await conn.execute_verbatim(f"DROP DATABASE IF EXISTS `{scratch}`")


async def read_shape(fetch: Fetch, schema: str) -> Shape:
    """Tables, columns, CHECKs, indexes and triggers of one database (information_schema)."""
    columns: dict[str, dict[str, Column]] = {}
    for table, column, ctype, nullable, default in await fetch(
        "SELECT c.table_name AS t, c.column_name AS c, c.column_type AS ty, c.is_nullable AS n, "
        "c.column_default AS d FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' "
        "WHERE c.table_schema = :s ORDER BY c.table_name, c.ordinal_position",
        {"s": schema},
    ):
        if own_table(str(table)):
            continue
        columns.setdefault(str(table).lower(), {})[str(column).lower()] = Column(
            type=str(ctype),
            notnull=str(nullable) == "NO",
            default=None if default is None else str(default),
        )
    checks = {
        str(t).lower(): int(n)
        for t, n in await fetch(
            "SELECT table_name AS t, COUNT(*) AS n FROM information_schema.table_constraints "
            "WHERE constraint_schema = :s AND constraint_type = 'CHECK' GROUP BY table_name",
            {"s": schema},
        )
    }
    tables = {t: Table(columns=cols, checks=checks.get(t, 0)) for t, cols in columns.items()}
    parts: dict[str, tuple[str, bool, list[str]]] = {}
    for table, name, column, non_unique in await fetch(
        "SELECT table_name AS t, index_name AS i, column_name AS c, non_unique AS u "
        "FROM information_schema.statistics WHERE table_schema = :s "
        "ORDER BY table_name, index_name, seq_in_index",
        {"s": schema},
    ):
        if own_table(str(table)):
            continue
        key = f"{str(table).lower()}.{str(name).lower()}" if name == "PRIMARY" else str(name).lower()
        entry = parts.setdefault(key, (str(table).lower(), not bool(int(non_unique)), []))
        entry[2].append(str(column).lower())
    indexes = {
        name: Index(table=table, definition=f"{'unique ' if unique else ''}({', '.join(cols)})")
        for name, (table, unique, cols) in parts.items()
    }
    triggers = {
        str(name).lower(): str(table).lower()
        for name, table in await fetch(
            "SELECT trigger_name AS n, event_object_table AS t FROM information_schema.triggers "
            "WHERE trigger_schema = :s",
            {"s": schema},
        )
    }
    return Shape(tables=tables, indexes=indexes, triggers=triggers)
