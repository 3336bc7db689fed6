"""Helpers shared by the store tests (imported by name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import legacy_db  # tests/legacy_db.py (tests/ is on sys.path: it holds a conftest.py)
import pytest

import rawdb
from rawdb import store

T = TypeVar("T")

PG_URL = os.environ.get("RAWDB_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("RAWDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
SERVER_URLS = {"postgresql": PG_URL, "mysql": MYSQL_URL}
BACKENDS = ("sqlite", "sqlite-legacy", "postgresql", "mysql")
TABLES = (
    "llm_profiles", "mcp_profiles", "tasks", "uploaded_files", "voice_profiles",
    "composio_toolkits", "credentials", "schedules", "workflow_skills",
)

T0 = datetime(2024, 1, 15, 7, 0, 0, 123456, tzinfo=UTC)
"""A fixed "now" for operations that stamp event times."""

KEYS = {"llm_profiles": "profile_id", "mcp_profiles": "mcp_id", "tasks": "task_id",
        "uploaded_files": "file_id", "voice_profiles": "profile_id"}


async def in_tx(pool: rawdb.Pool, work: Callable[[rawdb.Transaction], Awaitable[T]]) -> T:
    """Run ``work`` in its own committed transaction."""
    async with pool.transaction() as tx:
        return await work(tx)


async def table_rows(pool: rawdb.Pool, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as plain tuples in primary-key order, for "unchanged" checks."""
    key = KEYS.get(table, "id")
    async with pool.transaction() as tx:
        rows = await tx.fetch_all(f"SELECT * FROM {table} ORDER BY {key}")
    return [tuple(row) for row in rows]


def sqlite_rows(path: str | Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def set_column(
    pool: rawdb.Pool, table: str, column: str, value: Any, where: str = "1 = 1",
    params: dict[str, Any] | None = None,
) -> None:
    """Raw UPDATE of one column, as another program (or a test) would issue it."""
    async with pool.transaction() as tx:
        await tx.execute(f"UPDATE {table} SET {column} = :value WHERE {where}",
                         {"value": value, **(params or {})})


async def raw_value(pool: rawdb.Pool, sql: str, params: dict[str, Any] | None = None) -> Any:
    async with pool.transaction() as tx:
        return await tx.fetch_val(sql, params)


# --------------------------------------------------------------------------- servers

_reachable: dict[str, str | None] = {}


async def _probe(dialect: str) -> str | None:
    if dialect not in _reachable:
        try:
            pool = await rawdb.create_pool(
                SERVER_URLS[dialect], min_size=1, max_size=1, connect_timeout=3, acquire_timeout=5
            )
            await pool.close()
            _reachable[dialect] = None
        except Exception as exc:
            _reachable[dialect] = f"{type(exc).__name__}: {exc}"
    return _reachable[dialect]


def skip_or_fail(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: servers are required)")
    pytest.skip(message)


@dataclass
class StoreDatabase:
    """One backend's database for a test module: how to reach it and how it was made."""

    backend: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    legacy: legacy_db.LegacyDb | None = None
    name: str = ""

    @property
    def dialect(self) -> str:
        return self.backend.removesuffix("-legacy")

    async def pool(self, **options: Any) -> rawdb.Pool:
        return await rawdb.create_pool(self.url, **{**self.options, **options})


async def create_database(backend: str, directory: Path) -> StoreDatabase:
    """A new, migrated database for ``backend`` (skips/fails when its server is away)."""
    dialect = backend.removesuffix("-legacy")
    if dialect != "sqlite":
        problem = await _probe(dialect)
        if problem is not None:
            skip_or_fail(f"{dialect} server at {SERVER_URLS[dialect]} unreachable: {problem}")
    name = "rawdb_store_" + uuid.uuid4().hex[:10]
    legacy = None
    if dialect == "sqlite":
        path = directory / f"{name}.db"
        if backend == "sqlite-legacy":
            legacy = legacy_db.make_old_runner_db(path, legacy_db.LEGACY_MAX_VERSION)
        db = StoreDatabase(backend, f"sqlite:///{path}", legacy=legacy)
    else:
        admin = await rawdb.create_pool(SERVER_URLS[dialect], min_size=1, max_size=1)
        try:
            async with admin.connection() as conn:
                if dialect == "postgresql":
                    await conn.execute_verbatim(f"CREATE SCHEMA {name}")
                    db = StoreDatabase(backend, PG_URL, {
                        "connect_options": {"server_settings": {"search_path": name}}})
                else:
                    await conn.execute_verbatim(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
                    db = StoreDatabase(backend, f"{MYSQL_URL.rsplit('/', 1)[0]}/{name}")
        finally:
            await admin.close()
        db.name = name
    pool = await db.pool(max_size=2)
    try:
        await pool.migrate(store.MIGRATIONS)
    finally:
        await pool.close()
    return db


async def drop_database(db: StoreDatabase) -> None:
    if db.dialect == "sqlite":
        return  # tmp_path_factory removes the file
    name = db.name
    admin = await rawdb.create_pool(SERVER_URLS[db.dialect], min_size=1, max_size=1)
    try:
        async with admin.connection() as conn:
            if db.dialect == "postgresql":
                await conn.execute_verbatim(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            else:
                await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name}")
    finally:
        await admin.close()
