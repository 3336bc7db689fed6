"""SQLAlchemy 2 async, configured as the old system was (optional: the ``bench`` extra).

- ``sa_orm``: the ORM, one session per request (``expire_on_commit=False``), objects
  converted to the same `Task` Struct the others return.
- ``sa_orm_objects``: the same, returning the ORM objects (W1 and W3 only).
- ``sa_core``: Core with ``text()`` and rows mapped by position.
Engines: SQLite ``StaticPool`` (one connection shared by every session,
``check_same_thread=False``, ``timeout=30``); servers ``pool_size=20,
max_overflow=30, pool_pre_ping=True, pool_recycle=3600``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import JSON, DateTime, String, Text, func, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from benchmarks.contenders.base import Contender
from benchmarks.contenders.values import ROW_MAPPERS, aware, decode_meta, param_adapters, task_params
from benchmarks.data import COLUMNS, INSERT_COLUMNS, UTC, Task, WrittenTask, named_sql

_to_builtins = msgspec.to_builtins


class Base(DeclarativeBase):
    pass


class TaskRow(Base):
    __tablename__ = "tasks"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36))
    task_description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(9), default="pending")
    llm_profile_name: Mapped[str] = mapped_column(String(100))
    upload_files_path: Mapped[str | None] = mapped_column(String(500))
    workspace_dir: Mapped[str | None] = mapped_column(String(500))
    mcp_server_config: Mapped[str | None] = mapped_column(Text)
    task_result: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    report_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    task_metadata: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"))
    agent_mode: Mapped[str | None] = mapped_column(String(50), default="thinking")

    __mapper_args__ = {"eager_defaults": False}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return aware(value) if value.tzinfo is None else value.astimezone(UTC)


def orm_to_task(o: TaskRow) -> Task:
    """An ORM object as the `Task` Struct every contender returns."""
    return Task(o.task_id, o.session_id, o.task_description, o.status, o.llm_profile_name,
                o.upload_files_path, o.workspace_dir, o.mcp_server_config, o.task_result,
                o.error_message, o.report_path, _utc(o.created_at), _utc(o.updated_at),  # type: ignore[arg-type]
                _utc(o.started_at), _utc(o.completed_at), decode_meta(o.task_metadata), o.agent_mode)


def make_engine(target: Any) -> AsyncEngine:
    if target.dialect == "sqlite":
        return create_async_engine(target.url("aiosqlite"), poolclass=StaticPool,
                                   connect_args={"check_same_thread": False, "timeout": 30})
    driver = "asyncpg" if target.dialect == "postgresql" else "aiomysql"
    url = target.url(driver) + ("?charset=utf8mb4" if driver == "aiomysql" else "")
    return create_async_engine(url, pool_size=20, max_overflow=30, pool_pre_ping=True,
                               pool_recycle=3600)


ENGINE_SETUP = {
    "sqlite": "StaticPool (one shared connection), check_same_thread=False, timeout=30",
    "server": "pool_size=20, max_overflow=30, pool_pre_ping=True, pool_recycle=3600",
}


class _SQLAlchemy(Contender):
    _engine: AsyncEngine

    @property
    def setup(self) -> str:
        return ENGINE_SETUP["sqlite" if self.target.dialect == "sqlite" else "server"]

    async def open(self, *, concurrent: bool) -> None:
        self._engine = make_engine(self.target)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False, class_=AsyncSession)

    async def close(self) -> None:
        await self._engine.dispose()


class SAOrmContender(_SQLAlchemy):
    key = "sa_orm"

    @property
    def label(self) -> str:
        return "SQLAlchemy ORM → Struct"

    async def _get(self, task_id: str) -> TaskRow | None:
        async with self._sessions() as session, session.begin():
            return await session.get(TaskRow, task_id)

    async def _list(self, session_id: str) -> Sequence[TaskRow]:
        query = (select(TaskRow).where(TaskRow.session_id == session_id)
                 .order_by(TaskRow.created_at.desc(), TaskRow.task_id.desc()))
        async with self._sessions() as session, session.begin():
            return (await session.scalars(query)).all()

    async def read_one(self, task_id: str) -> Any:
        row = await self._get(task_id)
        return None if row is None else orm_to_task(row)

    async def list_session(self, session_id: str) -> list[Any]:
        return [orm_to_task(o) for o in await self._list(session_id)]

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        values = {n: getattr(task, n) for n in INSERT_COLUMNS}
        values["task_metadata"] = _to_builtins(task.task_metadata)
        async with self._sessions() as session, session.begin():
            row = TaskRow(**values)
            session.add(row)
            await session.flush()
            row.status = "running"
            row.started_at = written.started_at

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        rows = []
        for t in tasks:
            values = msgspec.structs.asdict(t)
            values["task_metadata"] = _to_builtins(t.task_metadata)
            rows.append(values)
        async with self._sessions() as session, session.begin():
            await session.execute(insert(TaskRow), rows)

    def as_task(self, obj: Any) -> Task:
        return obj if isinstance(obj, Task) else orm_to_task(obj)


class SAOrmObjectsContender(SAOrmContender):
    key = "sa_orm_objects"
    workloads = frozenset({"W1", "W3"})

    @property
    def label(self) -> str:
        return "SQLAlchemy ORM objects"

    async def read_one(self, task_id: str) -> Any:
        return await self._get(task_id)

    async def list_session(self, session_id: str) -> list[Any]:
        return list(await self._list(session_id))


class SACoreContender(_SQLAlchemy):
    key = "sa_core"

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._map = ROW_MAPPERS[target.dialect]
        self._select_one = text(named_sql("select_one"))
        self._list_session = text(named_sql("list_session"))
        self._insert = text(named_sql("insert"))
        self._update = text(named_sql("update_status"))
        self._insert_all = text(named_sql("insert_all"))
        self._insert_adapt = param_adapters(target.dialect, INSERT_COLUMNS)
        self._all_adapt = param_adapters(target.dialect, COLUMNS)
        self._ts = param_adapters(target.dialect, ("started_at",))[0]

    @property
    def label(self) -> str:
        return "SQLAlchemy Core text()"

    async def read_one(self, task_id: str) -> Task | None:
        async with self._engine.begin() as conn:
            row = (await conn.execute(self._select_one, {"task_id": task_id})).first()
        return None if row is None else self._map(row)

    async def list_session(self, session_id: str) -> list[Task]:
        async with self._engine.begin() as conn:
            rows = (await conn.execute(self._list_session, {"session_id": session_id})).all()
        mapper = self._map
        return [mapper(r) for r in rows]

    async def write_one(self, written: WrittenTask) -> None:
        task = written.task
        values = dict(zip(INSERT_COLUMNS, task_params(task, INSERT_COLUMNS, self._insert_adapt),
                          strict=True))
        async with self._engine.begin() as conn:
            await conn.execute(self._insert, values)
            await conn.execute(self._update, {"status": "running", "task_id": task.task_id,
                                              "started_at": self._ts(written.started_at)})

    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        adapt = self._all_adapt
        rows = [dict(zip(COLUMNS, task_params(t, COLUMNS, adapt), strict=True)) for t in tasks]
        async with self._engine.begin() as conn:
            await conn.execute(self._insert_all, rows)
