"""What a dialect's probe says about one statement: its result columns, or why it fails.

A probe prepares a statement on a scratch database without running it and
describes the rows it would return in dialect-neutral terms (a *kind* per
column, and nullability where the server knows it), so that one comparison
against a Struct serves every dialect.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

__all__ = ["KINDS", "PrepareFailed", "Probe", "ResultColumn", "line_of_offset", "line_of_token"]

KINDS = frozenset({
    "int", "float", "decimal", "bool", "text", "bytes", "datetime", "date", "time", "json", "uuid",
    "array", "unknown",
})
"""Column kinds: what a driver hands back, as far as mapping into a Struct field is concerned."""


class ResultColumn(NamedTuple):
    name: str
    kind: str
    type_name: str
    """The type as the server names it, for messages (``int8``, ``VARCHAR``, ``TEXT``)."""
    nullable: bool | None
    """True or False when the server says; None when it cannot tell (an expression)."""
    origin: str | None = None
    """The table column the value is read from as it is, when the server says."""


class PrepareFailed(Exception):
    """The server refused the statement; ``line`` is 1-based within the statement, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class Probe(Protocol):
    dialect: str

    async def prepare(self, sql: str) -> tuple[ResultColumn, ...] | None:
        """Prepare ``sql`` (``:name`` placeholders) and describe its rows.

        Returns the result columns (empty for a statement that returns no rows),
        or None when the statement is valid but its columns cannot be described
        on this dialect. Raises `PrepareFailed`.
        """
        ...

    async def close(self) -> None: ...


def line_of_offset(sql: str, offset: int) -> int:
    """1-based line of a 0-based character offset."""
    return sql.count("\n", 0, max(0, min(offset, len(sql)))) + 1


_QUOTED_TOKEN = re.compile(r"""['"`]([^'"`]+)['"`]""")


def line_of_token(sql: str, message: str) -> int | None:
    """The line of the first name a server message quotes that occurs in ``sql``.

    SQLite and MySQL report no position for an unknown column or table, only its
    name ("no such column: taks_id", "Unknown column 'taks_id' in 'WHERE'"); its
    first whole-word occurrence is where a reader has to look.
    """
    candidates = _QUOTED_TOKEN.findall(message)
    tail = message.rsplit(": ", 1)
    if len(tail) == 2:
        candidates.append(tail[1].strip())
    for token in candidates:
        token = token.split(".")[-1].strip()
        if not token:
            continue
        match = re.search(rf"(?<![\w$]){re.escape(token)}(?![\w$])", sql)
        if match:
            return line_of_offset(sql, match.start())
    return None
