"""Nothing one user of a pooled connection leaves on the session reaches the next one.

rawdb resets (PostgreSQL) or replaces (MySQL, SQLite files) a connection only after
a statement it classified as able to leave state behind. Each case below is a way to
leave state that a keyword search would miss (a comment between words, a quoted
function name, SELECT … INTO, MySQL's executable comments and SET LOCAL), or that
a RESET ALL would not undo (the role, the session user, prepared statements). Every
case runs on a pool of one connection (SQLite: the single writer), checks that the
state really took hold inside the lease, then that the next user of the pool finds
the session as a fresh connection has it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

import rawdb
from rawdb.sql import compile_sql
from tests.conftest import IsolatedDatabase

TENANT = "rawdb_tenant"  # a PostgreSQL role a request might switch to


@dataclass(frozen=True)
class Case:
    name: str
    dialect: str
    statements: tuple[str, ...]
    probe: str  # one value describing the session; must be back to a fresh one's
    modes: tuple[str, ...] = ("transaction", "connection")

    def __str__(self) -> str:
        return self.name


PG_ROLE = "SELECT current_user || ' ' || session_user"
PG_FROM_SQL_PREPARED = "SELECT count(*) FROM pg_prepared_statements WHERE from_sql"
PG_TEMP_RELATIONS = "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
PG_ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
MYSQL_VARIABLE = "SELECT @rawdb_v IS NULL"
MYSQL_LOCK_HELD = "SELECT COALESCE(IS_USED_LOCK('rawdb_lock') = CONNECTION_ID(), 0)"

CASES = [
    # PostgreSQL: who the session is (RESET ALL leaves both the role and the session user).
    Case("pg-set-role", "postgresql", (f"SET ROLE {TENANT}",), PG_ROLE),
    Case("pg-set-role-comment", "postgresql", (f"SET/**/ROLE {TENANT}",), PG_ROLE),
    Case("pg-session-authorization", "postgresql", (f"SET SESSION AUTHORIZATION {TENANT}",), PG_ROLE),
    Case("pg-set-config-role", "postgresql", (f"SELECT set_config('role', '{TENANT}', false)",), PG_ROLE),
    Case("pg-quoted-set-config-role", "postgresql",
         (f"SELECT \"pg_catalog\".\"set_config\"('role', '{TENANT}', false)",), PG_ROLE),
    # PostgreSQL: settings, prepared statements, temporary objects, locks, listeners.
    Case("pg-set-comment", "postgresql", ("SET/**/work_mem = '1234kB'",), "SELECT current_setting('work_mem')"),
    Case("pg-quoted-set-config", "postgresql", ("SELECT \"set_config\"('work_mem', '1234kB', false)",),
         "SELECT current_setting('work_mem')"),
    Case("pg-prepare", "postgresql", ("PREPARE rawdb_p AS SELECT 1",), PG_FROM_SQL_PREPARED),
    Case("pg-prepare-comment", "postgresql", ("PREPARE/**/rawdb_p AS SELECT 1",), PG_FROM_SQL_PREPARED),
    Case("pg-select-into-temp", "postgresql", ("SELECT 1 AS x INTO TEMP rawdb_tmp",), PG_TEMP_RELATIONS),
    Case("pg-create-pg-temp", "postgresql", ("CREATE TABLE pg_temp.rawdb_tmp (x int)",), PG_TEMP_RELATIONS),
    Case("pg-create-or-replace-temp-view", "postgresql",
         ("CREATE OR REPLACE TEMP VIEW rawdb_tmp AS SELECT 1 AS x",), PG_TEMP_RELATIONS),
    Case("pg-quoted-advisory-lock", "postgresql", ("SELECT \"pg_advisory_lock\"(4242)",), PG_ADVISORY_LOCKS),
    Case("pg-listen-comment", "postgresql", ("LISTEN/**/rawdb_channel",),
         "SELECT count(*) FROM pg_listening_channels()", modes=("connection",)),
    # MySQL / MariaDB: user variables, session variables, locks.
    Case("mysql-select-into-variable", "mysql", ("SELECT 'leaked' INTO @rawdb_v",), MYSQL_VARIABLE),
    Case("mysql-select-from-into-variable", "mysql", ("SELECT 'leaked' INTO @rawdb_v FROM DUAL",),
         MYSQL_VARIABLE),
    Case("mysql-set-comment-variable", "mysql", ("SET/**/@rawdb_v = 'leaked'",), MYSQL_VARIABLE),
    Case("mysql-executable-comment", "mysql", ("/*!40101 SET @rawdb_v = 'leaked' */",), MYSQL_VARIABLE),
    Case("mysql-set-local", "mysql", ("SET LOCAL time_zone = '+05:00'",), "SELECT @@session.time_zone"),
    Case("mysql-executable-comment-setting", "mysql", ("/*!40101 SET time_zone = '+06:00' */",),
         "SELECT @@session.time_zone"),
    Case("mysql-quoted-get-lock", "mysql", ("SELECT `get_lock`('rawdb_lock', 0)",), MYSQL_LOCK_HELD),
    Case("mysql-double-dash-is-not-a-comment", "mysql", ("SELECT 1 --1, GET_LOCK('rawdb_lock', 0)",),
         MYSQL_LOCK_HELD),
    # SQLite: pragmas and attachments.
    # (the probes read pragmas as tables: a PRAGMA statement would itself count as stateful)
    Case("sqlite-pragma-comment", "sqlite", ("PRAGMA/**/cache_size = 1234",),
         "SELECT cache_size FROM pragma_cache_size"),
    Case("sqlite-attach-comment", "sqlite", ("ATTACH/**/DATABASE ':memory:' AS rawdb_aux",),
         "SELECT count(*) FROM pragma_database_list", modes=("connection",)),
]

# Temporary tables that shadow the real `items`: the next user's inserts must land in it.
SHADOWS = [
    Case("pg-select-into-temp", "postgresql", ("SELECT * INTO TEMP items FROM items WHERE false",), ""),
    Case("pg-select-into-temporary-table", "postgresql",
         ("SELECT * INTO TEMPORARY TABLE items FROM items WHERE false",), ""),
    Case("pg-create-pg-temp", "postgresql", ("CREATE TABLE pg_temp.items (id int PRIMARY KEY, note text)",), ""),
    Case("pg-create-comment-temp", "postgresql", ("CREATE/**/TEMP TABLE items (id int PRIMARY KEY, note text)",),
         ""),
    Case("mysql-create-comment-temporary", "mysql",
         ("CREATE/**/TEMPORARY TABLE items (id INT PRIMARY KEY, note VARCHAR(40))",), ""),
    Case("mysql-executable-comment", "mysql",
         ("/*!32312 CREATE TEMPORARY TABLE items (id INT PRIMARY KEY, note VARCHAR(40)) */",), ""),
    Case("sqlite-create-temp-schema", "sqlite", ("CREATE TABLE temp.items (id INTEGER PRIMARY KEY, note TEXT)",), ""),
    Case("sqlite-create-comment-temp", "sqlite",
         ("CREATE/**/TEMP TABLE items (id INTEGER PRIMARY KEY, note TEXT)",), ""),
]


def _matrix(cases: list[Case]) -> list[tuple[str, Case, str]]:
    return [(case.dialect, case, mode) for case in cases for mode in case.modes]


@pytest.fixture
async def one_conn(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    """max_size=1: the next user gets the very connection the last one released,
    unless the pool reset or replaced it (SQLite: every write goes to the one writer)."""
    pool = await isolated.pool(max_size=1, acquire_timeout=10)
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY, note VARCHAR(40))")
            if isolated.dialect == "postgresql":
                # A role without privileges, left in place: creating it is idempotent,
                # and other test runs against the same server may be using it.
                await conn.execute_verbatim(
                    f"DO $$ BEGIN CREATE ROLE {TENANT} NOLOGIN; "
                    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
        yield pool
    finally:
        await asyncio.wait_for(pool.close(timeout=5), 30)


@contextlib.asynccontextmanager
async def lease(pool: rawdb.Pool, mode: str) -> AsyncIterator[rawdb.Session]:
    if mode == "transaction":
        async with pool.transaction() as tx:
            yield tx
    else:
        async with pool.connection() as conn:
            yield conn


async def run(session: rawdb.Session, sql: str) -> None:
    if sql.lstrip().upper().startswith("SELECT"):
        await session.fetch_all(sql)
    else:
        await session.execute(sql)


async def probe(pool: rawdb.Pool, sql: str) -> object:
    async with pool.transaction() as tx:  # read-write: on SQLite, the writer
        return await tx.fetch_val(sql)


@pytest.mark.parametrize(("dialect", "case", "mode"), _matrix(CASES), ids=str)
async def test_no_trace_reaches_the_next_user(one_conn: rawdb.Pool, case: Case, mode: str) -> None:
    pool = one_conn
    fresh = await probe(pool, case.probe)
    async with lease(pool, mode) as session:
        for sql in case.statements:
            await run(session, sql)
        # The state took hold: without a reset the next user would inherit it.
        assert await session.fetch_val(case.probe) != fresh
    assert await probe(pool, case.probe) == fresh
    # ...and the connection still works for ordinary use.
    async with pool.transaction() as tx:
        assert await tx.execute("INSERT INTO items (id, note) VALUES (:id, 'after')", {"id": 1}) == 1


@pytest.mark.parametrize(("dialect", "case", "mode"), _matrix(SHADOWS), ids=str)
async def test_temporary_table_shadowing_swallows_no_insert(isolated: IsolatedDatabase, one_conn: rawdb.Pool,
                                                            case: Case, mode: str) -> None:
    pool = one_conn
    async with lease(pool, mode) as session:
        for sql in case.statements:
            await run(session, sql)
        await session.execute("INSERT INTO items (id, note) VALUES (100, 'into the shadow')")
        assert await session.fetch_val("SELECT count(*) FROM items") == 1
    for i in range(3):
        async with pool.transaction() as tx:
            assert await tx.execute("INSERT INTO items (id, note) VALUES (:id, 'kept')", {"id": i}) == 1
    observer = await isolated.pool(max_size=1, acquire_timeout=10)
    try:
        async with observer.connection() as conn:
            rows = await conn.fetch_all("SELECT id FROM items ORDER BY id")
    finally:
        await asyncio.wait_for(observer.close(timeout=5), 30)
    assert [r[0] for r in rows] == [0, 1, 2]


# -- PostgreSQL: the reset keeps asyncpg's statement cache working -------------------------
CACHED = "SELECT CAST(:n AS int) + 1"


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_pg_reset_keeps_asyncpg_statements(one_conn: rawdb.Pool) -> None:
    """The reset deallocates the user's prepared statements, not asyncpg's: a cached
    statement runs again after it, and the connection is reset, not replaced."""
    pool = one_conn
    async with pool.transaction() as tx:
        pid = await tx.fetch_val("SELECT pg_backend_pid()")
        assert await tx.fetch_val(CACHED, {"n": 1}) == 2
        await tx.execute("PREPARE rawdb_p AS SELECT 1")
        await tx.execute(f"SET ROLE {TENANT}")
    async with pool.transaction() as tx:
        assert await tx.fetch_val("SELECT pg_backend_pid()") == pid
        assert await tx.fetch_val(CACHED, {"n": 2}) == 3
        assert await tx.fetch_val(PG_FROM_SQL_PREPARED) == 0
        assert await tx.fetch_val("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql") > 0
    assert pool.stats().discarded_total == 0


@pytest.mark.parametrize("dialect", ["postgresql"])
@pytest.mark.parametrize("wipe", ["DEALLOCATE ALL", "DISCARD ALL", "DEALLOCATE/**/ALL"])
async def test_pg_user_deallocating_asyncpg_statements_costs_the_connection(one_conn: rawdb.Pool,
                                                                           wipe: str) -> None:
    """DEALLOCATE ALL / DISCARD ALL also remove the statements asyncpg caches; a
    connection lent out with that cache would fail every cached query."""
    pool = one_conn
    async with pool.connection() as conn:
        assert await conn.fetch_val(CACHED, {"n": 1}) == 2
        await conn.execute(wipe)
    for n in range(2, 4):
        async with pool.transaction() as tx:
            assert await tx.fetch_val(CACHED, {"n": n}) == n + 1


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_pg_reported_session_user_change_is_seen(one_conn: rawdb.Pool) -> None:
    """PostgreSQL reports the session user and superuser status on every change, so a
    role switched inside a function (no statement rawdb could classify) is still seen."""
    pool = one_conn
    async with pool.connection() as conn:
        await conn.execute_verbatim(
            "CREATE FUNCTION rawdb_become(r text) RETURNS text LANGUAGE sql "
            "AS $$ SELECT set_config('role', r, false) $$")
    async with pool.connection() as conn:
        assert conn._conn.session_changed is False
        assert compile_sql("SELECT rawdb_become(:r)", "dollar").stateful is False
        await conn.fetch_val("SELECT rawdb_become(:r)", {"r": TENANT})
        assert conn._conn.session_changed is True
        await conn.execute("RESET ROLE")
        assert conn._conn.session_changed is False
        await conn.execute(f"SET SESSION AUTHORIZATION {TENANT}")
        assert conn._conn.session_changed is True
    async with pool.connection() as conn:
        assert conn._conn.session_changed is False


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_role_switched_inside_a_function_does_not_reach_the_next_user(one_conn: rawdb.Pool) -> None:
    """No statement text shows the switch; the server's report of it makes the pool reset."""
    pool = one_conn
    async with pool.connection() as conn:
        await conn.execute_verbatim(
            "CREATE FUNCTION rawdb_become_quietly(r text) RETURNS text LANGUAGE sql "
            "AS $$ SELECT set_config('role', r, false) $$")
    async with pool.transaction() as tx:
        await tx.fetch_val("SELECT rawdb_become_quietly(:r)", {"r": TENANT})
        assert await tx.fetch_val("SELECT current_user") == TENANT
    async with pool.transaction() as tx:
        assert await tx.fetch_val("SELECT current_user") != TENANT


async def test_sqlite_memory_database_is_reset_in_place() -> None:
    """:memory: has one connection, which is the database: it cannot be replaced, so
    a temporary table shadowing a real one is dropped in place instead."""
    async with await rawdb.create_pool("sqlite:///:memory:") as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY)")
        async with pool.transaction() as tx:
            await tx.execute_verbatim("CREATE TEMP TABLE items (id INTEGER PRIMARY KEY)")
            await tx.execute("INSERT INTO items (id) VALUES (1)")
        for i in range(2, 5):
            async with pool.transaction() as tx:
                await tx.execute("INSERT INTO items (id) VALUES (:id)", {"id": i})
        async with pool.connection() as conn:
            assert [r[0] for r in await conn.fetch_all("SELECT id FROM main.items ORDER BY id")] == [2, 3, 4]
            assert await conn.fetch_val("PRAGMA foreign_keys") == 1
