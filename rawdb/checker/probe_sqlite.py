"""SQLite probe: ``EXPLAIN`` prepares a statement without running it.

``EXPLAIN`` compiles the statement into its bytecode, which resolves every table
and column, and returns the program instead of executing it. Result columns come
from a temporary view over the statement: ``PRAGMA table_info`` of a view names
its columns and gives the declared type of those that are plain column
references (an expression has none). Views cannot hold parameters, so the probe
puts NULL where each placeholder was; the view lives in the connection's
``temp`` schema and is dropped at once.
"""

from __future__ import annotations

import asyncio
import sqlite3

from rawdb.checker.probe import PrepareFailed, ResultColumn, line_of_token
from rawdb.errors import QueryError
from rawdb.sql import compile_sql, skip_block_comment, skip_quoted

__all__ = ["SQLiteProbe", "sqlite_kind"]

_VIEW = "rawdb_check_columns"


def sqlite_kind(declared: str) -> str:
    """The kind of a declared column type, after SQLite's own affinity rules where they apply."""
    t = declared.upper()
    if not t:
        return "unknown"
    for needle, kind in (("BOOL", "bool"), ("JSON", "json"), ("TIMESTAMP", "datetime"),
                         ("DATETIME", "datetime"), ("DATE", "date"), ("TIME", "time"), ("INT", "int"),
                         ("CHAR", "text"), ("CLOB", "text"), ("TEXT", "text"), ("REAL", "float"),
                         ("FLOA", "float"), ("DOUB", "float"), ("BLOB", "bytes")):
        if needle in t:
            return kind
    return "unknown"


def nulls_for_placeholders(text: str) -> str:
    """``?`` placeholders (outside literals and comments) replaced by NULL."""
    out: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"`":
            end = skip_quoted(text, i, c, False)
            i = n if end < 0 else end
        elif c == "[":
            end = text.find("]", i)
            i = n if end < 0 else end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = skip_block_comment(text, i, False)
            i = n if end < 0 else end
        else:
            if c == "?":
                out.append(text[start:i])
                out.append("NULL")
                start = i + 1
            i += 1
    out.append(text[start:])
    return "".join(out)


class SQLiteProbe:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        # One thread at a time uses it (each call goes through to_thread and is awaited).
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    async def prepare(self, sql: str) -> tuple[ResultColumn, ...] | None:
        return await asyncio.to_thread(self._prepare, sql)

    def _prepare(self, sql: str) -> tuple[ResultColumn, ...] | None:
        try:
            compiled = compile_sql(sql, "qmark")
        except QueryError as exc:
            raise PrepareFailed(str(exc)) from None
        try:
            program = self._conn.execute("EXPLAIN " + compiled.text, [None] * len(compiled.names)).fetchall()
        except sqlite3.Error as exc:
            raise PrepareFailed(str(exc), line_of_token(sql, str(exc))) from None
        if not any(op[1] == "ResultRow" for op in program):
            return ()
        return self._columns(compiled.text)

    def _columns(self, text: str) -> tuple[ResultColumn, ...] | None:
        try:
            self._conn.execute(f"CREATE TEMP VIEW {_VIEW} AS {nulls_for_placeholders(text)}")
        except sqlite3.Error:
            return None  # INSERT … RETURNING and the like: valid, but no view can describe them
        try:
            info = self._conn.execute(f"PRAGMA temp.table_info({_VIEW})").fetchall()
        except sqlite3.Error:
            return None
        finally:
            self._conn.execute(f"DROP VIEW IF EXISTS temp.{_VIEW}")
        return tuple(ResultColumn(row[1], sqlite_kind(row[2] or ""), row[2] or "expression", None) for row in info)

    async def close(self) -> None:
        self._conn.close()
