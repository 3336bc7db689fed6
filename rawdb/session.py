"""Transactions and connections: the objects user code runs SQL on.

Both are thin state machines over one pooled connection. Every call checks that
the object is still open and that no other task is using the connection at this
moment (interleaved statements from two tasks would silently mix their work).
Driver exceptions are translated to rawdb errors here, once; a statement
interrupted by cancellation, a lost connection or a timeout marks the connection
broken, so the pool closes it instead of handing it to the next user.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from rawdb.errors import ConnectionLost, InterfaceError, QueryError, QueryTimeout, RawDBError
from rawdb.mapping import map_rows, row_class
from rawdb.sql import compile_sql

if TYPE_CHECKING:
    from rawdb.dialects.base import Dialect, DriverConnection, Role
    from rawdb.pool import Holder, Pool

T = TypeVar("T")
Params = Mapping[str, Any] | None

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_ITERATE_CHUNK = 500


class Session:
    """What `Transaction` and `Connection` share: running SQL on one held connection."""

    __slots__ = ("_conn", "_dialect", "_holder", "_open", "_pool")

    def __init__(self, pool: Pool, holder: Holder) -> None:
        self._pool = pool
        self._holder = holder
        self._conn: DriverConnection = holder.conn
        self._dialect: Dialect = pool.dialect
        self._open = True

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    # -- guards ----------------------------------------------------------------------
    def _enter(self) -> Holder:
        holder = self._holder
        if not self._open:
            raise InterfaceError(f"this {type(self).__name__.lower()} has ended; open a new one from the pool")
        if holder.busy:
            raise InterfaceError(
                f"this {type(self).__name__.lower()} is being used by another task; "
                "one transaction serves one task at a time"
            )
        if holder.broken:
            raise InterfaceError(
                f"this {type(self).__name__.lower()} can no longer be used: an earlier statement "
                "was interrupted or lost its connection"
            )
        holder.busy = True
        return holder

    def _fail(self, exc: BaseException) -> BaseException:
        """The exception to raise for ``exc``; marks the connection broken when needed."""
        holder = self._holder
        if isinstance(exc, RawDBError):
            return exc
        if not isinstance(exc, Exception):  # cancelled mid-statement: state unknown
            holder.broken = True
            self._conn.interrupt()  # SQLite's thread would otherwise run the statement to its end
            return exc
        if isinstance(exc, TimeoutError):
            holder.broken = True
            self._conn.interrupt()
            error: BaseException = QueryTimeout(
                f"statement exceeded command_timeout={self._pool.options.command_timeout}s; "
                "its connection is discarded"
            )
        else:
            translated = self._dialect.translate(exc)
            if translated is None:
                return exc
            error = translated
        if isinstance(error, (ConnectionLost, QueryTimeout)):
            holder.broken = True
            if isinstance(error, ConnectionLost):
                self._pool._suspect_older(holder)  # a restarted server: ping the others before use
        error.__cause__ = exc
        return error

    def _compile(self, sql: str, params: Params) -> tuple[str, list[Any]]:
        compiled = compile_sql(sql, self._dialect.paramstyle)
        args = compiled.bind(params, self._dialect.adapt)
        if compiled.stateful:
            self._holder.needs_reset = True
        return compiled.text, args

    # -- queries -------------------------------------------------------------------------
    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the rows it affected (matched, on MySQL)."""
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            text, args = self._compile(sql, params)
            async with self._pool.statement_timer():
                return await self._conn.execute(text, args)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False

    async def executemany(self, sql: str, seq_of_params: Sequence[Mapping[str, Any]]) -> int:
        """Run one statement per parameter set; returns the rows affected in total.

        Every dialect counts the same way (asyncpg has no count for its batch call,
        so on PostgreSQL each set runs as its own prepared execution). For bulk
        inserts use `copy_records`, which takes each driver's fastest path.
        """
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            compiled = compile_sql(sql, self._dialect.paramstyle)
            adapt = self._dialect.adapt
            args = [compiled.bind(params, adapt) for params in seq_of_params]
            if compiled.stateful:
                holder.needs_reset = True
            async with self._pool.statement_timer():
                return await self._conn.executemany(compiled.text, args)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False

    @overload
    async def fetch_all(self, sql: str, params: Params = None, *, into: type[T]) -> list[T]: ...
    @overload
    async def fetch_all(self, sql: str, params: Params = None, *, into: None = None) -> list[Any]: ...

    async def fetch_all(self, sql: str, params: Params = None, *, into: type[Any] | None = None) -> list[Any]:
        """All rows: Structs with ``into``, else rows indexable by column name and position."""
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            text, args = self._compile(sql, params)
            async with self._pool.statement_timer():
                rows, columns = await self._conn.fetch(text, args)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False
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
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            text, args = self._compile(sql, params)
            async with self._pool.statement_timer():
                row, columns = await self._conn.fetchrow(text, args)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False
        if row is None:
            return None
        if into is not None:
            return map_rows(into, columns, self._dialect.values, (row,))[0]
        return self._plain_rows([row], columns)[0]

    async def fetch_val(self, sql: str, params: Params = None) -> Any:
        """The first column of the first row, or None."""
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            text, args = self._compile(sql, params)
            async with self._pool.statement_timer():
                row, _ = await self._conn.fetchrow(text, args)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False
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
        holder.stream = me[0]
        holder.stream_abandoned = False
        stream: AsyncGenerator[tuple[list[Any], tuple[str, ...]], None] | None = None
        try:
            text, args = self._compile(sql, params)
            stream = self._conn.stream(text, args, _ITERATE_CHUNK)
            while True:
                holder.busy = True
                try:
                    async with self._pool.statement_timer():
                        rows, columns = await stream.__anext__()
                except StopAsyncIteration:
                    return
                holder.busy = False
                if into is not None:
                    for obj in map_rows(into, columns, self._dialect.values, rows):
                        yield obj
                else:
                    for row in self._plain_rows(rows, columns):
                        yield row
        except GeneratorExit:
            raise
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            try:
                if stream is not None and not holder.broken:
                    await stream.aclose()
            finally:
                holder.busy = False
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
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        holder.needs_reset = holder.needs_reset or compile_sql(sql, self._dialect.paramstyle).stateful
        try:
            async with self._pool.statement_timer():
                return await self._conn.execute_verbatim(sql)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False

    async def copy_records(self, table: str, columns: Sequence[str],
                           records: Sequence[Sequence[Any]]) -> int:
        """Bulk insert: COPY on PostgreSQL, multi-row INSERT on MySQL, one prepared
        INSERT run per row in a single thread hop on SQLite. Returns rows inserted."""
        for name in (table, *columns):
            if not _IDENTIFIER.match(name):
                raise QueryError(f"copy_records: {name!r} is not a plain identifier")
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            rows = records if isinstance(records, (list, tuple)) else list(records)
            if not rows:
                return 0
            prepared = self._dialect.adapt_records(rows, len(columns))
            async with self._pool.statement_timer():
                return await self._conn.copy_records(table, columns, prepared)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False

    def _plain_rows(self, rows: list[Any], columns: tuple[str, ...]) -> list[Any]:
        if not rows or not isinstance(rows[0], tuple):
            return rows  # asyncpg Records already index by name and position
        cls = row_class(columns)
        return [cls(row) for row in rows]

    async def _run_control(self, statements: tuple[str, ...]) -> None:
        """BEGIN/COMMIT/SAVEPOINT traffic, with the same guards as a statement."""
        holder = self._enter() if self._holder.stream is None else await self._enter_after_stream()
        try:
            async with self._pool.statement_timer():
                await self._conn.run(statements)
        except BaseException as exc:
            raise self._fail(exc)
        finally:
            holder.busy = False


