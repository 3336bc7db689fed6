"""Rows into msgspec Structs, and values on their way in, on every dialect."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import tracemalloc
from collections.abc import Iterator

import msgspec
import pytest

import rawdb

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))


class Item(msgspec.Struct):
    name: str
    qty: int


class Meta(msgspec.Struct):
    owner: str
    tags: list[str]


class Rec(msgspec.Struct):
    id: int
    flag: bool
    created: dt.datetime | None
    meta: Meta
    items: list[Item]
    opt: Meta | None
    counts: dict[str, int]


COLUMNS = "id, flag, created, meta, items, opt, counts"

DDL = {
    "sqlite": "CREATE TABLE rec (id INTEGER PRIMARY KEY, flag INTEGER NOT NULL, created TEXT, "
              "meta TEXT, items TEXT, opt TEXT, counts TEXT)",
    "postgresql": "CREATE TABLE rec (id integer PRIMARY KEY, flag boolean NOT NULL, "
                  "created timestamptz, meta jsonb, items jsonb, opt jsonb, counts jsonb)",
    "mysql": "CREATE TABLE rec (id INT PRIMARY KEY, flag BOOLEAN NOT NULL, created DATETIME(6), "
             "meta JSON, items JSON, opt JSON, counts JSON)",
}

INSERT = ("INSERT INTO rec (id, flag, created, meta, items, opt, counts) "
          "VALUES (:id, :flag, :created, :meta, :items, :opt, :counts)")


async def create_rec_table(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim(DDL[pool.dialect.name])


def as_params(rec: Rec) -> dict[str, object]:
    return {f: getattr(rec, f) for f in rec.__struct_fields__}


def assert_utc(value: dt.datetime | None) -> dt.datetime:
    assert isinstance(value, dt.datetime)
    assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0), value
    return value


@contextlib.contextmanager
def process_timezone(name: str) -> Iterator[None]:
    """Run with the process's local time zone set to ``name`` (restored afterwards)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# -- JSON, bool and datetime in and out ------------------------------------------------------


async def test_json_columns_decode_into_typed_structs(pool: rawdb.Pool) -> None:
    await create_rec_table(pool)
    first = Rec(id=1, flag=True, created=dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
                meta=Meta(owner="ann", tags=["a", "b"]),
                items=[Item(name="bolt", qty=3), Item(name="nut", qty=0)],
                opt=None, counts={"x": 1, "y": 2})
    second = Rec(id=2, flag=False, created=None, meta=Meta(owner="bob", tags=[]),
                 items=[], opt=Meta(owner="opt", tags=["z"]), counts={})
    async with pool.transaction() as tx:
        for rec in (first, second):
            assert await tx.execute(INSERT, as_params(rec)) == 1
    async with pool.transaction(readonly=True) as tx:
        got = await tx.fetch_all(f"SELECT {COLUMNS} FROM rec ORDER BY id", into=Rec)
        one = await tx.fetch_one(f"SELECT {COLUMNS} FROM rec WHERE id = :id", {"id": 2}, into=Rec)
        none = await tx.fetch_one(f"SELECT {COLUMNS} FROM rec WHERE id = :id", {"id": 99}, into=Rec)
    assert got == [first, second]
    assert one == second
    assert none is None
    assert type(got[0].meta) is Meta and type(got[0].items[0]) is Item
    assert type(got[1].opt) is Meta
    assert got[0].flag is True and got[1].flag is False
    assert_utc(got[0].created)


async def test_json_null_maps_to_none_for_optional_fields(pool: rawdb.Pool) -> None:
    await create_rec_table(pool)
    async with pool.transaction() as tx:
        await tx.execute(
            "INSERT INTO rec (id, flag, created, meta, items, opt, counts) "
            "VALUES (1, :f, NULL, '{\"owner\": \"o\", \"tags\": [\"t\"]}', '[]', 'null', '{}')",
            {"f": True})
        rec = await tx.fetch_one(f"SELECT {COLUMNS} FROM rec", into=Rec)
    assert rec == Rec(id=1, flag=True, created=None, meta=Meta(owner="o", tags=["t"]), items=[],
                      opt=None, counts={})


