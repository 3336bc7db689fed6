"""Fixtures of the store suite: every test runs on four databases.

``sqlite``, ``postgresql`` and ``mysql`` are fresh databases built from
``sql/migrations/<dialect>``; ``sqlite-legacy`` is a file the *old* runner made
(scripts v001-v008 through ``executescript`` + ``PRAGMA user_version``, with the
old system's sample rows) and that rawdb then upgraded: the same tests must pass
on it unchanged: rawdb must take over files the old system made.

One database per test module and backend (a file, a PostgreSQL schema, a MySQL
database), dropped afterwards; every test starts from empty tables. A server
that cannot be reached skips its tests with the reason, except when ``CI`` is
set, where that fails: a skipped server proves nothing.

The schema is made by ``pool.migrate()``, which also upgrades the legacy file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from store_helpers import BACKENDS, TABLES, StoreDatabase, create_database, drop_database

import rawdb
from rawdb.store.crypto import FernetCipher

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
