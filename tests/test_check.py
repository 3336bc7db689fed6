"""``rawdb check`` on the real servers: the tree as it is, broken copies of it, and user data.

The broken trees are copies of ``rawdb/`` and ``sql/`` in a temporary folder, run
in a subprocess with that folder first on ``sys.path``, so the check reads the
copy's SQL, models and store code, exactly as it would a project's checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import rawdb
from rawdb.queries import DIALECTS, load_queries
from tests.conftest import MYSQL_URL, PG_URL, require_server

ROOT = Path(__file__).resolve().parent.parent
URLS = ("--url", PG_URL, "--url", MYSQL_URL)


@pytest.fixture
async def servers() -> None:
    for dialect in ("postgresql", "mysql"):
        await require_server(dialect)


def rawdb_check(*args: str, tree: Path = ROOT, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-m", "rawdb.cli", "check", *args],
        cwd=cwd or tree, env=env, capture_output=True, text=True, timeout=300,
    )


def findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    document = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode
    found: list[dict[str, Any]] = document["findings"]
    return found


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copytree(ROOT / "rawdb", tree / "rawdb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "sql", tree / "sql")
    return tree


def edit(path: Path, old: str, new: str) -> int:
    """Replace the one occurrence of ``old``; return the line it starts on."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


def line_of(path: Path, needle: str) -> int:
    text = path.read_text()
    return text[: text.index(needle)].count("\n") + 1


async def scratch_namespaces() -> set[str]:
    """The scratch schemas and databases on the servers (a run must leave none of its own)."""
    names: set[str] = set()
    pg = await rawdb.create_pool(PG_URL, min_size=1, max_size=1)
    try:
        async with pg.transaction() as tx:
            rows = await tx.fetch_all("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rawdb_check_%'")
            names |= {str(row[0]) for row in rows}
    finally:
        await pg.close()
    my = await rawdb.create_pool(MYSQL_URL, min_size=1, max_size=1)
    try:
        async with my.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'rawdb_check_%'")
            names |= {str(row[0]) for row in rows}
    finally:
        await my.close()
    return names


def created_namespaces(output: str) -> set[str]:
    return set(re.findall(r"(?:schema|database) (rawdb_check_[0-9a-f]+)", output))


async def test_the_tree_is_clean_on_every_dialect(servers: None) -> None:
    result = rawdb_check(*URLS)
    assert result.returncode == 0, result.stdout + result.stderr
    named = sum(len(group) for group in load_queries("sqlite").values())
    for dialect in DIALECTS:
        assert re.search(rf"^{dialect}: {named} queries and \d+ UPDATEs built at run time checked "
                         rf"\(\d+ statements prepared\)", result.stdout, re.M)
    # Every operation of the store is checked: none is left over as "not checked".
    assert "not checked" not in result.stdout
    assert result.stdout.rstrip().endswith("no findings")
    assert result.stderr == ""
    created = created_namespaces(result.stdout)
    assert len(created) == 2 and not created & await scratch_namespaces()


