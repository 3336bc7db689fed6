"""MySQL/MariaDB probe: the binary protocol's prepare (COM_STMT_PREPARE), which never executes.

The server parses the statement, resolves every table and column and answers
with a definition of each parameter and result column, including the NOT NULL
flag it works out for expressions too. aiomysql only speaks the text protocol,
so the probe sends the command and reads the definitions itself over the
driver's packet layer, then closes the statement (COM_STMT_CLOSE has no reply).

MariaDB stores a JSON column as LONGTEXT with a ``json_valid()`` check, so the
wire type alone cannot tell JSON from text: JSON columns are looked up once in
the catalog and matched by the original table and column a definition names.
"""

from __future__ import annotations

import re
import struct

import aiomysql
import pymysql
from pymysql.constants import COMMAND, FIELD_TYPE, FLAG
from pymysql.protocol import FieldDescriptorPacket

from rawdb.checker.probe import PrepareFailed, ResultColumn, line_of_token
from rawdb.config import DatabaseURL
from rawdb.errors import QueryError
from rawdb.sql import compile_sql

__all__ = ["MySQLProbe", "mysql_kind"]

_BINARY_CHARSET = 63
_PLACEHOLDER = re.compile(r"%([s%])")
_AT_LINE = re.compile(r" at line (\d+)\s*$")
_JSON_CHECK = re.compile(r"json_valid\(\s*`?(\w+)`?\s*\)", re.IGNORECASE)
_NUMBER = {FIELD_TYPE.SHORT, FIELD_TYPE.LONG, FIELD_TYPE.INT24, FIELD_TYPE.LONGLONG, FIELD_TYPE.YEAR}
_TEXT = {FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING, FIELD_TYPE.STRING, FIELD_TYPE.ENUM, FIELD_TYPE.SET,
         FIELD_TYPE.TINY_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.BLOB}
_TYPE_NAMES = {value: name for name, value in vars(FIELD_TYPE).items() if name.isupper()}


def mysql_kind(field: FieldDescriptorPacket) -> str:
    code = field.type_code
    if code == FIELD_TYPE.TINY:
        return "bool" if field.length == 1 else "int"  # BOOLEAN is TINYINT(1)
    if code in _NUMBER:
        return "int"
    if code in (FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE):
        return "float"
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        return "decimal"
    if code in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
        return "datetime"
    if code in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return "date"
    if code == FIELD_TYPE.TIME:
        return "time"
    if code == FIELD_TYPE.JSON:
        return "json"
    if code in _TEXT:
        return "bytes" if field.charsetnr == _BINARY_CHARSET else "text"
    return "unknown"


class MySQLProbe:
    dialect = "mysql"

    def __init__(self, conn: aiomysql.Connection, json_columns: set[tuple[str, str]]) -> None:
        self._conn = conn
        self._json = json_columns

    @classmethod
    async def open(cls, url: DatabaseURL, database: str, sql_mode: str, connect_timeout: float = 10) -> MySQLProbe:
        conn = await aiomysql.connect(
            host=url.host or "localhost",
            port=url.port or 3306,
            user=url.user or "root",
            password=url.password or "",
            db=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=connect_timeout,
            # The same SQL mode as rawdb's pool: it decides how the server parses
            # (quotes, ||, …), so a statement is checked as the application runs it.
            init_command=f"SET time_zone = '+00:00', sql_mode = '{sql_mode}'",
        )
        try:
            json_columns = await _json_columns(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, json_columns)

    async def prepare(self, sql: str) -> tuple[ResultColumn, ...] | None:
        try:
            compiled = compile_sql(sql, "format")
        except QueryError as exc:
            raise PrepareFailed(str(exc)) from None
        # The format style writes each placeholder as %s and a literal % as %%; the
        # binary protocol wants ? and the literal as it is.
        text = _PLACEHOLDER.sub(lambda m: "?" if m.group(1) == "s" else "%", compiled.text)
        try:
            fields = await self._prepare(text)
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else 0
            message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            at = _AT_LINE.search(message)
            line = int(at.group(1)) if at else line_of_token(sql, message)
            raise PrepareFailed(f"({code}) {message}", line) from None
        return tuple(
            ResultColumn(
                f.name,
                "json" if (f.org_table, f.org_name) in self._json else mysql_kind(f),
                _TYPE_NAMES.get(f.type_code, str(f.type_code)),
                # The flag is exact for a column reference (outer joins included) but
                # cautious for expressions (LOWER() of a NOT NULL column "may be NULL").
                not f.flags & FLAG.NOT_NULL if f.org_name else None,
                f.org_name or None,
            )
            for f in fields
        )

    async def _prepare(self, text: str) -> list[FieldDescriptorPacket]:
        conn = self._conn
        await conn._execute_command(COMMAND.COM_STMT_PREPARE, text)
        ok = (await conn._read_packet()).get_all_data()
        statement_id, columns, params = struct.unpack("<IHH", ok[1:9])
        try:
            for _ in range(params):
                await conn._read_packet(FieldDescriptorPacket)
            if params:
                await _expect_eof(conn)
            fields = [await conn._read_packet(FieldDescriptorPacket) for _ in range(columns)]
            if columns:
                await _expect_eof(conn)
        finally:
            await conn._execute_command(COMMAND.COM_STMT_CLOSE, struct.pack("<I", statement_id))
        return fields

    async def close(self) -> None:
        await self._conn.ensure_closed()


async def _expect_eof(conn: aiomysql.Connection) -> None:
    packet = await conn._read_packet()
    if not packet.is_eof_packet():
        raise pymysql.err.InternalError(0, "unexpected packet after the statement's definitions")


async def _json_columns(conn: aiomysql.Connection) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND data_type = 'json'"
        )
        found.update((str(t), str(c)) for t, c in await cur.fetchall())
        try:
            await cur.execute(
                "SELECT table_name, check_clause FROM information_schema.check_constraints "
                "WHERE constraint_schema = DATABASE()"
            )
        except pymysql.err.MySQLError:
            return found  # MySQL before 8.0.16 has no such view (and native JSON types)
        for table, clause in await cur.fetchall():
            found.update((str(table), column) for column in _JSON_CHECK.findall(str(clause)))
    return found
