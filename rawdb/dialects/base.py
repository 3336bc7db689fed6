"""The interface every dialect implements: the only seam between rawdb and a driver.

The pool and the session objects speak to a `DriverConnection` (run SQL, begin and
end transactions, ping, close) and ask their `Dialect` for everything that differs
between databases (BEGIN text, placeholder style, how values are adapted, which
driver error is which rawdb error). Nothing outside ``rawdb/dialects`` imports a
driver.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import operator
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal, TypeGuard, overload

import msgspec

from rawdb.config import DatabaseURL, PoolOptions
from rawdb.errors import ConfigError, ConnectionLost, DataError, QueryError, RawDBError
from rawdb.mapping import ValueProfile
from rawdb.sql import PASSTHROUGH, ParamStyle

Role = Literal["writer", "reader", "any"]
Columns = tuple[str, ...]

ISOLATION_LEVELS = ("read committed", "repeatable read", "serializable")
_NONE = type(None)
_DATETIME_OR_NONE = frozenset({dt.datetime, _NONE})
_UTC_ONLY = frozenset({dt.UTC})
_tzinfo_of = operator.attrgetter("tzinfo")
_JSON_CONTAINERS = frozenset({dict, list})
_ROW_TYPES = frozenset({tuple, list})

_json_encode = msgspec.json.encode


def json_text(value: Any) -> str:
    return _json_encode(value).decode()


def json_param(value: Any) -> str:
    """JSON text for a dict/list/Struct parameter; what cannot be encoded is a rawdb error."""
    try:
        return _json_encode(value).decode()
    except UnicodeEncodeError as exc:
        raise lone_surrogate("a string inside the JSON value", exc) from exc
    except (TypeError, msgspec.EncodeError) as exc:
        raise QueryError(f"cannot encode the value as JSON: {exc}") from exc


def lone_surrogate(what: str, exc: UnicodeError | None = None, char: str | None = None) -> DataError:
    """The error for text holding a lone surrogate (half of a UTF-16 pair, as a
    surrogateescape decode leaves behind): it is not Unicode text, so no UTF-8
    database can store it. The code point is named, never the text around it."""
    if char is None and isinstance(exc, UnicodeEncodeError):
        char = exc.object[exc.start:exc.start + 1]
    code = f" (U+{ord(char):04X})" if char else ""
    return DataError(f"{what} contains a lone surrogate{code}: not valid Unicode text, so it cannot be "
                     "stored as UTF-8")


def is_lone_surrogate(exc: BaseException) -> TypeGuard[UnicodeEncodeError]:
    """A UTF-8 encoder's refusal of a lone surrogate (not any other encoding error)."""
    return isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed"


def _refused_record(adapt: Callable[[Any], Any], column: Sequence[Any], index: int) -> QueryError | None:
    """copy_records: the error naming the record and column whose value the adapter refuses."""
    for k, value in enumerate(column):
        try:
            adapt(value)
        except QueryError as refused:
            return type(refused)(f"copy_records: record {k}, column {index + 1}: {refused}")
    return None