async def test_bools_normalised_in_and_out(pool: rawdb.Pool) -> None:
    class Flags(msgspec.Struct):
        yes: bool
        no: bool
        maybe: bool | None

    await create_rec_table(pool)
    empty = {"meta": Meta(owner="o", tags=[]), "items": [], "opt": None, "counts": {},
             "created": None}
    async with pool.transaction() as tx:
        await tx.execute(INSERT, {"id": 1, "flag": True, **empty})
        await tx.execute(INSERT, {"id": 2, "flag": False, **empty})
        # A bool parameter compares with the stored value on every dialect.
        assert await tx.fetch_val("SELECT id FROM rec WHERE flag = :f", {"f": True}) == 1
        assert await tx.fetch_val("SELECT id FROM rec WHERE flag = :f", {"f": False}) == 2
        flags = await tx.fetch_one(
            "SELECT (SELECT flag FROM rec WHERE id = 1) AS yes, "
            "(SELECT flag FROM rec WHERE id = 2) AS no, NULL AS maybe", into=Flags)
        raw = await tx.fetch_val("SELECT flag FROM rec WHERE id = 1")
    assert flags is not None
    assert flags.yes is True and flags.no is False and flags.maybe is None
    if pool.dialect.name in ("sqlite", "mysql"):
        assert type(raw) is int and raw == 1  # stored as 1, mapped to True only via into=


async def test_sqlite_timestamp_text_and_server_timestamps_become_aware_utc(pool: rawdb.Pool) -> None:
    class Stamp(msgspec.Struct):
        id: int
        created: dt.datetime

    await create_rec_table(pool)
    values = {1: "2024-01-02 03:04:05", 2: "2024-01-02 03:04:05.123456"}
    async with pool.transaction() as tx:
        for key, text in values.items():
            await tx.execute(
                f"INSERT INTO rec (id, flag, created, meta, items, opt, counts) "
                f"VALUES ({key}, :f, '{text}', '{{}}', '[]', NULL, '{{}}')", {"f": False})
        stamps = await tx.fetch_all("SELECT id, created FROM rec ORDER BY id", into=Stamp)
    assert [s.created for s in stamps] == [
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    ]
    for s in stamps:
        assert_utc(s.created)


async def test_sqlite_timestamp_text_with_offset() -> None:
    # SQLite-only: text carrying an offset is a SQLite storage form.
    class Stamp(msgspec.Struct):
        created: dt.datetime

    async with await rawdb.create_pool("sqlite:///:memory:") as pool, pool.transaction() as tx:
        stamp = await tx.fetch_one("SELECT '2024-01-02 05:04:05+02:00' AS created", into=Stamp)
    assert stamp is not None
    assert assert_utc(stamp.created) == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert stamp.created.hour == 3


async def test_aware_datetime_params_normalised_to_utc(pool: rawdb.Pool) -> None:
    class Stamp(msgspec.Struct):
        created: dt.datetime

    await create_rec_table(pool)
    local = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2)
    async with pool.transaction() as tx:
        await tx.execute(INSERT, {"id": 1, "flag": True, "created": local, "meta": {}, "items": [],
                                  "opt": None, "counts": {}})
        stamp = await tx.fetch_one("SELECT created FROM rec", into=Stamp)
        raw = await tx.fetch_val("SELECT created FROM rec")
        # The parameter compares as the same instant.
        assert await tx.fetch_val("SELECT id FROM rec WHERE created = :t", {"t": local}) == 1
    assert stamp is not None
    assert stamp.created == local
    assert assert_utc(stamp.created).hour == 10
    if pool.dialect.name == "sqlite":
        assert raw == "2024-06-01 10:00:00.123456"
    elif pool.dialect.name == "mysql":
        assert raw == dt.datetime(2024, 6, 1, 10, 0, 0, 123456)
    else:
        assert raw == local


async def test_datetime_params_do_not_depend_on_the_process_time_zone(pool: rawdb.Pool) -> None:
    class Stamp(msgspec.Struct):
        id: int
        created: dt.datetime

    await create_rec_table(pool)
    aware = dt.datetime(2024, 6, 1, 12, 0, tzinfo=PLUS2)
    naive_utc = dt.datetime(2024, 6, 1, 10, 0)  # the contract: naive values are UTC
    with process_timezone("Asia/Kolkata"):  # +05:30, no DST
        async with pool.transaction() as tx:
            for i, value in enumerate((aware, naive_utc), start=1):
                await tx.execute(INSERT, {"id": i, "flag": True, "created": value, "meta": {},
                                          "items": [], "opt": None, "counts": {}})
            stamps = await tx.fetch_all("SELECT id, created FROM rec ORDER BY id", into=Stamp)
    expected = dt.datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert [s.created for s in stamps] == [expected, expected]


