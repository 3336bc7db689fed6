"""Shared fixtures: the same test runs on SQLite, PostgreSQL and MySQL/MariaDB.

Each test gets its own isolated namespace, removed afterwards: a SQLite file in
``tmp_path``, a PostgreSQL schema (selected through ``search_path``) or a MySQL
database. A server that cannot be reached skips its tests with the reason — except
under CI (``CI`` set), where that is a failure: a skipped server proves nothing.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import rawdb

PG_URL = os.environ.get("RAWDB_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("RAWDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
DIALECTS = ("sqlite", "postgresql", "mysql")
SERVER_URLS = {"postgresql": PG_URL, "mysql": MYSQL_URL}

_reachable: dict[str, str | None] = {}

# A user's sample project, run in its own pytest process by test_testing_plugin.py.
collect_ignore = ["plugin_project"]


async def _probe(dialect: str) -> str | None:
    """None if the server answers, else why not."""
    if dialect not in _reachable:
        try:
            pool = await rawdb.create_pool(SERVER_URLS[dialect], min_size=1, max_size=1,
                                           connect_timeout=3, acquire_timeout=5)
            await pool.close()
            _reachable[dialect] = None
        except Exception as exc:
            _reachable[dialect] = f"{type(exc).__name__}: {exc}"
    return _reachable[dialect]


async def require_server(dialect: str) -> None:
    if dialect == "sqlite":
        return
    problem = await _probe(dialect)
    if problem is not None:
        message = f"{dialect} server at {SERVER_URLS[dialect]} unreachable: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: servers are required)")
        pytest.skip(message)


def _with_query(url: str, **params: str) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{k}={v}" for k, v in params.items())


class IsolatedDatabase:
    """Where one test's tables live, and the pool options that select it."""

    def __init__(self, dialect: str, url: str, options: dict[str, Any], name: str) -> None:
        self.dialect = dialect
        self.url = url
        self.options = options
        self.name = name

    async def pool(self, **options: Any) -> rawdb.Pool:
        merged = {**self.options, **options}
        if "connect_options" in self.options and "connect_options" in options:
            mine, theirs = self.options["connect_options"], options["connect_options"]
            combined = {**mine, **theirs}
            if "server_settings" in mine and "server_settings" in theirs:
                combined["server_settings"] = {**mine["server_settings"], **theirs["server_settings"]}
            merged["connect_options"] = combined
        return await rawdb.create_pool(self.url, **merged)


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def isolated(dialect: str, tmp_path: Any) -> AsyncIterator[IsolatedDatabase]:
    await require_server(dialect)
    name = "rawdb_t_" + uuid.uuid4().hex[:12]
    if dialect == "sqlite":
        yield IsolatedDatabase(dialect, f"sqlite:///{tmp_path / 'test.db'}", {}, name)
        return
    admin = await rawdb.create_pool(SERVER_URLS[dialect], min_size=1, max_size=1)
    try:
        async with admin.connection() as conn:
            if dialect == "postgresql":
                await conn.execute_verbatim(f"CREATE SCHEMA {name}")
                db = IsolatedDatabase(dialect, PG_URL, {
                    "connect_options": {"server_settings": {"search_path": name}}}, name)
            else:
                await conn.execute_verbatim(
                    f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                base = MYSQL_URL.rsplit("/", 1)[0]
                db = IsolatedDatabase(dialect, f"{base}/{name}", {}, name)
        yield db
    finally:
        async with admin.connection() as conn:
            if dialect == "postgresql":
                await conn.execute_verbatim(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            else:
                await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


@pytest.fixture
async def pool(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    p = await isolated.pool(max_size=5, acquire_timeout=10)
    try:
        yield p
    finally:
        await asyncio.wait_for(p.close(timeout=5), 30)
