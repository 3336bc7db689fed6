"""The statement splitter: semicolons inside strings, comments, identifiers and bodies
never cut a statement; statement numbers and lines match the file."""

from __future__ import annotations

import sqlite3

import pytest

from rawdb.migrations import discover, split_statements
from rawdb.migrations.discovery import bundled_directory
from rawdb.migrations.splitter import SplitError


def texts(sql: str, dialect: str) -> list[str]:
    return [s.text for s in split_statements(sql, dialect)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_simple_statements_numbers_and_lines(dialect: str) -> None:
    sql = "-- header comment\n\nCREATE TABLE a (x INT);\n\n  INSERT INTO a VALUES (1);\nSELECT 1"
    stmts = split_statements(sql, dialect)
    assert [s.text for s in stmts] == ["CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)", "SELECT 1"]
    assert [s.index for s in stmts] == [1, 2, 3]
    assert [s.line for s in stmts] == [3, 5, 6]
    assert stmts[0].first_line == "CREATE TABLE a (x INT)"


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_semicolons_in_strings_comments_and_identifiers(dialect: str) -> None:
    sql = (
        "INSERT INTO t VALUES ('a;b', 'it''s; fine'); -- trailing; comment\n"
        '/* block; comment */ SELECT "we;ird" FROM t;\n'
        "SELECT 2;"
    )
    assert texts(sql, dialect) == [
        "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
        'SELECT "we;ird" FROM t',
        "SELECT 2",
    ]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_comment_only_pieces_are_dropped(dialect: str) -> None:
    assert texts("-- nothing\n;\n/* still nothing */;\n\n", dialect) == []
    assert texts("", dialect) == []


def test_sqlite_trigger_body_with_case_end_and_semicolons() -> None:
    sql = """CREATE TRIGGER t AFTER UPDATE ON a
FOR EACH ROW
BEGIN
    UPDATE a SET x = CASE WHEN NEW.y = 'end;' THEN 1 ELSE 2 END WHERE id = OLD.id;
    UPDATE b SET z = 1;
END;
CREATE INDEX i ON a (x);"""
    stmts = split_statements(sql, "sqlite")
    assert len(stmts) == 2
    assert stmts[0].text.endswith("END") and "UPDATE b SET z = 1;" in stmts[0].text
    assert stmts[1].line == 7
    assert sqlite3.complete_statement(stmts[0].text + ";")


def test_sqlite_bracket_and_backtick_identifiers() -> None:
    assert texts("SELECT [a;b], `c;d` FROM t; SELECT 1", "sqlite") == ["SELECT [a;b], `c;d` FROM t", "SELECT 1"]


def test_sqlite_backslash_is_not_an_escape() -> None:
    assert texts(r"SELECT 'a\'; SELECT 2", "sqlite") == [r"SELECT 'a\'", "SELECT 2"]


def test_postgresql_dollar_quoted_bodies() -> None:
    sql = """CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    NEW.updated_at := clock_timestamp(); -- a; comment
    RETURN NEW;
END;
$body$;
DO $$ BEGIN PERFORM 1; END $$;
SELECT $1, a$b FROM t;"""
    stmts = split_statements(sql, "postgresql")
    assert len(stmts) == 3
    assert stmts[0].text.endswith("$body$")
    assert stmts[1].text == "DO $$ BEGIN PERFORM 1; END $$"
    assert stmts[2].text == "SELECT $1, a$b FROM t"
    assert [s.line for s in stmts] == [1, 7, 8]


def test_postgresql_nested_comments_and_escape_strings() -> None:
    sql = r"""/* outer /* inner; */ still comment; */ SELECT E'it\'s; ok', 'c\';
SELECT 1::int;"""
    assert texts(sql, "postgresql") == [r"SELECT E'it\'s; ok', 'c\'", "SELECT 1::int"]


def test_postgresql_begin_atomic_body() -> None:
    sql = (
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\nSELECT 3;"
    )
    stmts = split_statements(sql, "postgresql")
    assert len(stmts) == 2
    assert stmts[0].text.endswith("END")
    assert stmts[1].text == "SELECT 3"


def test_mysql_backslash_escapes_hash_and_dash_comments() -> None:
    sql = r"""# hash comment; with semicolon
SELECT 'a\';b', "c\";d", `e;f`; -- dash comment;
SELECT 5--3;
SELECT 1 #trailing;
;"""
    # The ";" inside "#trailing;" is comment: the statement ends at the lone ";" below it.
    assert texts(sql, "mysql") == [
        r"SELECT 'a\';b', " + r'"c\";d", `e;f`',
        "SELECT 5--3",
        "SELECT 1 #trailing;",
    ]


def test_mysql_executable_comment_is_a_statement() -> None:
    assert texts("/*!40101 SET NAMES utf8mb4 */;\n/* plain */;", "mysql") == ["/*!40101 SET NAMES utf8mb4 */"]


def test_mysql_delimiter_directive() -> None:
    sql = """DELIMITER //
CREATE PROCEDURE p()
BEGIN
    SELECT 1;
    SELECT 2;
END//
DELIMITER ;
SELECT 3;
DELIMITER $$
CREATE FUNCTION f() RETURNS INT DETERMINISTIC BEGIN RETURN 1; END$$
delimiter ;
SELECT 4"""
    stmts = split_statements(sql, "mysql")
    assert [s.text.split("\n")[0] for s in stmts] == [
        "CREATE PROCEDURE p()",
        "SELECT 3",
        "CREATE FUNCTION f() RETURNS INT DETERMINISTIC BEGIN RETURN 1; END",
        "SELECT 4",
    ]
    assert stmts[0].text.endswith("END")
    assert [s.line for s in stmts] == [2, 8, 10, 12]


def test_mysql_trigger_begin_end_without_delimiter() -> None:
    sql = """CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW
BEGIN
    IF NEW.a > 0 THEN
        SET NEW.b = 1;
    END IF;
    CASE NEW.c WHEN 1 THEN SET NEW.d = 2; ELSE SET NEW.d = 3; END CASE;
    lbl: LOOP LEAVE lbl; END LOOP lbl;
    SET NEW.e = CASE WHEN NEW.f THEN 1 END;
END;
CREATE TRIGGER tr2 BEFORE INSERT ON t FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
CREATE TABLE x (id INT);"""
    stmts = split_statements(sql, "mysql")
    assert len(stmts) == 3, [s.text for s in stmts]
    assert stmts[0].text.endswith("END")
    assert stmts[1].text.startswith("CREATE TRIGGER tr2")
    assert stmts[2].text == "CREATE TABLE x (id INT)"


def test_begin_transaction_is_not_a_block() -> None:
    assert texts("BEGIN; SELECT 1; COMMIT;", "postgresql") == ["BEGIN", "SELECT 1", "COMMIT"]
    assert texts("START TRANSACTION; SELECT 1; COMMIT;", "mysql") == ["START TRANSACTION", "SELECT 1", "COMMIT"]


def test_column_named_like_keywords_in_create_table() -> None:
    sql = 'CREATE TABLE t (function_name TEXT, "end" INT); SELECT 1;'
    assert len(split_statements(sql, "postgresql")) == 2


@pytest.mark.parametrize(
    ("sql", "dialect", "line"),
    [
        ("SELECT 1;\nSELECT 'unterminated;", "sqlite", 2),
        ("SELECT 1;\n\n/* never closed", "postgresql", 3),
        ("SELECT $x$ body;", "postgresql", 1),
        ('SELECT "open', "mysql", 1),
        ("SELECT [open", "sqlite", 1),
    ],
)
def test_unterminated_tokens_raise_with_line(sql: str, dialect: str, line: int) -> None:
    with pytest.raises(SplitError) as info:
        split_statements(sql, dialect)
    assert info.value.line == line
    assert f"line {line}" in str(info.value)


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        split_statements("SELECT 1", "oracle")


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_packaged_scripts_split(dialect: str) -> None:
    """Every packaged script splits; every SQLite statement is complete for SQLite itself."""
    scripts = discover(bundled_directory(dialect))
    assert scripts, "no packaged scripts"
    for script in scripts:
        statements = script.statements(dialect)
        assert statements, script.name
        for statement in statements:
            assert not statement.text.endswith(";")
            if dialect == "sqlite":
                assert sqlite3.complete_statement(statement.text + ";"), (script.name, statement.index)
