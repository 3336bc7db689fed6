"""tasks: its 12 operations, count_sessions, the lifecycle stamps and validated mcp_server_config."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.models import Task, TaskMetadata

tasks = store.tasks
T1, T2, T3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))


def tid(n: int) -> str:
    """uuid7-shaped, increasing ids (task ids sort by creation time, as uuid7 does)."""
    return f"01900000-0000-7000-8000-{n:012d}"


async def save(tx: rawdb.Transaction, n: int, session: str = "s1", **kw: object) -> Task:
    return await tasks.save_task(tx, tid(n), session, f"task {n}", "llm", **kw)  # type: ignore[arg-type]


async def test_save_task_insert(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        t = await tasks.save_task(
            tx, tid(1), "sess", "describe", "gpt", upload_files_path="/up", workspace_dir="/ws",
            mcp_server_config={"mcpServers": {}}, report_path="/r.md", agent_mode="flash",
            task_metadata=TaskMetadata(total_actions=3, control_history=[{"a": 1}]),
        )
    assert isinstance(t, Task)
    assert (t.task_id, t.session_id, t.task_description, t.llm_profile_name) == (
        tid(1), "sess", "describe", "gpt")
    assert t.status == "pending" and t.started_at is None and t.completed_at is None
    assert (t.upload_files_path, t.workspace_dir, t.report_path, t.agent_mode) == (
        "/up", "/ws", "/r.md", "flash")
    assert t.mcp_server_config == '{"mcpServers": {}}'  # json.dumps, as the old code wrote it
    assert t.task_metadata == TaskMetadata(total_actions=3, control_history=[{"a": 1}])
    assert t.task_result is None and t.error_message is None
    assert list(Task.__struct_fields__)[-1] == "agent_mode"


async def test_save_task_defaults(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        t = await save(tx, 1)
    assert t.agent_mode == "thinking" and t.mcp_server_config is None and t.task_metadata is None


async def test_mcp_server_config_text_kept_verbatim(store_pool: rawdb.Pool) -> None:
    text = '{"mcpServers":{"fs":{"command":"npx","args":["a"]}}}'
    async with store_pool.transaction() as tx:
        t = await save(tx, 1, mcp_server_config=text)
    assert t.mcp_server_config == text


@pytest.mark.parametrize("bad", [
    "not json",
    '{"mcpServers": {"fs": {"command": "npx", "args": [1]}}}',  # non-string arg
    {"mcpServers": {"fs": {"args": []}}},                       # missing command
    '{"mcpServers": []}',
    42,
])
async def test_invalid_mcp_server_config_rejected_d23(store_pool: rawdb.Pool, bad: object) -> None:
    with pytest.raises(rawdb.ValidationError, match="mcp_server_config"):
        async with store_pool.transaction() as tx:
            await save(tx, 1, mcp_server_config=bad)
    assert await table_rows(store_pool, "tasks") == []


async def test_save_task_update_keeps_status_when_not_given_d5(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1, task_status="running")
        t = await tasks.save_task(tx, tid(1), "other-session", "other", "other-llm",
                                  task_result="partial", workspace_dir="/changed")
    assert t.status == "running" and t.task_result == "partial"
    # identity fields are ignored on update
    assert (t.session_id, t.task_description, t.llm_profile_name, t.workspace_dir) == (
        "s1", "task 1", "llm", None)


async def test_save_task_insert_stamps_lifecycle_d6(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        r = await save(tx, 1, task_status="running", now=T0)
        f = await save(tx, 2, task_status="failed", now=T1)
        p = await save(tx, 3, task_status="paused", now=T1)
    assert r.started_at == T0 and r.completed_at is None
    assert f.completed_at == T1 and f.started_at is None
    assert p.started_at is None and p.completed_at is None


async def test_save_task_stamps_set_once_d7(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1, task_status="running", now=T0)
        await save(tx, 1, task_status="paused", now=T1)
        t = await save(tx, 1, task_status="running", now=T2)
        assert t.started_at == T0
        await save(tx, 1, task_status="completed", now=T2)
        t = await save(tx, 1, task_status="completed", task_result="again", now=T3)
    assert t.completed_at == T2 and t.task_result == "again" and t.status == "completed"


async def test_save_task_update_outcome_fields(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1, task_result="r", error_message="e", report_path="p")
        t = await save(tx, 1)  # None never erases
        assert (t.task_result, t.error_message, t.report_path) == ("r", "e", "p")
        t = await save(tx, 1, task_result="", error_message="", task_metadata=TaskMetadata())
        assert (t.task_result, t.error_message) == ("", "")
        assert t.task_metadata == TaskMetadata()


async def test_bad_status_rejected_before_sql(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1)
    before = await table_rows(store_pool, "tasks")
    for status in ("RUNNING", "done", ""):
        with pytest.raises(rawdb.ValidationError, match="status"):
            async with store_pool.transaction() as tx:
                await save(tx, 1, task_status=status)
        with pytest.raises(rawdb.ValidationError, match="status"):
            async with store_pool.transaction() as tx:
                await tasks.update_task_status(tx, tid(1), status)
    assert await table_rows(store_pool, "tasks") == before


async def test_concurrent_save_task_one_row_d4(store_pool: rawdb.Pool) -> None:
    async def one(i: int) -> Task:
        async with store_pool.transaction() as tx:
            return await tasks.save_task(tx, tid(99), "s", "d", "llm", task_result=f"r{i}")

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert {r.task_id for r in results} == {tid(99)}
    async with store_pool.transaction() as tx:
        assert await tx.fetch_val("SELECT COUNT(*) FROM tasks") == 1


async def test_get_task_and_delete(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        assert await tasks.get_task(tx, tid(1)) is None
        t = await save(tx, 1)
        assert await tasks.get_task(tx, tid(1)) == t
        assert await tasks.delete_task(tx, tid(1)) is True
        assert await tasks.delete_task(tx, tid(1)) is False
        assert await tasks.get_task(tx, tid(1)) is None


async def _five_tasks(pool: rawdb.Pool) -> None:
    async with pool.transaction() as tx:
        for n, session, llm_name in ((1, "s1", "a"), (2, "s1", "b"), (3, "s2", "a"),
                                     (4, "s1", "a"), (5, "s2", "b")):
            await tasks.save_task(tx, tid(n), session, "d", llm_name)
    await set_column(pool, "tasks", "created_at", T0)  # same instant: task_id decides


async def test_lists_by_session_recent_and_llm(store_pool: rawdb.Pool) -> None:
    await _five_tasks(store_pool)
    async with store_pool.transaction() as tx:
        ids = lambda rows: [r.task_id for r in rows]  # noqa: E731
        assert ids(await tasks.get_tasks_by_session(tx, "s1")) == [tid(4), tid(2), tid(1)]
        assert ids(await tasks.get_tasks_by_session(tx, "s1", limit=1, offset=1)) == [tid(2)]
        assert ids(await tasks.get_tasks_by_session(tx, "s1", limit=None, offset=2)) == [tid(1)]
        assert await tasks.get_tasks_by_session(tx, "none") == []
        assert ids(await tasks.get_recent_tasks(tx)) == [tid(n) for n in (5, 4, 3, 2, 1)]
        assert ids(await tasks.get_recent_tasks(tx, limit=2)) == [tid(5), tid(4)]
        assert ids(await tasks.get_tasks_by_llm_profile(tx, "a")) == [tid(4), tid(3), tid(1)]
        assert ids(await tasks.get_tasks_by_llm_profile(tx, "a", limit=1, offset=2)) == [tid(1)]
        with pytest.raises(rawdb.ValidationError):
            await tasks.get_recent_tasks(tx, limit=-3)
    await set_column(store_pool, "tasks", "created_at", T1, "task_id = :id", {"id": tid(1)})
    async with store_pool.transaction() as tx:
        assert ids(await tasks.get_recent_tasks(tx, limit=1)) == [tid(1)]  # created_at first


async def test_session_limit_default_is_50_c2(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        for n in range(55):
            await save(tx, n)
        assert len(await tasks.get_tasks_by_session(tx, "s1")) == 50
        assert len(await tasks.get_tasks_by_session(tx, "s1", limit=None)) == 55


async def test_get_all_sessions_latest_status_d8(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1, "A", task_status="completed")
        await save(tx, 2, "A", task_status="running")
        await save(tx, 3, "A", task_status="pending")
        await save(tx, 4, "B", task_status="failed")
        await save(tx, 5, "B", task_status="completed")
    for n, minute in ((1, 0), (2, 1), (3, 2), (4, 3), (5, 4)):
        await set_column(store_pool, "tasks", "created_at", T0 + timedelta(minutes=minute),
                         "task_id = :id", {"id": tid(n)})
    async with store_pool.transaction() as tx:
        sessions = await tasks.get_all_sessions(tx)
        assert [(s.session_id, s.task_count, s.status) for s in sessions] == [
            ("B", 2, "completed"), ("A", 3, "pending")]
        b, a = sessions
        assert a.created_at == T0.isoformat() and a.last_activity == (T0 + timedelta(minutes=2)).isoformat()
        assert b.created_at.endswith("+00:00")  # type: ignore[union-attr]
        assert await tasks.count_sessions(tx) == 2
        assert [s.session_id for s in await tasks.get_all_sessions(tx, limit=1, offset=1)] == ["A"]
        assert [s.session_id for s in await tasks.get_all_sessions(tx, offset=1)] == ["A"]
        assert await tasks.get_all_sessions(tx, limit=0) == []
    async with store_pool.transaction() as tx:
        await tx.execute("DELETE FROM tasks")
        assert await tasks.get_all_sessions(tx) == [] and await tasks.count_sessions(tx) == 0


async def test_update_task_status(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1)
        assert await tasks.update_task_status(tx, tid(1), "running", now=T0) is True
        assert await tasks.update_task_status(tx, tid(1), "paused", now=T1) is True
        assert await tasks.update_task_status(tx, tid(1), "running", now=T2) is True
        t = await tasks.get_task(tx, tid(1))
        assert t is not None and t.started_at == T0 and t.completed_at is None  # D7 resume
        assert await tasks.update_task_status(
            tx, tid(1), "failed", error_message="", task_result="r", report_path="p", now=T3)
        t = await tasks.get_task(tx, tid(1))
        assert t is not None and (t.status, t.error_message, t.task_result, t.report_path) == (
            "failed", "", "r", "p")  # "" is stored (D9)
        assert t.completed_at == T3
        assert await tasks.update_task_status(tx, tid(1), "stopped", now=T3 + timedelta(1))
        assert (await tasks.get_task(tx, tid(1))).completed_at == T3  # type: ignore[union-attr]
        assert await tasks.update_task_status(tx, "missing", "running") is False


async def test_update_task_completion(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await save(tx, 1, task_status="running", now=T0)
        assert await tasks.update_task_completion(tx, tid(1), "result", now=T1) is True
        t = await tasks.get_task(tx, tid(1))
        assert t is not None and (t.status, t.task_result, t.completed_at) == (
            "completed", "result", T1)
        assert await tasks.update_task_completion(
            tx, tid(1), task_status="failed", error_message="boom", now=T2) is True
        t = await tasks.get_task(tx, tid(1))
        assert t is not None and (t.status, t.task_result, t.error_message, t.completed_at) == (
            "failed", "result", "boom", T1)  # set once (D7); None keeps the result
        assert await tasks.update_task_completion(tx, "missing") is False
    for status in ("running", "pending", "paused", "bogus"):
        with pytest.raises(rawdb.ValidationError, match="task_status"):
            async with store_pool.transaction() as tx:
                await tasks.update_task_completion(tx, tid(1), task_status=status)


async def test_running_and_active_tasks_d3(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        assert await tasks.get_running_tasks(tx) == [] and await tasks.get_active_task(tx) is None
        await save(tx, 1, task_status="running", now=T1)
        await save(tx, 2, task_status="running", now=T2)   # started later
        await save(tx, 3, task_status="paused")
        await save(tx, 4, task_status="completed")
        await save(tx, 5)
    await set_column(store_pool, "tasks", "created_at", T0)
    async with store_pool.transaction() as tx:
        assert [t.task_id for t in await tasks.get_running_tasks(tx)] == [tid(1), tid(2), tid(3)]
        active = await tasks.get_active_task(tx)
        assert active is not None and active.task_id == tid(2)
        # a running task without started_at (written by the old runner) sorts last
        await tx.execute("UPDATE tasks SET started_at = NULL WHERE task_id = :id", {"id": tid(2)})
        assert (await tasks.get_active_task(tx)).task_id == tid(1)  # type: ignore[union-attr]


async def test_get_task_counts_by_status(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        assert await tasks.get_task_counts_by_status(tx) == {}
        for n, status in enumerate(("running", "running", "completed", "failed"), start=1):
            await save(tx, n, task_status=status)
        assert await tasks.get_task_counts_by_status(tx) == {
            "running": 2, "completed": 1, "failed": 1}


async def test_big_result_round_trip(store_pool: rawdb.Pool) -> None:
    result = ("# Résumé 🚀 中文 עברית\n" * 60000)[: 1024 * 1024]
    assert len(result) == 1024 * 1024
    async with store_pool.transaction() as tx:
        await save(tx, 1)
        t = await save(tx, 1, task_result=result)
    async with store_pool.transaction() as tx:
        again = await tasks.get_task(tx, tid(1))
    assert t.task_result == result and again is not None and again.task_result == result


async def test_task_metadata_round_trip(store_pool: rawdb.Pool) -> None:
    meta = TaskMetadata(execution_duration_seconds=1.5, total_actions=2, final_summary="ok ✓",
                        control_history=[{"action": "pause", "at": "t", "n": [1, {"x": None}]}],
                        error_recovery_attempts=1, created_via="cli")
    async with store_pool.transaction() as tx:
        t = await save(tx, 1, task_metadata=meta)
    assert t.task_metadata == meta
    assert json.loads(json.dumps(t.task_metadata.control_history)) == meta.control_history  # type: ignore[union-attr]
