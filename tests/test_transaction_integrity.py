"""A transaction block never reports success for work that was not kept.

Each test reproduces a way a block used to "succeed" while its writes were lost or
only partly committed, on every dialect it applies to, and asserts what is in the
table afterwards: the rule is that a statement failing inside a transaction fails
the transaction (later statements and the block's exit raise `TransactionAborted`,
everything rolls back), and a savepoint is how code carries on after an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator

import pytest

import rawdb
from tests.conftest import IsolatedDatabase, require_server


@pytest.fixture
async def items(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    pool = await isolated.pool(max_size=3, acquire_timeout=10)
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY, note VARCHAR(40))")
            await conn.execute("INSERT INTO items (id, note) VALUES (1, 'before')")
        yield pool
    finally:
        await pool.close()


async def stored(pool: rawdb.Pool) -> list[int]:
    async with pool.connection() as conn:
        return [r[0] for r in await conn.fetch_all("SELECT id FROM items ORDER BY id")]


# -- an error caught inside the block ------------------------------------------------------
async def test_caught_error_fails_the_block_on_every_dialect(items: rawdb.Pool) -> None:
    """PostgreSQL used to answer COMMIT with ROLLBACK and rawdb raised nothing;
    SQLite and MySQL committed the writes around the caught error."""
    with pytest.raises(rawdb.TransactionAborted) as info:
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, note) VALUES (2, 'first write')")
            with pytest.raises(rawdb.UniqueViolation):
                await tx.execute("INSERT INTO items (id, note) VALUES (1, 'duplicate')")
            # Not sent: the transaction can only roll back now.
            with pytest.raises(rawdb.TransactionAborted):
                await tx.execute("INSERT INTO items (id, note) VALUES (3, 'after the error')")
    assert isinstance(info.value.__cause__, rawdb.UniqueViolation)
    assert "savepoint" in str(info.value)
    assert await stored(items) == [1]
    assert items.stats().in_use == 0


async def test_caught_error_with_nothing_after_it_still_raises(items: rawdb.Pool) -> None:
    with pytest.raises(rawdb.TransactionAborted):
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, note) VALUES (2, 'kept?')")
            with contextlib.suppress(rawdb.UniqueViolation):
                await tx.execute("INSERT INTO items (id, note) VALUES (1, 'duplicate')")
    assert await stored(items) == [1]
    # the connection serves the next transaction normally
    async with items.transaction() as tx:
        await tx.execute("INSERT INTO items (id, note) VALUES (4, 'next')")
    assert await stored(items) == [1, 4]


async def test_savepoint_is_how_to_carry_on_after_an_error(items: rawdb.Pool) -> None:
    async with items.transaction() as tx:
        await tx.execute("INSERT INTO items (id, note) VALUES (2, 'first write')")
        with pytest.raises(rawdb.UniqueViolation):
            async with tx.transaction() as sp:
                await sp.execute("INSERT INTO items (id, note) VALUES (1, 'duplicate')")
        await tx.execute("INSERT INTO items (id, note) VALUES (3, 'after the error')")
    assert await stored(items) == [1, 2, 3]


async def test_error_caught_inside_a_savepoint_rolls_back_only_the_savepoint(items: rawdb.Pool) -> None:
    async with items.transaction() as tx:
        await tx.execute("INSERT INTO items (id, note) VALUES (2, 'outer')")
        with pytest.raises(rawdb.TransactionAborted):
            async with tx.transaction() as sp:
                await sp.execute("INSERT INTO items (id, note) VALUES (5, 'in the savepoint')")
                with pytest.raises(rawdb.UniqueViolation):
                    await sp.execute("INSERT INTO items (id, note) VALUES (1, 'duplicate')")
        await tx.execute("INSERT INTO items (id, note) VALUES (3, 'outer again')")
    assert await stored(items) == [1, 2, 3]


async def test_errors_before_anything_is_sent_leave_the_transaction_usable(items: rawdb.Pool) -> None:
    async with items.transaction() as tx:
        await tx.execute("INSERT INTO items (id, note) VALUES (2, 'kept')")
        with pytest.raises(rawdb.QueryError, match="missing parameter"):
            await tx.execute("INSERT INTO items (id, note) VALUES (:id, 'x')")
        with pytest.raises(rawdb.InterfaceError, match="refused inside a transaction"):
            await tx.execute("COMMIT")
        await tx.execute("INSERT INTO items (id, note) VALUES (3, 'kept too')")
    assert await stored(items) == [1, 2, 3]


@pytest.mark.parametrize("statement", ["COMMIT", "ROLLBACK", "BEGIN", "commit /* sneaky */",
                                       "/* lead */ ROLLBACK", "SAVEPOINT s1", "END"])
async def test_transaction_control_statements_are_refused_inside_a_block(items: rawdb.Pool, statement: str) -> None:
    """A raw COMMIT or ROLLBACK used to end the transaction behind the block's back;
    what ran after it was autocommitted and survived the block's rollback."""
    if statement == "END" and items.dialect.name == "mysql":
        pytest.skip("END is not a statement on MySQL")
    with pytest.raises(RuntimeError, match="the application gave up"):
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, note) VALUES (2, 'before')")
            with pytest.raises(rawdb.InterfaceError, match="refused inside a transaction"):
                await tx.execute(statement)
            await tx.execute("INSERT INTO items (id, note) VALUES (3, 'after')")
            raise RuntimeError("the application gave up")
    assert await stored(items) == [1]


