"""Files the old system's fallback made, adopted with ``baseline``: writable and correct afterwards.

The old behaviour these tests fail on: ``baseline`` only recorded the version, so the
fallback's tables kept their ORM shape (no column defaults, no CHECKs, no triggers) and
their upper-case statuses; after ``migrate`` every store create failed with
``NotNullViolation`` (``created_at`` and friends had no default) and
``get_running_tasks`` did not see a task stored as ``RUNNING``.

Built by ``tests/legacy_db.py`` exactly as the old ORM's ``create_all`` made them, plus
rows the early build wrote with enum names (upper case) in every status.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import legacy_db
import pytest

import rawdb
from rawdb import store
from rawdb.migrations import Migrator
from rawdb.store.crypto import FernetCipher

SESSION = legacy_db.SESSION_1
# Rows the early build wrote: enum names instead of values (what v003 rewrites).
UPPER_CASE_TASKS = {
    "01942d60-0000-7000-8000-00000000000a": "RUNNING",
    "01942d60-0000-7000-8000-00000000000b": "PAUSED",
    "01942d60-0000-7000-8000-00000000000c": "FAILED",
    "01942d60-0000-7000-8000-00000000000d": "STOPPED",
    "01942d60-0000-7000-8000-00000000000e": "PENDING",
}


def add_upper_case_tasks(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for n, (task_id, status) in enumerate(UPPER_CASE_TASKS.items()):
            conn.execute(
                "INSERT INTO tasks (task_id, session_id, task_description, status, llm_profile_name, "
                "agent_mode, created_at, updated_at) VALUES (?, ?, ?, ?, 'default-gpt', 'thinking', ?, ?)",
                (task_id, SESSION, f"early build task {n}", status, f"2025-01-0{n + 1} 07:00:00",
                 f"2025-01-0{n + 1} 07:00:00"),
            )
    conn.close()


def dump(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Every row of the nine tables (those present), by primary key (first column), as {column: value}."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        tables: dict[str, dict[str, dict[str, Any]]] = {}
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in sorted(legacy_db.V8_TABLES & present):
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            tables[table] = {str(row[0]): dict(row) for row in rows}
        return tables
    finally:
        conn.close()


def lowered(rows: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """What the data must look like after the repair: statuses lower case, nothing else changed."""
    out = {table: {pk: dict(row) for pk, row in by_pk.items()} for table, by_pk in rows.items()}
    for row in out["tasks"].values():
        row["status"] = row["status"].lower()
    return out


@pytest.mark.parametrize("user_version", [0, 1])
async def test_fallback_file_after_baseline_takes_every_store_write(
    tmp_path: Path, user_version: int, cipher: FernetCipher
) -> None:
    built = legacy_db.make_fallback_db(tmp_path / "fallback.db", user_version=user_version)
    add_upper_case_tasks(built.path)
    before = dump(built.path)
    async with await rawdb.create_pool(f"sqlite:///{built.path}") as pool:
        report = await Migrator(pool, store.MIGRATIONS).baseline(legacy_db.LEGACY_MAX_VERSION)
        assert (report.before, report.version) == (user_version, legacy_db.LEGACY_MAX_VERSION)
        assert report.repaired[0].startswith("v003_fix_task_status_case.sql: ran its 6 data statement(s)")
        assert "6 row(s) changed" in report.repaired[0]  # COMPLETED from the builder + five here
        rebuilt = {line.split()[2] for line in report.repaired if line.startswith("rebuilt table ")}
        assert rebuilt == set(legacy_db.V8_TABLES)
        # What remains is what the scripts do not define, kept on purpose (no data in it).
        assert all(" exists here but not in v008" in d for d in report.differences), report.differences
        assert {d.split()[1] for d in report.differences} == {
            *legacy_db.ORM_EXTRA_INDEXES, "idx_workflow_skills_add_to_skill"}
        await pool.migrate(store.MIGRATIONS)
    after = dump(built.path)
    assert after == lowered(before), "every row and value kept, statuses lower case"
    inv = legacy_db.inventory(built.path)
    assert inv["triggers"] == legacy_db.V8_TRIGGERS
    assert inv["indexes"] >= legacy_db.V8_INDEXES | legacy_db.ORM_EXTRA_INDEXES
    conn = sqlite3.connect(built.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        columns = [r[1] for r in conn.execute("PRAGMA table_info(tasks)")]
        assert columns[-1] == "agent_mode"  # the scripts' column order
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'rawdb_rebuild_%'").fetchall()
    finally:
        conn.close()

    async with await rawdb.create_pool(f"sqlite:///{built.path}") as pool:
        async with pool.transaction() as tx:
            running = await store.tasks.get_running_tasks(tx)
            upper_running = next(t for t, s in UPPER_CASE_TASKS.items() if s == "RUNNING")
            assert upper_running in {t.task_id for t in running}
            assert legacy_db.TASK_4 in {t.task_id for t in running}
            counts = await store.tasks.get_task_counts_by_status(tx)
            assert all(status == status.lower() for status in counts)
            assert counts["paused"] == 1 and counts["completed"] == 1

        async with pool.transaction() as tx:  # every create operation of the store
            llm = await store.llm_profiles.create_profile(
                tx, "new-llm", "openai", "gpt-4o-mini", api_key="sk-new", cipher=cipher)
            assert llm.is_active and not llm.is_default and llm.created_at.tzinfo is not None
            mcp = await store.mcp_profiles.create_profile(
                tx, "New MCP", "new-mcp", {"command": "npx", "args": ["-y", "new-server"]})
            assert mcp.is_active
            voice = await store.voice_profiles.create_profile(
                tx, "new-voice", "asr", "whisper-2", api_key="sk-voice", cipher=cipher)
            assert voice.is_active
            task = await store.tasks.save_task(tx, "01942d61-0000-7000-8000-000000000001", SESSION,
                                               "a task after the upgrade", "new-llm")
            assert task.status == "pending" and task.agent_mode == "thinking"
            upload = await store.uploaded_files.create_file_record(
                tx, "01942d61-0000-7000-8000-000000000002", "new.txt", "stored-new.txt",
                "/tmp/ws/uploads/new.txt", SESSION, 10, "text/plain", "uploads/new.txt")
            assert not upload.is_deleted
            toolkit = await store.composio_toolkits.create_toolkit(tx, "Linear", "linear")
            assert not toolkit.enabled
            assert await store.composio_toolkits.upsert_toolkits_by_slug(
                tx, [{"name": "Notion", "slug": "notion"}, {"name": "GitHub", "slug": "github"}]) == 2
            assert await store.credentials.store_credential(tx, "NEW_KEY", "secret", cipher=cipher)
            assert await store.credentials.store_credential(tx, "COMPOSIO_API_KEY", "rotated", cipher=cipher)
            schedule = await store.schedules.create_schedule(tx, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f")
            assert schedule.is_enabled and schedule.execution_count == 0
            skill = await store.workflow_skills.create_or_update_skill(
                tx, "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", True, name="new skill")
            assert skill.add_to_skill
            again = await store.workflow_skills.create_or_update_skill(tx, legacy_db.FLOW_1, False)
            assert not again.add_to_skill

        async with pool.transaction() as tx:  # and updates, with updated_at moving
            old = datetime(2025, 6, 1, tzinfo=UTC)
            assert await store.tasks.update_task_status(tx, upper_running, "completed")
            assert await store.tasks.update_task_completion(tx, legacy_db.TASK_4, task_result="done")
            assert await store.llm_profiles.set_default_profile(tx, "new-llm")
            assert await store.llm_profiles.update_profile(tx, "claude", {"model": "claude-opus-4"})
            assert await store.mcp_profiles.update_last_used(tx, legacy_db.MCP_1)
            assert await store.voice_profiles.update_profile(tx, "whisper", {"description": "asr"})
            assert await store.composio_toolkits.toggle_toolkit_enabled(tx, legacy_db.TOOLKIT_2, True)
            assert await store.schedules.increment_execution_count(tx, legacy_db.SCHEDULE_1)
            assert await store.uploaded_files.delete_file(tx, legacy_db.FILE_1)
            assert await store.workflow_skills.update_expose_config(tx, legacy_db.FLOW_2, {"x": {"y": True}})
            done = await store.tasks.get_task(tx, upper_running)
            assert done is not None and done.status == "completed" and done.updated_at > old
            profile = await store.llm_profiles.get_profile(tx, "claude")
            assert profile is not None and profile.updated_at > old
            assert (await store.llm_profiles.get_default_profile(tx)).profile_name == "new-llm"  # type: ignore[union-attr]
            with pytest.raises(rawdb.CheckViolation):
                async with tx.transaction() as sp:  # the CHECK the fallback lacked is there now
                    await sp.execute("UPDATE tasks SET status = 'RUNNING' WHERE task_id = :id",
                                     {"id": upper_running})


async def test_baseline_repair_is_one_transaction_with_the_recorded_version(tmp_path: Path) -> None:
    """A row the scripts' definition rejects stops everything: no table swapped, nothing recorded."""
    built = legacy_db.make_fallback_db(tmp_path / "fallback.db", user_version=3)  # v003 counts as run
    add_upper_case_tasks(built.path)
    before, inv = dump(built.path), legacy_db.inventory(built.path)
    async with await rawdb.create_pool(f"sqlite:///{built.path}") as pool:
        with pytest.raises(rawdb.MigrationError, match=r"copying the rows of tasks.*CHECK constraint failed") as info:
            await Migrator(pool, store.MIGRATIONS).baseline(legacy_db.LEGACY_MAX_VERSION)
        assert "Nothing was changed or recorded" in str(info.value)
        assert await pool.schema_version() == 3
    assert dump(built.path) == before
    assert legacy_db.inventory(built.path) == inv


async def test_baseline_of_a_script_made_file_changes_nothing(tmp_path: Path) -> None:
    """A half-applied file (v002 ran, user_version 1) has the scripts' shape: only recorded."""
    built = legacy_db.make_half_applied_db(tmp_path / "half.db")
    before, inv = dump(built.path), legacy_db.inventory(built.path)
    async with await rawdb.create_pool(f"sqlite:///{built.path}") as pool:
        report = await Migrator(pool, store.MIGRATIONS).baseline(2)
        assert report.repaired == [] and report.differences == []
    assert dump(built.path) == before
    assert legacy_db.inventory(built.path)["tables"] == inv["tables"] | {"rawdb_schema_history"}
