"""SQLite ``baseline``: the schema is brought to the recorded version, every row kept.

An application's own folder and a database made outside its scripts (by an ORM, by
hand): tables rebuilt with the scripts' definition, columns and objects the scripts do
not know kept, foreign keys neither cascaded nor broken, all in one transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from migration_helpers import write_scripts

import rawdb
from rawdb.migrations import Migrator, split_statements

SCRIPTS = {
    "v001_parents.sql": (
        "CREATE TABLE parents (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL,"
        " kind VARCHAR(10) NOT NULL DEFAULT 'plain' CHECK (kind IN ('plain', 'fancy')),"
        " created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);\n"
        "CREATE INDEX idx_parents_name ON parents(name);\n"
    ),
    "v002_children.sql": (
        "CREATE TABLE children (id INTEGER PRIMARY KEY,"
        " parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE);\n"
        "UPDATE parents SET kind = lower(kind) WHERE kind <> lower(kind);\n"
        "INSERT INTO parents (id, name) VALUES (100, 'seed');\n"
        "CREATE TRIGGER parents_touch AFTER UPDATE ON parents BEGIN SELECT 1; END;\n"
    ),
}

# The same tables made another way: no default, no CHECK, an extra column, an index of the
# scripts' name on another column, a view and a trigger of the application's own.
MADE_ELSEWHERE = """
CREATE TABLE parents (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, kind VARCHAR(10) NOT NULL,
                      created_at TEXT NOT NULL, legacy_note TEXT);
CREATE INDEX idx_parents_name ON parents(kind);
CREATE INDEX my_parents_note ON parents(legacy_note);
CREATE TABLE children (id INTEGER PRIMARY KEY,
                       parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE);
CREATE VIEW parent_names AS SELECT name FROM parents;
CREATE TABLE audit (n INTEGER);
CREATE TRIGGER children_audit AFTER INSERT ON children BEGIN
    INSERT INTO audit (n) SELECT COUNT(*) FROM parents;
END;
INSERT INTO parents VALUES (1, 'one', 'PLAIN', '2025-01-01 00:00:00', 'kept');
INSERT INTO parents VALUES (2, 'two', 'Fancy', '2025-01-02 00:00:00', NULL);
INSERT INTO children VALUES (10, 1);
INSERT INTO children VALUES (11, 2);
"""


def make(path: Path, script: str = MADE_ELSEWHERE) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return path


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_tables_rebuilt_with_every_row_column_and_object_kept(tmp_path: Path) -> None:
    folder = write_scripts(tmp_path / "app", SCRIPTS)
    db = make(tmp_path / "app.db")
    async with await rawdb.create_pool(f"sqlite:///{db}") as pool:
        report = await Migrator(pool, folder).baseline(2)
        assert report.repaired[0] == (
            "v002_children.sql: ran its 1 data statement(s) (UPDATE/DELETE), 2 row(s) changed"
        )
        assert report.repaired[1].startswith("v002_children.sql: its INSERT statement(s) (line 3) were not run")
        assert report.repaired[2] == (
            "rebuilt table parents with the definition of v002 (2 row(s) copied, 1 index(es) and 1 "
            "trigger(s) of the scripts); kept its column(s) legacy_note; kept its own my_parents_note"
        )
        assert len(report.repaired) == 3  # children already has the scripts' shape
        assert set(report.differences) == {
            "column parents.legacy_note exists here but not in v002",
            "index my_parents_note on parents exists here but not in v002",
            "table audit exists here but not in v002 (kept as is)",
            "trigger children_audit on children exists here but not in v002",
        }
        async with pool.transaction() as tx:  # the default and the CHECK are there now
            await tx.execute("INSERT INTO parents (id, name) VALUES (3, 'three')")
            assert await tx.fetch_val("SELECT kind FROM parents WHERE id = 3") == "plain"
            with pytest.raises(rawdb.CheckViolation):
                async with tx.transaction() as sp:
                    await sp.execute("INSERT INTO parents (id, name, kind) VALUES (4, 'x', 'odd')")
            await tx.execute("INSERT INTO children (id, parent_id) VALUES (12, 3)")  # fires the kept trigger
            with pytest.raises(rawdb.ForeignKeyViolation):
                async with tx.transaction() as sp:
                    await sp.execute("INSERT INTO children (id, parent_id) VALUES (13, 99)")
    assert rows(db, "SELECT id, name, kind, created_at, legacy_note FROM parents WHERE id < 3 ORDER BY id") == [
        (1, "one", "plain", "2025-01-01 00:00:00", "kept"),
        (2, "two", "fancy", "2025-01-02 00:00:00", None),
    ]
    assert rows(db, "SELECT id, parent_id FROM children ORDER BY id") == [(10, 1), (11, 2), (12, 3)]  # no cascade
    assert rows(db, "SELECT name FROM parent_names ORDER BY name") == [("one",), ("three",), ("two",)]
    assert rows(db, "SELECT n FROM audit") == [(2,), (2,), (3,)]  # its trigger still fires
    assert rows(db, "SELECT name FROM pragma_index_info('idx_parents_name')") == [("name",)]  # replaced
    assert rows(db, "PRAGMA foreign_key_check") == []
    assert rows(db, "PRAGMA user_version") == [(2,)]


async def test_a_broken_foreign_key_after_the_rebuild_stops_everything(tmp_path: Path) -> None:
    folder = write_scripts(tmp_path / "app", SCRIPTS)
    db = make(tmp_path / "app.db", MADE_ELSEWHERE + "INSERT INTO children VALUES (14, 77);\n")
    before = rows(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    async with await rawdb.create_pool(f"sqlite:///{db}") as pool:
        broken = r"1 row\(s\) break a foreign key \(children row 14 -> parents\)"
        with pytest.raises(rawdb.MigrationError, match=broken):
            await Migrator(pool, folder).baseline(2)
        assert await pool.schema_version() == 0
    assert rows(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == before
    assert rows(db, "SELECT kind FROM parents ORDER BY id") == [("PLAIN",), ("Fancy",)]


async def test_memory_database_gets_its_foreign_keys_back(tmp_path: Path) -> None:
    """:memory: lends its single connection: the pragmas baseline switches are restored."""
    folder = write_scripts(tmp_path / "app", SCRIPTS)
    async with await rawdb.create_pool("sqlite:///:memory:") as pool:
        async with pool.connection() as conn:
            for statement in split_statements(MADE_ELSEWHERE, "sqlite"):
                await conn.execute_verbatim(statement.text)
        report = await Migrator(pool, folder).baseline(2)
        assert any(line.startswith("rebuilt table parents") for line in report.repaired)
        async with pool.connection() as conn:
            assert await conn.fetch_val("PRAGMA foreign_keys") == 1
            assert await conn.fetch_val("PRAGMA legacy_alter_table") == 0
