"""Pool behaviour on all three dialects: waiting, timeouts, reaping, lifetimes, healing."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

import rawdb
from tests.conftest import SERVER_URLS, IsolatedDatabase
from tests.helpers import backend_id, eventually, kill_backend


async def _hold(pool: rawdb.Pool, release: asyncio.Event, started: asyncio.Event | None = None,
                readonly: bool = False) -> None:
    async with pool.transaction(readonly=readonly) as tx:
        await tx.fetch_val("SELECT 1")
        if started is not None:
            started.set()
        await release.wait()


async def test_waiters_are_served_first_come_first_served(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(max_size=1 if isolated.dialect != "sqlite" else 2, acquire_timeout=10)
    try:
        release = asyncio.Event()
        started = asyncio.Event()
        holder = asyncio.create_task(_hold(pool, release, started))
        await started.wait()
        order: list[int] = []

        async def waiter(i: int) -> None:
            async with pool.transaction() as tx:
                await tx.fetch_val("SELECT 1")
                order.append(i)

        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(waiter(i)))
            await eventually(lambda n=i + 1: pool.stats().waiting == n, what=f"{i + 1} waiters")
        release.set()
        await asyncio.gather(holder, *tasks)
        assert order == list(range(6))
        assert pool.stats().in_use == 0
    finally:
        await pool.close()


async def test_timeout_message_carries_stats_and_holder_site(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(max_size=1 if isolated.dialect != "sqlite" else 2, acquire_timeout=0.3)
    try:
        release = asyncio.Event()
        started = asyncio.Event()
        holder = asyncio.create_task(_hold(pool, release, started))
        await started.wait()
        t0 = time.monotonic()
        with pytest.raises(rawdb.PoolTimeout) as info:
            async with pool.transaction():
                pass
        elapsed = time.monotonic() - t0
        assert 0.25 <= elapsed < 2.0
        message = str(info.value)
        assert "acquire_timeout=0.3" in message
        assert "in_use=1" in message and "size=" in message
        assert "test_pool.py:" in message  # where the holder acquired its connection
        assert pool.stats().timeouts_total == 1
        release.set()
        await holder
    finally:
        await pool.close()


async def test_nested_transaction_in_same_task_names_the_outer_acquire(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(max_size=1 if isolated.dialect != "sqlite" else 2, acquire_timeout=0.2)
    try:
        async with pool.transaction() as outer:
            await outer.fetch_val("SELECT 1")
            with pytest.raises(rawdb.PoolTimeout, match="this task already holds a connection"):
                async with pool.transaction():
                    pass
        assert pool.stats().in_use == 0
    finally:
        await pool.close()


async def test_max_waiting_exceeded_raises_at_once(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(max_size=1 if isolated.dialect != "sqlite" else 2,
                               acquire_timeout=30, max_waiting=1)
    try:
        release = asyncio.Event()
        started = asyncio.Event()
        holder = asyncio.create_task(_hold(pool, release, started))
        await started.wait()
        queued = asyncio.create_task(_hold(pool, asyncio.Event()))
        await eventually(lambda: pool.stats().waiting == 1, what="one waiter")
        t0 = time.monotonic()
        with pytest.raises(rawdb.PoolTimeout, match="max_waiting=1"):
            async with pool.transaction():
                pass
        assert time.monotonic() - t0 < 1.0
        queued.cancel()
        release.set()
        await holder
        with pytest.raises(asyncio.CancelledError):
            await queued
        await eventually(lambda: pool.stats().in_use == 0, what="all released")
    finally:
        await pool.close()


async def test_idle_connections_above_min_size_are_reaped(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(min_size=1, max_size=4, idle_timeout=0.3, acquire_timeout=10)
    try:
        release = asyncio.Event()
        starts = [asyncio.Event() for _ in range(3)]
        holders = [asyncio.create_task(_hold(pool, release, ev, readonly=True)) for ev in starts]
        for ev in starts:
            await ev.wait()
        assert pool.stats().size >= 3
        release.set()
        await asyncio.gather(*holders)
        await eventually(lambda: pool.stats().size == 1, timeout=5, what="reaping down to min_size")
        assert pool.stats().discarded_total >= 2
        async with pool.transaction() as tx:  # the survivor still works
            assert await tx.fetch_val("SELECT 1") == 1
    finally:
        await pool.close()


async def test_connections_retire_after_max_lifetime(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(min_size=1, max_size=2, max_lifetime=0.2)
    try:
        async with pool.transaction() as tx:
            first = tx._holder.conn
        await asyncio.sleep(0.25)  # let the lifetime pass: the subject of the test
        async with pool.transaction() as tx:
            second = tx._holder.conn
            assert await tx.fetch_val("SELECT 1") == 1
        assert first is not second
        assert first.is_closed or pool.stats().discarded_total >= 1
    finally:
        await pool.close()


@pytest.mark.parametrize("health_check_after", [0.0, None])
async def test_server_killed_idle_connections_heal_invisibly(
    isolated: IsolatedDatabase, health_check_after: float | None
) -> None:
    if isolated.dialect == "sqlite":
        pytest.skip("SQLite has no server to kill connections")
    pool = await isolated.pool(min_size=3, max_size=3, health_check_after=health_check_after)
    admin = await rawdb.create_pool(SERVER_URLS[isolated.dialect], min_size=1, max_size=1)
    try:
        ids = []
        release = asyncio.Event()
        got: list[object] = []

        async def grab() -> None:
            async with pool.transaction() as tx:
                got.append(await backend_id(tx))
                if len(got) == 3:
                    release.set()
                await release.wait()

        await asyncio.gather(*(grab() for _ in range(3)))
        ids = list(got)
        assert len(set(ids)) == 3
        async with admin.connection() as conn:
            for ident in ids:
                await kill_backend(conn, isolated.dialect, ident)
        # Every idle connection is now dead on the server side.
        for _ in range(6):
            async with pool.transaction() as tx:
                assert await tx.fetch_val("SELECT 1") == 1
                assert await backend_id(tx) not in ids
        assert pool.stats().in_use == 0
    finally:
        await admin.close()
        await pool.close()


async def test_leak_detection_names_the_acquiring_line(
    isolated: IsolatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await isolated.pool(leak_threshold=0.1)
    caplog.set_level(logging.WARNING, logger="rawdb.pool")
    try:
        async with pool.transaction() as tx:
            line = _line_above()
            await eventually(lambda: pool.stats().leaks_detected_total == 1, timeout=3,
                             what="the leak to be detected")
            await tx.fetch_val("SELECT 1")
        leak_logs = [r for r in caplog.records if r.name == "rawdb.pool" and "leak_threshold" in r.getMessage()]
        assert len(leak_logs) == 1
        assert f"test_pool.py:{line}" in leak_logs[0].getMessage()
    finally:
        await pool.close()


def _line_above() -> int:
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno - 1


async def test_stats_fields(pool: rawdb.Pool) -> None:
    async with pool.transaction() as tx:
        s = pool.stats()
        assert s.in_use == 1
        await tx.fetch_val("SELECT 1")
    s = pool.stats()
    assert (s.in_use, s.waiting, s.max_size) == (0, 0, 5)
    assert s.size == s.idle + s.in_use + s.opening
    assert s.acquired_total >= 1
    for name in ("timeouts_total", "discarded_total", "leaks_detected_total", "min_size"):
        assert isinstance(getattr(s, name), int)


async def test_close_refuses_new_work_and_waits_for_holders(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool()
    release = asyncio.Event()
    started = asyncio.Event()
    holder = asyncio.create_task(_hold(pool, release, started))
    await started.wait()
    closing = asyncio.create_task(pool.close(timeout=10))
    await eventually(lambda: pool.closed, what="close to begin")
    with pytest.raises(rawdb.PoolClosed):
        async with pool.transaction():
            pass
    assert not closing.done()  # still waiting for the holder
    release.set()
    await holder  # the holder commits normally
    await asyncio.wait_for(closing, 5)
    assert pool.stats().size == 0


async def test_close_timeout_terminates_stuck_holders(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool()
    release = asyncio.Event()
    started = asyncio.Event()
    holder = asyncio.create_task(_hold(pool, release, started))
    await started.wait()
    t0 = time.monotonic()
    await pool.close(timeout=0.2)
    assert time.monotonic() - t0 < 3
    assert pool.stats().size == 0
    release.set()
    with pytest.raises(rawdb.RawDBError):
        await holder  # its COMMIT cannot succeed on a terminated connection


_EXIT_SCRIPT = """
import asyncio, sys, threading, time
import rawdb

async def main(url):
    pool = await rawdb.create_pool(url, min_size=2, max_size=4)
    async def work(i):
        async with pool.transaction(readonly=i % 2 == 0) as tx:
            await tx.fetch_val("SELECT 1")
    await asyncio.gather(*(work(i) for i in range(8)))
    held = pool.transaction()
    tx = await held.__aenter__()          # left open on purpose: close() must end it
    await tx.fetch_val("SELECT 1")
    await pool.close(timeout=0.5)
    workers = [t.name for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    print("workers-left", len(workers))

asyncio.run(main(sys.argv[1]))
print("done", flush=True)
"""


async def test_close_leaves_no_worker_threads_and_the_process_exits(isolated: IsolatedDatabase) -> None:
    import subprocess
    import sys

    if isolated.dialect == "postgresql":
        pytest.skip("the PostgreSQL pool holds no threads; covered by the close tests above")
    t0 = time.monotonic()
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _EXIT_SCRIPT, isolated.url],
        capture_output=True, text=True, timeout=60,
    )
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert "workers-left 0" in result.stdout
    assert result.stdout.strip().endswith("done")
    assert elapsed < 10
