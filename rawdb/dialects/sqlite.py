"""SQLite through aiosqlite: one writer, WAL readers, one worker-thread hop per call.

Every aiosqlite call is a hop to the connection's thread and back, which dominates
a short request. So each call here runs a small closure in that thread doing all of
its work at once (execute + fetch + description), and transaction control is
deferred: ``BEGIN IMMEDIATE`` travels with the first statement, a transaction that
ran nothing commits without a hop, and a reader's end of transaction travels with
its next statement (or is sent on its own once the reader has sat idle briefly).
A request-shaped transaction costs two hops (a read-only one, one) where plain
aiosqlite usage costs four.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import operator
import sqlite3
from collections.abc import AsyncGenerator, Awaitable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import aiosqlite

from rawdb.config import DatabaseURL, PoolOptions
from rawdb.dialects.base import (
    Columns,
    Dialect,
    DriverConnection,
    PoolSlot,
    Role,
    is_lone_surrogate,
    lone_surrogate,
    to_utc,
    with_names,
)
from rawdb.errors import (
    CheckViolation,
    ConfigError,
    ConnectionLost,
    DataError,
    ForeignKeyViolation,
    LockTimeout,
    NotNullViolation,
    QueryError,
    QueryTimeout,
    RawDBError,
    ReadOnlyViolation,
    TransactionAborted,
    UniqueViolation,
)
from rawdb.mapping import ValueProfile, int_to_bool, text_to_datetime
from rawdb.sqlite_pragmas import pragma_statements

_NO_COLUMNS: Columns = ()
# In a connection's pending statements: end the reader's previous read transaction
# (compared by identity; run by _t_pending, never sent as SQL).
_END_READ = "-- rawdb: end the previous read transaction"
# How long a reader may sit idle with its last read transaction still open. Its
# snapshot holds back WAL checkpoints (and a TRUNCATE checkpoint waits for it), so
# briefly; a reader in steady use never waits this long between transactions.
_IDLE_END_AFTER = 0.02
_name_of = operator.itemgetter(0)  # a column's name in a DB-API description (in C, not a generator)


def _columns(cursor: sqlite3.Cursor) -> Columns:
    desc = cursor.description
    return tuple(map(_name_of, desc)) if desc else _NO_COLUMNS


class SQLiteConnection(DriverConnection):
    __slots__ = ("_changes_at_begin", "_closed", "_db", "_end_queued", "_end_timer", "_loop", "_memory",
                 "_pending", "_pragmas", "_query_only", "_raw", "_reader", "_stopping")

    def __init__(self, db: aiosqlite.Connection, memory: bool, reader: bool, pragmas: tuple[str, ...] = ()) -> None:
        self._db = db
        self._memory = memory
        self._pragmas = pragmas  # the connection's settings, applied again by a reset in place
        self._reader = reader  # query_only for good: its transactions never write
        self._raw: sqlite3.Connection = db._conn
        self._pending: tuple[str, ...] = ()
        self._query_only = False  # set on this writer for a read-only transaction: undo at its end
        self._end_queued = False
        self._end_timer: asyncio.TimerHandle | None = None
        self._changes_at_begin = 0
        self._closed = False
        self._stopping: asyncio.Future[Any] | None = None
        self._loop = asyncio.get_running_loop()  # where the worker's answers are delivered

    def _call(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` in the connection's worker thread: one hop for the whole closure.

        aiosqlite's own queue, fed directly: the future its worker resolves is awaited
        by the caller, without the two coroutine layers of ``aiosqlite.Connection._execute``
        (a fifth of rawdb's own work on a one-row read). Calls run in order, so a queued
        end of transaction has run before this one."""
        db = self._db
        if not db._running or db._connection is None:
            raise ValueError("Connection closed")  # what aiosqlite raises; translated to ConnectionLost
        self._end_queued = False
        future: asyncio.Future[Any] = self._loop.create_future()
        db._tx.put_nowait((future, functools.partial(fn, *args)))
        return future

    def _take_pending(self) -> tuple[str, ...]:
        pending = self._pending
        self._pending = ()
        return pending

    # The closures below run in the connection's worker thread.
    def _t_pending(self, pending: tuple[str, ...]) -> None:
        raw = self._raw
        for stmt in pending:
            if stmt is _END_READ:
                self._t_end_read()
            else:
                raw.execute(stmt)

    def _t_execute(self, pending: tuple[str, ...], sql: str, args: Sequence[Any]) -> int:
        if pending:
            self._t_pending(pending)
        return self._raw.execute(sql, args).rowcount

    def _t_executemany(self, pending: tuple[str, ...], sql: str, args: Sequence[Sequence[Any]]) -> int:
        if pending:
            self._t_pending(pending)
        return self._raw.executemany(sql, args).rowcount

    def _t_fetch(self, pending: tuple[str, ...], sql: str, args: Sequence[Any]) -> tuple[list[Any], Columns]:
        if pending:
            self._t_pending(pending)
        cursor = self._raw.execute(sql, args)
        return cursor.fetchall(), _columns(cursor)

    def _t_fetchrow(self, pending: tuple[str, ...], sql: str, args: Sequence[Any]) -> tuple[Any, Columns]:
        if pending:
            self._t_pending(pending)
        cursor = self._raw.execute(sql, args)
        row = cursor.fetchone()
        cursor.close()
        return row, _columns(cursor)

    def _t_end_read(self) -> None:
        # A read transaction that changed nothing: COMMIT and ROLLBACK are the same
        # here; ROLLBACK cannot be refused for a lock.
        raw = self._raw
        if raw.in_transaction:
            raw.execute("ROLLBACK")

    def _t_commit(self) -> None:
        raw = self._raw
        try:
            if not raw.in_transaction:
                # INSERT OR ROLLBACK, a trigger's RAISE(ROLLBACK) or a ROLLBACK that
                # slipped through ended it: whatever ran since was autocommitted or lost.
                raise TransactionAborted("the SQLite transaction had already ended before COMMIT "
                                         "(rolled back by a statement inside the block); nothing "
                                         "of the block is guaranteed to be kept")
            raw.execute("COMMIT")
        finally:
            if self._query_only and not raw.in_transaction:
                self._t_query_only_off()

    def _t_rollback(self) -> None:
        raw = self._raw
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        if self._query_only:
            self._t_query_only_off()

    def _t_query_only_off(self) -> None:
        self._raw.execute("PRAGMA query_only = OFF")
        self._query_only = False

    def _t_run(self, statements: Sequence[str]) -> None:
        for stmt in statements:
            self._raw.execute(stmt)

    def _t_open_cursor(self, pending: tuple[str, ...], sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        if pending:
            self._t_pending(pending)
        return self._raw.execute(sql, args)

    def execute(self, sql: str, args: Sequence[Any]) -> Awaitable[int]:
        return self._call(self._t_execute, self._take_pending(), sql, args)

    def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> Awaitable[int]:
        return self._call(self._t_executemany, self._take_pending(), sql, args)

    def fetch(self, sql: str, args: Sequence[Any]) -> Awaitable[tuple[list[Any], Columns]]:
        return self._call(self._t_fetch, self._take_pending(), sql, args)

    def fetchrow(self, sql: str, args: Sequence[Any]) -> Awaitable[tuple[Any, Columns]]:
        return self._call(self._t_fetchrow, self._take_pending(), sql, args)

    async def stream(self, sql: str, args: Sequence[Any], chunk: int
                     ) -> AsyncGenerator[tuple[list[Any], Columns], None]:
        cursor: sqlite3.Cursor = await self._call(self._t_open_cursor, self._take_pending(), sql, args)
        try:
            columns = _columns(cursor)
            while True:
                rows = await self._call(cursor.fetchmany, chunk)
                if not rows:
                    return
                yield rows, columns
        finally:
            if not self._closed:
                await self._call(cursor.close)

    async def execute_verbatim(self, sql: str) -> int:
        return await self.execute(sql, ())

    async def begin(self, readonly: bool, isolation: str | None, *, owns_session: bool = False) -> None:
        # Deferred: travels with the first statement of the transaction.
        if self._reader:
            begin: tuple[str, ...] = ("BEGIN",)  # query_only is set for good on a reader
        elif readonly:
            begin = ("PRAGMA query_only = ON", "BEGIN")
            self._query_only = True
        else:
            begin = ("BEGIN IMMEDIATE",)  # queue for the write lock now, not at the first write
        self._pending = self._pending + begin
        self._changes_at_begin = self._raw.total_changes

    def _unsent(self) -> bool:
        """The transaction never ran a statement: there is nothing to end."""
        pending = self._pending
        if not pending or pending == (_END_READ,):
            return False
        # A previous read's end still travels with the next statement.
        self._pending = (_END_READ,) if pending[0] is _END_READ else ()
        self._query_only = False  # its PRAGMA was pending too
        return True

    def _defer_reader_end(self) -> bool:
        if (self._reader and not self._closed
                and self._raw.total_changes == self._changes_at_begin):
            # A reader's transaction that changed no row (query_only, unless the user
            # turned it off): ending it only releases its snapshot, and there is no
            # outcome to wait for. It travels with this reader's next statement: no
            # job of its own, no wake-up of the worker thread. A reader that is not
            # used again soon has it sent on its own (`_end_if_idle`).
            self._pending = (_END_READ,)
            if self._end_timer is None:
                self._end_timer = self._loop.call_later(_IDLE_END_AFTER, self._end_if_idle)
            return True
        return False

    def _end_if_idle(self) -> None:
        self._end_timer = None
        if self._pending == (_END_READ,) and self._db._running:
            self._pending = ()
            self._end_queued = True  # until a later call, which the worker runs after it
            self._db._tx.put_nowait((None, self._t_end_read))  # no answer awaited
        # Otherwise in use again: its next statement carries the end, if still due.

    async def commit(self) -> None:
        if self._unsent() or self._defer_reader_end():
            return
        await self._call(self._t_commit)

    async def rollback(self) -> None:
        if self._unsent() or self._defer_reader_end():
            return
        await self._call(self._t_rollback)

    async def rollback_to_savepoint(self, name: str) -> None:
        await self._call(self._t_run, (f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"))

    async def ping(self) -> None:
        await self._call(self._t_run, ("SELECT 1",))

    async def reset(self) -> bool:
        # PRAGMAs, temp tables, attachments: a fresh connection is simplest — except for
        # :memory:, where the one connection *is* the database and must be kept, so
        # what a user can leave on it is undone in place.
        if not self._memory:
            return False
        await self._call(self._t_reset_memory)
        return True

    def _t_reset_memory(self) -> None:
        raw = self._raw
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        temp = raw.execute("SELECT type, name FROM temp.sqlite_master WHERE type IN ('table', 'view') "
                           "AND name NOT LIKE 'sqlite_%'").fetchall()
        for kind, name in temp:
            raw.execute(f"DROP {kind.upper()} IF EXISTS temp.{_quoted(name)}")
        for _, name, _ in raw.execute("PRAGMA database_list").fetchall():
            if name not in ("main", "temp"):
                raw.execute(f"DETACH DATABASE {_quoted(name)}")
        for pragma in (*self._pragmas, "PRAGMA query_only = OFF"):
            raw.execute(pragma).fetchall()

    recoverable = True

    async def recover(self) -> bool:
        """Calls run in order on the worker thread: once ours runs, the interrupted
        statement has finished; then nothing may stay open, and a writer lent to a
        read-only transaction must be writable again."""
        self._pending = ()
        await self._call(self._t_rollback)
        return not self._raw.in_transaction and not self._query_only

    async def copy_records(self, table: str, columns: Sequence[str],
                           records: Sequence[Sequence[Any]]) -> int:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        return await self.executemany(sql, records)

    async def close(self) -> None:
        if self._stopping is not None:
            # Terminated earlier: wait for the worker thread to finish, so none outlives the pool.
            await self._stopping
        elif not self._closed:
            self._closed = True
            await self._db.close()
        # The worker has answered its last call and is leaving its loop: join it, so
        # that a closed pool really leaves no thread behind.
        self._db._thread.join(1.0)

    def terminate(self) -> None:
        if not self._closed:
            self._closed = True
            self._raw.interrupt()
            self._stopping = self._db.stop()

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def in_transaction(self) -> bool:
        if self._closed or self._end_queued:
            return False
        pending = self._pending
        if pending and pending[0] is _END_READ:
            return False  # ended; the statement that ends it travels with the next call
        return self._raw.in_transaction

    def interrupt(self) -> None:
        self._raw.interrupt()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_isoformat = dt.datetime.isoformat


def _sqlite_text(value: dt.datetime) -> str:
    # "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: isoformat (years always four digits) cut
    # before its "+00:00", several times cheaper than strftime on bulk inserts.
    return to_utc(value).isoformat(" ", "microseconds")[:26]


class SQLiteDialect(Dialect):
    name = "sqlite"
    paramstyle = "qmark"
    values = ValueProfile("sqlite", int_to_bool, text_to_datetime)
    needs_health_check = False

    def connect_error_is_final(self, exc: BaseException) -> bool:
        return True  # no server that could come back: the file is what it is

    def __init__(self, url: DatabaseURL, options: PoolOptions) -> None:
        super().__init__(url, options)
        assert url.path is not None
        self.memory = url.path == ":memory:" or url.path.startswith("file::memory:")
        if not self.memory:
            parent = Path(url.path).parent
            if str(parent) not in ("", ".") and not parent.exists():
                raise ConfigError(f"SQLite database directory {str(parent)!r} does not exist")
        # Part of what every connection is (writer, readers, replacements), set where it
        # opens; never through a session, whose PRAGMAs mark a connection for replacement.
        self._tuning = pragma_statements(options.synchronous, options.sqlite_pragmas)

    @property
    def shared_single_connection(self) -> bool:
        return self.memory

    def slots(self) -> list[PoolSlot]:
        writer = PoolSlot(role="writer", min_size=1 if self.options.min_size else 0, max_size=1)
        readers = self.options.max_size - 1
        if self.memory or readers < 1:
            return [writer]
        return [writer, PoolSlot(role="reader", min_size=max(0, self.options.min_size - 1),
                                 max_size=readers)]

    def route(self, readonly: bool) -> Role:
        if readonly and not self.memory and self.options.max_size > 1:
            return "reader"
        return "writer"

    def check_isolation(self, isolation: str | None) -> str | None:
        level = super().check_isolation(isolation)
        if level not in (None, "serializable"):
            raise ConfigError(
                f"isolation {isolation!r} is not available on SQLite (it is always serializable)"
            )
        return level

    async def connect(self, role: Role) -> DriverConnection:
        o = self.options
        path = self.url.path
        assert path is not None
        kwargs: dict[str, Any] = {"isolation_level": None, "check_same_thread": False,
                                  "timeout": o.busy_timeout, **o.connect_options}
        if path.startswith("file:"):
            kwargs["uri"] = True
        db = aiosqlite.connect(path, **kwargs)
        # A pool the program forgot to close must not keep the process alive: the
        # worker would wait on its queue forever. SQLite's journal keeps the file
        # consistent if the process ends mid-transaction.
        db._thread.daemon = True
        try:
            await db
        except BaseException:
            # aiosqlite stops its worker on a failed open without waiting for it; wait,
            # so that no thread outlives the error (or the event loop).
            if db._thread.ident is not None:
                db._thread.join(1.0)
            raise
        try:
            raw = db._conn
            pragmas = [f"PRAGMA busy_timeout = {int(o.busy_timeout * 1000)}", "PRAGMA foreign_keys = ON"]
            if not self.memory:
                pragmas.insert(0, "PRAGMA journal_mode = WAL")
            pragmas.extend(self._tuning)
            if role == "reader":
                pragmas.append("PRAGMA query_only = ON")

            def setup() -> None:
                for pragma in pragmas:
                    raw.execute(pragma).fetchall()

            await db._execute(setup)  # type: ignore[no-untyped-call]
        except BaseException:
            await db.close()
            raise
        return SQLiteConnection(db, self.memory, reader=role == "reader", pragmas=tuple(pragmas))

    def adapt_datetime(self, value: dt.datetime) -> Any:
        return _sqlite_text(value)

    def adapt_utc_column(self, column: Sequence[dt.datetime | None]) -> Sequence[Any]:
        # _sqlite_text's text, all in C and without formatting an offset: isoformat
        # of an aware value costs twice that of a naive one, and the naive value is
        # two cheap operations away (subtracting an aware epoch, adding a naive one).
        present = list(filter(None, column))  # datetimes are never false
        texts = list(map(_isoformat, map(operator.add, repeat(_NAIVE_EPOCH),
                                              map(operator.sub, present, repeat(_UTC_EPOCH))),
                         repeat(" "), repeat("microseconds")))
        if len(present) == len(column):
            return texts
        text = iter(texts)
        return [None if v is None else next(text) for v in column]

    def adapt_float(self, value: float) -> float:
        if value != value:
            raise DataError("NaN cannot be stored on SQLite (it would be stored as NULL)")
        return value

    def translate(self, exc: BaseException) -> RawDBError | None:
        if not isinstance(exc, sqlite3.Error):
            # sqlite3 converts each parameter while binding it, before the statement runs.
            if is_lone_surrogate(exc):
                return lone_surrogate("a str parameter", exc)
            if isinstance(exc, OverflowError):
                return DataError("an int parameter is outside SQLite's INTEGER range (-2**63 to 2**63-1)")
            if isinstance(exc, ValueError) and "closed" in str(exc).lower():
                return ConnectionLost("SQLite connection is closed")
            return None
        message = str(exc)
        code = getattr(exc, "sqlite_errorcode", None) or 0
        primary = code & 0xFF
        if isinstance(exc, sqlite3.IntegrityError) or primary == sqlite3.SQLITE_CONSTRAINT:
            return _integrity(code, message)
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return LockTimeout(f"database is locked (waited busy_timeout={self.options.busy_timeout}s): {message}")
        if primary == sqlite3.SQLITE_READONLY:
            return ReadOnlyViolation(f"write in a read-only transaction: {message}")
        if primary == sqlite3.SQLITE_INTERRUPT:
            return QueryTimeout(f"statement interrupted: {message}")
        if primary in (sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE):
            return DataError(message)
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in message.lower():
            return ConnectionLost(message)
        if isinstance(exc, sqlite3.DataError):
            return DataError(message)
        return QueryError(message)


def _integrity(code: int, message: str) -> RawDBError:
    table = column = None
    if ":" in message:
        target = message.split(":", 1)[1].strip().split(",")[0].strip()
        if "." in target:
            table, column = target.split(".", 1)
    mapping: dict[int, type[RawDBError]] = {
        sqlite3.SQLITE_CONSTRAINT_UNIQUE: UniqueViolation,
        sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY: UniqueViolation,
        sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY: ForeignKeyViolation,
        sqlite3.SQLITE_CONSTRAINT_NOTNULL: NotNullViolation,
        sqlite3.SQLITE_CONSTRAINT_CHECK: CheckViolation,
    }
    cls = mapping.get(code, CheckViolation if "CHECK" in message else UniqueViolation
                      if "UNIQUE" in message else QueryError)
    return with_names(cls(message), table=table, column=column)
