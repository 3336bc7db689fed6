"""A pool whose every block runs inside one outer transaction that is rolled back.

This is how a test suite runs the code under test against a real database and
leaves nothing behind: the test takes one connection and opens a transaction;
from then on ``pool.transaction()`` is a savepoint of it and ``pool.connection()``
a savepoint whose statements follow its rules; at the end of the test the outer
transaction rolls back, whatever the code committed. One connection serves the
whole test (on SQLite: the writer, so the one-writer rule holds and every read
sees the test's own writes); blocks opened by concurrent tasks take turns, and a
block nested in another block of the same task nests as a savepoint.

What cannot be rolled back this way: DDL on MySQL (it commits implicitly, and
rawdb refuses it inside a transaction), sequence values (PostgreSQL, MySQL
auto-increment counters), and work done by other processes or other pools.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from rawdb.errors import InterfaceError
from rawdb.session import Connection, SavepointBlock, SessionState, Transaction, end_transaction

if TYPE_CHECKING:
    from rawdb.lease import Holder
    from rawdb.pool import Pool


class PinnedTransaction:
    """The outer transaction of a pinned pool, and the blocks handed out inside it."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._holder: Holder | None = None
        self._outer: Transaction | None = None
        self._turn = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def start(self) -> None:
        pool = self._pool
        role = pool.dialect.route(False)
        holder = await pool._acquire_and_prepare(
            role, lambda conn: conn.begin(False, None, owns_session=True), "BEGIN")
        self._holder = holder
        self._outer = Transaction(pool, holder, readonly=False)

    async def rollback(self) -> None:
        """End the test: undo everything, give the connection back."""
        outer, holder = self._outer, self._holder
        if outer is None or holder is None:
            return
        self._outer = None
        try:
            await end_transaction(outer, clean_exit=False)
        finally:
            self._pool._release(holder)

    @contextlib.asynccontextmanager
    async def _turn_for_this_task(self) -> AsyncIterator[Transaction]:
        outer = self._outer
        if outer is None:
            raise InterfaceError("the test's transaction has ended; this pool serves nothing more")
        task = asyncio.current_task()
        if self._owner is task and task is not None:
            # Nested in a block of the same task: a savepoint inside that one.
            self._depth += 1
            try:
                yield outer
            finally:
                self._depth -= 1
            return
        async with self._turn:
            self._owner = task
            try:
                yield outer
            finally:
                self._owner = None

    @contextlib.asynccontextmanager
    async def transaction(self, readonly: bool, isolation: str | None) -> AsyncIterator[Transaction]:
        # A bad option fails as it would for real; a valid one cannot take effect
        # inside the test's transaction (nor can readonly: the block is a savepoint).
        self._pool.dialect.check_isolation(isolation)
        async with self._turn_for_this_task() as outer, SavepointBlock(outer) as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._turn_for_this_task() as outer, SavepointBlock(outer) as sp:
            conn = _PinnedConnection(self._pool, sp._holder)
            conn._tx = sp  # its statements run inside the test's transaction
            try:
                yield conn
            finally:
                conn._state = SessionState.ENDED


class _PinnedConnection(Connection):
    """``pool.connection()`` inside a test: ``conn.transaction()`` is a savepoint.

    ``readonly`` and ``isolation`` are checked but cannot take effect inside the
    test's transaction."""

    __slots__ = ()

    def transaction(self, *, readonly: bool = False, isolation: str | None = None) -> Any:
        self._dialect.check_isolation(isolation)
        if self._tx is None:
            raise InterfaceError("this connection has been released")
        return SavepointBlock(self._tx)