async def test_a_broken_copy_is_reported_where_it_breaks(servers: None, tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    tasks_sql = tree / "sql/queries/tasks.sql"
    files_sql = tree / "sql/queries/uploaded_files.sql"
    # A column typo, a misspelt parameter, a PostgreSQL-only cast, and a Struct field renamed alone.
    typo = edit(tasks_sql, "FROM tasks WHERE task_id = :task_id\n\n-- name: get_tasks_by_session",
                "FROM tasks WHERE taks_id = :task_id\n\n-- name: get_tasks_by_session")
    misspelt = edit(tasks_sql, "DELETE FROM tasks WHERE task_id = :task_id",
                    "DELETE FROM tasks WHERE task_id = :taks_id")
    cast = edit(tasks_sql, "SELECT COUNT(DISTINCT session_id) FROM tasks",
                "SELECT COUNT(DISTINCT session_id)::int FROM tasks")
    edit(tree / "rawdb/store/models.py", "    mime_type: str\n    upload_time", "    mimetype: str\n    upload_time")
    before = await scratch_namespaces()

    result = rawdb_check(*URLS, "--format", "json", tree=tree)

    assert result.returncode == 1, result.stderr
    found = findings(result)
    by = {(f["query"], f["kind"], tuple(f["dialects"])): f for f in found}
    everywhere = ("sqlite", "postgresql", "mysql")
    for dialect in everywhere:
        f = by[("tasks.get_task", "prepare", (dialect,))]
        assert f["file"] == "sql/queries/tasks.sql" and f["line"] == typo
        assert "taks_id" in f["message"]
    f = by[("tasks.delete_task", "parameter", everywhere)]
    assert (f["file"], f["line"]) == ("sql/queries/tasks.sql", misspelt)
    assert ":taks_id is not passed" in f["message"] and "rawdb/store/tasks.py:" in f["message"]
    assert {d for (q, k, ds) in by if q == "tasks.count_sessions" and k == "prepare" for d in ds} == {"sqlite", "mysql"}
    assert all(f["line"] == cast for f in found if f["query"] == "tasks.count_sessions")
    renamed = [f for f in found if f["query"] == "uploaded_files.get_file"]
    assert {(f["kind"], tuple(f["dialects"])) for f in renamed} == {("column", everywhere), ("field", everywhere)}
    column = next(f for f in renamed if f["kind"] == "column")
    assert column["message"].startswith("column 'mime_type' has no field in UploadedFile")
    assert column["line"] == line_of(files_sql, "mime_type, upload_time")  # where get_file names the column
    assert all(f["file"] == "sql/queries/uploaded_files.sql" for f in renamed)
    # Each problem is printed once: no two findings say the same thing at the same place.
    keys = [(f["file"], f["line"], f["query"], f["kind"], f["message"]) for f in found]
    assert len(keys) == len(set(keys))
    assert {f["query"] for f in found} <= {"tasks.get_task", "tasks.delete_task", "tasks.count_sessions",
                                          "uploaded_files.get_file", "uploaded_files.list_files",
                                          "uploaded_files.list_session_files"}
    # Nothing was left on the servers: the run's scratch schema and database are gone.
    assert await scratch_namespaces() <= before


async def test_a_syntax_error_an_override_does_not_cover(servers: None, tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    # tasks.mysql.sql has its own upsert_task: the broken base text runs on the other two only.
    line = edit(tree / "sql/queries/tasks.sql", "ON CONFLICT (task_id) DO UPDATE SET\n",
                "ON CONFLICT (task_id) DO UPDATE SETT\n")
    result = rawdb_check(*URLS, "--format", "json", tree=tree)
    assert result.returncode == 1, result.stderr
    found = findings(result)
    assert sorted((f["query"], f["kind"], f["dialects"], f["file"], f["line"]) for f in found) == [
        ("tasks.upsert_task", "prepare", ["postgresql"], "sql/queries/tasks.sql", line),
        ("tasks.upsert_task", "prepare", ["sqlite"], "sql/queries/tasks.sql", line),
    ]


def rename_in_queries(path: Path, old: str, new: str) -> None:
    """Rename column ``old`` in a query file the way a careful migration would: the SQL names
    the new column, while parameters (``:old``) and result names (``new AS old``) stay."""
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("SELECT"):
            line = re.sub(rf"\b{old}\b", f"{new} AS {old}", line)
        else:
            line = re.sub(rf"(?<!:)\b{old}\b", new, line)
        lines.append(line)
    path.write_text("".join(lines))


async def test_a_column_renamed_under_an_update_allow_list_is_reported(servers: None, tmp_path: Path) -> None:
    """The migration renames composio_toolkits.logo and every query file follows; the store's
    allow-list still says logo, so only the UPDATEs built at run time break."""
    tree = copy_tree(tmp_path)
    for dialect in DIALECTS:
        edit(tree / f"sql/migrations/{dialect}/v005_add_composio_integration.sql", "    logo ", "    logo_url ")
    for name in ("composio_toolkits.sql", "composio_toolkits.mysql.sql"):
        rename_in_queries(tree / "sql/queries" / name, "logo", "logo_url")
    store = tree / "rawdb/store/composio_toolkits.py"
    built = line_of(store, "_COLUMNS.update_sql(")

    result = rawdb_check(*URLS, "--format", "json", tree=tree)

    assert result.returncode == 1, result.stderr
    found = findings(result)
    # The operations whose UPDATE sets logo, each named, where the UPDATE is built; the
    # toggle and the tools update set other columns and pass.
    assert sorted((f["file"], f["line"], f["query"], f["kind"], f["dialects"]) for f in found) == [
        ("rawdb/store/composio_toolkits.py", built, f"composio_toolkits.{op}", "prepare", [dialect])
        for op in ("update_toolkit", "update_toolkit_by_slug")
        for dialect in sorted(DIALECTS)
    ]
    messages = {f["dialects"][0]: f["message"] for f in found if f["query"] == "composio_toolkits.update_toolkit"}
    assert "no such column: logo" in messages["sqlite"]
    assert 'column "logo" of relation "composio_toolkits" does not exist' in messages["postgresql"]
    assert "Unknown column 'logo'" in messages["mysql"]
    assert all("UPDATE composio_toolkits SET name = :name" in m and "WHERE id = :id" in m for m in messages.values())
    document = json.loads(result.stdout)
    assert document["runtime_sql"] == []


async def test_a_column_an_update_sets_to_another_type_is_reported(servers: None, tmp_path: Path) -> None:
    """A migration that makes schedules.next_execution_at text, and a converter that binds
    composio_toolkits.enabled as a string: the values the UPDATEs bind no longer fit."""
    tree = copy_tree(tmp_path)
    for dialect, old, new in (("sqlite", "next_execution_at DATETIME,", "next_execution_at TEXT,"),
                              ("postgresql", "next_execution_at timestamptz,", "next_execution_at text,"),
                              ("mysql", "next_execution_at DATETIME(6),", "next_execution_at VARCHAR(40),")):
        edit(tree / f"sql/migrations/{dialect}/v007_add_schedule_table.sql", old, new)
    toolkits = tree / "rawdb/store/composio_toolkits.py"
    edit(toolkits, '"enabled": boolean,', '"enabled": text(),')

    result = rawdb_check(*URLS, "--format", "json", tree=tree)

    assert result.returncode == 1, result.stderr
    found = [f for f in findings(result) if f["file"].startswith("rawdb/")]
    assert {f["kind"] for f in found} == {"type"}
    where: dict[str, set[str]] = {}
    for f in found:  # each server names the column's type its own way: one finding per dialect
        where.setdefault(f["query"], set()).update(f["dialects"])
    assert where == {
        # SQLite keeps datetimes as text: only the servers' columns no longer take one.
        "schedules.update_schedule": {"postgresql", "mysql"},
        "schedules.update_schedule_by_flow_id": {"postgresql", "mysql"},
        # Every UPDATE that sets enabled, on every dialect.
        "composio_toolkits.update_toolkit": set(DIALECTS),
        "composio_toolkits.update_toolkit_by_slug": set(DIALECTS),
        "composio_toolkits.toggle_toolkit_enabled": set(DIALECTS),
    }
    schedule = next(f for f in found if f["query"] == "schedules.update_schedule" and f["dialects"] == ["postgresql"])
    assert schedule["message"] == "column schedules.next_execution_at is text (text), but its converter binds datetime"
    assert schedule["line"] == line_of(tree / "rawdb/store/schedules.py", "_COLUMNS.update_sql(")
    toggle = next(f for f in found if f["query"] == "composio_toolkits.toggle_toolkit_enabled")
    assert toggle["message"].startswith("column composio_toolkits.enabled is ")
    assert toggle["message"].endswith("(bool), but its converter binds str")


APP_SCHEMA = """\
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    pinned BOOLEAN NOT NULL,
    rating INTEGER
);
"""

APP_QUERIES = """\
-- name: get_note -> Note
SELECT id, body, pinned, rating FROM notes WHERE id = :id

-- name: latest -> Note
SELECT id, body, pinned, rating FROM notes ORDER BY id DESC LIMIT 1 OFFSET 0 ROWS
"""

APP_MODELS = """\
import msgspec


class Note(msgspec.Struct):
    id: int
    body: str
    pinned: bool
    rating: int | None
"""


def write_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "migrations").mkdir(parents=True)
    (app / "queries").mkdir()
    (app / "migrations" / "v001_notes.sql").write_text(APP_SCHEMA)
    (app / "queries" / "notes.sql").write_text(APP_QUERIES)
    (app / "app_models.py").write_text(APP_MODELS)
    return app


async def test_a_syntax_error_found_on_the_one_dialect_without_an_override(servers: None, tmp_path: Path) -> None:
    app = write_app(tmp_path)
    fixed = "-- name: latest\nSELECT id, body, pinned, rating FROM notes ORDER BY id DESC LIMIT 1\n"
    (app / "queries" / "notes.postgresql.sql").write_text(fixed)
    (app / "queries" / "notes.mysql.sql").write_text(fixed)
    result = rawdb_check(*URLS, "--queries", "queries", "--dir", "migrations", "--models", "app_models",
                         "--format", "json", cwd=app)
    assert result.returncode == 1, result.stderr
    assert [(f["file"], f["line"], f["query"], f["dialects"], f["kind"]) for f in findings(result)] == [
        ("queries/notes.sql", 5, "notes.latest", ["sqlite"], "prepare"),
    ]
    # The -> Struct declarations were checked too: break the model and they are reported.
    (app / "app_models.py").write_text(APP_MODELS.replace("    rating: int | None", "    rating: int"))
    result = rawdb_check(*URLS, "--queries", "queries", "--dir", "migrations", "--models", "app_models",
                         "--format", "json", cwd=app)
    nulls = {(f["query"], tuple(f["dialects"])) for f in findings(result) if f["kind"] == "null"}
    assert ("notes.get_note", ("postgresql", "mysql")) in nulls


async def test_user_data_on_the_servers_is_untouched(servers: None, tmp_path: Path) -> None:
    """A database full of data named by --url: the check works beside it and changes nothing."""
    name = "rawdb_userdata_" + uuid.uuid4().hex[:10]
    base_pg, base_my = PG_URL.rsplit("/", 1)[0], MYSQL_URL.rsplit("/", 1)[0]
    admin_pg = await rawdb.create_pool(PG_URL, min_size=1, max_size=1)
    admin_my = await rawdb.create_pool(MYSQL_URL, min_size=1, max_size=1)
    async with admin_pg.connection() as conn:
        await conn.execute_verbatim(f"CREATE DATABASE {name}")
    async with admin_my.connection() as conn:
        await conn.execute_verbatim(f"CREATE DATABASE {name}")
    user_pg, user_my = f"{base_pg}/{name}", f"{base_my}/{name}"
    try:
        # A table named like one of the store's, with rows, in each user database.
        for url in (user_pg, user_my):
            pool = await rawdb.create_pool(url, min_size=1, max_size=1)
            try:
                async with pool.connection() as conn:
                    await conn.execute("CREATE TABLE tasks (task_id VARCHAR(36) PRIMARY KEY, note TEXT NOT NULL)")
                    await conn.executemany("INSERT INTO tasks VALUES (:i, :n)",
                                           [{"i": f"t{i}", "n": f"user row {i}"} for i in range(50)])
            finally:
                await pool.close()
        before = {url: await snapshot(url) for url in (user_pg, user_my)}

        result = rawdb_check("--url", user_pg, "--url", user_my)

        assert result.returncode == 0, result.stdout + result.stderr
        assert {url: await snapshot(url) for url in (user_pg, user_my)} == before
        created = created_namespaces(result.stdout)
        assert len(created) == 2 and not created & await scratch_namespaces()
    finally:
        async with admin_pg.connection() as conn:
            await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        async with admin_my.connection() as conn:
            await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name}")
        await admin_pg.close()
        await admin_my.close()


async def snapshot(url: str) -> tuple[Any, ...]:
    """Every schema, table, column and row of the user's database."""
    pool = await rawdb.create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.transaction(readonly=True) as tx:
            if pool.dialect.name == "postgresql":
                schemas = await tx.fetch_all("SELECT nspname FROM pg_namespace ORDER BY 1")
                where = "table_schema NOT IN ('pg_catalog', 'information_schema')"
            else:
                schemas = []
                where = "table_schema = DATABASE()"
            columns = await tx.fetch_all(
                f"SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                f"WHERE {where} ORDER BY 1, 2, 3")
            rows = await tx.fetch_all("SELECT task_id, note FROM tasks ORDER BY task_id")
        return tuple(map(tuple, schemas)), tuple(map(tuple, columns)), tuple(map(tuple, rows))
    finally:
        await pool.close()
