"""The same bad statement raises the same rawdb error on every dialect.

Each test runs one statement on SQLite, PostgreSQL and MySQL/MariaDB, checks the
exact rawdb class (and the constraint details rawdb can know), and that the
driver's own exception is kept on ``__cause__``.
"""

from __future__ import annotations

import asyncio

import pytest

import rawdb

DRIVER_MODULES = {"sqlite": ("sqlite3",), "postgresql": ("asyncpg",), "mysql": ("pymysql", "aiomysql")}

SCHEMA = (
    "CREATE TABLE err_parent (id INTEGER PRIMARY KEY, name VARCHAR(10) NOT NULL UNIQUE, "
    "code VARCHAR(10), CONSTRAINT uq_err_parent_code UNIQUE (code))",
    "CREATE TABLE err_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, qty INTEGER, "
    "CONSTRAINT fk_err_child_parent FOREIGN KEY (parent_id) REFERENCES err_parent (id), "
    "CONSTRAINT ck_err_child_qty CHECK (qty >= 0))",
)


def assert_driver_cause(exc: BaseException, dialect: str) -> None:
    cause = exc.__cause__
    assert cause is not None, f"{type(exc).__name__} has no driver exception on __cause__"
    assert not isinstance(cause, rawdb.RawDBError)
    assert type(cause).__module__.split(".")[0] in DRIVER_MODULES[dialect], type(cause)


@pytest.fixture
async def schema(pool: rawdb.Pool) -> rawdb.Pool:
    async with pool.connection() as conn:
        for ddl in SCHEMA:
            await conn.execute_verbatim(ddl)
        await conn.execute("INSERT INTO err_parent (id, name, code) VALUES (1, 'first', 'c1')")
        await conn.execute("INSERT INTO err_child (id, parent_id, qty) VALUES (1, 1, 5)")
    return pool


async def parent_ids(pool: rawdb.Pool) -> list[int]:
    async with pool.transaction(readonly=True) as tx:
        return [r["id"] for r in await tx.fetch_all("SELECT id FROM err_parent ORDER BY id")]


async def test_unique_violation(schema: rawdb.Pool) -> None:
    pool = schema
    with pytest.raises(rawdb.UniqueViolation) as info:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO err_parent (id, name) VALUES (2, 'second')")
            await tx.execute("INSERT INTO err_parent (id, name) VALUES (3, 'first')")
    exc = info.value
    assert isinstance(exc, rawdb.IntegrityError)
    assert_driver_cause(exc, pool.dialect.name)
    if pool.dialect.name == "mysql":
        # MySQL reports the key's name, not its columns: rawdb cannot know the column
        assert exc.column in (None, "name")
    else:
        assert exc.column == "name"
    assert exc.table in (None, "err_parent")
    # the whole transaction rolled back, and the pool goes on
    assert await parent_ids(pool) == [1]


@pytest.mark.parametrize(
    ("statement", "column", "constraint"),
    [
        ("INSERT INTO err_parent (id, name) VALUES (1, 'other')", "id", None),
        ("INSERT INTO err_parent (id, name, code) VALUES (2, 'other', 'c1')", "code",
         "uq_err_parent_code"),
    ],
    ids=["primary-key", "named-constraint"],
)
async def test_unique_violation_column_is_the_column(
    schema: rawdb.Pool, statement: str, column: str, constraint: str | None
) -> None:
    pool = schema
    with pytest.raises(rawdb.UniqueViolation) as info:
        async with pool.transaction() as tx:
            await tx.execute(statement)
    exc = info.value
    assert_driver_cause(exc, pool.dialect.name)
    # "column set where known": a column name or nothing, never a key/index name
    assert exc.column in (None, column)
    if constraint is not None:
        assert exc.constraint in (None, constraint)


async def test_foreign_key_violation(schema: rawdb.Pool) -> None:
    pool = schema
    with pytest.raises(rawdb.ForeignKeyViolation) as insert_info:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO err_child (id, parent_id, qty) VALUES (2, 42, 1)")
    assert_driver_cause(insert_info.value, pool.dialect.name)
    with pytest.raises(rawdb.ForeignKeyViolation) as delete_info:
        async with pool.transaction() as tx:
            await tx.execute("DELETE FROM err_parent WHERE id = 1")
    assert_driver_cause(delete_info.value, pool.dialect.name)
    assert await parent_ids(pool) == [1]


@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO err_parent (id, name) VALUES (2, NULL)", "INSERT INTO err_parent (id) VALUES (2)",
     "UPDATE err_parent SET name = NULL WHERE id = 1"],
    ids=["explicit-null", "omitted", "update"],
)
async def test_not_null_violation(schema: rawdb.Pool, statement: str) -> None:
    pool = schema
    with pytest.raises(rawdb.NotNullViolation) as info:
        async with pool.transaction() as tx:
            await tx.execute(statement)
    assert_driver_cause(info.value, pool.dialect.name)
    assert info.value.column == "name"


async def test_check_violation(schema: rawdb.Pool) -> None:
    pool = schema
    with pytest.raises(rawdb.CheckViolation) as info:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO err_child (id, parent_id, qty) VALUES (2, 1, -1)")
    assert_driver_cause(info.value, pool.dialect.name)
    with pytest.raises(rawdb.CheckViolation):
        async with pool.transaction() as tx:
            await tx.execute("UPDATE err_child SET qty = :q WHERE id = 1", {"q": -5})


