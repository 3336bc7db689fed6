"""The sample project's tests: each writes rows; none may see another's."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
import service

import rawdb


async def count(pool: rawdb.Pool, table: str) -> int:
    async with pool.connection() as conn:
        return int(await conn.fetch_val(f"SELECT count(*) FROM {table}"))


@pytest.mark.parametrize("n", range(200))
async def test_each_test_starts_empty_and_writes(rawdb_pool: rawdb.Pool, n: int) -> None:
    assert await count(rawdb_pool, "accounts") == 0
    assert await count(rawdb_pool, "ledger") == 0
    await service.open_account(rawdb_pool, 1, f"owner-{n}", 100)
    await service.deposit(rawdb_pool, 10, 1, n)
    assert await service.balance(rawdb_pool, 1) == 100 + n
    assert await count(rawdb_pool, "ledger") == 1


async def test_concurrent_blocks_take_turns(rawdb_pool: rawdb.Pool) -> None:
    await asyncio.gather(*(service.open_account(rawdb_pool, i, f"c{i}", i) for i in range(20)))
    assert await count(rawdb_pool, "accounts") == 20


async def test_a_failing_block_rolls_back_alone(rawdb_pool: rawdb.Pool) -> None:
    await service.open_account(rawdb_pool, 1, "alice", 5)
    with pytest.raises(rawdb.UniqueViolation):
        await service.open_account(rawdb_pool, 2, "alice", 6)
    assert await count(rawdb_pool, "accounts") == 1


async def test_fastapi_dependency_is_rolled_back_too(rawdb_pool: rawdb.Pool) -> None:
    service.app.state.rawdb_pool = rawdb_pool
    try:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sample.test") as client:
            response = await client.post("/accounts/7", params={"owner": "via-http"})
            assert response.status_code == 200, response.text
        assert await service.balance(rawdb_pool, 7) == 0
    finally:
        del service.app.state.rawdb_pool


async def test_failure_leaves_nothing_behind(rawdb_pool: rawdb.Pool) -> None:
    await service.open_account(rawdb_pool, 99, "left-behind?", 1)
    if os.environ.get("SAMPLE_FAIL_ONE"):
        raise AssertionError("this test fails on purpose after writing a row")
