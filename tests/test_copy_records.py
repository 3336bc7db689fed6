"""`copy_records` (COPY, multi-row INSERT, executemany) stores exactly what `execute`
stores for the same values, on every dialect: it adapts column by column, so
mixed columns (None beside datetimes, aware beside naive, Structs beside dicts)
must come out the same as value by value."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import msgspec
import pytest

import rawdb
from tests.test_mapping import COLUMNS, INSERT, Item, Meta, Rec, as_params, create_rec_table, process_timezone

PLUS2 = dt.timezone(dt.timedelta(hours=2))
FIELDS = [f.strip() for f in COLUMNS.split(",")]


class Colour(enum.Enum):
    RED = "red"


def sample(i: int) -> Rec:
    """Rows whose columns mix the kinds of value a column may hold."""
    created: dt.datetime | None = [
        dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=PLUS2),  # the same instant as above
        dt.datetime(2024, 5, 6, 7, 8, 9, 123456),  # naive: taken to be UTC
        None,
    ][i % 4]
    return Rec(id=i, flag=i % 2 == 0, created=created, meta=Meta(owner=f"o{i}", tags=["t"] * (i % 3)),
               items=[Item(name="bolt", qty=i)], opt=None if i % 3 else Meta(owner="x", tags=[]),
               counts={"n": i})


async def _rows(pool: rawdb.Pool) -> list[Rec]:
    async with pool.transaction(readonly=True) as tx:
        return await tx.fetch_all(f"SELECT {COLUMNS} FROM rec ORDER BY id", into=Rec)


async def test_copy_records_stores_what_execute_stores(pool: rawdb.Pool) -> None:
    await create_rec_table(pool)
    records = [sample(i) for i in range(12)]
    with process_timezone("America/New_York"):  # a naive value must not be read as local time
        async with pool.transaction() as tx:
            for rec in records[:6]:
                await tx.execute(INSERT, as_params(rec))
            inserted = await tx.copy_records("rec", FIELDS, [tuple(getattr(r, f) for f in FIELDS)
                                                             for r in records[6:]])
    assert inserted == 6
    got = await _rows(pool)
    expected = [stored_form(r) for r in records]
    assert got == expected
    by_id = {r.id: r for r in got}
    assert by_id[0].created == by_id[1].created == by_id[2].created  # same instant, three spellings
    assert by_id[6].created == by_id[5].created == by_id[4].created


def stored_form(rec: Rec) -> Rec:
    """What reading ``rec`` back gives: timestamps as aware UTC."""
    created = rec.created
    if created is not None:
        created = (created if created.tzinfo else created.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return Rec(id=rec.id, flag=rec.flag, created=created, meta=rec.meta, items=rec.items, opt=rec.opt,
               counts=rec.counts)


async def test_copy_records_other_value_kinds(pool: rawdb.Pool) -> None:
    """Enums, UUIDs, dicts and Structs in the same column are adapted one by one."""
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE kinds (id INTEGER PRIMARY KEY, label VARCHAR(40), doc TEXT)")
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    rows = [(1, Colour.RED, {"a": 1}), (2, ident, Meta(owner="m", tags=[])), (3, "plain", None)]
    async with pool.transaction() as tx:
        assert await tx.copy_records("kinds", ["id", "label", "doc"], (r for r in rows)) == 3
        got = [tuple(r) for r in await tx.fetch_all("SELECT id, label, doc FROM kinds ORDER BY id")]
    assert got[0][:2] == (1, "red") and got[1][:2] == (2, str(ident)) and got[2] == (3, "plain", None)
    assert msgspec.json.decode(got[0][2]) == {"a": 1}
    assert msgspec.json.decode(got[1][2]) == {"owner": "m", "tags": []}


async def test_copy_records_rejects_a_short_record_and_writes_nothing(pool: rawdb.Pool) -> None:
    await create_rec_table(pool)
    good = tuple(getattr(sample(0), f) for f in FIELDS)
    with pytest.raises(rawdb.QueryError, match=r"record 2 has 6 values for 7 columns"):
        async with pool.transaction() as tx:
            await tx.copy_records("rec", FIELDS, [good, (1, *good[1:]), (2, *good[1:6])])
    assert await _rows(pool) == []
    async with pool.transaction() as tx:
        assert await tx.copy_records("rec", FIELDS, []) == 0