async def test_value_the_column_cannot_hold_is_data_error(schema: rawdb.Pool) -> None:
    pool = schema
    if pool.dialect.name == "sqlite":
        pytest.skip("SQLite neither enforces VARCHAR lengths nor INTEGER ranges")
    with pytest.raises(rawdb.DataError) as too_long:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO err_parent (id, name) VALUES (2, :n)", {"n": "x" * 11})
    with pytest.raises(rawdb.DataError) as literal_too_long:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO err_parent (id, name) VALUES (2, 'elevenchars')")
    with pytest.raises(rawdb.DataError):
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO err_child (id, parent_id, qty) VALUES (2, 1, :q)",
                             {"q": 2**40})
    assert_driver_cause(too_long.value, pool.dialect.name)
    assert_driver_cause(literal_too_long.value, pool.dialect.name)
    assert await parent_ids(pool) == [1]


async def test_syntax_error_is_query_error(pool: rawdb.Pool) -> None:
    with pytest.raises(rawdb.QueryError) as info:
        async with pool.transaction() as tx:
            await tx.execute("SELEC 1")
    exc = info.value
    assert not isinstance(exc, rawdb.IntegrityError | rawdb.DataError | rawdb.ReadOnlyViolation)
    assert_driver_cause(exc, pool.dialect.name)
    async with pool.transaction() as tx:
        assert await tx.fetch_val("SELECT 2") == 2


async def test_unknown_table_is_query_error(pool: rawdb.Pool) -> None:
    with pytest.raises(rawdb.QueryError) as info:
        async with pool.transaction() as tx:
            await tx.fetch_all("SELECT * FROM no_such_table_here")
    assert "no_such_table_here" in str(info.value)
    assert_driver_cause(info.value, pool.dialect.name)


# -- concurrency failures on the servers --------------------------------------------------


async def make_accounts(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        await conn.execute("INSERT INTO acct (id, balance) VALUES (1, 100), (2, 100)")


async def test_serialization_error_on_conflicting_update(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "postgresql":
        pytest.skip("SerializationError is PostgreSQL's serializable/repeatable-read failure")
    await make_accounts(pool)
    async with asyncio.timeout(30):
        with pytest.raises(rawdb.SerializationError) as info:
            async with pool.transaction(isolation="serializable") as first:
                assert await first.fetch_val("SELECT balance FROM acct WHERE id = 1") == 100
                async with pool.transaction() as second:
                    await second.execute("UPDATE acct SET balance = 50 WHERE id = 1")
                await first.execute("UPDATE acct SET balance = balance + 1 WHERE id = 1")
    assert_driver_cause(info.value, "postgresql")
    async with pool.transaction(readonly=True) as tx:
        assert await tx.fetch_val("SELECT balance FROM acct WHERE id = 1") == 50


async def test_serialization_error_at_commit(pool: rawdb.Pool) -> None:
    if pool.dialect.name != "postgresql":
        pytest.skip("SerializationError is PostgreSQL's serializable failure")
    await make_accounts(pool)
    # Write skew: each reads both rows and updates a different one; the second commit fails.
    async with asyncio.timeout(30):
        with pytest.raises(rawdb.SerializationError) as info:
            async with pool.transaction(isolation="serializable") as first:
                assert await first.fetch_val("SELECT sum(balance) FROM acct") == 200
                async with pool.transaction(isolation="serializable") as second:
                    assert await second.fetch_val("SELECT sum(balance) FROM acct") == 200
                    await first.execute("UPDATE acct SET balance = balance - 150 WHERE id = 1")
                    await second.execute("UPDATE acct SET balance = balance - 150 WHERE id = 2")
                # second committed; first fails when it commits
    assert_driver_cause(info.value, "postgresql")
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, balance FROM acct ORDER BY id")
    assert [(r["id"], r["balance"]) for r in rows] == [(1, 100), (2, -50)]
    assert pool.stats().in_use == 0


async def test_deadlock_error(pool: rawdb.Pool) -> None:
    if pool.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: two writers cannot deadlock")
    await make_accounts(pool)
    first_locked = asyncio.Event()
    second_locked = asyncio.Event()

    async def transfer(mine: int, theirs: int, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with pool.transaction() as tx:
            await tx.execute("UPDATE acct SET balance = balance - 1 WHERE id = :id", {"id": mine})
            locked.set()
            await other.wait()
            await tx.execute("UPDATE acct SET balance = balance + 1 WHERE id = :id", {"id": theirs})

    async with asyncio.timeout(30):
        results = await asyncio.gather(
            transfer(1, 2, first_locked, second_locked),
            transfer(2, 1, second_locked, first_locked),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], rawdb.DeadlockError), repr(errors[0])
    assert_driver_cause(errors[0], pool.dialect.name)
    # exactly one transfer committed: total unchanged, one row moved by one each way
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, balance FROM acct ORDER BY id")
    balances = [r["balance"] for r in rows]
    assert sum(balances) == 200 and sorted(balances) == [99, 101]
    assert pool.stats().in_use == 0
