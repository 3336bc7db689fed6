"""pgbouncer in transaction-pooling mode: no prepared-statement errors with statement_cache_size=0.

Two rawdb pools (16 client connections in all) share three server connections, so
consecutive statements of one client connection routinely land on different server
sessions: anything that relies on server-side statement state between two
transactions (a named prepared statement, a Parse in one sync and its Bind in the
next) fails here at once.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections import Counter

import pytest

import rawdb

from .conftest import Figures
from .servers import PGBOUNCER, ThrowawayPgBouncer

pytestmark = pytest.mark.faults

TOTAL_QUERIES = 10_000
VARIANTS = 25  # distinct statement texts, so that statement names would collide


async def test_pgbouncer_transaction_mode(pgbouncer: ThrowawayPgBouncer, figures: Figures) -> None:
    table = "faults_bouncer"
    errors: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    inserted = 0
    done = asyncio.Event()

    def count(path: str, n: int = 1) -> None:
        counts[path] += n
        if sum(counts.values()) >= TOTAL_QUERIES:
            done.set()

    def failed(path: str, exc: BaseException) -> None:
        errors[f"{path}: {type(exc).__name__}: {str(exc)[:100]}"] += 1

    async def tx_worker(pool: rawdb.Pool, w: int) -> None:
        nonlocal inserted
        i = 0
        while not done.is_set():
            i += 1
            v = i % VARIANTS
            try:
                async with pool.transaction() as tx:
                    got = await tx.fetch_val(f"SELECT :a::int + :b::int + {v}", {"a": i, "b": w})
                    assert got == i + w + v
                    count("transaction")
                    await tx.execute(f"INSERT INTO {table} (w, i, v) VALUES (:w, :i, :v)",
                                     {"w": w, "i": i, "v": f"t{v}"})
                    count("transaction")
                    rows = await tx.fetch_all(f"SELECT i FROM {table} WHERE w = :w AND i = :i",
                                              {"w": w, "i": i})
                    assert [r["i"] for r in rows] == [i]
                    count("transaction")
                inserted += 1
            except Exception as exc:
                failed("transaction", exc)

    async def conn_worker(pool: rawdb.Pool, w: int) -> None:
        nonlocal inserted
        i = 0
        while not done.is_set():
            i += 1
            v = i % VARIANTS
            try:
                async with pool.connection() as conn:
                    got = await conn.fetch_val(f"SELECT :a::int * 2 + {v}", {"a": i})
                    assert got == i * 2 + v
                    count("connection")
                    await conn.execute(f"INSERT INTO {table} (w, i, v) VALUES (:w, :i, :v)",
                                       {"w": w, "i": i, "v": f"c{v}"})
                    inserted += 1
                    count("connection")
                    n = await conn.executemany(
                        f"INSERT INTO {table} (w, i, v) VALUES (:w, :i, :v)",
                        [{"w": w, "i": -i, "v": "m1"}, {"w": w, "i": -i - 1_000_000, "v": "m2"}])
                    assert n == 2
                    inserted += 2
                    count("connection")
                    row = await conn.fetch_one(f"SELECT w, i FROM {table} WHERE w = :w AND i = :i",
                                               {"w": w, "i": i})
                    assert row is not None and row["i"] == i
                    count("connection")
                    async with conn.transaction() as tx:
                        total = await tx.fetch_val(f"SELECT count(*) FROM {table} WHERE w = :w", {"w": w})
                        assert total >= 1
                        count("connection.transaction")
            except Exception as exc:
                failed("connection", exc)

    async with asyncio.timeout(180):
        pools = [await rawdb.create_pool(pgbouncer.url, statement_cache_size=0, min_size=2, max_size=8,
                                         acquire_timeout=30.0) for _ in range(2)]
        try:
            async with pools[0].connection() as conn:
                await conn.execute_verbatim(
                    f"DROP TABLE IF EXISTS {table}; "
                    f"CREATE TABLE {table} (w INT NOT NULL, i INT NOT NULL, v TEXT, PRIMARY KEY (w, i))")
            t0 = time.monotonic()
            workers = []
            for p, pool in enumerate(pools):
                for k in range(4):
                    workers.append(tx_worker(pool, p * 100 + k))
                    workers.append(conn_worker(pool, p * 100 + 50 + k))
            await asyncio.gather(*workers)
            elapsed = time.monotonic() - t0
            async with pools[1].transaction() as tx:
                stored = await tx.fetch_val(f"SELECT count(*) FROM {table}")
            async with pools[0].connection() as conn:
                await conn.execute_verbatim(f"DROP TABLE {table}")
        finally:
            for pool in pools:
                await pool.close()
    queries = sum(counts.values())
    prepared_errors = sum(n for k, n in errors.items() if "prepared statement" in k)
    figures.record("6 pgbouncer transaction mode, 2 pools", "postgresql", attempted=queries,
                   committed=queries, failed=errors, seconds=elapsed,
                   note=f"{dict(counts)}; prepared-statement errors: {prepared_errors}")
    assert queries >= TOTAL_QUERIES
    assert not errors, f"{sum(errors.values())} errors, {prepared_errors} about prepared statements: " \
        + "; ".join(f"{k} x{n}" for k, n in errors.most_common(5))
    assert stored == inserted


def _pgbouncer_version() -> tuple[int, ...]:
    out = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else (0, 0)


async def test_pgbouncer_control_with_statement_cache(pgbouncer: ThrowawayPgBouncer, figures: Figures) -> None:
    """Control: with asyncpg's statement cache on (named prepared statements) the same
    set-up does produce prepared-statement errors, so the run above proves something."""
    if _pgbouncer_version() >= (1, 21):
        pytest.skip("pgbouncer >= 1.21 can track prepared statements itself")
    errors: Counter[str] = Counter()
    ok = 0

    async def worker(pool: rawdb.Pool, w: int) -> None:
        nonlocal ok
        for i in range(40):
            try:
                async with pool.connection() as conn:
                    await conn.fetch_val(f"SELECT :a::int + {i % VARIANTS}", {"a": w})
                ok += 1
            except rawdb.RawDBError as exc:
                errors["prepared statement" if "prepared statement" in str(exc) else type(exc).__name__] += 1

    async with asyncio.timeout(60):
        pools = [await rawdb.create_pool(pgbouncer.url, statement_cache_size=100, min_size=1, max_size=8,
                                         acquire_timeout=30.0) for _ in range(2)]
        try:
            await asyncio.gather(*(worker(pool, w) for pool in pools for w in range(8)))
        finally:
            for pool in pools:
                await pool.close()
    figures.record("6 control: statement cache on (expect errors)", "postgresql",
                   attempted=ok + sum(errors.values()), committed=ok, failed=errors)
    assert errors["prepared statement"] > 0, f"pgbouncer did not multiplex server sessions: {errors}"