async def test_refused_in_execute_verbatim_too(items: rawdb.Pool) -> None:
    async with items.transaction() as tx:
        with pytest.raises(rawdb.InterfaceError, match="refused inside a transaction"):
            await tx.execute_verbatim("ROLLBACK")
        await tx.execute("INSERT INTO items (id, note) VALUES (2, 'kept')")
    assert await stored(items) == [1, 2]


async def test_connection_may_still_control_transactions_by_hand(items: rawdb.Pool) -> None:
    async with items.connection() as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO items (id, note) VALUES (2, 'by hand')")
        await conn.execute("ROLLBACK")
    assert await stored(items) == [1]


# -- deadlocks: the database already rolled back --------------------------------------------
async def test_caught_deadlock_then_more_statements_commits_nothing(items: rawdb.Pool) -> None:
    """MySQL rolls the whole transaction back on a deadlock; rawdb used to carry on
    and commit only the statements after it. PostgreSQL turned the COMMIT into a
    silent rollback."""
    if items.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: no deadlock between two write transactions")
    async with items.connection() as conn:
        await conn.execute("INSERT INTO items (id, note) VALUES (10, 'a'), (20, 'b')")
    a_locked, b_locked = asyncio.Event(), asyncio.Event()
    outcomes: dict[str, BaseException | None] = {}

    async def worker(name: str, first: int, second: int, mine: asyncio.Event, other: asyncio.Event) -> None:
        try:
            async with items.transaction() as tx:
                await tx.execute(f"INSERT INTO items (id, note) VALUES ({first + 1}, 'written by {name}')")
                await tx.execute("UPDATE items SET note = :n WHERE id = :id", {"n": name, "id": first})
                mine.set()
                await other.wait()
                try:
                    await tx.execute("UPDATE items SET note = :n WHERE id = :id", {"n": name, "id": second})
                except rawdb.DeadlockError:
                    # the victim shrugs and goes on writing
                    with contextlib.suppress(rawdb.TransactionAborted):
                        await tx.execute(f"INSERT INTO items (id, note) VALUES ({first + 2}, 'after deadlock')")
            outcomes[name] = None
        except BaseException as exc:
            outcomes[name] = exc

    await asyncio.wait_for(asyncio.gather(worker("a", 10, 20, a_locked, b_locked),
                                          worker("b", 20, 10, b_locked, a_locked)), 60)
    failures = {k: v for k, v in outcomes.items() if v is not None}
    assert len(failures) == 1, outcomes
    (victim, error), = failures.items()
    assert isinstance(error, rawdb.TransactionAborted), error
    assert isinstance(error.__cause__, rawdb.DeadlockError)
    winner_first = 10 if victim == "b" else 20
    victim_first = 20 if victim == "b" else 10
    ids = await stored(items)
    assert winner_first + 1 in ids
    assert victim_first + 1 not in ids and victim_first + 2 not in ids, ids


