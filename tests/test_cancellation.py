"""Cancellation and misuse: no partial commits, nothing leaked, nothing dirty handed out."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

import rawdb
from tests.conftest import SERVER_URLS, IsolatedDatabase
from tests.helpers import eventually

ACCOUNTS = 10
START_BALANCE = 100
MAX_SIZE = 4

# Per dialect: statements that leave session state behind, and a probe that shows it.
DIRTY = {
    "postgresql": (["SET work_mem = '7MB'", "CREATE TEMP TABLE IF NOT EXISTS scratch (x int)",
                    "SELECT pg_advisory_lock(4242)"],
                   "SELECT current_setting('work_mem') = '7MB' "
                   "OR to_regclass('pg_temp.scratch') IS NOT NULL "
                   "OR EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())"),
    "mysql": (["SET @dirty = 1", "CREATE TEMPORARY TABLE IF NOT EXISTS scratch (x int)",
               "SELECT GET_LOCK('rawdb_test_lock', 0)"],
              "SELECT @dirty IS NOT NULL OR IS_USED_LOCK('rawdb_test_lock') = CONNECTION_ID()"),
    "sqlite": (["PRAGMA cache_size = 1234", "CREATE TEMP TABLE IF NOT EXISTS scratch (x int)"],
               "SELECT (SELECT cache_size FROM pragma_cache_size) = 1234 "
               "OR EXISTS (SELECT 1 FROM temp.sqlite_master WHERE name = 'scratch')"),
}


async def _setup_accounts(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        await conn.executemany("INSERT INTO accounts (id, balance) VALUES (:id, :b)",
                               [{"id": i, "b": START_BALANCE} for i in range(ACCOUNTS)])


async def _transfer(pool: rawdb.Pool, rng: random.Random, dirty: list[str]) -> None:
    a, b = rng.sample(range(ACCOUNTS), 2)
    amount = rng.randint(1, 5)
    async with pool.transaction() as tx:
        await tx.execute("UPDATE accounts SET balance = balance - :n WHERE id = :id", {"n": amount, "id": a})
        if rng.random() < 0.3:
            await tx.execute(rng.choice(dirty))
        if rng.random() < 0.3:
            async with tx.transaction() as sp:
                await sp.fetch_val("SELECT balance FROM accounts WHERE id = :id", {"id": b})
        await tx.execute("UPDATE accounts SET balance = balance + :n WHERE id = :id", {"n": amount, "id": b})


async def _server_connections(dialect: str, isolated: IsolatedDatabase, app_name: str) -> int:
    admin = await rawdb.create_pool(SERVER_URLS[dialect], min_size=1, max_size=1)
    try:
        async with admin.connection() as conn:
            if dialect == "postgresql":
                return int(await conn.fetch_val(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a", {"a": app_name}))
            return int(await conn.fetch_val(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE db = :d", {"d": isolated.name}))
    finally:
        await admin.close()


def _sqlite_worker_threads() -> int:
    return sum(1 for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive())


async def test_random_cancellations_leave_no_trace(isolated: IsolatedDatabase) -> None:
    dialect = isolated.dialect
    app_name = "rawdb_cancel_" + isolated.name[-8:]
    options: dict[str, object] = {"max_size": MAX_SIZE, "min_size": 1, "acquire_timeout": 20}
    if dialect == "postgresql":
        options["connect_options"] = {"server_settings": {"application_name": app_name}}
    pool = await isolated.pool(**options)
    try:
        await _setup_accounts(pool)
        dirty, probe = DIRTY[dialect]
        rng = random.Random(20261124)
        cancelled = completed = 0
        for _ in range(1000 // 20):
            tasks = [asyncio.create_task(_transfer(pool, random.Random(rng.random()), dirty))
                     for _ in range(20)]
            # Cancel most tasks at a random moment: some while waiting for a
            # connection, some mid-statement, some between statements, some during
            # COMMIT, some after they finished. The timing is the subject here.
            loop = asyncio.get_running_loop()
            for task in tasks:
                if rng.random() < 0.8:
                    loop.call_later(rng.uniform(0, 0.02), task.cancel)
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, asyncio.CancelledError):
                    cancelled += 1
                elif result is None:
                    completed += 1
                elif isinstance(result, (rawdb.LockTimeout, rawdb.DeadlockError)):
                    pass  # a typed, legitimate outcome of contention
                else:
                    raise result
        assert cancelled > 100 and completed > 0, (cancelled, completed)

        await eventually(lambda: pool.stats().in_use == 0, timeout=10, what="every connection released")
        async with pool.transaction() as tx:
            total = await tx.fetch_val("SELECT SUM(balance) FROM accounts")
            rows = await tx.fetch_val("SELECT COUNT(*) FROM accounts")
        assert (int(total), int(rows)) == (ACCOUNTS * START_BALANCE, ACCOUNTS)  # no partial transfer

        # Every pooled connection is clean for its next user.
        hold = asyncio.Event()
        seen: list[bool] = []

        async def inspect() -> None:
            async with pool.connection() as conn:
                assert not conn._conn.in_transaction
                seen.append(bool(await conn.fetch_val(probe)))
                if len(seen) == (MAX_SIZE if dialect != "sqlite" else 1):
                    hold.set()
                await hold.wait()

        count = MAX_SIZE if dialect != "sqlite" else 1
        await asyncio.wait_for(asyncio.gather(*(inspect() for _ in range(count))), 20)
        assert seen == [False] * count

        if dialect == "sqlite":
            await eventually(lambda: _sqlite_worker_threads() <= MAX_SIZE, timeout=10,
                             what="worker threads within max_size")
        else:
            await eventually_async(
                lambda: _server_connections(dialect, isolated, app_name), MAX_SIZE, timeout=10)
    finally:
        await pool.close()
    assert pool.stats().in_use == 0


async def eventually_async(count: object, limit: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await count()  # type: ignore[operator]
        if current <= limit:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"server still has {current} connections, max_size is {limit}")
        await asyncio.sleep(0.05)


async def test_leaving_a_block_releases_at_once(pool: rawdb.Pool) -> None:
    async def by_return() -> int:
        async with pool.transaction() as tx:
            return int(await tx.fetch_val("SELECT 1"))

    async def by_exception() -> None:
        async with pool.transaction() as tx:
            await tx.fetch_val("SELECT 1")
            raise LookupError("boom")

    assert await by_return() == 1
    assert pool.stats().in_use == 0
    with pytest.raises(LookupError):
        await by_exception()
    assert pool.stats().in_use == 0

    started = asyncio.Event()

    async def parked() -> None:
        async with pool.transaction() as tx:
            await tx.fetch_val("SELECT 1")
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(parked())
    await started.wait()
    assert pool.stats().in_use == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.stats().in_use == 0


async def test_transaction_used_after_its_block_raises(pool: rawdb.Pool) -> None:
    async with pool.transaction() as tx:
        await tx.fetch_val("SELECT 1")
    with pytest.raises(rawdb.InterfaceError, match="ended"):
        await tx.fetch_val("SELECT 1")
    with pytest.raises(rawdb.InterfaceError):
        await tx.execute("SELECT 1")
    async with pool.connection() as conn:
        pass
    with pytest.raises(rawdb.InterfaceError):
        await conn.fetch_val("SELECT 1")


async def test_two_tasks_on_one_transaction_raise_instead_of_interleaving(pool: rawdb.Pool) -> None:
    slow = {
        "postgresql": "SELECT pg_sleep(0.3)",
        "mysql": "SELECT SLEEP(0.3)",
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
                  "SELECT COUNT(*) FROM c",
    }[pool.dialect.name]
    async with pool.transaction() as tx:
        first = asyncio.create_task(tx.fetch_val(slow))
        await eventually(lambda: tx._holder.busy, what="the first statement to start")
        with pytest.raises(rawdb.InterfaceError, match="another task"):
            await tx.fetch_val("SELECT 1")
        await first
        # Handing the transaction to another task in sequence is fine.
        assert await asyncio.create_task(tx.fetch_val("SELECT 2")) == 2
    assert pool.stats().in_use == 0


async def test_memory_database_survives_a_cancelled_statement() -> None:
    """``:memory:`` has one connection, which *is* the database: never replace it."""
    async with await rawdb.create_pool("sqlite:///:memory:", acquire_timeout=10) as pool:
        async with pool.transaction() as tx:
            await tx.execute("CREATE TABLE kept (x INTEGER)")
            await tx.execute("INSERT INTO kept VALUES (1)")
        slow = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) "
                "SELECT COUNT(*) FROM c")

        async def long_write() -> None:
            async with pool.transaction() as tx:
                await tx.execute("INSERT INTO kept VALUES (2)")
                await tx.fetch_val(slow)

        task = asyncio.create_task(long_write())
        await eventually(lambda: any(h.busy for s in pool._slots.values() for h in s.in_use),
                         what="the slow statement to start")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_all("SELECT x FROM kept") == [(1,)]
        assert pool.stats().discarded_total == 0
