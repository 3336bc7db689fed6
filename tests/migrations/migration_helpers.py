"""Helpers for the migration tests: script folders, lock holders, worker processes.

A module of its own (not ``conftest``): several conftest.py files exist in this
suite and ``from conftest import`` would get whichever was imported last.
The database fixtures (``dialect``, ``isolated``, ``pool``) come from
``tests/conftest.py``: every test runs on SQLite, PostgreSQL and MariaDB, each in
its own file / schema / database, removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import rawdb

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # legacy_db lives there

WORKER = Path(__file__).resolve().parent / "migrate_worker.py"

# Scripts that mean the same on all three dialects.
PORTABLE = {
    "v001_items.sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n",
    "v002_fill.sql": (
        "-- v002: one row and a column\n"
        "INSERT INTO items (id, name) VALUES (1, 'one;1');\n"
        "ALTER TABLE items ADD COLUMN note VARCHAR(100);\n"
    ),
    "v003_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
}


def write_scripts(folder: Path, scripts: Mapping[str, str]) -> Path:
    """Write ``{file name: text}`` into ``folder`` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


async def table_exists(pool: rawdb.Pool, table: str) -> bool:
    name = pool.dialect.name
    async with pool.connection() as conn:
        if name == "sqlite":
            sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :t"
        elif name == "postgresql":
            sql = (
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = :t"
            )
        else:
            sql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :t"
        return bool(await conn.fetch_val(sql, {"t": table}))


async def history(pool: rawdb.Pool) -> list[Any]:
    """The scripts' history rows (version 0, the owner row, is left out)."""
    async with pool.connection() as conn:
        return await conn.fetch_all(
            "SELECT version, name, checksum, success, dirty, statements_done, error, method "
            "FROM rawdb_schema_history WHERE version > 0 ORDER BY version"
        )


@contextlib.asynccontextmanager
async def holding_migration_lock(pool: rawdb.Pool) -> AsyncIterator[None]:
    """Hold what a migrator must wait for, on a connection of its own."""
    from rawdb.migrations.postgresql import lock_key

    async with pool.dedicated_connection() as conn:
        name = pool.dialect.name
        if name == "sqlite":
            await conn.execute_verbatim("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                await conn.execute_verbatim("ROLLBACK")
        elif name == "postgresql":
            key = lock_key(str(await conn.fetch_val("SELECT current_schema()")))
            await conn.fetch_val("SELECT pg_advisory_lock(CAST(:k AS bigint))", {"k": key})
            try:
                yield
            finally:
                await conn.fetch_val("SELECT pg_advisory_unlock(CAST(:k AS bigint))", {"k": key})
        else:
            lock = f"rawdb_migrate:{await conn.fetch_val('SELECT DATABASE()')}"[:64]
            assert await conn.fetch_val("SELECT GET_LOCK(:n, 0)", {"n": lock}) == 1
            try:
                yield
            finally:
                await conn.fetch_val("SELECT RELEASE_LOCK(:n)", {"n": lock})


def start_worker(isolated: Any, directory: Path, *extra: str) -> subprocess.Popen[str]:
    """A separate Python process that migrates ``directory`` and reports JSON lines."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), isolated.url, json.dumps(isolated.options), str(directory), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def read_event(proc: subprocess.Popen[str], kind: str, timeout: float = 30.0) -> dict[str, Any]:
    """Wait (without blocking the loop) for the worker's next line of the given kind."""
    assert proc.stdout is not None
    stdout = proc.stdout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"worker sent no {kind!r} event within {timeout}s")
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), remaining)
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"worker ended before a {kind!r} event; stderr:\n{err}")
        event: dict[str, Any] = json.loads(line)
        if event["event"] == kind:
            return event
