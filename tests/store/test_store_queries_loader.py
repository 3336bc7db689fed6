"""rawdb.queries: named-query files, per-dialect overrides, load-time errors, sql_root()."""

from __future__ import annotations

from pathlib import Path

import pytest

import rawdb
from rawdb import store
from rawdb.queries import QueryFileError, load_queries, parse_query_file, sql_root

BASE = """\
-- a header comment
-- name: get_one
-- doc comment of the query
SELECT 1 FROM t WHERE a = :a;

-- name: upsert
INSERT INTO t (a) VALUES (:a) ON CONFLICT (a) DO NOTHING
"""


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_parse_strips_doc_comments_and_semicolon() -> None:
    assert parse_query_file(BASE) == {
        "get_one": "SELECT 1 FROM t WHERE a = :a",
        "upsert": "INSERT INTO t (a) VALUES (:a) ON CONFLICT (a) DO NOTHING",
    }


def test_override_wins_for_its_dialect_only(tmp_path: Path) -> None:
    write(tmp_path, "t.sql", BASE)
    write(tmp_path, "t.mysql.sql", "-- name: upsert\nINSERT IGNORE INTO t (a) VALUES (:a)\n")
    mysql = load_queries("mysql", tmp_path)
    sqlite = load_queries("sqlite", tmp_path)
    assert mysql.t.upsert == "INSERT IGNORE INTO t (a) VALUES (:a)"
    assert mysql["t"]["get_one"] == sqlite.t.get_one == "SELECT 1 FROM t WHERE a = :a"
    assert sqlite.sql("t.upsert").startswith("INSERT INTO")
    assert mysql.dialect == "mysql" and set(mysql) == {"t"}


@pytest.mark.parametrize(("files", "message"), [
    ({"t.sql": BASE + "\n-- name: get_one\nSELECT 2\n"}, "defined twice"),
    ({"t.sql": BASE, "t.postgresql.sql": "-- name: nope\nSELECT 1\n"}, "does not define"),
    ({"u.sqlite.sql": "-- name: a\nSELECT 1\n"}, "there is no u.sql"),
    ({"t.sql": BASE, "t.oracle.sql": "-- name: upsert\nSELECT 1\n"}, "not a dialect"),
    ({"t.sql": "SELECT 1\n-- name: a\nSELECT 2\n"}, "before the first"),
    ({"t.sql": "-- name: a\n-- only a comment\n"}, "has no SQL"),
    ({"t.sql": "-- name: bad-name\nSELECT 1\n"}, "not a valid query name"),
])
def test_inconsistent_files_fail_at_load(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(QueryFileError, match=message):
        load_queries("sqlite", tmp_path)


def test_required_names_are_checked_at_load(tmp_path: Path) -> None:
    write(tmp_path, "t.sql", BASE)
    load_queries("sqlite", tmp_path, required={"t": ["get_one"]})
    with pytest.raises(QueryFileError, match="get_two"):
        load_queries("sqlite", tmp_path, required={"t": ["get_one", "get_two"]})
    with pytest.raises(QueryFileError, match="missing"):
        load_queries("sqlite", tmp_path, required={"missing": ["x"]})


def test_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(rawdb.ConfigError, match="dialect"):
        load_queries("oracle", tmp_path)
    with pytest.raises(rawdb.ConfigError, match="does not exist"):
        load_queries("sqlite", tmp_path / "nowhere")
    with pytest.raises(AttributeError):
        _ = load_queries("sqlite", tmp_path).nothing


def test_sql_root_finds_the_checkout() -> None:
    root = sql_root()
    assert (root / "queries" / "tasks.sql").is_file()
    assert (root / "migrations" / "sqlite").is_dir()


def test_shipped_queries_load_on_every_dialect() -> None:
    store.check_queries()
    for dialect in ("sqlite", "postgresql", "mysql"):
        queries = load_queries(dialect)
        assert "ON DUPLICATE KEY" in queries.tasks.upsert_task if dialect == "mysql" else (
            "ON CONFLICT (task_id)" in queries.tasks.upsert_task)
        assert all("SELECT *" not in sql for group in queries.values() for sql in group.values())


def test_rawdb_exports_the_loader() -> None:
    assert rawdb.load_queries is load_queries