# -- SQLite: statements that end the transaction themselves ----------------------------------
@pytest.fixture
def sqlite_only(dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite-specific conflict clauses and trigger actions")


async def test_sqlite_insert_or_rollback_caught(items: rawdb.Pool, sqlite_only: None) -> None:
    with pytest.raises(rawdb.TransactionAborted):
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, note) VALUES (2, 'before')")
            with pytest.raises(rawdb.UniqueViolation):
                await tx.execute("INSERT OR ROLLBACK INTO items (id, note) VALUES (1, 'dup')")
            with pytest.raises(rawdb.TransactionAborted):
                await tx.execute("INSERT INTO items (id, note) VALUES (3, 'would be autocommitted')")
    assert await stored(items) == [1]


async def test_sqlite_trigger_raise_rollback_caught(items: rawdb.Pool, sqlite_only: None) -> None:
    async with items.connection() as conn:
        await conn.execute_verbatim(
            "CREATE TRIGGER no_negative BEFORE INSERT ON items WHEN NEW.id < 0 "
            "BEGIN SELECT RAISE(ROLLBACK, 'negative ids are refused'); END")
    with pytest.raises(rawdb.TransactionAborted):
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, note) VALUES (2, 'before')")
            with pytest.raises(rawdb.QueryError, match="negative"):
                await tx.execute("INSERT INTO items (id, note) VALUES (-1, 'bad')")
            with pytest.raises(rawdb.TransactionAborted):
                await tx.execute("INSERT INTO items (id, note) VALUES (3, 'would be autocommitted')")
    assert await stored(items) == [1]


async def test_sqlite_failed_begin_immediate_caught(isolated: IsolatedDatabase, sqlite_only: None) -> None:
    """BEGIN IMMEDIATE travels with the first statement; when it times out on the
    lock and the caller catches that, the next statement used to run in autocommit."""
    async with await isolated.pool(max_size=2, busy_timeout=0.2) as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT)")
        path = isolated.url.removeprefix("sqlite:///")
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(rawdb.TransactionAborted):
                async with pool.transaction() as tx:
                    with pytest.raises(rawdb.LockTimeout):
                        await tx.execute("INSERT INTO items (id, note) VALUES (1, 'locked out')")
                    blocker.execute("ROLLBACK")
                    with pytest.raises(rawdb.TransactionAborted):
                        await tx.execute("INSERT INTO items (id, note) VALUES (2, 'autocommitted?')")
        finally:
            blocker.close()
        async with pool.connection() as conn:
            assert await conn.fetch_all("SELECT id FROM items") == []


# -- nested conn.transaction() -------------------------------------------------------------
async def test_nested_connection_transaction_is_a_savepoint(items: rawdb.Pool) -> None:
    """A second BEGIN on PostgreSQL was ignored and the inner COMMIT committed the
    outer block's writes; on MySQL the second START TRANSACTION committed them."""
    async with items.connection() as conn:
        with pytest.raises(RuntimeError, match="outer fails"):
            async with conn.transaction() as outer:
                await outer.execute("INSERT INTO items (id, note) VALUES (2, 'outer')")
                async with conn.transaction() as inner:
                    await inner.execute("INSERT INTO items (id, note) VALUES (3, 'inner')")
                raise RuntimeError("outer fails")
        assert [r[0] for r in await conn.fetch_all("SELECT id FROM items ORDER BY id")] == [1]
        async with conn.transaction() as outer:
            await outer.execute("INSERT INTO items (id, note) VALUES (2, 'outer')")
            with pytest.raises(KeyError):
                async with conn.transaction() as inner:
                    await inner.execute("INSERT INTO items (id, note) VALUES (3, 'inner')")
                    raise KeyError("inner fails alone")
        assert [r[0] for r in await conn.fetch_all("SELECT id FROM items ORDER BY id")] == [1, 2]
        with pytest.raises(rawdb.InterfaceError, match="savepoint"):
            async with conn.transaction(), conn.transaction(isolation="serializable"):
                pass


