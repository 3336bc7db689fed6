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
    async with pool.transaction() as tx:
        row = await tx.fetch_one("SELECT '100%' AS a, '%s' AS b, '%%' AS c, :p AS p", {"p": "%d"})
        assert (row["a"], row["b"], row["c"], row["p"]) == ("100%", "%s", "%%", "%d")
        assert await tx.fetch_val("SELECT '50% off'") == "50% off"
        await tx.execute("CREATE TABLE pct (v VARCHAR(20))")
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
    # DESIGN.md: "Missing or unknown parameters are an error naming the query and the parameter."
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
