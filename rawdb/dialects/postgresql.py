"""PostgreSQL through asyncpg, without asyncpg's pool.

asyncpg's pool resets every connection on release (one extra round trip, about a
quarter of a short request). rawdb's pool instead knows, from the compiled SQL,
which connections may carry session state and resets only those. Transaction
control goes through the simple-query protocol (one round trip each); statements
with arguments use asyncpg's prepared-statement cache (``statement_cache_size=0``
turns it off for pgbouncer in transaction mode).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import asyncpg
import asyncpg.exceptions as pgx

from rawdb.dialects.base import Columns, Dialect, DriverConnection, is_lone_surrogate, lone_surrogate, with_names
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
    SerializationError,
    TransactionAborted,
    UniqueViolation,
)
from rawdb.mapping import ValueProfile, naive_to_utc

# Everything a user can leave on a session, cleared in one simple-query message (one
# round trip; the statements run as one implicit transaction, which all of them
# allow), sent only to connections that ran a statement able to leave state behind.
# It is DISCARD ALL except for prepared statements: DEALLOCATE ALL would also remove
# the statements asyncpg prepared, which asyncpg goes on using from its cache ("prepared
# statement does not exist"), and dropping that cache would cost a Close round trip per
# statement and a re-prepare of every hot query. So only statements made by SQL
# PREPARE (from_sql) are deallocated; asyncpg's protocol-level ones stay valid and warm.
# RESET ALL leaves the role and the session user (they are not reset by it), hence the
# first two. Names are schema-qualified: the user's search_path is gone by then, but
# the reset must not depend on that.
_RESET_STATE = (
    "SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL; CLOSE ALL; UNLISTEN *; "
    "SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES; "
    "DO $rawdb_reset$ DECLARE s text; BEGIN "
    "FOR s IN SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql LOOP "
    "EXECUTE 'DEALLOCATE ' || pg_catalog.quote_ident(s); END LOOP; "
)
RESET_SQL = _RESET_STATE + "END $rawdb_reset$"
# The same, for a connection whose asyncpg cache holds statements: if none of those is
# left on the server (the user ran DEALLOCATE ALL or DISCARD ALL), the reset fails on
# purpose, and the pool replaces the connection instead of lending out a cache of
# statements that no longer exist.
RESET_SQL_KEEPING_CACHE = _RESET_STATE + (
    "IF NOT EXISTS (SELECT FROM pg_catalog.pg_prepared_statements) THEN "
    "RAISE EXCEPTION 'rawdb: the prepared statements asyncpg caches were deallocated'; "
    "END IF; END $rawdb_reset$"
)
# Settings PostgreSQL reports to the client whenever they change (ParameterStatus):
# reading them costs nothing, and a change means the session is no longer as it was
# lent out, whatever statement did it (a function calling set_config, say).
_REPORTED_IDENTITY = ("session_authorization", "is_superuser")
_AUTHORIZATION, _SUPERUSER = _REPORTED_IDENTITY

_NO_COLUMNS: Columns = ()


def _rowcount(status: str) -> int:
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else 0


class PostgresConnection(DriverConnection):
    __slots__ = ("_conn", "_identity", "_setting", "_settings")

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._settings = conn.get_settings()  # one object for the connection's life, updated in place
        # Its own lookup, called directly: getattr() tries the normal attribute lookup
        # first and builds an AttributeError before falling back to it (~4x the cost,
        # on every release).
        self._setting = self._settings.__getattr__
        self._identity = self._reported_identity()

    def _reported_identity(self) -> tuple[Any, ...]:
        setting = self._setting
        try:
            return setting(_AUTHORIZATION), setting(_SUPERUSER)
        except AttributeError:  # a server (or proxy) that does not report them
            settings = self._settings
            return getattr(settings, _AUTHORIZATION, None), getattr(settings, _SUPERUSER, None)

    @property
    def session_changed(self) -> bool:
        return self._reported_identity() != self._identity

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        return _rowcount(await self._conn.execute(sql, *args))

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> int:
        # asyncpg reports no row counts for executemany; one statement per parameter
        # set keeps the documented result (rows affected) the same on every dialect.
        if not args:
            return 0
        conn = self._conn
        total = 0
        stmt = await conn.prepare(sql)
        for one in args:
            await stmt.fetch(*one)
            total += _rowcount(stmt.get_statusmsg() or "")
        return total

    async def fetch(self, sql: str, args: Sequence[Any]) -> tuple[list[Any], Columns]:
        rows = await self._conn.fetch(sql, *args)
        return rows, (tuple(rows[0].keys()) if rows else _NO_COLUMNS)

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> tuple[Any, Columns]:
        row = await self._conn.fetchrow(sql, *args)
        return row, (tuple(row.keys()) if row is not None else _NO_COLUMNS)

    async def stream(self, sql: str, args: Sequence[Any], chunk: int
                     ) -> AsyncGenerator[tuple[list[Any], Columns], None]:
        conn = self._conn
        own_transaction = not conn.is_in_transaction()
        if own_transaction:  # server-side cursors live inside a transaction
            await conn.execute("BEGIN READ ONLY")
        try:
            cursor = await conn.cursor(sql, *args)
            columns: Columns | None = None
            while True:
                rows = await cursor.fetch(chunk)
                if not rows:
                    break
                if columns is None:
                    columns = tuple(rows[0].keys())
                yield rows, columns
        finally:
            if own_transaction and not conn.is_closed():
                await conn.execute("COMMIT")

    async def execute_verbatim(self, sql: str) -> int:
        return _rowcount(await self._conn.execute(sql))

    async def begin(self, readonly: bool, isolation: str | None, *, owns_session: bool = False) -> None:
        level = f" ISOLATION LEVEL {isolation.upper()}" if isolation else ""
        await self._conn.execute(f"BEGIN{level}{' READ ONLY' if readonly else ''}")

    async def commit(self) -> None:
        # PostgreSQL answers COMMIT of a transaction that an error aborted with the
        # status ROLLBACK and no error: that answer must not pass for a commit.
        status = await self._conn.execute("COMMIT")
        if status != "COMMIT":
            raise TransactionAborted(
                f"PostgreSQL answered COMMIT with {status}: a statement in the transaction "
                "had failed, so none of its work was kept")

    async def rollback(self) -> None:
        await self._conn.execute("ROLLBACK")  # with nothing open: a warning, not an error

    async def ping(self) -> None:
        await self._conn.execute("SELECT 1")

    async def reset(self) -> bool:
        # asyncpg offers no public view of its statement cache; without one, assume it
        # holds statements (at worst a connection is replaced needlessly).
        cache = getattr(self._conn, "_stmt_cache", None)
        await self._conn.execute(RESET_SQL if cache is not None and not len(cache) else RESET_SQL_KEEPING_CACHE)
        return True

    async def copy_records(self, table: str, columns: Sequence[str],
                           records: Sequence[Sequence[Any]]) -> int:
        schema, _, name = table.rpartition(".")
        status = await self._conn.copy_records_to_table(
            name, records=records, columns=list(columns), schema_name=schema or None
        )
        return _rowcount(status)

    async def close(self) -> None:
        await self._conn.close(timeout=5)

    def terminate(self) -> None:
        self._conn.terminate()

    @property
    def is_closed(self) -> bool:
        return self._conn.is_closed()

    @property
    def in_transaction(self) -> bool:
        return self._conn.is_in_transaction()


class PostgresDialect(Dialect):
    name = "postgresql"
    paramstyle = "dollar"
    values = ValueProfile("postgresql", None, naive_to_utc)

    async def connect(self, role: str) -> DriverConnection:
        o = self.options
        u = self.url
        extra = dict(o.connect_options)
        settings = {"TimeZone": "UTC", "application_name": "rawdb", **extra.pop("server_settings", {})}
        if o.command_timeout is not None:
            settings.setdefault("statement_timeout", str(int(o.command_timeout * 1000)))
        host: Any = u.host or "localhost"
        port: Any = u.port or 5432
        if u.hosts:
            # Several hosts: asyncpg tries them in order; only a read-write session will do,
            # so after a failover the pool's new connections find the promoted server.
            host = [h for h, _ in u.hosts]
            port = [p or 5432 for _, p in u.hosts]
            extra.setdefault("target_session_attrs", "read-write")
        conn = await asyncpg.connect(
            host=host,
            port=port,
            user=u.user,
            password=u.password,
            database=u.database,
            timeout=o.connect_timeout,
            statement_cache_size=o.statement_cache_size,
            server_settings=settings,
            **extra,
        )
        try:
            # rawdb binds every datetime aware, and asyncpg's encoder for ``timestamp``
            # (without time zone) refuses aware values. Both types travel as microseconds
            # since 2000-01-01, so timestamptz's codec binds the UTC wall time into a
            # timestamp column and reads it back as the aware UTC instant that was
            # written. Builtin types need no introspection query: this costs no round trip.
            await conn.set_builtin_type_codec("timestamp", schema="pg_catalog", codec_name="timestamptz",
                                              format="binary")
        except BaseException:
            conn.terminate()
            raise
        return PostgresConnection(conn)

    def connect_error_is_final(self, exc: BaseException) -> bool:
        return isinstance(exc, (pgx.InvalidPasswordError, pgx.InvalidAuthorizationSpecificationError,
                                pgx.InvalidCatalogNameError))

    def adapt_datetime(self, value: dt.datetime) -> Any:
        # asyncpg converts an aware value to UTC itself, but would read a naive one in
        # the process's local zone; naive input is taken to be UTC, as everywhere.
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

    def adapt_utc_column(self, column: Sequence[dt.datetime | None]) -> Sequence[Any]:
        return column  # aware values are bound as they are (see adapt_datetime)

    def adapt_tuple(self, value: tuple[Any, ...]) -> Any:
        return value  # an array (WHERE id = ANY(:ids)), or a composite value

    def translate(self, exc: BaseException) -> RawDBError | None:
        if isinstance(exc, (pgx.ConnectionDoesNotExistError, pgx.InterfaceError)) and (
            "closed" in str(exc) or "does not exist" in str(exc)
        ):
            return ConnectionLost(self.url.scrub(f"connection lost: {exc}"))
        if isinstance(exc, (ConnectionError, OSError, EOFError, pgx.InternalClientError)):
            # InternalClientError: the protocol is out of step (e.g. the server sent
            # FATAL while the connection sat idle); the connection cannot be trusted.
            return ConnectionLost(self.url.scrub(f"connection lost: {exc}"))
        if isinstance(exc, pgx.DataError):  # client-side encoding of an argument
            return _argument_error(exc)
        # copy_records: COPY encodes each value itself and lets the codec's error out.
        if is_lone_surrogate(exc):
            return lone_surrogate("a str value", exc)
        if isinstance(exc, OverflowError):
            return DataError(f"a value is out of range for its column's type: {exc}")
        if isinstance(exc, pgx.InterfaceError):
            return QueryError(str(exc))
        if not isinstance(exc, pgx.PostgresError):
            return None
        state = exc.sqlstate or ""
        message = exc.message if hasattr(exc, "message") else str(exc)
        detail = getattr(exc, "detail", None)
        text = f"{message} ({detail})" if detail else message
        cls = _SQLSTATE.get(state)
        if cls is None:
            cls = (ConnectionLost if state.startswith(("08", "57P"))
                   else DataError if state.startswith("22")
                   else QueryError)
        error = cls(self.url.scrub(text))
        error.sqlstate = state  # type: ignore[attr-defined]
        if isinstance(error, (UniqueViolation, ForeignKeyViolation, NotNullViolation, CheckViolation)):
            column = getattr(exc, "column_name", None)
            if column is None and detail and detail.startswith("Key ("):
                column = detail[5:].split(")", 1)[0]
            with_names(error, table=getattr(exc, "table_name", None), column=column,
                       constraint=getattr(exc, "constraint_name", None))
        return error


_ARGUMENT = re.compile(r"invalid input for query argument (\$\d+(?: in element #\d+ of executemany\(\) sequence)?)")


def _argument_error(exc: pgx.DataError) -> DataError:
    """asyncpg's message quotes the argument's value, which may be a secret: keep
    which argument it was and why it could not be encoded."""
    m = _ARGUMENT.match(str(exc))
    where = f"query argument {m.group(1)}" if m else "a query argument"
    cause = exc.__cause__
    if cause is not None and is_lone_surrogate(cause):
        return lone_surrogate(where, cause)
    if cause is None:
        return DataError(str(exc) if m is None else f"invalid input for {where}")
    return DataError(f"invalid input for {where}: {cause}")


_SQLSTATE: dict[str, type[RawDBError]] = {
    "23505": UniqueViolation,
    "23503": ForeignKeyViolation,
    "23502": NotNullViolation,
    "23514": CheckViolation,
    "40001": SerializationError,
    "40P01": DeadlockError,
    "25006": ReadOnlyViolation,
    "57014": QueryTimeout,
    "55P03": LockTimeout,
}
