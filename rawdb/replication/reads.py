"""``pool.transaction(readonly=True)`` on a pool with replicas.

The block asks the router for a connection already inside a read-only
transaction (on a replica, or the primary) and hands out a `RoutedTransaction`.
Two things differ from a transaction on the primary, both because a replica may
vanish under a read without anything being lost:

- A statement that loses its replica's connection is run again on another server
  that has replayed at least as far as the lost one had (the statement is a read:
  running it twice changes nothing). Only under READ COMMITTED, rawdb's default,
  where every statement takes a fresh snapshot anyway; a REPEATABLE READ or
  SERIALIZABLE transaction promised one snapshot and gets `ConnectionLost`.
- A COMMIT whose answer is lost is not an unknown outcome: a read-only
  transaction has nothing to commit, so the block ends normally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from rawdb.errors import ConnectionLost, InterfaceError, PoolClosed
from rawdb.replication.positions import Requirement, token_for
from rawdb.session import SessionState, Transaction, _Bind, end_transaction

if TYPE_CHECKING:
    from rawdb.lease import Holder
    from rawdb.pool import Pool
    from rawdb.replication.replica import Replica
    from rawdb.replication.router import Router

R = TypeVar("R")

_MOVES = 2  # a read outliving more lost replicas than this is failing for another reason
_MOVABLE_ISOLATION = (None, "read committed")


class RoutedTransaction(Transaction):
    """A read-only transaction placed by the router; see the module docstring."""

    __slots__ = ("_isolation", "_moves", "_replica", "_required", "_router")

    def _route(self, router: Router, replica: Replica | None, required: Requirement,
               isolation: str | None) -> None:
        self._router = router
        self._replica = replica
        self._required = required
        self._isolation = isolation
        self._moves = 0

    def commit_token(self) -> str:
        """What this read was guaranteed to see, to pass on (see `Transaction.commit_token`)."""
        if self._state is not SessionState.ENDED:
            raise InterfaceError("commit_token() is known once the transaction block has ended")
        return token_for(self._required)

    @property
    def replica(self) -> str | None:
        """The replica this transaction runs on (redacted URL), or None for the primary."""
        return None if self._replica is None else self._replica.describe()

    async def _statement(self, call: Callable[[str, Any], Awaitable[R]], sql: str, params: Any,
                         bind: _Bind = _Bind.ONE) -> R:
        try:
            return await Transaction._statement(self, call, sql, params, bind)
        except ConnectionLost as lost:
            if not self._may_move(lost):
                raise
            conn = self._conn
            self._moves += 1
            if not await self._router.move(self, lost):
                raise
            if getattr(call, "__self__", None) is conn:  # a method of the lost driver connection
                call = getattr(self._conn, call.__name__)
            return await self._statement(call, sql, params, bind)

    def _may_move(self, lost: ConnectionLost) -> bool:
        return (self._replica is not None and self._moves < _MOVES and self._failure is lost
                and self._isolation in _MOVABLE_ISOLATION and self._holder.stream is None)

    def _detach(self) -> None:
        """Give the connection back (a broken one is replaced by its pool)."""
        self._pool._release(self._holder)
        replica, self._replica = self._replica, None
        if replica is not None:
            replica.in_use -= 1

    def _attach(self, pool: Pool, holder: Holder, replica: Replica | None) -> None:
        self._pool = pool
        self._holder = holder
        self._conn = holder.conn
        self._replica = replica
        self._state = SessionState.OPEN
        self._failure = None

    def __repr__(self) -> str:
        where = self.replica or "the primary"
        return f"<rawdb.Transaction {self._state.value} {self._dialect.name} readonly=True on {where}>"


class ReadBlock:
    """The async context manager behind ``pool.transaction(readonly=True)`` with replicas."""

    __slots__ = ("_after", "_isolation", "_router", "_span", "_tx")

    def __init__(self, router: Router, isolation: str | None, after: str | None) -> None:
        self._router = router
        self._isolation = isolation
        self._after = after
        self._tx: RoutedTransaction | None = None
        self._span: contextlib.AbstractContextManager[None] | None = None

    async def __aenter__(self) -> Transaction:
        if self._tx is not None:
            raise InterfaceError("a transaction block cannot be entered twice")
        router = self._router
        pool = router.pool
        if pool._closed:
            raise PoolClosed("the pool is closed")
        isolation = pool.dialect.check_isolation(self._isolation)  # before taking a connection
        required = router.required(self._after)
        if pool._observer is not None:
            self._span = pool._observer.transaction(True)
            self._span.__enter__()
        try:
            target, holder, replica = await router.open_read(isolation, required)
        except BaseException as exc:
            if self._span is not None:
                self._span.__exit__(type(exc), exc, exc.__traceback__)
            raise
        tx = RoutedTransaction(target, holder, readonly=True)
        tx._route(router, replica, required, isolation)
        self._tx = tx
        return tx

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        tx = self._tx
        assert tx is not None
        try:
            try:
                await end_transaction(tx, clean_exit=et is None)
            except ConnectionLost as lost:
                if not lost.outcome_unknown:
                    raise
                # Nothing was written, so nothing can have been half committed: every
                # statement of the block succeeded, and that is what counts.
                if tx._replica is not None:
                    tx._replica.mark_down(lost)
        except BaseException as error:
            et, exc, tb = type(error), error, error.__traceback__
            raise
        finally:
            tx._detach()
            if self._span is not None:
                self._span.__exit__(et, exc, tb)