async def test_statements_through_the_connection_follow_its_open_transaction(items: rawdb.Pool) -> None:
    async with items.connection() as conn:
        with pytest.raises(rawdb.TransactionAborted):
            async with conn.transaction():
                await conn.execute("INSERT INTO items (id, note) VALUES (2, 'via conn')")
                with pytest.raises(rawdb.UniqueViolation):
                    await conn.execute("INSERT INTO items (id, note) VALUES (1, 'dup')")
        with pytest.raises(rawdb.InterfaceError, match="refused inside a transaction"):
            async with conn.transaction():
                await conn.execute("COMMIT")
        # autocommit again once the block has ended
        await conn.execute("INSERT INTO items (id, note) VALUES (7, 'autocommit')")
    assert await stored(items) == [1, 7]


# -- SQLite: a read-only transaction on the writer ------------------------------------------
SLOW_READ = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
             "SELECT count(*) FROM n")


@pytest.mark.parametrize("how", ["command_timeout", "cancelled"])
@pytest.mark.parametrize("where", ["memory", "file"])
async def test_sqlite_writer_is_writable_after_an_interrupted_read_only_transaction(
    tmp_path: object, how: str, where: str
) -> None:
    """A read-only transaction on the writer sets query_only; interrupted, it used
    to leave it on, and every later write failed with ReadOnlyViolation."""
    url = "sqlite:///:memory:" if where == "memory" else f"sqlite:///{tmp_path}/w.db"
    options = {"command_timeout": 0.3} if how == "command_timeout" else {}
    async with await rawdb.create_pool(url, max_size=1, **options) as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY)")
        if how == "command_timeout":
            with pytest.raises(rawdb.QueryTimeout) as info:
                async with pool.transaction(readonly=True) as tx:
                    await tx.fetch_val(SLOW_READ)
            assert "discarded" not in str(info.value)
        else:
            async def slow() -> None:
                async with pool.transaction(readonly=True) as tx:
                    started.set()
                    await tx.fetch_val(SLOW_READ)

            started = asyncio.Event()
            task = asyncio.create_task(slow())
            await started.wait()
            await asyncio.sleep(0.05)  # let the read reach the worker thread
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        written = 0
        for i in range(30):
            async with pool.transaction() as tx:
                await tx.execute("INSERT INTO items (id) VALUES (:id)", {"id": i})
                written += 1
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT count(*) FROM items") == written == 30


async def test_sqlite_connection_read_only_transaction_restores_writes(tmp_path: object) -> None:
    async with await rawdb.create_pool(f"sqlite:///{tmp_path}/c.db", max_size=1) as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY)")
            with pytest.raises(rawdb.ReadOnlyViolation):
                async with conn.transaction(readonly=True) as tx:
                    await tx.execute("INSERT INTO items (id) VALUES (1)")
            await conn.execute("INSERT INTO items (id) VALUES (2)")
            assert await conn.fetch_val("PRAGMA query_only") == 0
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO items (id) VALUES (3)")
        async with pool.connection() as conn:
            assert [r[0] for r in await conn.fetch_all("SELECT id FROM items ORDER BY id")] == [2, 3]


# -- the servers: the COMMIT answer itself is checked ---------------------------------------
async def test_postgresql_commit_answered_with_rollback_raises(isolated: IsolatedDatabase, dialect: str) -> None:
    """Even when rawdb did not see the error (it happened inside a server-side
    function that caught nothing), a COMMIT answered with ROLLBACK must raise."""
    if dialect != "postgresql":
        pytest.skip("PostgreSQL's COMMIT status")
    await require_server(dialect)
    async with await isolated.pool(max_size=1) as pool:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY)")
        tx_holder: list[rawdb.Transaction] = []
        with pytest.raises(rawdb.TransactionAborted, match="ROLLBACK"):
            async with pool.transaction() as tx:
                tx_holder.append(tx)
                await tx.execute("INSERT INTO items (id) VALUES (1)")
                # Behind rawdb's back (as a driver-level user would): fail the transaction.
                with pytest.raises(Exception, match="division by zero"):
                    await tx._conn.execute("SELECT 1/0", [])
        async with pool.connection() as conn:
            assert await conn.fetch_val("SELECT count(*) FROM items") == 0
