"""Parameter values on their way in: each dialect stores the same value, or raises
the same rawdb error before the table changes.

The rules (README, "Behaviour you can rely on"): bytes, bytearray and memoryview
are stored as the same bytes and read back as bytes; a tuple binds as a PostgreSQL
array and is a QueryError elsewhere, a set everywhere; an int outside the column's
range, a float the database cannot store and text holding a lone surrogate are a
DataError; datetimes bind to timestamp columns with and without a time zone. An
error names the parameter (or the kind of value), never the value itself.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

import rawdb
from rawdb import store
from rawdb.store.crypto import FernetCipher
from tests.test_mapping import process_timezone

DDL = {
    "sqlite": "CREATE TABLE param_t (id INTEGER PRIMARY KEY, data BLOB, txt TEXT, num BIGINT, "
              "flt REAL, doc TEXT)",
    "postgresql": "CREATE TABLE param_t (id integer PRIMARY KEY, data bytea, txt text, num bigint, "
                  "flt double precision, doc jsonb)",
    "mysql": "CREATE TABLE param_t (id INT PRIMARY KEY, data LONGBLOB, txt TEXT, num BIGINT, "
             "flt DOUBLE, doc JSON)",
}
SECRET = "hunter2-Secret"
# Every byte value, then quotes, a backslash and text that looks like placeholders.
PAYLOAD = bytes(range(256)) + b"'\\\"%s?:x$1"


@pytest.fixture
async def table(pool: rawdb.Pool) -> rawdb.Pool:
    async with pool.connection() as conn:
        await conn.execute_verbatim(DDL[pool.dialect.name])
        await conn.execute("INSERT INTO param_t (id, txt, num, flt) VALUES (1, 'kept', 7, 1.5)")
    return pool


async def contents(pool: rawdb.Pool) -> list[tuple[Any, ...]]:
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, data, txt, num, flt, doc FROM param_t ORDER BY id")
    return [tuple(row) for row in rows]


async def rejected(pool: rawdb.Pool, error: type[rawdb.RawDBError], sql: str,
                   params: dict[str, Any]) -> rawdb.RawDBError:
    """Run one statement that must fail with exactly ``error``; the table must not change."""
    before = await contents(pool)
    with pytest.raises(rawdb.QueryError) as info:
        async with pool.transaction() as tx:
            if sql.lstrip().upper().startswith("SELECT"):
                await tx.fetch_val(sql, params)
            else:
                await tx.execute(sql, params)
    assert type(info.value) is error, repr(info.value)
    assert await contents(pool) == before
    return info.value


async def rejected_copy(pool: rawdb.Pool, error: type[rawdb.RawDBError], columns: list[str],
                        records: list[tuple[Any, ...]]) -> rawdb.RawDBError:
    before = await contents(pool)
    with pytest.raises(rawdb.QueryError) as info:
        async with pool.transaction() as tx:
            await tx.copy_records("param_t", columns, records)
    assert type(info.value) is error, repr(info.value)
    assert await contents(pool) == before
    return info.value


# -- bytes-likes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_bytes_likes_store_the_same_bytes(table: rawdb.Pool, kind: type[Any]) -> None:
    value = kind(PAYLOAD)
    async with table.transaction() as tx:
        assert await tx.execute("INSERT INTO param_t (id, data) VALUES (2, :v)", {"v": value}) == 1
        assert await tx.executemany("INSERT INTO param_t (id, data) VALUES (:id, :v)",
                                    [{"id": 3, "v": value}, {"id": 4, "v": kind(b"")}]) == 2
        assert await tx.copy_records("param_t", ["id", "data"], [(5, value), (6, kind(b"\x00"))]) == 2
        matching = await tx.fetch_val("SELECT count(*) FROM param_t WHERE data = :v", {"v": value})
        rows = await tx.fetch_all("SELECT id, data FROM param_t WHERE id > 1 ORDER BY id")
    stored = [(row["id"], row["data"]) for row in rows]
    assert stored == [(2, PAYLOAD), (3, PAYLOAD), (4, b""), (5, PAYLOAD), (6, b"\x00")]
    assert {type(data) for _, data in stored} == {bytes}
    assert matching == 3


# -- tuples and sets --------------------------------------------------------------------------


async def test_tuple_is_an_array_on_postgresql_and_refused_elsewhere(table: rawdb.Pool) -> None:
    if table.dialect.name == "postgresql":
        async with table.transaction() as tx:
            assert await tx.fetch_val("SELECT count(*) FROM param_t WHERE id = ANY(:ids)", {"ids": (1, 2)}) == 1
            assert await tx.fetch_val("SELECT :ids::text[]", {"ids": ("a", "b")}) == ["a", "b"]
        return
    for sql in ("SELECT count(*) FROM param_t WHERE id IN :ids", "INSERT INTO param_t (id, txt) VALUES (2, :ids)"):
        exc = await rejected(table, rawdb.QueryError, sql, {"ids": (1, 2)})
        assert ":ids" in str(exc) and "tuple" in str(exc)


@pytest.mark.parametrize("kind", [set, frozenset])
async def test_set_is_a_query_error_naming_the_parameter(table: rawdb.Pool, kind: type[Any]) -> None:
    exc = await rejected(table, rawdb.QueryError, "INSERT INTO param_t (id, txt) VALUES (2, :tags)",
                         {"tags": kind({SECRET})})
    assert ":tags" in str(exc) and kind.__name__ in str(exc)
    assert SECRET not in str(exc)


async def test_a_type_no_driver_binds_is_refused_not_stored_as_its_repr(table: rawdb.Pool) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return SECRET

        __str__ = __repr__

    before = await contents(table)
    with pytest.raises(rawdb.QueryError) as info:
        async with table.transaction() as tx:
            await tx.execute("INSERT INTO param_t (id, txt) VALUES (2, :v)", {"v": Opaque()})
    assert await contents(table) == before
    assert SECRET not in str(info.value)


# -- ints and floats --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, -2**63 - 1, 10**30])
async def test_int_outside_64_bits_is_a_data_error(table: rawdb.Pool, value: int) -> None:
    exc = await rejected(table, rawdb.DataError, "INSERT INTO param_t (id, num) VALUES (2, :n)", {"n": value})
    assert str(value) not in str(exc)
    copied = await rejected_copy(table, rawdb.DataError, ["id", "num"], [(2, 0), (3, value)])
    assert str(value) not in str(copied)


async def test_int_at_the_64_bit_limits_is_stored(table: rawdb.Pool) -> None:
    async with table.transaction() as tx:
        await tx.execute("INSERT INTO param_t (id, num) VALUES (2, :hi), (3, :lo)", {"hi": 2**63 - 1, "lo": -2**63})
        await tx.copy_records("param_t", ["id", "num"], [(4, 2**63 - 1)])
        stored = [r[0] for r in await tx.fetch_all("SELECT num FROM param_t WHERE id > 1 ORDER BY id")]
    assert stored == [2**63 - 1, -2**63, 2**63 - 1]


FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
# What each dialect can store in a double column; the others are a DataError.
STORABLE = {"postgresql": {"nan", "inf", "-inf"}, "sqlite": {"inf", "-inf"}, "mysql": set()}


@pytest.mark.parametrize("name", list(FLOATS))
async def test_nan_and_infinities_are_stored_or_refused(table: rawdb.Pool, name: str) -> None:
    value = FLOATS[name]
    if name in STORABLE[table.dialect.name]:
        async with table.transaction() as tx:
            await tx.execute("INSERT INTO param_t (id, flt) VALUES (2, :x)", {"x": value})
            await tx.copy_records("param_t", ["id", "flt"], [(3, value)])
            stored = [r[0] for r in await tx.fetch_all("SELECT flt FROM param_t WHERE id > 1 ORDER BY id")]
        assert len(stored) == 2
        for got in stored:
            assert got is not None
            assert math.isnan(got) if name == "nan" else got == value
        return
    exc = await rejected(table, rawdb.DataError, "INSERT INTO param_t (id, flt) VALUES (2, :x)", {"x": value})
    assert ":x" in str(exc)
    copied = await rejected_copy(table, rawdb.DataError, ["id", "flt"], [(2, 0.5), (3, value)])
    assert "record 1" in str(copied) and "column 2" in str(copied)


# -- text -------------------------------------------------------------------------------------

# A high and a low surrogate; U+DCFF is what a surrogateescape decode makes of the byte 0xFF.
SURROGATES = ["\ud800", "\udcff", "\udfff"]


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: f"U+{ord(s):04X}")
async def test_text_with_a_lone_surrogate_is_a_data_error(table: rawdb.Pool, surrogate: str) -> None:
    text = f"{SECRET}{surrogate}tail"
    errors = [
        await rejected(table, rawdb.DataError, "INSERT INTO param_t (id, txt) VALUES (2, :t)", {"t": text}),
        await rejected(table, rawdb.DataError, "SELECT :t", {"t": text}),
        await rejected(table, rawdb.DataError, "INSERT INTO param_t (id, doc) VALUES (2, :d)",
                       {"d": {"note": text}}),
        await rejected_copy(table, rawdb.DataError, ["id", "txt"], [(2, "fine"), (3, text)]),
    ]
    for exc in errors:
        assert "surrogate" in str(exc)
        assert SECRET not in str(exc) and "tail" not in str(exc)
    assert ":d" in str(errors[2])


async def test_text_outside_the_basic_plane_is_stored(table: rawdb.Pool) -> None:
    text = "naïve 日本 🚀 \U0010FFFF"
    async with table.transaction() as tx:
        await tx.execute("INSERT INTO param_t (id, txt, doc) VALUES (2, :t, :d)", {"t": text, "d": {"t": text}})
        await tx.copy_records("param_t", ["id", "txt"], [(3, text)])
        rows = await tx.fetch_all("SELECT txt, doc FROM param_t WHERE id > 1 ORDER BY id")
    assert [r[0] for r in rows] == [text, text]
    doc = rows[0][1]
    assert (msgspec.json.decode(doc) if isinstance(doc, str) else doc) == {"t": text}


# -- timestamps -------------------------------------------------------------------------------

STAMP_DDL = {
    "sqlite": "CREATE TABLE stamps (id INTEGER PRIMARY KEY, wall TEXT, zoned TEXT)",
    "postgresql": "CREATE TABLE stamps (id integer PRIMARY KEY, wall timestamp, zoned timestamptz)",
    "mysql": "CREATE TABLE stamps (id INT PRIMARY KEY, wall DATETIME(6), zoned TIMESTAMP(6) NULL)",
}
PLUS2 = dt.timezone(dt.timedelta(hours=2))
INSTANT = dt.datetime(2024, 6, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)


class Stamp(msgspec.Struct):
    id: int
    wall: dt.datetime
    zoned: dt.datetime


async def test_datetimes_bind_to_timestamp_columns_with_and_without_time_zone(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim(STAMP_DDL[pool.dialect.name])
    spellings = [INSTANT, INSTANT.astimezone(PLUS2), INSTANT.replace(tzinfo=None)]  # naive: UTC
    insert = "INSERT INTO stamps (id, wall, zoned) VALUES (:id, :w, :z)"
    with process_timezone("Asia/Kolkata"):  # the process's zone must not matter
        async with pool.transaction() as tx:
            for i, value in enumerate(spellings, start=1):
                await tx.execute(insert, {"id": i, "w": value, "z": value})
            await tx.executemany(insert, [{"id": 10 + i, "w": v, "z": v} for i, v in enumerate(spellings)])
            await tx.copy_records("stamps", ["id", "wall", "zoned"], [(20 + i, v, v) for i, v in enumerate(spellings)])
            found = await tx.fetch_val("SELECT count(*) FROM stamps WHERE wall = :w AND zoned = :z",
                                       {"w": INSTANT.astimezone(PLUS2), "z": INSTANT.astimezone(PLUS2)})
            stamps = await tx.fetch_all("SELECT id, wall, zoned FROM stamps ORDER BY id", into=Stamp)
            raw = await tx.fetch_one("SELECT wall, zoned FROM stamps WHERE id = 2")
    assert found == 9
    assert [(s.wall, s.zoned) for s in stamps] == [(INSTANT, INSTANT)] * 9
    assert {s.wall.utcoffset() for s in stamps} == {dt.timedelta(0)}
    if pool.dialect.name == "postgresql":
        # Read without into=: the timestamp column gives back the instant written, in UTC.
        assert raw["wall"] == INSTANT and raw["wall"].tzinfo is dt.UTC
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT wall::text FROM stamps WHERE id = 2") == "2024-06-01 10:00:00.123456"


# -- the store --------------------------------------------------------------------------------


async def test_store_refuses_lone_surrogates_before_any_sql(pool: rawdb.Pool) -> None:
    await pool.migrate(store.MIGRATIONS)
    cipher = FernetCipher([FernetCipher.generate_key()])
    bad = f"{SECRET}\udcfftail"
    attempts: list[tuple[str, Callable[[rawdb.Transaction], Awaitable[Any]]]] = [
        ("task_result", lambda tx: store.tasks.save_task(tx, "t1", "s", "d", "llm", task_result=bad)),
        ("profile_name", lambda tx: store.llm_profiles.create_profile(tx, bad, "openai", "m")),
        ("provider_config", lambda tx: store.llm_profiles.create_profile(
            tx, "p", "openai", "m", provider_config={"k": [bad]})),
        ("api_key", lambda tx: store.llm_profiles.create_profile(tx, "p", "openai", "m", api_key=bad,
                                                                 cipher=cipher)),
        ("value", lambda tx: store.credentials.store_credential(tx, "k", bad, cipher=cipher)),
        ("mcp_server_config", lambda tx: store.tasks.save_task(
            tx, "t1", "s", "d", "llm", mcp_server_config='{"mcpServers": {"' + bad + '": {}}}')),
        ("profile_name", lambda tx: store.llm_profiles.get_profile(tx, bad)),  # a lookup key
    ]
    for field, attempt in attempts:
        with pytest.raises(rawdb.DataError) as info:
            async with pool.transaction() as tx:
                await attempt(tx)
        message = str(info.value)
        assert message.startswith(f"{field}:"), message
        assert "surrogate" in message and SECRET not in message and "tail" not in message
    async with pool.transaction(readonly=True) as tx:
        for name in ("tasks", "llm_profiles", "credentials"):
            assert await tx.fetch_val(f"SELECT count(*) FROM {name}") == 0


async def test_store_refuses_nan_in_json_values(pool: rawdb.Pool) -> None:
    await pool.migrate(store.MIGRATIONS)
    with pytest.raises(rawdb.ValidationError) as info:
        async with pool.transaction() as tx:
            await store.llm_profiles.create_profile(tx, "p", "openai", "m", temperature=math.nan)
    assert str(info.value).startswith("temperature:")
    async with pool.transaction(readonly=True) as tx:
        assert await tx.fetch_val("SELECT count(*) FROM llm_profiles") == 0


async def test_copy_records_with_a_value_of_the_wrong_type_is_a_data_error(pool: rawdb.Pool) -> None:
    """asyncpg's COPY encoder raised a raw TypeError for a str in an integer column."""
    if pool.dialect.name != "postgresql":
        pytest.skip("only COPY encodes values by the column's binary type on the client")
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE copy_typed (id INTEGER PRIMARY KEY, n INTEGER)")
    with pytest.raises(rawdb.DataError) as info:
        async with pool.transaction() as tx:
            await tx.copy_records("copy_typed", ["id", "n"], [(1, 2), (2, "three")])
    assert isinstance(info.value.__cause__, TypeError)
    async with pool.connection() as conn:
        assert await conn.fetch_val("SELECT count(*) FROM copy_typed") == 0
