"""The bare drivers at their fastest: the code a skilled user writes with the driver alone.

Each driver manages transactions its own way, in as few round trips (SQLite: thread
hops) as its public API allows, and the sequential workloads (W1-W4) run on one
connection, as a script or a single-worker service would: no pool to acquire
from, no reset on release. W5 is concurrent, so there each driver's own pool (or,
for SQLite, the usual writer-plus-readers set-up) serves the 64 tasks.

- PostgreSQL: asyncpg, ``conn.transaction(readonly=...)`` (asyncpg has no implicit
  transactions: BEGIN, the statements, COMMIT); a jsonb codec decodes
  ``task_metadata`` straight into `TaskMetadata`, so a row is ``Task(*record)``; W4 is
  ``copy_records_to_table`` (COPY) fed ``astuple`` rows as they are. W5: an asyncpg
  pool, which resets every connection on release (the ``bare_lax`` variant skips it).
- MySQL: aiomysql with its default autocommit off: the first statement opens the
  transaction, ``commit()`` ends it (no START TRANSACTION round trip); aware UTC
  datetimes are passed as they are (PyMySQL formats the wall time, the session is
  UTC); rows are mapped by position from PyMySQL's default converters; W4 is
  ``executemany``, which aiomysql rewrites into multi-row INSERTs. W5: an aiomysql pool.
- SQLite: aiosqlite in sqlite3's own transaction mode (``isolation_level="IMMEDIATE"``:
  sqlite3 sends BEGIN IMMEDIATE itself, in the same hop as the first write;
  ``commit()`` ends it); a read is one statement on a ``query_only`` connection,
  which SQLite runs as its own read transaction (BEGIN/COMMIT around it would add
  two hops and change nothing). Timestamps are written with ``isoformat`` and read
  with ``fromisoformat(text + "+00:00")``. W4 is ``executemany``. W5: one writer
  behind an asyncio.Lock plus 9 reader connections. ``bare_lax`` is the same with
  ``synchronous = NORMAL`` (faster commits, but a power loss may drop the last ones).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiomysql
import aiosqlite
import asyncpg
import msgspec

from benchmarks.contenders.base import SERVER_POOL_SIZE, SQLITE_READERS, Contender
from benchmarks.contenders.values import meta_decoder, mysql_row, sqlite_row
from benchmarks.data import COLUMNS, Task, WrittenTask, positional_sql

_json_encode = msgspec.json.encode
_meta_decode = meta_decoder.decode
_astuple = msgspec.structs.astuple


class _Statements:
    def __init__(self, style: str) -> None:
        self.select_one = positional_sql("select_one", style)
        self.list_session = positional_sql("list_session", style)
        self.insert = positional_sql("insert", style)
        self.update = positional_sql("update_status", style)
        self.insert_all = positional_sql("insert_all", style)


def _json_text(value: Any) -> str | None:
    return None if value is None else _json_encode(value).decode()


class BareContender(Contender):
    key = "bare"
    lax = False  # the variant that gives up a guarantee for speed (``bare_lax``)
    fair = False  # the variant whose pool is first come, first served, as rawdb's (``bare_fair``)

    @staticmethod
    def for_target(target: Any, *, lax: bool = False, fair: bool = False) -> BareContender:
        cls: type[BareContender] = {"sqlite": BareSQLite, "postgresql": BarePostgres,
                                    "mysql": BareMySQL}[target.dialect]
        contender = cls(target)
        if lax:
            contender.lax = True
            contender.key = "bare_lax"  # type: ignore[misc]
            contender.workloads = cls.lax_workloads  # type: ignore[misc]
        if fair:
            contender.fair = True
            contender.key = "bare_fair"  # type: ignore[misc]
            contender.workloads = cls.fair_workloads  # type: ignore[misc]
        return contender

    # What the lax and fair variants change, and so where they are worth measuring.
    lax_workloads: frozenset[str] = frozenset()
    lax_setup = ""
    fair_workloads: frozenset[str] = frozenset()


class _FairReaders:
    """Connections handed out first come, first served: a released one goes to the
    longest waiter, never back to a task that asks again at once (asyncio.Queue lets
    that task take it, and the woken waiter queues again at the back)."""

    def __init__(self) -> None:
        self.idle: list[Any] = []
        self.waiters: deque[asyncio.Future[Any]] = deque()

    async def get(self) -> Any:
        if self.idle and not self.waiters:
            return self.idle.pop()
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    def put_nowait(self, conn: Any) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)


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


async def _no_reset(conn: asyncpg.Connection) -> None:
    """bare_lax: return connections to asyncpg's pool without its reset round trip."""