class RowStream:
    """The async iterator ``iterate()`` returns; also an async context manager."""

    __slots__ = ("_agen", "_holder", "_me")

    def __init__(self, session: Session, sql: str, params: Params, into: type[Any] | None) -> None:
        self._holder = session._holder
        self._me: list[AsyncGenerator[Any, None]] = []
        self._agen = session._stream(sql, params, into, self._me)
        self._me.append(self._agen)

    def __aiter__(self) -> RowStream:
        return self

    async def __anext__(self) -> Any:
        return await self._agen.__anext__()

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
        await stream.aclose()
        holder.stream = None


class Transaction(Session):
    """A database transaction; ``async with tx.transaction()`` nests a savepoint."""

    __slots__ = ("_depth", "_readonly", "_role")

    def __init__(self, pool: Pool, holder: Holder, *, readonly: bool, role: Role, depth: int = 0) -> None:
        super().__init__(pool, holder)
        self._readonly = readonly
        self._role = role
        self._depth = depth

    @property
    def readonly(self) -> bool:
        return self._readonly

    def transaction(self) -> SavepointBlock:
        """A nested block: rolled back alone if it raises, kept if the outer commits."""
        if not self._open:
            raise InterfaceError("this transaction has ended; open a new one from the pool")
        return SavepointBlock(self)

    def __repr__(self) -> str:
        state = "open" if self._open else "ended"
        return f"<rawdb.Transaction {state} {self._dialect.name} readonly={self._readonly}>"


