"""What every dialect's migration backend shares: the history table, running a
statement with a precise error, and the statement-by-statement ("tracked") path.

A backend works on one dedicated connection (``pool.dedicated_connection()``),
so a session lock dies with the connection and a failed run never leaves the
lock held. Dialect modules override only what differs: how the version is
stored, how the lock is taken, and whether DDL can be rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from rawdb.errors import ConnectionLost, MigrationError, MigrationLocked, RawDBError
from rawdb.migrations.discovery import Script
from rawdb.migrations.errors import MigrationScriptError
from rawdb.migrations.ownership import OWNER_METHOD, OWNER_VERSION, Owner
from rawdb.migrations.report import DirtyState
from rawdb.migrations.splitter import Statement

if TYPE_CHECKING:
    from rawdb.migrations.shape import Shape
    from rawdb.session import Connection, Session

log = logging.getLogger("rawdb.migrations")

HISTORY_TABLE = "rawdb_schema_history"
"""rawdb's own bookkeeping table (named rawdb_*: it is not one of the application's tables)."""

_HISTORY_COLUMNS = (
    "version, name, checksum, applied_at, duration_ms, success, statements_done, "
    "progress_checksum, dirty, error, method"
)


class HistoryRow(msgspec.Struct, frozen=True):
    """One row of ``rawdb_schema_history``: one per version ever started.

    The row with version 0 (``method`` "owner") is no script: it names the
    scripts folder the history belongs to (`rawdb.migrations.ownership`).

    ``success`` true: applied (``method`` "migrate" or "baseline"). ``success``
    false: a tracked script stopped part-way after ``statements_done``
    statements; ``dirty`` true until ``repair`` clears it, after which
    ``migrate`` resumes at the next statement (``progress_checksum`` guards
    that the statements already run did not change meanwhile).
    """

    version: int
    name: str
    checksum: str
    applied_at: dt.datetime
    duration_ms: float
    success: bool
    statements_done: int
    progress_checksum: str | None
    dirty: bool
    error: str | None
    method: str

    def dirty_state(self) -> DirtyState:
        return DirtyState(
            version=self.version,
            name=self.name,
            statements_done=self.statements_done,
            failed_statement=self.statements_done + 1,
            error=self.error,
            cleared=not self.dirty,
        )


class DbState(msgspec.Struct, frozen=True):
    """What the database says about its migrations, read in one snapshot."""

    version: int
    history: dict[int, HistoryRow]
    """The scripts' rows (version >= 1)."""
    has_history: bool
    owner: Owner | None = None
    """The folder that wrote the history, from its version-0 row (None: not recorded)."""

    @property
    def partial(self) -> HistoryRow | None:
        """The unfinished tracked script, if any (at most one can exist)."""
        rows = [r for r in self.history.values() if not r.success]
        return min(rows, key=lambda r: r.version) if rows else None


