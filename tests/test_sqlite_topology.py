"""SQLite's one-writer-plus-readers topology, and the transaction options on all dialects.

SQLite: WAL, busy_timeout and foreign_keys on every connection; read-write
transactions take the write lock up front (BEGIN IMMEDIATE) on the single writer;
``readonly=True`` runs on a ``query_only`` reader; ``:memory:`` shares one
connection. On every dialect: isolation names, read-only violations, savepoints.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Protocol

import pytest

import rawdb


class Isolated(Protocol):
    """The `isolated` fixture of conftest.py (not importable: several conftest modules exist)."""

    dialect: str
    url: str
    options: dict[str, Any]
    name: str

    async def pool(self, **options: Any) -> rawdb.Pool: ...


def sqlite_path(isolated: Isolated) -> str:
    url = isolated.url
    assert url.startswith("sqlite:///")
    return url.removeprefix("sqlite:///")


def require_sqlite(dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite topology")


async def make_counter(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        await conn.execute("INSERT INTO counter (id, n) VALUES (1, 0)")


async def increment(pool: rawdb.Pool) -> None:
    async with pool.transaction() as tx:
        n = await tx.fetch_val("SELECT n FROM counter WHERE id = 1")
        await tx.execute("UPDATE counter SET n = :n WHERE id = 1", {"n": n + 1})


async def counter_value(pool: rawdb.Pool) -> int:
    async with pool.transaction(readonly=True) as tx:
        return int(await tx.fetch_val("SELECT n FROM counter WHERE id = 1"))


# -- SQLite only ------------------------------------------------------------------------


async def test_pragmas_seen_inside_transactions(isolated: Isolated, dialect: str) -> None:
    require_sqlite(dialect)
    async with await isolated.pool(max_size=3, busy_timeout=2.5) as pool:
        for readonly in (False, True):
            async with pool.transaction(readonly=readonly) as tx:
                assert await tx.fetch_val("PRAGMA journal_mode") == "wal"
                assert await tx.fetch_val("PRAGMA busy_timeout") == 2500
                assert await tx.fetch_val("PRAGMA foreign_keys") == 1
                assert await tx.fetch_val("PRAGMA query_only") == (1 if readonly else 0)


async def test_read_write_transaction_takes_the_write_lock_at_begin(
    isolated: Isolated, dialect: str
) -> None:
    require_sqlite(dialect)
    async with await isolated.pool(max_size=3) as pool:
        await make_counter(pool)
        other = sqlite3.connect(sqlite_path(isolated), timeout=0, isolation_level=None)
        try:
            async with pool.transaction() as tx:
                # Only a read so far: a deferred BEGIN would hold no write lock yet.
                assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            other.execute("BEGIN IMMEDIATE")  # free again after COMMIT
            other.execute("ROLLBACK")
            # A read-only transaction takes no write lock.
            async with pool.transaction(readonly=True) as tx:
                assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
        finally:
            other.close()


async def test_readonly_runs_on_a_reader_beside_the_writer(isolated: Isolated, dialect: str) -> None:
    require_sqlite(dialect)
    async with await isolated.pool(max_size=3, acquire_timeout=2) as pool:
        await make_counter(pool)
        async with pool.transaction() as writer_tx:
            await writer_tx.execute("UPDATE counter SET n = 99 WHERE id = 1")
            # The writer is held; a read-only transaction still gets a connection
            # (a reader) and sees the last committed value, not the pending write.
            with pytest.raises(rawdb.TransactionAborted):
                async with pool.transaction(readonly=True) as reader_tx:
                    assert await reader_tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
                    assert await reader_tx.fetch_val("PRAGMA query_only") == 1
                    with pytest.raises(rawdb.ReadOnlyViolation) as info:
                        await reader_tx.execute("UPDATE counter SET n = 5 WHERE id = 1")
                    assert isinstance(info.value.__cause__, sqlite3.Error)
        assert await counter_value(pool) == 99


async def test_reader_transactions_end_before_the_next_use(isolated: Isolated, dialect: str) -> None:
    """A reader's end of transaction travels with its next statement instead of
    being awaited: still, every read-only transaction starts a fresh snapshot (sees
    the write committed just before it), no reader is left inside a transaction,
    and a TRUNCATE checkpoint (which must wait for every reader's snapshot to be
    released) completes."""
    require_sqlite(dialect)
    async with await isolated.pool(max_size=2, acquire_timeout=5, busy_timeout=2) as pool:
        await make_counter(pool)
        readers: set[int] = set()
        for expected in range(1, 51):
            await increment(pool)
            async with pool.transaction(readonly=True) as tx:
                assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == expected
                readers.add(id(tx._conn))
            if expected % 10 == 0:
                async with pool.connection() as conn:
                    busy, _, _ = await conn.fetch_one("PRAGMA wal_checkpoint(TRUNCATE)")
                assert busy == 0
        # An error inside the read transaction ends it the same way.
        with pytest.raises(rawdb.QueryError):
            async with pool.transaction(readonly=True) as tx:
                readers.add(id(tx._conn))
                await tx.fetch_val("SELECT no_such_column FROM counter")
        assert await counter_value(pool) == 50
        assert len(readers) == 1  # one reader served them all: none was left dirty and replaced


async def test_an_idle_reader_releases_its_snapshot(isolated: Isolated, dialect: str) -> None:
    """The deferred end of a read transaction must not pin the WAL: a reader left
    idle after a read lets a checkpoint copy every frame written since, shortly
    after (polled against a deadline, not slept for)."""
    require_sqlite(dialect)
    async with await isolated.pool(max_size=2) as pool:
        await make_counter(pool)
        assert await counter_value(pool) == 0  # the reader's snapshot predates the writes below
        other = sqlite3.connect(sqlite_path(isolated), timeout=0, isolation_level=None)
        try:
            for _ in range(20):
                await increment(pool)
            deadline = asyncio.get_running_loop().time() + 5
            while True:
                busy, log, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if busy == 0 and log == done:
                    break
                assert asyncio.get_running_loop().time() < deadline, (
                    f"a reader still holds an old snapshot: {done} of {log} WAL frames checkpointed")
                await asyncio.sleep(0.01)
        finally:
            other.close()
        assert await counter_value(pool) == 20


async def test_reader_commit_that_can_fail_is_awaited(isolated: Isolated, dialect: str) -> None:
    """A user who turns query_only off inside a read-only transaction and writes gets
    the COMMIT's outcome: here a deferred foreign-key violation, not silence."""
    require_sqlite(dialect)
    async with await isolated.pool(max_size=2, acquire_timeout=5) as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            await conn.execute_verbatim("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                                        "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        with pytest.raises(rawdb.ForeignKeyViolation):
            async with pool.transaction(readonly=True) as tx:
                await tx.execute("PRAGMA query_only = OFF")
                await tx.execute("INSERT INTO child (id, parent_id) VALUES (1, 999)")
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT count(*) FROM child") == 0


async def test_fifty_concurrent_read_then_write_transactions(isolated: Isolated, dialect: str) -> None:
    require_sqlite(dialect)
    async with await isolated.pool(max_size=5, acquire_timeout=30) as pool:
        await make_counter(pool)
        results = await asyncio.gather(*(increment(pool) for _ in range(50)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == []
        assert await counter_value(pool) == 50


async def test_two_pools_on_one_file_never_see_database_is_locked(
    isolated: Isolated, dialect: str
) -> None:
    # Two pools behave like two processes: two writers contend through busy_timeout.
    # A deferred BEGIN that upgrades to a write would fail at once with SQLITE_BUSY.
    require_sqlite(dialect)
    async with (await isolated.pool(max_size=3, busy_timeout=20, acquire_timeout=30) as a,
                await isolated.pool(max_size=3, busy_timeout=20, acquire_timeout=30) as b):
        await make_counter(a)
        results = await asyncio.gather(*(increment(p) for _ in range(25) for p in (a, b)),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == []
        assert await counter_value(b) == 50


async def test_memory_database_shares_one_connection() -> None:
    async with await rawdb.create_pool("sqlite:///:memory:", max_size=5) as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            await conn.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
        async with pool.transaction() as tx:
            assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
        with pytest.raises(rawdb.TransactionAborted):
            async with pool.transaction(readonly=True) as tx:
                assert await tx.fetch_val("SELECT count(*) FROM counter") == 1
                with pytest.raises(rawdb.ReadOnlyViolation):
                    await tx.execute("UPDATE counter SET n = 5 WHERE id = 1")
        # query_only was switched back off for the next writer
        results = await asyncio.gather(*(increment(pool) for _ in range(20)), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert await counter_value(pool) == 20
        async with pool.dedicated_connection() as conn:
            assert await conn.fetch_val("SELECT n FROM counter WHERE id = 1") == 20
        assert pool.stats().size == 1


async def test_single_connection_file_pool_readonly_toggles_query_only(
    isolated: Isolated, dialect: str
) -> None:
    require_sqlite(dialect)
    async with await isolated.pool(max_size=1) as pool:
        await make_counter(pool)
        with pytest.raises(rawdb.TransactionAborted):
            async with pool.transaction(readonly=True) as tx:
                assert await tx.fetch_val("PRAGMA query_only") == 1
                with pytest.raises(rawdb.ReadOnlyViolation):
                    await tx.execute("UPDATE counter SET n = 5 WHERE id = 1")
        async with pool.transaction(readonly=True) as tx:
            pass  # a read-only transaction that ran nothing
        async with pool.transaction() as tx:
            assert await tx.fetch_val("PRAGMA query_only") == 0
            await tx.execute("UPDATE counter SET n = 7 WHERE id = 1")
        assert await counter_value(pool) == 7


# -- every dialect ------------------------------------------------------------------------


async def test_isolation_names(pool: rawdb.Pool) -> None:
    names = ("read committed", "repeatable read", "serializable")
    if pool.dialect.name == "sqlite":
        async with pool.transaction(isolation="serializable") as tx:
            assert await tx.fetch_val("SELECT 1") == 1
        for name in names[:2]:
            with pytest.raises(rawdb.ConfigError, match=name):
                async with pool.transaction(isolation=name):
                    pass
    else:
        for name in names:
            async with pool.transaction(isolation=name) as tx:
                assert await tx.fetch_val("SELECT 1") == 1
                if pool.dialect.name == "postgresql":
                    assert await tx.fetch_val("SHOW transaction_isolation") == name
    with pytest.raises(rawdb.ConfigError, match="chaos"):
        async with pool.transaction(isolation="chaos"):
            pass
    assert pool.stats().in_use == 0


@pytest.mark.parametrize(
    ("isolation", "sees_concurrent_commit"),
    [(None, True), ("read committed", True), ("repeatable read", False)],
)
async def test_isolation_levels_take_effect_on_servers(
    pool: rawdb.Pool, isolation: str | None, sees_concurrent_commit: bool
) -> None:
    if pool.dialect.name == "sqlite":
        pytest.skip("SQLite has one isolation level")
    await make_counter(pool)
    async with pool.transaction(isolation=isolation) as tx:
        assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
        async with pool.transaction() as other:
            await other.execute("UPDATE counter SET n = 1 WHERE id = 1")
        seen = await tx.fetch_val("SELECT n FROM counter WHERE id = 1")
    assert seen == (1 if sees_concurrent_commit else 0)


async def test_mysql_serializable_reads_lock_rows(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "mysql":
        pytest.skip("InnoDB: SERIALIZABLE turns plain reads into shared-lock reads")
    await make_counter(pool)
    async with pool.transaction(isolation="serializable") as tx:
        assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
        with pytest.raises(rawdb.LockTimeout):
            async with pool.transaction() as other:
                await other.execute("SET SESSION innodb_lock_wait_timeout = 1")
                await other.execute("UPDATE counter SET n = 1 WHERE id = 1")
    assert await counter_value(pool) == 0


async def test_readonly_write_raises_read_only_violation(pool: rawdb.Pool) -> None:
    await make_counter(pool)
    with pytest.raises(rawdb.TransactionAborted):
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT n FROM counter WHERE id = 1") == 0
            with pytest.raises(rawdb.ReadOnlyViolation) as info:
                await tx.execute("UPDATE counter SET n = 5 WHERE id = 1")
    assert info.value.__cause__ is not None
    with pytest.raises(rawdb.ReadOnlyViolation):
        async with pool.transaction(readonly=True) as tx:
            await tx.execute("INSERT INTO counter (id, n) VALUES (2, 0)")
    assert await counter_value(pool) == 0
    async with pool.transaction() as tx:
        assert await tx.execute("UPDATE counter SET n = 3 WHERE id = 1") == 1
    assert await counter_value(pool) == 3
    assert pool.stats().in_use == 0


async def test_savepoint_rollback_keeps_outer_work(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE sp (id INTEGER PRIMARY KEY, v VARCHAR(20))")

    class Boom(Exception):
        pass

    async with pool.transaction() as tx:
        await tx.execute("INSERT INTO sp (id, v) VALUES (1, 'outer')")
        with pytest.raises(Boom):
            async with tx.transaction() as sp:
                await sp.execute("INSERT INTO sp (id, v) VALUES (2, 'inner-rolled-back')")
                assert await sp.fetch_val("SELECT count(*) FROM sp") == 2
                raise Boom
        async with tx.transaction() as sp:
            await sp.execute("INSERT INTO sp (id, v) VALUES (3, 'inner-kept')")
            with pytest.raises(Boom):
                async with sp.transaction() as deeper:
                    await deeper.execute("INSERT INTO sp (id, v) VALUES (4, 'deeper-rolled-back')")
                    raise Boom
            await sp.execute("INSERT INTO sp (id, v) VALUES (5, 'inner-after-deeper')")
        # A database error inside a savepoint (which aborts the whole transaction
        # on PostgreSQL) is undone by the savepoint; the outer transaction goes on.
        with pytest.raises(rawdb.UniqueViolation):
            async with tx.transaction() as sp:
                await sp.execute("INSERT INTO sp (id, v) VALUES (6, 'dup-a')")
                await sp.execute("INSERT INTO sp (id, v) VALUES (1, 'dup-b')")
        await tx.execute("INSERT INTO sp (id, v) VALUES (7, 'outer-last')")
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, v FROM sp ORDER BY id")
    assert [(r["id"], r["v"]) for r in rows] == [
        (1, "outer"), (3, "inner-kept"), (5, "inner-after-deeper"), (7, "outer-last")]
