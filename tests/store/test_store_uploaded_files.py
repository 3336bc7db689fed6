"""uploaded_files: its 8 operations, soft and hard deletes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.models import UploadedFile

files = store.uploaded_files


def fid(n: int) -> str:
    return f"01900000-0000-7000-9000-{n:012d}"


async def add(tx: rawdb.Transaction, n: int, session: str | None = "s1") -> UploadedFile:
    return await files.create_file_record(
        tx, fid(n), f"orig{n}.pdf", f"stored{n}.pdf", f"/ws/{n}", session, 1000 + n,
        "application/pdf", f"up/{n}")


async def test_create_and_get(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        f = await files.create_file_record(
            tx, fid(1), "Résumé 🚀.pdf", "x.pdf", "/ws/x.pdf", None, 5 * 1024**3,
            "application/pdf", "x.pdf")
        assert isinstance(f, UploadedFile)
        assert (f.file_id, f.original_filename, f.session_id, f.file_size, f.is_deleted,
                f.deleted_at) == (fid(1), "Résumé 🚀.pdf", None, 5 * 1024**3, False, None)
        assert f.upload_time.tzinfo is not None
        assert await files.get_file(tx, fid(1)) == f
        assert await files.get_file(tx, "missing") is None
    with pytest.raises(rawdb.UniqueViolation):
        async with store_pool.transaction() as tx:
            await add(tx, 1)
    with pytest.raises(rawdb.ValidationError, match="file_size"):
        async with store_pool.transaction() as tx:
            await files.create_file_record(tx, fid(2), "a", "b", "c", None, "10", "m", "r")  # type: ignore[arg-type]


async def test_list_count_and_filters(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        for n, session in ((1, "s1"), (2, "s1"), (3, "s2"), (4, None), (5, "s1")):
            await add(tx, n, session)
        assert await files.delete_file(tx, fid(2), now=T0)
    await set_column(store_pool, "uploaded_files", "upload_time", T0)
    async with store_pool.transaction() as tx:
        ids = lambda rows: [r.file_id for r in rows]  # noqa: E731
        assert ids(await files.list_files(tx)) == [fid(5), fid(4), fid(3), fid(1)]
        assert ids(await files.list_files(tx, active_only=False)) == [fid(n) for n in (5, 4, 3, 2, 1)]
        assert ids(await files.list_files(tx, "s1")) == [fid(5), fid(1)]
        assert ids(await files.list_files(tx, "s1", active_only=False)) == [fid(5), fid(2), fid(1)]
        assert ids(await files.list_files(tx, limit=2, offset=1)) == [fid(4), fid(3)]
        assert ids(await files.list_files(tx, offset=3)) == [fid(1)]
        assert ids(await files.get_files_by_session(tx, "s1")) == [fid(5), fid(1)]
        assert ids(await files.get_files_by_session(tx, "s1", limit=1, offset=1)) == [fid(1)]
        assert await files.get_files_by_session(tx, "none") == []
        assert await files.count_files(tx) == 4
        assert await files.count_files(tx, active_only=False) == 5
        assert await files.count_files(tx, "s1") == 2
        assert await files.count_files(tx, "s1", active_only=False) == 3
        assert await files.count_files(tx, "nobody") == 0
        with pytest.raises(rawdb.ValidationError):
            await files.list_files(tx, limit=-7)
    await set_column(store_pool, "uploaded_files", "upload_time", T0 + timedelta(seconds=1),
                     "file_id = :id", {"id": fid(1)})
    async with store_pool.transaction() as tx:
        assert (await files.list_files(tx, limit=1))[0].file_id == fid(1)


async def test_soft_delete_is_idempotent_d22(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await add(tx, 1)
        assert await files.delete_file(tx, fid(1), now=T0) is True
        assert await files.get_file(tx, fid(1)) is None
        assert await files.delete_file(tx, fid(1), now=T0 + timedelta(days=1)) is False
        assert await files.delete_file(tx, "missing") is False
        [row] = await files.list_files(tx, active_only=False)
    assert row.is_deleted is True and row.deleted_at == T0


async def test_hard_delete(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await add(tx, 1)
        await add(tx, 2)
        await files.delete_file(tx, fid(2))
        assert await files.hard_delete_file(tx, fid(1)) is True
        assert await files.hard_delete_file(tx, fid(2)) is True
        assert await files.hard_delete_file(tx, fid(2)) is False
    assert await table_rows(store_pool, "uploaded_files") == []


async def test_cleanup_deleted_files_d11(store_pool: rawdb.Pool) -> None:
    now = T0 + timedelta(days=100)
    async with store_pool.transaction() as tx:
        for n in (1, 2, 3):
            await add(tx, n)
        await files.delete_file(tx, fid(1), now=now - timedelta(days=40))
        await files.delete_file(tx, fid(2), now=now - timedelta(days=10))
        assert await files.cleanup_deleted_files(tx, 30, now=now) == 1
        assert await files.cleanup_deleted_files(tx, 30, now=now) == 0
        remaining = [f.file_id for f in await files.list_files(tx, active_only=False)]
        assert sorted(remaining) == [fid(2), fid(3)]
        assert await files.cleanup_deleted_files(tx, 0, now=now) == 1
        assert await files.cleanup_deleted_files(tx) == 0
        for bad in (-1, 1.5, "3"):
            with pytest.raises(rawdb.ValidationError, match="days_old"):
                await files.cleanup_deleted_files(tx, bad)  # type: ignore[arg-type]