def progress_checksum(statements: Sequence[Statement]) -> str:
    """Checksum of the statements already run, so a resume can prove they are unchanged."""
    digest = hashlib.sha256()
    for statement in statements:
        digest.update(statement.text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Backend:
    """Migration strategy for one dialect, bound to one dedicated connection."""

    name: ClassVar[str]
    atomic: ClassVar[bool] = True
    """Can a script and its history row commit together (transactional DDL)?"""
    atomic_in_snapshot: ClassVar[bool] = False
    """SQLite: the lock *is* the transaction, so atomic scripts run inside `snapshot`."""
    history_ddl: ClassVar[str]

    def __init__(self, conn: Connection, *, lock_timeout: float, busy_timeout: float = 5.0) -> None:
        self.conn = conn
        self.lock_timeout = lock_timeout
        self.busy_timeout = busy_timeout
        self.pending_owner: Owner | None = None
        """Set when the history names no owner yet: `record` writes it with the next row,
        in the same transaction, so a run that applies nothing claims nothing."""

    # -- locking -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def session_lock(self, deadline: float) -> AsyncIterator[None]:
        """Held for a whole run (PostgreSQL advisory lock, MySQL GET_LOCK)."""
        yield

    @contextlib.asynccontextmanager
    async def snapshot(self, deadline: float, *, write: bool) -> AsyncIterator[None]:
        """A consistent read of the state; SQLite: the write lock when ``write``."""
        yield

    @staticmethod
    def locked_error(timeout: float, what: str) -> MigrationLocked:
        return MigrationLocked(
            f"another migrator held {what} for more than lock_timeout={timeout:g}s; nothing was "
            "applied by this run. Retry when it has finished, or raise lock_timeout."
        )

    # -- state ---------------------------------------------------------------------
    async def history_exists(self) -> bool:
        raise NotImplementedError

    async def read_version(self) -> int:
        """The current schema version; read errors propagate (never "0 on error")."""
        if not await self.history_exists():
            return 0
        value = await self.conn.fetch_val(
            f"SELECT MAX(version) FROM {HISTORY_TABLE} WHERE success = :yes", {"yes": True}
        )
        return int(value or 0)

    async def read_history(self) -> dict[int, HistoryRow]:
        rows = await self.conn.fetch_all(
            f"SELECT {_HISTORY_COLUMNS} FROM {HISTORY_TABLE} ORDER BY version", into=HistoryRow
        )
        return {row.version: row for row in rows}

    async def read_state(self) -> DbState:
        has_history = await self.history_exists()
        version = await self.read_version()
        history = await self.read_history() if has_history else {}
        owner_row = history.pop(OWNER_VERSION, None)
        owner = Owner(name=owner_row.name, checksum=owner_row.checksum) if owner_row is not None else None
        return DbState(version=version, history=history, has_history=has_history, owner=owner)

    async def ensure_history(self) -> None:
        await self.conn.execute_verbatim(self.history_ddl)

    async def set_version(self, session: Session, version: int) -> None:
        """Only SQLite stores the version outside the history (``user_version``)."""

    # -- introspection (legacy check, baseline) --------------------------------------
    async def tables(self) -> set[str]:
        raise NotImplementedError

    async def columns(self, tables: set[str]) -> dict[str, set[str]]:
        raise NotImplementedError

    async def actual_shape(self) -> Shape:
        raise NotImplementedError

    async def expected_shape(self, scripts: Sequence[tuple[Script, list[Statement]]]) -> Shape:
        raise NotImplementedError

    # -- baseline repair ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def conforming(self) -> AsyncIterator[None]:
        """Connection settings `conform` needs around the baseline's transaction."""
        yield

    async def conform(
        self,
        scripts: Sequence[tuple[Script, list[Statement]]],
        skipped: Sequence[tuple[Script, list[Statement]]],
        *,
        version: int,
        expected: Shape,
        actual: Shape,
    ) -> list[str]:
        """Make the schema what ``scripts`` build, keeping every row; returns what was done.

        Only SQLite does it (its old files are the ones the old system's fallback
        made); on the servers baseline checks, records and reports.
        """
        return []

    # -- history writes -------------------------------------------------------------
    async def record(
        self,
        session: Session,
        script: Script,
        *,
        success: bool,
        duration_ms: float,
        statements_done: int,
        progress: str | None = None,
        dirty: bool = False,
        error: str | None = None,
        method: str = "migrate",
    ) -> None:
        if self.pending_owner is not None:
            owner, self.pending_owner = self.pending_owner, None
            await self.write_owner(session, owner)
        await self._write_row(
            session,
            script.version,
            script.name,
            script.checksum,
            success=success,
            duration_ms=duration_ms,
            statements_done=statements_done,
            progress=progress,
            dirty=dirty,
            error=error,
            method=method,
        )

    async def write_owner(self, session: Session, owner: Owner) -> None:
        """Record which folder the history belongs to (the version-0 row)."""
        await self._write_row(session, OWNER_VERSION, owner.name, owner.checksum, success=True, method=OWNER_METHOD)

    async def _write_row(
        self,
        session: Session,
        version: int,
        name: str,
        checksum: str,
        *,
        success: bool,
        method: str,
        duration_ms: float = 0.0,
        statements_done: int = 0,
        progress: str | None = None,
        dirty: bool = False,
        error: str | None = None,
    ) -> None:
        await session.execute(f"DELETE FROM {HISTORY_TABLE} WHERE version = :version", {"version": version})
        await session.execute(
            f"INSERT INTO {HISTORY_TABLE} ({_HISTORY_COLUMNS}) VALUES (:version, :name, :checksum, "
            ":applied_at, :duration_ms, :success, :done, :progress, :dirty, :error, :method)",
            {
                "version": version,
                "name": name,
                "checksum": checksum,
                "applied_at": now_utc(),
                "duration_ms": round(duration_ms, 3),
                "success": success,
                "done": statements_done,
                "progress": progress,
                "dirty": dirty,
                "error": error,
                "method": method,
            },
        )

    # -- running statements ------------------------------------------------------------
    def statement_line(self, statement: Statement, exc: BaseException) -> int:
        """The line in the file where the error is; PostgreSQL reports a character position."""
        # The driver error should be on __cause__; core currently raises "from None",
        # which leaves it on __context__ only, so look at both.
        cause = exc.__cause__ or exc.__context__
        position = getattr(cause, "position", None)
        try:
            offset = int(position) - 1 if position else -1
        except (TypeError, ValueError):
            offset = -1
        if 0 <= offset <= len(statement.text):
            return statement.line + statement.text[:offset].count("\n")
        return statement.line

    def script_error(
        self, script: Script, statement: Statement, exc: RawDBError, *, version: int, tail: str
    ) -> MigrationScriptError:
        line = self.statement_line(statement, exc)
        db_message = str(exc)
        message = (
            f"{script.name}: statement {statement.index} (line {line}: "
            f"{statement.first_line[:120]!r}) "
            f"failed: {db_message}. {tail}"
        )
        return MigrationScriptError(
            message,
            script=script.name,
            path=script.path,
            statement=statement.index,
            line=line,
            first_line=statement.first_line,
            database_message=db_message,
            version=version,
        )

    async def run_atomic(
        self, session: Session, script: Script, statements: Sequence[Statement], version_before: int
    ) -> None:
        """Every statement on ``session`` (already in a transaction); errors name the statement."""
        for statement in statements:
            try:
                await session.execute_verbatim(statement.text)
            except RawDBError as exc:
                raise self.script_error(
                    script,
                    statement,
                    exc,
                    version=version_before,
                    tail=(f"The database stays at version {version_before}: nothing of {script.name} was kept."),
                ) from exc

    async def apply_in_snapshot(self, script: Script, statements: Sequence[Statement], version_before: int) -> float:
        """SQLite only (`atomic_in_snapshot`): apply inside the snapshot's transaction."""
        raise NotImplementedError

    async def apply_atomic(self, script: Script, statements: Sequence[Statement], version_before: int) -> float:
        """Script + history row in one transaction (PostgreSQL). Returns milliseconds."""
        started = time.perf_counter()
        async with self.conn.transaction() as tx:
            await self.run_atomic(tx, script, statements, version_before)
            duration = (time.perf_counter() - started) * 1000
            await self.record(tx, script, success=True, duration_ms=duration, statements_done=len(statements))
        return duration

    async def apply_tracked(
        self,
        script: Script,
        statements: Sequence[Statement],
        *,
        version_before: int,
        resume: HistoryRow | None,
        deadline: float,
    ) -> float | None:
        """Statement by statement, recording progress after each (MySQL; no-transaction
        scripts elsewhere). A failure leaves the row dirty. Returns milliseconds, or
        None if another migrator applied the script first (SQLite only)."""
        started = time.perf_counter()
        done = resume.statements_done if resume is not None else 0
        async with self.snapshot(deadline, write=True):
            state = await self.read_state()
            current = state.partial
            if state.version >= script.version:
                return None
            if (current is None) != (resume is None) or (current is not None and resume is not None and current.dirty):
                raise MigrationError(
                    f"the migration state of {script.name} changed while waiting for the lock; run migrate again"
                )
            await self.ensure_history_in_snapshot()
            await self.record(
                self.conn,
                script,
                success=False,
                duration_ms=0,
                statements_done=done,
                progress=progress_checksum(statements[:done]),
                dirty=True,
            )
        for statement in statements[done:]:
            try:
                await self.conn.execute_verbatim(statement.text)
            except RawDBError as exc:
                await self._mark_failed(script, exc)
                raise self.script_error(
                    script,
                    statement,
                    exc,
                    version=version_before,
                    tail=(
                        f"{done} earlier statement(s) of {script.name} were applied and recorded; "
                        f"the database is marked dirty at version {version_before}. Fix the schema "
                        f"so that statement {statement.index} can run, then `rawdb repair` "
                        f"(Migrator.repair()); migrate resumes at statement {statement.index}."
                    ),
                ) from exc
            done += 1
            await self.conn.execute(
                f"UPDATE {HISTORY_TABLE} SET statements_done = :done, progress_checksum = "
                ":progress "
                "WHERE version = :version",
                {
                    "done": done,
                    "progress": progress_checksum(statements[:done]),
                    "version": script.version,
                },
            )
        duration = (time.perf_counter() - started) * 1000
        async with self.snapshot(deadline, write=True):
            await self.set_version(self.conn, script.version)
            await self.record(
                self.conn,
                script,
                success=True,
                duration_ms=duration,
                statements_done=done,
                progress=None,
            )
        return duration

    async def ensure_history_in_snapshot(self) -> None:
        """Create the history table if needed (PostgreSQL/MySQL did it before the run)."""

    async def _mark_failed(self, script: Script, exc: RawDBError) -> None:
        if isinstance(exc, ConnectionLost):
            return  # cannot write; the row stays "interrupted" (error NULL), which is true
        try:
            await self.conn.execute(
                f"UPDATE {HISTORY_TABLE} SET error = :error, dirty = :dirty WHERE version = :version",
                {"error": str(exc)[:4000], "dirty": True, "version": script.version},
            )
        except RawDBError:
            log.exception("could not record the failure of %s in %s", script.name, HISTORY_TABLE)


async def poll(deadline: float, attempt: Any, *, interval: float = 0.02, ceiling: float = 0.25) -> bool:
    """Call ``attempt()`` until it returns True or the deadline passes (then False).

    Backoff with jitter: waiters that started together would otherwise retry in
    lock-step, and only one of them wins each round.
    """
    delay = interval
    while True:
        if await attempt():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(delay * random.uniform(0.5, 1.5), remaining))
        delay = min(delay * 2, ceiling)
