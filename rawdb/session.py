"""Transactions and connections: the objects user code runs SQL on.

Both are thin state machines over one pooled connection. Every statement goes
through one guard (`Session._statement`): the session must be open, no other task
may be using the connection at this moment (interleaved statements from two tasks
would silently mix their work), and inside a transaction the statement may not end
it behind the block's back. Driver exceptions are translated to rawdb errors here,
once.

The rule for errors inside a transaction is the same on every dialect: a statement
that fails (in the database or the driver, including timeouts and cancellation)
fails the transaction. PostgreSQL already refuses to go on after an error, while
SQLite and MySQL keep some of the work or, after a deadlock or ``INSERT OR
ROLLBACK``, have silently rolled it all back; one rule means a block can never
report success for work that was not kept. Later statements raise
`TransactionAborted`, and so does the block's exit if the error was caught
inside it; the block rolls back. A nested ``tx.transaction()`` (a savepoint) is how
code carries on after an error it expects: only the savepoint's work is undone.
Errors rawdb raises before sending anything (a missing parameter, a refused
statement) and mapping errors leave the transaction as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from rawdb.errors import (
    ConnectionLost,
    DataError,
    InterfaceError,
    QueryError,
    QueryTimeout,
    RawDBError,
    TransactionAborted,
)
from rawdb.lease import LeaseState
from rawdb.mapping import map_row, map_rows, row_class
from rawdb.sql import compile_sql

if TYPE_CHECKING:
    from rawdb.dialects.base import Dialect, DriverConnection
    from rawdb.lease import Holder
    from rawdb.pool import Pool

T = TypeVar("T")
R = TypeVar("R")
Params = Mapping[str, Any] | None

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_ITERATE_CHUNK = 500


class _Bind(enum.Enum):
    ONE = 1  # one parameter mapping
    MANY = 2  # a sequence of them (executemany)
    NOTHING = 3  # text sent as written


class SessionState(enum.Enum):
    OPEN = "open"
    FAILED = "failed"  # a transaction whose statement failed: it can only roll back
    ENDED = "ended"


class Session:
    """What `Transaction` and `Connection` share: running SQL on one held connection."""

    __slots__ = ("_conn", "_dialect", "_failure", "_holder", "_pool", "_state", "_tx")

    def __init__(self, pool: Pool, holder: Holder) -> None:
        self._pool = pool
        self._holder = holder
        self._conn: DriverConnection = holder.conn
        self._dialect: Dialect = pool.dialect
        self._state = SessionState.OPEN
        self._failure: BaseException | None = None
        # The transaction whose rules this session's statements follow: a Transaction
        # itself; a Connection's open conn.transaction() block, if any (an attribute,
        # not a method: it is read on every statement).
        self._tx: Transaction | None = None

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    # -- the guard every statement passes ------------------------------------------------
    def _enter(self) -> Holder:
        holder = self._holder
        if self._state is SessionState.ENDED:
            raise InterfaceError(f"this {self._what()} has ended; open a new one from the pool")
        tx = self._tx
        if tx is not None and tx._state is SessionState.FAILED:
            raise tx._aborted("this statement was not run")
        if holder.busy:
            raise InterfaceError(f"this {self._what()} is being used by another task; "
                                 "one transaction serves one task at a time")
        if holder.state is LeaseState.BROKEN:  # holder.broken, without the property call
            raise InterfaceError(f"this {self._what()} can no longer be used: an earlier statement was "
                                 "interrupted or lost its connection")
        holder.busy = True
        return holder

    def _what(self) -> str:
        return type(self).__name__.lower()

    def _prepare(self, sql: str, params: Any, bind: _Bind) -> tuple[str, Any]:
        """Compile and bind: rawdb's own checks, before anything is sent."""
        compiled = compile_sql(sql, self._dialect.paramstyle)
        reason = compiled.ends_transaction
        if reason is not None and self._tx is not None:
            raise InterfaceError(
                f"refused inside a transaction: {reason}. The block commits or rolls back "
                "itself; use tx.transaction() for a savepoint, or pool.connection() to "
                "control transactions by hand")
        if bind is _Bind.ONE:
            args: Any = compiled.bind(params, self._dialect.adapt)
        elif bind is _Bind.MANY:
            adapt = self._dialect.adapt
            args = [compiled.bind(one, adapt) for one in params]
        else:
            args = None  # sent as written; compiled only to be classified
        if compiled.stateful:
            self._holder.mark(LeaseState.DIRTY)
        return (sql if bind is _Bind.NOTHING else compiled.text), args

    async def _statement(self, call: Callable[[str, Any], Awaitable[R]], sql: str, params: Any,
                         bind: _Bind = _Bind.ONE) -> R:
        """The one path every statement takes (see the module docstring)."""
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            text, args = self._prepare(sql, params, bind)
            pool = self._pool
            observer = pool._observer
            try:
                if observer is None and pool._statement_timeout is None:
                    # The common case, without the no-op timer's two awaited calls
                    # (a tenth of rawdb's own work on a one-row read).
                    result = await call(text, args)
                else:
                    async with pool.statement_timer():
                        if observer is None:
                            result = await call(text, args)
                        else:
                            result = await observer.statement(sql, lambda: call(text, args))
            except BaseException as exc:
                raise self._fail(exc)
            if self._tx is not None and not self._conn.in_transaction:
                raise self._vanished()
            return result
        finally:
            holder.busy = False

    async def _control(self, call: Callable[[], Awaitable[R]]) -> R:
        """Savepoints and bulk copies: the same guards and failure rule, no SQL text."""
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            async with self._pool.statement_timer():
                return await call()
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False

    def _fail(self, exc: BaseException) -> BaseException:
        """The exception to raise for a failed driver call; records what it means."""
        holder = self._holder
        error: BaseException
        if not isinstance(exc, Exception):  # cancelled mid-statement: state unknown
            holder.mark(LeaseState.BROKEN)
            self._conn.interrupt()  # SQLite's thread would otherwise run the statement to its end
            error = exc
        elif isinstance(exc, RawDBError):
            error = exc
        elif isinstance(exc, TimeoutError):
            holder.mark(LeaseState.BROKEN)
            self._conn.interrupt()
            error = QueryTimeout(
                f"statement exceeded command_timeout={self._pool.options.command_timeout}s and was interrupted")
            error.__cause__ = exc
        else:
            translated = self._dialect.translate(exc)
            if translated is None and isinstance(exc, (TypeError, ValueError, OverflowError)):
                # A driver refusing a value while encoding it (asyncpg's COPY, say):
                # the caller gets the typed error bad input always gets.
                translated = DataError(f"the {self._dialect.name} driver could not send a value: "
                                       f"{type(exc).__name__}: {exc}")
            if translated is None:
                error = exc
            else:
                error = translated
                error.__cause__ = exc
        if isinstance(error, (ConnectionLost, QueryTimeout)):
            holder.mark(LeaseState.BROKEN)
            if isinstance(error, ConnectionLost):
                self._pool._suspect_older(holder)  # a restarted server: ping the others before use
        tx = self._tx
        if tx is not None and tx._state is SessionState.OPEN:
            tx._state = SessionState.FAILED
            tx._failure = error
        return error

    def _vanished(self) -> TransactionAborted:
        """The transaction ended although the statement succeeded (SQLite rolls back
        silently in some conflict and trigger paths): what follows would autocommit."""
        error = TransactionAborted(
            "the transaction ended inside the block (the database rolled it back or a "
            "statement ended it); the block's work is not kept")
        tx = self._tx
        assert tx is not None
        tx._state = SessionState.FAILED
        tx._failure = error
        return error

    # -- queries -------------------------------------------------------------------------
    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the rows it affected (matched, on MySQL)."""
        return await self._statement(self._conn.execute, sql, params)

    async def executemany(self, sql: str, seq_of_params: Sequence[Mapping[str, Any]]) -> int:
        """Run one statement per parameter set; returns the rows affected in total.

        Every dialect counts the same way (asyncpg has no count for its batch call,
        so on PostgreSQL each set runs as its own prepared execution). For bulk
        inserts use `copy_records`, which takes each driver's fastest path.
        """
        return await self._statement(self._conn.executemany, sql, seq_of_params, _Bind.MANY)

    @overload
    async def fetch_all(self, sql: str, params: Params = None, *, into: type[T]) -> list[T]: ...
    @overload
    async def fetch_all(self, sql: str, params: Params = None, *, into: None = None) -> list[Any]: ...

    async def fetch_all(self, sql: str, params: Params = None, *, into: type[Any] | None = None) -> list[Any]:
        """All rows: Structs with ``into``, else rows indexable by column name and position."""
        rows, columns = await self._statement(self._conn.fetch, sql, params)
        if not rows:
            return []
        if into is not None:
            return map_rows(into, columns, self._dialect.values, rows)
        return self._plain_rows(rows, columns)

    @overload
    async def fetch_one(self, sql: str, params: Params = None, *, into: type[T]) -> T | None: ...
    @overload
    async def fetch_one(self, sql: str, params: Params = None, *, into: None = None) -> Any: ...

    async def fetch_one(self, sql: str, params: Params = None, *, into: type[Any] | None = None) -> Any:
        """The first row, or None when there is none."""
        row, columns = await self._statement(self._conn.fetchrow, sql, params)
        if row is None:
            return None
        if into is not None:
            return map_row(into, columns, self._dialect.values, row)
        return self._plain_rows([row], columns)[0]

    async def fetch_val(self, sql: str, params: Params = None) -> Any:
        """The first column of the first row, or None."""
        row, _ = await self._statement(self._conn.fetchrow, sql, params)
        return None if row is None else row[0]

    def iterate(self, sql: str, params: Params = None, *, into: type[Any] | None = None) -> RowStream:
        """Stream a large result in chunks, without loading it all.

        ``async for row in tx.iterate(...)``. While the stream is open the connection
        runs nothing else (MySQL could not). Leaving the loop early (``break``,
        ``return``) is fine: the abandoned stream is closed before the next statement
        or the end of the transaction. ``async with tx.iterate(...) as rows`` closes it
        at once.
        """
        return RowStream(self, sql, params, into)

    async def _stream(self, sql: str, params: Params, into: type[Any] | None,
                      me: list[AsyncGenerator[Any, None]]) -> AsyncGenerator[Any, None]:
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        stream: AsyncGenerator[tuple[list[Any], tuple[str, ...]], None] | None = None
        try:
            text, args = self._prepare(sql, params, _Bind.ONE)
            holder.stream = me[0]
            holder.stream_abandoned = False
            stream = self._conn.stream(text, args, _ITERATE_CHUNK)
            no_timer = self._pool._statement_timeout is None
            while True:
                holder.busy = True
                try:
                    if no_timer:
                        rows, columns = await stream.__anext__()
                    else:
                        async with self._pool.statement_timer():
                            rows, columns = await stream.__anext__()
                except StopAsyncIteration:
                    return
                except BaseException as exc:
                    raise self._fail(exc)
                holder.busy = False
                # A chunk is mapped in one call; its rows are then handed out by this
                # generator's own C-level __anext__ (see RowStream).
                if into is not None:
                    items = map_rows(into, columns, self._dialect.values, rows)
                else:
                    items = self._plain_rows(rows, columns)
                for item in items:
                    yield item
        finally:
            try:
                if stream is not None and not holder.broken:
                    await stream.aclose()
            finally:
                holder.busy = False
                if holder.stream is me[0]:
                    holder.stream = None

    async def _enter_after_stream(self) -> Holder:
        """A stream is open on this connection: close it if its loop was left, else refuse."""
        holder = self._holder
        stream = holder.stream
        if stream is not None:
            if not holder.stream_abandoned:
                raise InterfaceError(
                    "an iterate() over this connection is still open; finish the loop "
                    "(or use 'async with tx.iterate(...)') before running another statement"
                )
            await close_abandoned_stream(holder)
        return self._enter()

    async def execute_verbatim(self, sql: str) -> int:
        """Send ``sql`` exactly as written, without parameters (migrations, DDL).

        On PostgreSQL the text may hold several statements (simple-query protocol);
        SQLite and MySQL take one statement.
        """

        return await self._statement(self._execute_verbatim, sql, None, _Bind.NOTHING)

    async def _execute_verbatim(self, text: str, _: None) -> int:
        return await self._conn.execute_verbatim(text)

    async def copy_records(self, table: str, columns: Sequence[str],
                           records: Sequence[Sequence[Any]]) -> int:
        """Bulk insert: COPY on PostgreSQL, multi-row INSERT on MySQL, one prepared
        INSERT run per row in a single thread hop on SQLite. Returns rows inserted."""
        for name in (table, *columns):
            if not _IDENTIFIER.match(name):
                raise QueryError(f"copy_records: {name!r} is not a plain identifier")
        rows = records if isinstance(records, (list, tuple)) else list(records)
        prepared = self._dialect.adapt_records(rows, len(columns)) if rows else []
        conn = self._conn

        async def copy() -> int:
            return await conn.copy_records(table, columns, prepared) if prepared else 0

        return await self._control(copy)

    def _plain_rows(self, rows: list[Any], columns: tuple[str, ...]) -> list[Any]:
        if not rows or not isinstance(rows[0], tuple):
            return rows  # asyncpg Records already index by name and position
        cls = row_class(columns)
        return [cls(row) for row in rows]


class RowStream:
    """The async iterator ``iterate()`` returns; also an async context manager.

    ``async for`` takes ``__anext__`` from the type and calls it once per row. Here it
    is an instance slot holding the row generator's own ``__anext__`` (implemented in
    C), so a row costs no Python frame beyond the generator's resumption: a Python
    ``async def __anext__`` would create a coroutine per row, a third of the time per
    row of a streamed read. The loop holds this object, not the generator, so that
    leaving the loop drops it at once (see ``__del__``)."""

    __slots__ = ("__anext__", "_agen", "_holder")

    def __init__(self, session: Session, sql: str, params: Params, into: type[Any] | None) -> None:
        self._holder = session._holder
        me: list[AsyncGenerator[Any, None]] = []
        self._agen = session._stream(sql, params, into, me)
        me.append(self._agen)
        self.__anext__: Callable[[], Awaitable[Any]] = self._agen.__anext__

    def __aiter__(self) -> RowStream:
        return self

    async def aclose(self) -> None:
        await self._agen.aclose()

    async def __aenter__(self) -> RowStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # The loop was left (break/return) and nothing refers to the stream any more:
        # park it, so the next use of the connection closes it first.
        if self._holder.stream is self._agen:
            self._holder.stream_abandoned = True


async def close_abandoned_stream(holder: Holder) -> None:
    stream = holder.stream
    if stream is not None:
        holder.stream_abandoned = False
        try:
            await stream.aclose()
        except BaseException:
            holder.mark(LeaseState.BROKEN)
            raise
        finally:
            holder.stream = None


class Transaction(Session):
    """A database transaction; ``async with tx.transaction()`` nests a savepoint."""

    __slots__ = ("_readonly", "_token")

    def __init__(self, pool: Pool, holder: Holder, *, readonly: bool) -> None:
        super().__init__(pool, holder)
        self._readonly = readonly
        self._tx = self
        self._token: str | None = None  # set on a pool with replicas (rawdb.replication)

    @property
    def readonly(self) -> bool:
        return self._readonly

    def commit_token(self) -> str:
        """After the block: an opaque string for ``pool.transaction(readonly=True, after=token)``
        in another process, whose read then sees what this transaction wrote (or saw)."""
        if self._state is not SessionState.ENDED:
            raise InterfaceError("commit_token() is known once the transaction block has ended")
        if self._token is None:
            from rawdb.replication.positions import PRIMARY_TOKEN

            return PRIMARY_TOKEN  # position not tracked here: the reader must ask the primary
        return self._token

    def transaction(self) -> SavepointBlock:
        """A nested block: rolled back alone if it raises, kept if the outer commits."""
        if self._state is SessionState.ENDED:
            raise InterfaceError("this transaction has ended; open a new one from the pool")
        return SavepointBlock(self)

    def _aborted(self, what: str) -> TransactionAborted:
        failure = self._failure
        cause = f"{type(failure).__name__}: {failure}" if failure is not None else "an earlier failure"
        error = TransactionAborted(
            f"{what}: the transaction failed earlier ({cause}) and can only roll back. "
            "To carry on after an expected error, run the statement in a nested "
            "tx.transaction() (a savepoint)")
        error.__cause__ = failure
        return error

    def __repr__(self) -> str:
        return f"<rawdb.Transaction {self._state.value} {self._dialect.name} readonly={self._readonly}>"


class SavepointBlock:
    __slots__ = ("_child", "_name", "_parent")

    def __init__(self, parent: Transaction) -> None:
        self._parent = parent
        self._name = ""
        self._child: Transaction | None = None

    async def __aenter__(self) -> Transaction:
        parent = self._parent
        holder = parent._holder
        holder.savepoints += 1
        name = self._name = f"rawdb_sp_{holder.savepoints}"
        conn = parent._conn
        await parent._control(lambda: conn.savepoint(name))
        self._child = Transaction(parent._pool, holder, readonly=parent._readonly)
        return self._child

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        child = self._child
        assert child is not None
        failed = child._state is SessionState.FAILED
        child._state = SessionState.ENDED
        parent = self._parent
        conn = parent._conn
        name = self._name
        if not parent._holder.broken:
            if et is None and not failed:
                await parent._control(lambda: conn.release_savepoint(name))
                return
            # A failure in rolling back reaches the parent (it fails too, and its
            # block rolls everything back); the original error matters more here.
            with contextlib.suppress(Exception):
                await parent._control(lambda: conn.rollback_to_savepoint(name))
        if et is None:
            # Caught inside the block, or the connection broke under it: its work is
            # gone, and leaving quietly would pass that off as success.
            raise child._aborted("the savepoint was rolled back")


class Connection(Session):
    """A pooled connection in autocommit mode: each statement commits on its own."""

    __slots__ = ()

    def transaction(self, *, readonly: bool = False, isolation: str | None = None) -> ConnectionTransactionBlock:
        """A transaction on this connection (it stays held when the block ends).

        Nested inside another ``conn.transaction()`` it is a savepoint of that one
        (a second BEGIN would commit the outer transaction's work on MySQL and be
        ignored on PostgreSQL, so that the inner COMMIT kept it all)."""
        if self._state is SessionState.ENDED:
            raise InterfaceError("this connection has been released")
        return ConnectionTransactionBlock(self, readonly, isolation)

    def __repr__(self) -> str:
        state = "open" if self._state is SessionState.OPEN else "released"
        return f"<rawdb.Connection {state} {self._dialect.name}>"


class ConnectionTransactionBlock:
    __slots__ = ("_conn", "_isolation", "_readonly", "_savepoint", "_tx")

    def __init__(self, conn: Connection, readonly: bool, isolation: str | None) -> None:
        self._conn = conn
        self._readonly = readonly
        self._isolation = isolation
        self._tx: Transaction | None = None
        self._savepoint: SavepointBlock | None = None

    async def __aenter__(self) -> Transaction:
        conn = self._conn
        outer = conn._tx
        if outer is not None:
            if self._isolation is not None or self._readonly != outer._readonly:
                raise InterfaceError("a nested conn.transaction() is a savepoint of the open one: it cannot "
                                     "change readonly or isolation")
            self._savepoint = SavepointBlock(outer)
            return await self._savepoint.__aenter__()
        if conn._conn.in_transaction:
            raise InterfaceError("a transaction is already open on this connection (begun by a statement); "
                                 "end it before opening a transaction block")
        isolation = conn._dialect.check_isolation(self._isolation)
        readonly = self._readonly
        driver = conn._conn
        await conn._control(lambda: driver.begin(readonly, isolation))
        self._tx = conn._tx = Transaction(conn._pool, conn._holder, readonly=readonly)
        return self._tx

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._savepoint is not None:
            await self._savepoint.__aexit__(et, exc, tb)
            return
        tx = self._tx
        assert tx is not None
        try:
            await end_transaction(tx, clean_exit=et is None)
        finally:
            self._conn._tx = None


async def end_transaction(tx: Transaction, *, clean_exit: bool) -> None:
    """COMMIT when the block finished cleanly and nothing in it failed, else ROLLBACK.

    A failure caught inside the block still rolls back, and raises here: the
    caller must not report success for work that was not kept. A COMMIT whose
    outcome is unknown (timeout, lost connection) raises `ConnectionLost`."""
    failed = tx._state is SessionState.FAILED
    commit = clean_exit and not failed
    tx._state = SessionState.ENDED
    holder = tx._holder
    if holder.stream is not None and not holder.broken:
        await close_abandoned_stream(holder)  # an iterate() left open in the block ends with it
    conn = tx._conn
    pool = tx._pool
    if holder.state is not LeaseState.BROKEN:
        try:
            if pool._statement_timeout is None:
                await (conn.commit() if commit else conn.rollback())
            else:
                async with pool.statement_timer():
                    await (conn.commit() if commit else conn.rollback())
        except asyncio.CancelledError:
            holder.mark(LeaseState.BROKEN)  # cancelled during COMMIT/ROLLBACK: outcome unknown
            raise
        except TimeoutError as exc:
            holder.mark(LeaseState.BROKEN)
            conn.interrupt()
            if commit:
                # Outcome unknown is what ConnectionLost means at COMMIT: a caller
                # catching QueryError as "nothing happened, retry" must not catch this.
                unknown = ConnectionLost(
                    f"COMMIT did not complete within command_timeout={pool.options.command_timeout}s; "
                    "the outcome of this transaction is unknown")
                unknown.outcome_unknown = True
                raise unknown from exc
        except Exception as exc:
            error = exc if isinstance(exc, RawDBError) else tx._dialect.translate(exc)
            if error is None or isinstance(error, ConnectionLost):
                holder.mark(LeaseState.BROKEN)
                if commit:
                    unknown = ConnectionLost(
                        f"connection lost during COMMIT, the outcome of this transaction is unknown: "
                        f"{error or exc}")
                    unknown.outcome_unknown = True
                    raise unknown from exc
            elif commit:
                # The database refused the COMMIT (deferred constraint, serialization)
                # or had already rolled back: make sure nothing is left open, then say so.
                await _rollback_quietly(tx)
                raise error from (None if error is exc else exc)
            else:
                # ROLLBACK refused: fine if nothing is left open.
                if conn.is_closed or conn.in_transaction:
                    holder.mark(LeaseState.BROKEN)
    elif clean_exit and not failed:
        raise ConnectionLost("the transaction's connection broke earlier; nothing was committed")
    if clean_exit and failed:
        raise tx._aborted("the transaction was rolled back")


async def _rollback_quietly(tx: Transaction) -> None:
    conn = tx._conn
    try:
        async with tx._pool.statement_timer():
            await conn.rollback()
    except Exception:
        if conn.is_closed or conn.in_transaction:
            tx._holder.mark(LeaseState.BROKEN)
