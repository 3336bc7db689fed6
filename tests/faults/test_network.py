"""Stalled and slow networks (through the proxy) and servers that close idle sessions."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

import rawdb

from .conftest import Figures
from .proxy import Proxy
from .servers import ThrowawayServer
from .workload import Workload, summarize

pytestmark = pytest.mark.faults

COMMAND_TIMEOUT = 1.0
MARGIN = 0.5  # "the timeout plus a small margin"
BACKEND_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


async def _backend_alive(server: ThrowawayServer, backend: Any) -> bool:
    if server.dialect == "postgresql":
        rows = await server.admin("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", backend)
    else:
        rows = await server.admin("SELECT count(*) FROM information_schema.processlist WHERE id = %s",
                                  (backend,))
    return bool(rows[0][0])


async def _stalled_pool(server: ThrowawayServer, proxy: Proxy, **options: Any) -> rawdb.Pool:
    settings: dict[str, Any] = {"min_size": 1, "max_size": 1, "command_timeout": COMMAND_TIMEOUT,
                                "acquire_timeout": 3.0, "connect_timeout": 2.0, **options}
    return await rawdb.create_pool(server.url_via(proxy.port), **settings)


async def _after_stall(server: ThrowawayServer, proxy: Proxy, pool: rawdb.Pool, old_backend: Any,
                       closes_before: int) -> float:
    """The stalled connection is closed by rawdb (the proxy sees it go) and never reused.

    Returns how long the first transaction after the network came back took."""
    deadline = time.monotonic() + 2.0
    while proxy.client_closes <= closes_before:
        assert time.monotonic() < deadline, "rawdb did not close the stalled connection within 2 s"
        await asyncio.sleep(0.02)
    proxy.resume()
    t0 = time.monotonic()
    seen = set()
    for _ in range(5):
        async with asyncio.timeout(10), pool.transaction() as tx:
            seen.add(await tx.fetch_val(BACKEND_ID[server.dialect]))
    first = time.monotonic() - t0
    assert old_backend not in seen, "the stalled connection was handed out again"
    deadline = time.monotonic() + 5.0
    while await _backend_alive(server, old_backend):
        assert time.monotonic() < deadline, "the stalled session still exists on the server after 5 s"
        await asyncio.sleep(0.1)
    return first


@pytest.mark.parametrize("path", ["transaction", "connection"])
async def test_stalled_network_query_times_out(server: ThrowawayServer, proxy: Proxy, figures: Figures,
                                               path: str) -> None:
    """The network stops mid-transaction (or under an autocommit connection): the next
    query raises QueryTimeout within command_timeout + margin; that connection is
    closed, and after the network returns the pool serves a fresh one."""
    async with asyncio.timeout(60):
        pool = await _stalled_pool(server, proxy)
        try:
            async with pool.transaction() as tx:
                old = await tx.fetch_val(BACKEND_ID[server.dialect])
            discarded = pool.stats().discarded_total
            closes = proxy.client_closes
            with pytest.raises(rawdb.QueryTimeout):
                async with asyncio.timeout(COMMAND_TIMEOUT + 10):
                    if path == "transaction":
                        async with pool.transaction() as tx:
                            await tx.fetch_val("SELECT 1")  # BEGIN went through
                            proxy.stall()
                            t0 = time.monotonic()
                            await tx.fetch_val("SELECT 2")
                    else:
                        async with pool.connection() as conn:
                            await conn.fetch_val("SELECT 1")
                            proxy.stall()
                            t0 = time.monotonic()
                            await conn.fetch_val("SELECT 2")
            elapsed = time.monotonic() - t0
            assert pool.stats().discarded_total == discarded + 1
            recover = await _after_stall(server, proxy, pool, old, closes)
        finally:
            proxy.resume()
            await pool.close()
    figures.record(f"4 stalled network, query ({path})", server.dialect, attempted=6, committed=5,
                   failed={"QueryTimeout": 1}, recover_s=recover,
                   note=f"QueryTimeout after {elapsed:.2f}s (command_timeout={COMMAND_TIMEOUT}s)")
    assert elapsed <= COMMAND_TIMEOUT + MARGIN, f"QueryTimeout took {elapsed:.2f}s"


class _UserError(Exception):
    pass


@pytest.mark.parametrize("moment", ["BEGIN", "SAVEPOINT", "COMMIT", "ROLLBACK"])
async def test_stalled_network_transaction_control(server: ThrowawayServer, proxy: Proxy,
                                                   figures: Figures, moment: str) -> None:
    """The network stops just before BEGIN, SAVEPOINT, COMMIT or the ROLLBACK after an
    application error: with command_timeout set, the transaction still ends within
    the timeout plus a margin, and the connection is discarded. BEGIN/SAVEPOINT/COMMIT
    end in a typed error (QueryTimeout or ConnectionLost; at COMMIT the outcome is
    unknown); at ROLLBACK the application's own exception comes through."""
    table = Workload.new_table()
    expected = ("_UserError",) if moment == "ROLLBACK" else ("QueryTimeout", "ConnectionLost")
    async with asyncio.timeout(60):
        pool = await _stalled_pool(server, proxy)
        try:
            async with pool.connection() as conn:
                await conn.execute_verbatim(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
            async with pool.transaction() as tx:
                old = await tx.fetch_val(BACKEND_ID[server.dialect])
            closes = proxy.client_closes
            outcome = "none"
            t0 = time.monotonic()
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT + 10):
                    if moment == "BEGIN":
                        proxy.stall()
                        t0 = time.monotonic()
                    async with pool.transaction() as tx:
                        await tx.execute(f"INSERT INTO {table} (id) VALUES (1)")
                        if moment != "BEGIN":
                            proxy.stall()
                            t0 = time.monotonic()
                        if moment == "SAVEPOINT":
                            async with tx.transaction() as sp:
                                await sp.execute(f"INSERT INTO {table} (id) VALUES (2)")
                        elif moment == "ROLLBACK":
                            raise _UserError("the application gave up")
                outcome = "committed"
            except TimeoutError:
                outcome = "hung"
            except (rawdb.QueryTimeout, rawdb.ConnectionLost, _UserError) as exc:
                outcome = type(exc).__name__
            except Exception as exc:
                outcome = f"untyped:{type(exc).__name__}: {exc}"
            elapsed = time.monotonic() - t0
            recover = None
            if outcome in expected:
                recover = await _after_stall(server, proxy, pool, old, closes)
        finally:
            proxy.resume()
            await pool.close()
            await server.admin(f"DROP TABLE IF EXISTS {table}")
    figures.record(f"4b stalled network at {moment}", server.dialect, attempted=1, committed=0,
                   failed={outcome.lstrip("_"): 1}, recover_s=recover,
                   note=f"ended after {elapsed:.2f}s (command_timeout={COMMAND_TIMEOUT}s)")
    assert outcome in expected, f"{moment} over a stalled network: {outcome} after {elapsed:.2f}s"
    assert elapsed <= COMMAND_TIMEOUT + MARGIN, f"{moment} took {elapsed:.2f}s"


