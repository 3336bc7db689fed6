"""Small helpers shared by the core tests (waiting on conditions, server-side ids)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import rawdb


async def eventually(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until ``condition()`` holds, polling the event loop; fail after ``timeout``.

    Used for things that happen in the pool's background tasks (a reaped idle
    connection, a finished reset): the test states the outcome it needs and how
    long it may take, instead of sleeping a guessed amount.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def backend_id(session: rawdb.Session) -> object:
    """The server's id for the session's connection (SQLite: the Python object)."""
    name = session.dialect.name
    if name == "postgresql":
        return await session.fetch_val("SELECT pg_backend_pid()")
    if name == "mysql":
        return await session.fetch_val("SELECT CONNECTION_ID()")
    return id(session._conn)


async def kill_backend(admin: rawdb.Session, dialect: str, ident: object) -> None:
    if dialect == "postgresql":
        # With a timeout the call waits until the backend has really gone.
        await admin.fetch_val("SELECT pg_terminate_backend(:pid, 5000)", {"pid": ident})
    else:
        await admin.execute_verbatim(f"KILL {int(ident)}")  # type: ignore[call-overload]
