"""`:name` SQL compiled once per dialect: placeholders only where they are code.

Pure unit tests check the compiled text and the cache; the rest run the same
statement on SQLite, PostgreSQL and MySQL/MariaDB and check what the database
saw (literals, identifiers and comments come back untouched, values are bound).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import rawdb
from rawdb import sql as rawsql
from rawdb.sql import ParamStyle, compile_sql

STYLES: tuple[ParamStyle, ...] = ("qmark", "dollar", "format")
STYLE_OF = {"sqlite": "qmark", "postgresql": "dollar", "mysql": "format"}


def unique_sql(template: str) -> str:
    """A statement text no other test compiled, so cache behaviour is ours to observe."""
    return template + f" /* {uuid.uuid4().hex} */"


def quote_ident(dialect: str, name: str) -> str:
    q = "`" if dialect == "mysql" else '"'
    return q + name.replace(q, q + q) + q


async def make_table(pool: rawdb.Pool, name: str) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, v VARCHAR(200))")


async def count_rows(pool: rawdb.Pool, table: str) -> int:
    async with pool.transaction(readonly=True) as tx:
        return int(await tx.fetch_val(f"SELECT count(*) FROM {table}"))


# -- pure unit tests of the compiler ------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [("qmark", "SELECT ? AS a"), ("dollar", "SELECT $1 AS a"), ("format", "SELECT %s AS a")],
)
def test_compiles_to_the_driver_style(style: ParamStyle, expected: str) -> None:
    compiled = compile_sql("SELECT :x AS a", style)
    assert compiled.text == expected
    assert compiled.names == ("x",)


def test_compiled_once_per_sql_and_style_and_cached() -> None:
    sql = unique_sql("SELECT :a, :b")
    first = {style: compile_sql(sql, style) for style in STYLES}
    again = {style: compile_sql(sql, style) for style in STYLES}
    for style in STYLES:
        assert again[style] is first[style], style
    # one compiled object per (sql, style): three styles, three different texts
    assert len({id(c) for c in first.values()}) == 3
    assert {c.text.split(" /*")[0] for c in first.values()} == {
        "SELECT ?, ?", "SELECT $1, $2", "SELECT %s, %s"}


def test_parameter_used_twice_compiles_per_style() -> None:
    sql = "SELECT :a + :b + :a"
    dollar = compile_sql(sql, "dollar")
    assert dollar.text == "SELECT $1 + $2 + $1"
    assert dollar.names == ("a", "b")
    qmark = compile_sql(sql, "qmark")
    assert qmark.text == "SELECT ? + ? + ?"
    assert qmark.names == ("a", "b", "a")
    assert qmark.bind({"a": 1, "b": 2}, lambda v: v) == [1, 2, 1]


@pytest.mark.parametrize("style", STYLES)
def test_non_code_regions_are_copied_verbatim(style: ParamStyle) -> None:
    untouched = (
        "SELECT ':a' , 'it''s :b' , \":c\" , `:d` -- :e\n"
        " , /* :f */ 1"
    )
    compiled = compile_sql(untouched + " , :p", style)
    placeholder = {"qmark": "?", "dollar": "$1", "format": "%s"}[style]
    assert compiled.names == ("p",)
    assert compiled.text == untouched + f" , {placeholder}"


def test_pg_casts_and_dollar_bodies_are_untouched() -> None:
    sql = "SELECT :v::int, x::text, $$ :a $$, $tag$ it's :b $tag$, E'\\' :c', :w"
    compiled = compile_sql(sql, "dollar")
    assert compiled.names == ("v", "w")
    assert compiled.text == "SELECT $1::int, x::text, $$ :a $$, $tag$ it's :b $tag$, E'\\' :c', $2"


def test_mysql_percent_doubled_and_hash_comment_skipped() -> None:
    compiled = compile_sql("SELECT '100%', :p # :q 50%\n", "format")
    assert compiled.names == ("p",)
    assert compiled.text == "SELECT '100%%', %s # :q 50%%\n"
    assert compiled.text % ("'x'",) == "SELECT '100%', 'x' # :q 50%\n"


def test_missing_and_unknown_parameters_are_named_in_unit() -> None:
    compiled = compile_sql("SELECT :alpha, :beta", "qmark")
    with pytest.raises(rawdb.QueryError, match="beta"):
        compiled.bind({"alpha": 1}, lambda v: v)
    with pytest.raises(rawdb.QueryError, match="gamma"):
        compiled.bind({"alpha": 1, "beta": 2, "gamma": 3}, lambda v: v)
    with pytest.raises(rawdb.QueryError, match="alpha"):
        compiled.bind(None, lambda v: v)


# -- on every dialect ---------------------------------------------------------------------


async def test_each_dialect_compiles_a_statement_once(
    pool: rawdb.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = rawsql._compile

    def counting(sql: str, style: ParamStyle) -> rawsql.CompiledSQL:
        calls.append((sql, style))
        return real(sql, style)

    monkeypatch.setattr(rawsql, "_compile", counting)
    sql = unique_sql("SELECT :n AS n")
    for i in range(3):
        async with pool.transaction() as tx:
            assert await tx.fetch_val(sql, {"n": f"v{i}"}) == f"v{i}"
    async with pool.connection() as conn:
        assert await conn.fetch_val(sql, {"n": "v7"}) == "v7"
    assert calls == [(sql, STYLE_OF[pool.dialect.name])]


async def test_string_literals_and_comments_keep_colon_words(pool: rawdb.Pool) -> None:
    sql = (
        "SELECT ':a' AS s1, 'it''s :b' AS s2, -- a comment with :c\n"
        " /* a block comment with :d and 'quote */ :p AS p"
    )
    if pool.dialect.name == "mysql":
        sql += " # a hash comment with :e"
    async with pool.transaction() as tx:
        row = await tx.fetch_one(sql, {"p": "value"})
    assert (row["s1"], row["s2"], row["p"]) == (":a", "it's :b", "value")


async def test_quoted_identifiers_keep_colon_words(pool: rawdb.Pool) -> None:
    d = pool.dialect.name
    col1 = quote_ident(d, ":col")
    q = "`" if d == "mysql" else '"'
    col2 = quote_ident(d, f"it{q}s :x")
    async with pool.transaction() as tx:
        row = await tx.fetch_one(f"SELECT :p AS {col1}, :p AS {col2}", {"p": "v"})
    assert row[":col"] == "v"
    assert row[f"it{q}s :x"] == "v"


async def test_backslashes_follow_each_dialects_string_rules(pool: rawdb.Pool) -> None:
    d = pool.dialect.name
    async with pool.transaction() as tx:
        if d == "mysql":
            # MySQL: backslash escapes inside '...' and "..." (sql_mode has no NO_BACKSLASH_ESCAPES).
            row = await tx.fetch_one(r"SELECT 'a\' :x' AS s, 'b\\' AS t, :p AS p", {"p": "1"})
            assert (row["s"], row["t"], row["p"]) == ("a' :x", "b\\", "1")
        else:
            # Standard strings: a backslash is an ordinary character and ends nothing.
            row = await tx.fetch_one(r"SELECT 'a\' AS s, :p AS p", {"p": "1"})
            assert (row["s"], row["p"]) == ("a\\", "1")
        if d == "postgresql":
            row = await tx.fetch_one(r"SELECT E'a\' :x' AS s, E'b\\' AS t, :p AS p", {"p": "2"})
            assert (row["s"], row["t"], row["p"]) == ("a' :x", "b\\", "2")


async def test_pg_casts_and_dollar_quoted_bodies(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "postgresql":
        pytest.skip("`::` casts and $$ bodies are PostgreSQL syntax")
    async with pool.transaction() as tx:
        row = await tx.fetch_one(
            "SELECT :v::int + 1 AS n, '5'::int AS m, $$ :a 'x $$ AS s1, "
            "$tag$ :b $$ it's $tag$ AS s2, CAST(:w AS text)::text AS w",
            {"v": 41, "w": "w"},
        )
        assert (row["n"], row["m"], row["s1"], row["s2"], row["w"]) == (
            42, 5, " :a 'x ", " :b $$ it's ", "w")
        await tx.execute(
            "CREATE FUNCTION rawdb_add_one(x int) RETURNS int LANGUAGE plpgsql AS $body$\n"
            "DECLARE result int; label text := ':not_a_param';\n"
            "BEGIN result := x + 1; RETURN result; END\n$body$"
        )
        assert await tx.fetch_val("SELECT rawdb_add_one(:x)", {"x": 9}) == 10


async def test_pg_nested_block_comment(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "postgresql":
        pytest.skip("nested block comments are PostgreSQL syntax")
    async with pool.transaction() as tx:
        # PostgreSQL nests /* */ comments: ':hidden' is still inside the outer comment.
        value = await tx.fetch_val("SELECT /* outer /* inner */ :hidden */ :p AS p", {"p": "ok"})
    assert value == "ok"


async def test_mysql_backslash_in_backtick_identifier(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "mysql":
        pytest.skip("MySQL-specific: backslash is not an escape inside `identifiers`")
    async with pool.transaction() as tx:
        row = await tx.fetch_one("SELECT :p AS `a\\`, :q AS b", {"p": "x", "q": "y"})
    assert row["a\\"] == "x"
    assert row["b"] == "y"


async def test_mysql_user_variable_assignment(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "mysql":
        pytest.skip("MySQL-specific ':=' assignment")
    async with pool.transaction() as tx:
        assert await tx.fetch_val("SELECT @rawdb_v := :p", {"p": "set"}) == "set"


async def test_percent_in_literals(pool: rawdb.Pool) -> None:
    # Outside the transaction: MySQL's CREATE TABLE would commit it.
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE pct (v VARCHAR(20))")
    async with pool.transaction() as tx:
        row = await tx.fetch_one("SELECT '100%' AS a, '%s' AS b, '%%' AS c, :p AS p", {"p": "%d"})
        assert (row["a"], row["b"], row["c"], row["p"]) == ("100%", "%s", "%%", "%d")
        assert await tx.fetch_val("SELECT '50% off'") == "50% off"
        await tx.executemany("INSERT INTO pct (v) VALUES (:v)", [{"v": "a%b"}, {"v": "axb"}])
        matched = await tx.fetch_all("SELECT v FROM pct WHERE v LIKE 'a%' AND v <> :x ORDER BY v",
                                     {"x": "axb"})
        assert [r["v"] for r in matched] == ["a%b"]


async def test_parameter_used_twice(pool: rawdb.Pool) -> None:
    await make_table(pool, "twice")
    async with pool.transaction() as tx:
        await tx.execute("INSERT INTO twice (id, v) VALUES (1, :a), (2, :b), (3, :a)",
                         {"a": "same", "b": "other"})
        row = await tx.fetch_one("SELECT :a AS x, :b AS y, :a AS z", {"a": "A", "b": "B"})
        assert (row["x"], row["y"], row["z"]) == ("A", "B", "A")
        ids = await tx.fetch_all("SELECT id FROM twice WHERE v = :a OR v = :a ORDER BY id",
                                 {"a": "same"})
    assert [r["id"] for r in ids] == [1, 3]


async def test_missing_parameter_fails_before_sending(pool: rawdb.Pool) -> None:
    await make_table(pool, "t_missing")
    async with pool.transaction() as tx:
        with pytest.raises(rawdb.QueryError) as info:
            await tx.execute("INSERT INTO t_missing (id, v) VALUES (1, :payload)", {})
        assert type(info.value) is rawdb.QueryError
        assert "payload" in str(info.value)
        # Raised by rawdb, not translated from a driver error...
        assert info.value.__cause__ is None
        # ...and the transaction is intact (PostgreSQL aborts it after any failed statement).
        await tx.execute("INSERT INTO t_missing (id, v) VALUES (2, :payload)", {"payload": "ok"})
        with pytest.raises(rawdb.QueryError, match="payload"):
            await tx.fetch_all("SELECT v FROM t_missing WHERE v = :payload")
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, v FROM t_missing")
    assert [(r["id"], r["v"]) for r in rows] == [(2, "ok")]


async def test_unknown_parameter_fails_before_sending(pool: rawdb.Pool) -> None:
    await make_table(pool, "t_unknown")
    async with pool.transaction() as tx:
        with pytest.raises(rawdb.QueryError) as info:
            # Were it sent, the INSERT would succeed: the extra name is the only fault.
            await tx.execute("INSERT INTO t_unknown (id, v) VALUES (1, :payload)",
                             {"payload": "x", "bogus_name": 1})
        assert "bogus_name" in str(info.value)
        assert info.value.__cause__ is None
    assert await count_rows(pool, "t_unknown") == 0


async def test_parameter_error_names_the_query(pool: rawdb.Pool) -> None:
    # Missing or unknown parameters are an error naming the query and the parameter.
    await make_table(pool, "t_named")
    sql = "INSERT INTO t_named (id, v) VALUES (1, :payload)"
    async with pool.transaction() as tx:
        with pytest.raises(rawdb.QueryError) as missing:
            await tx.execute(sql, {})
        with pytest.raises(rawdb.QueryError) as unknown:
            await tx.execute(sql, {"payload": 1, "extra": 2})
    for exc in (missing.value, unknown.value):
        assert "INSERT INTO t_named" in str(exc)


async def test_non_mapping_parameters_rejected(pool: rawdb.Pool) -> None:
    await make_table(pool, "t_seq")
    async with pool.transaction() as tx:
        bad: Any = ("x",)
        with pytest.raises(rawdb.QueryError, match="mapping"):
            await tx.execute("INSERT INTO t_seq (id, v) VALUES (1, :v)", bad)
    assert await count_rows(pool, "t_seq") == 0


HOSTILE_VALUES = [
    "'; DROP TABLE t_bound; --",
    "Robert'); DROP TABLE t_bound;--",
    "' OR '1'='1",
    ":v",
    "%s",
    "%(v)s",
    "$1",
    "?",
    'say "hi"',
    "back\\slash \\' end\\",
    "100%",
    "/* c */ -- d",
    "# hash\nnext line",
    "$$ dollar $$",
    "`tick`",
]


async def test_values_are_bound_never_formatted(pool: rawdb.Pool) -> None:
    await make_table(pool, "t_bound")
    async with pool.transaction() as tx:
        for i, value in enumerate(HOSTILE_VALUES):
            assert await tx.execute("INSERT INTO t_bound (id, v) VALUES (:id, :v)",
                                    {"id": i, "v": value}) == 1
        for i, value in enumerate(HOSTILE_VALUES):
            assert await tx.fetch_val("SELECT :v", {"v": value}) == value
            assert await tx.fetch_val("SELECT id FROM t_bound WHERE v = :v", {"v": value}) == i
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, v FROM t_bound ORDER BY id")
    assert [r["v"] for r in rows] == HOSTILE_VALUES


# -- classification: session state and transaction control --------------------------------
# Each row: the style (qmark=SQLite, dollar=PostgreSQL, format=MySQL), the text, and
# whether it may leave state on the connection. The stateful rows are evasions of a
# keyword search: comments between words, quotes around names, forms of SELECT … INTO.
STATEFUL_CASES: list[tuple[ParamStyle, str]] = [
    ("dollar", "SELECT 1 AS a INTO TEMP t"),
    ("dollar", "SELECT 1 AS a INTO TEMPORARY TABLE t"),
    ("dollar", "SELECT 1 AS a INTO t"),
    ("dollar", "WITH q AS (SELECT 1 AS a) SELECT * INTO TEMP t FROM q"),
    ("dollar", "SELECT 1 AS insert INTO TEMP t"),
    ("dollar", 'SELECT 1 "insert" INTO TEMP t'),
    ("dollar", "WITH q AS (SELECT 1) SELECT (1) insert INTO TEMP t"),
    ("dollar", "CREATE TABLE pg_temp.x (a int)"),
    ("dollar", "CREATE OR REPLACE TEMP VIEW v AS SELECT 1"),
    ("dollar", "CREATE TABLE real_table (a int)"),
    ("dollar", "SET/**/role = 'x'"),
    ("dollar", "SET /* SET LOCAL */ search_path = x"),
    ("dollar", "SET SESSION AUTHORIZATION 'x'"),
    ("dollar", "SET ROLE x"),
    ("dollar", "RESET ROLE"),
    ("dollar", "SET LOCAL x = 1; SET y = 2"),
    ("dollar", "SELECT set_config('role', 'x', false)"),
    ("dollar", "SELECT SET_CONFIG('role', 'x', false)"),
    ("dollar", 'SELECT "set_config"(\'role\', \'x\', false)'),
    ("dollar", 'SELECT "pg_catalog"."set_config"(\'role\', \'x\', false)'),
    ("dollar", "SELECT pg_catalog . set_config /* c */ ('role', 'x', false)"),
    ("dollar", "SELECT x FROM set_config('a.b', 'c', false) AS x"),
    ("dollar", "SELECT pg_advisory_lock(1)"),
    ("dollar", "SELECT pg_try_advisory_lock_shared(1)"),
    ("dollar", "SELECT dblink_connect('c', 'dbname=x')"),
    ("dollar", 'SELECT U&"\\0073et_config"(\'role\', \'x\', false)'),
    ("dollar", "PREPARE p AS SELECT 1"),
    ("dollar", "EXECUTE p"),
    ("dollar", "DEALLOCATE ALL"),
    ("dollar", "DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
    ("dollar", "LISTEN chan"),
    ("dollar", "DO $$ BEGIN PERFORM set_config('a.b', 'c', false); END $$"),
    ("dollar", "CALL proc()"),
    ("dollar", "LOCK TABLE t"),
    ("dollar", "DISCARD ALL"),
    ("dollar", "EXPLAIN (ANALYZE, FORMAT JSON) CREATE TEMP TABLE x AS SELECT 1"),
    ("dollar", "EXPLAIN ANALYZE SELECT 1 INTO TEMP t"),
    ("dollar", "VACUUM t"),
    ("dollar", "frobnicate"),
    ("qmark", "CREATE TABLE temp.x (a)"),
    ("qmark", "CREATE TEMP TABLE x (a)"),
    ("qmark", "PRAGMA/**/foreign_keys = OFF"),
    ("qmark", "PRAGMA foreign_keys = OFF"),
    ("qmark", "ATTACH DATABASE 'other.db' AS other"),
    ("qmark", "SELECT load_extension('x')"),
    ("format", "SELECT 1 INTO @v"),
    ("format", "SELECT 1 INTO @`v`"),
    ("format", "SELECT 1 FROM dual INTO @v"),
    ("format", "SELECT @v := 1"),
    ("format", "SELECT @`v`:=1"),
    ("format", "UPDATE t SET a = @v := a + 1"),
    ("format", "SET LOCAL sort_buffer_size = 1024"),
    ("format", "SET @v = 1"),
    ("format", "SET/**/@v = 1"),
    ("format", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
    ("format", "/*!40101 SET @v = 1 */"),
    ("format", "SELECT 1 /*!, @v := 2 */"),
    ("format", "SELECT 1 /*M!100100 , @v := 2 */"),
    ("format", "CREATE/**/TEMPORARY TABLE t (a int)"),
    ("format", "CREATE TEMPORARY TABLE t (a int)"),
    ("format", "SELECT GET_LOCK('x', 0)"),
    ("format", "SELECT `get_lock`('x', 0)"),
    ("format", "SELECT 1 --1, get_lock('x', 0)"),
    ("format", "SELECT LAST_INSERT_ID(5)"),
    ("format", "USE other"),
    ("format", "LOCK TABLES t WRITE"),
    ("format", "DO GET_LOCK('x', 0)"),
    ("format", "HANDLER t OPEN"),
]

STATELESS_CASES: list[tuple[ParamStyle, str]] = [
    (style, sql) for style in STYLES for sql in (
        "SELECT 1",
        "  select :a AS x",
        "(SELECT 1) UNION (SELECT 2)",
        "INSERT INTO t (a) VALUES (:a)",
        "UPDATE t SET a = :a WHERE b = :b",
        "DELETE FROM t WHERE a = :a",
        "WITH q AS (SELECT 1 AS a) SELECT a FROM q",
        "VALUES (1), (2)",
        "SELECT 'SET role x; CREATE TEMP TABLE t', \"into\" FROM t",
        "SELECT 1 -- SET role x; set_config(\n",
        "SELECT 1 /* PRAGMA x; CREATE TEMP TABLE */",
        "SELECT set_configuration FROM t",
        "SELECT my_set_config(1)",
        "SELECT pg_advisory_xact_lock(1)",
        "SELECT 1;",
        "",
    )
] + [
    ("dollar", "SET LOCAL statement_timeout = 1000"),
    ("dollar", "SET/**/LOCAL search_path = x"),
    ("dollar", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
    ("dollar", "SET CONSTRAINTS ALL DEFERRED"),
    ("dollar", "WITH a AS (INSERT INTO t VALUES (1) RETURNING *) INSERT INTO b SELECT * FROM a"),
    ("dollar", "INSERT INTO t SELECT * FROM s ON CONFLICT (id) DO UPDATE SET a = excluded.a"),
    ("dollar", "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)"),
    ("dollar", "TABLE t"),
    ("dollar", "SHOW search_path"),
    ("dollar", "SELECT f(a := 1)"),
    ("dollar", "SELECT $$ SET role x $$, $t$ INTO TEMP $t$"),
    ("dollar", "EXPLAIN ANALYZE SELECT 1"),
    ("qmark", "INSERT OR REPLACE INTO t VALUES (1)"),
    ("qmark", "REPLACE INTO t VALUES (1)"),
    ("qmark", "INSERT INTO temp.x VALUES (1)"),
    ("format", "INSERT IGNORE INTO t VALUES (1)"),
    ("format", "INSERT LOW_PRIORITY IGNORE INTO t VALUES (1)"),
    ("format", "REPLACE INTO t VALUES (1)"),
    ("format", "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)"),
    ("format", "SELECT @v, @@session.sql_mode"),
    ("format", "SELECT @v = 1"),
    ("format", "SHOW SESSION STATUS LIKE 'Questions'"),
    ("format", "SELECT LAST_INSERT_ID()"),
    ("format", "SELECT 1 -- GET_LOCK('x', 0)"),
    ("format", "SELECT 1 # GET_LOCK('x', 0)"),
    ("format", "SELECT 1 /*+ MAX_EXECUTION_TIME(1000) */"),
]


@pytest.mark.parametrize(("style", "sql"), STATEFUL_CASES)
def test_statements_that_can_leave_session_state(style: ParamStyle, sql: str) -> None:
    assert rawsql._compile(sql, style).stateful is True


@pytest.mark.parametrize(("style", "sql"), STATELESS_CASES)
def test_plain_queries_leave_no_session_state(style: ParamStyle, sql: str) -> None:
    assert rawsql._compile(sql, style).stateful is False


def test_comments_separate_words_and_do_not_hide_code() -> None:
    # The comment is a separator: "SET/**/LOCAL" is SET LOCAL, not "SETLOCAL".
    assert compile_sql("SET/**/LOCAL x = 1", "dollar").stateful is False
    # MySQL reads "--" as a comment only before a space; "--1" is arithmetic.
    assert compile_sql("SELECT 1 --1, GET_LOCK('x', 0)", "format").stateful is True
    assert compile_sql("SELECT 1 --1, :p", "format").names == ("p",)
    assert compile_sql("SELECT 1 --1, :p", "dollar").names == ()


def test_set_local_is_session_wide_on_mysql_only() -> None:
    assert compile_sql("SET LOCAL sort_buffer_size = 1", "format").stateful is True
    assert compile_sql("SET LOCAL work_mem = '1MB'", "dollar").stateful is False


def test_stored_queries_are_never_stateful() -> None:
    """Every named query the store runs: none may cost a reset or a new connection."""
    from rawdb.queries import DIALECTS, load_queries

    checked = 0
    for dialect in DIALECTS:
        style: ParamStyle = STYLE_OF[dialect]  # type: ignore[assignment]
        queries = load_queries(dialect)
        for group in queries:
            for name, sql in queries[group].items():
                # paging.sql holds clauses the store appends to a list query.
                text = f"SELECT id FROM t\n{sql}" if group == "paging" else sql
                compiled = rawsql._compile(text, style)
                assert compiled.stateful is False, (dialect, group, name)
                assert compiled.ends_transaction is None, (dialect, group, name)
                checked += 1
    assert checked > 150


ENDS_TRANSACTION_CASES: list[tuple[ParamStyle, str, str]] = [
    *((style, "BEGIN", "BEGIN starts a transaction") for style in STYLES),
    *((style, "begin /* x */ ; SELECT 1", "BEGIN starts a transaction") for style in STYLES),
    *((style, "COMMIT", "COMMIT ends the transaction") for style in STYLES),
    *((style, "ROLLBACK", "ROLLBACK ends the transaction") for style in STYLES),
    *((style, "ROLLBACK TO SAVEPOINT a", "ROLLBACK TO returns to a savepoint") for style in STYLES),
    *((style, "SAVEPOINT a", "SAVEPOINT opens a savepoint") for style in STYLES),
    *((style, "RELEASE SAVEPOINT a", "RELEASE ends a savepoint") for style in STYLES),
    ("qmark", "BEGIN IMMEDIATE", "BEGIN starts a transaction"),
    ("qmark", "END TRANSACTION", "END ends the transaction"),
    ("qmark", "RELEASE a", "RELEASE ends a savepoint"),
    ("dollar", "START TRANSACTION READ ONLY", "START TRANSACTION starts a transaction"),
    ("dollar", "END", "END ends the transaction"),
    ("dollar", "ABORT", "ABORT ends the transaction"),
    ("dollar", "COMMIT AND CHAIN", "COMMIT ends the transaction"),
    ("dollar", "SELECT 1; COMMIT; BEGIN", "COMMIT ends the transaction"),
    ("dollar", "PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION ends the transaction"),
    ("dollar", "COMMIT PREPARED 'x'", "COMMIT ends the transaction"),
    ("format", "START TRANSACTION", "START TRANSACTION starts a transaction"),
    ("format", "COMMIT WORK", "COMMIT ends the transaction"),
    ("format", "ROLLBACK WORK TO SAVEPOINT a", "ROLLBACK TO returns to a savepoint"),
    ("format", "XA START 'x'", "XA START controls a distributed transaction"),
    ("format", "CREATE TABLE t (a int)", "CREATE TABLE commits implicitly on MySQL"),
    ("format", "CREATE/**/TABLE t (a int)", "CREATE TABLE commits implicitly on MySQL"),
    ("format", "CREATE TABLE IF NOT EXISTS t (a int)", "CREATE TABLE commits implicitly on MySQL"),
    ("format", "CREATE UNIQUE INDEX i ON t (a)", "CREATE INDEX commits implicitly on MySQL"),
    ("format", "CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE VIEW commits implicitly on MySQL"),
    ("format", "CREATE DATABASE d", "CREATE DATABASE commits implicitly on MySQL"),
    ("format", "ALTER TABLE t ADD COLUMN b int", "ALTER TABLE commits implicitly on MySQL"),
    ("format", "DROP TABLE IF EXISTS t", "DROP TABLE commits implicitly on MySQL"),
    ("format", "DROP INDEX i ON t", "DROP INDEX commits implicitly on MySQL"),
    ("format", "RENAME TABLE a TO b", "RENAME TABLE commits implicitly on MySQL"),
    ("format", "TRUNCATE TABLE t", "TRUNCATE TABLE commits implicitly on MySQL"),
    ("format", "TRUNCATE t", "TRUNCATE commits implicitly on MySQL"),
    ("format", "LOCK TABLES t WRITE", "LOCK TABLES commits implicitly on MySQL"),
    ("format", "UNLOCK TABLES", "UNLOCK TABLES commits implicitly on MySQL"),
    ("format", "GRANT SELECT ON t TO u", "GRANT commits implicitly on MySQL"),
    ("format", "REVOKE SELECT ON t FROM u", "REVOKE commits implicitly on MySQL"),
    ("format", "CREATE USER u", "CREATE USER commits implicitly on MySQL"),
    ("format", "SET autocommit = 1", "SET autocommit commits implicitly on MySQL"),
    ("format", "SET @@session.autocommit = 1", "SET autocommit commits implicitly on MySQL"),
    ("format", "SET sql_mode = '', AUTOCOMMIT = 1", "SET autocommit commits implicitly on MySQL"),
    ("format", "SET PASSWORD = 'x'", "SET PASSWORD commits implicitly on MySQL"),
    ("format", "LOAD DATA INFILE 'x' INTO TABLE t", "LOAD DATA commits implicitly on MySQL"),
    ("format", "ANALYZE TABLE t", "ANALYZE TABLE commits implicitly on MySQL"),
    ("format", "OPTIMIZE TABLE t", "OPTIMIZE TABLE commits implicitly on MySQL"),
    ("format", "REPAIR TABLE t", "REPAIR TABLE commits implicitly on MySQL"),
    ("format", "FLUSH TABLES", "FLUSH TABLES commits implicitly on MySQL"),
    ("format", "CREATE PROCEDURE p() BEGIN SELECT 1; END", "CREATE PROCEDURE commits implicitly on MySQL"),
    ("format", "/*!40000 COMMIT */", "COMMIT ends the transaction"),
    ("format", "BEGIN NOT ATOMIC SELECT 1; COMMIT; END", "COMMIT ends the transaction"),
]

NO_TRANSACTION_CONTROL: list[tuple[ParamStyle, str]] = [
    *((style, sql) for style in STYLES for sql in (
        "SELECT 1", "INSERT INTO t VALUES (1)", "SELECT 'COMMIT' AS c", "SELECT 1 -- COMMIT",
        "SELECT begin, \"commit\" FROM t", "UPDATE t SET a = CASE WHEN b THEN 1 END")),
    ("format", "CREATE TEMPORARY TABLE t (a int)"),
    ("format", "CREATE OR REPLACE TEMPORARY TABLE t (a int)"),
    ("format", "DROP TEMPORARY TABLE IF EXISTS t"),
    ("format", "SET @autocommit = 1"),
    ("format", "SET sql_mode = 'autocommit'"),
    ("format", "ANALYZE SELECT 1"),
    ("format", "END"),
    ("dollar", "CREATE TABLE t (a int)"),
    ("dollar", "DROP TABLE t"),
    ("dollar", "SET autocommit = 1"),
    ("dollar", "DO $$ BEGIN COMMIT; END $$"),
    ("dollar", "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END"),
    ("dollar", "PREPARE p AS SELECT 1"),
    ("qmark", "CREATE TABLE t (a)"),
    ("qmark", "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE x SET a = CASE WHEN 1 THEN 2 END; END"),
    ("qmark", "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END"),
]


@pytest.mark.parametrize(("style", "sql", "reason"), ENDS_TRANSACTION_CASES)
def test_statements_that_end_the_transaction_say_why(style: ParamStyle, sql: str, reason: str) -> None:
    assert rawsql._compile(sql, style).ends_transaction == reason


@pytest.mark.parametrize(("style", "sql"), NO_TRANSACTION_CONTROL)
def test_statements_that_leave_the_transaction_alone(style: ParamStyle, sql: str) -> None:
    assert rawsql._compile(sql, style).ends_transaction is None


def test_classification_is_cached_with_the_text() -> None:
    sql = unique_sql("SET ROLE x")
    first = compile_sql(sql, "dollar")
    assert (first.stateful, first.ends_transaction) == (True, None)
    assert compile_sql(sql, "dollar") is first
    mysql = compile_sql(unique_sql("COMMIT"), "format")
    assert mysql.ends_transaction == "COMMIT ends the transaction"
