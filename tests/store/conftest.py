"""Fixtures of the store suite: every test runs on four databases.

``sqlite``, ``postgresql`` and ``mysql`` are fresh databases built from
``sql/migrations/<dialect>``; ``sqlite-legacy`` is a file the *old* runner made
(scripts v001-v008 through ``executescript`` + ``PRAGMA user_version``, with the
old system's sample rows) and that rawdb then upgraded: the same tests must pass
on it unchanged (issue 4, point 6).

One database per test module and backend (a file, a PostgreSQL schema, a MySQL
database), dropped afterwards; every test starts from empty tables. A server
that cannot be reached skips its tests with the reason, except when ``CI`` is
set, where that fails: a skipped server proves nothing.

The schema is made by ``pool.migrate()``, which also upgrades the legacy file.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import legacy_db  # tests/legacy_db.py (tests/ is on sys.path: it holds a conftest.py)
import pytest

import rawdb
from rawdb.store.crypto import FernetCipher

PG_URL = os.environ.get("RAWDB_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("RAWDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
SERVER_URLS = {"postgresql": PG_URL, "mysql": MYSQL_URL}
BACKENDS = ("sqlite", "sqlite-legacy", "postgresql", "mysql")
TABLES = (
    "llm_profiles", "mcp_profiles", "tasks", "uploaded_files", "voice_profiles",
    "composio_toolkits", "credentials", "schedules", "workflow_skills",
)


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
        await pool.migrate()
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


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=BACKENDS)
def store_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreDatabase]:
    # Module scope, but pools are bound to an event loop and every test has its
    # own: make the database here on a private loop, open pools per test.
    backend = str(request.param)
    db = asyncio.run(create_database(backend, tmp_path_factory.mktemp("store")))
    try:
        yield db
    finally:
        asyncio.run(drop_database(db))


@pytest.fixture
async def store_pool(store_database: StoreDatabase) -> AsyncIterator[rawdb.Pool]:
    """A pool on the module's database, with all nine tables emptied first."""
    pool = await store_database.pool(max_size=8, acquire_timeout=30)
    try:
        async with pool.transaction() as tx:
            for table in TABLES:
                await tx.execute(f"DELETE FROM {table}")
        yield pool
    finally:
        await asyncio.wait_for(pool.close(timeout=5), 30)


@pytest.fixture
def dialect_name(store_database: StoreDatabase) -> str:
    return store_database.dialect


@pytest.fixture(scope="session")
def cipher() -> FernetCipher:
    return FernetCipher([FernetCipher.generate_key()])
