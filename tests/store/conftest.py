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

The schema is made by ``pool.migrate()`` when the migration runner is
importable, else by applying the scripts here (``apply_scripts``).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import rawdb
from rawdb.queries import sql_root
from rawdb.store.crypto import FernetCipher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import legacy_db  # noqa: E402  (tests/legacy_db.py: builds the old system's files)

PG_URL = os.environ.get("RAWDB_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("RAWDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
SERVER_URLS = {"postgresql": PG_URL, "mysql": MYSQL_URL}
BACKENDS = ("sqlite", "sqlite-legacy", "postgresql", "mysql")
TABLES = (
    "llm_profiles", "mcp_profiles", "tasks", "uploaded_files", "voice_profiles",
    "composio_toolkits", "credentials", "schedules", "workflow_skills",
)


# --------------------------------------------------------------------------- schema


def _sqlite_statements(text: str) -> list[str]:
    return legacy_db.split_sqlite_script(text)


def _mysql_statements(text: str) -> list[str]:
    """Split a MySQL script on ``;`` outside strings, quoted names and comments.

    rawdb's MySQL scripts need nothing more (no ``DELIMITER``, single-statement
    triggers); the migration runner has the complete splitter.
    """
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            buf.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("--", i) or ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch == ";":
            statement = "".join(buf).strip()
            if statement:
                statements.append(statement)
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    if "".join(buf).strip():
        statements.append("".join(buf).strip())
    return statements


def _scripts(dialect: str, start: int) -> list[Path]:
    paths = sorted((sql_root() / "migrations" / dialect).glob("v*.sql"))
    return [p for p in paths if int(re.match(r"v(\d+)", p.name).group(1)) >= start]  # type: ignore[union-attr]


async def apply_scripts(pool: rawdb.Pool, start: int = 1) -> None:
    """Apply ``v{start}``... of the pool's dialect (stand-in until ``pool.migrate()`` exists)."""
    dialect = pool.dialect.name
    for path in _scripts(dialect, start):
        text = path.read_text(encoding="utf-8")
        version = int(path.name[1:4])
        async with pool.transaction() as tx:
            if dialect == "postgresql":
                await tx.execute_verbatim(text)
            else:
                split = _sqlite_statements if dialect == "sqlite" else _mysql_statements
                for statement in split(text):
                    await tx.execute_verbatim(statement)
            if dialect == "sqlite":
                await tx.execute_verbatim(f"PRAGMA user_version = {version}")


def _runner_available() -> bool:
    try:
        from rawdb.migrations import migrate_pool  # noqa: F401
    except ImportError:
        return False
    return True


async def build_schema(pool: rawdb.Pool, *, legacy: bool = False) -> None:
    if _runner_available():
        await pool.migrate()
    else:
        await apply_scripts(pool, start=legacy_db.LEGACY_MAX_VERSION + 1 if legacy else 1)


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
        await build_schema(pool, legacy=legacy is not None)
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
