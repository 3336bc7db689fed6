"""What ``rawdb check`` found: findings, what was checked where, and the exit status."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from rawdb.errors import RawDBError
from rawdb.queries import DIALECTS

__all__ = ["CannotCheck", "CheckReport", "DialectResult", "Finding", "merge_findings"]


class CannotCheck(RawDBError):
    """The check could not run: a database is unreachable or the options are wrong (exit 2)."""


class Finding(msgspec.Struct, frozen=True):
    """One problem, at the line a reader has to look at, on the dialects where it occurs."""

    file: str
    line: int
    query: str
    """``group.query`` for a query file, ``module.function`` for a finding in code."""
    dialects: tuple[str, ...]
    kind: str
    """``prepare`` (the server refuses the statement), ``parameter``, ``column``, ``field``,
    ``type`` (also: a column an UPDATE built at run time sets to a value of another type),
    ``null``, ``struct``, ``usage`` (a call the check cannot follow), ``unused``,
    ``missing`` (code runs a query no file defines), ``file`` or ``migration``."""
    message: str


class DialectResult(msgspec.Struct, frozen=True):
    dialect: str
    database: str
    """Where the scratch schema lived (never a password)."""
    queries: int
    """Named queries checked, fragments included."""
    statements: int
    """Statements prepared: each query, each paged one once more per paging fragment, each
    UPDATE built at run time, and one description of each table those UPDATEs set."""
    seconds: float
    updates: int = 0
    """Distinct UPDATEs the code builds at run time (``update_sql``), prepared."""


class CheckReport(msgspec.Struct, frozen=True):
    findings: tuple[Finding, ...]
    dialects: tuple[DialectResult, ...]
    operations: int = 0
    """Public async operations of the analysed code."""
    call_sites: int = 0
    """Calls that run a named query, found in that code."""
    runtime_sql: tuple[str, ...] = ()
    """Operations that run neither a named query nor an UPDATE built by ``update_sql``
    (their SQL is built some other way at run time): their statements are not checked."""
    update_sites: int = 0
    """Calls that run an UPDATE built by ``update_sql``, found in that code."""

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def merge_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """One finding per problem: the same message at the same place on several dialects is one."""
    dialects: dict[tuple[str, int, str, str, str], set[str]] = {}
    for f in findings:
        dialects.setdefault((f.file, f.line, f.query, f.kind, f.message), set()).update(f.dialects)
    order = {d: i for i, d in enumerate(DIALECTS)}
    merged = [
        Finding(file, line, query, tuple(sorted(ds, key=lambda d: (order.get(d, 99), d))), kind, message)
        for (file, line, query, kind, message), ds in dialects.items()
    ]
    merged.sort(key=lambda f: (f.file, f.line, f.query, f.kind, f.message))
    return tuple(merged)