class SavepointBlock:
    __slots__ = ("_child", "_name", "_parent")

    def __init__(self, parent: Transaction) -> None:
        self._parent = parent
        self._name = f"rawdb_sp_{parent._depth + 1}"
        self._child: Transaction | None = None

    async def __aenter__(self) -> Transaction:
        parent = self._parent
        await parent._run_control((parent._dialect.savepoint(self._name),))
        self._child = Transaction(parent._pool, parent._holder, readonly=parent._readonly,
                                  role=parent._role, depth=parent._depth + 1)
        return self._child

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        child = self._child
        assert child is not None
        child._open = False
        parent = self._parent
        if parent._holder.broken:
            return
        d = parent._dialect
        if et is None:
            await parent._run_control((d.release_savepoint(self._name),))
        else:
            # The original error matters more; if this fails the outer block cleans up.
            with contextlib.suppress(Exception):
                await parent._run_control((d.rollback_savepoint(self._name), d.release_savepoint(self._name)))


class Connection(Session):
    """A pooled connection in autocommit mode: each statement commits on its own."""

    __slots__ = ()

    def transaction(self, *, readonly: bool = False, isolation: str | None = None) -> ConnectionTransactionBlock:
        """A transaction on this connection (it stays held when the block ends)."""
        if not self._open:
            raise InterfaceError("this connection has been released")
        return ConnectionTransactionBlock(self, readonly, isolation)

    def __repr__(self) -> str:
        state = "open" if self._open else "released"
        return f"<rawdb.Connection {state} {self._dialect.name}>"


class ConnectionTransactionBlock:
    __slots__ = ("_conn", "_isolation", "_readonly", "_tx")

    def __init__(self, conn: Connection, readonly: bool, isolation: str | None) -> None:
        self._conn = conn
        self._readonly = readonly
        self._isolation = isolation
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Transaction:
        conn = self._conn
        role = conn._holder.slot.role
        begin = conn._dialect.begin_statements(self._readonly, self._isolation, role)
        await conn._run_control(begin)
        self._tx = Transaction(conn._pool, conn._holder, readonly=self._readonly, role=role)
        return self._tx

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        tx = self._tx
        assert tx is not None
        await finish_transaction(tx, commit=et is None)


async def finish_transaction(tx: Transaction, *, commit: bool) -> None:
    """COMMIT or ROLLBACK; a failure leaves the connection marked broken if its state is unknown."""
    tx._open = False
    holder = tx._holder
    if holder.stream is not None and not holder.broken:
        # An iterate() left open in the block ends with it.
        try:
            await close_abandoned_stream(holder)
        except BaseException:
            holder.broken = True
            raise
    if holder.broken:
        if commit:
            raise ConnectionLost("the transaction's connection broke earlier; nothing was committed")
        return
    dialect = tx._dialect
    end = dialect.end_statements(commit, tx._readonly, tx._role)
    try:
        async with tx._pool.statement_timer():
            await tx._conn.run(end)
    except asyncio.CancelledError:
        holder.broken = True  # cancelled during COMMIT/ROLLBACK: outcome unknown
        raise
    except TimeoutError as exc:
        holder.broken = True
        tx._conn.interrupt()
        if commit:
            # Outcome unknown is what ConnectionLost means at COMMIT (README): a caller
            # catching QueryError as "nothing happened, retry" must not catch this.
            raise ConnectionLost(
                f"COMMIT did not complete within command_timeout={tx._pool.options.command_timeout}s; "
                "the outcome of this transaction is unknown") from exc
    except Exception as exc:
        error = dialect.translate(exc)
        if error is None or isinstance(error, ConnectionLost):
            holder.broken = True
            if commit:
                raise ConnectionLost(
                    f"connection lost during COMMIT, the outcome of this transaction is unknown: "
                    f"{error or exc}") from exc
            return
        if commit:
            # The database refused the COMMIT (deferred constraint, serialization):
            # make sure nothing is left open, then report it.
            try:
                await tx._conn.run(dialect.end_statements(False, tx._readonly, tx._role))
            except Exception:
                conn = tx._conn
                holder.broken = conn.is_closed or conn.in_transaction
            raise error from exc
        # ROLLBACK refused (e.g. SQLite: a BEGIN IMMEDIATE that never got its lock left
        # nothing to roll back): the connection is fine if nothing is left open.
        conn = tx._conn
        holder.broken = conn.is_closed or conn.in_transaction