async def test_stalled_network_health_check(server: ThrowawayServer, proxy: Proxy, figures: Figures) -> None:
    """A connection due for its liveness ping meets a stalled network: the acquire is
    still bounded (by acquire_timeout) and ends in a typed error, not a hang."""
    acquire_timeout = 1.5
    async with asyncio.timeout(60):
        pool = await _stalled_pool(server, proxy, health_check_after=0.0, acquire_timeout=acquire_timeout,
                                   connect_timeout=1.0)
        try:
            async with pool.transaction() as tx:
                await tx.fetch_val("SELECT 1")
            proxy.stall()
            t0 = time.monotonic()
            try:
                async with asyncio.timeout(acquire_timeout + 10), pool.transaction() as tx:
                    await tx.fetch_val("SELECT 1")
                outcome = "committed"
            except TimeoutError:
                outcome = "hung"
            except rawdb.RawDBError as exc:
                outcome = type(exc).__name__
            elapsed = time.monotonic() - t0
            proxy.resume()
            async with asyncio.timeout(10), pool.transaction() as tx:
                assert await tx.fetch_val("SELECT 1") == 1
        finally:
            proxy.resume()
            await pool.close()
    figures.record("4c stalled network at health check", server.dialect, attempted=1, committed=0,
                   failed={outcome: 1}, note=f"ended after {elapsed:.2f}s (acquire_timeout={acquire_timeout}s)")
    assert outcome in ("PoolTimeout", "QueryTimeout", "ConnectionLost"), f"{outcome} after {elapsed:.2f}s"
    assert elapsed <= max(acquire_timeout, COMMAND_TIMEOUT) + MARGIN, f"took {elapsed:.2f}s"


