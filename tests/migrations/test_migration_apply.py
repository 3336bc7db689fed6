"""Applying scripts on all three dialects: reports, targets, failures, drift, locks.

Each test runs on SQLite, PostgreSQL and MariaDB (``dialect``/``pool`` fixtures),
in its own file/schema/database, with small scripts written to a temporary folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from migration_helpers import PORTABLE, history, holding_migration_lock, table_exists, write_scripts

import rawdb
from rawdb.migrations import STORE_MIGRATIONS, MigrationScriptError, Migrator, ProgressEvent, UnrecognisedState


@pytest.fixture
def portable(tmp_path: Path) -> Path:
    """A folder with three small scripts that mean the same on every dialect."""
    return write_scripts(tmp_path / "scripts", PORTABLE)


async def test_apply_reports_each_script_then_nothing_to_do(pool: rawdb.Pool, portable: Path) -> None:
    events: list[ProgressEvent] = []
    migrator = Migrator(pool, portable, progress=events.append)
    report = await migrator.apply()
    assert (report.before, report.after, report.target, report.dry_run) == (0, 3, 3, False)
    assert [a.name for a in report.applied] == list(PORTABLE)
    assert [p.version for p in report.planned] == [1, 2, 3]
    assert all(a.duration_ms >= 0 and a.statements >= 1 for a in report.applied)
    assert [(e.kind, e.version) for e in events] == [
        ("start", 1),
        ("done", 1),
        ("start", 2),
        ("done", 2),
        ("start", 3),
        ("done", 3),
    ]
    assert await pool.schema_version() == 3
    rows = await history(pool)
    assert [(r["version"], r["name"], bool(r["success"]), bool(r["dirty"])) for r in rows] == [
        (1, "v001_items.sql", True, False),
        (2, "v002_fill.sql", True, False),
        (3, "v003_notes.sql", True, False),
    ]
    again = await migrator.apply()
    assert again.up_to_date and again.applied == [] and (again.before, again.after) == (3, 3)
    status = await migrator.status()
    assert status.version == 3 and status.latest == 3 and status.problems == []
    assert [s.state for s in status.scripts] == ["applied"] * 3
    assert status.scripts[0].file_checksum == status.scripts[0].recorded_checksum


async def test_dry_run_changes_nothing(pool: rawdb.Pool, portable: Path) -> None:
    report = await Migrator(pool, portable).plan()
    assert report.dry_run and report.applied == [] and (report.before, report.after) == (0, 0)
    assert [(p.name, p.statements) for p in report.planned] == [
        ("v001_items.sql", 1),
        ("v002_fill.sql", 2),
        ("v003_notes.sql", 1),
    ]
    assert not await table_exists(pool, "items")
    assert not await table_exists(pool, "rawdb_schema_history")
    assert await pool.schema_version() == 0


async def test_target_moves_forward_only(pool: rawdb.Pool, portable: Path) -> None:
    migrator = Migrator(pool, portable)
    assert (await migrator.apply(1)).after == 1
    assert await table_exists(pool, "items") and not await table_exists(pool, "notes")
    plan = await migrator.plan(2)
    assert [p.version for p in plan.planned] == [2]
    assert (await migrator.apply(3)).after == 3
    with pytest.raises(rawdb.MigrationError, match=r"target version 2 is below the current version 3"):
        await migrator.apply(2)
    with pytest.raises(rawdb.MigrationError, match=r"target version 7 has no script"):
        await migrator.apply(7)
    assert (await migrator.apply(3)).up_to_date


async def test_failing_script_keeps_previous_version(pool: rawdb.Pool, tmp_path: Path) -> None:
    """SQLite/PostgreSQL: nothing of the failed script stays. MySQL: it is marked dirty,
    refused until repaired, then resumed at the failed statement."""
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_items.sql": PORTABLE["v001_items.sql"],
            "v002_breaks.sql": (
                "-- first statement works, second fails\n"
                "INSERT INTO items (id, name) VALUES (1, 'kept?');\n"
                "\n"
                "INSERT INTO missing_table (id)\n"
                "VALUES (1);\n"
                "CREATE TABLE after_failure (id INTEGER PRIMARY KEY);\n"
            ),
        },
    )
    migrator = Migrator(pool, folder, lock_timeout=3)
    with pytest.raises(MigrationScriptError) as info:
        await migrator.apply()
    err = info.value
    assert (err.script, err.statement, err.line, err.version) == ("v002_breaks.sql", 2, 4, 1)
    assert err.first_line == "INSERT INTO missing_table (id)"
    assert "missing_table" in err.database_message
    assert "v002_breaks.sql: statement 2 (line 4" in str(err)
    assert await pool.schema_version() == 1
    assert not await table_exists(pool, "after_failure")
    async with pool.connection() as conn:
        kept = await conn.fetch_val("SELECT COUNT(*) FROM items")

    if pool.dialect.name != "mysql":
        assert kept == 0, "the failed script's first statement must be rolled back"
        assert [r["version"] for r in await history(pool)] == [1]
        started = time.monotonic()
        with pytest.raises(MigrationScriptError):  # same error again, lock not left held
            await migrator.apply()
        assert time.monotonic() - started < 2.5
        return

    # MySQL/MariaDB: DDL is not transactional; progress is recorded and the run is dirty.
    assert kept == 1
    assert "marked dirty" in str(err) and "rawdb repair" in str(err)
    started = time.monotonic()
    with pytest.raises(rawdb.DirtyDatabase) as dirty:
        await migrator.apply()
    assert time.monotonic() - started < 2.5, "a failed run must not leave the lock held"
    assert "v002_breaks.sql failed in statement 2" in str(dirty.value)
    assert "rawdb repair" in str(dirty.value)
    status = await migrator.status()
    assert status.dirty is not None and (status.dirty.failed_statement, status.dirty.cleared) == (2, False)
    assert [s.state for s in status.scripts] == ["applied", "partial"]
    assert status.problems
    async with pool.connection() as conn:  # the operator fixes the schema
        await conn.execute_verbatim("CREATE TABLE missing_table (id INT PRIMARY KEY)")
    repaired = await migrator.repair()
    assert repaired.dirty_cleared is not None and repaired.dirty_cleared.failed_statement == 2
    plan = await migrator.plan()
    assert plan.planned[0].resume_at == 2
    report = await migrator.apply()
    assert [a.version for a in report.applied] == [2] and report.after == 2
    async with pool.connection() as conn:
        assert await conn.fetch_val("SELECT COUNT(*) FROM items") == 1  # statement 1 not re-run
    assert await table_exists(pool, "after_failure")
    row = (await history(pool))[-1]
    assert (bool(row["success"]), bool(row["dirty"]), row["statements_done"]) == (True, False, 3)


async def test_resume_refuses_when_applied_statements_changed(pool: rawdb.Pool, tmp_path: Path) -> None:
    if pool.dialect.name != "mysql":
        pytest.skip("only MySQL/MariaDB resumes a partly applied script")
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_a.sql": "CREATE TABLE a (id INT PRIMARY KEY);\nINSERT INTO nope VALUES (1);\n",
        },
    )
    migrator = Migrator(pool, folder)
    with pytest.raises(MigrationScriptError):
        await migrator.apply()
    await migrator.repair()
    (folder / "v001_a.sql").write_text("CREATE TABLE a2 (id INT PRIMARY KEY);\nSELECT 1;\n", encoding="utf-8")
    # Its only applied statement changed: that folder is no longer recognisable as the
    # one that wrote the history (ForeignHistory is a MigrationDrift), and nothing runs.
    with pytest.raises(rawdb.MigrationDrift, match=r"scripts it applied were edited since.*restore them"):
        await migrator.apply()
    (folder / "v001_a.sql").write_text("CREATE TABLE a (id INT PRIMARY KEY);\nSELECT 2;\n", encoding="utf-8")
    assert (await migrator.apply()).after == 1  # only the failed statement edited: resumes


async def test_postgresql_error_position_maps_to_the_line(pool: rawdb.Pool, tmp_path: Path) -> None:
    if pool.dialect.name != "postgresql":
        pytest.skip("PostgreSQL reports a character position")
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_x.sql": "CREATE TABLE t (a int);\n\nSELECT a,\n       b_missing\nFROM t;\n",
        },
    )
    with pytest.raises(MigrationScriptError) as info:
        await Migrator(pool, folder).apply()
    assert (info.value.statement, info.value.line) == (2, 4)


async def test_split_error_in_a_later_script_runs_nothing(pool: rawdb.Pool, tmp_path: Path) -> None:
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_ok.sql": PORTABLE["v001_items.sql"],
            "v002_bad.sql": "SELECT 1;\nSELECT 'never closed;\n",
        },
    )
    with pytest.raises(rawdb.MigrationError, match=r"v002_bad.sql: cannot split.*line 2"):
        await Migrator(pool, folder).apply()
    assert await pool.schema_version() == 0
    assert not await table_exists(pool, "items")


async def test_bad_folder_runs_nothing(pool: rawdb.Pool, tmp_path: Path) -> None:
    folder = write_scripts(tmp_path / "s", {**PORTABLE, "v2_typo.sql": "SELECT 1;"})
    with pytest.raises(rawdb.MigrationError, match=r"'v2_typo\.sql'"):
        await Migrator(pool, folder).apply()
    assert not await table_exists(pool, "items")


async def test_drift_is_refused_then_accepted(pool: rawdb.Pool, portable: Path) -> None:
    migrator = Migrator(pool, portable)
    await migrator.apply()
    script = portable / "v001_items.sql"
    original = script.read_text(encoding="utf-8")
    old_sum = (await migrator.status()).scripts[0].recorded_checksum
    # Line endings and a BOM are not a change.
    script.write_bytes(b"\xef\xbb\xbf" + original.replace("\n", "\r\n").encode())
    assert (await migrator.apply()).up_to_date
    script.write_text("-- edited after it ran\n" + original, encoding="utf-8")
    with pytest.raises(rawdb.MigrationDrift) as info:
        await migrator.apply()
    text = str(info.value)
    new_sum = (await migrator.status()).scripts[0].file_checksum
    assert "v001_items.sql" in text and str(old_sum) in text and str(new_sum) in text
    assert "rawdb repair --accept v001" in text
    status = await migrator.status()
    assert status.scripts[0].state == "drifted" and status.drift and status.problems
    repaired = await migrator.repair(accept="v001")
    assert [a.version for a in repaired.accepted] == [1] and repaired.dirty_cleared is None
    assert (await migrator.apply()).up_to_date
    assert (await migrator.status()).scripts[0].recorded_checksum == new_sum


async def test_accept_of_unapplied_script_is_an_error(pool: rawdb.Pool, portable: Path) -> None:
    migrator = Migrator(pool, portable)
    await migrator.apply(1)
    with pytest.raises(rawdb.MigrationError, match=r"cannot accept v003"):
        await migrator.repair(accept=3)
    assert (await migrator.repair()).dirty_cleared is None


async def test_database_newer_than_scripts_is_a_clear_error(pool: rawdb.Pool, portable: Path, tmp_path: Path) -> None:
    await Migrator(pool, portable).apply()
    older = write_scripts(tmp_path / "older", {k: PORTABLE[k] for k in ("v001_items.sql", "v002_fill.sql")})
    migrator = Migrator(pool, older)
    for _ in range(2):  # the same clear error every time, not a crash loop
        with pytest.raises(rawdb.MigrationError, match=r"at version 3, newer than the newest script"):
            await migrator.apply()
    status = await migrator.status()
    assert status.version == 3 and any("newer" in p for p in status.problems)
    assert [s.state for s in status.scripts] == ["applied", "applied", "missing"]


async def test_lock_wait_is_bounded(pool: rawdb.Pool, portable: Path) -> None:
    migrator = Migrator(pool, portable, lock_timeout=0.6)
    async with holding_migration_lock(pool):
        started = time.monotonic()
        with pytest.raises(rawdb.MigrationLocked, match=r"lock_timeout=0.6s"):
            await migrator.apply()
        assert 0.5 <= time.monotonic() - started < 3
    assert (await migrator.apply()).after == 3


async def test_waiting_migrator_proceeds_when_lock_is_released(pool: rawdb.Pool, portable: Path) -> None:
    import asyncio

    migrator = Migrator(pool, portable, lock_timeout=10)
    async with holding_migration_lock(pool):
        task = asyncio.create_task(migrator.apply())
        await asyncio.sleep(0.4)
        assert not task.done()
    report = await asyncio.wait_for(task, 10)
    assert report.after == 3


async def test_no_transaction_script(pool: rawdb.Pool, tmp_path: Path) -> None:
    """The marker runs a statement that a transaction would refuse."""
    body = {
        "sqlite": "VACUUM;\n",
        "postgresql": "CREATE INDEX CONCURRENTLY items_name ON items (name);\n",
        "mysql": "CREATE INDEX items_name ON items (name);\n",
    }[pool.dialect.name]
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_items.sql": PORTABLE["v001_items.sql"],
            "v002_outside.sql": "-- rawdb: no-transaction\n" + body,
        },
    )
    report = await Migrator(pool, folder).apply()
    assert [(a.version, a.transactional) for a in report.applied] == [(1, pool.dialect.name != "mysql"), (2, False)]
    assert await pool.schema_version() == 2
    rows = await history(pool)
    assert [(bool(r["success"]), bool(r["dirty"])) for r in rows] == [(True, False), (True, False)]


async def test_sqlite_foreign_keys_pragma_warns_and_does_not_fail(pool: rawdb.Pool, tmp_path: Path) -> None:
    if pool.dialect.name != "sqlite":
        pytest.skip("SQLite pragma")
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_a.sql": (
                "PRAGMA foreign_keys = ON;\nCREATE TABLE a (id INTEGER PRIMARY KEY);\nPRAGMA foreign_keys=OFF;\n"
            ),
        },
    )
    report = await Migrator(pool, folder).apply()
    assert report.after == 1 and len(report.warnings) == 2
    assert "statement 1" in report.warnings[0] and "no effect" in report.warnings[0]
    assert "foreign_keys = OFF" in report.warnings[1] and "no-transaction" in report.warnings[1]


async def test_tables_ahead_of_the_version_stop_everything(pool: rawdb.Pool, portable: Path) -> None:
    """A table the scripts would create already exists: stop, name it, create nothing."""
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
    migrator = Migrator(pool, portable)
    with pytest.raises(UnrecognisedState) as info:
        await migrator.apply()
    assert "table items" in str(info.value) and "v001_items.sql" in str(info.value)
    assert info.value.suggested_baseline == 1
    assert "rawdb baseline --to 1 --dir DIR" in str(info.value)
    assert not await table_exists(pool, "notes")
    assert await pool.schema_version() == 0
    assert (await migrator.status()).problems


async def test_baseline_records_version_then_migrate_continues(pool: rawdb.Pool, portable: Path) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
        await conn.execute_verbatim("INSERT INTO items (id, name) VALUES (7, 'kept')")
        await conn.execute_verbatim("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
    migrator = Migrator(pool, portable)
    with pytest.raises(rawdb.MigrationError, match=r"column items.note is missing"):
        await migrator.baseline(2)
    assert await pool.schema_version() == 0
    report = await migrator.baseline(1)
    assert (report.before, report.version) == (0, 1)
    assert any("table extra exists here" in d for d in report.differences)
    assert await pool.schema_version() == 1
    assert [(r["version"], r["method"]) for r in await history(pool)] == [(1, "baseline")]
    assert (await migrator.apply()).after == 3
    async with pool.connection() as conn:
        assert await conn.fetch_val("SELECT name FROM items WHERE id = 7") == "kept"


async def test_packaged_scripts(pool: rawdb.Pool) -> None:
    report = await pool.migrate(STORE_MIGRATIONS)
    assert report.before == 0 and report.after == report.target >= 9
    assert [a.version for a in report.applied] == list(range(1, report.after + 1))
    if pool.dialect.name == "sqlite":
        assert any("PRAGMA foreign_keys" in w for w in report.warnings)
    assert (await pool.migrate(STORE_MIGRATIONS)).up_to_date
    status = await Migrator(pool, STORE_MIGRATIONS).status()
    assert status.problems == [] and {s.state for s in status.scripts} == {"applied"}
    assert await pool.schema_version() == report.after


async def test_failed_no_transaction_script_is_dirty_on_every_dialect(pool: rawdb.Pool, tmp_path: Path) -> None:
    """Outside a transaction nothing can be rolled back: same dirty/repair/resume path as MySQL."""
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_items.sql": PORTABLE["v001_items.sql"],
            "v002_outside.sql": (
                "-- rawdb: no-transaction\n"
                "CREATE TABLE made_first (id INTEGER PRIMARY KEY);\n"
                "INSERT INTO nowhere (id) VALUES (1);\n"
                "CREATE TABLE made_last (id INTEGER PRIMARY KEY);\n"
            ),
        },
    )
    migrator = Migrator(pool, folder, lock_timeout=3)
    with pytest.raises(MigrationScriptError) as info:
        await migrator.apply()
    assert (info.value.statement, info.value.line) == (2, 3)
    assert await table_exists(pool, "made_first") and await pool.schema_version() == 1
    with pytest.raises(rawdb.DirtyDatabase, match=r"v002_outside\.sql failed in statement 2"):
        await migrator.apply()
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE nowhere (id INTEGER PRIMARY KEY)")
    assert (await migrator.repair()).dirty_cleared is not None
    report = await migrator.apply()
    assert report.planned[0].resume_at == 2 and report.after == 2
    assert await table_exists(pool, "made_last")


async def test_mysql_delimiter_script_runs(pool: rawdb.Pool, tmp_path: Path) -> None:
    if pool.dialect.name != "mysql":
        pytest.skip("the DELIMITER directive is MySQL client syntax")
    folder = write_scripts(
        tmp_path / "s",
        {
            "v001_proc.sql": (
                "CREATE TABLE counter (n INT NOT NULL);\n"
                "INSERT INTO counter VALUES (0);\n"
                "DELIMITER //\n"
                "CREATE PROCEDURE bump(IN k INT)\n"
                "BEGIN\n"
                "    IF k > 0 THEN\n"
                "        UPDATE counter SET n = n + k; -- a ; in a comment\n"
                "    END IF;\n"
                "END//\n"
                "DELIMITER ;\n"
                "CALL bump(2);\n"
            ),
        },
    )
    report = await Migrator(pool, folder).apply()
    assert report.applied[0].statements == 4
    async with pool.connection() as conn:
        assert await conn.fetch_val("SELECT n FROM counter") == 2