class DriverConnection(ABC):
    """One open driver connection. Arguments are already in bind order and adapted."""

    __slots__ = ()

    # The statement calls return an awaitable rather than being coroutines themselves:
    # an adapter that only queues work (SQLite's worker thread) hands back the future
    # it will resolve, one coroutine layer fewer on every statement.
    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any]) -> Awaitable[int]: ...

    @abstractmethod
    def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> Awaitable[int]: ...

    @abstractmethod
    def fetch(self, sql: str, args: Sequence[Any]) -> Awaitable[tuple[list[Any], Columns]]: ...

    @abstractmethod
    def fetchrow(self, sql: str, args: Sequence[Any]) -> Awaitable[tuple[Any, Columns]]: ...

    @abstractmethod
    def stream(self, sql: str, args: Sequence[Any], chunk: int) -> AsyncGenerator[tuple[list[Any], Columns], None]:
        """Chunks of rows without loading the whole result."""

    @abstractmethod
    async def execute_verbatim(self, sql: str) -> int: ...

    # -- transaction control: intents, each dialect picks its cheapest spelling ------------
    @abstractmethod
    async def begin(self, readonly: bool, isolation: str | None, *, owns_session: bool = False) -> None:
        """Open a transaction (``isolation`` already checked, lower case, or None).

        May be deferred to the next statement where that saves a round trip.
        ``owns_session``: the transaction is the whole lease (the pool's own), so the
        session's mode may be changed for it (MySQL's BEGIN-free transactions)."""

    @abstractmethod
    async def commit(self) -> None:
        """Commit the open transaction. Raise `TransactionAborted` when the database
        ended it some other way (PostgreSQL answers COMMIT of a failed transaction
        with ROLLBACK; SQLite's ``RAISE(ROLLBACK)`` ends it silently): the caller
        must never report success for work that was not kept."""

    @abstractmethod
    async def rollback(self) -> None:
        """Roll back whatever is open and restore the session's defaults; a
        transaction that already ended is not an error."""

    async def savepoint(self, name: str) -> None:
        await self.execute_verbatim(f"SAVEPOINT {name}")

    async def release_savepoint(self, name: str) -> None:
        await self.execute_verbatim(f"RELEASE SAVEPOINT {name}")

    async def rollback_to_savepoint(self, name: str) -> None:
        """Undo the savepoint's work and drop it: the enclosing transaction goes on."""
        await self.execute_verbatim(f"ROLLBACK TO SAVEPOINT {name}")
        await self.execute_verbatim(f"RELEASE SAVEPOINT {name}")

    @abstractmethod
    async def ping(self) -> None: ...

    @abstractmethod
    async def reset(self) -> bool:
        """Clear session state left by a stateful statement; False means: replace me."""

    @property
    def session_changed(self) -> bool:
        """The driver itself saw the session change since connect (PostgreSQL reports
        some settings, such as the session user, unasked): reset before reuse even when
        no statement was classified stateful."""
        return False

    # True when an interrupted statement leaves the connection recoverable in place
    # (SQLite: the worker thread finishes it; a socket protocol would be out of step).
    recoverable = False

    async def recover(self) -> bool:
        """After an interrupted statement: finish it, roll back, report success."""
        return False

    @abstractmethod
    async def copy_records(self, table: str, columns: Sequence[str],
                           records: Sequence[Sequence[Any]]) -> int: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def terminate(self) -> None:
        """Close now, without waiting for the server (used when state is unknown)."""

    @property
    @abstractmethod
    def is_closed(self) -> bool: ...

    @property
    @abstractmethod
    def in_transaction(self) -> bool:
        """Known locally, without a round trip: is a transaction still open?"""

    async def use_autocommit(self) -> None:  # noqa: B027 - optional hook, a no-op where autocommit is not a mode
        """Before the connection serves as a `Connection`, whose statements must each
        commit on their own (MySQL's pooled sessions run with autocommit off)."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook, a no-op for socket drivers
        """Stop the running statement (SQLite: its worker thread keeps running otherwise)."""


class PoolSlot(msgspec.Struct, frozen=True):
    """A group of interchangeable connections: SQLite has a writer and readers."""

    role: Role
    min_size: int
    max_size: int


class Dialect(ABC):
    """Everything that differs between databases, for one configured URL."""

    name: str
    paramstyle: ParamStyle
    values: ValueProfile
    # Skip the pre-hand-out ping: SQLite has no server that could drop the connection.
    needs_health_check: bool = True
    def connect_error_is_final(self, exc: BaseException) -> bool:
        """Will retrying this failed connect never help (bad credentials, no such database)?

        Otherwise waiters keep waiting while the pool retries: a restarting server
        comes back within their acquire_timeout."""
        return False

    def __init__(self, url: DatabaseURL, options: PoolOptions) -> None:
        self.url = url
        self.options = options
        self.adapt: Callable[[Any], Any] = self._make_adapter()

    # -- connections -------------------------------------------------------------
    @abstractmethod
    async def connect(self, role: Role) -> DriverConnection: ...

    async def open(self, role: Role) -> DriverConnection:
        """`connect`, bounded by ``connect_timeout`` and with errors that say what happened.

        The bound covers the whole handshake, not just the TCP connect: a server that
        accepts the connection and never greets (aiomysql waits for the greeting
        without a deadline) must not hang start-up. A refused or unanswered connect
        is reported as such, not as a connection that was lost."""
        try:
            if not self.needs_health_check:  # SQLite: a file, no network that could stall
                return await self.connect(role)
            async with asyncio.timeout(self.options.connect_timeout):
                return await self.connect(role)
        except TimeoutError as exc:
            raise ConnectionLost(f"cannot connect to {self.describe()}: no answer within "
                                 f"connect_timeout={self.options.connect_timeout}s") from exc
        except TypeError as exc:
            if "keyword argument" not in str(exc):
                raise
            raise ConfigError(f"connect_options rejected by the {self.name} driver: {exc}") from exc
        except Exception as exc:
            if isinstance(exc, RawDBError):
                raise
            if isinstance(exc, OSError) or isinstance(self.translate(exc), ConnectionLost):
                raise ConnectionLost(self.url.scrub(
                    f"cannot connect to {self.describe()}: {_connect_failure(exc)}")) from exc
            raise

    def slots(self) -> list[PoolSlot]:
        o = self.options
        return [PoolSlot(role="any", min_size=o.min_size, max_size=o.max_size)]

    def route(self, readonly: bool) -> Role:
        return "any"

    @property
    def shared_single_connection(self) -> bool:
        """True when one connection serves everything (SQLite ``:memory:``)."""
        return False

    # -- transactions -------------------------------------------------------------------
    def check_isolation(self, isolation: str | None) -> str | None:
        """The normalised level, checked before a connection is taken."""
        if isolation is None:
            return None
        level = " ".join(str(isolation).lower().replace("_", " ").split())
        if level not in ISOLATION_LEVELS:
            raise ConfigError(
                f"isolation {isolation!r} is not one of {', '.join(ISOLATION_LEVELS)}"
            )
        return level

    # -- values and errors ---------------------------------------------------------
    @abstractmethod
    def adapt_datetime(self, value: dt.datetime) -> Any: ...

    def adapt_float(self, value: float) -> float:
        """A float parameter, or DataError for one this database cannot store."""
        return value

    def adapt_tuple(self, value: tuple[Any, ...]) -> Any:
        """A tuple parameter: only PostgreSQL has a type for it (an array)."""
        raise QueryError(
            "a tuple cannot be bound here: only PostgreSQL binds tuples (as arrays); write one "
            "placeholder per value (IN (:a, :b)), or pass a list, which binds as JSON text")

    def adapt_other(self, value: Any) -> Any:
        """A value of a type rawdb does not convert itself: the driver binds or refuses it."""
        return value

    def _make_adapter(self) -> Callable[[Any], Any]:
        """The function that turns one parameter into what the driver binds.

        It raises rawdb errors without the parameter's name (CompiledSQL.bind adds it)
        and never with the value, which may be a secret."""
        passthrough = PASSTHROUGH
        adapt_datetime = self.adapt_datetime
        adapt_float = self.adapt_float
        adapt_tuple = self.adapt_tuple
        adapt_other = self.adapt_other

        def adapt(value: Any) -> Any:
            t = type(value)
            if t in passthrough:
                return value
            if t is float:
                return adapt_float(value)
            if isinstance(value, dt.datetime):
                return adapt_datetime(value)
            if isinstance(value, enum.Enum):
                return value.value
            if isinstance(value, (dict, list, msgspec.Struct)):
                return json_param(value)
            if isinstance(value, uuid.UUID):
                return str(value)
            if isinstance(value, (bytearray, memoryview)):
                # The same bytes as a bytes value on every dialect (pymysql would bind
                # their repr as text).
                return bytes(value)
            if isinstance(value, tuple):
                return adapt_tuple(value)
            if isinstance(value, (set, frozenset)):
                raise QueryError(f"a {type(value).__name__} cannot be bound: it has no order and no SQL "
                                 "type; pass a list (bound as JSON text)")
            if isinstance(value, float):
                return adapt_float(float(value))
            return adapt_other(value)

        return adapt

    def adapt_records(self, records: Sequence[Sequence[Any]], width: int) -> Sequence[Sequence[Any]]:
        """Bulk-insert rows with every value adapted, column by column.

        A column is checked once for the types it holds (C-speed ``set(map(type, ...))``)
        and left untouched when they all pass through; only the columns that need it
        are adapted. That is ~3x faster on 10,000 task rows than adapting value by value.
        When no column changed, the records themselves are returned (lists and tuples
        are what every driver takes); otherwise rows made from the columns as the
        driver reads them (`_ColumnRows`).
        """
        if set(map(len, records)) != {width}:
            bad = next(i for i, r in enumerate(records) if len(r) != width)
            raise QueryError(f"copy_records: record {bad} has {len(records[bad])} values for {width} columns")
        if not width:
            return []
        columns: list[Sequence[Any]] = list(zip(*records, strict=True))
        adapt, adapt_datetime = self.adapt, self.adapt_datetime
        changed = False
        for i, column in enumerate(columns):
            types = set(map(type, column))
            if types <= PASSTHROUGH:
                continue
            try:
                if types <= _DATETIME_OR_NONE:
                    if set(map(_tzinfo_of, filter(None, column))) <= _UTC_ONLY:
                        # All aware UTC (the usual case): the dialect's form without a
                        # call per value, which was most of a bulk insert's adaptation.
                        adapted = self.adapt_utc_column(column)
                    else:
                        adapted = [None if v is None else adapt_datetime(v) for v in column]
                elif all(t is _NONE or t in _JSON_CONTAINERS or issubclass(t, msgspec.Struct) for t in types):
                    # json_text inlined: one call per value instead of three on a 10,000-row column
                    adapted = [None if v is None else _json_encode(v).decode() for v in column]
                else:
                    adapted = list(map(adapt, column))
            except Exception as exc:
                refused = _refused_record(adapt, column, i)
                if refused is None:
                    raise
                raise refused from exc
            if adapted is not column:
                columns[i] = adapted
                changed = True
        if not changed and set(map(type, records)) <= _ROW_TYPES:
            return records
        return _ColumnRows(columns, len(records))

    def adapt_utc_column(self, column: Sequence[dt.datetime | None]) -> Sequence[Any]:
        """`adapt_datetime` over a bulk-insert column whose values are all aware UTC (or None)."""
        adapt_datetime = self.adapt_datetime
        return [None if v is None else adapt_datetime(v) for v in column]

    @abstractmethod
    def translate(self, exc: BaseException) -> RawDBError | None:
        """The rawdb error for a driver exception, or None if it is not a database error."""

    def describe(self) -> str:
        return self.url.redacted()


class _ColumnRows(Sequence[tuple[Any, ...]]):
    """Bulk-insert rows made from their columns only as the driver reads them.

    A list of row tuples built up front is thousands of containers alive at once,
    and allocating them sets off the garbage collector again and again, up to full
    collections of the application's heap: that was most of what turning columns
    back into rows cost. Iterated, each row exists only while the driver sends it,
    so none accumulate. Iterating again makes the rows again.
    """

    __slots__ = ("_columns", "_length")

    def __init__(self, columns: list[Sequence[Any]], length: int) -> None:
        self._columns = columns
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return zip(*self._columns, strict=True)

    @overload
    def __getitem__(self, index: int) -> tuple[Any, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[Any, ...]]: ...

    def __getitem__(self, index: int | slice) -> tuple[Any, ...] | list[tuple[Any, ...]]:
        if isinstance(index, slice):
            return list(zip(*(column[index] for column in self._columns), strict=True))
        return tuple(column[index] for column in self._columns)


def _connect_failure(exc: BaseException) -> str:
    """The driver's reason for a failed connect, with the operating system's word for
    it ("Connection refused") where the driver's own message leaves it out."""
    args = exc.args
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            reason = os.strerror(cause.errno)
            return text if reason.lower() in text.lower() else f"{reason} ({text})"
        cause = cause.__cause__ or cause.__context__
    return text


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware values are converted to UTC; naive ones are taken to be UTC already."""
    tz = value.tzinfo
    if tz is dt.UTC:
        return value
    if tz is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def with_names(error: RawDBError, **attrs: str | None) -> RawDBError:
    for key, value in attrs.items():
        if value is not None:
            setattr(error, key, value)
    return error
