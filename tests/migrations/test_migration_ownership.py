"""A migrations folder is named, never assumed, and a history belongs to the folder that wrote it.

The old behaviour these tests fail on: ``pool.migrate()``, ``rawdb migrate`` and
``Migrator(pool)`` applied rawdb's bundled nine-table schema to any database, and
``rawdb repair --accept v001`` without ``--dir`` recorded the bundled script's checksum
over an application's own history row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from legacy_db import LEGACY_MAX_VERSION, make_old_runner_db
from migration_helpers import PORTABLE, history, table_exists, write_scripts

import rawdb
from rawdb import store
from rawdb.cli import main
from rawdb.migrations import STORE_MIGRATIONS, ForeignHistory, Migrator, bundled_directory, discover

BUNDLED_TABLES = ("llm_profiles", "tasks", "uploaded_files", "mcp_profiles", "credentials")


async def owner_row(pool: rawdb.Pool) -> tuple[str, str, str] | None:
    async with pool.connection() as conn:
        row = await conn.fetch_one("SELECT name, checksum, method FROM rawdb_schema_history WHERE version = 0")
    return None if row is None else (row["name"], row["checksum"], row["method"])


async def checksums(pool: rawdb.Pool) -> list[tuple[int, str]]:
    return [(r["version"], r["checksum"]) for r in await history(pool)]


# -- nothing is applied unless the scripts are named --------------------------------------


async def test_migrate_without_a_folder_is_a_config_error_and_creates_nothing(pool: rawdb.Pool) -> None:
    with pytest.raises(rawdb.ConfigError, match=r"directory=rawdb\.store\.MIGRATIONS") as info:
        await pool.migrate()
    assert "--dir DIR" in str(info.value) and "--store" in str(info.value)
    with pytest.raises(rawdb.ConfigError):
        await pool.migrate(dry_run=True)
    with pytest.raises(rawdb.ConfigError):
        Migrator(pool)
    with pytest.raises(rawdb.ConfigError, match=r"folder path or rawdb\.store\.MIGRATIONS"):
        await pool.migrate(5)  # type: ignore[arg-type]  # the old positional target
    for table in (*BUNDLED_TABLES, "rawdb_schema_history"):
        assert not await table_exists(pool, table), table


def test_cli_without_dir_or_store_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAWDB_URL", raising=False)
    for command in (["migrate"], ["status"], ["repair", "--accept", "v001"], ["baseline", "--to", "1"]):
        with pytest.raises(SystemExit) as info:
            main(command)
        assert info.value.code == 2
        assert "--dir DIR" in capsys.readouterr().err
    assert not (tmp_path / "rawdb.db").exists()  # not even opened
    with pytest.raises(SystemExit) as info:
        main(["migrate", "--dir", str(tmp_path), "--store"])
    assert info.value.code == 2
    capsys.readouterr()


async def test_the_bundled_schema_is_applied_when_named(pool: rawdb.Pool) -> None:
    assert store.MIGRATIONS is STORE_MIGRATIONS
    report = await pool.migrate(store.MIGRATIONS)
    assert report.after >= 9 and report.directory == str(bundled_directory(pool.dialect.name))
    for table in BUNDLED_TABLES:
        assert await table_exists(pool, table)
    assert await pool.schema_version(store.MIGRATIONS) == report.after


# -- the history records its folder ---------------------------------------------------------


async def test_history_records_the_folder_by_its_first_script(pool: rawdb.Pool, tmp_path: Path) -> None:
    folder = write_scripts(tmp_path / "app", PORTABLE)
    await pool.migrate(folder, target=1)
    [first] = discover(folder)[:1]
    assert await owner_row(pool) == (first.name, first.checksum, "owner")
    # Moving the folder does not change what it is.
    moved = folder.rename(tmp_path / "elsewhere")
    assert (await pool.migrate(moved)).after == 3
    assert await pool.schema_version(moved) == 3
    assert [v for v, _ in await checksums(pool)] == [1, 2, 3]


async def test_a_dry_run_or_a_failed_first_script_claims_nothing(pool: rawdb.Pool, tmp_path: Path) -> None:
    await pool.migrate(write_scripts(tmp_path / "app", PORTABLE), dry_run=True)
    bad = write_scripts(tmp_path / "bad", {"v001_bad.sql": "INSERT INTO nowhere VALUES (1);\n"})
    with pytest.raises(rawdb.MigrationError):
        await pool.migrate(bad)
    app = write_scripts(tmp_path / "app", PORTABLE)
    if pool.dialect.name == "mysql":
        # DDL is not transactional there: the failed script's row stays, dirty, with none
        # of its statements done. It proves nothing applied, so any folder may repair it.
        with pytest.raises(rawdb.DirtyDatabase):
            await pool.migrate(app)
        assert (await Migrator(pool, app).repair()).dirty_cleared is not None
    elif await table_exists(pool, "rawdb_schema_history"):
        assert await owner_row(pool) is None
    assert (await pool.migrate(app)).after == 3
    [first] = discover(app)[:1]
    assert await owner_row(pool) == (first.name, first.checksum, "owner")


# -- one folder's history is never migrated or repaired with another's scripts ------------


async def test_user_history_is_not_repaired_or_migrated_with_the_bundled_scripts(
    pool: rawdb.Pool, tmp_path: Path
) -> None:
    folder = write_scripts(tmp_path / "app", PORTABLE)
    await pool.migrate(folder)
    before = await checksums(pool)
    bundled = Migrator(pool, STORE_MIGRATIONS)
    with pytest.raises(ForeignHistory, match=r"written by the scripts folder whose first script is v001_items\.sql"):
        await bundled.repair(accept="v001")
    with pytest.raises(ForeignHistory, match=r"not by rawdb's bundled application schema"):
        await bundled.repair()
    with pytest.raises(ForeignHistory):
        await pool.migrate(STORE_MIGRATIONS)
    with pytest.raises(ForeignHistory):
        await bundled.baseline(1)
    with pytest.raises(ForeignHistory):
        await pool.schema_version(STORE_MIGRATIONS)
    status = await bundled.status()
    assert len(status.problems) == 1 and "written by the scripts folder" in status.problems[0]
    assert await checksums(pool) == before
    assert not await table_exists(pool, "llm_profiles")
    # The folder that wrote it still works, and the version is still its own.
    assert await pool.schema_version(folder) == 3
    assert (await Migrator(pool, folder).repair()).accepted == []


async def test_bundled_history_is_not_repaired_or_migrated_with_a_user_folder(
    pool: rawdb.Pool, tmp_path: Path
) -> None:
    await pool.migrate(STORE_MIGRATIONS)
    before = await checksums(pool)
    more = {f"v{n:03d}_more.sql": "SELECT 1;\n" for n in range(4, 11)}
    folder = write_scripts(tmp_path / "app", {**PORTABLE, **more})
    mine = Migrator(pool, folder)
    with pytest.raises(ForeignHistory, match=r"written by rawdb's bundled application schema.*--store"):
        await mine.repair(accept=["v001", "v002"])
    with pytest.raises(ForeignHistory):
        await mine.apply()
    with pytest.raises(ForeignHistory):
        await mine.baseline(1)
    assert await checksums(pool) == before
    assert not await table_exists(pool, "items")


async def test_two_user_folders_do_not_share_a_history(pool: rawdb.Pool, tmp_path: Path) -> None:
    first = write_scripts(tmp_path / "one", PORTABLE)
    other = write_scripts(tmp_path / "two", {"v001_other.sql": "CREATE TABLE other (id INTEGER PRIMARY KEY);\n"})
    await pool.migrate(first)
    with pytest.raises(ForeignHistory, match=r"v001_items\.sql.*restore them"):
        await Migrator(pool, other).repair(accept="v001")
    assert not await table_exists(pool, "other")


def test_cli_repair_with_the_wrong_folder_exits_1_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_scripts(tmp_path / "app", PORTABLE)
    db = f"sqlite:///{tmp_path / 'app.db'}"
    assert main(["migrate", "--url", db, "--dir", str(folder)]) == 0
    capsys.readouterr()
    conn = sqlite3.connect(tmp_path / "app.db")
    before = conn.execute("SELECT version, checksum FROM rawdb_schema_history ORDER BY version").fetchall()
    conn.close()
    assert main(["repair", "--url", db, "--store", "--accept", "v001"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rawdb repair: error: this database's migration history was written by the scripts")
    assert "--dir DIR" in err
    assert main(["status", "--url", db, "--store"]) == 1
    assert "migrate would refuse:" in capsys.readouterr().out
    conn = sqlite3.connect(tmp_path / "app.db")
    assert conn.execute("SELECT version, checksum FROM rawdb_schema_history ORDER BY version").fetchall() == before
    conn.close()
    assert main(["repair", "--url", db, "--dir", str(folder)]) == 0
    assert "nothing to repair" in capsys.readouterr().out


# -- legitimate changes of the owner's own first script ------------------------------------


async def test_accepting_an_edit_of_the_first_script_keeps_the_history_owned(pool: rawdb.Pool, tmp_path: Path) -> None:
    folder = write_scripts(tmp_path / "app", PORTABLE)
    await pool.migrate(folder)
    (folder / "v001_items.sql").write_text(PORTABLE["v001_items.sql"] + "-- a comment\n", encoding="utf-8")
    with pytest.raises(rawdb.MigrationDrift, match=r"v001_items\.sql changed since it was applied"):
        await pool.migrate(folder)  # v002 and v003 still match: drift, not another folder
    await Migrator(pool, folder).repair(accept="v001")
    [first] = discover(folder)[:1]
    assert await owner_row(pool) == (first.name, first.checksum, "owner")
    assert (await pool.migrate(folder)).up_to_date


async def test_history_without_an_owner_row_is_attributed_by_its_rows(pool: rawdb.Pool, tmp_path: Path) -> None:
    """Histories written before the owner row existed."""
    folder = write_scripts(tmp_path / "app", PORTABLE)
    await pool.migrate(folder, target=2)
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM rawdb_schema_history WHERE version = 0")
    with pytest.raises(ForeignHistory, match=r"another scripts folder \(it recorded v001_items\.sql"):
        await pool.migrate(STORE_MIGRATIONS)
    assert (await pool.migrate(folder)).after == 3
    assert (await owner_row(pool) or ("",))[0] == "v001_items.sql"  # recorded with v003


# -- SQLite files of the old runner: user_version, no history --------------------------------


async def test_old_runner_file_continues_with_the_bundled_schema_only(tmp_path: Path) -> None:
    built = make_old_runner_db(tmp_path / "old.db", 3)
    folder = write_scripts(tmp_path / "app", PORTABLE)
    async with await rawdb.create_pool(f"sqlite:///{built.path}") as pool:
        with pytest.raises(ForeignHistory, match=r"user_version 3 but has no rawdb migration history.*--store"):
            await pool.migrate(folder)
        assert not await table_exists(pool, "rawdb_schema_history")
        report = await pool.migrate(STORE_MIGRATIONS)
        assert report.before == 3 and report.after > LEGACY_MAX_VERSION
        first = discover(bundled_directory("sqlite"))[0]
        assert await owner_row(pool) == (first.name, first.checksum, "owner")
