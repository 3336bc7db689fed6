"""pytest plugin: test your code against a real database, every test rolled back.

Enable it in a project's ``conftest.py`` (``pytest_plugins = ["rawdb.testing"]``)
or on the command line (``-p rawdb.testing``); installed rawdb also registers it
as a pytest11 plugin, which adds the fixtures below and does nothing until a test
asks for one. Configuration (environment wins over the ini file):

- ``RAWDB_TEST_URL`` / ini ``rawdb_url``: the database; default a temporary
  SQLite file for the session.
- ``RAWDB_TEST_MIGRATIONS`` / ini ``rawdb_migrations``: the folder of migration
  scripts applied once per session, or ``store`` for rawdb's bundled application
  schema; unset, nothing is migrated.

``rawdb_pool`` is a `rawdb.Pool` whose work is rolled back when the test ends:
``pool.transaction()`` blocks in the code under test become savepoints of the
test's transaction (see `rawdb.pinned` for how, and what cannot be rolled back).
A FastAPI app under test uses it through its dependency when the test sets
``app.state.rawdb_pool = rawdb_pool`` (and does not run the app's lifespan).
Needs pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

import rawdb
from rawdb.pinned import PinnedTransaction

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture says what is missing when used
    pytest_asyncio = None  # type: ignore[assignment]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("rawdb_url", "database URL for the rawdb_pool fixture (RAWDB_TEST_URL wins); "
                  "default: a temporary SQLite file")
    parser.addini("rawdb_migrations", "migrations folder applied once per session, or 'store' for "
                  "rawdb's bundled schema (RAWDB_TEST_MIGRATIONS wins); default: none")


def _setting(config: pytest.Config, env: str, ini: str) -> str:
    return os.environ.get(env) or str(config.getini(ini) or "")


async def _migrate(url: str, migrations: str) -> None:
    from rawdb.migrations import STORE_MIGRATIONS, MigrationSource

    source: MigrationSource = STORE_MIGRATIONS if migrations == "store" else migrations
    async with await rawdb.create_pool(url, max_size=2) as pool:
        await pool.migrate(source)


def _run_outside_the_test_loop(coro: Any) -> None:
    """Session set-up runs before any test's event loop exists, or inside one that
    pytest-asyncio is running: a thread of its own works in both cases."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="rawdb-test-migrate")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@pytest.fixture(scope="session")
def rawdb_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database's URL, migrated once for the session."""
    config = request.config
    url = _setting(config, "RAWDB_TEST_URL", "rawdb_url")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('rawdb') / 'test.db'}"
    migrations = _setting(config, "RAWDB_TEST_MIGRATIONS", "rawdb_migrations")
    if migrations:
        _run_outside_the_test_loop(_migrate(url, migrations))
    return url


async def _pinned_pool(url: str) -> AsyncIterator[rawdb.Pool]:
    pool = await rawdb.create_pool(url, min_size=1, max_size=2)
    pinned = PinnedTransaction(pool)
    try:
        await pinned.start()
        pool._pinned = pinned
        yield pool
    finally:
        try:
            await pinned.rollback()
        finally:
            pool._pinned = None
            await pool.close()


if pytest_asyncio is not None:
    @pytest_asyncio.fixture
    async def rawdb_pool(rawdb_url: str) -> AsyncIterator[rawdb.Pool]:
        """A pool whose every block runs in the test's transaction, rolled back at the end."""
        async for pool in _pinned_pool(rawdb_url):
            yield pool
else:  # pragma: no cover
    @pytest.fixture
    def rawdb_pool() -> None:
        raise pytest.UsageError("the rawdb_pool fixture needs pytest-asyncio (pip install pytest-asyncio)")
