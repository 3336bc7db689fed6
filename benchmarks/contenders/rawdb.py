"""rawdb itself, used the way its README shows (and, on SQLite, with synchronous=NORMAL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

import rawdb
from benchmarks.contenders.base import SERVER_POOL_SIZE, Contender
from benchmarks.data import COLUMNS, INSERT_COLUMNS, Task, WrittenTask, named_sql
from benchmarks.databases import Target

SELECT_ONE = named_sql("select_one")
LIST_SESSION = named_sql("list_session")
INSERT = named_sql("insert")
UPDATE = named_sql("update_status")
_astuple = msgspec.structs.astuple


class RawdbContender(Contender):
    key = "rawdb"
    sqlite_options: dict[str, Any] = {}

    _pool: rawdb.Pool

    @property
    def label(self) -> str:
        return "rawdb"

    @property
    def setup(self) -> str:
        if self.target.dialect == "sqlite":
            return "default pool: 1 writer (BEGIN IMMEDIATE) + up to 9 WAL readers"
        return f"pool max_size={SERVER_POOL_SIZE}"

    async def open(self, *, concurrent: bool) -> None:
        options: dict[str, Any] = dict(self.sqlite_options)
        if self.target.dialect != "sqlite":
            options = {"min_size": SERVER_POOL_SIZE if concurrent else 1, "max_size": SERVER_POOL_SIZE}
        self._pool = await rawdb.create_pool(self.target.url(), **options)

    async def close(self) -> None:
        await self._pool.close()

    async def read_one(self, task_id: str) -> Task | None:
        async with self._pool.transaction(readonly=True) as tx:
            return await tx.fetch_one(SELECT_ONE, {"task_id": task_id}, into=Task)

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        params = {name: getattr(task, name) for name in INSERT_COLUMNS}
        async with self._pool.transaction() as tx:
            await tx.execute(INSERT, params)
            await tx.execute(UPDATE, {"status": "running", "started_at": written.started_at,
                                      "task_id": task.task_id})

    async def list_session(self, session_id: str) -> list[Task]:
        async with self._pool.transaction(readonly=True) as tx:
            return await tx.fetch_all(LIST_SESSION, {"session_id": session_id}, into=Task)

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        async with self._pool.transaction() as tx:
            await tx.copy_records("tasks", COLUMNS, [_astuple(t) for t in tasks])


class RawdbNormalContender(RawdbContender):
    """rawdb with ``synchronous="normal"``: a COMMIT waits for the WAL write, not for its
    fsync. Only commits change, so only W2 and W5 are measured, and only on SQLite."""

    key = "rawdb_normal"
    sqlite_options = {"synchronous": "normal"}

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.workloads = frozenset({"W2", "W5"}) if target.dialect == "sqlite" else frozenset()  # type: ignore[misc]

    @property
    def label(self) -> str:
        return "rawdb (synchronous=NORMAL)"

    @property
    def setup(self) -> str:
        return ("default pool with synchronous='normal': no corruption, but a power loss "
                "may drop the last commits")
