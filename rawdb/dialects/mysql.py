"""MySQL and MariaDB through aiomysql.

Connections use the FOUND_ROWS flag (an UPDATE that changes nothing still reports
the row it matched), utf8mb4, UTC, strict SQL mode and READ COMMITTED, so that the
same statement behaves as on the other dialects. A transaction the pool owns
starts without a round trip (autocommit off, see `MySQLConnection.begin`); a connection
lent as a `Connection` is switched back to autocommit first. aiomysql closes a connection that
was cancelled mid-statement (its protocol would be out of step); rawdb then
replaces it. There is no cheap session reset, so a connection that ran a stateful
statement is replaced rather than reset.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import aiomysql
import pymysql
from pymysql.constants import CLIENT, FIELD_TYPE
from pymysql.converters import conversions, convert_datetime
from pymysql.converters import encoders as pymysql_encoders

from rawdb.dialects.base import (
    Columns,
    Dialect,
    DriverConnection,
    Role,
    is_lone_surrogate,
    lone_surrogate,
    to_utc,
    with_names,
)
from rawdb.errors import (
    CheckViolation,
    ConnectionLost,
    DataError,
    DeadlockError,
    ForeignKeyViolation,
    LockTimeout,
    NotNullViolation,
    QueryError,
    QueryTimeout,
    RawDBError,
    ReadOnlyViolation,
    UniqueViolation,
)
from rawdb.mapping import ValueProfile, int_to_bool, naive_to_utc

SQL_MODE = ("STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
            "NO_ENGINE_SUBSTITUTION")
_NO_COLUMNS: Columns = ()
_name_of = operator.itemgetter(0)  # a column's name in a DB-API description (in C, not a generator)
_fromisoformat = dt.datetime.fromisoformat


def _parse_datetime(text: str) -> Any:
    """DATETIME/TIMESTAMP text to a naive datetime, as pymysql does, ~25x faster."""
    try:
        return _fromisoformat(text)
    except ValueError:
        return convert_datetime(text)  # zero dates and the like: pymysql's own answer


_CONVERSIONS = {**conversions, FIELD_TYPE.DATETIME: _parse_datetime, FIELD_TYPE.TIMESTAMP: _parse_datetime}
_SURROGATE = re.compile("[\ud800-\udfff]")
_base_escape_args = aiomysql.Cursor._escape_args


def _escape_args(cursor: Any, args: Any, conn: aiomysql.Connection) -> Any:
    """Parameters into SQL literals as aiomysql does, except for what it gets wrong.

    bytes: aiomysql calls PyMySQL's escape_bytes_prefixed, which PyMySQL 1.1 turned
    into a string ("'str' object is not callable"); they are sent as hex literals.
    Text holding a lone surrogate is refused: the query is encoded with
    surrogateescape, which would send some of those as raw, invalid UTF-8 bytes.
    """
    if not isinstance(args, (tuple, list)):
        return _base_escape_args(cursor, args, conn)
    escape = conn.escape
    literals = []
    for i, value in enumerate(args):
        t = type(value)
        if t is bytes:
            literals.append(f"_binary X'{value.hex()}'")
            continue
        if t is str and not value.isascii():
            m = _SURROGATE.search(value)
            if m is not None:
                raise lone_surrogate(f"parameter {i + 1} (a str)", char=m.group())
        literals.append(escape(value))
    return tuple(literals)


class _Cursor(aiomysql.Cursor):  # type: ignore[misc]
    _escape_args = _escape_args


class _SSCursor(aiomysql.SSCursor):  # type: ignore[misc]
    _escape_args = _escape_args


class MySQLConnection(DriverConnection):
    __slots__ = ("_conn", "_read_only", "_read_only_variable", "_since_end")

    def __init__(self, conn: aiomysql.Connection, read_only_variable: str) -> None:
        self._conn = conn
        # The session's default access mode; only rawdb changes it (a user's SET marks
        # the connection stateful, and stateful MySQL connections are replaced).
        self._read_only = False
        self._read_only_variable = read_only_variable
        # A statement ran since the last COMMIT/ROLLBACK. With autocommit off the
        # server's in-transaction flag stays clear until a row is written, though a
        # read already holds (metadata) locks: this is what in_transaction trusts then.
        self._since_end = False

    async def begin(self, readonly: bool, isolation: str | None, *, owns_session: bool = False) -> None:
        conn = self._conn
        if owns_session and isolation is None:
            # With autocommit off a MySQL session is always in a transaction: the next
            # statement opens one, COMMIT/ROLLBACK end it. So a transaction that is the
            # whole lease (the pool's own) needs no START TRANSACTION, only the right
            # session mode, which is usually set already (the server reports autocommit
            # in every reply, so it is not guessed).
            if conn.get_autocommit() or self._read_only != readonly:
                await conn.query(f"SET autocommit = 0, {self._read_only_variable} = {int(readonly)}")
                self._read_only = readonly
            return
        # READ WRITE spelled out: the session's default may be read-only (see above).
        access = "READ ONLY" if readonly else "READ WRITE"
        if isolation is not None:
            await conn.query(f"SET TRANSACTION ISOLATION LEVEL {isolation.upper()}")
        self._since_end = True
        await conn.query(f"START TRANSACTION {access}")

    async def commit(self) -> None:
        await self._end("COMMIT")

    async def rollback(self) -> None:
        await self._end("ROLLBACK")

    async def _end(self, statement: str) -> None:
        await self._conn.query(statement)
        self._since_end = False

    async def use_autocommit(self) -> None:
        conn = self._conn
        if not conn.get_autocommit() or self._read_only:
            await conn.query(f"SET autocommit = 1, {self._read_only_variable} = 0")  # commits nothing: none open
            self._read_only = False
            self._since_end = False

    def _cursor(self) -> aiomysql.Cursor:
        self._since_end = True
        return _Cursor(self._conn)

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        cur = self._cursor()
        count: int = await cur.execute(sql, args)
        return count

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> int:
        if not args:
            return 0
        cur = self._cursor()
        count: int = await cur.executemany(sql, args)
        return count

    async def fetch(self, sql: str, args: Sequence[Any]) -> tuple[list[Any], Columns]:
        cur = self._cursor()
        await cur.execute(sql, args)
        desc = cur.description
        rows: list[Any] = list(await cur.fetchall())
        return rows, (tuple(map(_name_of, desc)) if desc else _NO_COLUMNS)

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> tuple[Any, Columns]:
        cur = self._cursor()
        await cur.execute(sql, args)
        desc = cur.description
        row = await cur.fetchone()
        return row, (tuple(map(_name_of, desc)) if desc else _NO_COLUMNS)

    async def stream(self, sql: str, args: Sequence[Any], chunk: int
                     ) -> AsyncGenerator[tuple[list[Any], Columns], None]:
        self._since_end = True
        cur = _SSCursor(self._conn)
        try:
            await cur.execute(sql, args)
            desc = cur.description
            columns = tuple(map(_name_of, desc)) if desc else _NO_COLUMNS
            while True:
                rows = await cur.fetchmany(chunk)
                if not rows:
                    break
                yield list(rows), columns
        finally:
            if not self._conn.closed:
                await cur.close()

    async def execute_verbatim(self, sql: str) -> int:
        self._since_end = True
        count: int = await self._conn.query(sql)
        return count

    async def ping(self) -> None:
        await self._conn.ping(reconnect=False)

    async def reset(self) -> bool:
        return False

    async def copy_records(self, table: str, columns: Sequence[str],
                           records: Sequence[Sequence[Any]]) -> int:
        # aiomysql rewrites an INSERT … VALUES executemany into multi-row INSERTs.
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        return await self.executemany(sql, records)

    async def close(self) -> None:
        await self._conn.ensure_closed()

    def terminate(self) -> None:
        self._conn.close()

    @property
    def is_closed(self) -> bool:
        # aiomysql only notices a socket the server closed (wait_timeout, KILL) when it
        # next reads; the stream already knows, so ask it and spare the caller an error.
        # (``_eof``, not at_eof(): MySQL 8 sends an error packet before closing an idle
        # session, and at_eof() is False while those bytes sit unread.)
        conn = self._conn
        if conn.closed:
            return True
        reader = getattr(conn, "_reader", None)
        writer = getattr(conn, "_writer", None)
        return bool(
            (reader is not None and (getattr(reader, "_eof", False) or reader.exception() is not None))
            or (writer is not None and writer.transport.is_closing())
        )

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        return bool(conn.get_transaction_status() or (self._since_end and not conn.get_autocommit()))


async def _read_only_variable(conn: aiomysql.Connection) -> str:
    """The session access-mode variable: MySQL 8 and MariaDB 11.1+ call it
    transaction_read_only, older MariaDB only tx_read_only. Asked, not guessed from
    the version string (proxies and forks report their own)."""
    try:
        await conn.query("SELECT @@session.transaction_read_only")
    except pymysql.Error as exc:
        if not (exc.args and exc.args[0] == 1193):  # unknown system variable
            raise
        return "tx_read_only"
    return "transaction_read_only"


class MySQLDialect(Dialect):
    name = "mysql"
    paramstyle = "format"
    values = ValueProfile("mysql", int_to_bool, naive_to_utc)

    async def connect(self, role: Role) -> DriverConnection:
        o = self.options
        u = self.url
        extra = dict(o.connect_options)
        init = f"SET time_zone = '+00:00', sql_mode = '{SQL_MODE}'"
        conn = await aiomysql.connect(
            host=u.host or "localhost",
            port=u.port or 3306,
            user=u.user or "root",
            password=u.password or "",
            db=u.database,
            charset="utf8mb4",
            autocommit=True,
            client_flag=CLIENT.FOUND_ROWS | extra.pop("client_flag", 0),
            connect_timeout=o.connect_timeout,
            init_command=init,
            conv=_CONVERSIONS,
            **extra,
        )
        mariadb = "mariadb" in conn.get_server_info().lower()
        try:
            await conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            if o.command_timeout is not None and mariadb:
                await conn.query(f"SET SESSION max_statement_time = {o.command_timeout:.3f}")
            read_only_variable = await _read_only_variable(conn)
        except BaseException:
            conn.close()
            raise
        return MySQLConnection(conn, read_only_variable)

    def connect_error_is_final(self, exc: BaseException) -> bool:
        # access denied (user / database), unknown database
        return isinstance(exc, pymysql.Error) and bool(exc.args) and exc.args[0] in (1044, 1045, 1049)

    def adapt_datetime(self, value: dt.datetime) -> Any:
        return to_utc(value).replace(tzinfo=None)

    def adapt_utc_column(self, column: Sequence[dt.datetime | None]) -> Sequence[Any]:
        # PyMySQL writes a datetime's wall time and ignores its tzinfo: aware UTC values
        # become the same literal as adapt_datetime's naive ones, without a call each.
        return column

    def adapt_float(self, value: float) -> float:
        if not math.isfinite(value):
            raise DataError("NaN and infinite floats cannot be stored on MySQL/MariaDB")
        return value

    def adapt_other(self, value: Any) -> Any:
        # PyMySQL sends the str() of a type it has no encoder for, as text.
        if type(value) in pymysql_encoders:
            return value
        raise QueryError(f"a {type(value).__name__} cannot be bound on MySQL/MariaDB (its driver would "
                         "store its str() as text); convert it first")

    def translate(self, exc: BaseException) -> RawDBError | None:
        if isinstance(exc, (ConnectionError, OSError, EOFError)) and not isinstance(exc, pymysql.Error):
            return ConnectionLost(self.url.scrub(f"connection lost: {exc}"))
        if is_lone_surrogate(exc):  # parameters are checked before: the SQL text itself
            return lone_surrogate("the SQL text", exc)
        if not isinstance(exc, pymysql.Error):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        message = self.url.scrub(message)
        if code in _LOST or (code == 0 and isinstance(exc, (pymysql.InterfaceError, pymysql.OperationalError))):
            return ConnectionLost(f"connection lost: {message}")
        cls = _ERRNO.get(code)
        if cls is None:
            if code in (1406, 1366, 1264, 1265, 1292, 1367, 3140, 4078):
                cls = DataError
            else:
                cls = DataError if isinstance(exc, pymysql.DataError) else QueryError
        error = cls(message)
        error.errno = code  # type: ignore[attr-defined]
        if cls is UniqueViolation:
            m = re.search(r"for key '(?:[^.']+\.)?([^']+)'", message)
            key = m.group(1) if m else None
            # MySQL names the key, not the column; rawdb's scripts name single-column
            # unique keys after their column, so a key that looks like one is reported.
            column = key if key and key != "PRIMARY" and not key.startswith(_KEY_PREFIXES) else None
            with_names(error, constraint=key, column=column)
        elif cls is NotNullViolation:
            m = re.search(r"Column '([^']+)'|Field '([^']+)'", message)
            with_names(error, column=(m.group(1) or m.group(2)) if m else None)
        return error


_KEY_PREFIXES = ("uq_", "uk_", "ux_", "unique_", "idx_", "ix_")
_LOST = {2006, 2013, 2003, 2055, 1927, 4031, 2014}
_ERRNO: dict[int, type[RawDBError]] = {
    1062: UniqueViolation,
    1586: UniqueViolation,
    1451: ForeignKeyViolation,
    1452: ForeignKeyViolation,
    1048: NotNullViolation,
    1364: NotNullViolation,
    3819: CheckViolation,
    4025: CheckViolation,
    1213: DeadlockError,
    1205: LockTimeout,
    1792: ReadOnlyViolation,
    1969: QueryTimeout,
    3024: QueryTimeout,
}
