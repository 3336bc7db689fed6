"""schedules: its 10 operations, the scheduler's three, cron in the given zone with UTC storage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.models import Schedule

sched = store.schedules
FLOW = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
BERLIN = ZoneInfo("Europe/Berlin")


def flow(n: int) -> str:
    return f"0a1b2c3d-4e5f-4a6b-8c7d-{n:012d}"


async def test_create_computes_next_run(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        s = await sched.create_schedule(tx, FLOW, "*/15 * * * *", description="d", now=T0)
        assert isinstance(s, Schedule) and len(s.id) == 36
        assert (s.flow_id, s.cron_expression, s.is_enabled, s.description, s.execution_count,
                s.last_execution_at) == (FLOW, "*/15 * * * *", True, "d", 0, None)
        assert s.next_execution_at == datetime(2024, 1, 15, 7, 15, tzinfo=UTC)
        assert s.next_execution_at.tzinfo is UTC and s.created_at.tzinfo is UTC
        off = await sched.create_schedule(tx, flow(2), "0 0 * * *", is_enabled=False, now=T0)
        assert off.next_execution_at == datetime(2024, 1, 16, tzinfo=UTC)  # computed anyway
        none = await sched.create_schedule(tx, flow(3))
        assert none.cron_expression is None and none.next_execution_at is None
        blank = await sched.create_schedule(tx, flow(4), "")
        assert blank.cron_expression is None and blank.next_execution_at is None
        assert await sched.get_schedule(tx, s.id) == s
        assert await sched.get_schedule_by_flow_id(tx, FLOW) == s
        assert await sched.get_schedule(tx, "missing") is None
        assert await sched.get_schedule_by_flow_id(tx, "missing") is None


async def test_zone_rule_d13(store_pool: rawdb.Pool) -> None:
    winter = datetime(2024, 1, 15, 7, 0, tzinfo=UTC)
    summer = datetime(2024, 7, 15, 6, 0, tzinfo=UTC)
    async with store_pool.transaction() as tx:
        w = await sched.create_schedule(tx, flow(1), "0 9 * * *", now=winter, tz=BERLIN)
        s = await sched.create_schedule(tx, flow(2), "0 9 * * *", now=summer, tz=BERLIN)
        u = await sched.create_schedule(tx, flow(3), "0 9 * * *", now=winter)
    assert w.next_execution_at == datetime(2024, 1, 15, 8, 0, tzinfo=UTC)
    assert s.next_execution_at == datetime(2024, 7, 15, 7, 0, tzinfo=UTC)
    assert u.next_execution_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)


async def test_invalid_cron_and_duplicate(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await sched.create_schedule(tx, FLOW, "0 9 * * *")
    before = await table_rows(store_pool, "schedules")
    for bad in ("not cron", "61 * * * *", "* * * *", "0 0 9 * * * *"):
        with pytest.raises(rawdb.ValidationError, match="cron_expression"):
            async with store_pool.transaction() as tx:
                await sched.create_schedule(tx, flow(9), bad)
        with pytest.raises(rawdb.ValidationError, match="cron_expression"):
            async with store_pool.transaction() as tx:
                await sched.update_schedule_by_flow_id(tx, FLOW, {"cron_expression": bad})
    with pytest.raises(rawdb.UniqueViolation):
        async with store_pool.transaction() as tx:
            await sched.create_schedule(tx, FLOW)
    with pytest.raises(rawdb.ValidationError, match="now"):
        async with store_pool.transaction() as tx:
            await sched.create_schedule(tx, flow(9), "0 9 * * *", now=datetime(2024, 1, 1))
    assert await table_rows(store_pool, "schedules") == before


async def test_list_and_enabled(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        ids = [(await sched.create_schedule(tx, flow(n), cron, is_enabled=on)).id
               for n, cron, on in ((1, "0 * * * *", True), (2, None, True),
                                   (3, "0 * * * *", False), (4, "5 * * * *", True))]
    await set_column(store_pool, "schedules", "created_at", T0)
    newest_first = sorted(ids, reverse=True)
    async with store_pool.transaction() as tx:
        assert [s.id for s in await sched.list_schedules(tx)] == newest_first
        enabled = [i for i in newest_first if i != ids[2]]
        assert [s.id for s in await sched.list_schedules(tx, enabled_only=True)] == enabled
        assert [s.id for s in await sched.get_enabled_schedules(tx)] == enabled
        assert [s.id for s in await sched.list_schedules(tx, limit=2, offset=1)] == newest_first[1:3]
        assert [s.id for s in await sched.list_schedules(tx, offset=3)] == newest_first[3:]
        assert [s.flow_id for s in await sched.list_schedulable(tx)] == [flow(1), flow(4)]


async def test_update_schedule_rules_d12(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        s = await sched.create_schedule(tx, FLOW, "0 9 * * *", now=T0)
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        updates = {"cron_expression": "30 10 * * *"}
        assert await sched.update_schedule(tx, s.id, updates, now=T0) is True
        assert updates == {"cron_expression": "30 10 * * *"}  # no next_execution_at added
        got = await sched.get_schedule(tx, s.id)
        assert got is not None and got.next_execution_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
        assert got.updated_at > s.updated_at
        assert await sched.update_schedule(tx, s.id, {"is_enabled": False, "description": "x"})
        again = await sched.get_schedule(tx, s.id)
        assert again is not None and again.next_execution_at == got.next_execution_at
        assert (again.is_enabled, again.description) == (False, "x")
        assert await sched.update_schedule_by_flow_id(tx, FLOW, {"cron_expression": ""})
        cleared = await sched.get_schedule(tx, s.id)
        assert cleared is not None and cleared.cron_expression is None
        assert cleared.next_execution_at is None
        assert await sched.update_schedule_by_flow_id(
            tx, FLOW, {"cron_expression": "0 9 * * *"}, now=T0, tz=BERLIN)
        assert (await sched.get_schedule(tx, s.id)).next_execution_at == datetime(  # type: ignore[union-attr]
            2024, 1, 15, 8, 0, tzinfo=UTC)
        assert await sched.update_schedule(tx, s.id, {"cron_expression": None})
        assert (await sched.get_schedule(tx, s.id)).next_execution_at is None  # type: ignore[union-attr]
        for bad in ({"next_execution_at": T0}, {"flow_id": "x"}, {"execution_count": 3}):
            with pytest.raises(rawdb.ValidationError):
                await sched.update_schedule(tx, s.id, bad)
        assert await sched.update_schedule(tx, "missing", {"description": "x"}) is False
        assert await sched.update_schedule_by_flow_id(tx, "missing", {"description": "x"}) is False


async def test_deletes(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        a = await sched.create_schedule(tx, flow(1))
        await sched.create_schedule(tx, flow(2))
        assert await sched.delete_schedule(tx, a.id) is True
        assert await sched.delete_schedule(tx, a.id) is False
        assert await sched.delete_schedule_by_flow_id(tx, flow(2)) is True
        assert await sched.delete_schedule_by_flow_id(tx, flow(2)) is False


async def test_increment_and_scheduler_ops_d14(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        s = await sched.create_schedule(tx, FLOW, "0 9 * * *", now=T0)
    await asyncio.sleep(0.01)

    async def bump() -> bool:
        async with store_pool.transaction() as tx:
            return await sched.increment_execution_count(tx, s.id, now=T0 + timedelta(hours=1))

    assert all(await asyncio.gather(*(bump() for _ in range(8))))
    async with store_pool.transaction() as tx:
        got = await sched.get_schedule(tx, s.id)
        assert got is not None and got.execution_count == 8
        assert got.last_execution_at == T0 + timedelta(hours=1)
        assert got.next_execution_at == s.next_execution_at  # not re-armed
        assert got.updated_at > s.updated_at
        assert await sched.increment_execution_count(tx, "missing") is False

        later = datetime(2024, 1, 16, 8, tzinfo=UTC)
        assert await sched.set_next_execution(tx, FLOW, later) is True
        assert (await sched.get_schedule(tx, s.id)).next_execution_at == later  # type: ignore[union-attr]
        assert await sched.set_next_execution(tx, FLOW, None) is True
        assert await sched.set_next_execution(tx, "missing", later) is False

        ran = datetime(2024, 1, 16, 9, 0, 0, 250000, tzinfo=ZoneInfo("America/New_York"))
        assert await sched.record_execution(tx, FLOW, ran, later) is True
        got = await sched.get_schedule(tx, s.id)
        assert got is not None and got.execution_count == 9
        assert got.last_execution_at == ran and got.last_execution_at.tzinfo is UTC
        assert got.next_execution_at == later
        assert await sched.record_execution(tx, "missing", ran, None) is False
        for bad in (lambda: sched.set_next_execution(tx, FLOW, datetime(2024, 1, 1)),
                    lambda: sched.record_execution(tx, FLOW, datetime(2024, 1, 1), None),
                    lambda: sched.record_execution(tx, FLOW, ran, datetime(2024, 1, 1))):
            with pytest.raises(rawdb.ValidationError):
                await bad()


async def test_utc_even_with_server_zone_d14(store_pool: rawdb.Pool, dialect_name: str) -> None:
    """A session whose time zone is New York still reads (and writes) UTC values."""
    set_zone = {"postgresql": "SET LOCAL TimeZone = 'America/New_York'",
                "mysql": "SET time_zone = '-05:00'"}.get(dialect_name)  # SQLite has none
    async with store_pool.transaction() as tx:
        if set_zone:
            await tx.execute(set_zone)
        s = await sched.create_schedule(tx, FLOW, "0 9 * * *", now=T0)
        got = await sched.get_schedule(tx, s.id)
    assert s.next_execution_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert got is not None and got.next_execution_at == s.next_execution_at
    assert got.next_execution_at.tzinfo is UTC and got.created_at.tzinfo is UTC  # type: ignore[union-attr]
    async with store_pool.transaction() as tx:  # and a fresh session agrees
        again = await sched.get_schedule(tx, s.id)
    assert again is not None and again.next_execution_at == s.next_execution_at
    # (created_at is the database's default: on MySQL a DATETIME default follows the
    # session time_zone, which is why rawdb pins it to +00:00 and resets it.)
