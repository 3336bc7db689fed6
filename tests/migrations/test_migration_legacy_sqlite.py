"""SQLite files the old system left behind: half-applied scripts, fallback-made tables.

Built by ``tests/legacy_db.py`` with the old runner's own method (``executescript``,
then ``user_version`` on a second connection), then opened by rawdb.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from legacy_db import (
    LEGACY_MAX_VERSION,
    V8_TABLES,
    inventory,
    make_fallback_db,
    make_half_applied_db,
    make_old_runner_db,
)

import rawdb
from rawdb.migrations import STORE_MIGRATIONS, Migrator, UnrecognisedState


def count_rows(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables if not t.startswith("rawdb_")
        }
    finally:
        conn.close()


def url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.mark.parametrize("version", range(LEGACY_MAX_VERSION + 1))
async def test_old_runner_file_is_picked_up_at_its_version(tmp_path: Path, version: int) -> None:
    built = make_old_runner_db(tmp_path / "old.db", version)
    rows_before = count_rows(built.path)
    async with await rawdb.create_pool(url(built.path)) as pool:
        assert await pool.schema_version() == version
        status = await Migrator(pool, STORE_MIGRATIONS).status()
        assert status.problems == []
        assert [s.state for s in status.scripts[:version]] == ["applied-untracked"] * version
        assert all(s.state == "pending" for s in status.scripts[version:])
        # status() and a dry run write nothing to the old file.
        plan = await pool.migrate(STORE_MIGRATIONS, dry_run=True)
        assert [p.version for p in plan.planned] == list(range(version + 1, plan.target + 1))
        assert "rawdb_schema_history" not in inventory(built.path)["tables"]
        report = await pool.migrate(STORE_MIGRATIONS)
        assert report.before == version
        assert [a.version for a in report.applied] == list(range(version + 1, report.target + 1))
    after = inventory(built.path)
    assert after["user_version"] == report.target
    assert after["tables"] >= V8_TABLES
    rows_after = count_rows(built.path)
    for table, n in rows_before.items():
        assert rows_after[table] == n, f"{table} lost rows"


async def test_old_file_at_latest_version_gets_nothing_but_stays_readable(tmp_path: Path) -> None:
    built = make_old_runner_db(tmp_path / "old.db", LEGACY_MAX_VERSION)
    async with await rawdb.create_pool(url(built.path)) as pool:
        report = await pool.migrate(STORE_MIGRATIONS, target=LEGACY_MAX_VERSION)
        assert report.up_to_date and report.after == LEGACY_MAX_VERSION
    assert "rawdb_schema_history" not in inventory(built.path)["tables"]


@pytest.mark.parametrize("user_version", [0, 1])
async def test_fallback_file_stops_with_its_state_named(tmp_path: Path, user_version: int) -> None:
    built = make_fallback_db(tmp_path / "fallback.db", user_version=user_version)
    before = inventory(built.path)
    async with await rawdb.create_pool(url(built.path)) as pool:
        with pytest.raises(UnrecognisedState) as info:
            await pool.migrate(STORE_MIGRATIONS)
        assert info.value.state == "fallback"
        assert info.value.suggested_baseline == LEGACY_MAX_VERSION
        message = str(info.value)
        assert f"user_version is {user_version}" in message
        assert "fallback" in message and "rawdb baseline --to 8 --store" in message
        assert ("table tasks" if user_version == 0 else "column tasks.agent_mode") in message
        status = await Migrator(pool, STORE_MIGRATIONS).status()
        assert any("fallback" in p for p in status.problems)
    assert inventory(built.path) == before, "nothing may be created or changed"


def test_half_applied_state_names_the_script(tmp_path: Path) -> None:
    built = make_half_applied_db(tmp_path / "half.db")
    before = inventory(built.path)

    async def run() -> UnrecognisedState:
        async with await rawdb.create_pool(url(built.path)) as pool:
            with pytest.raises(UnrecognisedState) as info:
                await pool.migrate(STORE_MIGRATIONS)
            return info.value

    import asyncio

    error = asyncio.run(run())
    assert error.state == "half-applied"
    assert "v002_add_agent_mode.sql half-applied" in str(error)
    assert "user_version is 1" in str(error)
    assert inventory(built.path) == before


async def test_partly_half_applied_script(tmp_path: Path) -> None:
    built = make_half_applied_db(tmp_path / "half.db", version=3, statements=2)
    async with await rawdb.create_pool(url(built.path)) as pool:
        with pytest.raises(UnrecognisedState, match=r"table voice_profiles already exists") as info:
            await pool.migrate(STORE_MIGRATIONS)
    assert info.value.state == "half-applied"


async def test_baseline_adopts_fallback_file_and_repairs_it_keeping_the_data(tmp_path: Path) -> None:
    built = make_fallback_db(tmp_path / "fallback.db", user_version=1)
    rows = count_rows(built.path)
    async with await rawdb.create_pool(url(built.path)) as pool:
        migrator = Migrator(pool, STORE_MIGRATIONS)
        report = await migrator.baseline(LEGACY_MAX_VERSION)
        assert (report.before, report.version) == (1, LEGACY_MAX_VERSION)
        repaired = "\n".join(report.repaired)
        assert "v003_fix_task_status_case.sql: ran its 6 data statement(s) (UPDATE/DELETE), 1 row(s)" in repaired
        assert "rebuilt table tasks with the definition of v008 (4 row(s) copied" in repaired
        text = "\n".join(report.differences)
        assert "column tasks.agent_mode" not in text and "update_tasks_updated_at" not in text
        assert "CHECK" not in text
        assert "index ix_uploaded_files_session_id on uploaded_files exists here" in text  # kept
        assert "update_tasks_updated_at" in inventory(built.path)["triggers"]  # made by baseline
        assert await pool.schema_version() == LEGACY_MAX_VERSION
        status = await migrator.status()
        assert [s.state for s in status.scripts[:LEGACY_MAX_VERSION]] == ["applied"] * LEGACY_MAX_VERSION
        report2 = await pool.migrate(STORE_MIGRATIONS)
        assert report2.before == LEGACY_MAX_VERSION and report2.after > LEGACY_MAX_VERSION
    assert count_rows(built.path) == rows
    assert "update_tasks_updated_at" in inventory(built.path)["triggers"]


async def test_baseline_refuses_when_tables_are_missing(tmp_path: Path) -> None:
    built = make_old_runner_db(tmp_path / "old.db", 3)
    async with await rawdb.create_pool(url(built.path)) as pool:
        with pytest.raises(rawdb.MigrationError, match=r"cannot baseline to v008.*table voice_profiles is missing"):
            await Migrator(pool, STORE_MIGRATIONS).baseline(LEGACY_MAX_VERSION)
        assert await pool.schema_version() == 3
        with pytest.raises(rawdb.MigrationError, match=r"between 1 and"):
            await Migrator(pool, STORE_MIGRATIONS).baseline(99)


async def test_unreadable_file_is_an_error_not_version_zero(tmp_path: Path) -> None:
    """M4: the old code read any error as version 0 and re-ran every script."""
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite database " * 100)
    async with await rawdb.create_pool(url(path), min_size=0, acquire_timeout=1) as pool:
        with pytest.raises(rawdb.RawDBError, match="not a database"):
            await pool.schema_version()
        with pytest.raises(rawdb.RawDBError, match="not a database"):
            await pool.migrate(STORE_MIGRATIONS)
    assert path.read_bytes().startswith(b"this is not")


async def test_bare_file_name_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """M7: a URL without a directory part works (no parent directory to create)."""
    monkeypatch.chdir(tmp_path)
    async with await rawdb.create_pool("sqlite:///bare.db") as pool:
        report = await pool.migrate(STORE_MIGRATIONS)
        assert report.after == report.target
    assert (tmp_path / "bare.db").exists()


async def test_memory_database_migrates_on_its_single_connection() -> None:
    async with await rawdb.create_pool("sqlite:///:memory:") as pool:
        report = await pool.migrate(STORE_MIGRATIONS)
        assert report.after == report.target
        assert await pool.schema_version() == report.target
        async with pool.transaction() as tx:
            assert await tx.fetch_val("SELECT COUNT(*) FROM llm_profiles") == 0