class BarePostgres(BareContender):
    sql = _Statements("dollar")
    lax_workloads = frozenset({"W5"})
    lax_setup = "asyncpg pool with reset= a no-op: no reset round trip on release, session state is not cleared"
    _conn: asyncpg.Connection | None = None
    _pool: asyncpg.Pool | None = None

    @property
    def label(self) -> str:
        return "asyncpg (lax pool)" if self.lax else "asyncpg"

    @property
    def setup(self) -> str:
        if self.lax:
            return self.lax_setup
        return (f"W1-W4: one connection, conn.transaction(); W5: asyncpg.create_pool(max_size="
                f"{SERVER_POOL_SIZE}); jsonb codec, Task(*record), COPY")

    async def open(self, *, concurrent: bool) -> None:
        if concurrent:
            options: dict[str, Any] = {"reset": _no_reset} if self.lax else {}
            self._pool = await asyncpg.create_pool(self.target.url(), min_size=SERVER_POOL_SIZE,
                                                   max_size=SERVER_POOL_SIZE, init=_init_pg, **options)
        else:
            self._conn = await asyncpg.connect(self.target.url())
            await _init_pg(self._conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _with(self, work: Callable[[asyncpg.Connection], Awaitable[Any]], readonly: bool) -> Any:
        conn = self._conn
        if conn is not None:
            async with conn.transaction(readonly=readonly):
                return await work(conn)
        assert self._pool is not None
        async with self._pool.acquire() as pooled, pooled.transaction(readonly=readonly):
            return await work(pooled)

    async def read_one(self, task_id: str) -> Task | None:
        record = await self._with(lambda c: c.fetchrow(self.sql.select_one, task_id), True)
        return None if record is None else Task(*record)

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        insert, update = self.sql.insert, self.sql.update

        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(insert, task.task_id, task.session_id, task.task_description, task.status,
                               task.llm_profile_name, task.upload_files_path, task.workspace_dir,
                               task.mcp_server_config, task.task_result, task.error_message,
                               task.report_path, task.task_metadata, task.agent_mode)
            await conn.execute(update, "running", written.started_at, task.task_id)

        await self._with(work, False)

    async def list_session(self, session_id: str) -> list[Task]:
        records = await self._with(lambda c: c.fetch(self.sql.list_session, session_id), True)
        return [Task(*r) for r in records]

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        records = [_astuple(t) for t in tasks]
        await self._with(lambda c: c.copy_records_to_table("tasks", records=records, columns=COLUMNS), False)


# -- MySQL / MariaDB ----------------------------------------------------------------------------
def _mysql_insert_params(t: Task) -> tuple[Any, ...]:
    return (t.task_id, t.session_id, t.task_description, t.status, t.llm_profile_name, t.upload_files_path,
            t.workspace_dir, t.mcp_server_config, t.task_result, t.error_message, t.report_path,
            _json_text(t.task_metadata), t.agent_mode)


def _mysql_record(t: Task) -> tuple[Any, ...]:
    # Aware UTC datetimes as they are: PyMySQL writes their wall time, the session is UTC.
    m = t.task_metadata
    return (t.task_id, t.session_id, t.task_description, t.status, t.llm_profile_name, t.upload_files_path,
            t.workspace_dir, t.mcp_server_config, t.task_result, t.error_message, t.report_path,
            t.created_at, t.updated_at, t.started_at, t.completed_at,
            None if m is None else _json_encode(m).decode(), t.agent_mode)


class BareMySQL(BareContender):
    sql = _Statements("format")
    _conn: Any = None
    _pool: aiomysql.Pool | None = None

    @property
    def label(self) -> str:
        return "aiomysql"

    @property
    def setup(self) -> str:
        return (f"W1-W4: one connection; W5: aiomysql.create_pool(maxsize={SERVER_POOL_SIZE}); "
                "autocommit off (the driver's default: no START TRANSACTION), rows by position")

    def _options(self) -> dict[str, Any]:
        t = self.target
        return {"host": t.host, "port": t.port, "user": t.user, "password": t.password, "db": t.database,
                "autocommit": False, "charset": "utf8mb4", "init_command": "SET time_zone = '+00:00'"}

    async def open(self, *, concurrent: bool) -> None:
        if concurrent:
            self._pool = await aiomysql.create_pool(minsize=SERVER_POOL_SIZE, maxsize=SERVER_POOL_SIZE,
                                                    **self._options())
        else:
            self._conn = await aiomysql.connect(**self._options())

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        conn = self._conn
        if conn is not None:
            return await self._in_transaction(conn, work)
        assert self._pool is not None
        async with self._pool.acquire() as pooled:
            return await self._in_transaction(pooled, work)

    @staticmethod
    async def _in_transaction(conn: Any, work: Callable[[Any], Awaitable[Any]]) -> Any:
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

        row = await self._run(work)
        return None if row is None else mysql_row(row)

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        params = _mysql_insert_params(task)
        update = ("running", written.started_at, task.task_id)

        async def work(cur: Any) -> None:
            await cur.execute(self.sql.insert, params)
            await cur.execute(self.sql.update, update)

        await self._run(work)

    async def list_session(self, session_id: str) -> list[Task]:
        async def work(cur: Any) -> Any:
            await cur.execute(self.sql.list_session, (session_id,))
            return await cur.fetchall()

        rows = await self._run(work)
        return [mysql_row(r) for r in rows]

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        records = [_mysql_record(t) for t in tasks]

        async def work(cur: Any) -> None:
            await cur.executemany(self.sql.insert_all, records)

        await self._run(work)


# -- SQLite ---------------------------------------------------------------------------------------
def _sqlite_ts(value: dt.datetime | None) -> str | None:
    # The values are aware UTC: isoformat cut before its "+00:00" is the naive UTC
    # text every contender writes (strftime would cost ~2.5x as much).
    return None if value is None else value.isoformat(" ", "microseconds")[:26]


def _sqlite_insert_params(t: Task) -> tuple[Any, ...]:
    return (t.task_id, t.session_id, t.task_description, t.status, t.llm_profile_name, t.upload_files_path,
            t.workspace_dir, t.mcp_server_config, t.task_result, t.error_message, t.report_path,
            _json_text(t.task_metadata), t.agent_mode)


def _sqlite_record(t: Task) -> tuple[Any, ...]:
    m = t.task_metadata
    s, c = t.started_at, t.completed_at
    return (t.task_id, t.session_id, t.task_description, t.status, t.llm_profile_name, t.upload_files_path,
            t.workspace_dir, t.mcp_server_config, t.task_result, t.error_message, t.report_path,
            t.created_at.isoformat(" ", "microseconds")[:26], t.updated_at.isoformat(" ", "microseconds")[:26],
            None if s is None else s.isoformat(" ", "microseconds")[:26],
            None if c is None else c.isoformat(" ", "microseconds")[:26],
            None if m is None else _json_encode(m).decode(), t.agent_mode)


class BareSQLite(BareContender):
    sql = _Statements("qmark")
    lax_workloads = frozenset({"W2", "W4", "W5"})
    fair_workloads = frozenset({"W5"})
    lax_setup = "the same with PRAGMA synchronous = NORMAL (a power loss may drop the last commits)"

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.LifoQueue[aiosqlite.Connection] | _FairReaders = asyncio.LifoQueue()
        self._all: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()

    @property
    def label(self) -> str:
        if self.lax:
            return "aiosqlite (synchronous=NORMAL)"
        return "aiosqlite (FIFO readers)" if self.fair else "aiosqlite"

    @property
    def setup(self) -> str:
        if self.lax:
            return self.lax_setup
        if self.fair:
            return "the same, with the readers handed out first come, first served (as rawdb's pool)"
        return (f"WAL; writer isolation_level='IMMEDIATE' (sqlite3's implicit BEGIN), reads one statement on a "
                f"query_only connection; W1-W4: 1 writer + 1 reader, W5: 1 writer (asyncio.Lock) + "
                f"{SQLITE_READERS} readers")

    async def _connect(self, *, reader: bool) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.target.path, isolation_level=None if reader else "IMMEDIATE")
        pragmas = ["PRAGMA journal_mode = WAL", "PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON"]
        if reader:
            pragmas.append("PRAGMA query_only = ON")
        if self.lax:
            pragmas.append("PRAGMA synchronous = NORMAL")
        for pragma in pragmas:
            await db.execute(pragma)
        self._all.append(db)
        return db

    async def open(self, *, concurrent: bool) -> None:
        self._readers = _FairReaders() if self.fair else asyncio.LifoQueue()
        self._write_lock = asyncio.Lock()
        self._writer = await self._connect(reader=False)
        for _ in range(SQLITE_READERS if concurrent else 1):
            self._readers.put_nowait(await self._connect(reader=True))

    async def close(self) -> None:
        for db in self._all:
            await db.close()
        self._all.clear()

    async def _read(self, sql: str, args: tuple[Any, ...]) -> Any:
        db = await self._readers.get()
        try:
            return await db.execute_fetchall(sql, args)
        finally:
            self._readers.put_nowait(db)

    async def _write(self, work: Callable[[aiosqlite.Connection], Awaitable[Any]]) -> None:
        db = self._writer
        assert db is not None
        async with self._write_lock:
            try:
                await work(db)  # sqlite3 opens the transaction (BEGIN IMMEDIATE) with the first write
                await db.commit()
            except BaseException:
                await db.rollback()
                raise

    async def read_one(self, task_id: str) -> Task | None:
        rows = await self._read(self.sql.select_one, (task_id,))
        return sqlite_row(rows[0]) if rows else None

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        params = _sqlite_insert_params(task)
        update = ("running", _sqlite_ts(written.started_at), task.task_id)

        async def work(db: aiosqlite.Connection) -> None:
            await db.execute(self.sql.insert, params)
            await db.execute(self.sql.update, update)

        await self._write(work)

    async def list_session(self, session_id: str) -> list[Task]:
        rows = await self._read(self.sql.list_session, (session_id,))
        return [sqlite_row(r) for r in rows]

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        records = [_sqlite_record(t) for t in tasks]

        async def work(db: aiosqlite.Connection) -> None:
            await db.executemany(self.sql.insert_all, records)

        await self._write(work)

