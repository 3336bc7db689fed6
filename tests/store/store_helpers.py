"""Helpers shared by the store tests (imported by name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import rawdb

T = TypeVar("T")

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