# -- rows that do not fit ------------------------------------------------------------------


class MetaHolder(msgspec.Struct):
    id: int
    meta: Meta


class Stamped(msgspec.Struct):
    created: dt.datetime


class Counted(msgspec.Struct):
    quantity: int


class Flagged(msgspec.Struct):
    flagged: bool


@pytest.mark.parametrize(
    ("sql", "into", "column", "type_name"),
    [
        ("SELECT 1 AS id, '{\"owner\": 5, \"tags\": []}' AS meta", MetaHolder, "meta", "Meta"),
        ("SELECT 1 AS id, '[1, 2]' AS meta", MetaHolder, "meta", "Meta"),
        ("SELECT 'not a date' AS created", Stamped, "created", "datetime"),
        ("SELECT 'abc' AS quantity", Counted, "quantity", "int"),
    ],
)
async def test_row_that_does_not_fit_names_column_and_type(
    pool: rawdb.Pool, sql: str, into: type[msgspec.Struct], column: str, type_name: str
) -> None:
    async with pool.transaction(readonly=True) as tx:
        with pytest.raises(rawdb.MappingError) as info:
            await tx.fetch_all(sql, into=into)
        with pytest.raises(rawdb.MappingError):
            await tx.fetch_one(sql, into=into)
        with pytest.raises(rawdb.MappingError):
            async for _ in tx.iterate(sql, into=into):
                pass
        # the transaction is still usable
        assert await tx.fetch_val("SELECT 'ok'") == "ok"
    message = str(info.value)
    assert repr(column) in message or f" {column}" in message
    assert type_name in message


async def test_non_boolean_in_bool_field_names_column(pool: rawdb.Pool) -> None:
    if pool.dialect.name == "postgresql":
        pytest.skip("PostgreSQL returns native booleans: no conversion, so no check "
                    "(values are checked where a conversion happens)")
    async with pool.transaction(readonly=True) as tx:
        with pytest.raises(rawdb.MappingError) as info:
            await tx.fetch_all("SELECT 7 AS flagged", into=Flagged)
    assert "flagged" in str(info.value) and "bool" in str(info.value)


async def test_required_field_missing_from_result(pool: rawdb.Pool) -> None:
    class Person(msgspec.Struct):
        name: str
        owner_email: str

    async with pool.transaction(readonly=True) as tx:
        with pytest.raises(rawdb.MappingError, match="owner_email"):
            await tx.fetch_all("SELECT 'ann' AS name", into=Person)


async def test_forbid_unknown_fields_rejects_extra_columns(pool: rawdb.Pool) -> None:
    class Strict(msgspec.Struct, forbid_unknown_fields=True):
        name: str

    async with pool.transaction(readonly=True) as tx:
        with pytest.raises(rawdb.MappingError, match="surplus"):
            await tx.fetch_all("SELECT 'ann' AS name, 1 AS surplus", into=Strict)
        # without the extra column it maps
        assert await tx.fetch_all("SELECT 'ann' AS name", into=Strict) == [Strict(name="ann")]


async def test_extra_columns_ignored_and_defaults_used(pool: rawdb.Pool) -> None:
    class Lenient(msgspec.Struct):
        name: str
        tags: list[str] = msgspec.field(default_factory=list)
        score: int = 7

    async with pool.transaction(readonly=True) as tx:
        got = await tx.fetch_one("SELECT 1 AS surplus, 'ann' AS name, '[\"t\"]' AS tags", into=Lenient)
    assert got == Lenient(name="ann", tags=["t"], score=7)


# -- plain rows, fetch_val, iterate ---------------------------------------------------------


