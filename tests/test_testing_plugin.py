"""rawdb's pytest plugin, used as a user's project would: every test rolled back.

The sample project in tests/plugin_project migrates its own schema once, then runs
200 tests that each find the tables empty and write rows through ordinary service
code (nested pool.transaction() blocks, a FastAPI dependency, concurrent blocks).
It runs in its own pytest process on each dialect; afterwards every table of its
database must be empty, including after a run where one test fails on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import rawdb
from tests.conftest import SERVER_URLS, require_server

PROJECT = Path(__file__).parent / "plugin_project"


@pytest.fixture
async def project_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own for the sample project (PostgreSQL/MySQL: created and dropped)."""
    await require_server(dialect)
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'project.db'}"
        return
    name = "rawdb_plugin_" + uuid.uuid4().hex[:10]
    async with await rawdb.create_pool(SERVER_URLS[dialect], max_size=1) as admin:
        async with admin.connection() as conn:
            await conn.execute_verbatim(f"CREATE DATABASE {name}")
        try:
            yield SERVER_URLS[dialect].rsplit("/", 1)[0] + "/" + name
        finally:
            async with admin.connection() as conn:
                if dialect == "postgresql":
                    await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                else:
                    await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name}")


def run_project(url: str, *args: str, fail_one: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RAWDB_TEST_"))}
    env["RAWDB_TEST_URL"] = url
    if fail_one:
        env["SAMPLE_FAIL_ONE"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)


async def table_counts(url: str) -> dict[str, int]:
    async with await rawdb.create_pool(url, max_size=1) as pool, pool.connection() as conn:
        return {table: int(await conn.fetch_val(f"SELECT count(*) FROM {table}"))
                for table in ("accounts", "ledger")}


async def test_every_test_of_a_project_is_rolled_back(project_url: str) -> None:
    result = run_project(project_url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "204 passed" in result.stdout, result.stdout[-2000:]
    assert await table_counts(project_url) == {"accounts": 0, "ledger": 0}


async def test_a_failing_test_leaves_no_state_behind(project_url: str) -> None:
    result = run_project(project_url, "-k", "failure_leaves or starts_empty_and_writes and 1",
                         fail_one=True)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 failed" in result.stdout and "passed" in result.stdout, result.stdout[-2000:]
    assert await table_counts(project_url) == {"accounts": 0, "ledger": 0}