async def test_slow_network(server: ThrowawayServer, proxy: Proxy, figures: Figures) -> None:
    """40 ms each way: 16 tasks keep committing for 3 s, with command_timeout=1 s
    never firing spuriously, and every commit is stored."""
    proxy.latency = 0.040
    async with asyncio.timeout(60):
        pool = await rawdb.create_pool(server.url_via(proxy.port), min_size=2, max_size=8,
                                       command_timeout=COMMAND_TIMEOUT, acquire_timeout=10.0)
        load = Workload(pool, Workload.new_table(), workers=16)
        try:
            await load.create_table()
            t0 = time.monotonic()
            load.start()
            await asyncio.sleep(3.0)
            await load.stop()
            elapsed = time.monotonic() - t0
            stored = await load.stored_ids()
        finally:
            async with asyncio.timeout(15), pool.connection() as conn:
                await conn.execute_verbatim(f"DROP TABLE IF EXISTS {load.table}")
            await pool.close()
    rate = len(load.attempts) / elapsed
    figures.record("slow network (40 ms each way, 16 tasks)", server.dialect,
                   attempted=len(load.attempts), committed=len(load.committed_ids()),
                   failed=load.failures(), seconds=elapsed, note=f"{rate:.0f} transactions/s over 8 connections")
    assert not load.failures(), summarize([a for a in load.attempts if a.outcome != "committed"])
    assert load.committed_ids() <= stored
    assert len(load.attempts) > 16


async def _idle_timeout_2s(server: ThrowawayServer) -> str:
    """Make the server close sessions idle for 2 s (new sessions); returns the setting."""
    if server.dialect == "postgresql":
        await server.set_config(idle_session_timeout="2s")
        return "idle_session_timeout"
    await server.set_config(wait_timeout="2")
    return "wait_timeout"


async def test_idle_kill(server: ThrowawayServer, figures: Figures) -> None:
    """The server closes sessions idle for 2 s (idle_session_timeout / wait_timeout);
    the next transactions succeed without a user-visible error, on new connections."""
    setting = await _idle_timeout_2s(server)
    sql = BACKEND_ID[server.dialect]
    errors: Counter[str] = Counter()
    committed = attempted = 0
    try:
        async with asyncio.timeout(60):
            pool = await rawdb.create_pool(server.url, min_size=3, max_size=3, acquire_timeout=5.0)
            try:
                gate = asyncio.Barrier(3)

                async def hold() -> Any:
                    async with pool.transaction() as tx:
                        await gate.wait()  # three connections in use at once
                        return await tx.fetch_val(sql)

                before = set(await asyncio.gather(*(hold() for _ in range(3))))
                assert len(before) == 3
                await asyncio.sleep(3.0)
                assert await server.backend_count() == 0, "the server did not close the idle sessions"
                t0 = time.monotonic()
                after: set[Any] = set()

                async def one() -> None:
                    nonlocal committed, attempted
                    attempted += 1
                    try:
                        async with asyncio.timeout(10), pool.transaction() as tx:
                            after.add(await tx.fetch_val(sql))
                        committed += 1
                    except Exception as exc:
                        errors[f"{type(exc).__name__}: {exc}"[:120]] += 1

                await asyncio.gather(*(one() for _ in range(3)))
                recover = time.monotonic() - t0
                for _ in range(10):
                    await one()
            finally:
                await pool.close()
    finally:
        await server.reset_config(setting)
    figures.record(f"5 idle kill ({setting}=2s), pool.transaction()", server.dialect, attempted=attempted,
                   committed=committed, failed=errors, recover_s=recover,
                   note=f"{len(before)} pooled sessions closed by the server, none reused")
    assert not errors, errors
    assert not (before & after), "a connection the server closed was used again"


async def test_idle_kill_connection(server: ThrowawayServer, figures: Figures) -> None:
    """Same, through pool.connection() (autocommit): the first statement on a
    connection the server closed while idle must not fail either."""
    setting = await _idle_timeout_2s(server)
    errors: Counter[str] = Counter()
    attempted = committed = 0
    try:
        async with asyncio.timeout(60):
            pool = await rawdb.create_pool(server.url, min_size=1, max_size=1, acquire_timeout=5.0)
            try:
                async with pool.connection() as conn:
                    await conn.fetch_val("SELECT 1")
                await asyncio.sleep(3.0)
                assert await server.backend_count() == 0, "the server did not close the idle session"
                for _ in range(3):
                    attempted += 1
                    try:
                        async with asyncio.timeout(10), pool.connection() as conn:
                            assert await conn.fetch_val("SELECT 1") == 1
                        committed += 1
                    except Exception as exc:
                        errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
            finally:
                await pool.close()
    finally:
        await server.reset_config(setting)
    figures.record(f"5b idle kill ({setting}=2s), pool.connection()", server.dialect, attempted=attempted,
                   committed=committed, failed=errors)
    assert not errors, errors