async def test_rows_without_into_index_by_name_and_position(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE plain (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        await conn.executemany("INSERT INTO plain (id, name) VALUES (:id, :name)",
                               [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}])
    async with pool.transaction(readonly=True) as tx:
        rows = await tx.fetch_all("SELECT id, name FROM plain ORDER BY id")
        first = await tx.fetch_one("SELECT name, id FROM plain WHERE id = :id", {"id": 2})
        missing = await tx.fetch_one("SELECT id FROM plain WHERE id = :id", {"id": 3})
        count = await tx.fetch_val("SELECT count(*) FROM plain")
        nothing = await tx.fetch_val("SELECT name FROM plain WHERE id = :id", {"id": 3})
        empty = await tx.fetch_all("SELECT id FROM plain WHERE id > :id", {"id": 5})
    assert [(r["id"], r["name"]) for r in rows] == [(1, "one"), (2, "two")]
    assert [(r[0], r[1]) for r in rows] == [(1, "one"), (2, "two")]
    assert (first["name"], first["id"], first[0], first[1]) == ("two", 2, "two", 2)
    with pytest.raises(KeyError):
        first["nope"]
    assert missing is None
    assert count == 2
    assert nothing is None
    assert empty == []


PAYLOAD = "x" * 500
N_ROWS = 20_000


async def fill_big_table(pool: rawdb.Pool) -> None:
    async with pool.connection() as conn:  # DDL: MySQL would commit it implicitly inside a transaction
        await conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, payload VARCHAR(600))")
    async with pool.transaction() as tx:
        inserted = await tx.copy_records("big", ["id", "payload"],
                                         [(i, PAYLOAD) for i in range(N_ROWS)])
    assert inserted == N_ROWS


async def test_iterate_streams_and_the_connection_is_reusable_after_break(pool: rawdb.Pool) -> None:
    await fill_big_table(pool)
    async with pool.transaction() as tx:
        seen: list[int] = []
        tracemalloc.start()
        try:
            async for row in tx.iterate("SELECT id, payload FROM big ORDER BY id"):
                seen.append(row["id"])
                if len(seen) == 10:
                    break
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert seen == list(range(10))
        # The whole result is more than 10 MB of text; a stream holds a chunk.
        assert peak < N_ROWS * len(PAYLOAD) / 4, f"peak {peak} bytes: the result was loaded whole"
        # The same transaction goes on right after the loop.
        assert await tx.fetch_val("SELECT count(*) FROM big") == N_ROWS
        await tx.execute("UPDATE big SET payload = :p WHERE id = 0", {"p": "changed"})
    assert pool.stats().in_use == 0
    async with pool.transaction(readonly=True) as tx:
        assert await tx.fetch_val("SELECT payload FROM big WHERE id = 0") == "changed"


async def test_iterate_on_a_connection_after_break(pool: rawdb.Pool) -> None:
    await fill_big_table(pool)
    async with pool.connection() as conn:
        n = 0
        async for _row in conn.iterate("SELECT id FROM big ORDER BY id"):
            n += 1
            if n == 10:
                break
        assert await conn.fetch_val("SELECT count(*) FROM big") == N_ROWS
    async with pool.transaction() as tx:
        assert await tx.execute("DELETE FROM big WHERE id < 5") == 5


async def test_iterate_whole_result_into_structs(pool: rawdb.Pool) -> None:
    class Big(msgspec.Struct):
        id: int
        payload: str

    await fill_big_table(pool)
    async with pool.transaction(readonly=True) as tx:
        count = 0
        async for big in tx.iterate("SELECT id, payload FROM big WHERE id >= :lo ORDER BY id",
                                    {"lo": 100}, into=Big):
            assert type(big) is Big and big.id == count + 100 and big.payload == PAYLOAD
            count += 1
    assert count == N_ROWS - 100


async def test_break_from_iterate_then_commit_leaves_a_clean_connection(pool: rawdb.Pool) -> None:
    await fill_big_table(pool)
    for round_ in range(3):
        async with pool.transaction() as tx:
            await tx.execute("UPDATE big SET payload = :p WHERE id = 1", {"p": f"round {round_}"})
            async for row in tx.iterate("SELECT id FROM big ORDER BY id"):
                if row["id"] == 10:
                    break
        # committed, and every pooled connection still speaks the protocol
        for _ in range(pool.options.max_size):
            async with pool.transaction() as tx:
                assert await tx.fetch_val("SELECT payload FROM big WHERE id = 1") == f"round {round_}"
    assert pool.stats().in_use == 0


def test_sqlite_timestamp_text_is_fixed_width_and_sorts() -> None:
    """Text timestamps sort correctly only at a fixed width: strftime dropped the
    zero padding of years before 1000 on glibc ('1-01-01 …')."""
    from rawdb.dialects.sqlite import _sqlite_text

    values = [dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(999, 12, 31, 23, 59, 59),
              dt.datetime(2024, 5, 6, 7, 8, 9, 123, tzinfo=dt.timezone(dt.timedelta(hours=2)))]
    texts = [_sqlite_text(v) for v in values]
    assert texts == ["0001-01-01 00:00:00.000000", "0999-12-31 23:59:59.000000", "2024-05-06 05:08:09.000123"]
    assert texts == sorted(texts)
