"""The bare drivers, used well: their own pools, hand-written SQL, hand-mapped Structs.

- PostgreSQL: an asyncpg pool; a jsonb codec decodes ``task_metadata`` straight into
  `TaskMetadata`, so a row becomes ``Task(*record)``; W4 is ``copy_records_to_table``.
- MySQL: an aiomysql pool (autocommit, explicit transactions); rows mapped by position;
  W4 is ``executemany``, which aiomysql rewrites into multi-row INSERTs.
- SQLite: aiosqlite with WAL, one writer connection behind an asyncio.Lock (``BEGIN
  IMMEDIATE``) and a LIFO queue of reader connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import aiomysql
import aiosqlite
import asyncpg
import msgspec

from benchmarks.contenders.base import SERVER_POOL_SIZE, SQLITE_READERS, Contender
from benchmarks.contenders.values import (
    meta_decoder,
    mysql_row,
    param_adapters,
    sqlite_row,
    task_params,
)
from benchmarks.data import COLUMNS, INSERT_COLUMNS, Task, WrittenTask, positional_sql

_json_encode = msgspec.json.encode
_meta_decode = meta_decoder.decode


class _Statements:
    def __init__(self, style: str) -> None:
        self.select_one = positional_sql("select_one", style)
        self.list_session = positional_sql("list_session", style)
        self.insert = positional_sql("insert", style)
        self.update = positional_sql("update_status", style)
        self.insert_all = positional_sql("insert_all", style)


class BareContender(Contender):
    key = "bare"

    @staticmethod
    def for_target(target: Any) -> BareContender:
        cls: type[BareContender] = {"sqlite": BareSQLite, "postgresql": BarePostgres,
                                    "mysql": BareMySQL}[target.dialect]
        return cls(target)


# -- PostgreSQL ------------------------------------------------------------------------------
def _jsonb_encode(value: Any) -> bytes:
    # jsonb's binary format is a version byte (1) and the JSON text; binary so
    # that COPY (always binary in asyncpg) can use the same codec.
    return b"\x01" + (value.encode() if isinstance(value, str) else _json_encode(value))


def _jsonb_decode(data: bytes) -> Any:
    return _meta_decode(memoryview(data)[1:])


async def _init_pg(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                              encoder=_jsonb_encode, decoder=_jsonb_decode)


class BarePostgres(BareContender):
    sql = _Statements("dollar")
    _pool: asyncpg.Pool

    @property
    def label(self) -> str:
        return "asyncpg pool"

    @property
    def setup(self) -> str:
        return f"asyncpg.create_pool(max_size={SERVER_POOL_SIZE}), jsonb codec, Task(*record)"

    async def open(self, *, concurrent: bool) -> None:
        size = SERVER_POOL_SIZE if concurrent else 1
        self._pool = await asyncpg.create_pool(self.target.url(), min_size=size,
                                               max_size=SERVER_POOL_SIZE, init=_init_pg)

    async def close(self) -> None:
        await self._pool.close()

    async def read_one(self, task_id: str) -> Task | None:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            record = await conn.fetchrow(self.sql.select_one, task_id)
        return None if record is None else Task(*record)

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(self.sql.insert, *[getattr(task, n) for n in INSERT_COLUMNS])
            await conn.execute(self.sql.update, "running", written.started_at, task.task_id)

    async def list_session(self, session_id: str) -> list[Task]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            records = await conn.fetch(self.sql.list_session, session_id)
        return [Task(*r) for r in records]

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        records = [tuple([getattr(t, n) for n in COLUMNS]) for t in tasks]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("tasks", records=records, columns=list(COLUMNS))


# -- MySQL / MariaDB ----------------------------------------------------------------------------
class BareMySQL(BareContender):
    sql = _Statements("format")
    _pool: aiomysql.Pool

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._insert_adapt = param_adapters("mysql", INSERT_COLUMNS)
        self._all_adapt = param_adapters("mysql", COLUMNS)

    @property
    def label(self) -> str:
        return "aiomysql pool"

    @property
    def setup(self) -> str:
        return f"aiomysql.create_pool(maxsize={SERVER_POOL_SIZE}, autocommit=True), rows by position"

    async def open(self, *, concurrent: bool) -> None:
        t = self.target
        self._pool = await aiomysql.create_pool(
            host=t.host, port=t.port, user=t.user, password=t.password, db=t.database,
            minsize=SERVER_POOL_SIZE if concurrent else 1, maxsize=SERVER_POOL_SIZE,
            autocommit=True, charset="utf8mb4", init_command="SET time_zone = '+00:00'",
        )

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()

    async def _run(self, begin: str, work: Callable[[Any], Any]) -> Any:
        async with self._pool.acquire() as conn:
            await conn.query(begin)
            try:
                async with conn.cursor() as cur:
                    result = await work(cur)
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
            return result

    async def read_one(self, task_id: str) -> Task | None:
        async def work(cur: Any) -> Any:
            await cur.execute(self.sql.select_one, (task_id,))
            return await cur.fetchone()

        row = await self._run("START TRANSACTION READ ONLY", work)
        return None if row is None else mysql_row(row)

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        params = task_params(task, INSERT_COLUMNS, self._insert_adapt)
        update = ("running", written.started_at.replace(tzinfo=None), task.task_id)

        async def work(cur: Any) -> None:
            await cur.execute(self.sql.insert, params)
            await cur.execute(self.sql.update, update)

        await self._run("START TRANSACTION", work)

    async def list_session(self, session_id: str) -> list[Task]:
        async def work(cur: Any) -> Any:
            await cur.execute(self.sql.list_session, (session_id,))
            return await cur.fetchall()

        rows = await self._run("START TRANSACTION READ ONLY", work)
        return [mysql_row(r) for r in rows]

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        adapt = self._all_adapt
        records = [task_params(t, COLUMNS, adapt) for t in tasks]

        async def work(cur: Any) -> None:
            await cur.executemany(self.sql.insert_all, records)

        await self._run("START TRANSACTION", work)


# -- SQLite ---------------------------------------------------------------------------------------
class BareSQLite(BareContender):
    sql = _Statements("qmark")

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._insert_adapt = param_adapters("sqlite", INSERT_COLUMNS)
        self._all_adapt = param_adapters("sqlite", COLUMNS)
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        self._all: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()

    @property
    def label(self) -> str:
        return "aiosqlite"

    @property
    def setup(self) -> str:
        return f"WAL, 1 writer (asyncio.Lock, BEGIN IMMEDIATE) + {SQLITE_READERS} readers"

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.target.path, isolation_level=None)
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA busy_timeout = 5000")
        await db.execute("PRAGMA foreign_keys = ON")
        self._all.append(db)
        return db

    async def open(self, *, concurrent: bool) -> None:
        self._readers = asyncio.LifoQueue()
        self._write_lock = asyncio.Lock()
        self._writer = await self._connect()
        for _ in range(SQLITE_READERS):
            self._readers.put_nowait(await self._connect())

    async def close(self) -> None:
        for db in self._all:
            await db.close()
        self._all.clear()

    async def _read(self, sql: str, args: tuple[Any, ...]) -> Any:
        db = await self._readers.get()
        try:
            await db.execute("BEGIN")
            try:
                rows = await db.execute_fetchall(sql, args)
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            return rows
        finally:
            self._readers.put_nowait(db)

    async def _write(self, work: Callable[[aiosqlite.Connection], Any]) -> None:
        db = self._writer
        assert db is not None
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                await work(db)
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def read_one(self, task_id: str) -> Task | None:
        rows = await self._read(self.sql.select_one, (task_id,))
        return sqlite_row(rows[0]) if rows else None

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        params = task_params(task, INSERT_COLUMNS, self._insert_adapt)
        update = ("running", written.started_at.strftime("%Y-%m-%d %H:%M:%S.%f"), task.task_id)

        async def work(db: aiosqlite.Connection) -> None:
            await db.execute(self.sql.insert, params)
            await db.execute(self.sql.update, update)

        await self._write(work)

    async def list_session(self, session_id: str) -> list[Task]:
        rows = await self._read(self.sql.list_session, (session_id,))
        return [sqlite_row(r) for r in rows]

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        adapt = self._all_adapt
        records = [task_params(t, COLUMNS, adapt) for t in tasks]

        async def work(db: aiosqlite.Connection) -> None:
            await db.executemany(self.sql.insert_all, records)

        await self._write(work)
