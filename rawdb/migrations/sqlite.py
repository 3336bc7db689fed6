"""SQLite: ``BEGIN IMMEDIATE`` is the lock, ``PRAGMA user_version`` is the version.

Each script runs statement by statement with ``execute()`` inside one ``BEGIN
IMMEDIATE`` transaction that also sets ``user_version`` and writes the history
row, then commits: all or nothing, even if the process is killed. The version
is re-read inside that transaction, so concurrent migrators (other processes
or tasks) apply each script exactly once. ``user_version`` keeps the meaning
the old runner gave it, so its files are picked up where they stopped.

A ``-- rawdb: no-transaction`` script (``VACUUM``) cannot hold that lock while
it runs: its history row is claimed dirty inside a ``BEGIN IMMEDIATE``
transaction first, so a second migrator arriving meanwhile stops with
`DirtyDatabase` ("interrupted ... may have completed") instead of running it
twice; the message tells the operator to check whether a migrator is still busy.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from rawdb.errors import LockTimeout, RawDBError
from rawdb.migrations.base import HISTORY_TABLE, Backend
from rawdb.migrations.discovery import Script
from rawdb.migrations.shape import Column, Fetch, Index, Shape, Table, own_table
from rawdb.migrations.splitter import Statement
from rawdb.session import Session

_FOREIGN_KEYS_PRAGMA = re.compile(r"^PRAGMA\s+(?:main\.)?foreign_keys\s*(?:=\s*|\(\s*)['\"]?(\w+)", re.IGNORECASE)
_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)
_LOCK_POLL_MS = 200


def foreign_keys_pragma(statement: Statement) -> str | None:
    """``ON``/``OFF``/... if the statement sets ``PRAGMA foreign_keys``, else None."""
    m = _FOREIGN_KEYS_PRAGMA.match(statement.text)
    return m.group(1).upper() if m else None


class SQLiteBackend(Backend):
    name = "sqlite"
    atomic_in_snapshot = True
    history_ddl = f"""CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
    version INTEGER NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    success INTEGER NOT NULL,
    statements_done INTEGER NOT NULL DEFAULT 0,
    progress_checksum TEXT,
    dirty INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    method TEXT NOT NULL DEFAULT 'migrate'
)"""

    @contextlib.asynccontextmanager
    async def snapshot(self, deadline: float, *, write: bool) -> AsyncIterator[None]:
        conn = self.conn
        if write:
            await self._begin_immediate(deadline)
        else:
            await conn.execute_verbatim("BEGIN")  # deferred: one consistent WAL snapshot
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.execute_verbatim("ROLLBACK")
            raise
        await conn.execute_verbatim("COMMIT")

    async def _begin_immediate(self, deadline: float) -> None:
        """Poll for the write lock with a short busy timeout, so the wait stays
        bounded by ``lock_timeout`` and cancellable between attempts."""
        conn = self.conn
        await conn.execute_verbatim(f"PRAGMA busy_timeout = {_LOCK_POLL_MS}")
        try:
            while True:
                try:
                    await conn.execute_verbatim("BEGIN IMMEDIATE")
                    return
                except LockTimeout:
                    if time.monotonic() >= deadline:
                        raise self.locked_error(self.lock_timeout, "the SQLite write lock") from None
        finally:
            await conn.execute_verbatim(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    async def read_version(self) -> int:
        value = await self.conn.fetch_val("PRAGMA user_version")
        return int(value)

    async def history_exists(self) -> bool:
        found = await self.conn.fetch_val(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name",
            {"name": HISTORY_TABLE},
        )
        return found is not None

    async def ensure_history_in_snapshot(self) -> None:
        # Created inside the first migration's transaction: status() and dry runs
        # never write to a database the old runner made.
        await self.conn.execute_verbatim(self.history_ddl)

    async def ensure_history(self) -> None:
        """Nothing before the run: the table is made inside the first script's transaction."""

    async def set_version(self, session: Session, version: int) -> None:
        await session.execute_verbatim(f"PRAGMA user_version = {int(version)}")

    async def apply_in_snapshot(self, script: Script, statements: Sequence[Statement], version_before: int) -> float:
        """Run inside `snapshot(write=True)`: statements, user_version, history row."""
        started = time.perf_counter()
        await self.ensure_history_in_snapshot()
        await self.run_atomic(self.conn, script, statements, version_before)
        await self.set_version(self.conn, script.version)
        duration = (time.perf_counter() - started) * 1000
        await self.record(self.conn, script, success=True, duration_ms=duration, statements_done=len(statements))
        return duration

    # -- introspection -------------------------------------------------------------
    async def tables(self) -> set[str]:
        rows = await self.conn.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {str(r[0]).lower() for r in rows if not own_table(str(r[0]))}

    async def columns(self, tables: set[str]) -> dict[str, set[str]]:
        result: dict[str, set[str]] = {}
        for table in tables:
            rows = await self.conn.fetch_all("SELECT name FROM pragma_table_info(:t)", {"t": table})
            result[table] = {str(r[0]).lower() for r in rows}
        return result

    async def actual_shape(self) -> Shape:
        async def fetch(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            rows: list[Any] = await self.conn.fetch_all(sql, params)
            return rows

        return await read_shape(fetch)

    @contextlib.asynccontextmanager
    async def conforming(self) -> AsyncIterator[None]:
        # Both are no-ops inside a transaction, so they are set around it. Foreign keys
        # off: dropping a table being rebuilt must not cascade into (or be refused for)
        # the rows that reference it; conform checks them before the commit instead.
        # legacy_alter_table on: renaming the rebuilt table back must leave other
        # tables' triggers and views as written (otherwise SQLite re-parses them while
        # the old table is gone and refuses).
        conn = self.conn
        await conn.execute_verbatim("PRAGMA foreign_keys = OFF")
        try:
            await conn.execute_verbatim("PRAGMA legacy_alter_table = ON")
            yield
        finally:
            with contextlib.suppress(Exception):
                await conn.execute_verbatim("PRAGMA legacy_alter_table = OFF")
            await conn.execute_verbatim("PRAGMA foreign_keys = ON")

    async def conform(
        self,
        scripts: Sequence[tuple[Script, list[Statement]]],
        skipped: Sequence[tuple[Script, list[Statement]]],
        *,
        version: int,
        expected: Shape,
        actual: Shape,
    ) -> list[str]:
        from rawdb.migrations.sqlite_conform import conform

        return await conform(self.conn, scripts, skipped, version=version, expected=expected, actual=actual)

    async def expected_shape(self, scripts: Sequence[tuple[Script, list[Statement]]]) -> Shape:
        scratch = sqlite3.connect(":memory:", isolation_level=None)
        try:
            for _script, statements in scripts:
                for statement in statements:
                    scratch.execute(statement.text)

            async def fetch(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
                return scratch.execute(sql, dict(params)).fetchall()

            return await read_shape(fetch)
        except sqlite3.Error as exc:
            raise RawDBError(f"the scripts failed on a scratch database: {exc}") from exc
        finally:
            scratch.close()


async def read_shape(fetch: Fetch) -> Shape:
    """The shape of a SQLite database, through any ``fetch`` (rawdb or sqlite3)."""
    tables: dict[str, Table] = {}
    for name, sql in await fetch(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        {},
    ):
        if own_table(name):
            continue
        columns = {
            str(col).lower(): Column(
                type=str(ctype or ""),
                notnull=bool(notnull) or bool(pk),
                default=None if default is None else str(default),
            )
            for col, ctype, notnull, default, pk in await fetch(
                'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(:t) ORDER BY cid',
                {"t": name},
            )
        }
        tables[str(name).lower()] = Table(columns=columns, checks=len(_CHECK.findall(sql or "")))
    indexes: dict[str, Index] = {}
    for name, table in await fetch(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
        "AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name",
        {},
    ):
        if own_table(table):
            continue
        cols = [str(r[0]) for r in await fetch("SELECT name FROM pragma_index_info(:i) ORDER BY seqno", {"i": name})]
        flags = await fetch(
            'SELECT "unique", partial FROM pragma_index_list(:t) WHERE name = :i',
            {"t": table, "i": name},
        )
        unique, partial = (bool(flags[0][0]), bool(flags[0][1])) if flags else (False, False)
        definition = f"{'unique ' if unique else ''}({', '.join(cols)}){' partial' if partial else ''}"
        indexes[str(name).lower()] = Index(table=str(table).lower(), definition=definition)
    triggers = {
        str(name).lower(): str(table).lower()
        for name, table in await fetch(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name", {}
        )
    }
    return Shape(tables=tables, indexes=indexes, triggers=triggers)
